"""Real Airflow DAG runs (``airflow dags test``: SQLite metadata DB, the real task runner) against
private state folders; the Airflow DB is migrated once per session and copied per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpo_tasks.settings import airflow_env
from tests.conftest import REPO, write_sweep
from tests.helpers import branin_yaml

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def branin_dag_sweep(name: str, objective: str = "branin") -> str:
    """The DAG tests' Branin sweep file: 9 trials, a seed round of 4, rounds of 3, seed 3, no retries."""
    return branin_yaml(
        name,
        objective={"name": objective},
        budget={"max_trials": 9, "n_init": 4, "batch_size": 3},
        seed=3,
        resources={"retries": 0},
    )


def _base_env(home: Path) -> dict[str, str]:
    return airflow_env(home, isolate=True, PYTHONPATH=str(REPO))


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_template")
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=_base_env(home), check=True, capture_output=True, timeout=300
    )
    return home / "airflow.db"


@dataclass
class AirflowSandbox:
    home: Path
    sweeps: Path
    state: Path
    env: dict[str, str]

    def add_sweep(self, name: str, text: str) -> Path:
        return write_sweep(self.sweeps, name, text)

    def dag_test(self, dag_id: str, conf: str | None = None) -> subprocess.CompletedProcess:
        cmd = [AIRFLOW, "dags", "test", dag_id] + (["-c", conf] if conf else [])
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900)
        (self.home / f"{dag_id}.log").write_text(proc.stdout + proc.stderr)
        return proc

    def task_states(self, dag_id: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "select task_id, state from task_instance where dag_id = ? order by map_index", (dag_id,)
            )
            for task_id, state in rows:
                out.setdefault(task_id, []).append(state)
        return out


@pytest.fixture
def airflow_sandbox(
    tmp_path: Path, migrated_airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> AirflowSandbox:
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copy(migrated_airflow_db, home / "airflow.db")
    sweeps, state = tmp_path / "sweeps", tmp_path / "state"
    env = _base_env(home)
    env.update(HPO_SWEEPS_DIR=str(sweeps), HPO_STATE_DIR=str(state))
    # The test process reads the same stores the DAG run writes.
    monkeypatch.setenv("HPO_STATE_DIR", str(state))
    monkeypatch.delenv("HPO_OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return AirflowSandbox(home, sweeps, state, env)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database with a unique name, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    host = os.environ.get("HPO_TEST_PG_HOST", "127.0.0.1")
    user = os.environ.get("HPO_TEST_PG_USER", "postgres")
    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=host, user=user, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{user}@{host}:5432/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
