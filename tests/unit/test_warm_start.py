"""Warm start: mapping an earlier study onto tonight's space, choosing the source, what a run takes."""

from __future__ import annotations

import copy
import statistics
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking, warm_start
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.config.overrides import check_overrides, form_fields, with_overrides
from hpo_tasks.space import SearchSpace
from hpo_tasks.steps import init_sweep, run_in_process

BRANIN: dict[str, Any] = {
    "name": "ws",
    "objective": {"name": "branin"},
    "direction": "minimize",
    "space": {
        "x1": {"type": "float", "low": -5.0, "high": 10.0},
        "x2": {"type": "float", "low": 0.0, "high": 15.0},
    },
    "budget": {"max_trials": 6, "n_init": 4, "batch_size": 2},
    "warm_start": {"from": "latest", "top_k": 2},
}


def _sweep(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BRANIN)
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for k in parents:
            node = node.setdefault(k, {})
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


SPACE = SearchSpace.from_config(
    parse_sweep(
        _sweep(
            space={
                "lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
                "depth": {"type": "int", "low": 2, "high": 8},
                "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"opt": "sgd"}},
            }
        )
    )
)


@pytest.mark.parametrize(
    ("params", "clip", "expected", "notes"),
    [
        # in the space: unchanged, for enqueueing and for observations alike
        ({"lr": 0.05, "depth": 4, "opt": "adam"}, False, {"lr": 0.05, "depth": 4, "opt": "adam"}, []),
        # bounds narrowed: enqueued configs are clipped, observations dropped
        ({"lr": 0.5, "depth": 12, "opt": "adam"}, True, {"lr": 0.1, "depth": 8, "opt": "adam"},
         [("lr", "clipped"), ("depth", "clipped")]),
        ({"lr": 0.5, "depth": 4, "opt": "adam"}, False, None, [("lr", "outside")]),
        # float became int: rounded when enqueued
        ({"lr": 0.05, "depth": 3.6, "opt": "adam"}, True, {"lr": 0.05, "depth": 4, "opt": "adam"},
         [("depth", "clipped")]),
        # a removed parameter is dropped
        ({"lr": 0.05, "depth": 4, "opt": "adam", "gone": 3}, False,
         {"lr": 0.05, "depth": 4, "opt": "adam"}, [("gone", "removed")]),
        # a new parameter (momentum, active under sgd): its centre when enqueued, skipped as observation
        ({"lr": 0.05, "depth": 4, "opt": "sgd"}, True,
         {"lr": 0.05, "depth": 4, "opt": "sgd", "momentum": 0.45}, [("momentum", "new")]),
        ({"lr": 0.05, "depth": 4, "opt": "sgd"}, False, None, [("momentum", "new")]),
        # a choice no longer offered: skipped either way
        ({"lr": 0.05, "depth": 4, "opt": "rmsprop"}, True, None, [("opt", "choice gone")]),
    ],
)  # fmt: skip
def test_earlier_configs_are_mapped_onto_the_new_space(
    params: dict, clip: bool, expected: dict | None, notes: list
) -> None:
    got, got_notes = warm_start.fit_to_space(params, SPACE, clip=clip)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)
    assert got_notes == notes


def test_config_and_form_validate_the_source() -> None:
    assert parse_sweep(_sweep(warm_start={})).warm_start.source == "latest"  # type: ignore[union-attr]
    assert parse_sweep(_sweep(warm_start=...)).warm_start is None  # no block: cold start
    with pytest.raises(SweepConfigError, match=r"warm_start\.from: 'yesterday' is not latest, none"):
        parse_sweep(_sweep(warm_start={"from": "yesterday"}))
    with pytest.raises(SweepConfigError, match=r"warm_start\.top_k: Input should be greater than"):
        parse_sweep(_sweep(warm_start={"top_k": -1}))

    cfg = parse_sweep(_sweep())
    assert form_fields(cfg)["warm_start_from"]["default"] == "latest"
    with pytest.raises(SweepConfigError, match="warm_start_from 'last night' is not latest"):
        check_overrides(cfg, {"warm_start_from": "last night"})
    assert with_overrides(cfg, {"warm_start_from": "none"}).warm_start is None
    named = with_overrides(cfg, {"warm_start_from": "ws:n1"}).warm_start
    assert named is not None and (named.source, named.top_k) == ("ws:n1", 2)
    cold = parse_sweep(_sweep(warm_start=...))
    assert form_fields(cold)["warm_start_from"]["default"] == "none"
    assert with_overrides(cold, {"warm_start_from": "latest"}).warm_start is not None


@pytest.mark.slow  # whole sweeps with MLflow and Optuna stores: tens of seconds
def test_second_run_takes_the_latest_finished_study_and_never_counts_it(state_dir: Path) -> None:
    first = run_in_process(parse_sweep(_sweep()), label="n1")
    assert record.load(first["study_name"])[0].user_attrs[warm_start.WARM_ATTR]["source"] is None

    unfinished = init_sweep(parse_sweep(_sweep(warm_start=...)), run_id="n1b")  # started, never finished
    second = run_in_process(parse_sweep(_sweep()), label="n2")
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
    assert init_sweep(parse_sweep(_sweep()), run_id="n2")["study_name"] == second["study_name"]
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 6


@pytest.mark.slow  # whole sweeps with MLflow and Optuna stores: tens of seconds
def test_changed_space_is_mapped_and_warned_never_crashes(state_dir: Path) -> None:
    run_in_process(parse_sweep(_sweep()), label="n1")
    changed = _sweep(
        space={
            "x1": {"type": "float", "low": 0.0, "high": 10.0},  # narrowed
            "x3": {"type": "int", "low": 1, "high": 3},  # new; x2 removed
        }
    )
    changed["objective"] = {"name": "tests.unit.test_warm_start:shifted"}
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


def test_named_source_must_exist(state_dir: Path) -> None:
    with pytest.raises(SweepConfigError, match=r"warm_start\.from: no study 'ws:nope'"):
        init_sweep(parse_sweep(_sweep(warm_start={"from": "ws:nope"})), run_id="n1")


def shifted(params: dict, *, seed: int) -> float:
    """Another objective on a changed space (x1, x3)."""
    return (params["x1"] - 3.0) ** 2 + params["x3"]


def _trials_to_reach(study_name: str, target: float) -> int:
    """1 + the number of the first trial at least as good as ``target`` (budget + 1 if none is)."""
    study, cfg = record.load(study_name)
    for t in study.get_trials():
        if t.state == TrialState.COMPLETE and t.value <= target + 1e-9:
            return t.number + 1
    return cfg.budget.max_trials + 1


@pytest.mark.slow
def test_warm_second_sweep_reaches_the_first_best_in_fewer_trials(state_dir: Path) -> None:
    """Branin, 3 seeds, 8 trials a night: the trials the cold first night needed to reach its best vs
    the trials the warm second night (another seed) needs to reach that value.
    (``scripts/warm_start_savings.py`` measures against a separate cold sweep, with more seeds.)"""
    warm, cold = [], []
    for seed in range(3):
        base = _sweep(name=f"ws{seed}", budget={"max_trials": 8, "n_init": 4, "batch_size": 4})
        first = run_in_process(parse_sweep({**base, "seed": seed}), label="n1")
        second = run_in_process(parse_sweep({**base, "seed": seed + 100}), label="n2")
        cold.append(_trials_to_reach(first["study_name"], first["best_value"]))
        warm.append(_trials_to_reach(second["study_name"], first["best_value"]))
    assert statistics.median(warm) < statistics.median(cold), (warm, cold)
