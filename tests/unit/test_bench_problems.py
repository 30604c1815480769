"""Benchmark problems reproduce their known optima; spaces are valid sweep spaces; noise is seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_tasks.bench.optimizers import sweep_config
from hpo_tasks.bench.problems import PILOT_PROBLEMS, PROBLEMS, QUICK_PROBLEMS, levy
from hpo_tasks.space import SearchSpace


def _xs(values) -> dict[str, float]:
    return {f"x{i + 1}": float(v) for i, v in enumerate(values)}


@pytest.mark.parametrize(
    ("name", "point", "optimum"),
    [
        ("branin", (-math.pi, 12.275), 0.397887),
        ("branin", (math.pi, 2.275), 0.397887),
        ("branin", (9.42478, 2.475), 0.397887),
        ("hartmann6", (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), -3.32237),
        ("levy10", (1.0,) * 10, 0.0),
    ],
)
def test_known_optima(name: str, point: tuple[float, ...], optimum: float) -> None:
    problem = PROBLEMS[name]
    assert problem.optimal_value == pytest.approx(optimum, abs=1e-6)
    assert problem.true_loss(_xs(point)) == pytest.approx(optimum, abs=1e-4)
    space = SearchSpace.from_config(sweep_config(problem.space, budget=50))
    assert np.all((space.encode(_xs(point)) >= 0) & (space.encode(_xs(point)) <= 1))


@pytest.mark.parametrize("name", ["branin", "hartmann6", "levy10"])
def test_optimum_is_a_lower_bound_on_random_points(name: str) -> None:
    problem = PROBLEMS[name]
    space = SearchSpace.from_config(sweep_config(problem.space, budget=50))
    rng = np.random.default_rng(0)
    values = [problem.true_loss(space.decode(rng.random(space.width))) for _ in range(200)]
    assert min(values) > problem.optimal_value - 1e-9


def test_levy_is_positive_away_from_its_minimum() -> None:
    assert levy(np.zeros(10)) > 0.0
    assert levy(np.ones(3)) == pytest.approx(0.0)


def test_suite_covers_the_issue() -> None:
    names = set(PROBLEMS)
    for base in ("branin", "hartmann6", "levy10"):
        assert {base, f"{base}-noisy"} <= names
    assert {
        "svm-breast-nll",
        "linear-breast-nll",
        "dt-wine-nll",
        "rf-breast-nll",
        "xgb-breast-auc",
        "lr-mixed-breast-nll",
    } <= names
    assert any(p.get("type") == "categorical" for p in PROBLEMS["lr-mixed-breast-nll"].space.values())
    assert set(PILOT_PROBLEMS) <= names and set(QUICK_PROBLEMS) <= names


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_every_space_is_a_valid_sweep_space(name: str) -> None:
    cfg = sweep_config(PROBLEMS[name].space, budget=50)
    assert len(cfg.space) == PROBLEMS[name].dim


def test_noise_is_seeded_and_absent_from_the_true_value() -> None:
    noisy, clean = PROBLEMS["branin-noisy"], PROBLEMS["branin"]
    x = _xs((0.0, 5.0))
    obs1, true1 = noisy.observe(x, seed=3)
    obs2, true2 = noisy.observe(x, seed=3)
    assert (obs1, true1) == (obs2, true2)
    assert obs1 != true1 and true1 == clean.true_loss(x)
    assert noisy.observe(x, seed=4)[0] != obs1
    assert clean.observe(x, seed=3) == (true1, true1)


def test_bayesmark_svm_ranges() -> None:
    svm = PROBLEMS["svm-breast-nll"].space
    assert (svm["C"]["low"], svm["C"]["high"], svm["C"]["log"]) == (1.0, 1e3, True)
    assert (svm["gamma"]["low"], svm["gamma"]["high"]) == (1e-4, 1e-3)
    assert (svm["tol"]["low"], svm["tol"]["high"]) == (1e-5, 1e-1)


@pytest.mark.parametrize("name", [n for n, p in PROBLEMS.items() if p.kind == "ml"])
def test_model_tuning_losses_are_finite_and_deterministic(name: str) -> None:
    problem = PROBLEMS[name]
    space = SearchSpace.from_config(sweep_config(problem.space, budget=50))
    params = space.decode(np.full(space.width, 0.5))
    first = problem.true_loss(params)
    assert math.isfinite(first) and first >= 0.0
    assert problem.true_loss(params) == first
