"""Combined stopping rule: trial budget, wall-clock budget, no improvement for ``patience`` trials.

A pure function of the study's history so the gate task, ``hpo run`` and the tests share one rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BUDGET = "max_trials"
WALLCLOCK = "max_minutes"
PATIENCE = "patience"


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str | None  # one of BUDGET, WALLCLOCK, PATIENCE when stop is True
    detail: str
    n_next: int  # trials the next round may ask for (0 when stopping)


def decide_stop(
    *,
    values: Sequence[float | None],
    n_running: int,
    maximize: bool,
    max_trials: int,
    batch_size: int,
    n_init: int,
    elapsed_seconds: float,
    max_minutes: float | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
) -> StopDecision:
    """Decide whether a sweep stops before its next round.

    Args:
        values: objective values of finished trials in trial-number order; ``None`` marks a failed or
            pruned one. Both count against ``max_trials`` (a pruned trial is one trial of the budget:
            pruning saves epochs and wall clock, not trials) but never as improvement, nor towards
            ``patience``, which counts completed trials only.
        n_running: trials asked but not finished (they hold budget).
        n_init: completed seed trials that do not count towards ``patience``.
    """
    n_finished = len(values)
    if n_finished >= max_trials:
        return StopDecision(True, BUDGET, f"{n_finished} of {max_trials} trials finished", 0)
    if max_minutes is not None and elapsed_seconds >= 60.0 * max_minutes:
        return StopDecision(
            True, WALLCLOCK, f"{elapsed_seconds / 60:.1f} min elapsed, budget {max_minutes:g} min", 0
        )
    if patience is not None:
        stale = trials_without_improvement(values, maximize=maximize, n_init=n_init, min_delta=min_delta)
        if stale >= patience:
            return StopDecision(
                True,
                PATIENCE,
                f"no improvement larger than {min_delta:g} in the last {stale} completed trials "
                f"(patience {patience})",
                0,
            )
    n_next = min(batch_size, max_trials - n_finished - n_running)
    if n_next <= 0:
        return StopDecision(True, BUDGET, f"remaining budget is held by {n_running} running trials", 0)
    return StopDecision(False, None, f"next round asks {n_next} trial(s)", n_next)


def trials_without_improvement(
    values: Sequence[float | None], *, maximize: bool, n_init: int, min_delta: float = 0.0
) -> int:
    """Completed trials after the seed phase since the best last improved by more than ``min_delta``."""
    best = -math.inf
    n_complete = 0
    stale = 0
    for v in values:
        if v is None or not math.isfinite(v):
            continue
        n_complete += 1
        y = v if maximize else -v
        if best == -math.inf or y > best + min_delta:  # Keras EarlyStopping semantics
            best = y
            stale = 0
        elif n_complete > n_init:
            stale += 1
    return stale
