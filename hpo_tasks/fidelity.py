"""Multi-fidelity training data: what the GP learns from pruned trials (``pruner.model`` of a sweep file).

Notation:
    s        a step a trial reported: the resource used so far (epoch, boosting round), 1 .. R
    R        ``max_resource``, the last step; a COMPLETE trial's value is its value at R
    y_t(s)   trial t's reported value at step s (``FrozenTrial.intermediate_values``), maximised sign
    n(s)     trials (COMPLETE or PRUNED) with a value at s; COMPLETE trials count at R
    m        ``min_points``: d + 1, d the encoded width of the search space (BOHB's N_min)

Models (docs/features/multi-fidelity.md):

``standin`` (default, unchanged): COMPLETE trials at their final value, each PRUNED trial at a stand-in
final value by quantile mapping at its last step (``pruned_values`` below).

``rungs`` (BOHB's rule, Falkner et al., ICML 2018): the GP is fitted at one resource level, the level
L = max{s : n(s) >= m} (R once m trials are COMPLETE; the most observed level while no level has m).
Every trial that reached L enters at y_t(L), whatever its later fate (pruned above L or complete);
a trial stopped below L enters at a stand-in value at L by the same quantile mapping, onto the values
of the trials that reached L (``drop_below=True``: left out, BOHB's original rule). RUNNING trials stay
pending points (the sampler's). As COMPLETE results accumulate, L moves up to R, where the data are
``standin``'s but with the stand-ins mapped from the trials' own rung peers. Everything is read from
the trials (the shared Optuna storage), so every task process rebuilds the same level and data.

``line`` (``rungs`` with a calibrated map below the level): the same level and the same values for the
trials that reached it; a trial stopped below L at step s enters at a + b y_t(s), the least-squares line
from the values at s to the values at L of the level's trials that reported both (at least
``LINE_MIN_PAIRS``, slope b > 0; else the quantile stand-in), capped at the level's best. The quantile map
gives every trial that ranks below the level's trials at s the same value (their worst, at the cap's
other end); the line keeps how far below each one is, which is what a rung that ranks configurations well
(the rule ``pruner.beat_probability`` trusts, ``hpo_tasks.extrapolation``) knows about them.

``joint`` (a joint model over (configuration, resource), the principled form of Wu et al., UAI 2019 /
MOBSTER): a fidelity GP, BoTorch's ``SingleTaskMultiFidelityGP`` over (x scaled to the unit cube, s / R),
is fitted to every reported step of every finished trial (COMPLETE and PRUNED; at most
``JOINT_MAX_ROWS`` rows, the highest steps first); COMPLETE trials enter the sweep's GP at their final
value, each PRUNED trial at the fidelity GP's posterior mean at (x_t, 1), its predicted final value.
The acquisition is the sweep's, on x at R (no cost-aware acquisition). The fit is seeded (torch seed 0)
and reads only the trials, so a retried task rebuilds the same data; a failed fit falls back to the
``standin`` values (noted as ``joint_error`` in the suggest info).

The compute figures (``resource_used``: steps trained in all; ``resource_unpruned``: the same trials
each trained to R) come from the same trials; see ``resource_of``. What a trial spent depends on how its
objective trains (``spend_rule``): ``last_step`` (default: one model trained on, epochs or boosting rounds,
so the resource used is the last step reached) or ``sum_of_steps`` (a fresh fit per reported step, data-
subset levels: the sum of the steps it trained, which ``hpo_tasks.pruning.Reporter`` writes on the trial as
user attr ``SPENT_ATTR``; declared with ``@fresh_fit_per_step``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from hpo_tasks.config import SweepConfig

MODELS = ("standin", "rungs", "line", "joint")
LINE_MIN_PAIRS = 5  # line: trials with values at both steps before the line replaces the quantile map
RUNGS_SEED_TRIALS = 3  # rungs, joint: COMPLETE trials before the GP starts (unless budget.n_init is set)
JOINT_MAX_ROWS = 400  # joint: (configuration, step) rows the fidelity GP fits at most (latest steps kept)
SPEND_RULES = ("last_step", "sum_of_steps")  # how an objective spends its resource (``spend_rule``)
SPENT_ATTR = "resource_spent"  # trial user attr: the resource spent, where the objective fits afresh per step
__all__ = [
    "MODELS",
    "RUNGS_SEED_TRIALS",
    "SPEND_RULES",
    "SPENT_ATTR",
    "TrainingData",
    "TrainingRule",
    "compute_figures",
    "fresh_fit_per_step",
    "resource_of",
    "seed_trials",
    "spend_rule",
    "training_rule",
]


def seed_trials(cfg: SweepConfig) -> int:
    """COMPLETE trials of the seed design before the GP starts. ``rungs`` lowers the default
    (``min(n_init, RUNGS_SEED_TRIALS)``): its GP can start on the low rungs, where the pruned trials of
    the seed design already give d + 1 values (BOHB starts its model there); ``budget.n_init`` wins."""
    if (
        cfg.pruner.name != "none"
        and cfg.pruner.model in ("rungs", "line", "joint")
        and cfg.budget.n_init is None
    ):
        return min(cfg.n_init, RUNGS_SEED_TRIALS)
    return cfg.n_init


@dataclass(frozen=True)
class TrainingData:
    """The trials the GP trains on and their values (maximised sign), at ``level`` (None: final values,
    which a warm start's prior observations can join)."""

    trials: list[FrozenTrial]
    y: np.ndarray  # (n,)
    level: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


TrainingRule = Callable[..., TrainingData]


def training_rule(
    model: str = "standin",
    *,
    max_resource: int | None = None,
    drop_below: bool = False,
    encode: Callable[[Any], np.ndarray] | None = None,
    bounds: np.ndarray | None = None,
) -> TrainingRule:
    """``rule(complete, pruned, *, sign, min_points) -> TrainingData`` for ``GPBatchSampler``.
    ``joint`` needs ``encode`` (params -> encoded point, ``SearchSpace.encode``) and its ``bounds``
    (``2 x d``)."""
    if model not in MODELS:
        raise ValueError(f"unknown fidelity model '{model}': use one of {', '.join(MODELS)}")
    if model == "joint" and (encode is None or bounds is None):
        raise ValueError("fidelity model 'joint' needs the search space's encode and bounds")
    memo: dict[Any, TrainingData] = {}  # the q asks of a batch see the same trials: one fit

    def rule(
        complete: Sequence[FrozenTrial], pruned: Sequence[FrozenTrial], *, sign: float, min_points: int
    ) -> TrainingData:
        if model == "standin" or not pruned:
            return standin_data(complete, pruned, sign=sign)
        if model == "joint":
            assert encode is not None and bounds is not None
            key = (sign, tuple((t.number, len(t.intermediate_values)) for t in [*complete, *pruned]))
            if key not in memo:
                memo.clear()
                memo[key] = joint_data(
                    complete, pruned, sign=sign, max_resource=max_resource, encode=encode, bounds=bounds
                )
            return memo[key]
        return rung_data(
            complete,
            pruned,
            sign=sign,
            min_points=min_points,
            max_resource=max_resource,
            drop_below=drop_below,
            map_below="line" if model == "line" else "quantile",
        )

    rule.model = model  # type: ignore[attr-defined]
    return rule


def standin_data(
    complete: Sequence[FrozenTrial], pruned: Sequence[FrozenTrial], *, sign: float
) -> TrainingData:

    finals = [sign * float(t.value) for t in complete if t.value is not None]
    y = np.concatenate([finals, pruned_values(list(pruned), list(complete), sign=sign)])  # (n + n_pruned,)
    return TrainingData([*complete, *pruned], y, None)


def _values(t: FrozenTrial, top: int | None) -> dict[int, float]:
    """Trial t's finite values by step; a COMPLETE trial's final value counts at ``top`` (R)."""
    out = {int(s): float(v) for s, v in t.intermediate_values.items() if v is not None and math.isfinite(v)}
    if top is not None and t.value is not None and math.isfinite(t.value) and t.state.name == "COMPLETE":
        out[top] = float(t.value)
    return out


def rung_data(
    complete: Sequence[FrozenTrial],
    pruned: Sequence[FrozenTrial],
    *,
    sign: float,
    min_points: int,
    max_resource: int | None,
    drop_below: bool = False,
    map_below: str = "quantile",
) -> TrainingData:
    """BOHB's level and the data there (see the module doc); ``map_below``: how a trial stopped below the
    level enters, ``quantile`` (``rungs``) or ``line`` (``line``)."""
    trials = [*complete, *pruned]
    top = max_resource
    if top is None:  # no declared R: the highest step any complete trial reported
        top = max((max(t.intermediate_values, default=0) for t in complete), default=0) or None
    curves = [_values(t, top) for t in trials]
    counts: dict[int, int] = {}
    for c in curves:
        for s in c:
            counts[s] = counts.get(s, 0) + 1
    if not counts:
        return standin_data(complete, pruned, sign=sign)
    enough = [s for s, n in counts.items() if n >= min_points]
    level = max(enough) if enough else max(counts, key=lambda s: (counts[s], s))
    reached = [(t, c) for t, c in zip(trials, curves, strict=True) if level in c]
    below = [(t, c) for t, c in zip(trials, curves, strict=True) if level not in c and c]
    ys = [sign * c[level] for _, c in reached]
    out_trials = [t for t, _ in reached]
    if not drop_below:
        at_level = np.array(ys)  # (n_reached,)
        lines: dict[int, tuple[float, float] | None] = {}
        for t, c in below:
            out_trials.append(t)
            ys.append(
                _regressed_at(c, reached, level, at_level, sign=sign, lines=lines)
                if map_below == "line"
                else _standin_at(c, reached, at_level, sign=sign)
            )
    is_final = level == top
    info = {
        "fidelity": map_below if map_below == "line" else "rungs",
        "fidelity_level": level,
        "n_at_level": len(reached),
        "n_below": len(below),
    }
    return TrainingData(out_trials, np.array(ys, dtype=float), None if is_final else level, info)


def joint_data(
    complete: Sequence[FrozenTrial],
    pruned: Sequence[FrozenTrial],
    *,
    sign: float,
    max_resource: int | None,
    encode: Callable[[Any], np.ndarray],
    bounds: np.ndarray,
) -> TrainingData:
    """COMPLETE trials at their final value; each PRUNED trial at the posterior mean at (x_t, R) of a
    fidelity GP fitted to every reported step of every trial (see the module doc); the quantile
    stand-ins (``standin_data``) when that fit fails."""
    import torch

    trials = [*complete, *pruned]
    top = max_resource or max((max(t.intermediate_values, default=0) for t in trials), default=0)
    if not top:
        return standin_data(complete, pruned, sign=sign)
    lo, hi = bounds  # (d,), (d,)
    span = np.where(hi > lo, hi - lo, 1.0)
    rows, ys = [], []
    for t in trials:
        u = (encode(t.params) - lo) / span  # (d,) in [0, 1]
        for s, v in _values(t, top).items():
            rows.append((-min(s, top) / top, t.number, np.append(u, min(s, top) / top)))
            ys.append(sign * v)
    order = sorted(range(len(rows)), key=lambda i: rows[i][:2])[:JOINT_MAX_ROWS]  # latest steps first
    X = np.stack([rows[i][2] for i in order])  # (N, d + 1): the unit point and s / R
    Y = np.array([ys[i] for i in order])[:, None]  # (N, 1)
    d = X.shape[1] - 1
    try:
        with torch.random.fork_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            mean = _fidelity_gp_mean(
                X, Y, np.stack([np.append((encode(t.params) - lo) / span, 1.0) for t in pruned])
            )
    except Exception as err:  # noqa: BLE001 - a failed fit: the quantile stand-ins
        data = standin_data(complete, pruned, sign=sign)
        return TrainingData(data.trials, data.y, None, {"fidelity": "joint", "joint_error": str(err)[:200]})
    finals = [sign * float(t.value) for t in complete if t.value is not None]
    y = np.concatenate([finals, mean])  # (n + n_pruned,)
    info = {"fidelity": "joint", "joint_rows": len(order), "n_pruned_predicted": len(pruned), "d": d}
    return TrainingData([*complete, *pruned], y, None, info)


def _fidelity_gp_mean(X: np.ndarray, Y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """BoTorch's ``SingleTaskMultiFidelityGP`` (a Matern-5/2 kernel over x times the linear truncated
    fidelity kernel over s / R, Wu et al., UAI 2019) fitted to ``X`` (``N x (d + 1)``, last column the
    fidelity), ``Y`` (``N x 1``); its posterior mean at ``at`` (``m x (d + 1)``) -> ``(m,)``."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskMultiFidelityGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    tx = torch.as_tensor(X, dtype=torch.float64)
    ty = torch.as_tensor(Y, dtype=torch.float64)
    model = SingleTaskMultiFidelityGP(
        tx, ty, data_fidelities=[tx.shape[1] - 1], outcome_transform=Standardize(m=1)
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    with torch.no_grad():
        return model.posterior(torch.as_tensor(at, dtype=torch.float64)).mean.squeeze(-1).numpy()


def _standin_at(
    curve: dict[int, float],
    reached: list[tuple[FrozenTrial, dict[int, float]]],
    at_level: np.ndarray,
    *,
    sign: float,
) -> float:
    """A stopped trial's stand-in at the level: its rank among the level's trials at its own last step s
    (q, capped at 0.5, as ``pruned_values``) mapped onto the q-quantile of their values at the level."""
    s = max(curve)
    y = sign * curve[s]
    peers = np.array([sign * c[s] for _, c in reached if s in c])  # (m,)
    if peers.size == 0:
        return float(at_level.min())
    q = min(float(np.mean(peers <= y)), 0.5)
    return float(np.quantile(at_level, q))


def _regressed_at(
    curve: dict[int, float],
    reached: list[tuple[FrozenTrial, dict[int, float]]],
    level: int,
    at_level: np.ndarray,
    *,
    sign: float,
    lines: dict[int, tuple[float, float] | None],
) -> float:
    """A stopped trial's stand-in at the level from the least-squares line, value at its last step s ->
    value at the level, of the level's trials that reported s (``lines`` memoises it per s), capped at
    the level's best; the quantile stand-in where the line does not apply (fewer than ``LINE_MIN_PAIRS``
    pairs, slope <= 0)."""
    from hpo_tasks.extrapolation import rising_line

    s = max(curve)
    if s not in lines:
        pairs = np.array([(sign * c[s], sign * c[level]) for _, c in reached if s in c]).reshape(-1, 2)
        fitted = rising_line(pairs, LINE_MIN_PAIRS)
        lines[s] = None if fitted is None else fitted[:2]
    line = lines[s]
    if line is None:
        return _standin_at(curve, reached, at_level, sign=sign)
    return float(min(line[0] + line[1] * sign * curve[s], at_level.max()))


F = TypeVar("F", bound=Callable[..., Any])


def fresh_fit_per_step(fn: F) -> F:
    """Declare that an objective fits a fresh model at each step it reports (data-subset levels): a trial
    then spends the sum of its reported steps, not its last one (``spend_rule``)."""
    fn.resource_spend = "sum_of_steps"  # type: ignore[attr-defined]
    return fn


def spend_rule(objective: Any) -> str:
    """``sum_of_steps`` for an objective declared ``@fresh_fit_per_step``, else ``last_step``."""
    rule = getattr(objective, "resource_spend", "last_step")
    if rule not in SPEND_RULES:
        raise ValueError(f"resource_spend '{rule}' of {objective!r}: use one of {', '.join(SPEND_RULES)}")
    return str(rule)


def resource_of(t: FrozenTrial, max_resource: int | None) -> int:
    """Steps trial t trained: the spend it recorded (``SPENT_ATTR``: the sum of its steps, an objective
    that fits afresh per step), else its last reported step; a COMPLETE trial that reported none, R (or 1):
    one fit on everything."""
    spent = t.user_attrs.get(SPENT_ATTR)
    if spent is not None:
        return int(spent)
    last = max(t.intermediate_values, default=None)
    if t.state.name == "COMPLETE":
        return max(int(last or 0), int(max_resource or 0)) or 1
    return int(last or 0)


def compute_figures(trials: Sequence[FrozenTrial], max_resource: int | None) -> dict[str, float]:
    """``resource_used`` (steps trained in all, ``resource_of``), ``resource_unpruned`` (the same finished
    trials each trained to R: what the sweep would have cost without the pruner), ``resource_saved`` (the
    share saved, at most 1). Empty without a known R. For an objective that fits afresh per step, a trial
    without a pruner fits once at R, so a COMPLETE trial that trained every level costs more than R and
    ``resource_saved`` is negative when too little is pruned: the levels' overhead, counted honestly."""
    if not max_resource:
        return {}
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    used = sum(resource_of(t, max_resource) for t in done)
    unpruned = sum(max_resource if t.state.name != "FAIL" else resource_of(t, max_resource) for t in done)
    saved = 1.0 - used / unpruned if unpruned else 0.0
    return {"resource_used": float(used), "resource_unpruned": float(unpruned), "resource_saved": saved}


def sha_rung(t: FrozenTrial) -> int:
    """The successive-halving rungs trial t passed (Optuna's ``completed_rung_<i>`` system attrs)."""
    return sum(1 for k in t.system_attrs if k.startswith("completed_rung_"))


def pruned_values(pruned: list[FrozenTrial], complete: list[FrozenTrial], *, sign: float) -> np.ndarray:
    """Stand-in final values of pruned trials for the GP, in the maximised sign (``sign * value``).

    A trial pruned at step s with value v: q = the share of completed trials whose value at step s is no
    better than v (quantile mapping between fidelities), capped at 0.5; its stand-in is the q-quantile of
    the completed trials' final values. Without a completed trial that reported step s (or without any
    reported value): the worst completed value.
    """
    finals = np.array([sign * float(t.value) for t in complete if t.value is not None])  # (n,)
    out = []
    for t in pruned:
        s = t.last_step
        y = sign * t.intermediate_values[s] if s is not None else math.nan
        peers = np.array([sign * c.intermediate_values[s] for c in complete if s in c.intermediate_values])
        if peers.size == 0 or not math.isfinite(y):  # (m,) values of completed trials at step s
            out.append(float(finals.min()))
            continue
        q = min(float(np.mean(peers <= y)), 0.5)
        out.append(float(np.quantile(finals, q)))
    return np.array(out, dtype=float)  # (n_pruned,)
