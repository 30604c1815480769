"""Scoring, after bayesmark (Uber; the NeurIPS 2020 black-box optimisation challenge).

Notations:
    f_t      true loss of the incumbent after t trials (the trial with the best *observed* loss so far;
             without noise this is the best loss so far)
    f_best   the best true loss seen on the problem by any optimizer, any seed, any trial
    f_rand   the median true loss of a single random evaluation (all of random search's trials, pooled)
    regret_t (f_t - f_best) / (f_rand - f_best), clipped to [-1, 1]
    score_t  100 * (1 - mean regret_t)  (over seeds, then over problems)

A score of 100 means every run found the best point anyone found; 0 means no better than one random guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def incumbent_trace(observed: Sequence[float], true: Sequence[float]) -> np.ndarray:
    """``f_t`` for t = 1..T: the true loss of the best-observed trial so far, shape ``(T,)``."""
    obs = np.asarray(observed, dtype=np.float64)
    tru = np.asarray(true, dtype=np.float64)
    best_idx = np.zeros(len(obs), dtype=int)
    for t in range(1, len(obs)):
        best_idx[t] = t if obs[t] < obs[best_idx[t - 1]] else best_idx[t - 1]
    return tru[best_idx]


def normalized_regret(trace: np.ndarray, *, f_best: float, f_rand: float) -> np.ndarray:
    """``regret_t`` for a trace of incumbent losses; 0 everywhere when ``f_rand == f_best``."""
    span = f_rand - f_best
    if not span > 0:
        return np.zeros_like(np.asarray(trace, dtype=np.float64))
    return np.clip((np.asarray(trace, dtype=np.float64) - f_best) / span, -1.0, 1.0)


def score(regrets: Sequence[float]) -> float:
    """100 × (1 − mean normalized regret)."""
    return float(100.0 * (1.0 - np.mean(regrets)))


def trials_to_reach(trace: np.ndarray, target: float) -> int | None:
    """The first t (1-based) with ``f_t <= target``, or None if the trace never gets there."""
    hits = np.nonzero(np.asarray(trace) <= target)[0]
    return int(hits[0]) + 1 if len(hits) else None


def paired_bootstrap(
    ours: Mapping[str, Sequence[float]],
    peer: Mapping[str, Sequence[float]],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Mean paired difference of overall scores (ours − peer) and its bootstrap percentile interval.

    ``ours[problem][i]`` and ``peer[problem][i]`` are scores of the same seed ``i``. The overall score is
    the mean over problems of the mean over seeds; a resample draws seeds with replacement within each
    problem (stratified), keeping the pairs together.
    """
    problems = sorted(set(ours) & set(peer))
    diffs = [np.asarray(ours[p], dtype=np.float64) - np.asarray(peer[p], dtype=np.float64) for p in problems]
    point = float(np.mean([d.mean() for d in diffs]))
    boots = np.empty(n_boot)
    for b in range(n_boot):
        boots[b] = np.mean([d[rng.integers(0, len(d), len(d))].mean() for d in diffs])
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return point, float(lo), float(hi)
