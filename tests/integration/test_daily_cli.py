"""The daily surfaces on one real finished sweep (tiny, random sampler, in-process): the plots and best
config finalize logs, ``hpo status|best`` on it, and ``hpo dashboard`` serving it from a subprocess.
(The CLI's fast paths are unit-tested in tests/unit/test_cli.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo_tasks import tracking
from hpo_tasks.cli import main
from hpo_tasks.config import load_sweep
from hpo_tasks.steps import run_in_process
from tests.conftest import REPO, write_sweep
from tests.helpers import branin_yaml

pytestmark = pytest.mark.integration

SWEEP = branin_yaml(
    "daily", budget={"max_trials": 6, "n_init": 3, "batch_size": 3}, sampler={"name": "random"}
)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, Path]]:
    """One finished sweep run for the module's read-only tests (a run costs seconds on 2 cores)."""
    tmp = tmp_path_factory.mktemp("daily")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPO_STATE_DIR", str(tmp / "state"))
        mp.delenv("HPO_OPTUNA_STORAGE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        cfg = load_sweep(write_sweep(tmp / "sweeps", "daily", SWEEP))
        yield run_in_process(cfg, label="night1"), tmp / "state"


@pytest.fixture
def finished(finished_state: tuple[dict, Path], monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("HPO_STATE_DIR", str(finished_state[1]))
    return finished_state[0]


def test_finalize_logs_valid_png_plots_and_best_config(finished: dict) -> None:
    parent = finished["mlflow_parent_run_id"]
    c = tracking.client()
    names = {a.path for a in c.list_artifacts(parent, "plots")}
    expected = {"convergence", "parallel_coordinates", "param_importance", "slice_top2", "contour_top2"}
    assert names == {f"plots/{n}.png" for n in expected}
    for name in names:
        data = Path(c.download_artifacts(parent, name)).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000, name
    assert finished["plots"] == {f"{n}.png": "ok" for n in expected}
    assert finished["promotion"]["status"] == "skipped"  # branin has no final-model hook
    run = tracking.run_info(parent)
    assert run.data.metrics["plots_seconds"] > 0
    assert "round_best_value" in run.data.metrics


def test_cli_status_best_on_a_real_study(finished: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["status", "daily"]) == 0
    out = capsys.readouterr().out
    assert "daily:night1" in out and "6/6" in out and "max_trials" in out

    assert main(["best", "daily", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["best_value"] == pytest.approx(finished["best_value"])
    assert best["best_params"] == finished["best_params"]

    assert main(["best", "daily"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# sweep daily") and "x1:" in out and "x2:" in out

    assert main(["status", "nosuch"]) == 1


def test_cli_dashboard_serves_the_study(finished: dict, finished_state: tuple[dict, Path]) -> None:
    pytest.importorskip("optuna_dashboard")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HPO_STATE_DIR": str(finished_state[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpo_tasks.cli", "dashboard", "daily", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies = json.load(r)["study_summaries"]
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        assert [s["study_name"] for s in studies] == ["daily:night1"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
