"""The async-utilisation experiment's arithmetic on hand-made task instances (the run itself needs the
``make airflow`` stack: ``python -m hpo_tasks.bench.experiments.async_utilisation``)."""

from __future__ import annotations

import pytest

from hpo_tasks.bench.experiments.async_utilisation import measure, sleep_seconds


def _ti(task: str, number: int, start: float, end: float) -> dict:
    iso = "2026-12-01T10:00:{:06.3f}+00:00"
    return {
        "task_id": task,
        "rendered_map_index": f"trial {number}",
        "state": "success",
        "start_date": iso.format(start),
        "end_date": iso.format(end),
    }


def test_sleep_spans_5_to_40_seconds() -> None:
    assert sleep_seconds({"x1": -5.0}) == 5.0 and sleep_seconds({"x1": 10.0}) == 40.0


def test_rounds_and_lanes_figures() -> None:
    trials = {n: {"value": 10.0 - n, "seconds": 4.0} for n in range(8)}
    # rounds of 4: the second starts 2 s after the first's slowest trial ends
    rounds = [_ti("round_00.run_trial", n, 0.0, 5.0 + n) for n in range(4)]
    rounds += [_ti("round_01.run_trial", n, 10.0, 15.0) for n in range(4, 8)]
    got = measure(rounds, trials, mode="rounds")
    assert got["n_trials"] == 8 and got["span_s"] == 15.0 and got["objective_s"] == 32.0
    assert got["utilisation"] == pytest.approx(32.0 / 60.0, abs=1e-3)
    assert got["gap_s"] == 2.0 and got["best@8"] == 3.0
    assert got["orchestration_s"] == 1.0  # task durations 5, 6, 7, 8, 5, 5, 5, 5 minus 4 s inside

    # two lanes: gaps between a lane's consecutive trials, not across lanes
    lanes = [_ti("lane_0.trial_000", 0, 0.0, 5.0), _ti("lane_0.trial_001", 2, 5.5, 10.0)]
    lanes += [_ti("lane_1.trial_000", 1, 0.0, 8.0), _ti("lane_1.trial_001", 3, 9.0, 14.0)]
    got = measure(lanes, {n: trials[n] for n in range(4)}, mode="async")
    assert got["gap_s"] == 0.75 and got["span_s"] == 14.0 and got["best@16"] == 7.0
