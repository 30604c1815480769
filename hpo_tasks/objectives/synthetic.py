"""Synthetic test problems, as data (BoTorch's style): fast, deterministic, with known optima.

All are minimisation problems; sweeps on them use ``direction: minimize``. ``noise_std`` adds
Gaussian observation noise drawn from the trial seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Branin:
    """Branin-Hoo, 2-D: x1 in [-5, 10], x2 in [0, 15]; three global minima of 0.397887."""

    dim = 2
    bounds = ((-5.0, 10.0), (0.0, 15.0))
    optimal_value = 0.397887

    @staticmethod
    def evaluate(x: np.ndarray) -> float:
        x1, x2 = float(x[0]), float(x[1])
        b, c = 5.1 / (4 * np.pi**2), 5 / np.pi
        r, s, t = 6.0, 10.0, 1 / (8 * np.pi)
        return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * np.cos(x1) + s


@dataclass(frozen=True)
class Hartmann6:
    """Hartmann, 6-D on [0, 1]^6; global minimum -3.32237."""

    dim = 6
    bounds = ((0.0, 1.0),) * 6
    optimal_value = -3.32237
    _alpha = np.array([1.0, 1.2, 3.0, 3.2])
    _A = np.array(
        [
            [10, 3, 17, 3.5, 1.7, 8],
            [0.05, 10, 17, 0.1, 8, 14],
            [3, 3.5, 1.7, 10, 17, 8],
            [17, 8, 0.05, 10, 0.1, 14],
        ]
    )
    _P = 1e-4 * np.array(
        [
            [1312, 1696, 5569, 124, 8283, 5886],
            [2329, 4135, 8307, 3736, 1004, 9991],
            [2348, 1451, 3522, 2883, 3047, 6650],
            [4047, 8828, 8732, 5743, 1091, 381],
        ]
    )

    @classmethod
    def evaluate(cls, x: np.ndarray) -> float:
        inner = np.sum(cls._A * (np.asarray(x)[None, :] - cls._P) ** 2, axis=1)
        return float(-np.sum(cls._alpha * np.exp(-inner)))


@dataclass(frozen=True)
class Ackley30:
    """Ackley in 30-D (BoTorch's ``Ackley``: a=20, b=0.2, c=2 pi) on [-5, 10]^30, the domain of BoTorch's
    TuRBO tutorial: one global minimum of 0 at the origin (a third of the way along each axis, so neither
    the centre nor a corner of the box), random points score 13-15, and a rugged landscape of local
    minima. A high-dimensional test of trust-region BO (``sampler.trust_region``)."""

    dim = 30
    bounds = ((-5.0, 10.0),) * 30
    optimal_value = 0.0

    @staticmethod
    def evaluate(x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)  # (d,)
        a, b, c = 20.0, 0.2, 2 * np.pi
        d = x.shape[-1]
        part1 = -a * np.exp(-b / np.sqrt(d) * np.linalg.norm(x))
        part2 = -np.exp(np.mean(np.cos(c * x)))
        return float(part1 + part2 + a + np.e)


def _evaluate(problem: Any, params: Mapping[str, Any], seed: int, noise_std: float) -> float:
    x = np.array([float(params[f"x{i + 1}"]) for i in range(problem.dim)])
    value = float(problem.evaluate(x))
    if noise_std:
        value += float(np.random.default_rng(seed).normal(0.0, noise_std))
    return value


def branin(params: Mapping[str, Any], *, seed: int, noise_std: float = 0.0) -> float:
    """Branin on params ``x1``, ``x2``."""
    return _evaluate(Branin, params, seed, noise_std)


def hartmann6(params: Mapping[str, Any], *, seed: int, noise_std: float = 0.0) -> float:
    """Hartmann6 on params ``x1`` .. ``x6``."""
    return _evaluate(Hartmann6, params, seed, noise_std)


@dataclass(frozen=True)
class BraninCurrin:
    """Two objectives on [0, 1]^2, both minimised (Belakaria et al. 2019; BoTorch's ``BraninCurrin``):
    Branin rescaled to the unit square, and Currin's exponential function. BoTorch's reference point
    (18, 6) bounds a hypervolume of at most 59.36011874867746."""

    dim = 2
    bounds = ((0.0, 1.0), (0.0, 1.0))
    reference_point = (18.0, 6.0)
    max_hypervolume = 59.36011874867746

    @staticmethod
    def evaluate(x: np.ndarray) -> tuple[float, float]:
        x1, x2 = float(x[0]), float(x[1])
        b = Branin.evaluate(np.array([15.0 * x1 - 5.0, 15.0 * x2]))
        factor = 1.0 - np.exp(-1.0 / (2.0 * x2)) if x2 > 0 else 1.0
        num = 2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60
        den = 100 * x1**3 + 500 * x1**2 + 4 * x1 + 20
        return float(b), float(factor * num / den)


def branin_currin(params: Mapping[str, Any], *, seed: int, noise_std: float = 0.0) -> dict[str, float]:
    """BraninCurrin on params ``x1``, ``x2``: metrics ``branin`` and ``currin`` (minimise both)."""
    b, c = BraninCurrin.evaluate(np.array([float(params["x1"]), float(params["x2"])]))
    if noise_std:
        b, c = np.array([b, c]) + np.random.default_rng(seed).normal(0.0, noise_std, 2)
    return {"branin": float(b), "currin": float(c)}


@dataclass(frozen=True)
class ConstrainedBowl:
    """Minimise ``loss = (x1 - 0.2)^2 + (x2 - 0.2)^2`` on [0, 1]^2 subject to ``margin = x1 + x2 - 1 >= 0``.
    The unconstrained optimum (0.2, 0.2) is infeasible; the constrained one is (0.5, 0.5), loss 0.18."""

    dim = 2
    bounds = ((0.0, 1.0), (0.0, 1.0))
    optimal_value = 0.18

    @staticmethod
    def evaluate(x: np.ndarray) -> tuple[float, float]:
        x1, x2 = float(x[0]), float(x[1])
        return (x1 - 0.2) ** 2 + (x2 - 0.2) ** 2, x1 + x2 - 1.0


def constrained_bowl(params: Mapping[str, Any], *, seed: int) -> dict[str, float]:
    """ConstrainedBowl on params ``x1``, ``x2``: metrics ``loss`` and ``margin`` (feasible: margin >= 0)."""
    loss, margin = ConstrainedBowl.evaluate(np.array([float(params["x1"]), float(params["x2"])]))
    return {"loss": loss, "margin": margin}


def ackley30(params: Mapping[str, Any], *, seed: int, noise_std: float = 0.0) -> float:
    """Ackley 30-D on params ``x1`` .. ``x30``."""
    return _evaluate(Ackley30, params, seed, noise_std)
