"""budget.mode async: the lanes rule, the config and form, and the lane steps (suggest_one, the gate
folded in, and record_lanes) driven in-process with lanes interleaved as the DAG runs them, so every
trial is asked with the other lanes' trials pending. Most tests run with ``budget.ask_ahead`` (each lane
asks one step ahead: the harder case, two asked trials per lane); the default asks after a lane's trial
ended, in one task with the trial (``ask_and_run``, last)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, steps
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.config.overrides import (
    check_overrides,
    form_fields,
    lane_steps,
    lanes_capacity,
    min_batch_size,
    unrolled_lanes,
    with_overrides,
)
from tests.helpers import branin_sweep

BRANIN: dict[str, Any] = branin_sweep(
    "asy",
    budget={"max_trials": 7, "n_init": 3, "batch_size": 3, "mode": "async", "ask_ahead": True},
    sampler={"name": "random"},
    seed=5,
)


def _cfg(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BRANIN)
    for key, value in changes.items():
        if key in ("max_trials", "n_init", "batch_size", "mode", "patience"):
            data["budget"][key] = value
        else:
            data[key] = value
    return data


# -- the lanes rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_trials", "lanes", "min_lanes", "steps"),
    [
        (16, 4, 4, 8),  # twice the fair share of 4
        (16, 4, 2, 8),
        (10, 3, 2, 8),  # 2 * ceil(10 / 3)
        (4, 4, 2, 2),
        (6, 4, 4, 3),  # bounded: each of the 3 other lanes takes at least one
        (5, 1, 1, 5),  # one lane runs the whole budget
        (3, 8, 4, 1),  # more lanes than trials: one step each
        (1000, 4, 2, 500),
    ],
)
def test_lane_steps(max_trials: int, lanes: int, min_lanes: int, steps: int) -> None:
    assert lane_steps(max_trials, lanes, min_lanes=min_lanes) == steps


def test_lanes_always_reach_the_budget_at_the_forms_smallest_q() -> None:
    for max_trials in range(1, 60):
        for q in range(1, 20):
            cfg = parse_sweep(_cfg(max_trials=max_trials, n_init=1, batch_size=q))
            n_lanes, n_steps = unrolled_lanes(cfg)
            assert n_lanes == q
            for q_run in range(min_batch_size(cfg), q + 1):
                run = with_overrides(cfg, {"batch_size": q_run})
                assert lanes_capacity(run, lanes=n_lanes, steps=n_steps) >= max_trials, (max_trials, q, q_run)
            assert n_steps <= max(1, 2 * math.ceil(max_trials / q))


# -- config and trigger form ---------------------------------------------------------------------------


def test_mode_defaults_to_rounds_and_the_form_cannot_switch_it() -> None:
    rounds = parse_sweep(_cfg(mode=...) | {"budget": {"max_trials": 7, "batch_size": 3}})
    assert rounds.budget.mode == "rounds"
    assert form_fields(rounds)["mode"]["enum"] == ["rounds"]
    assert form_fields(rounds)["batch_size"]["maximum"] == 256
    cfg = parse_sweep(_cfg())
    fields = form_fields(cfg)
    assert fields["mode"]["default"] == "async" and fields["mode"]["enum"] == ["async"]
    assert fields["batch_size"]["maximum"] == 3  # one lane per trial in flight
    with pytest.raises(SweepConfigError, match=r"mode 'rounds' differs from the sweep file's budget\.mode"):
        check_overrides(cfg, {"mode": "rounds"})
    check_overrides(cfg, {"mode": "async"})
    with pytest.raises(SweepConfigError, match=r"budget\.mode"):
        parse_sweep(_cfg(mode="sometimes"))


def test_async_refuses_the_trust_region_naming_the_fields() -> None:
    with pytest.raises(SweepConfigError, match=r"budget\.mode: async does not support the trust region"):
        parse_sweep(_cfg(sampler={"name": "gp", "trust_region": True}))
    assert not parse_sweep(_cfg(sampler={"name": "gp", "trust_region": False})).uses_trust_region
    with pytest.raises(
        SweepConfigError, match=r"resources\.max_parallel_trials \(2\) below budget\.batch_size"
    ):
        parse_sweep(_cfg(resources={"max_parallel_trials": 2}))
    parse_sweep(_cfg(resources={"max_parallel_trials": 3}))


def test_init_refuses_a_run_the_lanes_cannot_hold(state_dir: Path) -> None:
    cfg = parse_sweep(_cfg())
    with pytest.raises(SweepConfigError, match=r"budget\.batch_size: 3 lanes of 2 steps cannot run 7"):
        steps.init_sweep(cfg, run_id="small", lanes=(3, 2))
    steps.init_sweep(cfg, run_id="fits", lanes=unrolled_lanes(cfg))


# -- the lane steps ------------------------------------------------------------------------------------


def _init(cfg_data: dict[str, Any], label: str = "a") -> str:
    cfg = parse_sweep(cfg_data)
    return steps.init_sweep(cfg, run_id=label, lanes=unrolled_lanes(cfg))["study_name"]


def test_a_retried_suggest_returns_the_same_trial_and_lanes_get_distinct_ones(state_dir: Path) -> None:
    name = _init(_cfg(sampler={"name": "gp"}, n_init=2))
    a = steps.suggest_one(name, 0, 0)
    b = steps.suggest_one(name, 1, 0)
    assert steps.suggest_one(name, 0, 0) == a  # a retry: the same trial, nothing new asked
    assert len(a) == len(b) == 1 and a[0]["trial_number"] != b[0]["trial_number"]
    study, _ = record.load(name)
    assert len(study.get_trials()) == 2
    steps.run_trial(a[0])
    steps.run_trial(b[0])
    # the GP phase: lane 0 asks while lane 1's trial runs, so lane 1's trial is its pending point
    c = steps.suggest_one(name, 1, 1)
    d = steps.suggest_one(name, 0, 1)
    assert steps.suggest_one(name, 0, 1) == d
    study, _ = record.load(name)
    by_number = {t.number: t for t in study.get_trials()}
    assert record.suggest_info(by_number[d[0]["trial_number"]])["n_pending"] == 1
    assert by_number[c[0]["trial_number"]].state == TrialState.RUNNING
    assert d[0]["params"] != c[0]["params"]
    assert by_number[d[0]["trial_number"]].system_attrs[record.LANE_STEP_ATTR] == "0:1"
    assert len(by_number) == 4


def _drive(
    name: str, order: Callable[[list[int]], int], *, lanes: int, steps_per_lane: int, ahead: bool = True
) -> None:
    """Run the lanes in-process as the DAG does: every lane asks its step 0 and, ``ahead``, its step 1;
    then repeatedly the lane ``order`` picks (of those with an asked trial) runs its oldest asked trial,
    after which that lane asks its next step (suggest k runs once trial k-2, or k-1, has ended)."""
    asked: dict[int, list[dict[str, Any]]] = {lane: [] for lane in range(lanes)}
    nxt = dict.fromkeys(range(lanes), 0)
    stopped: set[int] = set()

    def ask(lane: int) -> None:
        if lane in stopped or nxt[lane] >= steps_per_lane:
            return
        specs = steps.suggest_one(name, lane, nxt[lane])
        nxt[lane] += 1
        if specs:
            asked[lane].append(specs[0])
        else:
            stopped.add(lane)  # the DAG skips the rest of the lane

    for lane in list(range(lanes)) * (2 if ahead else 1):
        ask(lane)
    while any(asked.values()):
        lane = order(sorted(x for x, a in asked.items() if a))
        steps.run_trial(asked[lane].pop(0))
        ask(lane)
    steps.record_lanes(name)


def test_lanes_share_the_budget_and_a_fast_lane_takes_more(state_dir: Path) -> None:
    data = _cfg(max_trials=20)
    n_lanes, n_steps = unrolled_lanes(parse_sweep(data))
    assert (n_lanes, n_steps) == (3, 14)
    name = _init(data)
    _drive(name, lambda flying: flying[0], lanes=n_lanes, steps_per_lane=n_steps)  # lane 0 is the fast one
    study, _ = record.load(name)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(20)) and all(
        t.state == TrialState.COMPLETE for t in trials
    )
    per_lane = [
        sum(t.system_attrs[record.LANE_STEP_ATTR].startswith(f"{x}:") for t in trials) for x in range(3)
    ]
    # each lane asked two at the start (its first and one ahead); lane 0 ran out of its 14 steps, then
    # lane 1 spent the rest of the budget
    assert per_lane == [14, 4, 2]
    assert steps.suggest_one(name, 2, 2) == []  # the sweep has stopped: the lane skips the rest
    lane_1 = {t.system_attrs[record.LANE_STEP_ATTR]: t.number for t in trials}["1:1"]
    assert steps.suggest_one(name, 1, 1)[0]["trial_number"] == lane_1  # a retry after the stop: its trial
    summary = steps.finalize(name, promote=False)
    assert summary["stop_reason"] == "max_trials" and summary["n_complete"] == 20


def test_by_default_a_lane_asks_after_its_trial_ended_with_the_other_lanes_pending(state_dir: Path) -> None:
    data = _cfg(max_trials=12)
    data["budget"]["ask_ahead"] = False
    data["sampler"] = {"name": "gp"}
    n_lanes, n_steps = unrolled_lanes(parse_sweep(data))
    name = _init(data)
    lost = steps.suggest_one(name, 0, 0)[0]  # its task dies without telling
    assert steps.suggest_one(name, 0, 1)  # runs once the lane's step-0 trial task has ended
    study, _ = record.load(name)
    t = study.get_trials()[lost["trial_number"]]
    assert t.state == TrialState.FAIL and t.user_attrs[record.ERROR_ATTR].startswith("trial task did not")
    steps.run_trial(
        record.TrialSpec.from_json(steps.suggest_one(name, 0, 1)[0]).to_json()
    )  # the retry's trial
    _drive(name, lambda flying: flying[-1], lanes=n_lanes, steps_per_lane=n_steps, ahead=False)
    study, _ = record.load(name)
    trials = study.get_trials()
    assert len(trials) == 12 and sum(t.state == TrialState.COMPLETE for t in trials) == 11
    gp_asks = [record.suggest_info(t) for t in trials if record.suggest_info(t).get("n_pending") is not None]
    assert gp_asks and max(i["n_pending"] for i in gp_asks) <= n_lanes - 1  # one in flight per other lane


def test_a_lost_trial_is_failed_when_its_lane_asks_two_steps_on(state_dir: Path) -> None:
    name = _init(_cfg())
    lost = steps.suggest_one(name, 0, 0)[0]  # its task dies without telling
    ahead = steps.suggest_one(name, 0, 1)[0]  # asked while trial 0 "runs": nothing is failed yet
    study, _ = record.load(name)
    assert study.get_trials()[lost["trial_number"]].state == TrialState.RUNNING
    assert steps.suggest_one(name, 0, 2)  # runs once the lane's step-0 trial task has ended
    study, _ = record.load(name)
    t = study.get_trials()[lost["trial_number"]]
    assert t.state == TrialState.FAIL and t.user_attrs[record.ERROR_ATTR].startswith("trial task did not")
    assert study.get_trials()[ahead["trial_number"]].state == TrialState.RUNNING


def test_a_lane_above_the_runs_q_stays_idle(state_dir: Path) -> None:
    cfg = parse_sweep(_cfg(batch_size=4, max_trials=8))
    name = steps.init_sweep(cfg, run_id="q2", overrides={"batch_size": 2}, lanes=unrolled_lanes(cfg))[
        "study_name"
    ]
    assert steps.suggest_one(name, 1, 0)
    assert steps.suggest_one(name, 2, 0) == [] and steps.suggest_one(name, 3, 0) == []
    study, _ = record.load(name)
    assert len(study.get_trials()) == 1


FEATURES: dict[str, dict[str, Any]] = {
    "replication": {"replicate": {"top_k": 1, "repeats": 2}},
    "constraints": {
        "objective": {"name": "constrained_bowl", "metric": "loss"},
        "constraints": ["margin >= 0"],
        "sampler": {"name": "gp"},
    },
    "objectives": {
        "objective": {"name": "branin_currin"},
        "direction": ...,
        "objectives": [
            {"metric": "branin", "direction": "minimize"},
            {"metric": "currin", "direction": "minimize"},
        ],
        "space": {"x1": {"type": "float", "low": 0, "high": 1}, "x2": {"type": "float", "low": 0, "high": 1}},
    },
    "pruner": {
        "objective": {"name": "branin_curve", "args": {"epochs": 4}},
        "pruner": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 2},
    },
    "optuna-gp": {"sampler": {"name": "optuna-gp"}},
    "tpe": {"sampler": {"name": "tpe"}},
}


@pytest.mark.parametrize("feature", list(FEATURES))
def test_features_work_in_async_mode(state_dir: Path, feature: str) -> None:
    data = _cfg()
    for key, value in FEATURES[feature].items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    cfg = parse_sweep(data)
    name = _init(data)
    _drive(name, lambda flying: flying[-1], lanes=3, steps_per_lane=unrolled_lanes(cfg)[1])
    if cfg.replicate is not None:
        for spec in steps.replicate_batch(name):
            steps.run_trial(spec)
        steps.record_replicates(name)
    summary = steps.finalize(name, promote=False)
    study, _ = record.load(name)
    search = record.search_trials(study.get_trials())
    assert len(search) == 7 and sorted(t.number for t in search) == list(range(7))
    assert all(t.state.is_finished() for t in study.get_trials())
    assert summary["stop_reason"] == "max_trials"
    if feature == "replication":
        assert len(study.get_trials()) == 9 and summary.get("replication")
    if feature == "objectives":
        assert record.REFERENCE_ATTR in study.user_attrs  # pinned by the lanes' gates
    if feature == "pruner":
        assert all(len(t.intermediate_values) >= 1 for t in search)


def test_warm_start_runs_the_earlier_best_first_in_async_mode(state_dir: Path) -> None:
    first = _init(_cfg(), label="n1")
    _drive(first, lambda flying: flying[0], lanes=3, steps_per_lane=5)
    steps.finalize(first, promote=False)
    data = _cfg(warm_start={"from": "latest", "top_k": 2})
    name = _init(data, label="n2")
    _drive(name, lambda flying: flying[0], lanes=3, steps_per_lane=5)
    study, _ = record.load(name)
    trials = study.get_trials()
    assert len(trials) == 7 and all(t.state == TrialState.COMPLETE for t in trials)
    warm = [t for t in trials if record.WARM_FROM_ATTR in t.user_attrs]
    assert sorted(t.number for t in warm) == [0, 1]  # the lanes' first asks take the enqueued trials


def test_the_ask_lock_lets_one_lane_at_a_time_check_and_ask(state_dir: Path) -> None:
    import threading
    import time

    name = _init(_cfg())
    events: list[tuple[str, int]] = []

    def hold(i: int) -> None:
        study, _ = record.load(name)
        with record.ask_lock(study):
            events.append(("in", i))
            time.sleep(0.2)
            events.append(("out", i))

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e[1] for e in events[::2]] == [e[1] for e in events[1::2]]  # no overlap: in/out pairs


def test_a_retried_trial_whose_task_died_in_its_objective_reuses_its_child_run(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial task finds or creates its child run while the objective runs (steps/trial.py): a task
    that dies mid-objective leaves that run RUNNING, and the retry finds it instead of making another."""
    from hpo_tasks import tracking
    from hpo_tasks.steps import trial as trial_step

    def dies(params: dict[str, Any], *, seed: int) -> float:
        raise SystemExit(9)  # the worker process goes away; no Exception, so no trial failure either

    name = _init(_cfg())
    spec = steps.suggest_one(name, 0, 0)[0]
    real = trial_step.resolve_objective
    monkeypatch.setattr(trial_step, "resolve_objective", lambda _name: dies)
    with pytest.raises(SystemExit):
        steps.run_trial(spec)
    study, _ = record.load(name)
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    assert [c.info.status for c in tracking.children(parent, "asy")] == ["RUNNING"]
    assert study.get_trials()[spec["trial_number"]].state == TrialState.RUNNING
    monkeypatch.setattr(trial_step, "resolve_objective", real)
    assert steps.run_trial(spec)["state"] == "COMPLETE"  # Airflow's retry
    (child,) = tracking.children(parent, "asy")
    assert child.info.status == "FINISHED"
    assert child.data.tags[tracking.TRIAL_TAG] == str(spec["trial_number"])


# -- one task a step (ask_ahead: false): ask_and_run -------------------------------------------------------


def test_ask_and_run_asks_labels_runs_and_a_retry_asks_and_runs_nothing_new(state_dir: Path) -> None:
    """The default lane step: ``on_asked`` gets the number while the trial is asked and not yet run (the
    DAG labels its task then); a redelivered step returns the same result, with no second trial or child
    run; other lanes' running trials are the ask's pending points."""
    from hpo_tasks import tracking

    data = _cfg(max_trials=6, n_init=2)
    data["budget"]["ask_ahead"] = False
    data["sampler"] = {"name": "gp"}
    name = _init(data)
    for lane in range(3):  # the seed design: lanes 0-2 ask and run one trial each
        assert steps.ask_and_run(name, lane, 0)["state"] == "COMPLETE"
    running = steps.suggest_one(name, 1, 1)[0]  # lane 1's next trial is in flight (its task is running)
    seen: list[tuple[int, str]] = []

    def on_asked(number: int) -> None:
        study, _ = record.load(name)
        seen.append((number, study.get_trials()[number].state.name))

    out = steps.ask_and_run(name, 0, 1, on_asked=on_asked)
    assert seen == [(out["trial_number"], "RUNNING")] and out["state"] == "COMPLETE"
    study, _ = record.load(name)
    info = record.suggest_info(study.get_trials()[out["trial_number"]])
    assert info["phase"] == "gp" and info["n_pending"] == 1  # lane 1's running trial
    assert running["trial_number"] != out["trial_number"]

    again = steps.ask_and_run(name, 0, 1, on_asked=on_asked)  # Airflow redelivers the step
    assert again == out and seen[-1] == (out["trial_number"], "COMPLETE")
    study, _ = record.load(name)
    assert len(study.get_trials()) == 5
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    numbers = [c.data.tags[tracking.TRIAL_TAG] for c in tracking.children(parent, "asy")]
    assert sorted(numbers) == sorted(str(n) for n in {0, 1, 2, out["trial_number"]})  # one child each


def test_ask_and_run_returns_none_once_the_budget_is_spent(state_dir: Path) -> None:
    data = _cfg(max_trials=2, n_init=2)
    data["budget"]["ask_ahead"] = False
    name = _init(data)
    assert steps.ask_and_run(name, 0, 0) and steps.ask_and_run(name, 1, 0)
    called: list[int] = []
    assert steps.ask_and_run(name, 2, 0, on_asked=called.append) is None  # the DAG skips the lane's rest
    assert steps.ask_and_run(name, 0, 1, on_asked=called.append) is None and called == []
    assert steps.ask_and_run(name, 1, 0)["state"] == "COMPLETE"  # a retry after the stop: its trial
