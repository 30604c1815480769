"""Closed-form acquisitions on ``hpo_tasks.gp.model.ExactGP`` (the fast single-objective path).

Notations:
    m  query points, d columns
    mu, var   posterior mean and variance (no observation noise) on the outcome's scale
    f*  the incumbent: the best posterior mean at the observations (the noise-robust plug-in incumbent
        of ``engine._build_acqf``'s analytic LogEI)

LogEI (Ament et al. 2023, "Unexpected improvements to expected improvement", eq. 9; the same cases as
BoTorch's ``LogExpectedImprovement`` and Optuna's ``_gp/acqf.py``):
    log EI(x) = log h((mu - f*) / sigma) + log sigma,  h(z) = z Phi(z) + phi(z),
    sigma = sqrt(max(var, 1e-12))

torch is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import Any

MIN_VAR = 1e-12  # BoTorch's clamp of the posterior variance in analytic EI
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SMALL_Z = -25.0  # below: the asymptotic form (erfcx); above: the direct one


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
    """Analytic log expected improvement over the best posterior mean at the training rows."""

    def __init__(self, model: Any) -> None:
        import torch

        self.model = model
        with torch.no_grad():
            mu, _ = model.posterior(model.x)  # (n,)
        self.best_f = float(mu.max())

    def __call__(self, x: Any) -> Any:
        """``... x d`` points -> ``...`` values."""
        mu, var = self.model.posterior(x.unsqueeze(-2))  # (..., 1) each
        sigma = var.clamp_min(MIN_VAR).sqrt()
        return (log_h((mu - self.best_f) / sigma) + sigma.log()).squeeze(-1)
