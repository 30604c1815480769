"""Import once, in a long-lived parent, what every task process would otherwise import again.

Airflow 3 runs each task in a process forked from its executor's worker (LocalExecutor: workers forked
from the scheduler when it starts; Celery: the prefork pool's children). A task process starts with the
modules its parent had loaded and pays for the rest: a trial task imports optuna, mlflow and its
objective's libraries, a suggest task torch, gpytorch and botorch, 3-9 s on two cores before the first
line of hpo-sweeps' own work runs (docs/results/2026-12-01-preload.md). ``preload()`` imports those
libraries once in the parent, before it forks, so every task inherits them (copy-on-write pages).

What is imported: ``MODULES``, the libraries and the ``hpo_tasks`` modules the steps use (the lazily
imported ones included: the engine imports botorch's pieces inside its functions). Libraries an objective
uses (xgboost, scikit-learn) are imported when installed. Users' own objective modules are *not*: a
module imported before the fork is the one every later task runs, so editing it would need a restart.
The same holds for everything listed here: after ``pip install -U`` or an edit to ``hpo_tasks``, restart
the scheduler (LocalExecutor) or the workers (Celery).

Only imports: no thread, database connection or CUDA context is created before the fork (torch's CPU
thread pools start on first use, in the task). ``HPO_PRELOAD=0`` turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import time

log = logging.getLogger(__name__)

# Order: third-party libraries first (the bulk of the time), then hpo_tasks' steps and engine.
MODULES: tuple[str, ...] = (
    "numpy",
    "scipy.optimize",
    "scipy.stats",
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "optuna",
    "optuna.storages",
    "optuna.storages._rdb.models",
    "optuna.importance",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.tracking.sqlalchemy_workspace_store",
    "mlflow.system_metrics.system_metrics_monitor",
    "torch",
    "torch.fx.experimental.symbolic_shapes",  # sympy, ~400 modules, pulled in on a model's first use
    "gpytorch",
    "gpytorch.constraints",
    "gpytorch.likelihoods",
    "gpytorch.mlls",
    "botorch",
    "botorch.acquisition",
    "botorch.acquisition.logei",
    "botorch.acquisition.multi_objective.logei",
    "botorch.acquisition.thompson_sampling",
    "botorch.fit",
    "botorch.models",
    "botorch.models.gp_regression_mixed",
    "botorch.models.transforms.outcome",
    "botorch.models.utils.gpytorch_modules",
    "botorch.optim",
    "botorch.optim.optimize_mixed",
    "threadpoolctl",
    "hpo_tasks.steps",
    "hpo_tasks.tracking",
    "hpo_tasks.pruning",
    "hpo_tasks.fidelity",
    "hpo_tasks.gp.sampler",
    "hpo_tasks.gp.engine",
    "hpo_tasks.gp.model",
    "hpo_tasks.gp.optim",
    "hpo_tasks.gp.acquisition",
    "hpo_tasks.gp.multi",
    "hpo_tasks.gp.turbo",
    "hpo_tasks.gp.feasibility",
)
# Objectives' libraries: imported when installed, skipped quietly when not.
OPTIONAL: tuple[str, ...] = (
    "sqlalchemy.dialects.postgresql.psycopg2",
    "sklearn.datasets",
    "sklearn.model_selection",
    "sklearn.metrics",
    "xgboost",
    "hpo_tasks.objectives.synthetic",
    "hpo_tasks.objectives.curves",
    "hpo_tasks.objectives.xgb",
    "hpo_tasks.objectives.command",
)


def enabled() -> bool:
    """``HPO_PRELOAD`` unset or anything but ``0``/``false``/``off``/``no``."""
    return os.environ.get("HPO_PRELOAD", "1").strip().lower() not in {"0", "false", "off", "no"}


def preload(modules: tuple[str, ...] = MODULES, optional: tuple[str, ...] = OPTIONAL) -> dict[str, float]:
    """Import ``modules`` (an import error propagates: the parent would be broken) and ``optional``
    (an ``ImportError`` skips that one); returns seconds per module imported, and logs the total."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for name, required in [(m, True) for m in modules] + [(m, False) for m in optional]:
        t = time.perf_counter()
        try:
            importlib.import_module(name)
        except ImportError:
            if required:
                raise
            log.info("preload: %s is not installed, skipped", name)
            continue
        seconds[name] = time.perf_counter() - t
    log.info(
        "preload: %d modules in %.1f s (HPO_PRELOAD=0 turns this off)",
        len(seconds),
        time.perf_counter() - start,
    )
    return seconds
