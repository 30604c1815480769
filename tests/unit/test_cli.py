"""``hpo`` (hpo_tasks.cli) on its fast paths: validate, and status/best/report on a study of two told
trials (no finalize, no whole sweep; the CLI on a finished sweep and the dashboard subprocess are in
tests/integration/test_daily_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo_tasks import steps
from hpo_tasks.cli import main
from hpo_tasks.config import parse_sweep
from hpo_tasks.summary import summarize
from tests.conftest import REPO, write_sweep
from tests.helpers import branin_sweep, branin_yaml

CLI = branin_sweep("cli", budget={"max_trials": 4, "n_init": 2, "batch_size": 2}, sampler={"name": "random"})


def test_validate_prints_ok_for_good_files_and_the_field_for_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_sweep(tmp_path, "good", branin_yaml("good"))
    assert main(["validate", str(good), str(REPO / "config/sweeps/xgb_breast_cancer.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"ok  {good}: dag hpo__good, 2 params, 10 trials" in out and "hpo__xgb_breast_cancer" in out

    bad = write_sweep(tmp_path, "bad", branin_yaml("bad", budget={"max_trials": 0}))
    assert main(["validate", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "ok  " in captured.out and "budget.max_trials" in captured.err


@pytest.mark.parametrize("cmd", ["status", "best", "report"])
def test_queries_on_a_sweep_without_runs_exit_1_naming_it(
    cmd: str, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([cmd, "nosuch"]) == 1
    assert "sweep 'nosuch'" in capsys.readouterr().err


def test_status_and_best_read_the_one_summary(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = steps.init_sweep(parse_sweep(CLI), run_id="r1")["study_name"]
    for spec in steps.suggest_batch(name, 0):
        steps.run_trial(spec)
    steps.record_round(name, 0)
    s = summarize(name)

    assert main(["status", "cli"]) == 0
    out = capsys.readouterr().out
    assert name in out and "2/4" in out and "running" in out

    assert main(["best", "cli", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["study_name"] == name and best["best_trial_number"] == s["best_trial_number"]
    assert best["best_value"] == pytest.approx(s["best_value"]) and best["best_params"] == s["best_params"]

    assert main(["best", "cli"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# sweep cli, study {name}: best min value") and "x1:" in out and "x2:" in out

    assert main(["status", "cli", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["study_name"], row["trials_done"], row["budget"]) == (name, 2, 4)
