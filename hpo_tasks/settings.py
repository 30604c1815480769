"""Where state lives. URLs and secrets come from the environment, never from sweep files.

- ``HPO_STATE_DIR``: local state folder for the embedded defaults (default ``<repo>/.state`` in a
  checkout, ``~/.hpo-sweeps`` for an installed package).
- ``HPO_OPTUNA_STORAGE``: Optuna RDB URL (default ``sqlite:///$HPO_STATE_DIR/optuna.db``);
  PostgreSQL in production, e.g. ``postgresql+psycopg2://user@host/optuna``.
- ``MLFLOW_TRACKING_URI``: MLflow tracking store (default ``sqlite:///$HPO_STATE_DIR/mlflow.db``).
- ``HPO_SWEEPS_DIR``: folder of sweep files the DAG factory reads (default ``<repo>/config/sweeps``).

Local Airflow (``make airflow``, ``hpo dag-run``, the tests) is sized here, once:

- ``[scheduler] task_instance_heartbeat_timeout``: how long a task whose worker died (``kill -9``, OOM) stays
  ``running`` before the scheduler fails or retries it. Airflow's default is 300 s. Three values, one per
  set-up: local runs ``LOCAL_HEARTBEAT_TIMEOUT_S`` (30 s, checked every 5 s; workers heartbeat every 5 s, so
  six missed beats on a loaded laptop); the cluster test harness (``tests/cluster/harness.py``) 20 s, to keep
  its fault tests short; docker compose (``docker/docker-compose.yaml``) 120 s, which rides out an API-server
  restart without failing running trials. The task's own ``resources.retry_delay_seconds`` comes on top.
- ``[core] parallelism`` (LocalExecutor worker processes, Airflow's default 32): ``local_parallelism()``.
- ``[core] executor``: ``LOCAL_EXECUTOR``, Airflow's LocalExecutor that imports the task libraries once in
  the scheduler before it forks its workers (``plugins/hpo_executor.py``, ``hpo_tasks.preload``); with
  ``HPO_PRELOAD=0``, Airflow's plain ``LocalExecutor``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_HEARTBEAT_TIMEOUT_S = 30
LOCAL_HEARTBEAT_DETECTION_INTERVAL_S = 5
# The gate, suggest and record tasks of a round and a sweep's init/finalize run beside its trials.
ORCHESTRATION_SLOTS = 2
LOCAL_EXECUTOR = "hpo_executor.PreloadingLocalExecutor"  # plugins/ is on the scheduler's sys.path


def state_dir() -> Path:
    default = REPO_ROOT / ".state" if (REPO_ROOT / "pyproject.toml").exists() else Path.home() / ".hpo-sweeps"
    path = Path(os.environ.get("HPO_STATE_DIR") or default).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def optuna_storage_url() -> str:
    return os.environ.get("HPO_OPTUNA_STORAGE") or f"sqlite:///{state_dir() / 'optuna.db'}"


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def mlflow_artifact_root() -> str | None:
    """Artifact root for new experiments on a local store; a tracking server decides its own."""
    uri = mlflow_tracking_uri()
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    return (state_dir() / "mlartifacts").as_uri()


def airflow_env(home: Path, *, isolate: bool = False, **extra: str) -> dict[str, str]:
    """Environment for running this repo's DAGs and plugins with Airflow's metadata in SQLite under ``home``.

    ``isolate`` drops inherited ``AIRFLOW__*``, ``HPO_*`` and ``MLFLOW_*`` settings and enforces these
    (tests, benchmarks); otherwise a setting the user already exported wins. ``extra`` is applied last.
    """
    prefixes = ("AIRFLOW__", "HPO_", "MLFLOW_")
    env = {k: v for k, v in os.environ.items() if not (isolate and k.startswith(prefixes))}
    ours = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        **local_airflow_sizing(),
    }
    for key, value in ours.items():
        if isolate:
            env[key] = value
        else:
            env.setdefault(key, value)
    env.update(extra)
    home.mkdir(parents=True, exist_ok=True)
    return env


def sweeps_dir() -> Path:
    return Path(os.environ.get("HPO_SWEEPS_DIR") or REPO_ROOT / "config" / "sweeps")


def local_parallelism(sweeps: Path | None = None, *, cpus: int | None = None) -> int:
    """LocalExecutor worker slots for one machine: ``max(cpus, largest batch_size) + ORCHESTRATION_SLOTS``.

    A round's trials should all run at once (a round waits for its slowest trial), but more trial
    processes than cores only share the cores. A sweep file that does not load counts as the default
    batch size; a missing folder counts as none.
    """
    from hpo_tasks.config import BudgetConfig, SweepConfig, discover_sweeps

    cpus = cpus or os.cpu_count() or 1
    folder = sweeps or sweeps_dir()
    found = discover_sweeps(folder) if folder.is_dir() else {}
    default = int(BudgetConfig.model_fields["batch_size"].default)
    batches = [c.budget.batch_size if isinstance(c, SweepConfig) else default for c in found.values()]
    return max([cpus, *batches]) + ORCHESTRATION_SLOTS


def local_airflow_sizing(sweeps: Path | None = None) -> dict[str, str]:
    """The ``AIRFLOW__*`` settings of a local Airflow: executor and sizing (see the module docstring)."""
    from hpo_tasks import preload

    return {
        "AIRFLOW__CORE__EXECUTOR": LOCAL_EXECUTOR if preload.enabled() else "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(local_parallelism(sweeps)),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(LOCAL_HEARTBEAT_TIMEOUT_S),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(
            LOCAL_HEARTBEAT_DETECTION_INTERVAL_S
        ),
    }


if __name__ == "__main__":  # the Makefile: `env $(python -m hpo_tasks.settings) airflow standalone`
    # KEY=VALUE for each sizing setting the caller has not exported (an exported one wins).
    for key, value in local_airflow_sizing().items():
        if key not in os.environ:
            print(f"{key}={value}")
