"""Trust-region BO (TuRBO-1, Eriksson et al. 2019, "Scalable Global Optimization via Local Bayesian
Optimization"), as in BoTorch's TuRBO tutorial, for high-dimensional sweeps (``sampler.trust_region``).

Notations:
    d  encoded width of the search space (one column per parameter, ``hpo_tasks.space``)
    q  trials per round (``budget.batch_size``)
    L  the region's base side length, in encoded units (columns span [0, 1])
    w  per-column weights from the GP's ARD lengthscales, geometric mean 1

The region is a box centred on the best observation of the current restart, side ``w_i * L`` along each
ordinal column (float, int, power of two), clipped to the space; categorical columns stay unrestricted.
The acquisition (``sampler.acquisition``, qLogNEI by default, pending points included) is optimised inside
that box only. After each batch of trials: ``success_tolerance`` consecutive batches that improve on the
best (by more than 1e-3 relative) double L (up to 1.6); ``failure_tolerance`` = ceil(max(4, d) / q)
consecutive batches that do not halve it; below 0.5^7 the run restarts: a fresh seed design (Sobol, seeded
by the restart count) and a GP fitted on the new restart's observations only, as in the paper.

State across tasks and processes: none is stored. ``replay`` re-derives the state from the study's trial
history (which trials were asked together, in what order, with what outcome), so every suggest task, a
retried one included, sees the same region for the same history. A batch is the set of trials asked while
the same number of trials was complete (the sampler records that count on each trial as ``n_observed``);
failed trials carry no outcome and are left out; running ones are pending points.

Only numpy here: the engine applies the region (``restrict``), the sampler feeds the history.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpo_tasks.gp.types import SpaceInfo

LENGTH_INIT = 0.8
LENGTH_MIN = 0.5**7
LENGTH_MAX = 1.6
SUCCESS_TOLERANCE = 3  # the paper's value; BoTorch's tutorial uses 10 for budgets of thousands
IMPROVEMENT = 1e-3  # relative margin a batch's best must clear to count as a success


@dataclass(frozen=True)
class TrustRegionSettings:
    """The state machine's constants for one sweep. ``n_init``: seed trials per restart."""

    dim: int
    batch_size: int
    n_init: int
    success_tolerance: int = SUCCESS_TOLERANCE
    failure_tolerance: int | None = None  # None: ceil(max(4, d) / q), the tutorial's rule
    length_init: float = LENGTH_INIT  # L of a new restart

    def __post_init__(self) -> None:
        for name in ("dim", "batch_size", "n_init", "success_tolerance"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if not LENGTH_MIN <= self.length_init <= LENGTH_MAX:
            raise ValueError(f"length_init must be in [{LENGTH_MIN}, {LENGTH_MAX}] (got {self.length_init})")
        if self.failure_tolerance is None:
            tol = math.ceil(max(4.0 / self.batch_size, self.dim / self.batch_size))
            object.__setattr__(self, "failure_tolerance", tol)
        elif self.failure_tolerance < 1:
            raise ValueError(f"failure_tolerance must be at least 1 (got {self.failure_tolerance})")


@dataclass(frozen=True)
class TrustRegionState:
    """Where the region stands after the batches replayed so far (values: larger is better)."""

    length: float = LENGTH_INIT
    successes: int = 0  # consecutive improving batches
    failures: int = 0  # consecutive non-improving batches
    restarts: int = 0
    best: float = -math.inf  # best value of the current restart
    best_number: int | None = None  # the trial that holds it: the region's centre
    n_epoch: int = 0  # completed trials in the current restart
    epoch_after: int = -1  # batch key after which the current restart's trials start

    def info(self) -> dict[str, float | int]:
        """What the sampler records per suggest step (logged as ``gp.tr_*`` on the parent run)."""
        return {
            "tr_length": round(self.length, 6),
            "tr_successes": self.successes,
            "tr_failures": self.failures,
            "tr_restarts": self.restarts,
        }


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the replay sees it: ``batch`` = the number of complete trials when it was asked
    (None when unknown), ``value`` = its outcome, larger is better (None unless complete and finite)."""

    number: int
    batch: int | None
    value: float | None


@dataclass(frozen=True)
class Region:
    """The box the engine searches: centred on ``center`` (``d``, encoded), base side ``length``."""

    center: np.ndarray
    length: float


def step(
    state: TrustRegionState, batch: Sequence[tuple[int, float]], *, key: int, settings: TrustRegionSettings
) -> TrustRegionState:
    """One batch of outcomes ``[(trial number, value)]`` (asked at batch ``key``) -> the next state."""
    if not batch:
        return state
    number, value = max(batch, key=lambda nv: (nv[1], -nv[0]))  # best, earliest on ties
    n_epoch = state.n_epoch + len(batch)
    better = value > state.best
    best, best_number = (value, number) if better else (state.best, state.best_number)
    if state.n_epoch < settings.n_init:  # the restart's seed design: sets the best, no verdict
        return dataclasses.replace(state, best=best, best_number=best_number, n_epoch=n_epoch)
    length, successes, failures = state.length, state.successes, state.failures
    if value > state.best + IMPROVEMENT * abs(state.best):
        successes, failures = successes + 1, 0
    else:
        successes, failures = 0, failures + 1
    if successes == settings.success_tolerance:
        length, successes = min(2.0 * length, LENGTH_MAX), 0
    elif failures == settings.failure_tolerance:
        length, failures = length / 2.0, 0
    if length < LENGTH_MIN:
        return TrustRegionState(length=settings.length_init, restarts=state.restarts + 1, epoch_after=key)
    return dataclasses.replace(
        state,
        length=length,
        successes=successes,
        failures=failures,
        best=best,
        best_number=best_number,
        n_epoch=n_epoch,
    )


def replay(records: Iterable[TrialRecord], *, settings: TrustRegionSettings) -> TrustRegionState:
    """The state after every batch of ``records``, in the order the batches were asked.

    A record without a batch key is taken as asked once every lower-numbered complete trial had finished
    (sequential use, or trials added to the study by hand).
    """
    groups: dict[int, list[tuple[int, float]]] = {}
    n_complete = 0
    for r in sorted(records, key=lambda r: r.number):
        key = r.batch if r.batch is not None else n_complete
        if r.value is not None and math.isfinite(r.value):
            groups.setdefault(key, []).append((r.number, float(r.value)))
            n_complete += 1
    state = TrustRegionState(length=settings.length_init)
    for key in sorted(groups):
        if key > state.epoch_after:
            state = step(state, groups[key], key=key, settings=settings)
    return state


def epoch_numbers(records: Iterable[TrialRecord], state: TrustRegionState) -> set[int]:
    """Trial numbers (any state) that belong to the current restart."""
    out: set[int] = set()
    n_complete = 0
    for r in sorted(records, key=lambda r: r.number):
        key = r.batch if r.batch is not None else n_complete
        if key > state.epoch_after:
            out.add(r.number)
        if r.value is not None and math.isfinite(r.value):
            n_complete += 1
    return out


def restrict(space: SpaceInfo, region: Region, lengthscales: Mapping[str, float]) -> SpaceInfo:
    """The part of ``space`` inside the region: narrowed bounds and integer grids.

    Side along ordinal column i: ``w_i * L`` with ``w`` the ARD lengthscales over their mean, rescaled to
    geometric mean 1 (the tutorial's weighting: the box is longer where the objective varies slowly).
    Integer grids keep their values inside the box, at least the centre's value and one neighbour each
    side, so a region never pins a column to a single value.
    """
    lo, hi = (np.asarray(b, dtype=np.float64) for b in space.bounds)  # (d,), (d,)
    center = np.asarray(region.center, dtype=np.float64)  # (d,)
    dims = [i for i in range(len(lo)) if i not in space.cat_dims]
    if not dims:
        return space
    ls = np.array([float(lengthscales.get(space.names[i], 1.0)) for i in dims])  # (k,)
    ls = np.where(np.isfinite(ls) & (ls > 0), ls, 1.0)
    w = ls / ls.mean()
    w = w / np.exp(np.mean(np.log(w)))  # geometric mean 1: the box keeps volume L^k
    half = 0.5 * region.length * w * (hi[dims] - lo[dims])  # (k,)
    new_lo, new_hi = lo.copy(), hi.copy()
    new_lo[dims] = np.clip(center[dims] - half, lo[dims], hi[dims])
    new_hi[dims] = np.clip(center[dims] + half, lo[dims], hi[dims])
    grids: dict[int, Sequence[float]] = {}
    for i, values in space.discrete_dims.items():
        vals = sorted(values)
        inside = [v for v in vals if new_lo[i] - 1e-9 <= v <= new_hi[i] + 1e-9]
        c = int(np.argmin([abs(v - center[i]) for v in vals]))
        inside = sorted({*inside, *vals[max(c - 1, 0) : c + 2]})
        grids[i] = inside
        new_lo[i], new_hi[i] = inside[0], inside[-1]
    return dataclasses.replace(space, bounds=np.stack([new_lo, new_hi]), discrete_dims=grids)


def perturbation_set(space: SpaceInfo, region: Region, *, n: int, seed: int) -> np.ndarray:
    """Thompson sampling's candidates in the region, as in the TuRBO tutorial: ``n x d``.

    Each candidate is the centre with a random subset of its columns (each with probability
    ``min(1, 20 / d)``, at least one) replaced by a scrambled-Sobol point of the region (``space``: the
    region, from ``restrict``); categorical columns take a uniformly drawn choice. High-dimensional
    candidates thus stay near the incumbent along most axes. Integer columns are snapped onto their grids;
    the engine rounds the chosen candidate onto a valid configuration.
    """
    from scipy.stats import qmc

    lo, hi = (np.asarray(b, dtype=np.float64) for b in space.bounds)  # (d,), (d,)
    d = len(lo)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of two
        u = qmc.Sobol(d, scramble=True, seed=rng).random(n)  # (n, d)
    pert = lo + (hi - lo) * u  # (n, d)
    for i in space.cat_dims:
        pert[:, i] = np.floor(u[:, i] * (hi[i] + 1 - 1e-9))  # choices 0 .. k-1
    mask = rng.random((n, d)) <= min(1.0, 20.0 / d)  # (n, d)
    empty = ~mask.any(axis=1)
    mask[empty, rng.integers(0, d, size=int(empty.sum()))] = True
    cand = np.where(mask, pert, np.asarray(region.center, dtype=np.float64)[None, :])  # (n, d)
    for i, values in space.discrete_dims.items():  # snap integer columns onto the region's grid
        grid = np.asarray(sorted(values))
        cand[:, i] = grid[np.abs(cand[:, i, None] - grid[None, :]).argmin(axis=1)]
    return cand
