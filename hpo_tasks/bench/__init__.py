"""The benchmark suite: our GP-BO against its peers on the same problems, seeds and machine.

``problems`` (what is optimised), ``optimizers`` (who optimises), ``runner`` (studies in parallel
processes, suggest latency), ``overhead`` (Airflow vs a plain loop), ``scoring`` (bayesmark's score),
``report`` (tables, issue 4's bars from ``targets.yaml``, plots), ``report_md`` (report.md), ``cli``
(``python -m hpo_tasks.bench``); ``experiments/`` holds one-off comparisons on the same runner.
"""
