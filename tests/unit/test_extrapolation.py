"""hpo_tasks.extrapolation: ``pruner.beat_probability`` stops a trial at a rung when the complete trials'
rung-to-final regression gives it little chance of beating the best; through the real Reporter on a
SQLite study, the pinned config, and the field-named errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hpo_tasks.config import SweepConfig, SweepConfigError, parse_sweep
from hpo_tasks.extrapolation import (
    MIN_PAIRS,
    PROBABILITY_ATTR,
    HalvingStopHopeless,
    HyperbandStopHopeless,
    StopHopeless,
    beat_probability,
    hopeless,
    rungs,
)
from hpo_tasks.pruning import Reporter
from hpo_tasks.record import make_pruner
from tests.helpers import branin_sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)
R = 9


def _cfg(**pruner: Any) -> SweepConfig:
    return parse_sweep(branin_sweep(objective={"name": "branin_curve", "args": {"epochs": R}}, pruner=pruner))


def test_rungs_are_the_decision_steps_below_max_resource() -> None:
    assert rungs(1, 3, 9) == {1, 3}
    assert rungs(10, 3, 100) == {10, 30, 90}
    assert rungs(2, 2, 2) == frozenset()


def test_beat_probability_follows_the_fitted_line() -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(0.0, 1.0, 12)
    pairs = np.stack([u, 2.0 * u + rng.normal(0.0, 0.05, 12)], axis=1)  # final = 2 u + noise, maximised
    best = float(pairs[:, 1].max())
    hopeless, level, ahead = (beat_probability(x, pairs, best) for x in (0.2, 0.5 * best, 1.2))
    assert hopeless is not None and hopeless < 1e-6  # predicted 0.4, the best is about 2
    assert level is not None and 0.2 < level < 0.8  # predicted at the best itself
    assert ahead is not None and ahead > 0.99
    # A noisier rung widens the predictive distribution: the same trial is less hopeless.
    noisy = np.stack([u, 2.0 * u + rng.normal(0.0, 1.0, 12)], axis=1)
    assert beat_probability(0.2, noisy, best) > hopeless  # type: ignore[operator]


def test_no_decision_without_enough_pairs_or_a_rung_that_ranks() -> None:
    u = np.linspace(0.0, 1.0, MIN_PAIRS)
    assert beat_probability(0.0, np.stack([u, u], axis=1)[:-1], 1.0) is None  # one pair too few
    assert beat_probability(0.0, np.stack([u, -u], axis=1), 0.0) is None  # the rung ranks backwards
    assert beat_probability(0.0, np.stack([np.ones(MIN_PAIRS), u], axis=1), 1.0) is None  # no spread


def _study(tmp_path: Path, cfg: SweepConfig) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")
    return optuna.create_study(
        study_name="s", storage=storage, direction=cfg.direction, pruner=make_pruner(cfg)
    )


def _run(study: optuna.Study, curve: dict[int, float]) -> tuple[str, int | None]:
    """One trial through the real Reporter; its state and last step."""
    trial = study.ask()
    report = Reporter(study, trial._trial_id, max_resource=R)
    try:
        for step, value in sorted(curve.items()):
            report(step, value)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return "PRUNED", report.last_step
    study.tell(trial, curve[R])
    return "COMPLETE", report.last_step


def _line(f: float, s: int) -> float:
    """Minimised curves y(s) = f + 1 / s (+ a little seeded noise): step 1 ranks the finals closely."""
    return f + 1.0 / s + 0.01 * float(np.sin(7.0 * f + s))


def test_a_trial_the_rung_passes_stops_when_it_cannot_beat_the_best(tmp_path: Path) -> None:
    cfg = _cfg(name="successive_halving", min_resource=1, max_resource=R, beat_probability=0.05)
    assert isinstance(make_pruner(cfg), HalvingStopHopeless)
    pinned = SweepConfig.model_validate_json(cfg.model_dump_json())  # what every trial task rebuilds
    assert pinned.pruner.beat_probability == 0.05 and isinstance(make_pruner(pinned), HalvingStopHopeless)
    study = _study(tmp_path, cfg)
    for f in (5.0, 4.0, 3.0, 2.0, 1.0, 0.5):  # each the best so far: every rung passes them
        assert _run(study, {s: _line(f, s) for s in range(1, R + 1)}) == ("COMPLETE", R)
    # 1.9 at step 1 is second of seven there: successive halving (keep 1 in 3) would promote it, but the
    # line predicts a final value near 0.9 against the best 0.5.
    state, last = _run(study, {s: _line(0.9, s) for s in range(1, R + 1)})
    assert (state, last) == ("PRUNED", 1)
    assert study.get_trials()[-1].user_attrs[PROBABILITY_ATTR] < 0.05
    # One that predicts a new best runs to the end.
    assert _run(study, {s: _line(0.1, s) for s in range(1, R + 1)}) == ("COMPLETE", R)
    assert PROBABILITY_ATTR not in study.get_trials()[-1].user_attrs


def test_without_the_option_successive_halving_promotes_that_trial(tmp_path: Path) -> None:
    cfg = _cfg(name="successive_halving", min_resource=1, max_resource=R)
    assert not isinstance(make_pruner(cfg), StopHopeless)
    study = _study(tmp_path, cfg)
    for f in (5.0, 4.0, 3.0, 2.0, 1.0, 0.5):
        _run(study, {s: _line(f, s) for s in range(1, R + 1)})
    assert _run(study, {s: _line(0.9, s) for s in range(1, R + 1)}) == ("COMPLETE", R)


def test_steps_between_rungs_and_the_last_step_are_not_judged() -> None:
    study = optuna.create_study(direction="minimize")

    def judged(s: optuna.Study) -> bool:  # the rule alone, at rungs 1 and 3 of R = 9
        return hopeless(s, s.get_trials()[-1], threshold=0.05, steps=rungs(1, 3, R), max_resource=R)

    for f in (5.0, 4.0, 3.0, 2.0, 1.0):
        curve = {s: _line(f, s) for s in range(1, R + 1)}
        study.add_trial(
            optuna.trial.create_trial(value=f, intermediate_values=curve, state=TrialState.COMPLETE)
        )
    for step, expected in ((2, False), (R, False), (3, True), (1, True)):
        t = optuna.trial.create_trial(value=None, intermediate_values={step: 50.0}, state=TrialState.RUNNING)
        study.add_trial(t)
        assert judged(study) is expected, step
    # With fewer complete trials than MIN_PAIRS the rule decides nothing.
    fresh = optuna.create_study(direction="minimize")
    fresh.add_trials(study.get_trials()[: MIN_PAIRS - 1])
    fresh.add_trial(
        optuna.trial.create_trial(value=None, intermediate_values={1: 50.0}, state=TrialState.RUNNING)
    )
    assert judged(fresh) is False


def test_hyperband_with_the_rule_is_still_hyperband_to_optuna() -> None:
    """Optuna hands samplers a bracket view of the study when ``study.pruner`` is a HyperbandPruner
    (``optuna.pruners._filter_study``): the option keeps that. The view filters ``get_trials`` only;
    ``_get_trials``, which our GP, Optuna's GPSampler and TPE read, still returns every bracket's trials."""
    from optuna.pruners import HyperbandPruner, _filter_study

    pruner = make_pruner(_cfg(name="hyperband", min_resource=1, max_resource=R, beat_probability=0.05))
    assert isinstance(pruner, HyperbandStopHopeless) and isinstance(pruner, HyperbandPruner)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    for f in (3.0, 2.0, 1.0, 0.5):
        study.add_trial(
            optuna.trial.create_trial(value=f, intermediate_values={R: f}, state=TrialState.COMPLETE)
        )
    filtered = _filter_study(study, study.get_trials()[0])
    assert filtered is not study and len(filtered.get_trials()) <= len(study.get_trials())
    assert len(filtered._get_trials(deepcopy=False, use_cache=False)) == len(study.get_trials())
    with pytest.raises(ValueError, match="beat_probability must be in"):
        HalvingStopHopeless(min_resource=1, reduction_factor=3).set_rule(0.0, rungs(1, 3, R), R)


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        ({"name": "median", "beat_probability": 0.05}, "do(es) not apply to pruner 'median'"),
        ({"name": "hyperband", "max_resource": R, "beat_probability": 1.0}, "pruner.beat_probability"),
        ({"name": "successive_halving", "beat_probability": 0.05}, "set pruner.max_resource"),
    ],
)
def test_bad_beat_probability_names_the_field_and_the_fix(pruner: dict, expected: str) -> None:
    with pytest.raises(SweepConfigError) as err:
        parse_sweep(branin_sweep(objective={"name": "branin_curve"}, pruner=pruner))
    assert expected in str(err.value)
