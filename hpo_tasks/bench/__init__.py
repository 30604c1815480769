"""The benchmark suite: our GP-BO against its peers on the same problems, seeds and machine.

``problems`` (what is optimised), ``optimizers`` (who optimises), ``runner`` (studies in parallel
processes, suggest latency), ``overhead`` (Airflow vs a plain loop), ``scoring`` (bayesmark's score),
``report`` (tables and plots), ``cli`` (``python -m hpo_tasks.bench``).
"""
