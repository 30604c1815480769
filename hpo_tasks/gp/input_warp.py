"""An input warp of the plain kernel's columns, fitted with the GP (issue 14, quality).

Each ordinal column goes through a Kumaraswamy CDF before the Matern kernel (Snoek et al. 2014, "Input
warping for Bayesian optimization of non-stationary functions"; BoTorch's ``Warp`` input transform, the
warp HEBO fits), so one stationary lengthscale can serve a column whose function changes fast at one end
and slowly at the other (a learning rate near its divergence edge, a regulariser that matters only when
large):

    t = EPS + (1 - 2 EPS) clip(x, 0, 1)          x: the encoded column, [0, 1]
    w(x; a, b) = 1 - (1 - t^a)^b                  a, b > 0; a = b = 1 is the identity on t

The concentrations a_k, b_k are two more hyperparameters per column in the fit's theta (their logs),
each with a Normal(0, sqrt(0.75)) prior on the log: BoTorch's ``LogNormalPrior(0, 0.75 ** 0.5)`` scale,
but as a density in log a (mode at the identity warp, not at a = 0.47 as a density in a), so at small
n, where the likelihood says little, the warp stays near the identity. Bounds: a, b in [0.1, 10].

Derivatives (for the fit's written-out gradient and the acquisition's gradient in x):

    dw / dlog a = a b (1 - t^a)^(b - 1) t^a log t
    dw / dlog b = -b (1 - t^a)^b log(1 - t^a)
    dw / dx     = (1 - 2 EPS) a b t^(a - 1) (1 - t^a)^(b - 1)     (0 outside [0, 1], where x is clipped)

Notations:
    m  points, o warped columns
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-7  # BoTorch's Warp eps: keeps t^a and 1 - t^a away from 0 and 1
PRIOR_SCALE = math.sqrt(0.75)  # of log a and log b (BoTorch's LogNormalPrior(0, 0.75 ** 0.5) scale)
LOG_BOUNDS = (math.log(0.1), math.log(10.0))


def _pieces(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray) -> tuple[np.ndarray, ...]:
    """a, b, t, t^a, 1 - t^a, (1 - t^a)^b and where x lies inside [0, 1] (the clip passes no gradient
    outside)."""
    a, b = np.exp(log_a), np.exp(log_b)
    t = EPS + (1.0 - 2.0 * EPS) * np.clip(x, 0.0, 1.0)
    ta = t**a
    om = 1.0 - ta
    return a, b, t, ta, om, om**b, (x >= 0.0) & (x <= 1.0)


def warp_np(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """``m x o`` points -> their warped values ``m x o`` (``log_a``, ``log_b``: ``o``)."""
    return 1.0 - _pieces(x, log_a, log_b)[5]


def warp_and_grads_np(
    x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """w, dw / dlog a and dw / dlog b, each ``m x o`` (the module docstring's formulas)."""
    a, b, t, ta, om, omb, _ = _pieces(x, log_a, log_b)
    return 1.0 - omb, a * b * (omb / om) * ta * np.log(t), -b * omb * np.log(om)


def warp_and_dx_np(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w and dw / dx, each ``m x o``."""
    a, b, t, ta, om, omb, inside = _pieces(x, log_a, log_b)
    dx = (1.0 - 2.0 * EPS) * a * b * (ta / t) * (omb / om)
    return 1.0 - omb, np.where(inside, dx, 0.0)


def warp_torch(x: Any, log_a: Any, log_b: Any) -> Any:
    """``warp_np`` in torch, differentiable in ``x`` (``... x o``)."""
    t = EPS + (1.0 - 2.0 * EPS) * x.clamp(0.0, 1.0)
    return 1.0 - (1.0 - t ** log_a.exp()) ** log_b.exp()


def log_prior_and_grad(log_c: np.ndarray) -> tuple[float, np.ndarray]:
    """The Normal(0, PRIOR_SCALE) log density of the log-concentrations and its gradient."""
    s2 = PRIOR_SCALE**2
    norm = math.log(PRIOR_SCALE) + 0.5 * math.log(2 * math.pi)
    return -0.5 * float(log_c @ log_c) / s2 - log_c.size * norm, -log_c / s2
