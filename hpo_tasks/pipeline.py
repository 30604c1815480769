"""The sweep's steps, one function per Airflow task (the DAG only wires them): init, gate, suggest,
(trial: ``hpo_tasks.trial``), record, finalize. ``hpo run`` drives the same functions in a loop.

Every step is idempotent: it re-derives what it needs from the Optuna study and finds MLflow runs by tag.
Small JSON values cross task boundaries; models and plots go to MLflow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import outcomes, pareto, promotion, replication, tracking, warm_start
from hpo_tasks import study as study_mod
from hpo_tasks.config import SweepConfig, SweepConfigError, rounds_after_seed
from hpo_tasks.stopping import StopDecision, decide_stop

log = logging.getLogger(__name__)
SUGGEST_SECONDS_ATTR = "hpo:suggest_seconds"
# Trust-region state per suggest step (hpo_tasks.gp.turbo), logged as gp.tr_length etc.
TRUST_REGION_KEYS = ("tr_length", "tr_successes", "tr_failures", "tr_restarts")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def init_sweep(
    cfg: SweepConfig,
    *,
    run_id: str,
    overrides: Mapping[str, Any] | None = None,
    max_rounds: int | None = None,
    context: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create the run's study and MLflow parent run (both found again on a retry).

    ``overrides`` are the trigger form's values; they are validated like the file. ``max_rounds`` is the
    number of rounds the DAG unrolled: a run whose budget would need more is refused before any trial.
    """
    from hpo_tasks.config.overrides import check_overrides, with_overrides

    check_overrides(cfg, dict(overrides or {}))
    cfg = with_overrides(cfg, overrides or {})
    if max_rounds is not None:
        needed = 1 + rounds_after_seed(cfg.budget.max_trials, cfg.n_init, cfg.budget.batch_size)
        if needed > max_rounds:
            raise SweepConfigError(
                f"budget.batch_size: {cfg.budget.batch_size} needs {needed} rounds for "
                f"{cfg.budget.max_trials} trials but the DAG has {max_rounds}; raise batch_size or "
                f"lower max_trials"
            )
    name = study_mod.study_name_for(cfg.name, run_id)
    study = study_mod.create_study(cfg, name)
    warm = warm_start.apply(cfg, study) if cfg.warm_start is not None else None
    if study_mod.PARENT_RUN_ATTR not in study.user_attrs:
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
            params=_flat_config(cfg),
        )
        study.set_user_attr(study_mod.PARENT_RUN_ATTR, parent)
        if warm is not None:
            ws_tags, ws_metrics = warm_start.tracking_record(warm)
            tracking.log(parent, tags=ws_tags, metrics=ws_metrics)
        if cfg.sampler.name == "optuna-gp" and any(p.when for p in cfg.space.values()):
            note = (
                "Optuna's GPSampler models only parameters present in every trial: conditional "
                "parameters are sampled independently (at random). Use sampler gp to model them."
            )
            log.warning(note)
            tracking.log(parent, tags={"hpo.warning.space": note})
        _warn_pruner(cfg, parent)
    log.info("study %s ready (n_init=%d, max_trials=%d)", name, cfg.n_init, cfg.budget.max_trials)
    return {"study_name": name, "parent_run_id": study.user_attrs[study_mod.PARENT_RUN_ATTR]}


def _warn_pruner(cfg: SweepConfig, parent: str) -> None:
    """A pruner that cannot act (the objective reports nothing): say so on the parent run."""
    from hpo_tasks.pruning import config_warnings

    notes = config_warnings(cfg)
    for note in notes:
        log.warning(note)
    if notes:
        tracking.log(parent, tags={"hpo.warning.pruner": "; ".join(notes)})


def run_label(run_id: str, *, scheduled_for: str | None = None) -> str:
    """The study label of a DAG run: its logical date for scheduled runs (``2026-11-27T0200``, one study
    per night, found by date), the Airflow run id otherwise."""
    if not scheduled_for:
        return run_id
    from datetime import datetime

    return datetime.fromisoformat(scheduled_for).strftime("%Y-%m-%dT%H%M")


def _flat_config(cfg: SweepConfig) -> dict[str, Any]:
    return {
        "objective": cfg.objective.name,
        "direction": cfg.direction or ",".join(f"{o.metric}:{o.direction}" for o in cfg.objectives or ()),
        **({"constraints": "; ".join(cfg.constraints)} if cfg.constraints else {}),
        "sampler": cfg.sampler.name,
        "acquisition": cfg.sampler.acquisition,
        "trust_region": cfg.uses_trust_region,
        "seed": cfg.seed,
        "n_init": cfg.n_init,
        **{f"budget.{k}": v for k, v in cfg.budget.model_dump().items()},
        **{f"objective.{k}": v for k, v in cfg.objective.args.items()},
        **({"pruner": cfg.pruner.name} if cfg.pruner.name != "none" else {}),
        **{f"pruner.{k}": v for k, v in _pruner_settings(cfg).items()},
        **_gp_noise_settings(cfg),
        **_block("warm_start", cfg.warm_start),
        **_block("replicate", cfg.replicate),
    }


def _gp_noise_settings(cfg: SweepConfig) -> dict[str, Any]:
    """The GP's noise model (gp sampler only): ``noise`` and, when known, ``noise_std``."""
    if cfg.sampler.name != "gp":
        return {}
    out: dict[str, Any] = {"noise": cfg.sampler.noise}
    if cfg.sampler.noise_std is not None:
        out["noise_std"] = cfg.sampler.noise_std
    return out


def _block(prefix: str, block: Any) -> dict[str, Any]:
    """An optional YAML block's settings as ``prefix.field`` params (by their YAML names), or none."""
    if block is None:
        return {}
    return {f"{prefix}.{k}": v for k, v in block.model_dump(by_alias=True).items()}


def _pruner_settings(cfg: SweepConfig) -> dict[str, Any]:
    from hpo_tasks.config import PRUNER_FIELDS

    out = cfg.pruner.model_dump(include=set(PRUNER_FIELDS[cfg.pruner.name]))
    if "max_resource" in out:
        out["max_resource"] = cfg.max_resource
    return out


def _values_in_order(trials: list[FrozenTrial]) -> list[float | None]:
    out: list[float | None] = []
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE:
            out.append(t.value)
        elif t.state in (TrialState.FAIL, TrialState.PRUNED):
            out.append(None)
    return out


def check_stop(study_name: str) -> StopDecision:
    """The gate: should the sweep run another round? Records the reason once it stops."""
    study, cfg = study_mod.load(study_name)
    if study_mod.STOP_ATTR in study.user_attrs:
        return StopDecision(**study.user_attrs[study_mod.STOP_ATTR])
    trials = replication.search_trials(study.get_trials(deepcopy=False))
    outcome_values = pareto.stop_values(cfg, trials, study)  # hypervolume / feasible values, or None
    decision = decide_stop(
        values=_values_in_order(trials) if outcome_values is None else outcome_values,
        n_running=sum(t.state == TrialState.RUNNING for t in trials),
        maximize=cfg.direction == "maximize" or cfg.is_multi_objective,
        max_trials=cfg.budget.max_trials,
        batch_size=cfg.budget.batch_size,
        n_init=cfg.n_init,
        elapsed_seconds=time.time() - study.user_attrs[study_mod.STARTED_ATTR],
        max_minutes=cfg.budget.max_minutes,
        patience=cfg.budget.patience,
        min_delta=cfg.budget.min_delta,
    )
    if decision.stop:
        study.set_user_attr(study_mod.STOP_ATTR, asdict(decision))
        tracking.log(
            study.user_attrs[study_mod.PARENT_RUN_ATTR],
            tags={"hpo.stop_reason": decision.reason, "hpo.stop_detail": decision.detail},
        )
        log.info("sweep stops: %s (%s)", decision.reason, decision.detail)
    else:
        log.info("sweep continues: %s", decision.detail)
    return decision


def suggest_batch(study_name: str, round_index: int) -> list[dict[str, Any]]:
    """Ask the round's trials: ``[{study_name, trial_number, params, seed, round}]``.

    Round 0 asks the ``n_init`` seed trials at once; later rounds ask ``batch_size`` (fewer when the
    budget runs out). A retry returns the trials this round already asked instead of asking again.
    """
    study, cfg = study_mod.load(study_name)
    mine = _round_trials(study, round_index)
    if mine:
        log.info("round %d already asked trials %s", round_index, [t.number for t in mine])
        return [_spec(study_name, cfg, t, round_index) for t in mine]
    decision = check_stop(study_name)
    if decision.stop:
        return []
    n = decision.n_next
    if round_index == 0:
        n = min(cfg.n_init, cfg.budget.max_trials)
    all_trials = study.get_trials(deepcopy=False)
    study.sampler = study_mod.make_sampler(
        cfg, n_asked=len(all_trials), prior=warm_start.prior_observations(study)
    )
    from hpo_tasks.space import SearchSpace

    space = SearchSpace.from_config(cfg)
    specs = []
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        space.suggest(trial)  # define-by-run: inactive conditional parameters stay absent
        study._storage.set_trial_system_attr(trial._trial_id, study_mod.ROUND_ATTR, round_index)
        seed = study_mod.trial_seed(cfg, trial.number)
        study._storage.set_trial_system_attr(trial._trial_id, study_mod.SEED_ATTR, seed)
        specs.append(
            {
                "study_name": study_name,
                "trial_number": trial.number,
                "params": trial.params,
                "seed": seed,
                "round": round_index,
            }
        )
    elapsed = time.perf_counter() - t0
    study.set_user_attr(f"{SUGGEST_SECONDS_ATTR}:{round_index}", elapsed)
    parent = study.user_attrs[study_mod.PARENT_RUN_ATTR]
    tracking.log(parent, metrics={"suggest_seconds": elapsed}, step=round_index)
    _log_gp_diagnostics(study, parent, [t.number for t in _round_trials(study, round_index)])
    log.info("round %d: asked %d trial(s) in %.2fs", round_index, len(specs), elapsed)
    return specs


def _log_gp_diagnostics(study: optuna.Study, parent: str, numbers: list[int]) -> None:
    """Per suggest step, on the parent run (step = trial number): fit and acquisition time, the chosen
    point's acquisition value, noise, outputscale, lengthscale per parameter; warnings and fallbacks as
    tags, so a sweep the GP could not serve well never passes for one that it did."""
    for number in numbers:
        t = study.get_trials(deepcopy=False)[number]
        info = study_mod.suggest_info(t)
        if info.get("phase") not in ("gp", "fallback") and "tr_length" not in info:
            continue  # seed trials, except a trust region's restart design
        metrics = {
            f"gp.{k}": info[k]
            for k in ("fit_seconds", "acq_seconds", "acq_value", "noise", "outputscale", *TRUST_REGION_KEYS)
            if isinstance(info.get(k), int | float) and math.isfinite(info[k])
        }
        metrics |= {f"gp.lengthscale.{k}": v for k, v in (info.get("lengthscales") or {}).items()}
        tags: dict[str, str] = {}
        if info["phase"] == "fallback":
            tags["hpo.gp_fallback"] = f"trial {number}: {info.get('fallback_reason')}"
        if info.get("warnings"):
            tags[f"hpo.warning.trial_{number}"] = "; ".join(info["warnings"])
        tracking.log(parent, metrics=metrics, tags=tags, step=number)


def _round_trials(study: optuna.Study, round_index: int) -> list[FrozenTrial]:
    return [
        t for t in study.get_trials(deepcopy=False) if t.system_attrs.get(study_mod.ROUND_ATTR) == round_index
    ]


def _spec(study_name: str, cfg: SweepConfig, t: FrozenTrial, round_index: int) -> dict[str, Any]:
    return {
        "study_name": study_name,
        "trial_number": t.number,
        "params": t.params,
        "seed": t.system_attrs.get(study_mod.SEED_ATTR, study_mod.trial_seed(cfg, t.number)),
        "round": round_index,
    }


def record_round(study_name: str, round_index: int) -> dict[str, Any]:
    """Close the round: fail trials whose task never reported, log best-so-far to the parent run.

    Returns ``{"round", "asked", "complete", "failed", "pruned", "best_value"}``; ``asked == 0`` means
    the round was never run (the sweep had stopped).
    """
    study, cfg = study_mod.load(study_name)
    mine = _round_trials(study, round_index)
    parent = study.user_attrs[study_mod.PARENT_RUN_ATTR]
    for t in mine:
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            err = "trial task did not report (failed after its retries or was lost)"
            study._storage.set_trial_user_attr(t._trial_id, "error", err)
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            run_id, status = tracking.find_or_create_child(
                cfg.name, study_name, parent, t.number, tags={"hpo.round": str(round_index)}
            )
            tracking.log(run_id, params=t.params, tags={"hpo.state": "FAIL", "hpo.error": err})
            if status == "RUNNING":
                tracking.end(run_id, "FAILED")
            log.warning("trial %d: %s; marked FAIL", t.number, err)
    mine = _round_trials(study, round_index)
    trials = study.get_trials(deepcopy=False)
    n_done = sum(t.state.is_finished() for t in trials)
    best = _best(study)
    if best is not None and best.value is not None and round_index >= 0:
        tracking.log(parent, metrics={"best_value": best.value}, step=n_done)
        tracking.log(
            parent, metrics={"round_best_value": best.value, "round_trials_done": n_done}, step=round_index
        )
    extra = {}
    if cfg.objectives or cfg.constraints:
        extra = pareto.record(study, cfg, parent, round_index=round_index, n_done=n_done)
        tracking.log(parent, metrics={"round_trials_done": n_done}, step=round_index)
    summary = {
        "round": round_index,
        "asked": len(mine),
        "complete": sum(t.state == TrialState.COMPLETE for t in mine),
        "failed": sum(t.state == TrialState.FAIL for t in mine),
        "pruned": sum(t.state == TrialState.PRUNED for t in mine),
        "best_value": None if best is None else best.value,
        **extra,
    }
    log.info("round %d recorded: %s", round_index, summary)
    return summary


def _best(study: optuna.Study) -> FrozenTrial | None:
    """The best feasible search trial (replicates of a configuration are reported by mean, not here)."""
    trials = study.get_trials(deepcopy=False)
    if not any(replication.is_replicate(t) for t in trials):
        try:
            return study.best_trial  # feasible trials only, under constraints (Optuna's rule)
        except (ValueError, RuntimeError):  # none yet / none feasible / several objectives (no single best)
            return None
    done = [
        t
        for t in replication.search_trials(trials)
        if t.state == TrialState.COMPLETE
        and t.value is not None
        and math.isfinite(t.value)
        and t.user_attrs.get(outcomes.FEASIBLE_ATTR, True) is not False
    ]
    if not done:
        return None
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    return max(done, key=lambda t: (sign * t.value, -t.number))  # type: ignore[operator]


def replicate_batch(study_name: str) -> list[dict[str, Any]]:
    """After the search: the replicate trials of the best configurations (``replicate:``), created once.

    Returns their specs like ``suggest_batch`` (``round`` is ``replication.REPLICATE_ROUND``); a retry
    returns the same trials. Empty when the sweep has no ``replicate`` block.
    """
    study, cfg = study_mod.load(study_name)
    if cfg.replicate is None:
        return []
    reps = replication.create_replicates(study, cfg)
    r = replication.REPLICATE_ROUND
    specs = [
        {**_spec(study_name, cfg, t, r), "replicate_of": t.user_attrs[replication.OF_ATTR]} for t in reps
    ]
    tracking.log(study.user_attrs[study_mod.PARENT_RUN_ATTR], metrics={"replicate_trials": len(specs)})
    log.info("replication: %d trial(s) of %s", len(specs), sorted({s["replicate_of"] for s in specs}))
    return specs


def summarize(study_name: str) -> dict[str, Any]:
    """The run's outcome as JSON: best config and value, counts, stop reason, time split, MLflow ids."""
    study, cfg = study_mod.load(study_name)
    all_trials = study.get_trials(deepcopy=False)
    trials = replication.search_trials(all_trials)
    best = _best(study)
    stop = study.user_attrs.get(study_mod.STOP_ATTR) or {}
    started = study.user_attrs[study_mod.STARTED_ATTR]
    ended = max((t.datetime_complete.timestamp() for t in all_trials if t.datetime_complete), default=started)
    out = {
        "sweep": cfg.name,
        "study_name": study_name,
        "direction": cfg.direction,
        "objective": cfg.objective.name,
        "sampler": cfg.sampler.name,
        "seed": cfg.seed,
        "n_trials": len(trials),
        "n_complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "n_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "n_steps": sum(len(t.intermediate_values) for t in trials),
        "n_running": sum(t.state == TrialState.RUNNING for t in trials),
        "best_value": None if best is None else best.value,
        "best_params": None if best is None else best.params,
        "best_trial_number": None if best is None else best.number,
        "stop_reason": stop.get("reason"),
        "stop_detail": stop.get("detail"),
        "wall_seconds": round(ended - started, 2),
        "trial_seconds": round(sum(t.user_attrs.get("wallclock_seconds", 0.0) for t in all_trials), 2),
        "suggest_seconds": round(
            sum(v for k, v in study.user_attrs.items() if k.startswith(SUGGEST_SECONDS_ATTR)), 2
        ),
        "mlflow_parent_run_id": study.user_attrs.get(study_mod.PARENT_RUN_ATTR),
        "mlflow_experiment": tracking.experiment_name(cfg.name),
        **pareto.summary_fields(study, cfg),
    }
    rows = replication.table(all_trials, maximize=cfg.direction == "maximize")
    if rows:
        # Replicated: the best configuration is the best mean; the best single trial stays on record.
        pick = rows[0]
        out["n_replicate_trials"] = len(all_trials) - len(trials)
        out["replication"] = rows
        out["best_single_value"] = out["best_value"]
        out["best_single_trial_number"] = out["best_trial_number"]
        out["best_value"] = pick["mean"]
        out["best_value_stderr"] = pick["stderr"]
        out["best_params"] = pick["params"]
        out["best_trial_number"] = pick["trial_number"]
    return out


def finalize(study_name: str, *, promote: bool = True) -> dict[str, Any]:
    """Summarise the run on the MLflow parent run and close it. Runs after early stops too.

    Logs the plots and the best config, then (``promote``) retrains the best configuration and gates
    its promotion to champion (``hpo_tasks.promotion``).
    """
    study, cfg = study_mod.load(study_name)
    decision = check_stop(study_name)
    if not decision.stop:  # the DAG ran out of unrolled rounds before the budget: say so
        study.set_user_attr(
            study_mod.STOP_ATTR,
            {"stop": True, "reason": "rounds", "detail": "the DAG's unrolled rounds ran out", "n_next": 0},
        )
    # Anything still RUNNING here was lost with its task: fail it so nothing is left dangling.
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    summary = summarize(study_name)
    parent = summary["mlflow_parent_run_id"]
    metrics: dict[str, float] = {
        k: summary[k] for k in ("n_complete", "n_failed", "wall_seconds", "trial_seconds", "suggest_seconds")
    }
    metrics |= {k: summary[k] for k in ("n_pruned", "n_steps")}
    if summary["best_value"] is not None:
        metrics["best_value"] = summary["best_value"]
    if summary.get("replication"):
        metrics["best_mean"] = summary["best_value"]
        if summary["best_value_stderr"] is not None:
            metrics["best_mean_stderr"] = summary["best_value_stderr"]
    tracking.log(
        parent,
        metrics=metrics,
        tags={
            "hpo.stop_reason": summary["stop_reason"],
            "hpo.stop_detail": summary["stop_detail"],
            "hpo.best_trial_number": summary["best_trial_number"],
        },
        step=summary["n_trials"],
    )
    c = tracking.client()
    if summary["best_params"] is not None:
        best_yaml = yaml.safe_dump(dict(summary["best_params"]), sort_keys=False)
        c.log_text(parent, best_yaml, "best_config.yaml")
        summary["plots"] = _log_plots(study, cfg, parent)
        if promote:
            t0 = time.perf_counter()
            best = study.get_trials(deepcopy=False)[summary["best_trial_number"]]  # by mean, if replicated
            summary["promotion"] = promotion.retrain_and_promote(
                cfg,
                study_name=study_name,
                parent_run_id=parent,
                params=best.params,
                seed=int(best.user_attrs.get("seed", study_mod.trial_seed(cfg, best.number))),
            )
            tracking.log(parent, metrics={"promotion_seconds": time.perf_counter() - t0})
    if cfg.is_multi_objective:
        summary |= pareto.finalize_front(study, cfg, parent)
    elif summary.get("note"):  # constraints, none feasible: say so rather than report an infeasible trial
        tracking.log(parent, tags={"hpo.best": summary["note"]})
    if summary.get("replication"):
        c.log_dict(parent, _jsonable(summary["replication"]), "replication.json")
        c.log_text(parent, replication.format_table(summary["replication"]), "replication.txt")
    c.log_dict(parent, _jsonable(summary), "summary.json")
    if tracking.run_info(parent).info.status == "RUNNING":
        tracking.end(parent, "FINISHED")
    study.set_user_attr(warm_start.FINISHED_ATTR, time.time())  # a later run may warm-start from it
    log.info("sweep finished: %s", summary)
    return summary


def _log_plots(study: optuna.Study, cfg: SweepConfig, parent: str) -> dict[str, str]:
    """Render the plots into a temporary folder and upload them under the parent's ``plots/``."""
    import tempfile
    from pathlib import Path

    from hpo_tasks import plots

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        made = plots.render_all(study, n_init=cfg.n_init, out_dir=Path(tmp))
        tracking.client().log_artifacts(parent, tmp, "plots")
    tracking.log(parent, metrics={"plots_seconds": time.perf_counter() - t0})
    return made


def latest_study_name(sweep: str) -> str | None:
    """The most recently started run's study of a sweep, or None."""
    names = [
        s.study_name
        for s in optuna.get_all_study_summaries(study_mod.storage())
        if s.study_name.startswith(f"{sweep}:")
    ]
    if not names:
        return None
    return max(names, key=lambda n: study_mod.load(n)[0].user_attrs.get(study_mod.STARTED_ATTR, 0.0))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def run_in_process(
    cfg: SweepConfig,
    *,
    label: str,
    overrides: Mapping[str, Any] | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> dict:
    """The same sweep without Airflow (``hpo run``): the DAG's steps in a plain loop, trials in order.
    ``on_trial`` sees each trial's result as it finishes (``hpo run``'s progress bar)."""
    from hpo_tasks.trial import run_trial

    info = init_sweep(cfg, run_id=label, overrides=overrides)
    name = info["study_name"]
    r = 0
    while True:
        specs = suggest_batch(name, r)
        if not specs:
            break
        for spec in specs:
            result = run_trial(spec, context={"run_id": label})
            if on_trial is not None:
                on_trial(result)
        record_round(name, r)
        r += 1
    specs = replicate_batch(name)
    for spec in specs:
        result = run_trial(spec, context={"run_id": label})
        if on_trial is not None:
            on_trial(result)
    if specs:
        record_round(name, replication.REPLICATE_ROUND)
    return finalize(name)
