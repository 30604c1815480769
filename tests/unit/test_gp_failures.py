"""Failed trials feed a feasibility model (hpo_tasks.gp.feasibility) that steers the GP away from them."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from hpo_tasks.config import ACQUISITIONS
from hpo_tasks.gp import engine, feasibility
from hpo_tasks.gp.sampler import GPBatchSampler, space_info
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace
from tests.helpers import BRANIN_SPACE, crashing_branin, space_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

BRANIN = BRANIN_SPACE
MIXED = {
    **BRANIN,
    "k": {"type": "int", "low": 1, "high": 4},
    "c": {"type": "categorical", "choices": ["a", "b", "c"]},
}


def _history(study: optuna.Study, ss: SearchSpace, n: int, seed: int = 0) -> None:
    """``n`` random trials told as ``rounds`` would with ``crashing_branin`` (completed, or FAIL)."""
    rng = np.random.default_rng(seed)
    dists = ss.distributions()
    for _ in range(n):
        p = ss.decode(ss.round_trip(ss.from_unit(rng.random(ss.width))))
        value = crashing_branin(p)
        state = TrialState.FAIL if value is None else TrialState.COMPLETE
        study.add_trial(optuna.trial.create_trial(params=p, distributions=dists, value=value, state=state))


def test_feasibility_model_trains_on_failures_and_scores_them_low() -> None:
    ss = space_of(BRANIN)
    info = space_info(ss)
    ok = np.array(
        [ss.encode({"x1": x1, "x2": x2}) for x1, x2 in [(-4, 2), (-3, 12), (0, 5), (1, 9), (-1, 1)]]
    )
    bad = np.array([ss.encode({"x1": x1, "x2": x2}) for x1, x2 in [(4, 3), (7, 10), (9, 1), (5, 14)]])
    notes: list[str] = []
    model = engine._fit_feasibility(ok, bad, info, torch.device("cpu"), notes, None)
    assert model is not None, notes
    X = model.train_inputs[0].numpy()  # (n + f, d): the failed points are training data
    y = model.outcome_transform.untransform(model.train_targets.unsqueeze(-1))[0].numpy().reshape(-1)
    np.testing.assert_allclose(X, np.concatenate([ok, bad]))
    np.testing.assert_allclose(y, [1] * len(ok) + [0] * len(bad), atol=1e-9)
    p_bad = feasibility.success_probability(model, np.array([ss.encode({"x1": 8.0, "x2": 6.0})]))
    p_ok = feasibility.success_probability(model, np.array([ss.encode({"x1": -2.0, "x2": 7.0})]))
    assert p_bad[0] < 0.2 < 0.8 < p_ok[0], (p_bad, p_ok)
    assert engine._fit_feasibility(ok, None, info, torch.device("cpu"), notes, None) is None


def test_failures_join_the_objective_gp_at_the_worst_observed_value() -> None:
    x = np.array([[0.1, 0.2], [0.5, 0.5], [0.3, 0.9]])
    y = np.array([-3.0, -1.0, -7.0])  # larger is better: -7 is the worst
    bad = np.array([[0.9, 0.1], [0.8, 0.8]])
    xi, yi = feasibility.impute_failures(x, y, bad)
    np.testing.assert_array_equal(xi, np.concatenate([x, bad]))
    np.testing.assert_array_equal(yi, [-3.0, -1.0, -7.0, -7.0, -7.0])
    assert feasibility.impute_failures(x, y, None) == (x, y)

    # Through the engine: the fitted objective GP (kept in fit_cache) trains on them.
    ss = space_of(BRANIN)
    cache: dict = {}
    engine.suggest_next(
        x, y, space=space_info(ss), pending_x=None, taken=set(), seed=0, fit_cache=cache, failed_x=bad
    )
    ((model, _, _),) = cache.values()
    np.testing.assert_allclose(model.train_inputs[0].numpy(), np.concatenate([x, bad]))
    np.testing.assert_allclose(engine.train_y_of(model), yi, atol=1e-9)


def test_sampler_reports_the_failures_it_used_in_a_mixed_batch_with_pending_points() -> None:
    ss = space_of(MIXED)
    study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=4, seed=3))
    _history(study, ss, 14)
    running = study.ask(ss.distributions())  # pending from another round
    batch = [study.ask(ss.distributions()) for _ in range(3)]
    n_failed = sum(t.state == TrialState.FAIL for t in study.trials)
    assert n_failed > 0
    keys = [ss.key(t.params) for t in [running, *batch]]
    assert len(set(keys)) == len(keys)
    for t in batch:
        info = suggest_info(study._storage.get_trial(t._trial_id))
        assert info["phase"] == "gp" and info["n_failed"] == n_failed and info["n_pending"] >= 1, info


@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_every_acquisition_takes_the_feasibility_weight(acquisition: str) -> None:
    ss = space_of(BRANIN)
    study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=3, seed=1, acquisition=acquisition))
    _history(study, ss, 12)
    t = study.ask(ss.distributions())
    info = suggest_info(study._storage.get_trial(t._trial_id))
    assert sum(s.state == TrialState.FAIL for s in study.trials) > 0
    assert info["phase"] == "gp" and info["n_failed"] > 0, info


@pytest.mark.parametrize("space", [BRANIN, MIXED])
def test_failure_free_history_gives_the_same_suggestions_with_and_without_the_model(space: dict) -> None:
    ss = space_of(space)

    def suggestions(model_failures: bool) -> list[dict]:
        study = optuna.create_study(
            sampler=GPBatchSampler(ss, n_init=5, seed=2, model_failures=model_failures)
        )
        dists = ss.distributions()
        out = []
        for r in range(3):
            batch = [study.ask(dists) for _ in range(5 if r == 0 else 2)]
            for t in batch:  # x1 capped: no trial fails
                study.tell(t, branin({"x1": min(t.params["x1"], 2.5), "x2": t.params["x2"]}, seed=0))
            out += [t.params for t in batch]
        assert all(t.state == TrialState.COMPLETE for t in study.trials)
        return out

    assert suggestions(True) == suggestions(False)
