"""The gate and suggest tasks (and the replicate task, which asks the replicate trials): decide whether
the sweep goes on, then ask the round's trials. A retry returns the trials its round already asked."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import outcomes, record, replication, seeds, tracking, warm_start
from hpo_tasks.config import SweepConfig
from hpo_tasks.samplers import make_sampler
from hpo_tasks.stopping import StopDecision, decide_stop

log = logging.getLogger(__name__)


def gate(study_name: str) -> bool:
    """The gate task: True when the sweep runs another round."""
    study, cfg = record.load(study_name)
    return not check_stop(study, cfg).stop


def check_stop(study: optuna.Study, cfg: SweepConfig) -> StopDecision:
    """Should the sweep run another round? Records the reason (on the study and the parent run) once
    it stops; a stopped sweep stays stopped."""
    if record.STOP_ATTR in study.user_attrs:
        return StopDecision(**study.user_attrs[record.STOP_ATTR])
    trials = record.search_trials(study.get_trials(deepcopy=False))
    watched = stop_values(cfg, trials, study)
    decision = decide_stop(
        values=watched,
        n_running=sum(t.state == TrialState.RUNNING for t in trials),
        maximize=cfg.maximize or cfg.is_multi_objective,  # hypervolume: higher is better
        max_trials=cfg.budget.max_trials,
        batch_size=cfg.budget.batch_size,
        n_init=cfg.n_init,
        elapsed_seconds=time.time() - study.user_attrs[record.STARTED_ATTR],
        max_minutes=cfg.budget.max_minutes,
        patience=cfg.budget.patience,
        min_delta=cfg.budget.min_delta,
    )
    if decision.stop:
        study.set_user_attr(record.STOP_ATTR, asdict(decision))
        tracking.log_to_run(
            study.user_attrs[record.PARENT_RUN_ATTR],
            tags={"hpo.stop_reason": decision.reason, "hpo.stop_detail": decision.detail},
        )
        log.info("sweep stops: %s (%s)", decision.reason, decision.detail)
    else:
        log.info("sweep continues: %s", decision.detail)
    return decision


def stop_values(cfg: SweepConfig, trials: Sequence[FrozenTrial], study: optuna.Study) -> list[float | None]:
    """What ``patience`` watches, one entry per finished search trial in number order (None never
    improves): the hypervolume so far for several objectives, the value of feasible trials under
    constraints, the value otherwise."""
    finished = [t for t in sorted(trials, key=lambda t: t.number) if t.state.is_finished()]
    if cfg.is_multi_objective:
        ref, _ = outcomes.reference_point(cfg, trials, study.user_attrs.get(record.REFERENCE_ATTR))
        if ref is None:
            return [None for _ in finished]
        return outcomes.hypervolume_history(trials, cfg, ref)
    if cfg.constraints:
        return [
            t.values[0] if t.state == TrialState.COMPLETE and outcomes.is_feasible(t) else None
            for t in finished
        ]
    return [t.value if t.state == TrialState.COMPLETE else None for t in finished]


def suggest_batch(study_name: str, round_index: int) -> list[dict[str, Any]]:
    """Ask the round's trials: their ``record.TrialSpec`` as JSON.

    Round 0 asks the ``n_init`` seed trials at once; later rounds ask ``batch_size`` (fewer when the
    budget runs out). A retry returns the trials this round already asked instead of asking again.
    """
    study, cfg = record.load(study_name)
    mine = record.round_trials(study, round_index)
    if mine:
        log.info("round %d already asked trials %s", round_index, [t.number for t in mine])
        return [trial_spec(study_name, cfg, t, round_index) for t in mine]
    decision = check_stop(study, cfg)
    if decision.stop:
        return []
    n = decision.n_next
    if round_index == 0:
        n = min(cfg.n_init, cfg.budget.max_trials)
    study.sampler = make_sampler(
        cfg, n_asked=len(study.get_trials(deepcopy=False)), prior=warm_start.prior_observations(study)
    )
    from hpo_tasks.space import SearchSpace

    space = SearchSpace.from_config(cfg)
    specs = []
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        space.suggest(trial)  # define-by-run: inactive conditional parameters stay absent
        seed = seeds.trial_seed(cfg.seed, trial.number)
        record.mark_asked(study, trial._trial_id, round_index=round_index, seed=seed)
        specs.append(record.TrialSpec(study_name, trial.number, trial.params, seed, round_index).to_json())
    elapsed = time.perf_counter() - t0
    study.set_user_attr(f"{record.SUGGEST_SECONDS_ATTR}:{round_index}", elapsed)
    parent = study.user_attrs[record.PARENT_RUN_ATTR]
    tracking.log_to_run(parent, metrics={"suggest_seconds": elapsed}, step=round_index)
    for t in record.round_trials(study, round_index):
        tracking.log_suggest_step(parent, t.number, record.suggest_info(t))
    log.info("round %d: asked %d trial(s) in %.2fs", round_index, len(specs), elapsed)
    return specs


def replicate_batch(study_name: str) -> list[dict[str, Any]]:
    """After the search: the replicate trials of the best configurations (``replicate:``), created once.

    Returns their specs like ``suggest_batch`` (``round`` is ``record.REPLICATE_ROUND``, with
    ``replicate_of``); a retry returns the same trials. Empty when the sweep has no ``replicate`` block.
    """
    study, cfg = record.load(study_name)
    if cfg.replicate is None:
        return []
    reps = replication.create_replicates(study, cfg)
    specs = [trial_spec(study_name, cfg, t, record.REPLICATE_ROUND) for t in reps]
    tracking.log_to_run(study.user_attrs[record.PARENT_RUN_ATTR], metrics={"replicate_trials": len(specs)})
    log.info("replication: %d trial(s) of %s", len(specs), sorted({s["replicate_of"] for s in specs}))
    return specs


def trial_spec(study_name: str, cfg: SweepConfig, t: FrozenTrial, round_index: int) -> dict[str, Any]:
    seed = record.seed_of(t)
    if seed is None:  # asked, but the task died before the seed was stored
        seed = seeds.trial_seed(cfg.seed, t.number)
    return record.TrialSpec.of(study_name, t, round_index=round_index, seed=seed).to_json()
