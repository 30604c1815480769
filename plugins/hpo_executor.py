"""``hpo_executor.PreloadingLocalExecutor``: Airflow's LocalExecutor, with hpo-sweeps' task libraries
imported once in the scheduler before it forks its worker processes (``hpo_tasks.preload``), so a trial
or suggest task starts with optuna, mlflow, torch and botorch already loaded instead of importing them
again in every task process. ``make airflow`` and the local test stacks select it
(``[core] executor``, from ``hpo_tasks.settings``); ``HPO_PRELOAD=0`` makes it a plain LocalExecutor.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from hpo_tasks import preload


class PreloadingLocalExecutor(LocalExecutor):
    def start(self) -> None:
        if preload.enabled():
            preload.preload()
        super().start()
