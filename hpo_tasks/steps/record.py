"""The record tasks: close a round (fail trials whose task never reported, log the best so far, and for
several objectives or constraints the hypervolume, Pareto-set size and feasibility), and close the
replicate round.

Per round on the parent run: ``best_value`` (step = finished trials), ``round_best_value`` and
``round_trials_done`` (step = round); with several objectives ``hypervolume`` (step = finished trials),
``round_hypervolume``, ``pareto_size``, the reference point as params ``reference_point.<metric>`` and tag
``hpo.reference_point`` (``configured`` or ``inferred``); with constraints ``n_feasible``.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo_tasks import outcomes, record, summary, tracking
from hpo_tasks.config import SweepConfig

log = logging.getLogger(__name__)
LOST = "trial task did not report (failed after its retries or was lost)"


def record_round(study_name: str, round_index: int) -> dict[str, Any]:
    """Close the round: ``{"round", "asked", "complete", "failed", "pruned", "best_value", ...}``;
    ``asked == 0`` means the round was never run (the sweep had stopped)."""
    study, cfg = record.load(study_name)
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    fail_lost(study, cfg, record.round_trials(study, round_index))
    mine = record.round_trials(study, round_index)
    trials = study.get_trials(deepcopy=False)
    n_done = sum(t.state.is_finished() for t in trials)
    top = summary.best(trials, cfg)
    if top is not None and round_index >= 0:
        tracking.log_to_run(parent, metrics={"best_value": top.value}, step=n_done)
        tracking.log_to_run(
            parent, metrics={"round_best_value": top.value, "round_trials_done": n_done}, step=round_index
        )
    extra = {}
    if cfg.objectives or cfg.constraints:
        extra = record_outcomes(study, cfg, parent, round_index=round_index, n_done=n_done)
        tracking.log_to_run(parent, metrics={"round_trials_done": n_done}, step=round_index)
    out = {
        "round": round_index,
        "asked": len(mine),
        "complete": sum(t.state == TrialState.COMPLETE for t in mine),
        "failed": sum(t.state == TrialState.FAIL for t in mine),
        "pruned": sum(t.state == TrialState.PRUNED for t in mine),
        "best_value": None if top is None else top.value,
        **extra,
    }
    log.info("round %d recorded: %s", round_index, out)
    return out


def fail_lost(study: optuna.Study, cfg: SweepConfig, trials: list[optuna.trial.FrozenTrial]) -> None:
    """Tell FAIL (and end the child run FAILED) every trial of ``trials`` still RUNNING or WAITING: its
    task has finished, so nobody will tell it."""
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    for t in trials:
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            record.set_trial_user_attr(study, t._trial_id, record.ERROR_ATTR, LOST)
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            run_id, status = tracking.find_or_create_child(
                cfg.name,
                study.study_name,
                parent,
                t.number,
                tags={"hpo.round": str(t.system_attrs.get(record.ROUND_ATTR))},
            )
            tracking.log_to_run(run_id, params=t.params, tags={"hpo.state": "FAIL", "hpo.error": LOST})
            if status == "RUNNING":
                tracking.end(run_id, "FAILED")
            log.warning("trial %d: %s; marked FAIL", t.number, LOST)


def record_replicates(study_name: str) -> dict[str, Any]:
    """Close the replicate round (``record.REPLICATE_ROUND``)."""
    return record_round(study_name, record.REPLICATE_ROUND)


def record_outcomes(
    study: optuna.Study, cfg: SweepConfig, parent: str, *, round_index: int, n_done: int
) -> dict[str, Any]:
    """Pin the reference point once feasible trials exist; log hypervolume, front size, feasibility."""
    trials = study.get_trials(deepcopy=False)
    out: dict[str, Any] = {"n_feasible": len(outcomes.feasible_complete(trials))}
    metrics: dict[str, float] = {}
    if cfg.constraints:
        metrics["n_feasible"] = out["n_feasible"]
    if cfg.is_multi_objective:
        ref, source = outcomes.reference_point(cfg, trials, study.user_attrs.get(record.REFERENCE_ATTR))
        if source == "provisional":
            assert ref is not None
            study.set_user_attr(record.REFERENCE_ATTR, ref)
            source = "inferred"
            log.info("reference point inferred from %d feasible trial(s): %s", out["n_feasible"], ref)
        if ref is not None:
            hv = outcomes.hypervolume(
                outcomes.losses(outcomes.feasible_complete(trials), cfg.directions),
                outcomes.to_loss(ref, cfg),
            )
            out |= {"hypervolume": hv, "pareto_size": len(outcomes.pareto_trials(trials, cfg))}
            out["reference_point"] = ref
            tracking.log_to_run(
                parent,
                params={f"reference_point.{k}": v for k, v in ref.items()},
                tags={"hpo.reference_point": source},
            )
            tracking.log_to_run(parent, metrics={"hypervolume": hv}, step=n_done)
            metrics |= {"round_hypervolume": hv, "pareto_size": out["pareto_size"]}
    if metrics:
        tracking.log_to_run(parent, metrics=metrics, step=round_index)
    return out
