"""The sweep steps' view of several objectives and of outcome constraints (``hpo_tasks.outcomes`` holds
the pure rules): the stopping signal, the per-round hypervolume, the run's Pareto set, and what
``finalize`` leaves on the MLflow parent run.

Per round (``record_round``) on the parent run: ``hypervolume`` (step = finished trials) and
``round_hypervolume`` (step = round), ``pareto_size``, ``n_feasible``; the reference point as params
``reference_point.<metric>`` and tag ``hpo.reference_point`` (``configured`` or ``inferred``).
``finalize``: ``pareto_front.csv`` and ``plots/pareto_front.png``, ``plots/hypervolume.png``; every child
run tagged ``hpo.pareto`` ``true``/``false``; model promotion skipped with the reason.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import outcomes, tracking
from hpo_tasks.config import SweepConfig

log = logging.getLogger(__name__)
NO_FEASIBLE = "no feasible trial: no best configuration is reported"
PROMOTION_SKIPPED = (
    "multi-objective sweep: no single best configuration to promote (pick one from the Pareto set, "
    "pareto_front.csv, and register it yourself)"
)


def stop_values(cfg: SweepConfig, trials: Sequence[FrozenTrial], study: optuna.Study) -> list | None:
    """What ``patience`` watches, one entry per finished trial (None never improves): the hypervolume
    so far for several objectives, the value of feasible trials under constraints; None for a plain
    sweep (the pipeline's own rule)."""
    if cfg.is_multi_objective:
        ref, _ = outcomes.reference_point(cfg, trials, study.user_attrs.get(outcomes.REFERENCE_ATTR))
        if ref is None:
            return [None for t in trials if t.state.is_finished()]
        return outcomes.hypervolume_history(trials, cfg, ref)
    if cfg.constraints:
        return [
            t.values[0] if t.state == TrialState.COMPLETE and outcomes.is_feasible(t) else None
            for t in sorted(trials, key=lambda t: t.number)
            if t.state.is_finished()
        ]
    return None


def record(study: optuna.Study, cfg: SweepConfig, parent: str, *, round_index: int, n_done: int) -> dict:
    """Pin the reference point once feasible trials exist; log hypervolume, front size, feasibility."""
    trials = study.get_trials(deepcopy=False)
    out: dict[str, Any] = {"n_feasible": len(outcomes.feasible_complete(trials))}
    metrics: dict[str, float] = {}
    if cfg.constraints:
        metrics["n_feasible"] = out["n_feasible"]
    if cfg.is_multi_objective:
        pinned = study.user_attrs.get(outcomes.REFERENCE_ATTR)
        ref, source = outcomes.reference_point(cfg, trials, pinned)
        if source == "provisional":
            assert ref is not None
            study.set_user_attr(outcomes.REFERENCE_ATTR, ref)
            source = "inferred"
            log.info("reference point inferred from %d feasible trial(s): %s", out["n_feasible"], ref)
        if ref is not None:
            hv = outcomes.hypervolume(
                outcomes.losses(outcomes.feasible_complete(trials), cfg.directions),
                outcomes.to_loss(ref, cfg),
            )
            out |= {"hypervolume": hv, "pareto_size": len(outcomes.pareto_trials(trials, cfg))}
            out["reference_point"] = ref
            tracking.log(
                parent,
                params={f"reference_point.{k}": v for k, v in ref.items()},
                tags={"hpo.reference_point": source},
            )
            tracking.log(parent, metrics={"hypervolume": hv}, step=n_done)
            metrics |= {"round_hypervolume": hv, "pareto_size": out["pareto_size"]}
    if metrics:
        tracking.log(parent, metrics=metrics, step=round_index)
    return out


def summary_fields(study: optuna.Study, cfg: SweepConfig) -> dict[str, Any]:
    """``summarize()``'s extra fields: the Pareto set (several objectives) and feasibility."""
    trials = study.get_trials(deepcopy=False)
    out: dict[str, Any] = {}
    if cfg.constraints:
        n_ok = len(outcomes.feasible_complete(trials))
        out |= {"constraints": list(cfg.constraints), "n_feasible": n_ok}
        if n_ok == 0:
            out["note"] = NO_FEASIBLE
    if cfg.is_multi_objective:
        assert cfg.objectives
        ref, source = outcomes.reference_point(cfg, trials, study.user_attrs.get(outcomes.REFERENCE_ATTR))
        front = outcomes.pareto_trials(trials, cfg)
        metrics = [o.metric for o in cfg.objectives]
        out |= {
            "objectives": {o.metric: o.direction for o in cfg.objectives},
            "pareto_front": [
                {
                    "trial_number": t.number,
                    "values": dict(zip(metrics, t.values, strict=True)),
                    "params": t.params,
                }
                for t in front
            ],
            "pareto_size": len(front),
            "reference_point": ref,
            "reference_point_source": source,
            "hypervolume": None
            if ref is None
            else outcomes.hypervolume(
                outcomes.losses(outcomes.feasible_complete(trials), cfg.directions),
                outcomes.to_loss(ref, cfg),
            ),
        }
    return out


def front_csv(study: optuna.Study, cfg: SweepConfig) -> str:
    """The Pareto set as CSV: trial number, each objective, every other metric, then the parameters."""
    assert cfg.objectives
    trials = study.get_trials(deepcopy=False)
    front = outcomes.pareto_trials(trials, cfg)
    names = [o.metric for o in cfg.objectives]
    extra = sorted({k for t in front for k in t.user_attrs.get(outcomes.METRICS_ATTR, {})} - set(names))
    params = sorted({k for t in front for k in t.params})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["trial_number", *names, *extra, *params])
    for t in front:
        m = t.user_attrs.get(outcomes.METRICS_ATTR, {})
        w.writerow(
            [t.number, *t.values, *(m.get(k, "") for k in extra), *(t.params.get(p, "") for p in params)]
        )
    return buf.getvalue()


def finalize_front(study: optuna.Study, cfg: SweepConfig, parent: str) -> dict[str, Any]:
    """Tag every child run ``hpo.pareto``, log the front's CSV and plots, skip promotion with the reason."""
    import tempfile
    from pathlib import Path

    from hpo_tasks import plots

    trials = study.get_trials(deepcopy=False)
    on_front = {t.number for t in outcomes.pareto_trials(trials, cfg)}
    for run in tracking.children(parent, cfg.name):
        number = int(run.data.tags.get(tracking.TRIAL_TAG, -1))
        tracking.log(run.info.run_id, tags={"hpo.pareto": str(number in on_front).lower()})
    c = tracking.client()
    c.log_text(parent, front_csv(study, cfg), "pareto_front.csv")
    fields = summary_fields(study, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        made = plots.render_pareto(study, cfg, reference_point=fields["reference_point"], out_dir=Path(tmp))
        c.log_artifacts(parent, tmp, "plots")
    metrics = {"pareto_size": float(fields["pareto_size"])}
    if fields["hypervolume"] is not None:
        metrics["hypervolume"] = fields["hypervolume"]
    tracking.log(
        parent,
        metrics=metrics,
        tags={"hpo.promotion": "skipped", "hpo.promotion_detail": PROMOTION_SKIPPED},
        step=sum(t.state.is_finished() for t in trials),
    )
    log.info("promotion skipped: %s", PROMOTION_SKIPPED)
    return {"plots": made, "promotion": {"status": "skipped", "reason": PROMOTION_SKIPPED}}
