"""hpo_tasks.objectives.subset: an RBF SVM on nested subsets of sklearn digits, the training-data fraction
as the resource: the steps it trains at, a real Optuna pruner stopping it, what a trial spends (the sum
of its levels, recorded by the trial step and counted by the compute figures), what ``pruner.model:
rungs`` trains the GP on, and the sweep file's checks of its arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hpo_tasks import fidelity, record, tracking
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.gp import engine
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives import resolve_objective
from hpo_tasks.objectives.subset import _data, default_levels, svm_subset
from hpo_tasks.pruning import Reporter
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
R = 9  # steps: levels 1, 3, 9 (ninths of the training set)
GOOD = {"C": 10.0, "gamma": 0.01}  # about 2 % validation error on the whole training set
BAD = {"C": 10.0, "gamma": 30.0}  # every kernel row near the identity: about 90 % error
SPACE = {
    "C": {"type": "float", "low": 1e-2, "high": 1e3, "log": True},
    "gamma": {"type": "float", "low": 1e-4, "high": 1e2, "log": True},
}


def _sweep(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "sub",
        "objective": {"name": "svm_subset", "args": {"steps": R}},
        "direction": "minimize",
        "space": SPACE,
        "budget": {"max_trials": 6, "n_init": 6, "batch_size": 6},
        "sampler": {"name": "random"},
        "pruner": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 3, "max_resource": R},
    }
    return {**data, **changes}


def test_trains_fresh_at_its_levels_on_nested_subsets() -> None:
    seen: list[tuple[int, float]] = []
    value = svm_subset(GOOD, seed=0, steps=R, report=lambda s, v: seen.append((s, v)))
    assert [s for s, _ in seen] == default_levels(R) == [1, 3, 9]
    assert value == seen[-1][1] < 0.05 < seen[0][1], "the whole training set beats a ninth of it"
    assert svm_subset(GOOD, seed=0, steps=R) == value, "without report: one fit, at the last level"
    _, y, _, y_val = _data("digits", 0.3, 0)
    first = y[: int(np.ceil(len(y) / R))]
    assert set(first.tolist()) == set(y_val.tolist()), "the smallest subset has every class"
    assert fidelity.spend_rule(svm_subset) == "sum_of_steps"
    assert fidelity.spend_rule(resolve_objective("xgboost_rounds")) == "last_step"


def test_a_real_pruner_stops_it_and_each_trial_records_the_sum_of_its_levels(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")
    study = optuna.create_study(
        study_name="s",
        storage=storage,
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    )
    for params in (GOOD, BAD):
        trial = study.ask()
        report = Reporter(study, trial._trial_id, max_resource=R, spend=fidelity.spend_rule(svm_subset))
        try:
            study.tell(trial, svm_subset(params, seed=0, steps=R, report=report))
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
    complete, pruned = study.get_trials()
    assert complete.state == TrialState.COMPLETE and sorted(complete.intermediate_values) == [1, 3, 9]
    assert pruned.state == TrialState.PRUNED and sorted(pruned.intermediate_values) == [1]
    assert complete.user_attrs[fidelity.SPENT_ATTR] == 1 + 3 + 9  # three fresh fits
    assert pruned.user_attrs[fidelity.SPENT_ATTR] == 1
    assert [fidelity.resource_of(t, R) for t in (complete, pruned)] == [13, 1]
    got = fidelity.compute_figures(study.get_trials(), R)
    # unpruned, each trial is one fit on the whole training set (R): 18; the levels cost 14
    assert got == {
        "resource_used": 14.0,
        "resource_unpruned": 18.0,
        "resource_saved": pytest.approx(1 - 14 / 18),
    }
    again = Reporter(study, complete._trial_id, max_resource=R, spend="sum_of_steps")
    again(3, 0.5)  # a retried task replays a recorded level: not counted twice
    assert again.spent == 13 and study.get_trials()[0].user_attrs[fidelity.SPENT_ATTR] == 13


def test_the_trial_step_records_the_spend_on_the_trial_and_the_child_run(state_dir: Path) -> None:
    from hpo_tasks.steps import init_sweep, suggest_batch
    from hpo_tasks.steps import trial as trial_step
    from hpo_tasks.summary import run_summary

    info = init_sweep(parse_sweep(_sweep(budget={"max_trials": 2, "n_init": 2, "batch_size": 2})), run_id="t")
    study, _ = record.load(info["study_name"])
    for params in (GOOD, BAD):
        study.enqueue_trial(params)
    specs = suggest_batch(info["study_name"], 0)
    results = [trial_step.run_trial(spec) for spec in specs]
    assert [r["state"] for r in results] == ["COMPLETE", "PRUNED"]
    study, cfg = record.load(info["study_name"])
    assert [t.user_attrs[fidelity.SPENT_ATTR] for t in study.get_trials()] == [13, 1]
    children = {
        int(c.data.tags[tracking.TRIAL_TAG]): c for c in tracking.children(info["parent_run_id"], "sub")
    }
    history = [
        [(m.step, m.value) for m in tracking.client().get_metric_history(children[n].info.run_id, "resource")]
        for n in (0, 1)
    ]
    assert sorted(history[0]) == [(1, 1.0), (3, 4.0), (9, 13.0)], "metric resource: spent so far, by step"
    assert history[1] == [(1, 1.0)]
    s = run_summary(study, cfg)
    assert (s["resource_used"], s["resource_unpruned"]) == (14.0, 18.0)


def test_rungs_trains_the_gp_on_the_pruned_trials_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six configurations under successive halving, then the next ask through the real GP sampler with
    ``pruner.model: rungs``: the level with d + 1 = 3 values is step 3 (two complete trials have 9), and
    every trial that reached it enters at its own validation error there."""
    cfg = parse_sweep(_sweep(sampler={"name": "gp"}, pruner={**_sweep()["pruner"], "model": "rungs"}))
    space = SearchSpace.from_config(cfg)
    study = optuna.create_study(
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    )
    configs = [GOOD, {"C": 100.0, "gamma": 0.001}, BAD, {"C": 0.1, "gamma": 0.01}, {"C": 1.0, "gamma": 3.0},
               {"C": 300.0, "gamma": 0.003}]  # fmt: skip
    for params in configs:
        study.enqueue_trial(params)
        trial = study.ask(space.distributions())
        report = Reporter(study, trial._trial_id, max_resource=R, spend="sum_of_steps")
        try:
            study.tell(trial, svm_subset(trial.params, seed=0, steps=R, report=report))
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
    trials = study.get_trials()
    at3 = {t.number: t.intermediate_values[3] for t in trials if 3 in t.intermediate_values}
    assert sum(t.state == TrialState.PRUNED for t in trials) >= 2 and len(at3) >= 3
    assert sum(t.state == TrialState.COMPLETE for t in trials) < 3, "so the level is below R"

    seen: dict[str, Any] = {}
    real = engine.suggest_next

    def spy(train_x: np.ndarray, train_y: np.ndarray, **kw: Any) -> Any:
        seen.update(x=train_x.copy(), y=train_y.copy())
        return real(train_x, train_y, **kw)

    monkeypatch.setattr(engine, "suggest_next", spy)
    rule = fidelity.training_rule("rungs", max_resource=R)
    study.sampler = GPBatchSampler(space, n_init=1, fidelity=rule)
    t = study.ask(space.distributions())
    info = suggest_info(study._storage.get_trial(t._trial_id))
    assert info["fidelity_level"] == 3 and info["n_at_level"] == len(at3)
    assert info["n_below"] == len(trials) - len(at3)
    # minimised: the GP maximises -error; the first len(at3) rows are the trials at step 3, as reported
    assert sorted(-seen["y"][: len(at3)]) == pytest.approx(sorted(at3.values()))
    assert seen["x"].shape == (len(trials), 2)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "validation_fraction": 1.2}}},
         r"objective\.args\.validation_fraction: 1\.2 is outside \(0, 1\)"),
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "levels": [1, 3, 12]}}},
         r"objective\.args\.levels: step 12 is the fraction 12/9 of the training set, outside \(0, 1\]"),
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "levels": [1, 3]}}},
         r"objective\.args\.levels: \[1, 3\] must end at steps \(9\)"),
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "levels": [1, 9]}}},
         r"objective\.args\.levels: .* decides at \[1, 3\].* set levels: \[1, 3, 9\]"),
        ({"objective": {"name": "svm_subset", "args": {"steps": 27}}},
         r"pruner\.max_resource \(9\) must equal objective\.args\.steps \(27\)"),
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "dataset": "mnist"}}},
         r"objective\.args\.dataset: unknown 'mnist'"),
        ({"objective": {"name": "svm_subset", "args": {"steps": R, "epochs": 3}}},
         r"objective\.args\.epochs: svm_subset takes"),
        ({"direction": "maximize"}, r"direction: svm_subset returns the validation error rate"),
        ({"pruner": {"name": "median"}}, r"pruner\.max_resource \(None\) must equal objective\.args\.steps"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_field_and_the_fix(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(SweepConfigError, match=expected):
        parse_sweep(_sweep(**changes))


def test_good_arguments_parse() -> None:
    parse_sweep(_sweep())
    parse_sweep(_sweep(pruner={"name": "none"}, objective={"name": "svm_subset"}))  # defaults: steps 27
    hb = {"name": "hyperband", "min_resource": 2, "reduction_factor": 2, "max_resource": 16}
    args = {"steps": 16, "levels": [2, 4, 8, 16], "dataset": "wine", "validation_fraction": 0.5}
    parse_sweep(_sweep(pruner=hb, objective={"name": "svm_subset", "args": args}))
