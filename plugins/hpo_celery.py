"""``[celery] celery_config_options = hpo_celery.CELERY_CONFIG``: Airflow's default Celery configuration,
and ``hpo_tasks.preload`` in each Celery worker's main process before it forks its pool, on the signal
Airflow's Celery provider uses to preload its own modules (``celery.signals.import_modules``). Every
task process, forked from a pool process, then starts with optuna, mlflow, torch and botorch imported.
Restart the workers after upgrading a library or editing ``hpo_tasks``. ``HPO_PRELOAD=0`` turns it off.

Importable without the Celery provider (Airflow imports every file of the plugins folder): the
configuration is then empty and nothing is connected.
"""

from __future__ import annotations

from typing import Any

from hpo_tasks import preload

try:
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import import_modules
except ImportError:  # no Celery provider installed: only a LocalExecutor machine imports this file
    CELERY_CONFIG: dict[str, Any] = {}
else:
    CELERY_CONFIG = DEFAULT_CELERY_CONFIG  # the same object: Airflow then keeps its per-team settings

    @import_modules.connect
    def _preload(*_: Any, **__: Any) -> None:
        if preload.enabled():
            preload.preload()
