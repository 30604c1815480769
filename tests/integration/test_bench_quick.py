"""``python -m hpo_tasks.bench --quick`` end to end, on two problems: every part runs and writes its output
(studies in worker processes, suggest latency, a real Airflow DAG run against the plain loop, report, PNGs).
Outcomes only; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo_tasks.bench.cli import main
from hpo_tasks.bench.optimizers import OPTIMIZERS

pytestmark = pytest.mark.integration

PROBLEMS = ("branin", "lr-mixed-breast-nll")


def test_quick_run_writes_traces_tables_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = ["--quick", "--out", str(out), "--problems", ",".join(PROBLEMS), "--budget", "12"]
    argv += ["--latency-n", "10", "--latency-repeats", "1", "--no-progress"]
    assert main(argv) == 0

    results = json.loads((out / "results.json").read_text())
    runs = results["runs"]
    budget, seeds = results["meta"]["budget"], results["meta"]["seeds"]
    assert {(r["problem"], r["optimizer"]) for r in runs} == {(p, o) for p in PROBLEMS for o in OPTIMIZERS}
    assert len(runs) == len(PROBLEMS) * len(OPTIMIZERS) * seeds
    for r in runs:
        assert len(r["true"]) == len(r["observed"]) == len(r["ask_seconds"]) == budget
    rounds = {(r["problem"], r["optimizer"], r["seed"]): max(r["round"]) for r in runs}
    for p in PROBLEMS:  # batches of 4 finish the same budget in fewer rounds
        assert rounds[(p, "ours-q4", 0)] < rounds[(p, "ours-q1", 0)]
    assert results["meta"]["versions"]["optuna"] and results["meta"]["optimizers"]["botorch"]["args"]

    assert {rec["optimizer"] for rec in results["latency"]} == {"ours-q1", "optuna-gp"}
    pipeline = results["pipeline"]
    assert "error" not in pipeline, pipeline
    assert pipeline["dag_complete"] == pipeline["loop_complete"] == pipeline["trials"]

    summary = json.loads((out / "summary.json").read_text())["summary"]
    for p in PROBLEMS:
        for o in OPTIMIZERS:
            assert all(-100.0 <= s <= 200.0 for s in summary["scores"][p][o][str(budget)])
    md = (out / "report.md").read_text()
    for heading in (
        "## Score",
        "## Paired difference",
        "## Trials to reach",
        "## Suggest latency",
        "## Batch mode",
        "## Pipeline overhead",
        "## Bars",
    ):
        assert heading in md
    for png in ("convergence.png", "latency.png", "rounds.png"):
        assert (out / png).stat().st_size > 0


def test_gpu_check_writes_its_figures_on_any_machine(tmp_path: Path) -> None:
    """The GPU machine's script, tiny: on a CPU-only machine it measures the CPU alone."""
    from hpo_tasks.bench.experiments import gpu_check

    assert gpu_check.main(["--n", "30", "--images", "300", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert 0.0 <= res["cnn_cpu"]["val_acc"] <= 1.0 and res["cnn_cpu"]["epochs"] == 1
    assert res["gp_n30_cpu"]["phase"] == "gp"
    assert ("cnn_cuda" in res) == res["cuda"]
