"""Maximise a torch acquisition over a mixed encoded space: a QMC sweep, then batched local searches.

As Optuna's ``_gp/optim_mixed.py`` (and BoTorch's ``optimize_acqf_mixed_alternating`` for the discrete
part): score ``n_sweep`` scrambled-Sobol points without gradients; start ``R`` local searches from the
best of them and from points drawn by a roulette on exp(acq - max acq); each search alternates one
batched L-BFGS-B over the continuous columns (the R searches in one call, their sum as objective, as
BoTorch's batched restarts) with a coordinate pass over every discrete or categorical column (all its
values scored, the best kept), until no search moves.

Notations:
    d  columns; R local searches; N swept points
    cont / grid   continuous columns / columns with a finite set of values (integers, categoricals)

An acquisition may carry a numpy twin, ``acqf.numpy`` (``gp.acquisition.PlainLogEI``: ``values(x)`` and
``value_and_grad(x)`` on ``m x d`` arrays); the sweep and the local search then call it instead of torch
(and autograd), the same function to rounding. torch is imported inside the functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hpo_tasks.gp.types import SpaceInfo

N_SWEEP = 2048  # Optuna's; 256 (BoTorch's raw_samples) scored the same: results/2026-12-01-engine-fast-ab.md
ROUNDS = 3  # rounds of continuous (and discrete) moves, while a search still moves
MAX_GRID_SCAN = 256  # wider grids: the 64 evenly spaced values and the current value's 16 neighbours
CHUNK = 512  # points scored per batch without gradients (memory ~ CHUNK x n x d)
_MOVED = 1e-9  # an improvement smaller than this is no move


def _score(acqf: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    """Acquisition values of ``N x d`` points without gradients: ``N``."""
    import torch

    twin = getattr(acqf, "numpy", None)
    if twin is not None:
        return np.concatenate(
            [twin.values(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)] or [np.empty(0)]
        )
    out = []
    with torch.no_grad():
        for i in range(0, len(x), CHUNK):
            out.append(acqf(torch.as_tensor(x[i : i + CHUNK], dtype=torch.float64)).numpy())
    return np.concatenate(out) if out else np.empty(0)


def sweep_points(space: SpaceInfo, n: int, seed: int) -> np.ndarray:
    """``n x d`` scrambled-Sobol points on the space: categoricals as ``space.from_unit`` maps them,
    integer columns snapped to their grid."""
    from scipy.stats import qmc

    lo, hi = space.bounds  # (d,), (d,)
    d = len(lo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warnings
        u = qmc.Sobol(d, scramble=True, seed=seed).random(n)  # (n, d)
    u = np.clip(u, 0.0, 1.0 - 1e-12)
    x = lo + u * (hi - lo)
    for j, values in space.cat_dims.items():
        x[:, j] = np.floor(u[:, j] * len(values))
    for j, values in space.discrete_dims.items():
        x[:, j] = _snap(x[:, j], np.asarray(values, dtype=float))
    return x


def _snap(v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each value to the nearest value of a sorted grid."""
    i = np.clip(np.searchsorted(grid, v), 1, len(grid) - 1)
    left, right = grid[i - 1], grid[i]
    return np.where(v - left <= right - v, left, right)


def maximize(
    acqf: Callable[[Any], Any],
    space: SpaceInfo,
    *,
    seed: int,
    num_restarts: int = 8,
    n_sweep: int | None = None,
    maxiter: int = 100,
    starts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates best first, ``k x d``, and their acquisition values ``k``: the R local searches'
    ends, then the swept points (so a caller that rejects taken configurations has spares).

    ``acqf`` maps ``... x d`` tensors to ``...`` values (differentiable in the continuous columns).
    ``n_sweep``: the swept points, ``N_SWEEP`` when None (read at call time). ``starts``: ``s x d``
    points a local search also starts from (the incumbent), in place of the last ``s`` roulette draws.
    """
    rng = np.random.default_rng(seed)
    x = sweep_points(space, N_SWEEP if n_sweep is None else n_sweep, seed)  # (N, d)
    v = _score(acqf, x)  # (N,)
    best = int(np.argmax(v))
    probs = np.exp(v - v[best])
    probs[best] = 0.0
    extra = np.empty((0, x.shape[1])) if starts is None else np.asarray(starts, dtype=float)  # (s, d)
    k = min(num_restarts - 1 - len(extra), int(np.count_nonzero(probs > 0)))
    idx = [best]
    if k > 0:
        idx += rng.choice(len(x), size=k, replace=False, p=probs / probs.sum()).tolist()
    begin = np.concatenate([x[idx], extra])  # (R, d)
    ends, values = _local_search(
        acqf, space, begin, np.concatenate([v[idx], _score(acqf, extra)]), maxiter=maxiter
    )
    order = np.argsort(-values, kind="stable")
    rest = np.argsort(-v, kind="stable")[:256]
    return np.concatenate([ends[order], x[rest]]), np.concatenate([values[order], v[rest]])


def _local_search(
    acqf: Callable[[Any], Any], space: SpaceInfo, x: np.ndarray, v: np.ndarray, *, maxiter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate continuous and discrete moves from ``R x d`` starts with values ``R``."""
    grids = {j: np.asarray(g, dtype=float) for j, g in {**space.discrete_dims, **space.cat_dims}.items()}
    cont = [j for j in range(x.shape[1]) if j not in grids]
    for _ in range(ROUNDS):
        before = v.copy()
        if cont:
            x, v = _continuous_step(acqf, space, x, v, cont, maxiter=maxiter)
        for j, grid in grids.items():
            x, v = _grid_step(acqf, x, v, j, grid)
        # another round while any search moved: a fresh L-BFGS-B from the ends also finishes searches
        # that the joint run stopped early (its convergence test is on the sum of the R values)
        if not np.any(v > before + _MOVED):
            break
    return x, v


def _continuous_step(
    acqf: Callable[[Any], Any],
    space: SpaceInfo,
    x: np.ndarray,
    v: np.ndarray,
    cont: list[int],
    *,
    maxiter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One batched L-BFGS-B over the continuous columns of the R searches; a search keeps its start
    where the run did not improve it."""
    import torch
    from scipy.optimize import minimize

    base = torch.as_tensor(x, dtype=torch.float64)  # (R, d)
    r, c = len(x), len(cont)
    cols = torch.as_tensor(cont)
    lo, hi = space.bounds[0][cont], space.bounds[1][cont]

    twin = getattr(acqf, "numpy", None)

    def twin_fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        assert twin is not None
        xs = x.copy()
        xs[:, cont] = z.reshape(r, c)
        values, grad = twin.value_and_grad(xs)  # (R,), (R, d)
        return -float(values.sum()), -grad[:, cont].reshape(-1)

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        zt = torch.tensor(z.reshape(r, c), dtype=torch.float64, requires_grad=True)
        xt = base.index_copy(1, cols, zt)  # (R, d)
        loss = -acqf(xt).sum()
        (grad,) = torch.autograd.grad(loss, zt)
        return loss.item(), grad.numpy().reshape(-1).copy()

    res = minimize(
        fun if twin is None else twin_fun,
        x[:, cont].reshape(-1),
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(np.tile(lo, r), np.tile(hi, r), strict=True)),
        options={"maxiter": maxiter},
    )
    new = x.copy()
    new[:, cont] = np.clip(res.x.reshape(r, c), lo, hi)
    nv = _score(acqf, new)
    keep = nv > v
    return np.where(keep[:, None], new, x), np.where(keep, nv, v)


def _grid_step(
    acqf: Callable[[Any], Any], x: np.ndarray, v: np.ndarray, j: int, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move each search to the best value of column ``j`` (its whole grid, or for a wide grid 64
    evenly spaced values and the 16 nearest the current one), the other columns fixed."""
    r = len(x)
    if len(grid) <= MAX_GRID_SCAN:
        options = np.broadcast_to(grid, (r, len(grid)))
    else:
        spaced = grid[np.linspace(0, len(grid) - 1, 64).round().astype(int)]
        rows = []
        for i in range(r):
            at = int(np.argmin(np.abs(grid - x[i, j])))
            near = grid[max(0, at - 8) : at + 9]
            rows.append(np.concatenate([spaced, near, np.full(17 - len(near), near[0])]))
        options = np.stack(rows)
    cand = np.repeat(x[:, None, :], options.shape[1], axis=1)  # (R, k, d)
    cand[:, :, j] = options
    cv = _score(acqf, cand.reshape(-1, x.shape[1])).reshape(r, -1)  # (R, k)
    pick = np.argmax(cv, axis=1)
    nv = cv[np.arange(r), pick]
    keep = nv > v + _MOVED
    out = x.copy()
    out[keep] = cand[np.arange(r), pick][keep]
    return out, np.where(keep, nv, v)
