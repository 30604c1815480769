"""The steps of an async sweep (``budget.mode: async``): q lanes, each a chain of steps; a lane asks its
next trial when its previous one has finished (with ``budget.ask_ahead``: one step ahead, while the
previous one runs), with every running trial of the other lanes (and, asking ahead, its own) as pending
points. No lane waits for another (docs/features/async.md).

A step is one task, ``ask_and_run`` (``suggest_one``, then ``trial.run_trial`` on what it asked), or,
asking ahead, two: ``suggest_one`` and the trial task. The gate is folded into the ask, so the step either
asks a trial or says stop (``[]`` / ``None``: the DAG then skips the rest of the lane). Each step is
idempotent: the trial a step asked is keyed by ``(lane, step)``
(``record.LANE_STEP_ATTR``), so a retried suggest returns it instead of asking again. The budget,
wall-clock and patience rules are the rounds' (``check_stop``) on the whole study, running trials (the
asked-ahead ones included) holding budget; checking and asking happen under the study's ask lock
(``record.ask_lock``), so lanes never ask more than ``max_trials``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo_tasks import record, seeds, summary, tracking, warm_start
from hpo_tasks.samplers import make_sampler
from hpo_tasks.steps.record import fail_lost, record_outcomes
from hpo_tasks.steps.suggest import check_stop, trial_spec
from hpo_tasks.steps.trial import run_trial

log = logging.getLogger(__name__)


def suggest_one(study_name: str, lane: int, step: int) -> list[dict[str, Any]]:
    """A lane step's ask (an ask-ahead step's suggest task; the first half of ``ask_and_run``):
    ``[spec]`` (a ``record.TrialSpec`` as JSON) of the trial it asked, or
    ``[]`` when the lane stops here (the sweep has stopped, the budget is spent or held by running
    trials, or the lane is above the run's ``batch_size``). A retry returns the trial this step asked.

    Runs after the lane's trial ``step - 1`` ended (asking ahead: after step ``step - 1`` asked and trial
    ``step - 2`` ended, so it asks while trial ``step - 1`` runs): closes that ended trial first (still
    RUNNING means its task was lost) and logs the best so far."""
    study, cfg = record.load(study_name)
    if lane >= cfg.budget.batch_size:
        log.info("lane %d idle: this run has %d lane(s)", lane, cfg.budget.batch_size)
        return []
    ended = step - cfg.budget.ended_before_ask
    if ended >= 0:
        previous = record.lane_trial(study, lane, ended)
        if previous is not None:
            fail_lost(study, cfg, [previous])
        _log_progress(study, cfg)
    from hpo_tasks.space import SearchSpace

    space = SearchSpace.from_config(cfg)
    with record.ask_lock(study):
        mine = record.lane_trial(study, lane, step)
        if mine is not None:
            log.info("lane %d step %d already asked trial %d", lane, step, mine.number)
            if mine.state == TrialState.RUNNING and not space.is_complete(mine.params):
                # the first try died mid-way through the space: suggest the rest (asked ones stay)
                space.suggest(optuna.Trial(study, mine._trial_id))
                mine = record.get_trial(study, mine._trial_id)
            return [trial_spec(study_name, cfg, mine, step)]
        decision = check_stop(study, cfg)
        if decision.stop:
            return []
        study.sampler = make_sampler(
            cfg, n_asked=len(study.get_trials(deepcopy=False)), prior=warm_start.prior_observations(study)
        )
        t0 = time.perf_counter()
        trial = study.ask()
        # keyed at once: a retry after this line finds the trial instead of asking a second one
        record.set_trial_system_attr(
            study, trial._trial_id, record.LANE_STEP_ATTR, record.lane_step_key(lane, step)
        )
        space.suggest(trial)  # define-by-run: inactive conditional parameters stay absent
        seed = seeds.trial_seed(cfg.seed, trial.number)
        record.mark_asked(study, trial._trial_id, round_index=step, seed=seed)
        elapsed = time.perf_counter() - t0
    spec = record.TrialSpec(study_name, trial.number, trial.params, seed, step).to_json()
    study.set_user_attr(f"{record.SUGGEST_SECONDS_ATTR}:{lane}:{step}", elapsed)
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    tracking.log_to_run(parent, metrics={"suggest_seconds": elapsed}, step=trial.number)
    tracking.log_suggest_step(
        parent, trial.number, record.suggest_info(record.get_trial(study, trial._trial_id))
    )
    log.info("lane %d step %d: asked trial %d in %.2fs", lane, step, trial.number, elapsed)
    return [spec]


def ask_and_run(
    study_name: str,
    lane: int,
    step: int,
    *,
    context: Mapping[str, str] | None = None,
    on_asked: Callable[[int], None] | None = None,
) -> dict[str, Any] | None:
    """The task of a lane's step (``ask_ahead: false``): ask the step's trial (``suggest_one``) and run it
    (``run_trial``) in one task, so a lane's trials are one scheduler hand-over apart instead of two, with
    a task process start between. Returns the trial's ``TrialResult`` as JSON, or ``None`` when the lane
    stops here. ``on_asked(trial_number)`` runs in between (the DAG labels the task with the number).

    A retry asks nothing new (the step's trial is keyed by ``(lane, step)``) and reruns the trial as a
    retried trial task does: the same number and child run, nothing run again once it has finished."""
    specs = suggest_one(study_name, lane, step)
    if not specs:
        return None
    if on_asked is not None:
        on_asked(int(specs[0]["trial_number"]))
    return run_trial(specs[0], context=context)


def record_lanes(study_name: str) -> dict[str, Any]:
    """After every lane: fail the lanes' trials whose task never reported; ``{"asked", "complete",
    "failed", "pruned", "best_value"}`` of the lanes' trials."""
    study, cfg = record.load(study_name)
    fail_lost(study, cfg, record.lane_trials(study))
    _log_progress(study, cfg)
    mine = record.lane_trials(study)
    top = summary.best(study.get_trials(deepcopy=False), cfg)
    out = {
        "asked": len(mine),
        "complete": sum(t.state == TrialState.COMPLETE for t in mine),
        "failed": sum(t.state == TrialState.FAIL for t in mine),
        "pruned": sum(t.state == TrialState.PRUNED for t in mine),
        "best_value": None if top is None else top.value,
    }
    log.info("lanes recorded: %s", out)
    return out


def _log_progress(study: optuna.Study, cfg: Any) -> None:
    """The best so far on the parent run (step = finished trials), as a round's record logs it."""
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    trials = study.get_trials(deepcopy=False)
    n_done = sum(t.state.is_finished() for t in trials)
    top = summary.best(trials, cfg)
    if top is not None:
        tracking.log_to_run(parent, metrics={"best_value": top.value}, step=n_done)
    if cfg.objectives or cfg.constraints:  # pins the reference point, logs hypervolume / feasibility
        record_outcomes(study, cfg, parent, round_index=n_done, n_done=n_done)
