"""The finalize task: close the run. Summarise it on the MLflow parent run (``summary.json``, the best
config, plots), retrain and gate the best configuration's promotion, and for several objectives leave the
Pareto set (``pareto_front.csv``, ``plots/pareto_front.png``, ``plots/hypervolume.png``, every child run
tagged ``hpo.pareto`` ``true``/``false``; promotion skipped with the reason). Runs after early stops too.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from hpo_tasks import outcomes, promotion, record, replication, seeds, summary, tracking
from hpo_tasks.config import SweepConfig
from hpo_tasks.steps.suggest import check_stop

log = logging.getLogger(__name__)
PROMOTION_SKIPPED = (
    "multi-objective sweep: no single best configuration to promote (pick one from the Pareto set, "
    "pareto_front.csv, and register it yourself)"
)


def finalize(study_name: str, *, promote: bool = True) -> dict[str, Any]:
    """Close the run and return its summary (``hpo_tasks.summary.run_summary``, plus ``plots`` and
    ``promotion``). ``promote``: retrain the best configuration and gate its promotion to champion
    (``hpo_tasks.promotion``)."""
    study, cfg = record.load(study_name)
    if not check_stop(study, cfg).stop:  # the DAG ran out of unrolled rounds before the budget: say so
        study.set_user_attr(
            record.STOP_ATTR,
            {"stop": True, "reason": "rounds", "detail": "the DAG's unrolled rounds ran out", "n_next": 0},
        )
    # Anything still RUNNING here was lost with its task: fail it so nothing is left dangling.
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    out = summary.run_summary(study, cfg)
    parent = out["mlflow_parent_run_id"]
    metrics: dict[str, float] = {
        k: out[k]
        for k in ("n_complete", "n_failed", "wall_seconds", "trial_seconds", "suggest_seconds", "n_pruned")
    }
    metrics["n_steps"] = out["n_steps"]
    for k in ("resource_used", "resource_unpruned", "resource_saved"):  # hpo_tasks.fidelity.compute_figures
        if k in out:
            metrics[k] = out[k]
    if out["best_value"] is not None:
        metrics["best_value"] = out["best_value"]
    if out.get("replication"):
        metrics["best_mean"] = out["best_value"]
        if out["best_value_stderr"] is not None:
            metrics["best_mean_stderr"] = out["best_value_stderr"]
    tracking.log_to_run(
        parent,
        metrics=metrics,
        tags={
            "hpo.stop_reason": out["stop_reason"],
            "hpo.stop_detail": out["stop_detail"],
            "hpo.best_trial_number": out["best_trial_number"],
        },
        step=out["n_trials"],
    )
    c = tracking.client()
    if out["best_params"] is not None:
        c.log_text(parent, yaml.safe_dump(dict(out["best_params"]), sort_keys=False), "best_config.yaml")
        out["plots"] = _log_plots(study, cfg, parent)
        if promote:
            out["promotion"] = _promote(study, cfg, parent, out["best_trial_number"])
    if cfg.is_multi_objective:
        out |= _finalize_front(study, cfg, parent, out)
    elif out.get("note"):  # constraints, none feasible: say so rather than report an infeasible trial
        tracking.log_to_run(parent, tags={"hpo.best": out["note"]})
    if out.get("replication"):
        c.log_dict(parent, _jsonable(out["replication"]), "replication.json")
        c.log_text(parent, replication.format_table(out["replication"]), "replication.txt")
    c.log_dict(parent, _jsonable(out), "summary.json")
    if tracking.run_info(parent).info.status == "RUNNING":
        tracking.end(parent, "FINISHED")
    study.set_user_attr(record.FINISHED_ATTR, time.time())  # a later run may warm-start from it
    log.info("sweep finished: %s", out)
    return out


def _promote(study: optuna.Study, cfg: SweepConfig, parent: str, number: int) -> dict[str, Any]:
    """Retrain the summary's best configuration (by mean, if replicated) with its trial's seed."""
    t0 = time.perf_counter()
    best = study.get_trials(deepcopy=False)[number]
    seed = record.seed_of(best)
    result = promotion.retrain_and_promote(
        cfg,
        study_name=study.study_name,
        parent_run_id=parent,
        params=best.params,
        seed=seeds.trial_seed(cfg.seed, best.number) if seed is None else seed,
    )
    tracking.log_to_run(parent, metrics={"promotion_seconds": time.perf_counter() - t0})
    return result


def _log_plots(study: optuna.Study, cfg: SweepConfig, parent: str) -> dict[str, str]:
    """Render the plots into a temporary folder and upload them under the parent's ``plots/``."""
    from hpo_tasks import plots

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        made = plots.render_all(study, n_init=cfg.n_init, out_dir=Path(tmp))
        tracking.client().log_artifacts(parent, tmp, "plots")
    tracking.log_to_run(parent, metrics={"plots_seconds": time.perf_counter() - t0})
    return made


def front_csv(study: optuna.Study, cfg: SweepConfig) -> str:
    """The Pareto set as CSV: trial number, each objective, every other metric, then the parameters."""
    assert cfg.objectives
    front = outcomes.pareto_trials(study.get_trials(deepcopy=False), cfg)
    names = [o.metric for o in cfg.objectives]
    extra = sorted({k for t in front for k in t.user_attrs.get(record.METRICS_ATTR, {})} - set(names))
    params = sorted({k for t in front for k in t.params})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["trial_number", *names, *extra, *params])
    for t in front:
        m = t.user_attrs.get(record.METRICS_ATTR, {})
        w.writerow(
            [t.number, *t.values, *(m.get(k, "") for k in extra), *(t.params.get(p, "") for p in params)]
        )
    return buf.getvalue()


def _finalize_front(study: optuna.Study, cfg: SweepConfig, parent: str, s: dict[str, Any]) -> dict[str, Any]:
    """Tag every child run ``hpo.pareto``, log the front's CSV and plots, skip promotion with the reason."""
    from hpo_tasks import plots

    on_front = {f["trial_number"] for f in s["pareto_front"]}
    for run in tracking.children(parent, cfg.name):
        number = int(run.data.tags.get(tracking.TRIAL_TAG, -1))
        tracking.log_to_run(run.info.run_id, tags={"hpo.pareto": str(number in on_front).lower()})
    c = tracking.client()
    c.log_text(parent, front_csv(study, cfg), "pareto_front.csv")
    with tempfile.TemporaryDirectory() as tmp:
        made = plots.render_pareto(study, cfg, reference_point=s["reference_point"], out_dir=Path(tmp))
        c.log_artifacts(parent, tmp, "plots")
    metrics = {"pareto_size": float(s["pareto_size"])}
    if s["hypervolume"] is not None:
        metrics["hypervolume"] = s["hypervolume"]
    tracking.log_to_run(
        parent,
        metrics=metrics,
        tags={"hpo.promotion": "skipped", "hpo.promotion_detail": PROMOTION_SKIPPED},
        step=sum(t.state.is_finished() for t in study.get_trials(deepcopy=False)),
    )
    log.info("promotion skipped: %s", PROMOTION_SKIPPED)
    return {"plots": made, "promotion": {"status": "skipped", "reason": PROMOTION_SKIPPED}}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj
