from __future__ import annotations

import pytest

from hpo_tasks.objectives import REGISTRY, call_objective, resolve_objective
from hpo_tasks.objectives.synthetic import Branin, Hartmann6


def test_registry_resolves() -> None:
    for name in REGISTRY:
        assert callable(resolve_objective(name))


def test_synthetic_optima() -> None:
    assert call_objective("branin", {"x1": 3.14159265, "x2": 2.275}, seed=0, args={}) == pytest.approx(
        Branin.optimal_value, abs=1e-5
    )
    xstar = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    params = {f"x{i + 1}": v for i, v in enumerate(xstar)}
    assert call_objective("hartmann6", params, seed=0, args={}) == pytest.approx(
        Hartmann6.optimal_value, abs=1e-4
    )


def test_noise_follows_the_seed() -> None:
    p = {"x1": 0.0, "x2": 0.0}
    a = call_objective("branin", p, seed=1, args={"noise_std": 1.0})
    assert a == call_objective("branin", p, seed=1, args={"noise_std": 1.0})
    assert a != call_objective("branin", p, seed=2, args={"noise_std": 1.0})


def test_xgboost_auc_is_a_real_score() -> None:
    params = {"learning_rate": 0.1, "max_depth": 3, "n_estimators": 30, "subsample": 0.9}
    auc = call_objective("xgboost_breast_cancer", params, seed=0, args={"n_folds": 3})
    assert 0.95 < auc <= 1.0
    assert auc == call_objective("xgboost_breast_cancer", params, seed=0, args={"n_folds": 3})
