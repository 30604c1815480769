from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Airflow reads its config at import: keep test processes off ~/airflow and the examples.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hpo-test-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state folder: SQLite Optuna storage and a local MLflow store inside tmp_path."""
    state = tmp_path / "state"
    monkeypatch.setenv("HPO_STATE_DIR", str(state))
    monkeypatch.delenv("HPO_OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return state


def write_sweep(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path
