"""Warm start across whole in-process sweeps (``run_in_process``: real Optuna and MLflow stores): the
second night takes the latest finished study, and a changed space is mapped and warned about."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking, warm_start
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import init_sweep, run_in_process
from tests.helpers import warm_sweep

pytestmark = pytest.mark.integration


def shifted(params: dict, *, seed: int) -> float:
    """Another objective on a changed space (x1, x3)."""
    return (params["x1"] - 3.0) ** 2 + params["x3"]


def test_second_run_takes_the_latest_finished_study_and_never_counts_it(state_dir: Path) -> None:
    first = run_in_process(parse_sweep(warm_sweep()), label="n1")
    assert record.load(first["study_name"])[0].user_attrs[warm_start.WARM_ATTR]["source"] is None

    unfinished = init_sweep(parse_sweep(warm_sweep(warm_start=...)), run_id="n1b")  # never finished
    second = run_in_process(parse_sweep(warm_sweep()), label="n2")
    study, _ = record.load(second["study_name"])
    ws = warm_start.load(study)
    assert ws.source == "ws:n1" != unfinished["study_name"]

    # The earlier best configurations run first, as ordinary trials of this run.
    src = sorted(
        (t for t in record.load("ws:n1")[0].trials if t.state == TrialState.COMPLETE),
        key=lambda t: t.value,
    )
    trials = study.get_trials()
    assert [t.params for t in trials[:2]] == [t.params for t in src[:2]]
    assert [t.user_attrs.get("warm_start_from") for t in trials[:3]] == ["ws:n1", "ws:n1", None]
    assert trials[1].value == pytest.approx(src[1].value)  # re-evaluated, not copied

    # Prior observations feed the GP but are not trials: budget, counts and best are this run's own.
    assert len(ws.observations) == 6 and len(trials) == 6 == second["n_trials"]
    gp_steps = [record.suggest_info(t) for t in trials if record.suggest_info(t).get("phase") == "gp"]
    assert gp_steps and all(s["n_prior"] > 0 for s in gp_steps)
    # With 6 prior points the GP proposes from the first trial that is not an enqueued configuration.
    assert record.suggest_info(trials[2])["phase"] == "gp"
    assert second["best_value"] == min(t.value for t in trials)

    parent = tracking.run_info(second["mlflow_parent_run_id"]).data
    assert parent.tags["hpo.warm_start.from"] == "ws:n1"
    assert parent.metrics["warm_start.enqueued"] == 2 and parent.metrics["warm_start.observations"] == 6
    assert "hpo.warning.warm_start" not in parent.tags

    # A retried init (Airflow delivers at least once) finds the same warm start and enqueues nothing.
    assert init_sweep(parse_sweep(warm_sweep()), run_id="n2")["study_name"] == second["study_name"]
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 6


def test_changed_space_is_mapped_and_warned_never_crashes(state_dir: Path) -> None:
    run_in_process(parse_sweep(warm_sweep()), label="n1")
    changed = warm_sweep(
        space={
            "x1": {"type": "float", "low": 0.0, "high": 10.0},  # narrowed
            "x3": {"type": "int", "low": 1, "high": 3},  # new; x2 removed
        }
    )
    changed["objective"] = {"name": "tests.integration.test_warm_start_sweeps:shifted"}
    second = run_in_process(parse_sweep(changed), label="n2")
    study, _ = record.load(second["study_name"])
    assert second["n_complete"] == 6
    enqueued = [t.params for t in study.get_trials() if t.user_attrs.get("warm_start_from")]
    assert len(enqueued) == 2
    assert all(set(p) == {"x1", "x3"} and 0.0 <= p["x1"] <= 10.0 and p["x3"] == 2 for p in enqueued)
    ws = warm_start.load(study)
    assert ws.observations == []  # other objective (and x3 unknown): no earlier outcome reaches the GP
    warning = tracking.run_info(second["mlflow_parent_run_id"]).data.tags["hpo.warning.warm_start"]
    assert "parameter 'x2'" in warning and "no longer in the space" in warning
    assert "parameter 'x3'" in warning and "centre value" in warning
    assert "outcomes are not fed to the GP" in warning
