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

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks import outcomes, record, replication, tracking
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
        "n_running": sum(t.state == TrialState.RUNNING for t in trials),
        "best_value": None if top is None else top.value,
        "best_params": None if top is None else top.params,
        "best_trial_number": None if top is None else top.trial_number,
        "stop_reason": stop.get("reason"),
        "stop_detail": stop.get("detail"),
        "wall_seconds": round(ended - started, 2),
        "trial_seconds": round(sum(t.user_attrs.get(record.WALLCLOCK_ATTR, 0.0) for t in all_trials), 2),
        "suggest_seconds": round(
            sum(v for k, v in attrs.items() if k.startswith(record.SUGGEST_SECONDS_ATTR)), 2
        ),
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
    parent = sweep and tracking.find_run(
        sweep, **{"airflow.run_id": run_id, "airflow.dag_id": dag_id, tracking.KIND_TAG: "sweep"}
    )
    if not parent:
        return None
    out = summarize(parent.data.tags[tracking.STUDY_TAG])
    out["mlflow_url"] = tracking.run_url(parent.info.experiment_id, parent.info.run_id)
    out["promotion"] = parent.data.tags.get("hpo.promotion")
    out["promotion_detail"] = parent.data.tags.get("hpo.promotion_detail")
    out["finished"] = parent.info.status != "RUNNING"
    return out


def trial_run_url(dag_id: str, run_id: str, task_id: str, map_index: int) -> str | None:
    """The MLflow page of the trial that task instance ran, or None."""
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
    return None if run is None else tracking.run_url(run.info.experiment_id, run.info.run_id)


def render_html(p: dict[str, Any] | None, *, dag_id: str, run_id: str) -> str:
    """The Sweep tab's page: one small self-contained HTML document."""
    e = html.escape
    if p is None:
        body = f"<p>No sweep run found for <code>{e(dag_id)}</code> / <code>{e(run_id)}</code> (yet).</p>"
    else:
        pct = min(100, round(100 * p["trials_done"] / max(1, p["budget"])))
        shown = "—" if p["best_value"] is None else f"{p['best_value']:.6g} (trial {p['best_trial_number']})"
        if p.get("replication") and p["best_value"] is not None:
            shown = f"{p['best_value']:.6g} mean over replicates (trial {p['best_trial_number']})"
        if p.get("pareto_front") is not None:
            front = p["pareto_front"]
            shown = f"Pareto set of {len(front)}: trials {[f['trial_number'] for f in front]}"
        params = "".join(
            f"<tr><td>{e(str(k))}</td><td>{e(f'{v:.6g}' if isinstance(v, float) else str(v))}</td></tr>"
            for k, v in (p["best_params"] or {}).items()
        )
        stop = e(f"{p['stop_reason']} ({p['stop_detail']})") if p["stop_reason"] else "running"
        promo = e(f"{p['promotion']}: {p['promotion_detail']}") if p.get("promotion") else "—"
        body = f"""
<p id="progress"><b>{p["trials_done"]} / {p["budget"]}</b> trials done
 ({p["n_complete"]} complete, {p["n_failed"]} failed, {p["n_running"]} running)</p>
<div style="background:#eee;width:100%;max-width:480px;height:12px"><div style="background:#2b7;
 width:{pct}%;height:12px"></div></div>
<p>Best so far ({e(direction_label(p))}): <b id="best">{e(shown)}</b></p>
<table>{params}</table>
<p>Stop reason: <span id="stop">{stop}</span></p>
<p>Promotion: {promo}</p>
<p>Study <code>{e(p["study_name"])}</code></p>
<p><a id="mlflow-link" href="{e(p["mlflow_url"])}" target="_blank" rel="noopener">
 Open the MLflow run</a></p>"""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sweep {e(dag_id)}</title>
<style>body{{font-family:sans-serif;margin:1em}}td{{padding:0 1em 0 0}}</style></head>
<body><h3>Sweep <code>{e(dag_id)}</code> run <code>{e(run_id)}</code></h3>{body}</body></html>"""
