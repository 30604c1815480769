"""hpo_tasks.fidelity: what the GP trains on with ``pruner.model`` (stand-ins, BOHB's rungs), the seed
design it starts after, and the compute figures; the boosting-round objective that reports per round."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hpo_tasks import fidelity
from hpo_tasks.config import parse_sweep
from hpo_tasks.fidelity import pruned_values
from hpo_tasks.gp import engine
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.record import suggest_info
from hpo_tasks.samplers import make_sampler
from hpo_tasks.space import SearchSpace
from tests.helpers import branin_sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)
R = 9  # max_resource of the curves below


def _cfg(**pruner: Any) -> Any:
    return parse_sweep(
        branin_sweep(
            objective={"name": "branin_curve", "args": {"epochs": R}},
            pruner={"name": "hyperband", **pruner},
        )
    )


def _trial(study: optuna.Study, x: float, curve: dict[int, float], state: TrialState) -> None:
    """A finished trial at (x, x) that reported ``curve``; COMPLETE ones end at their value at R."""
    dists = SearchSpace.from_config(_cfg()).distributions()
    study.add_trial(
        optuna.trial.create_trial(
            params={"x1": x, "x2": x},
            distributions=dists,
            value=curve[max(curve)],
            state=state,
            intermediate_values=curve,
        )
    )


def _engine_input(monkeypatch: pytest.MonkeyPatch, study: optuna.Study, sampler: GPBatchSampler) -> dict:
    """The next ask through the real sampler; what ``engine.suggest_next`` was given."""
    seen: dict[str, Any] = {}
    real = engine.suggest_next

    def spy(train_x: np.ndarray, train_y: np.ndarray, **kw: Any) -> Any:
        seen.update(x=train_x.copy(), y=train_y.copy(), pending=kw["pending_x"])
        return real(train_x, train_y, **kw)

    monkeypatch.setattr(engine, "suggest_next", spy)
    study.sampler = sampler
    t = study.ask(SearchSpace.from_config(_cfg()).distributions())
    seen["info"] = suggest_info(study._storage.get_trial(t._trial_id))
    return seen


def _study() -> optuna.Study:
    """Minimised; 2 COMPLETE, 4 pruned at step 3, 2 pruned at step 1, 1 RUNNING trial (d = 2, so BOHB's
    rule needs 3 values at a level: step 9 has 2, step 3 has 6)."""
    study = optuna.create_study(direction="minimize")
    for i, (v1, v3, v9) in enumerate([(10.0, 5.0, 1.0), (12.0, 6.0, 2.0)]):
        _trial(study, 0.1 * i, {1: v1, 3: v3, 9: v9}, TrialState.COMPLETE)
    for i, (v1, v3) in enumerate([(11.0, 7.0), (13.0, 8.0), (14.0, 9.0), (15.0, 10.0)]):
        _trial(study, 1.0 + 0.1 * i, {1: v1, 3: v3}, TrialState.PRUNED)  # pruned at 3
    for i, v1 in enumerate([20.0, 9.0]):
        _trial(study, 2.0 + 0.1 * i, {1: v1}, TrialState.PRUNED)  # pruned at 1
    dists = SearchSpace.from_config(_cfg()).distributions()
    study.ask(dists)  # RUNNING: a pending point (params from the default random sampler)
    return study


def test_rungs_trains_on_every_trial_that_reached_the_level_and_maps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = _study()
    rule = fidelity.training_rule("rungs", max_resource=R)
    seen = _engine_input(
        monkeypatch, study, GPBatchSampler(SearchSpace.from_config(_cfg()), n_init=2, fidelity=rule)
    )
    assert seen["info"]["fidelity_level"] == 3 and seen["info"]["n_at_level"] == 6
    # The 6 trials that reached step 3 at their value there (complete ones too: not their final value);
    # the two stopped at step 1: their rank at step 1 among those 6, capped at the median, mapped onto
    # the step-3 values (20 is the worst: the worst at 3, 10; 9 beats all: the median, 7.5).
    assert sorted(-seen["y"]) == pytest.approx(sorted([5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 7.5]))
    assert seen["x"].shape == (8, 2) and seen["pending"].shape == (1, 2)


def test_line_maps_the_trials_below_the_level_by_the_rung_to_level_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = _study()
    rule = fidelity.training_rule("line", max_resource=R)
    seen = _engine_input(
        monkeypatch, study, GPBatchSampler(SearchSpace.from_config(_cfg()), n_init=2, fidelity=rule)
    )
    info = seen["info"]
    assert (info["fidelity"], info["fidelity_level"], info["n_at_level"], info["n_below"]) == (
        "line",
        3,
        6,
        2,
    )
    # The six trials at step 3 report (step 1, step 3): (10, 5), (12, 6), (11, 7), (13, 8), (14, 9),
    # (15, 10); least squares: v3 = -30/7 + (33/35) v1. The trial stopped at 1 with 20 enters at its
    # line value 14.571 (the quantile map gave it 10, the worst at 3, like any trial below the six);
    # the one with 9 at 4.2, capped at the level's best, 5.
    line = -30.0 / 7.0 + 33.0 / 35.0 * 20.0
    assert sorted(-seen["y"]) == pytest.approx(sorted([5.0, 6.0, 7.0, 8.0, 9.0, 10.0, line, 5.0]))
    # Fewer than LINE_MIN_PAIRS pairs: the quantile stand-ins, as rungs.
    monkeypatch.setattr(fidelity, "LINE_MIN_PAIRS", 7)
    few = fidelity.training_rule("line", max_resource=R)
    base = fidelity.training_rule("rungs", max_resource=R)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    got = few(complete, pruned, sign=-1.0, min_points=3).y
    assert got.tolist() == base(complete, pruned, sign=-1.0, min_points=3).y.tolist()


def test_rungs_moves_up_to_max_resource_as_complete_trials_accumulate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = _study()
    _trial(study, 0.5, {1: 16.0, 3: 11.0, 9: 3.0}, TrialState.COMPLETE)  # a third at R: d + 1 = 3
    rule = fidelity.training_rule("rungs", max_resource=R)
    seen = _engine_input(
        monkeypatch, study, GPBatchSampler(SearchSpace.from_config(_cfg()), n_init=2, fidelity=rule)
    )
    assert seen["info"]["fidelity_level"] == R and seen["info"]["n_below"] == 6
    finals = sorted(-seen["y"][:3])
    assert finals == pytest.approx([1.0, 2.0, 3.0])
    # Pruned at 3 with 7..10: worse than 2 of the 3 finals' step-3 values (5, 6) -> q 0.5 (capped) etc.
    assert all(v >= 2.0 for v in -seen["y"][3:]), "a pruned trial never looks better than the median"


def test_standin_is_unchanged_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    study = _study()
    seen = _engine_input(monkeypatch, study, GPBatchSampler(SearchSpace.from_config(_cfg()), n_init=2))
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    expected = [-t.value for t in complete] + list(pruned_values(pruned, complete, sign=-1.0))
    assert seen["y"].tolist() == pytest.approx(expected)
    assert "fidelity_level" not in seen["info"]


def test_the_sweep_file_chooses_the_model_and_rungs_starts_on_the_low_rungs() -> None:
    rungs, standin = _cfg(model="rungs"), _cfg()
    assert fidelity.seed_trials(standin) == standin.n_init == 5
    assert fidelity.seed_trials(rungs) == fidelity.RUNGS_SEED_TRIALS
    explicit = parse_sweep(
        branin_sweep(
            objective={"name": "branin_curve", "args": {"epochs": R}},
            pruner={"name": "hyperband", "model": "rungs"},
            budget={"max_trials": 10, "n_init": 6},
        )
    )
    assert fidelity.seed_trials(explicit) == 6, "budget.n_init wins"
    sampler = make_sampler(rungs, n_asked=0)
    assert sampler._fidelity.model == "rungs" and sampler._n_init == 3  # type: ignore[attr-defined]


def test_compute_figures_count_steps_against_the_same_trials_unpruned() -> None:
    trials = _study().get_trials()
    got = fidelity.compute_figures(trials, R)  # the RUNNING trial is not counted
    assert got["resource_used"] == 2 * R + 4 * 3 + 2 * 1
    assert got["resource_unpruned"] == 8 * R
    assert got["resource_saved"] == pytest.approx(1 - 32 / 72)
    assert fidelity.compute_figures(trials, None) == {}


def test_xgboost_reports_per_boosting_round_and_stops_where_pruned() -> None:
    from hpo_tasks.objectives.xgb import xgboost_rounds

    params = {"learning_rate": 0.1, "max_depth": 3}
    seen: list[tuple[int, float]] = []

    def report(step: int, value: float) -> None:
        seen.append((step, value))
        if step == 20:
            raise optuna.TrialPruned("pruned at 20")

    with pytest.raises(optuna.TrialPruned):
        xgboost_rounds(params, seed=0, rounds=50, report_every=10, n_folds=3, report=report)
    assert [s for s, _ in seen] == [10, 20], "boosting stopped at the pruned round"
    full: list[tuple[int, float]] = []
    value = xgboost_rounds(
        params, seed=0, rounds=25, report_every=10, n_folds=3, report=lambda s, v: full.append((s, v))
    )
    assert [s for s, _ in full] == [10, 20, 25] and value == full[-1][1] and 0.9 < value <= 1.0
    with pytest.raises(ValueError, match="n_estimators is the resource"):
        xgboost_rounds({**params, "n_estimators": 100}, seed=0)


def test_rungs_needs_sampler_gp() -> None:
    from hpo_tasks.config import SweepConfigError

    with pytest.raises(SweepConfigError, match=r"pruner\.model: rungs is how sampler gp learns"):
        parse_sweep(
            branin_sweep(
                objective={"name": "branin_curve", "args": {"epochs": R}},
                pruner={"name": "hyperband", "model": "rungs"},
                sampler={"name": "tpe"},
            )
        )


def test_joint_predicts_pruned_trials_at_max_resource_from_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = _study()
    space = SearchSpace.from_config(_cfg())
    rule = fidelity.training_rule("joint", max_resource=R, encode=space.encode, bounds=space.bounds())
    seen = _engine_input(monkeypatch, study, GPBatchSampler(space, n_init=2, fidelity=rule))
    assert seen["info"]["fidelity"] == "joint" and "joint_error" not in seen["info"]
    assert seen["info"]["joint_rows"] == 2 * 3 + 4 * 2 + 2 * 1  # every step of every finished trial
    y = -seen["y"]  # (8,) minimised values: 2 complete, then the 6 pruned in trial order
    assert y[:2].tolist() == pytest.approx([1.0, 2.0]), "complete trials at their final value"
    assert seen["x"].shape == (8, 2) and seen["pending"].shape == (1, 2)
    pruned_at_3 = y[2:6]  # their step-3 values 7 < 8 < 9 < 10: the predictions at R keep that order
    assert np.all(np.diff(pruned_at_3) > 0)
    # The same trials give the same data: a retried suggest task rebuilds the same decision.
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    pruned = [t for t in study.get_trials() if t.state == TrialState.PRUNED]
    fresh = fidelity.training_rule("joint", max_resource=R, encode=space.encode, bounds=space.bounds())
    again = fresh(complete, pruned, sign=-1.0, min_points=3)
    assert again.y.tolist() == seen["y"].tolist()


def test_joint_needs_the_space_and_starts_like_rungs() -> None:
    with pytest.raises(ValueError, match="needs the search space"):
        fidelity.training_rule("joint", max_resource=R)
    joint = _cfg(model="joint")
    assert fidelity.seed_trials(joint) == fidelity.RUNGS_SEED_TRIALS
    sampler = make_sampler(joint, n_asked=0)
    assert sampler._fidelity.model == "joint"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("dataset", "metric", "low", "high"),
    [("digits", "accuracy", 0.8, 1.0), ("digits", "logloss", 0.05, 2.3), ("wine", "accuracy", 0.8, 1.0)],
)
def test_xgboost_rounds_boosts_shipped_multiclass_data(
    dataset: str, metric: str, low: float, high: float
) -> None:
    from hpo_tasks.objectives.xgb import xgboost_rounds

    seen: list[tuple[int, float]] = []
    value = xgboost_rounds(
        {"learning_rate": 0.3, "max_depth": 3},
        seed=0,
        rounds=20,
        report_every=10,
        n_folds=3,
        dataset=dataset,
        metric=metric,
        report=lambda s, v: seen.append((s, v)),
    )
    assert [s for s, _ in seen] == [10, 20] and value == seen[-1][1] and low < value < high
    better = seen[1][1] > seen[0][1] if metric == "accuracy" else seen[1][1] < seen[0][1]
    assert better, "more boosting rounds fit the training folds better at this learning rate"


def test_xgboost_rounds_refuses_unknown_data_and_auc_on_many_classes() -> None:
    from hpo_tasks.objectives.xgb import xgboost_rounds

    with pytest.raises(ValueError, match="unknown dataset"):
        xgboost_rounds({}, seed=0, rounds=2, dataset="mnist")
    with pytest.raises(ValueError, match="unknown metric"):
        xgboost_rounds({}, seed=0, rounds=2, metric="f1")
    with pytest.raises(ValueError, match="needs two classes"):
        xgboost_rounds({}, seed=0, rounds=2, dataset="digits", metric="auc")
