"""Replication for noisy objectives (``replicate: {top_k, repeats}`` in the sweep file).

After the search stops, the ``top_k`` best search trials are run again ``repeats`` times each, with new
seeds (``seeds.replicate_seed``: sweep seed, trial number, repeat), as ordinary trial tasks. A replicate trial
carries user attrs ``replicate_of=<trial number>`` and ``replicate=<1..repeats>`` (MLflow tag
``hpo.replicate_of``); it is no search trial: the stopping rule, the budget, the GP and "best single
trial" all leave it out.

The report gives, per replicated configuration, the mean and standard error over the original trial and
its completed repeats (``s / sqrt(n)``, sample standard deviation; none for n = 1) and picks the best
configuration by mean. The parent run logs it (``replication.json``, ``best_mean``), and promotion
retrains that configuration.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import outcomes, record, seeds
from hpo_tasks.config import SweepConfig
from hpo_tasks.record import REPLICATE_ROUND, is_replicate, search_trials

log = logging.getLogger(__name__)
OF_ATTR = record.REPLICATE_OF_ATTR
REPEAT_ATTR = record.REPEAT_ATTR
__all__ = ["create_replicates", "format_table", "table"]


def create_replicates(study: optuna.Study, cfg: SweepConfig) -> list[FrozenTrial]:
    """Create the replicate trials once (a retry finds them again); returns them, in trial order."""
    from hpo_tasks.space import SearchSpace

    rep = cfg.replicate
    if rep is None:
        return []
    trials = study.get_trials(deepcopy=False)
    have = {(t.user_attrs[OF_ATTR], t.user_attrs[REPEAT_ATTR]) for t in trials if is_replicate(t)}
    top = outcomes.ranked(search_trials(trials), cfg)[: rep.top_k]  # feasible, best first
    for t in top:
        for r in range(1, rep.repeats + 1):
            if (t.number, r) not in have:
                study.enqueue_trial(dict(t.params), user_attrs={OF_ATTR: t.number, REPEAT_ATTR: r})
    space = SearchSpace.from_config(cfg)
    while any(t.state == TrialState.WAITING and is_replicate(t) for t in study.get_trials(deepcopy=False)):
        trial = study.ask()  # pops the oldest waiting trial: its params are fixed
        space.suggest(trial)
        frozen = record.get_trial(study, trial._trial_id)
        seed = seeds.replicate_seed(cfg.seed, frozen.user_attrs[OF_ATTR], frozen.user_attrs[REPEAT_ATTR])
        record.mark_asked(study, trial._trial_id, round_index=REPLICATE_ROUND, seed=seed)
    return [t for t in study.get_trials(deepcopy=False) if is_replicate(t)]


def table(trials: list[FrozenTrial], *, maximize: bool) -> list[dict[str, Any]]:
    """Per replicated configuration, best mean first: its trials' values, mean and standard error."""
    groups: dict[int, list[float]] = {}
    for t in trials:
        if is_replicate(t):
            groups.setdefault(int(t.user_attrs[OF_ATTR]), [])
    if not groups:
        return []
    by_number = {t.number: t for t in trials}
    for t in trials:
        if t.state != TrialState.COMPLETE or t.value is None or not math.isfinite(t.value):
            continue
        key = int(t.user_attrs[OF_ATTR]) if is_replicate(t) else t.number
        if key in groups:
            groups[key].append(float(t.value))
    rows: list[dict[str, Any]] = []
    for number, values in groups.items():
        if not values:
            continue
        n = len(values)
        mean = float(np.mean(values))
        stderr = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else None
        rows.append(
            {
                "trial_number": number,
                "params": dict(by_number[number].params),
                "n": n,
                "mean": mean,
                "stderr": stderr,
                "values": values,
            }
        )
    rows.sort(key=lambda r: (-r["mean"] if maximize else r["mean"], r["trial_number"]))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The report's replication table as text."""
    lines = [f"  {'trial':>5}  {'n':>2}  {'mean':>12}  {'± s.e.':>10}  params"]
    for r in rows:
        se = f"{r['stderr']:.4g}" if r["stderr"] is not None else "-"
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items()
        )
        lines.append(f"  {r['trial_number']:>5}  {r['n']:>2}  {r['mean']:>12.6g}  {se:>10}  {params}")
    return "\n".join(lines)
