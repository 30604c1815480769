"""A sweep run's progress for people: trials done against the budget, best so far, stop reason, and where
its MLflow runs are. Read from the Optuna study and the MLflow tags the tasks wrote, so the Airflow plugin,
``hpo status`` and tests all see one answer. Pure reads; no airflow here.
"""

from __future__ import annotations

import html
from typing import Any

from optuna.trial import TrialState

from hpo_tasks import outcomes, tracking
from hpo_tasks import study as study_mod
from hpo_tasks.replication import search_trials

DAG_PREFIX = "hpo__"


def sweep_of_dag(dag_id: str) -> str | None:
    return dag_id.removeprefix(DAG_PREFIX) if dag_id.startswith(DAG_PREFIX) else None


def study_progress(study_name: str) -> dict[str, Any]:
    """``{study_name, sweep, trials_done, complete, failed, running, budget, best_value, best_params,
    best_trial_number, stop_reason, stop_detail, finished, parent_run_id}`` from the study alone."""
    study, cfg = study_mod.load(study_name)
    trials = search_trials(study.get_trials(deepcopy=False))  # replicates are no search progress
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # One objective: the best feasible trial. Several: no single best, the Pareto set instead.
    best = None if cfg.is_multi_objective else outcomes.best_trial(complete, cfg)
    stop = study.user_attrs.get(study_mod.STOP_ATTR) or {}
    return {
        "study_name": study_name,
        "sweep": cfg.name,
        "direction": cfg.direction or ", ".join(f"{o.metric} {o.direction}" for o in cfg.objectives or ()),
        "trials_done": sum(t.state.is_finished() for t in trials),
        "complete": len(complete),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "budget": cfg.budget.max_trials,
        "best_value": None if best is None else best.value,
        "best_params": None if best is None else best.params,
        "best_trial_number": None if best is None else best.number,
        "stop_reason": stop.get("reason"),
        "stop_detail": stop.get("detail"),
        "parent_run_id": study.user_attrs.get(study_mod.PARENT_RUN_ATTR),
        **_pareto(trials, cfg),
    }


def _pareto(trials: list[Any], cfg: Any) -> dict[str, Any]:
    """Several objectives: ``pareto`` (the feasible non-dominated trials: number, values, params)."""
    if not cfg.is_multi_objective:
        return {}
    names = [o.metric for o in cfg.objectives]
    return {
        "pareto": [
            {"trial_number": t.number, "values": dict(zip(names, t.values, strict=True)), "params": t.params}
            for t in outcomes.pareto_trials(trials, cfg)
        ]
    }


def run_progress(dag_id: str, run_id: str) -> dict[str, Any] | None:
    """Progress of one DAG run (found by the MLflow parent's ``airflow.run_id`` tag), or None."""
    sweep = sweep_of_dag(dag_id)
    parent = sweep and tracking.find_run(
        sweep, **{"airflow.run_id": run_id, "airflow.dag_id": dag_id, tracking.KIND_TAG: "sweep"}
    )
    if not parent:
        return None
    out = study_progress(parent.data.tags[tracking.STUDY_TAG])
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
    """The plugin's progress page: one small self-contained HTML document."""
    e = html.escape
    if p is None:
        body = f"<p>No sweep run found for <code>{e(dag_id)}</code> / <code>{e(run_id)}</code> (yet).</p>"
    else:
        pct = min(100, round(100 * p["trials_done"] / max(1, p["budget"])))
        best = "—" if p["best_value"] is None else f"{p['best_value']:.6g} (trial {p['best_trial_number']})"
        if p.get("pareto") is not None:
            best = f"Pareto set of {len(p['pareto'])}: trials {[f['trial_number'] for f in p['pareto']]}"
        params = "".join(
            f"<tr><td>{e(str(k))}</td><td>{e(f'{v:.6g}' if isinstance(v, float) else str(v))}</td></tr>"
            for k, v in (p["best_params"] or {}).items()
        )
        stop = e(f"{p['stop_reason']} ({p['stop_detail']})") if p["stop_reason"] else "running"
        promo = e(f"{p['promotion']}: {p['promotion_detail']}") if p.get("promotion") else "—"
        body = f"""
<p id="progress"><b>{p["trials_done"]} / {p["budget"]}</b> trials done
 ({p["complete"]} complete, {p["failed"]} failed, {p["running"]} running)</p>
<div style="background:#eee;width:100%;max-width:480px;height:12px"><div style="background:#2b7;
 width:{pct}%;height:12px"></div></div>
<p>Best so far ({e(p["direction"])}): <b id="best">{e(best)}</b></p>
<table>{params}</table>
<p>Stop reason: <span id="stop">{stop}</span></p>
<p>Promotion: {promo}</p>
<p>Study <code>{e(p["study_name"])}</code></p>
<p><a id="mlflow-link" href="{e(p["mlflow_url"])}" target="_blank" rel="noopener">
 Open the MLflow run</a></p>"""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sweep {e(dag_id)}</title>
<style>body{{font-family:sans-serif;margin:1em}}td{{padding:0 1em 0 0}}</style></head>
<body><h3>Sweep <code>{e(dag_id)}</code> run <code>{e(run_id)}</code></h3>{body}</body></html>"""
