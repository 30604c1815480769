"""Synthetic learning curves for multi-fidelity tests and measurements: cheap objectives that "train" for
``epochs`` steps, report a value per epoch, and converge to a known test function.

Notation (minimised, like the functions they converge to):
    f(x)      the test function (Branin or Hartmann6) at the configuration x
    k         epoch, 1 .. E (E = ``epochs``)
    rho(x)    per-configuration convergence rate in [0.35, 0.75]: curves of different configurations
              cross, so an early value ranks configurations only approximately
    y_k(x) = f(x) + a * rho(x)^(k-1) + eps_k,  eps_k ~ N(0, noise_std / sqrt(k)), seeded by (seed, k)

The value returned is y_E. ``seconds_per_epoch`` makes each epoch cost wall time, for wall-clock figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hpo_tasks.objectives.synthetic import Branin, Hartmann6

Report = Callable[[int, float], None]


def _rate(x: np.ndarray, bounds: tuple[tuple[float, float], ...]) -> float:
    """rho(x): a smooth function of the unit-scaled configuration, in [0.35, 0.75]."""
    lo, hi = np.array(bounds).T  # (d,), (d,)
    u = (x - lo) / (hi - lo)  # (d,)
    return 0.55 + 0.2 * float(np.sin(2.0 * np.pi * u.sum() / len(u) + 1.0))


def _curve(
    problem: Any,
    params: Mapping[str, Any],
    *,
    seed: int,
    epochs: int,
    amplitude: float,
    noise_std: float,
    seconds_per_epoch: float,
    report: Report | None,
) -> float:
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1 (got {epochs})")
    x = np.array([float(params[f"x{i + 1}"]) for i in range(problem.dim)])  # (d,)
    final = float(problem.evaluate(x))
    rho = _rate(x, problem.bounds)
    rng = np.random.default_rng([seed, 7])
    y = final
    for k in range(1, epochs + 1):
        if seconds_per_epoch:
            time.sleep(seconds_per_epoch)
        y = final + amplitude * rho ** (k - 1) + float(rng.normal(0.0, noise_std / np.sqrt(k)))
        if report is not None:
            report(k, y)
    return y


def branin_curve(
    params: Mapping[str, Any],
    *,
    seed: int,
    epochs: int = 9,
    amplitude: float = 30.0,
    noise_std: float = 0.5,
    seconds_per_epoch: float = 0.0,
    report: Report | None = None,
) -> float:
    """A learning curve on Branin (params ``x1``, ``x2``) converging to Branin's value; minimise."""
    return _curve(
        Branin, params, seed=seed, epochs=epochs, amplitude=amplitude, noise_std=noise_std,
        seconds_per_epoch=seconds_per_epoch, report=report,
    )  # fmt: skip


def hartmann6_curve(
    params: Mapping[str, Any],
    *,
    seed: int,
    epochs: int = 9,
    amplitude: float = 1.0,
    noise_std: float = 0.02,
    seconds_per_epoch: float = 0.0,
    report: Report | None = None,
) -> float:
    """A learning curve on Hartmann6 (params ``x1`` .. ``x6``) converging to its value; minimise."""
    return _curve(
        Hartmann6, params, seed=seed, epochs=epochs, amplitude=amplitude, noise_std=noise_std,
        seconds_per_epoch=seconds_per_epoch, report=report,
    )  # fmt: skip
