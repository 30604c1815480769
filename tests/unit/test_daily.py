"""The daily surfaces on a real (tiny, random-sampler) sweep: plots, CLI, progress page, trigger form."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hpo_tasks import summary, tracking
from hpo_tasks.cli import main
from hpo_tasks.config import SweepConfigError, load_sweep, parse_sweep
from hpo_tasks.config.overrides import check_overrides, form_fields, with_overrides
from hpo_tasks.steps import init_sweep, run_in_process, run_label
from tests.conftest import REPO, write_sweep

SWEEP = """
name: daily
objective: {name: branin}
direction: minimize
space:
  x1: {type: float, low: -5.0, high: 10.0}
  x2: {type: float, low: 0.0, high: 15.0}
budget: {max_trials: 6, n_init: 3, batch_size: 3}
sampler: {name: random}
"""
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


def test_progress_page_finds_the_run_by_airflow_tags(state_dir: Path, tmp_path: Path) -> None:
    cfg = load_sweep(write_sweep(tmp_path / "sweeps", "daily", SWEEP))
    ctx = {"dag_id": "hpo__daily", "run_id": "manual__x"}
    info = init_sweep(cfg, run_id="manual__x", context=ctx)
    p = summary.run_progress("hpo__daily", "manual__x")
    assert p is not None and p["study_name"] == info["study_name"]
    assert (p["trials_done"], p["budget"], p["stop_reason"]) == (0, 6, None)
    page = summary.render_html(p, dag_id="hpo__daily", run_id="manual__x")
    assert "0 / 6" in page and info["parent_run_id"] in page
    assert summary.run_progress("hpo__daily", "other") is None
    assert summary.run_progress("not_a_sweep", "manual__x") is None


def test_scheduled_runs_get_one_study_per_logical_date() -> None:
    assert run_label("scheduled__2026-11-27T02:00:00+00:00", scheduled_for="2026-11-27T02:00:00+00:00") == (
        "2026-11-27T0200"
    )
    assert run_label("manual__2026-11-27T09:13:00+00:00") == "manual__2026-11-27T09:13:00+00:00"


def test_form_has_sections_enums_and_bounds() -> None:
    cfg = load_sweep(REPO / "config/sweeps/xgb_breast_cancer.yaml")
    fields = form_fields(cfg)
    assert {f["section"] for f in fields.values()} == {"Budget", "Sampler", "Advanced"}
    assert fields["sampler"]["enum"] == ["gp", "optuna-gp", "tpe", "random"]
    assert "logei" in fields["acquisition"]["enum"]
    assert fields["max_trials"]["maximum"] == 40 and fields["n_init"]["minimum"] == cfg.n_init
    assert all(f["description"] for f in fields.values())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_init": 30, "max_trials": 20}, "n_init (30) exceeds max_trials (20)"),
        ({"sampler": "tpe", "acquisition": "other"}, "only applies to sampler gp"),
    ],
)
def test_invalid_combinations_are_rejected_with_a_reason(overrides: dict, message: str) -> None:
    cfg = load_sweep(REPO / "config/sweeps/xgb_breast_cancer.yaml")
    with pytest.raises(SweepConfigError, match=re.escape(message)):
        check_overrides(cfg, overrides)
    check_overrides(cfg, {"sampler": "tpe", "max_trials": 20})  # valid


def test_form_sampler_override_applies() -> None:
    cfg = parse_sweep(yaml.safe_load(SWEEP))
    assert with_overrides(cfg, {"sampler": "tpe", "acquisition": "logei"}).sampler.name == "tpe"


def test_switching_sampler_in_the_form_drops_gp_only_settings() -> None:
    cfg = parse_sweep({**yaml.safe_load(SWEEP), "sampler": {"name": "gp", "acquisition": "ucb"}})
    tpe = with_overrides(cfg, {"sampler": "tpe", "acquisition": "ucb"})  # the form's untouched default
    assert (tpe.sampler.name, tpe.sampler.acquisition) == ("tpe", "logei")
    assert with_overrides(cfg, {"acquisition": "pi"}).sampler.acquisition == "pi"
    with pytest.raises(SweepConfigError, match="only apply to sampler 'gp'"):
        with_overrides(cfg, {"sampler": "random", "acquisition": "pi"})
