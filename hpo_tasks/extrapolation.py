"""Stop a trial that cannot beat the best: a rung-to-final regression on the complete trials
(``pruner.beat_probability``; docs/features/multi-fidelity.md).

Hyperband and successive halving keep the top 1 / eta of the trials that reached a rung. When the sampler
improves as a sweep goes on, most new trials rank high against the history of the rung, so the rungs stop
few of them late in a sweep and most are trained to ``max_resource`` without a chance of beating the best.
This rule adds what learning-curve extrapolation does (Domhan et al., IJCAI 2015: stop a run when the
probability that it beats the best so far is below a threshold), with the simplest model that can be
checked from the trials: a straight line from a trial's value at a rung to its final value.

Notation (values in the maximised sign, ``sign * value``):
    s         a rung below R: ``min_resource * eta^k`` (the base pruner's decision points)
    (u_i, v_i) the COMPLETE trials that reported s: their value at s and their final value, n of them
    v*        the best final value of any COMPLETE trial (the incumbent)
    u         the judged trial's value at s

Model: v = a + b u + e, e ~ N(0, sigma^2), least squares on (u_i, v_i). Selecting the trials that reached
R on their value at s (the rungs' promotions) selects on the regressor, which leaves the fitted line of the
conditional mean unbiased. The predictive distribution of the judged trial's final value is Student's t
with n - 2 degrees of freedom, centre a + b u, scale sigma sqrt(1 + 1/n + (u - ubar)^2 / Sxx). The trial is
stopped when P(v > v*) < ``threshold``. No decision (the base pruner's alone) with fewer than
``MIN_PAIRS`` pairs, a slope b <= 0 (the rung does not rank the finals), or a degenerate fit: a rung that
ranks final values badly gives a wide predictive distribution and stops nothing, one that ranks them well
stops the hopeless trials early.

Every input is in the shared storage (intermediate values, final values), so every task process reaches
the same decision, and a retried trial task is not judged again at a step it reported
(``pruning.Reporter``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

MIN_PAIRS = 5  # complete trials with a value at the rung before the rule decides anything
PROBABILITY_ATTR = "beat_probability"  # trial user attr: the probability at the step the rule stopped it
__all__ = [
    "MIN_PAIRS",
    "PROBABILITY_ATTR",
    "HalvingStopHopeless",
    "HyperbandStopHopeless",
    "StopHopeless",
    "beat_probability",
    "hopeless",
    "rising_line",
    "rungs",
]


def rungs(min_resource: int, reduction_factor: int, max_resource: int) -> frozenset[int]:
    """The decision steps below R: ``min_resource * eta^k`` (every bracket's rungs are among them)."""
    out, s = set(), min_resource
    while s < max_resource:
        out.add(s)
        s *= reduction_factor
    return frozenset(out)


def rising_line(pairs: np.ndarray, min_pairs: int = MIN_PAIRS) -> tuple[float, float, float, float] | None:
    """The least-squares line y = a + b x through ``pairs`` (``n x 2``: x, y) as ``(a, b, xbar, Sxx)``;
    None with fewer than ``min_pairs`` pairs, no spread in x, or a slope b <= 0."""
    if len(pairs) < min_pairs:
        return None
    x, y = pairs[:, 0], pairs[:, 1]  # (n,), (n,)
    xbar, ybar = float(x.mean()), float(y.mean())
    sxx = float(((x - xbar) ** 2).sum())
    if sxx <= 0.0:
        return None
    b = float(((x - xbar) * (y - ybar)).sum()) / sxx
    if not b > 0.0:
        return None
    return ybar - b * xbar, b, xbar, sxx


def beat_probability(u: float, pairs: np.ndarray, best: float) -> float | None:
    """P(final > ``best``) for a trial at ``u``, from ``pairs`` (``n x 2``: value at the rung, final
    value; maximised sign); None where the model does not apply (see the module doc)."""
    from scipy import stats

    line = rising_line(pairs)
    if line is None:
        return None
    a, b, xbar, sxx = line
    n = len(pairs)
    x, y = pairs[:, 0], pairs[:, 1]  # (n,), (n,)
    resid = y - (a + b * x)  # (n,)
    sigma2 = float((resid**2).sum()) / (n - 2)
    scale = math.sqrt(sigma2 * (1.0 + 1.0 / n + (u - xbar) ** 2 / sxx))
    centre = a + b * u
    if scale <= 0.0:
        return 1.0 if centre > best else 0.0
    return float(stats.t.sf((best - centre) / scale, df=n - 2))


def _pairs(complete: list[FrozenTrial], step: int, sign: float) -> np.ndarray:
    rows = [
        (sign * float(t.intermediate_values[step]), sign * float(t.value))
        for t in complete
        if t.value is not None
        and step in t.intermediate_values
        and math.isfinite(t.intermediate_values[step])
        and math.isfinite(t.value)
    ]
    return np.array(rows, dtype=float).reshape(-1, 2)  # (n, 2)


def hopeless(
    study: optuna.Study,
    trial: FrozenTrial,
    *,
    threshold: float,
    steps: frozenset[int],
    max_resource: int,
    note: Callable[[optuna.Study, int, str, Any], None] | None = None,
) -> bool:
    """Whether the rule of the module doc stops ``trial`` at its last step; ``note(study, trial_id, key,
    value)`` records its probability as user attr ``PROBABILITY_ATTR`` when it does
    (``record.set_trial_user_attr``, passed in by ``record.make_pruner``)."""
    from optuna.trial import TrialState

    step = trial.last_step
    if step is None or step >= max_resource or step not in steps:
        return False
    u = trial.intermediate_values[step]
    if not math.isfinite(u):
        return False
    sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    finals = [sign * float(t.value) for t in complete if t.value is not None and math.isfinite(t.value)]
    if not finals:
        return False
    p = beat_probability(sign * float(u), _pairs(complete, step, sign), max(finals))
    if p is None or p >= threshold:
        return False
    if note is not None:
        note(study, trial._trial_id, PROBABILITY_ATTR, round(p, 6))
    return True


class StopHopeless:
    """A pruner mixin: the base pruner first (successive halving records its rungs as it decides), then
    ``hopeless``. Mixed into Optuna's own classes, so Optuna still treats a Hyperband pruner as one
    (``optuna.pruners._filter_study``'s bracket view; it filters ``get_trials`` only, and the samplers,
    ours included, read ``_get_trials``: every bracket's trials)."""

    _beat: tuple[float, frozenset[int], int, Callable[..., None] | None] | None = None  # set_rule's

    def set_rule(
        self,
        threshold: float,
        steps: frozenset[int],
        max_resource: int,
        note: Callable[[optuna.Study, int, str, Any], None] | None = None,
    ) -> None:
        """Turn the rule on (``note``: how a stop is recorded, see ``hopeless``)."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"beat_probability must be in (0, 1) (got {threshold})")
        self._beat = (float(threshold), steps, int(max_resource), note)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if super().prune(study, trial):  # type: ignore[misc]
            return True
        if self._beat is None:
            return False
        threshold, steps, top, note = self._beat
        return hopeless(study, trial, threshold=threshold, steps=steps, max_resource=top, note=note)


class HyperbandStopHopeless(StopHopeless, optuna.pruners.HyperbandPruner):
    """Hyperband (``optuna.pruners.HyperbandPruner``'s arguments), plus ``hopeless`` once ``set_rule``."""


class HalvingStopHopeless(StopHopeless, optuna.pruners.SuccessiveHalvingPruner):
    """Successive halving (``SuccessiveHalvingPruner``'s arguments), plus ``hopeless`` once ``set_rule``."""
