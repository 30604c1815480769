"""One trial, end to end: seed, train, measure, log an MLflow child run, tell Optuna.

Idempotent: Airflow delivers a task at least once. A retry reuses the trial number (chosen by the suggest
task) and the child run (found by tag). A trial that already finished is not run again; one whose child
run finished but whose result never reached Optuna is told from the child run, without retraining.

Pruning (``hpo_tasks.pruning``): an objective with a ``report`` parameter gets the trial's reporter; when
the pruner stops it, the trial is told PRUNED (Optuna keeps the last reported value as its value) and its
child run ends KILLED with tags ``hpo.state=PRUNED`` and ``hpo.pruned_at_step``, its curve as metric
``intermediate_value`` by step. A retried pruned trial is not run again.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.exceptions import TrialPruned
from optuna.trial import TrialState

from hpo_tasks import outcomes, pruning, replication, tracking
from hpo_tasks import study as study_mod
from hpo_tasks.objectives import resolve_objective

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch from the trial's seed.

    torch is seeded when the objective's module has imported it; importing it only to seed it would cost
    ~3 s per trial task for torch-free objectives. An objective that imports torch inside its function
    receives ``seed`` and seeds it there (as ``cnn_classifier`` does).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def run_trial(spec: Mapping[str, Any], *, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the trial described by ``spec`` (from ``suggest_batch``) and record it everywhere.

    Returns ``{"trial_number", "state", "value", "wallclock_seconds", "error"}``. An objective that raises
    or returns NaN/inf gives state ``FAIL`` (with the error) and does not raise: the sweep goes on.
    Infrastructure errors (storage, tracking) do raise, so Airflow retries the task.
    """
    context = dict(context or {})
    number = int(spec["trial_number"])
    study, cfg = study_mod.load(spec["study_name"])
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    frozen = study._storage.get_trial(trial_id)
    parent_run_id = study.user_attrs[study_mod.PARENT_RUN_ATTR]
    run_id, status = tracking.find_or_create_child(
        cfg.name,
        spec["study_name"],
        parent_run_id,
        number,
        tags={
            "hpo.round": str(spec.get("round", "")),
            **(
                {"hpo.replicate_of": str(frozen.user_attrs[replication.OF_ATTR])}
                if replication.is_replicate(frozen)
                else {}
            ),
            **{f"airflow.{k}": v for k, v in context.items()},
        },
    )

    if frozen.state.is_finished():  # a redelivered task: report what is recorded
        result = _result_from_frozen(frozen)
        if status == "RUNNING":
            _log_child(run_id, spec, result)
        log.info("trial %d already finished (%s); nothing to do", number, frozen.state.name)
        return result

    if status == "FINISHED":  # trained and logged, but the tell was lost: tell from the run
        logged_metrics = tracking.run_info(run_id).data.metrics
        if cfg.objectives or cfg.constraints:  # named metrics: rebuild the outcome from them
            try:
                logged_outcome = outcomes.interpret(logged_metrics, cfg)
            except outcomes.OutcomeError:
                logged_outcome = None
            if logged_outcome is not None:
                _tell(study, trial_id, number, logged_outcome)
                return _result(number, "COMPLETE", _value_of(logged_outcome), None, None)
        logged = logged_metrics.get("value")
        if logged is not None and math.isfinite(logged) and not (cfg.objectives or cfg.constraints):
            study.tell(number, logged, skip_if_finished=True)
            return _result(number, "COMPLETE", logged, None, None)
    if status == "KILLED" and tracking.run_info(run_id).data.tags.get("hpo.state") == "PRUNED":
        # pruned and logged, but the tell was lost: the pruning decision stands
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        return _result_from_frozen(study._storage.get_trial(trial_id))

    seed = int(spec["seed"])
    t0 = time.perf_counter()
    error: str | None = None
    value: float | None = None
    outcome: outcomes.Outcome | None = None
    reporter: pruning.Reporter | None = None
    pruned = False
    try:
        objective = resolve_objective(cfg.objective.name)  # imports its module (torch too, if it uses it)
        kwargs = dict(cfg.objective.args)
        if pruning.accepts_report(objective):
            reporter = kwargs["report"] = pruning.Reporter(
                study,
                trial_id,
                run_id=run_id,
                max_resource=cfg.max_resource,
                judge=not replication.is_replicate(frozen),  # a replicate runs to the end: its value is data
            )
        seed_everything(seed)
        with tracking.system_metrics(run_id, enabled=tracking.system_metrics_enabled()):
            raw = objective(dict(spec["params"]), seed=seed, **kwargs)
        outcome = outcomes.interpret(raw, cfg)  # a float, or named metrics (objectives, constraints)
        value = _value_of(outcome)
    except outcomes.OutcomeError as err:
        error = str(err)
        log.warning("trial %d failed: %s", number, error)
    except TrialPruned:
        pruned = reporter is not None and reporter.last_step is not None
        if not pruned:
            error = "objective raised TrialPruned without reporting a step"
    except Exception as err:  # noqa: BLE001 - the objective's failure is the trial's result
        error = f"{type(err).__name__}: {err}"
        log.warning("trial %d failed:\n%s", number, traceback.format_exc())
    wallclock = time.perf_counter() - t0
    state = "PRUNED" if pruned else "COMPLETE" if error is None else "FAIL"
    result = _result(number, state, value, wallclock, error)

    storage = study._storage
    storage.set_trial_user_attr(trial_id, "seed", seed)
    storage.set_trial_user_attr(trial_id, "wallclock_seconds", wallclock)
    if error:
        storage.set_trial_user_attr(trial_id, "error", error[:2000])
    if pruned:
        assert reporter is not None
        result[pruning.PRUNED_AT_ATTR] = reporter.last_step
        storage.set_trial_user_attr(trial_id, pruning.PRUNED_AT_ATTR, reporter.last_step)
    _log_child(run_id, spec, result, outcome)
    if pruned:
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    elif outcome is not None and error is None:
        _tell(study, trial_id, number, outcome)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    log.info("trial %d %s value=%s in %.2fs", number, result["state"], value, wallclock)
    return result


def _value_of(outcome: outcomes.Outcome) -> float | None:
    """The single objective's value (None for a multi-objective trial: see ``values``)."""
    return outcome.values[0] if len(outcome.values) == 1 else None


def _tell(study: Any, trial_id: int, number: int, outcome: outcomes.Outcome) -> None:
    """Store the named metrics and feasibility on the trial, then tell Optuna its value(s).

    Constraint slacks go where Optuna's ``constraints_func`` puts them (system attr ``constraints``), so
    ``best_trial``/``best_trials`` and Optuna's samplers see the same feasibility as this project."""
    storage = study._storage
    if storage.get_trial(trial_id).state.is_finished():
        return
    if outcome.metrics:
        storage.set_trial_user_attr(trial_id, outcomes.METRICS_ATTR, outcome.metrics)
    if outcome.slacks is not None:
        storage.set_trial_system_attr(trial_id, outcomes.CONSTRAINTS_KEY, outcome.slacks)
        storage.set_trial_user_attr(trial_id, outcomes.FEASIBLE_ATTR, outcome.feasible)
    values = outcome.values if len(outcome.values) > 1 else outcome.values[0]
    study.tell(number, values, skip_if_finished=True)


def _result(
    number: int, state: str, value: float | None, wallclock: float | None, error: str | None
) -> dict[str, Any]:
    return {
        "trial_number": number,
        "state": state,
        "value": value,
        "wallclock_seconds": wallclock,
        "error": error,
    }


def _result_from_frozen(frozen: Any) -> dict[str, Any]:
    result = _result(
        frozen.number,
        frozen.state.name,
        frozen.values[0] if frozen.state == TrialState.COMPLETE and len(frozen.values) == 1 else None,
        frozen.user_attrs.get("wallclock_seconds"),
        frozen.user_attrs.get("error"),
    )
    if frozen.state == TrialState.PRUNED:
        result[pruning.PRUNED_AT_ATTR] = frozen.user_attrs.get(pruning.PRUNED_AT_ATTR, frozen.last_step)
    return result


def _log_child(
    run_id: str,
    spec: Mapping[str, Any],
    result: Mapping[str, Any],
    outcome: outcomes.Outcome | None = None,
) -> None:
    metrics: dict[str, float] = {**(outcome.metrics if outcome else {}), "seed": float(spec["seed"])}
    if result["value"] is not None:
        metrics["value"] = result["value"]
    if result["wallclock_seconds"] is not None:
        metrics["wallclock_seconds"] = result["wallclock_seconds"]
    tags = {"hpo.state": result["state"], "hpo.seed": spec["seed"]}
    if result["error"]:
        tags["hpo.error"] = result["error"]
    if outcome is not None and outcome.feasible is not None:
        tags["hpo.feasible"] = str(outcome.feasible).lower()
    if result["state"] == "PRUNED":
        tags["hpo.pruned_at_step"] = result.get(pruning.PRUNED_AT_ATTR)
    tracking.log(run_id, params=spec["params"], metrics=metrics, tags=tags)
    status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(result["state"], "FAILED")
    tracking.end(run_id, status)
