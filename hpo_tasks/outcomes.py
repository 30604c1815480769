"""What a trial's objective returned, and what a sweep makes of it: several objectives, outcome
constraints, feasibility, the Pareto front, hypervolume and its reference point.

Notations:
    n  completed trials
    m  objectives (``objectives`` in the sweep file; 1 for a ``direction`` sweep)
    k  outcome constraints (``constraints``)

Losses are objective values turned into minimisation (``-v`` for a maximised metric): the Pareto front
and the hypervolume are computed on them, as Optuna does. Feasibility is Optuna's: a trial is feasible
when every constraint value (the *slack*, ``metric - bound`` for ``<=``, ``bound - metric`` for ``>=``)
is ``<= 0``. Slacks are stored in the trial's system attr ``constraints`` (the format Optuna's own
``constraints_func`` writes), so ``study.best_trial``, ``study.best_trials``, TPE and GPSampler agree.

Reference point (hypervolume): the sweep's ``reference_point`` when set; otherwise inferred once, when
the first round with a feasible completed trial is recorded (normally the seed round), as the worst
feasible value of each objective minus 10 % of its observed range (Ishibuchi et al. 2011's 0.1, the
rule of BoTorch's ``infer_reference_point`` applied to all seed observations), then pinned on the study
so that every round's hypervolume is measured against the same point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks.config import SweepConfig
from hpo_tasks.record import CONSTRAINTS_KEY, FEASIBLE_ATTR, METRICS_ATTR, REFERENCE_ATTR

__all__ = ["CONSTRAINTS_KEY", "FEASIBLE_ATTR", "METRICS_ATTR", "REFERENCE_ATTR"]  # (and the rules below)
REFERENCE_SCALE = 0.1


class OutcomeError(ValueError):
    """The objective's return does not fit the sweep (missing metric, a float where names are needed,
    a non-finite value): the trial fails with this message."""


@dataclass(frozen=True)
class Outcome:
    """A trial's result as the sweep sees it."""

    values: list[float]  # (m,) what Optuna is told, in objective order
    metrics: dict[str, float]  # every named metric (empty when the objective returned a float)
    slacks: list[float] | None  # (k,) constraint values, <= 0 feasible; None without constraints

    @property
    def feasible(self) -> bool | None:
        return None if self.slacks is None else all(s <= 0 for s in self.slacks)


def interpret(raw: Any, cfg: SweepConfig) -> Outcome:
    """Turn what the objective returned (a float or a mapping of named metrics) into the sweep's outcome.

    Raises ``OutcomeError`` with the field to fix when the return does not fit the sweep (the trial fails).
    """
    metrics: dict[str, float] = {}
    if isinstance(raw, Mapping):
        for key, v in raw.items():
            try:
                metrics[str(key)] = float(v)
            except (TypeError, ValueError):
                raise OutcomeError(f"metric '{key}' is not a number (got {v!r})") from None
    elif cfg.objectives or cfg.constraints:
        need = [o.metric for o in cfg.objectives or ()] + [c.metric for c in cfg.outcome_constraints]
        raise OutcomeError(
            f"the objective returned a single number but the sweep needs named metrics {need}: "
            f"return a mapping like {{'{need[0]}': ...}}"
        )
    if cfg.objectives:
        values = [_pick(metrics, o.metric, f"objectives.{i}.metric") for i, o in enumerate(cfg.objectives)]
    elif isinstance(raw, Mapping):
        if cfg.objective.metric is None:
            raise OutcomeError(
                f"the objective returned metrics {sorted(metrics)}: name the score with objective.metric"
            )
        values = [_pick(metrics, cfg.objective.metric, "objective.metric")]
    else:
        values = [float(raw)]
    bad = [f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v)]
    bad += [str(v) for v in values if not math.isfinite(v)] if not bad else []
    if bad:
        raise OutcomeError(f"objective returned {', '.join(bad)}")
    slacks = None
    if cfg.constraints:
        slacks = [
            c.slack(_pick(metrics, c.metric, f"constraints.{i} ('{c.text}')"))
            for i, c in enumerate(cfg.outcome_constraints)
        ]
    return Outcome(values, metrics, slacks)


def _pick(metrics: Mapping[str, float], name: str, field: str) -> float:
    if name not in metrics:
        raise OutcomeError(
            f"{field} names metric '{name}' but the objective returned {sorted(metrics)}; "
            f"return it or fix {field}"
        )
    return metrics[name]


# -- trials -----------------------------------------------------------------------------------------


def is_feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0.0 for v in trial.constraints.values())


def feasible_complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.values and is_feasible(t)),
        key=lambda t: t.number,
    )


def losses(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> np.ndarray:
    """``n x m`` objective values turned into minimisation."""
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    if not trials:
        return np.zeros((0, len(directions)))
    return np.array([t.values for t in trials], dtype=float) * sign


def non_dominated(loss: np.ndarray) -> np.ndarray:
    """``n`` mask of the points no other point dominates (<= everywhere, < somewhere)."""
    n = len(loss)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated_by = np.all(loss <= loss[i], axis=1) & np.any(loss < loss[i], axis=1)
        keep[i] = not dominated_by.any()
    return keep


def pareto_trials(trials: Sequence[FrozenTrial], cfg: SweepConfig) -> list[FrozenTrial]:
    """The Pareto set: feasible completed trials that no other feasible one dominates, by number."""
    ok = feasible_complete(trials)
    mask = non_dominated(losses(ok, cfg.directions))
    return [t for t, keep in zip(ok, mask, strict=True) if keep]


def hypervolume(loss: np.ndarray, ref_loss: np.ndarray) -> float:
    """Hypervolume dominated by ``loss`` (``n x m``, minimised) and bounded by ``ref_loss`` (``m``)."""
    from optuna._hypervolume import compute_hypervolume

    inside = loss[np.all(loss < ref_loss, axis=1)] if len(loss) else loss
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, ref_loss))


def infer_reference_point(loss: np.ndarray, scale: float = REFERENCE_SCALE) -> np.ndarray:
    """Worst value of each objective plus ``scale`` times its range, in loss space: ``n x m -> m``.
    A zero range (one point) steps back by ``scale`` of the value's magnitude (1 at zero)."""
    worst, best = loss.max(axis=0), loss.min(axis=0)
    span = worst - best
    span = np.where(span > 0, span, np.maximum(np.abs(worst), 1.0))
    return worst + scale * span


def to_loss(point: Mapping[str, float], cfg: SweepConfig) -> np.ndarray:
    assert cfg.objectives
    return np.array(
        [-point[o.metric] if o.direction == "maximize" else point[o.metric] for o in cfg.objectives]
    )


def from_loss(ref_loss: np.ndarray, cfg: SweepConfig) -> dict[str, float]:
    assert cfg.objectives
    return {
        o.metric: float(-v if o.direction == "maximize" else v)
        for o, v in zip(cfg.objectives, ref_loss, strict=True)
    }


def reference_point(
    cfg: SweepConfig, trials: Sequence[FrozenTrial], pinned: Mapping[str, float] | None
) -> tuple[dict[str, float] | None, str]:
    """The reference point (metric units) and where it came from: ``configured``, ``inferred`` (pinned
    on the study) or ``provisional`` (inferred now, not pinned yet); None without feasible trials."""
    if cfg.reference_point:
        return dict(cfg.reference_point), "configured"
    if pinned:
        return dict(pinned), "inferred"
    ok = feasible_complete(trials)
    if not ok:
        return None, "none"
    return from_loss(infer_reference_point(losses(ok, cfg.directions)), cfg), "provisional"


def hypervolume_history(
    trials: Sequence[FrozenTrial], cfg: SweepConfig, ref: Mapping[str, float]
) -> list[float | None]:
    """After each finished trial, in number order: the hypervolume of the feasible completed trials
    so far; None for a failed or infeasible trial (never an improvement)."""
    ref_loss = to_loss(ref, cfg)
    out: list[float | None] = []
    seen: list[FrozenTrial] = []
    for t in sorted(trials, key=lambda t: t.number):
        if not t.state.is_finished():
            continue
        if t.state == TrialState.COMPLETE and is_feasible(t):
            seen.append(t)
            out.append(hypervolume(losses(seen, cfg.directions), ref_loss))
        else:
            out.append(None)
    return out


def ranked(trials: Sequence[FrozenTrial], cfg: SweepConfig) -> list[FrozenTrial]:
    """One objective: the feasible completed trials with a finite value, best first (the lower trial
    number first on a tie). The single-trial half of the one "best" rule (``hpo_tasks.summary``)."""
    ok = [t for t in feasible_complete(trials) if len(t.values) == 1 and math.isfinite(t.values[0])]
    return sorted(ok, key=lambda t: (-cfg.sign * t.values[0], t.number))


def best_trial(trials: Sequence[FrozenTrial], cfg: SweepConfig) -> FrozenTrial | None:
    """One objective: the best feasible completed trial (None when none is feasible)."""
    ok = ranked(trials, cfg)
    return ok[0] if ok else None
