from __future__ import annotations

import itertools

import optuna
import pytest

from hpo_tasks.config import parse_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

MIXED = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0},
    "x2": {"type": "float", "low": 1e-3, "high": 15.0, "log": True},
    "k": {"type": "int", "low": 1, "high": 4},
    "c": {"type": "categorical", "choices": ["a", "b"]},
}


def _study(space: dict, *, n_init: int, seed: int = 0, direction: str = "minimize"):
    cfg = parse_sweep(
        {
            "name": "t",
            "objective": {"name": "branin"},
            "direction": direction,
            "space": space,
            "budget": {"max_trials": 100, "n_init": n_init},
            "seed": seed,
        }
    )
    ss = SearchSpace.from_config(cfg)
    study = optuna.create_study(direction=direction, sampler=GPBatchSampler(ss, n_init=n_init, seed=seed))
    return study, ss


def _value(p: dict) -> float:
    return branin({"x1": p["x1"], "x2": p["x2"]}, seed=0) + 0.1 * p["k"] + (p["c"] == "b")


def test_batch_is_in_bounds_typed_and_distinct_with_pending() -> None:
    study, ss = _study(MIXED, n_init=5)
    dists = ss.distributions()
    for _ in range(5):
        t = study.ask(dists)
        study.tell(t, _value(t.params))
    running = [study.ask(dists) for _ in range(2)]  # pending from "another round"
    batch = [study.ask(dists) for _ in range(4)]
    keys = [ss.key(t.params) for t in running + batch]
    assert len(set(keys)) == len(keys), "a batch must not repeat a point, pending ones included"
    for t in batch:
        info = suggest_info(study._storage.get_trial(t._trial_id))
        assert info["phase"] == "gp" and info["n_pending"] >= 2
        p = t.params
        assert -5.0 <= p["x1"] <= 10.0 and isinstance(p["x1"], float)
        assert 1e-3 <= p["x2"] <= 15.0
        assert isinstance(p["k"], int) and 1 <= p["k"] <= 4
        assert p["c"] in ("a", "b")
        assert info["acq_value"] is not None and set(info["lengthscales"]) == set(ss.names)


def test_integer_space_never_duplicates_after_rounding() -> None:
    space = {"a": {"type": "int", "low": 0, "high": 3}, "b": {"type": "int", "low": 0, "high": 2}}
    study, ss = _study(space, n_init=3)
    dists = ss.distributions()
    seen = []
    for _ in range(3):
        t = study.ask(dists)
        study.tell(t, (t.params["a"] - 2) ** 2 + t.params["b"])
        seen.append(ss.key(t.params))
    batch = [study.ask(dists) for _ in range(9)]  # the 9 configurations left, all pending at once
    seen += [ss.key(t.params) for t in batch]
    assert sorted(seen) == sorted(itertools.product(range(4), range(3)))


def test_seed_phase_is_sobol_then_gp() -> None:
    study, ss = _study(MIXED, n_init=4)
    dists = ss.distributions()
    phases = []
    for _ in range(6):
        t = study.ask(dists)
        study.tell(t, _value(t.params))
        phases.append(suggest_info(study._storage.get_trial(t._trial_id))["phase"])
    assert phases == ["sobol"] * 4 + ["gp"] * 2


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_same_seed_same_suggestions(direction: str) -> None:
    def run(seed: int) -> list[dict]:
        study, ss = _study(MIXED, n_init=4, seed=seed, direction=direction)
        dists = ss.distributions()
        for _ in range(3):  # rounds of 3: ask all, then tell all
            batch = [study.ask(dists) for _ in range(3)]
            for t in batch:
                study.tell(t, _value(t.params))
        return [t.params for t in study.trials]

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_gp_improves_on_branin_over_sobol() -> None:
    space = {k: MIXED[k] for k in ("x1",)} | {"x2": {"type": "float", "low": 0.0, "high": 15.0}}
    study, ss = _study(space, n_init=6)
    dists = ss.distributions()
    for _ in range(20):
        t = study.ask(dists)
        study.tell(t, branin(t.params, seed=0))
    seed_best = min(t.value for t in study.trials[:6])
    assert study.best_value < seed_best
    assert study.best_value < 2.0  # optimum 0.398; Sobol alone rarely gets below ~3 with 20 points
