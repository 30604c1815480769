"""hpo_tasks.objectives.curves: learning curves that report every epoch, converge to their test function,
follow the seed, and reject zero epochs."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_tasks.objectives.curves import _rate, branin_curve, hartmann6_curve
from hpo_tasks.objectives.synthetic import Branin, Hartmann6, branin

P = {"x1": 1.0, "x2": 4.0}


def test_reports_each_epoch_and_returns_the_last_value() -> None:
    seen: list[tuple[int, float]] = []
    y = branin_curve(P, seed=3, epochs=5, report=lambda k, v: seen.append((k, v)))
    assert [k for k, _ in seen] == [1, 2, 3, 4, 5] and seen[-1][1] == y


def test_without_noise_the_curve_decays_to_the_function_by_its_rate() -> None:
    seen: list[float] = []
    branin_curve(P, seed=0, epochs=6, noise_std=0.0, report=lambda k, v: seen.append(v))
    f = branin(P, seed=0)
    rho = _rate(np.array([1.0, 4.0]), Branin.bounds)
    assert 0.35 <= rho <= 0.75
    assert seen == pytest.approx([f + 30.0 * rho**k for k in range(6)])
    assert branin_curve(P, seed=0, epochs=1, noise_std=0.0, amplitude=0.0) == pytest.approx(f)


def test_hartmann6_curve_converges_to_hartmann6_at_its_optimum() -> None:
    xstar = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    params = {f"x{i + 1}": v for i, v in enumerate(xstar)}
    y = hartmann6_curve(params, seed=0, epochs=60, noise_std=0.0)
    assert y == pytest.approx(Hartmann6.optimal_value, abs=1e-4)


def test_noise_follows_the_seed() -> None:
    assert branin_curve(P, seed=1) == branin_curve(P, seed=1) != branin_curve(P, seed=2)


def test_zero_epochs_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"epochs must be at least 1 \(got 0\)"):
        branin_curve(P, seed=0, epochs=0)
