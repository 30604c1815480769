from hpo_tasks.bench.cli import main

raise SystemExit(main())
