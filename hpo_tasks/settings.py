"""Where state lives. URLs and secrets come from the environment, never from sweep files.

- ``HPO_STATE_DIR``: local state folder for the embedded defaults (default ``<repo>/.state`` in a
  checkout, ``~/.hpo-sweeps`` for an installed package).
- ``HPO_OPTUNA_STORAGE``: Optuna RDB URL (default ``sqlite:///$HPO_STATE_DIR/optuna.db``);
  PostgreSQL in production, e.g. ``postgresql+psycopg2://user@host/optuna``.
- ``MLFLOW_TRACKING_URI``: MLflow tracking store (default ``sqlite:///$HPO_STATE_DIR/mlflow.db``).
- ``HPO_SWEEPS_DIR``: folder of sweep files the DAG factory reads (default ``<repo>/config/sweeps``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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
