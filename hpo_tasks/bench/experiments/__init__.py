"""One-off experiments on the benchmark runner: each is ``python -m hpo_tasks.bench.experiments.<name>``."""
