"""Closed-form acquisitions on ``hpo_tasks.gp.model.ExactGP`` (the fast single-objective path).

Notations:
    m  query points, d columns
    mu, var   posterior mean and variance (no observation noise) on the outcome's scale
    f*  the incumbent: the best posterior mean at the observations (the noise-robust plug-in incumbent
        of ``engine._build_acqf``'s analytic LogEI); the best observation with ``INCUMBENT = "observed"``
        (off: docs/results/2026-12-04-noise-prior-and-incumbent.md)

LogEI (Ament et al. 2023, "Unexpected improvements to expected improvement", eq. 9; the same cases as
BoTorch's ``LogExpectedImprovement`` and Optuna's ``_gp/acqf.py``):
    log EI(x) = log h((mu - f*) / sigma) + log sigma,  h(z) = z Phi(z) + phi(z),
    sigma = sqrt(max(var, 1e-12))

The plain kernel (every column ordinal) also has ``PlainLogEI``: the same function in numpy with its
gradient in x written out, which the local search's L-BFGS-B calls instead of torch autograd
(``gp.optim``; ~0.7 ms an evaluation through autograd at n = 10, most of that ask's acquisition):

    k_j = (1 + u_j + u_j^2 / 3) exp(-u_j),  u_j = sqrt(5 r2_j),  r2_j = sum_k (x_k - X_jk)^2 / l_k^2
    dk_j / dx = g_j (x - X_j) / l^2,  g_j = -(5/3)(1 + u_j) exp(-u_j)
    mean = m + k . alpha,  var = 1 - k^T K^-1 k  (standardised; then * y_std + y_mean, * y_std^2)
    d log h / dz = Phi(z) / h(z)  (h' = Phi); for z < -25 rho / (1 + z rho), rho = sqrt(pi/2) erfcx(-z/sqrt2)
    d LogEI / dx = d log h / dz * (dmu - z dsigma) / sigma + dsigma / sigma,  dsigma = dvar / (2 sigma)

torch is imported inside the functions.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

MIN_VAR = 1e-12  # BoTorch's clamp of the posterior variance in analytic EI
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SMALL_Z = -25.0  # below: the asymptotic form (erfcx); above: the direct one
# The plain kernel's LogEI in numpy with the written-out gradient (``PlainLogEI``) for the acquisition's
# sweep and local search; HPO_GP_ACQ_NUMPY=0 keeps torch autograd (the A/B's "before").
ACQ_NUMPY = os.environ.get("HPO_GP_ACQ_NUMPY", "1") == "1"
# LogEI's f*: "mean", the best posterior mean at the training rows (BoTorch's plug-in for noisy
# observations); or "observed", the best observation (Optuna GPSampler's threshold). HPO_GP_INCUMBENT sets it.
INCUMBENT = os.environ.get("HPO_GP_INCUMBENT", "mean")


def log_h(z: Any) -> Any:
    """log(z Phi(z) + phi(z)), stable for very negative z; both cases are computed on clamped inputs,
    so the gradient is finite everywhere."""
    import torch

    zb = z.clamp_min(_SMALL_Z)
    big = (0.5 * zb * torch.special.erfc(-_SQRT_HALF * zb) + torch.exp(-0.5 * zb * zb) * _INV_SQRT_2PI).log()
    zs = z.clamp_max(_SMALL_Z)
    small = (
        -0.5 * zs * zs
        - _LOG_SQRT_2PI
        + torch.log1p(_SQRT_HALF_PI * zs * torch.special.erfcx(-_SQRT_HALF * zs))
    )
    return torch.where(z < _SMALL_Z, small, big)


class LogEI:
    """Analytic log expected improvement over the best posterior mean at the training rows (or the best
    observation: ``INCUMBENT``)."""

    def __init__(self, model: Any) -> None:
        import torch

        self.model = model
        with torch.no_grad():
            mu, _ = model.posterior(model.x)  # (n,)
        self.mu = mu.numpy().copy()  # (n,): the posterior means at the training rows
        at = int(mu.argmax()) if INCUMBENT == "mean" else int(model.train_y.argmax())
        self.best_f = float(mu[at] if INCUMBENT == "mean" else model.train_y[at])
        self.incumbent = model.x[at].numpy().copy()  # (d,): the row that holds best_f
        # the numpy twin for the optimiser (``gp.optim``), where the kernel is the plain one
        self.numpy: PlainLogEI | None = (
            PlainLogEI(model, self.best_f) if ACQ_NUMPY and not model.layout.mixed else None
        )

    def __call__(self, x: Any) -> Any:
        """``... x d`` points -> ``...`` values."""
        mu, var = self.model.posterior(x.unsqueeze(-2))  # (..., 1) each
        sigma = var.clamp_min(MIN_VAR).sqrt()
        return (log_h((mu - self.best_f) / sigma) + sigma.log()).squeeze(-1)


class UCB:
    """Upper confidence bound mu + sqrt(beta) sigma on an ``ExactGP`` (torch; the fast path's
    exploratory ask, ``engine.EXPLORE_PROB``)."""

    def __init__(self, model: Any, beta: float) -> None:
        self.model, self.root_beta = model, math.sqrt(beta)

    def __call__(self, x: Any) -> Any:
        """``... x d`` points -> ``...`` values."""
        mu, var = self.model.posterior(x.unsqueeze(-2))  # (..., 1) each
        return (mu + self.root_beta * var.clamp_min(MIN_VAR).sqrt()).squeeze(-1)


def _log_h_np(z: np.ndarray) -> np.ndarray:
    """``log_h`` in numpy: the same two cases."""
    from scipy.special import erfc, erfcx

    zb = np.maximum(z, _SMALL_Z)
    big = np.log(0.5 * zb * erfc(-_SQRT_HALF * zb) + np.exp(-0.5 * zb * zb) * _INV_SQRT_2PI)
    zs = np.minimum(z, _SMALL_Z)
    small = -0.5 * zs * zs - _LOG_SQRT_2PI + np.log1p(_SQRT_HALF_PI * zs * erfcx(-_SQRT_HALF * zs))
    return np.where(z < _SMALL_Z, small, big)


def _dlog_h_np(z: np.ndarray) -> np.ndarray:
    """d log h / dz = Phi(z) / h(z); for z < -25 from erfcx, where Phi and h underflow together."""
    from scipy.special import erfc, erfcx

    zb = np.maximum(z, _SMALL_Z)
    cdf = 0.5 * erfc(-_SQRT_HALF * zb)
    direct = cdf / (zb * cdf + np.exp(-0.5 * zb * zb) * _INV_SQRT_2PI)
    zs = np.minimum(z, _SMALL_Z)
    rho = _SQRT_HALF_PI * erfcx(-_SQRT_HALF * zs)  # Phi / phi
    return np.where(z < _SMALL_Z, rho / (1.0 + zs * rho), direct)


class PlainLogEI:
    """``LogEI`` of a plain-kernel ``ExactGP`` in numpy: values, and values with their gradient in x
    (the module docstring's formulas). Equal to the torch version to rounding
    (``tests/unit/test_gp_model.py``)."""

    def __init__(self, model: Any, best_f: float) -> None:
        self.x = model.wx.numpy()  # (n, d): the training rows as the kernel sees them (input warp)
        self.log_warp = None if model.log_warp is None else tuple(v.numpy() for v in model.log_warp)
        self.alpha = model.alpha.numpy()  # (n,)
        self.chol = model.chol.numpy()  # (n, n) lower
        self.inv_l2 = 1.0 / model.p["l1"].numpy().reshape(-1) ** 2  # (d,)
        self.mean = float(model.p["mean"])
        self.c = float(model.p["sc"]) if "sc" in model.p else 1.0  # the outputscale (``PLAIN_OUTPUTSCALE``)
        self.y_mean, self.y_std = float(model.y_mean), float(model.y_std)
        self.best_f = best_f

    def _parts(self, x: np.ndarray) -> tuple[Any, ...]:
        """diff (``m x n x d``, warped), u, exp(-u), k (``m x n`` each) and dw / dx (``m x d``, or None
        without the input warp)."""
        from hpo_tasks.gp.input_warp import warp_and_dx_np
        from hpo_tasks.gp.model import matern52_np

        dwdx = None
        if self.log_warp is not None:
            x, dwdx = warp_and_dx_np(x, *self.log_warp)
        diff = x[:, None, :] - self.x  # (m, n, d)
        u, eu, k = matern52_np((diff * diff) @ self.inv_l2)  # (m, n) each
        return diff, u, eu, self.c * k, dwdx

    def _moments(self, k: np.ndarray) -> tuple[np.ndarray, ...]:
        """mu, the standardised variance (unclamped), its clamped variance on the outcome's scale, sigma,
        and L^-1 k (``n x m``) for the kernel rows ``k`` (``m x n``)."""
        from scipy.linalg import solve_triangular

        v = solve_triangular(self.chol, k.T, lower=True, check_finite=False)  # (n, m)
        var_s = self.c - (v * v).sum(0)  # (m,) standardised
        mu = (self.mean + k @ self.alpha) * self.y_std + self.y_mean  # (m,)
        var = np.maximum(var_s, 0.0) * self.y_std**2
        return mu, var_s, var, np.sqrt(np.maximum(var, MIN_VAR)), v

    def values(self, x: np.ndarray) -> np.ndarray:
        """``m x d`` points -> ``m`` values."""
        mu, _, _, sigma, _ = self._moments(self._parts(x)[3])
        return _log_h_np((mu - self.best_f) / sigma) + np.log(sigma)

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``m x d`` points -> ``m`` values and their ``m x d`` gradients (each row's in its own x)."""
        from scipy.linalg import solve_triangular

        diff, u, eu, k, dwdx = self._parts(x)
        mu, var_s, var, sigma, v = self._moments(k)
        z = (mu - self.best_f) / sigma
        w = solve_triangular(self.chol.T, v, lower=False, check_finite=False).T  # (m, n): K^-1 k
        g = -(5.0 / 3.0) * self.c * (1.0 + u) * eu  # (m, n): dk / dx = g (x - X) / l^2
        dmu = np.einsum("mn,mnd->md", g * self.alpha, diff) * self.inv_l2 * self.y_std  # (m, d)
        dvar = -2.0 * np.einsum("mn,mnd->md", g * w, diff) * self.inv_l2 * self.y_std**2  # (m, d)
        live = (var_s > 0.0) & (var > MIN_VAR)  # the clamps pass no gradient, as torch's
        dsigma = np.where(live[:, None], dvar / (2.0 * sigma[:, None]), 0.0)  # (m, d)
        dz = (dmu - z[:, None] * dsigma) / sigma[:, None]
        grad = _dlog_h_np(z)[:, None] * dz + dsigma / sigma[:, None]  # (m, d): in the warped x
        return _log_h_np(z) + np.log(sigma), grad if dwdx is None else grad * dwdx
