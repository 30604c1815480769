"""Smoke runs of the experiments in ``hpo_tasks.bench.experiments``: tiny budgets, outcomes only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo_tasks.bench.experiments import ab_engine, acquisitions, turbo


def test_acquisitions_runs_each_named_acquisition_and_random(tmp_path: Path, capsys) -> None:
    out = tmp_path / "acq.json"
    argv = ["--trials", "6", "--seeds", "1", "--problems", "branin", "--acquisitions", "random,ucb"]
    assert acquisitions.main([*argv, "--out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["optimizer"] for r in runs] == ["random", "ucb"]
    assert all(len(r["true"]) == 6 and r["regret"] >= 0 for r in runs)
    gp = runs[1]
    assert gp["round"][0] == 0 and len(gp["gp_ask_seconds"]) == 6 - gp["round"].count(0) > 0
    assert "| ucb | branin |" in capsys.readouterr().out


def test_turbo_resumes_from_its_file(tmp_path: Path, capsys) -> None:
    from hpo_tasks.bench.problems import PROBLEMS

    small = PROBLEMS["branin"]  # the experiment's loop, on a 2-D problem instead of Ackley 30-D
    r = turbo.run("turbo", 0, trials=8, q=2, problem=small)
    assert len(r["best_trace"]) == 8 and r["best_trace"] == sorted(r["best_trace"], reverse=True)
    out = tmp_path / "t.jsonl"
    out.write_text(json.dumps(r) + "\n")
    argv = ["--trials", "8", "--seeds", "1", "--batch-size", "2", "--optimizers", "turbo", "--out", str(out)]
    assert turbo.main(argv) == 0  # the one run is in the file: nothing runs, the table is printed
    assert len(out.read_text().splitlines()) == 1
    assert "| turbo | 1 |" in capsys.readouterr().out


def test_ackley30_problem_has_its_optimum_at_the_origin() -> None:
    p = turbo.ackley30()
    assert p.dim == 30
    assert p.true_loss({f"x{i + 1}": 0.0 for i in range(30)}) == pytest.approx(0.0, abs=1e-9)


def test_ab_engine_variants_patch_and_restore_the_engine() -> None:
    from hpo_tasks.bench.optimizers import sweep_config
    from hpo_tasks.gp import engine

    build = engine._build_acqf
    space = {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(4)}
    try:
        old = ab_engine.study("old", "branin", 0, 7)
        assert sweep_config(space, budget=50).n_init == 8  # the old seed design: max(5, 2d)
        assert engine._build_acqf is not build
        assert old["variant"] == "old" and len(old["true"]) == 7
    finally:
        new = ab_engine.study("new", "branin", 0, 7)
    assert engine._build_acqf is build
    assert sweep_config(space, budget=50).n_init == 5  # today's: min(10, max(5, d+1))
    assert new["variant"] == "new" and len(new["true"]) == 7


def test_async_sim_lanes_ask_as_configured_and_rounds_wait_for_the_slowest() -> None:
    """Virtual time: a round lasts its slowest trial, a lane does not wait for the others."""
    from hpo_tasks.bench.experiments import async_sim

    rows = {m: async_sim.run(m, 0, trials=16, q=4, n_init=4) for m in async_sim.MODES}
    assert all(r["best@16"] >= 0.397887 for r in rows.values())  # Branin's optimum; NaN fails too
    assert rows["ask_after"]["span_s"] < rows["rounds"]["span_s"]
    assert rows["ask_ahead"]["span_s"] < rows["rounds"]["span_s"]
    for row in rows.values():  # a target reached is reached within the span, and no later than a looser one
        reached = [row[f"to<={t}_s"] for t in async_sim.TARGETS if row[f"to<={t}_s"] is not None]
        assert reached == sorted(reached) and all(0 < s <= row["span_s"] for s in reached)
    slowed = async_sim.run("rounds", 0, trials=16, q=4, n_init=4, gap={"rounds": 5.0})
    assert slowed["span_s"] == rows["rounds"]["span_s"] + 3 * 5.0  # three waits between four rounds
    assert slowed["best@16"] == rows["rounds"]["best@16"]  # the gap moves the clock, not the choices
