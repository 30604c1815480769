"""The init task: the run's study (its config pinned), its MLflow parent run, its warm start; all found
again on a retry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hpo_tasks import record, tracking, warm_start
from hpo_tasks.config import SweepConfig, SweepConfigError, rounds_needed

log = logging.getLogger(__name__)


def init_sweep(
    cfg: SweepConfig,
    *,
    run_id: str,
    overrides: Mapping[str, Any] | None = None,
    max_rounds: int | None = None,
    lanes: tuple[int, int] | None = None,
    context: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create the run's study and MLflow parent run: ``{"study_name", "parent_run_id"}``.

    ``overrides`` are the trigger form's values; they are validated like the file. ``max_rounds`` is the
    number of rounds the DAG unrolled (``lanes``: its ``(lanes, steps per lane)`` in async mode): a run
    whose budget would need more is refused before any trial.
    """
    from hpo_tasks.config.overrides import check_overrides, lanes_capacity, with_overrides

    check_overrides(cfg, dict(overrides or {}))
    cfg = with_overrides(cfg, overrides or {})
    for note in cfg.warnings:  # legal but probably not meant (batch_size above max_trials, ...)
        log.warning(note)
    if max_rounds is not None:
        needed = rounds_needed(cfg)
        if needed > max_rounds:
            raise SweepConfigError(
                f"budget.batch_size: {cfg.budget.batch_size} needs {needed} rounds for "
                f"{cfg.budget.max_trials} trials but the DAG has {max_rounds}; raise batch_size or "
                f"lower max_trials"
            )
    if lanes is not None:
        n_lanes, steps = lanes
        if cfg.budget.batch_size > n_lanes or lanes_capacity(cfg, lanes=n_lanes, steps=steps) < (
            cfg.budget.max_trials
        ):
            raise SweepConfigError(
                f"budget.batch_size: {cfg.budget.batch_size} lanes of {steps} steps cannot run "
                f"{cfg.budget.max_trials} trials in a DAG of {n_lanes} lanes; raise batch_size (at most "
                f"{n_lanes}) or lower max_trials"
            )
    name = record.study_name_for(cfg.name, run_id)
    study = record.create_study(cfg, name)
    warm = warm_start.apply(cfg, study) if cfg.warm_start is not None else None
    if record.PARENT_RUN_ATTR not in study.user_attrs:
        parent = tracking.find_or_create_parent(
            cfg.name,
            name,
            tags={
                "hpo.sweep": cfg.name,
                "hpo.sampler": cfg.sampler.name,
                "hpo.pruner": cfg.pruner.name,
                "hpo.seed": str(cfg.seed),
                **{f"airflow.{k}": v for k, v in (context or {}).items()},
            },
            params=tracking.sweep_params(cfg),
        )
        study.set_user_attr(record.PARENT_RUN_ATTR, parent)
        if warm is not None:
            ws_tags, ws_metrics = warm_start.tracking_record(warm)
            tracking.log_to_run(parent, tags=ws_tags, metrics=ws_metrics)
        if cfg.sampler.name == "optuna-gp" and any(p.when for p in cfg.space.values()):
            note = (
                "Optuna's GPSampler models only parameters present in every trial: conditional "
                "parameters are sampled independently (at random). Use sampler gp to model them."
            )
            log.warning(note)
            tracking.log_to_run(parent, tags={"hpo.warning.space": note})
        _warn_pruner(cfg, parent)
    log.info("study %s ready (n_init=%d, max_trials=%d)", name, cfg.n_init, cfg.budget.max_trials)
    return {"study_name": name, "parent_run_id": study.user_attrs[record.PARENT_RUN_ATTR]}


def _warn_pruner(cfg: SweepConfig, parent: str) -> None:
    """A pruner that cannot act (the objective reports nothing): say so on the parent run."""
    from hpo_tasks.pruning import config_warnings

    notes = config_warnings(cfg)
    for note in notes:
        log.warning(note)
    if notes:
        tracking.log_to_run(parent, tags={"hpo.warning.pruner": "; ".join(notes)})


def run_label(run_id: str, *, scheduled_for: str | None = None) -> str:
    """The study label of a DAG run: its logical date for scheduled runs (``2026-11-27T0200``, one study
    per night, found by date), the Airflow run id otherwise."""
    if not scheduled_for:
        return run_id
    from datetime import datetime

    return datetime.fromisoformat(scheduled_for).strftime("%Y-%m-%dT%H%M")
