"""The trial task, end to end: seed, train, measure, log an MLflow child run, tell Optuna.

Idempotent: Airflow delivers a task at least once. A retry reuses the trial number (chosen by the suggest
task) and the child run (found by tag). Three branches:

1. the trial already finished (a redelivered task): report what is recorded, run nothing;
2. its child run finished (or was pruned) but the tell was lost: tell Optuna from the child run, without
   retraining;
3. otherwise: run the objective (a function, or ``objective.command``: a training script run as a
   subprocess by ``hpo_tasks.objectives.command``, called the same way).

Pruning (``hpo_tasks.pruning``): an objective with a ``report`` parameter gets the trial's reporter; when
the pruner stops it, the trial is told PRUNED (Optuna keeps the last reported value as its value) and its
child run ends KILLED with tags ``hpo.state=PRUNED`` and ``hpo.pruned_at_step``, its curve as metric
``intermediate_value`` by step. A retried pruned trial is not run again.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import optuna
from optuna.exceptions import TrialPruned
from optuna.trial import TrialState

from hpo_tasks import fidelity, outcomes, pruning, record, tracking
from hpo_tasks.config import SweepConfig
from hpo_tasks.objectives import command, resolve_objective
from hpo_tasks.record import TrialResult, TrialSpec

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
    """Run the trial described by ``spec`` (a ``TrialSpec`` as JSON) and record it everywhere.

    Returns its ``TrialResult`` as JSON. An objective that raises or returns NaN/inf gives state ``FAIL``
    (with the error) and does not raise: the sweep goes on. Infrastructure errors (storage, tracking) do
    raise, so Airflow retries the task.
    """
    clock = PhaseClock()
    s = TrialSpec.from_json(spec)
    study, cfg = record.load(s.study_name)
    trial_id = record.trial_id(study, s.trial_number)
    frozen = record.get_trial(study, trial_id)
    clock.mark("load")
    child = functools.partial(
        tracking.find_or_create_child,
        cfg.name,
        s.study_name,
        study.user_attrs[record.PARENT_RUN_ATTR],
        s.trial_number,
        tags={
            "hpo.round": str(s.round),
            **(
                {"hpo.replicate_of": str(frozen.user_attrs[record.REPLICATE_OF_ATTR])}
                if record.is_replicate(frozen)
                else {}
            ),
            **{f"airflow.{k}": v for k, v in (context or {}).items()},
        },
    )
    if _child_run_can_wait(cfg, frozen):  # 3. a first run: find or create the child run meanwhile
        with ThreadPoolExecutor(1, thread_name_prefix="child-run") as pool:
            pending = pool.submit(child)
            result = _run(study, cfg, trial_id, frozen, s, lambda: pending.result()[0], clock)
    else:
        run_id, status = child()
        clock.mark("child_run")
        if frozen.state.is_finished():  # 1. a redelivered task: report what is recorded
            result = TrialResult.of(frozen)
            if status == "RUNNING":
                _log_child(run_id, s, result, script=cfg.objective.is_command)
            log.info("trial %d already finished (%s); nothing to do", s.trial_number, frozen.state.name)
            return result.to_json()
        recovered = _recover_lost_tell(study, cfg, trial_id, s.trial_number, run_id, status)
        if recovered is not None:  # 2. trained and logged, but the tell was lost
            return recovered.to_json()
        result = _run(study, cfg, trial_id, frozen, s, lambda: run_id, clock)  # 3.
    log.info("trial %d task seconds: %s", s.trial_number, clock)
    return result.to_json()


def _child_run_can_wait(cfg: SweepConfig, frozen: optuna.trial.FrozenTrial) -> bool:
    """Whether the child run may be found or created while the objective runs (in a thread: importing
    MLflow and opening its store take seconds of a trial task's start-up). Only where nothing can
    differ: the first run of the trial (no earlier try got past its objective, so its child run, if an
    earlier try created one, is still RUNNING and is found by tag afterwards) of a function objective
    that never sees its run (no ``report`` argument, no command, no system metrics)."""
    if frozen.state.is_finished() or record.WALLCLOCK_ATTR in frozen.user_attrs:
        return False
    if cfg.objective.is_command or tracking.system_metrics_enabled():
        return False
    try:
        objective = resolve_objective(cfg.objective.name)
    except Exception:  # noqa: BLE001 - ``_run`` records why, as the trial's failure
        return False
    return not pruning.accepts_report(objective)


class PhaseClock:
    """Seconds per phase of a trial task (``load``, ``child_run``, ``objective``, ``record``), logged once
    at its end: where a trial task's time goes besides its objective."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in self.phases.items())


def _recover_lost_tell(
    study: optuna.Study, cfg: SweepConfig, trial_id: int, number: int, run_id: str, status: str
) -> TrialResult | None:
    """Tell Optuna what the finished child run logged (no retraining); None when there is nothing to tell."""
    if status == "FINISHED":
        logged_metrics = tracking.run_info(run_id).data.metrics
        if cfg.objectives or cfg.constraints:  # named metrics: rebuild the outcome from them
            try:
                logged_outcome = outcomes.interpret(logged_metrics, cfg)
            except outcomes.OutcomeError:
                logged_outcome = None
            if logged_outcome is not None:
                _tell(study, trial_id, number, logged_outcome)
                return TrialResult(number, "COMPLETE", _value_of(logged_outcome))
        logged = logged_metrics.get("value")
        if logged is not None and math.isfinite(logged) and not (cfg.objectives or cfg.constraints):
            study.tell(number, logged, skip_if_finished=True)
            return TrialResult(number, "COMPLETE", logged)
    if status == "KILLED" and tracking.run_info(run_id).data.tags.get("hpo.state") == "PRUNED":
        # pruned and logged, but the tell was lost: the pruning decision stands
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        return TrialResult.of(record.get_trial(study, trial_id))
    return None


def _run(
    study: optuna.Study,
    cfg: SweepConfig,
    trial_id: int,
    frozen: optuna.trial.FrozenTrial,
    s: TrialSpec,
    child_run: Callable[[], str],
    clock: PhaseClock,
) -> TrialResult:
    """Run the objective and record the trial. ``child_run()`` gives the child run's id: at once, or
    when the thread finding it is done (never needed before the objective ends then)."""
    number = s.trial_number
    t0 = time.perf_counter()
    error: str | None = None
    value: float | None = None
    outcome: outcomes.Outcome | None = None
    reporter: pruning.Reporter | None = None
    pruned = False
    try:
        if cfg.objective.is_command:  # a training script run as a subprocess (objectives.command)
            objective = command.bind(cfg, run_id=child_run(), trial_number=number)
            kwargs: dict[str, Any] = {}  # its args fill the command's placeholders
        else:
            objective = resolve_objective(cfg.objective.name)  # imports its module (torch too, if it uses it)
            kwargs = dict(cfg.objective.args)
        if pruning.accepts_report(objective):
            reporter = kwargs["report"] = pruning.Reporter(
                study,
                trial_id,
                run_id=child_run(),
                max_resource=cfg.max_resource,
                judge=not record.is_replicate(frozen),  # a replicate runs to the end: its value is data
                spend=fidelity.spend_rule(objective),  # a fresh fit per step: spends the sum of steps
            )
        seed_everything(s.seed)
        metrics_on = tracking.system_metrics_enabled()
        with tracking.system_metrics(child_run() if metrics_on else "", enabled=metrics_on):
            raw = objective(dict(s.params), seed=s.seed, **kwargs)
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
    clock.mark("objective")
    run_id = child_run()  # before anything is recorded: a tracking error leaves the trial to its retry
    clock.mark("child_run")
    state = "PRUNED" if pruned else "COMPLETE" if error is None else "FAIL"
    result = TrialResult(number, state, value, wallclock, error)

    record.set_trial_user_attr(study, trial_id, record.WALLCLOCK_ATTR, wallclock)
    if error:
        record.set_trial_user_attr(study, trial_id, record.ERROR_ATTR, error[:2000])
    if pruned:
        assert reporter is not None
        result.pruned_at_step = reporter.last_step
        record.set_trial_user_attr(study, trial_id, record.PRUNED_AT_ATTR, reporter.last_step)
    _log_child(run_id, s, result, outcome, script=cfg.objective.is_command)
    if pruned:
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    elif outcome is not None and error is None:
        _tell(study, trial_id, number, outcome)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    clock.mark("record")
    log.info("trial %d %s value=%s in %.2fs", number, state, value, wallclock)
    return result


def _value_of(outcome: outcomes.Outcome) -> float | None:
    """The single objective's value (None for a multi-objective trial: see ``values``)."""
    return outcome.values[0] if len(outcome.values) == 1 else None


def _tell(study: optuna.Study, trial_id: int, number: int, outcome: outcomes.Outcome) -> None:
    """Store the named metrics and feasibility on the trial, then tell Optuna its value(s).

    Constraint slacks go where Optuna's ``constraints_func`` puts them (system attr ``constraints``), so
    ``best_trial``/``best_trials`` and Optuna's samplers see the same feasibility as this project."""
    if record.get_trial(study, trial_id).state.is_finished():
        return
    if outcome.metrics:
        record.set_trial_user_attr(study, trial_id, record.METRICS_ATTR, outcome.metrics)
    if outcome.slacks is not None:
        record.set_trial_system_attr(study, trial_id, record.CONSTRAINTS_KEY, outcome.slacks)
        record.set_trial_user_attr(study, trial_id, record.FEASIBLE_ATTR, outcome.feasible)
    values = outcome.values if len(outcome.values) > 1 else outcome.values[0]
    study.tell(number, values, skip_if_finished=True)


def _log_child(
    run_id: str,
    s: TrialSpec,
    result: TrialResult,
    outcome: outcomes.Outcome | None = None,
    *,
    script: bool,
) -> None:
    metrics: dict[str, float] = dict(outcome.metrics if outcome else {})  # the seed is a tag, not a metric
    if result.value is not None:
        metrics["value"] = result.value
    if result.wallclock_seconds is not None:
        metrics["wallclock_seconds"] = result.wallclock_seconds
    tags: dict[str, Any] = {"hpo.state": result.state, "hpo.seed": s.seed}
    if result.error:
        tags["hpo.error"] = result.error
    if outcome is not None and outcome.feasible is not None:
        tags["hpo.feasible"] = str(outcome.feasible).lower()
    if result.state == "PRUNED":
        tags["hpo.pruned_at_step"] = result.pruned_at_step
    params = dict(s.params)
    if script:  # a training script may have logged its own: they stay
        logged = tracking.run_info(run_id).data.params
        params = {k: v for k, v in params.items() if k not in logged}
    tracking.log_to_run(run_id, params=params, metrics=metrics, tags=tags)
    status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(result.state, "FAILED")
    tracking.end(run_id, status)
