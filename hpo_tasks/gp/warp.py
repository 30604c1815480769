"""A monotone output warp of the fast path's training outcomes, applied before ``gp.model.fit``
standardises them (issue 14, quality).

    z = (y - mean(y)) / std(y)          standardised outcomes (ddof 1, as ``gp.model.standardize``)
    w = psi(z; lambda)                  Yeo-Johnson (Yeo & Johnson 2000), lambda by maximum likelihood
                                        (``scipy.stats.yeojohnson_normmax``), clipped to LAMBDA_RANGE

    psi(z; l) = ((1 + z)^l - 1) / l            z >= 0, l != 0     log1p(z)        z >= 0, l = 0
              = -((1 - z)^(2 - l) - 1) / (2 - l)  z < 0, l != 2   -log1p(-z)      z < 0, l = 2

psi is strictly increasing in z for every lambda, so the best outcome stays the best and the GP's
incumbent is the same row; the GP (and LogEI, as HEBO does) then works in warped units. Unlike HEBO's
``power_transform(y / y.std())`` (Box-Cox for positive y), only Yeo-Johnson on centred outcomes: the
family is closed under a sign flip, psi(-z; l) = -psi(z; 2 - l), so maximising y or minimising -y
warps alike. The warp is skipped (the outcomes go through as they are) when it is switched off, when
there are fewer than MIN_ROWS rows or under two distinct values, when the noise variance is fixed
(``noise_var`` is in outcome units; a warp would need the noise transformed through psi' row by row,
not done), and when the fit of lambda fails or gives non-finite or flat outcomes.

The second warp, ``half-rank`` (Vizier's ``HalfRankComponent``, Song et al. 2024, "The Vizier Gaussian
process bandit algorithm"), keeps the outcomes at or above their median as they are and replaces each
one below by ``median + s * Phi^-1(q)``, ``q = (r - 1/2) / (2 k)`` for the r-th smallest distinct value
below the median among ``k`` (``k + 1/2`` when the median is itself an outcome), ``s`` the root mean
square of the good half's distances to the median: the bad half becomes a normal tail whatever its
outliers, the good half keeps its metric. Also strictly increasing (ties stay ties).

Notations:
    n  training rows
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

WARPS = ("none", "yeo-johnson", "half-rank")
# "none": the outcomes as they are (the default until a paired A/B says otherwise:
# docs/results/2026-12-01-output-warp.md); HPO_GP_OUTPUT_WARP=yeo-johnson or half-rank in the environment
# turns one on (bench workers inherit it); so does this flag.
OUTPUT_WARP = os.environ.get("HPO_GP_OUTPUT_WARP", "none")
MIN_ROWS = 5  # fewer rows: no warp (lambda's likelihood is too flat to estimate)
# A guard, not tuned: at small n a single far outlier can drive the MLE past |lambda - 1| = 3, where
# the other tail is stretched by a cubic or more.
LAMBDA_RANGE = (-2.0, 4.0)


@dataclass(frozen=True)
class OutputWarp:
    """A fitted Yeo-Johnson warp: ``z = (y - mean) / std`` then ``psi(z; lam)``."""

    lam: float
    mean: float
    std: float

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Outcomes ``n`` -> warped outcomes ``n``."""
        return yeo_johnson((np.asarray(y, dtype=float) - self.mean) / self.std, self.lam)  # (n,)

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """Warped outcomes ``n`` -> outcomes ``n`` (within psi's range)."""
        return yeo_johnson_inverse(np.asarray(w, dtype=float), self.lam) * self.std + self.mean

    def info(self) -> dict[str, Any]:
        return {"method": "yeo-johnson", "lambda": round(self.lam, 5)}


def yeo_johnson(z: np.ndarray, lam: float) -> np.ndarray:
    """psi(z; lam) of the module docstring, elementwise."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    zp, zn = z[pos], z[~pos]
    out[pos] = np.log1p(zp) if abs(lam) < 1e-12 else np.expm1(lam * np.log1p(zp)) / lam
    out[~pos] = -np.log1p(-zn) if abs(lam - 2) < 1e-12 else -np.expm1((2 - lam) * np.log1p(-zn)) / (2 - lam)
    return out


def yeo_johnson_inverse(w: np.ndarray, lam: float) -> np.ndarray:
    """psi^-1(w; lam): ``z`` with ``psi(z; lam) = w`` (w >= 0 <-> z >= 0); nan outside psi's range."""
    w = np.asarray(w, dtype=float)
    out = np.empty_like(w)
    pos = w >= 0
    wp, wn = w[pos], w[~pos]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[pos] = np.expm1(wp) if abs(lam) < 1e-12 else np.expm1(np.log1p(lam * wp) / lam)
        b = 2 - lam
        out[~pos] = -np.expm1(-wn) if abs(b) < 1e-12 else -np.expm1(np.log1p(-b * wn) / b)
    return out


def fit_warp(y: np.ndarray) -> OutputWarp | None:
    """The Yeo-Johnson warp of outcomes ``n``, or None where it does not apply or fails (see the module
    docstring)."""
    from scipy import stats

    y = np.asarray(y, dtype=float)
    if len(y) < MIN_ROWS or not np.all(np.isfinite(y)) or len(np.unique(y)) < 2:
        return None
    mean, std = float(np.mean(y)), float(np.std(y, ddof=1))
    if not std >= 1e-8:
        return None
    z = (y - mean) / std  # (n,)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lam = float(stats.yeojohnson_normmax(z))
    except (ValueError, RuntimeError, FloatingPointError, ArithmeticError):
        return None
    if not math.isfinite(lam):
        return None
    warp = OutputWarp(float(np.clip(lam, *LAMBDA_RANGE)), mean, std)
    w = warp(y)
    if not np.all(np.isfinite(w)) or not float(np.std(w)) > 1e-8:
        return None
    return warp


def half_rank(y: np.ndarray) -> np.ndarray | None:
    """The half-rank warp of outcomes ``n`` (module docstring), or None where it does not apply (fewer
    than MIN_ROWS rows, non-finite outcomes, nothing below the median, a flat good half)."""
    from scipy import stats

    y = np.asarray(y, dtype=float)
    if len(y) < MIN_ROWS or not np.all(np.isfinite(y)):
        return None
    median = float(np.median(y))
    distinct = np.unique(y)  # sorted
    good = distinct[distinct >= median]
    s = float(np.sqrt(np.mean((good - median) ** 2)))
    below = y < median  # (n,)
    k = int(np.searchsorted(distinct, median, side="left"))  # distinct values below the median
    if not below.any() or not s > 1e-12:
        return None
    denominator = k + (0.5 if median in distinct else 0.0)
    rank = np.searchsorted(distinct, y[below], side="left") + 1  # 1-based among the distinct values
    out = y.copy()
    out[below] = median + s * stats.norm.ppf(0.5 * (rank - 0.5) / denominator)
    return out


def warp_outcomes(
    y: np.ndarray, *, method: str | None = None, noise_var: float | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The outcomes to fit (``n``) and what was done, for the suggest info: ``{"method": ...,
    "lambda": ...}``, ``{"method": "none"}`` when switched off, or ``{"method": "none", "skipped":
    reason}`` when the warp does not apply. ``method``: ``OUTPUT_WARP`` when None."""
    method = OUTPUT_WARP if method is None else method
    if method not in WARPS:
        raise ValueError(f"unknown output warp '{method}'; use one of {WARPS}")
    if method == "none":
        return y, {"method": "none"}
    if noise_var is not None:
        return y, {"method": "none", "skipped": "fixed noise"}
    if method == "half-rank":
        warped = half_rank(y)
        if warped is None:
            return y, {"method": "none", "skipped": "not fitted"}
        return warped, {"method": "half-rank"}
    warp = fit_warp(y)
    if warp is None:
        return y, {"method": "none", "skipped": "not fitted"}
    return warp(y), warp.info()
