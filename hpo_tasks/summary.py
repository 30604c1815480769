"""The one summary of a sweep run, and the one rule for its best configuration.

``finalize`` (and its ``summary.json``), ``hpo report|status|best``, the Airflow plugin's Sweep tab and
promotion all read ``run_summary``, so they name the same configuration. The best rule (``best``):

- several objectives: no single best; the Pareto set of feasible trials instead (``pareto_front``);
- replicated (``replicate:``): the configuration with the best mean over its original trial and its
  repeats (``hpo_tasks.replication.table``); the best single trial stays on record as ``best_single_*``;
- otherwise: the best feasible completed search trial (``hpo_tasks.outcomes.ranked``).

Pure reads of the Optuna study and of the MLflow tags the tasks wrote; no airflow here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import fidelity, outcomes, record, replication, tracking
from hpo_tasks.config import SweepConfig

DAG_PREFIX = "hpo__"
NO_FEASIBLE = "no feasible trial: no best configuration is reported"


@dataclass(frozen=True)
class Best:
    """The run's best configuration: a trial's params, and its value or (``by_mean``) its mean."""

    trial_number: int
    value: float
    params: dict[str, Any]
    by_mean: bool = False
    stderr: float | None = None  # of the mean (None for one value)


def best(trials: Sequence[FrozenTrial], cfg: SweepConfig) -> Best | None:
    """The one "best" rule (see the module doc); None for several objectives or no feasible trial."""
    if cfg.is_multi_objective:
        return None
    rows = replication.table(list(trials), maximize=cfg.maximize)
    if rows:
        top = rows[0]
        return Best(top["trial_number"], top["mean"], top["params"], by_mean=True, stderr=top["stderr"])
    single = outcomes.best_trial(record.search_trials(trials), cfg)
    if single is None:
        return None
    return Best(single.number, float(single.values[0]), dict(single.params))


def summarize(study_name: str) -> dict[str, Any]:
    """``run_summary`` of a stored run, by study name."""
    study, cfg = record.load(study_name)
    return run_summary(study, cfg)


def run_summary(study: optuna.Study, cfg: SweepConfig) -> dict[str, Any]:
    """The run as JSON: counts against the budget, the best configuration, stop reason, time split,
    MLflow ids; Pareto set and feasibility where the sweep has them; the replication table."""
    all_trials = study.get_trials(deepcopy=False)
    trials = record.search_trials(all_trials)  # replicates are no search progress
    attrs = study.user_attrs
    stop = attrs.get(record.STOP_ATTR) or {}
    started = attrs[record.STARTED_ATTR]
    ended = max((t.datetime_complete.timestamp() for t in all_trials if t.datetime_complete), default=started)
    top = best(all_trials, cfg)
    out: dict[str, Any] = {
        "sweep": cfg.name,
        "study_name": study.study_name,
        "direction": cfg.direction,
        "objective": cfg.objective.name,
        "sampler": cfg.sampler.name,
        "seed": cfg.seed,
        "budget": cfg.budget.max_trials,
        "n_trials": len(trials),
        "trials_done": sum(t.state.is_finished() for t in trials),
        "n_complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "n_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "n_steps": sum(len(t.intermediate_values) for t in trials),
        **(fidelity.compute_figures(trials, cfg.max_resource) if cfg.pruner.name != "none" else {}),
        "n_running": sum(t.state == TrialState.RUNNING for t in trials),
        "best_value": None if top is None else top.value,
        "best_params": None if top is None else top.params,
        "best_trial_number": None if top is None else top.trial_number,
        "stop_reason": stop.get("reason"),
        "stop_detail": stop.get("detail"),
        **time_split(all_trials, attrs, started=started, ended=ended),
        "mlflow_parent_run_id": attrs.get(record.PARENT_RUN_ATTR),
        "mlflow_experiment": tracking.experiment_name(cfg.name),
        **_outcome_fields(study, cfg, all_trials),
    }
    if top is not None and top.by_mean:
        single = outcomes.best_trial(trials, cfg)
        out["n_replicate_trials"] = len(all_trials) - len(trials)
        out["replication"] = replication.table(all_trials, maximize=cfg.maximize)
        out["best_value_stderr"] = top.stderr
        out["best_single_value"] = None if single is None else single.value
        out["best_single_trial_number"] = None if single is None else single.number
    return out


def time_split(
    trials: Sequence[FrozenTrial], attrs: dict[str, Any], *, started: float, ended: float
) -> dict[str, float]:
    """Where the wall time went, from the study's own timestamps.

    ``wall_seconds``: from ``init`` to the last trial's tell. ``trial_seconds``: the objectives' wallclock
    summed over trials (parallel trials add up past the wall). ``trial_busy_seconds``: the wall time in
    which at least one objective ran (the union of ``[tell - wallclock, tell]`` over trials).
    ``suggest_seconds``: the suggest steps. ``orchestration_seconds``: the rest of the wall time (task
    scheduling and start-up, imports, MLflow logging, the record and gate tasks):
    ``wall - trial_busy - suggest``, measured, not assumed."""
    spans = sorted(
        (
            t.datetime_complete.timestamp() - t.user_attrs[record.WALLCLOCK_ATTR],
            t.datetime_complete.timestamp(),
        )
        for t in trials
        if t.datetime_complete and record.WALLCLOCK_ATTR in t.user_attrs
    )
    busy, reach = 0.0, float("-inf")
    for lo, hi in spans:  # the length of the union of the intervals
        lo = max(lo, reach)
        if hi > lo:
            busy += hi - lo
            reach = hi
    wall = ended - started
    suggest = sum(v for k, v in attrs.items() if k.startswith(record.SUGGEST_SECONDS_ATTR))
    return {
        "wall_seconds": round(wall, 2),
        "trial_seconds": round(sum(t.user_attrs.get(record.WALLCLOCK_ATTR, 0.0) for t in trials), 2),
        "trial_busy_seconds": round(busy, 2),
        "suggest_seconds": round(suggest, 2),
        "orchestration_seconds": round(max(0.0, wall - busy - suggest), 2),
    }


def stop_label(s: dict[str, Any]) -> str:
    """``max_trials (3 of 3 trials done)``, or ``not stopped (running)`` for a live run."""
    if s["stop_reason"]:
        return f"{s['stop_reason']} ({s['stop_detail']})" if s["stop_detail"] else s["stop_reason"]
    return "not stopped (running)"


def trial_rows(
    trials: Sequence[FrozenTrial], child_urls: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """One row per trial (search and replicate trials): number, state, value(s), params, wallclock, error,
    and the MLflow child run's page where ``child_urls`` (trial number -> URL) has it."""
    urls = child_urls or {}
    return [
        {
            "trial_number": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.values and len(t.values) == 1 else None,
            "values": list(t.values) if t.values and len(t.values) > 1 else None,
            "params": dict(t.params),
            "wallclock_seconds": t.user_attrs.get(record.WALLCLOCK_ATTR),
            "error": t.user_attrs.get(record.ERROR_ATTR),
            "replicate_of": t.user_attrs.get(record.REPLICATE_OF_ATTR),
            "mlflow_url": urls.get(t.number),
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]


def best_so_far(rows: Sequence[dict[str, Any]], *, maximize: bool) -> list[tuple[int, float]]:
    """``(trial number, best value up to it)`` over completed search trials with a single value."""
    out: list[tuple[int, float]] = []
    for r in rows:
        if r["state"] != "COMPLETE" or r["value"] is None or r["replicate_of"] is not None:
            continue
        v = float(r["value"])
        if out:
            v = max(v, out[-1][1]) if maximize else min(v, out[-1][1])
        out.append((r["trial_number"], v))
    return out


def _outcome_fields(study: optuna.Study, cfg: SweepConfig, trials: list[FrozenTrial]) -> dict[str, Any]:
    """Feasibility (constraints) and the Pareto set with its hypervolume (several objectives)."""
    out: dict[str, Any] = {}
    if cfg.constraints:
        n_ok = len(outcomes.feasible_complete(trials))
        out |= {"constraints": list(cfg.constraints), "n_feasible": n_ok}
        if n_ok == 0:
            out["note"] = NO_FEASIBLE
    if cfg.is_multi_objective:
        assert cfg.objectives
        ref, source = outcomes.reference_point(cfg, trials, study.user_attrs.get(record.REFERENCE_ATTR))
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


def direction_label(s: dict[str, Any]) -> str:
    """``maximize``, or ``f1 minimize, f2 maximize`` for several objectives."""
    return s["direction"] or ", ".join(f"{m} {d}" for m, d in (s.get("objectives") or {}).items())


# -- the Airflow plugin's view: a DAG run's summary, found by the MLflow parent's tags ----------------


def sweep_of_dag(dag_id: str) -> str | None:
    return dag_id.removeprefix(DAG_PREFIX) if dag_id.startswith(DAG_PREFIX) else None


def run_progress(dag_id: str, run_id: str) -> dict[str, Any] | None:
    """The summary of one DAG run (found by the MLflow parent's ``airflow.run_id`` tag) with its MLflow
    link, promotion and whether it finished; None when there is no such run."""
    sweep = sweep_of_dag(dag_id)
    if sweep is None:
        return None
    parent = tracking.find_run(
        sweep, **{"airflow.run_id": run_id, "airflow.dag_id": dag_id, tracking.KIND_TAG: "sweep"}
    )
    if not parent:
        return None
    study, cfg = record.load(parent.data.tags[tracking.STUDY_TAG])
    out = run_summary(study, cfg)
    exp_id, parent_id = parent.info.experiment_id, parent.info.run_id
    out["mlflow_url"] = tracking.run_url(exp_id, parent_id)
    out["mlflow_trials_url"] = tracking.trials_url(
        exp_id, parent_id, maximize=None if cfg.is_multi_objective else cfg.maximize
    )
    urls = {
        int(c.data.tags[tracking.TRIAL_TAG]): tracking.run_url(exp_id, c.info.run_id)
        for c in tracking.children(parent_id, sweep)
        if tracking.TRIAL_TAG in c.data.tags
    }
    out["trials"] = trial_rows(study.get_trials(deepcopy=False), urls)
    out["best_so_far"] = [] if cfg.is_multi_objective else best_so_far(out["trials"], maximize=cfg.maximize)
    out["promotion"] = parent.data.tags.get("hpo.promotion")
    out["promotion_detail"] = parent.data.tags.get("hpo.promotion_detail")
    out["finished"] = parent.info.status != "RUNNING"
    return out


def trial_detail(dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any] | None:
    """The trial that task instance ran (its ``trial_rows`` row, with the study name), found by the MLflow
    child run's tags; None when the task instance is not a trial or has not logged its run yet."""
    sweep = sweep_of_dag(dag_id)
    if sweep is None:
        return None
    run = tracking.find_run(
        sweep,
        **{
            "airflow.run_id": run_id,
            "airflow.task_id": task_id,
            "airflow.map_index": str(map_index),
            tracking.KIND_TAG: "trial",
        },
    )
    if run is None:
        return None
    study_name, number = run.data.tags[tracking.STUDY_TAG], int(run.data.tags[tracking.TRIAL_TAG])
    study, _ = record.load(study_name)
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    (row,) = trial_rows([trial], {number: tracking.run_url(run.info.experiment_id, run.info.run_id)})
    return {**row, "study_name": study_name}
