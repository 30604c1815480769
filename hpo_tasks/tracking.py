"""MLflow: one experiment per sweep, one parent run per sweep run, one child run per trial.

Runs are found-or-created by tag, so a retried task never makes a second run. The client API is used
(not the fluent ``mlflow.start_run``): no process-global active run to leak between tasks.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from hpo_tasks.settings import mlflow_artifact_root, mlflow_tracking_uri

if TYPE_CHECKING:
    from hpo_tasks.config import SweepConfig

PARENT_TAG = "mlflow.parentRunId"
# Trust-region state per suggest step (hpo_tasks.gp.turbo), logged as gp.tr_length etc.
TRUST_REGION_KEYS = ("tr_length", "tr_successes", "tr_failures", "tr_restarts")
STUDY_TAG = "hpo.study_name"
TRIAL_TAG = "hpo.trial_number"
KIND_TAG = "hpo.kind"
_VERSIONED = (
    "hpo-sweeps", "optuna", "botorch", "gpytorch", "torch", "mlflow", "xgboost", "scikit-learn",
    "numpy", "apache-airflow",
)  # fmt: skip


def client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_tracking_uri())


def experiment_name(sweep: str) -> str:
    return f"hpo/{sweep}"


def ensure_experiment(sweep: str) -> str:
    from mlflow.exceptions import MlflowException

    c = client()
    name = experiment_name(sweep)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return c.create_experiment(name, artifact_location=_artifact_location(sweep))
    except MlflowException:  # created concurrently by another task
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _artifact_location(sweep: str) -> str | None:
    root = mlflow_artifact_root()
    return f"{root}/{sweep}" if root else None


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_commit() -> str | None:
    """The checkout's commit (``HPO_GIT_COMMIT`` wins, e.g. baked into an image), or None."""
    import os
    import subprocess

    from hpo_tasks.settings import REPO_ROOT

    if os.environ.get("HPO_GIT_COMMIT"):
        return os.environ["HPO_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


ML_VIEW = "workflowType=machine_learning"  # without it MLflow 3.17 opens its GenAI view (empty traces)
VALUE_ORDER = "metrics.`value`"


def ui_base(ui_url: str | None = None) -> str:
    """Where people open MLflow: ``ui_url``, else ``MLFLOW_UI_URL``, else http://localhost:5000."""
    import os

    return (ui_url or os.environ.get("MLFLOW_UI_URL") or "http://localhost:5000").rstrip("/")


def home_url(ui_url: str | None = None) -> str:
    """MLflow's experiment list, in the Model training view (the Airflow nav link)."""
    return f"{ui_base(ui_url)}/#/experiments?{ML_VIEW}"


def run_url(experiment_id: str, run_id: str, ui_url: str | None = None) -> str:
    """The MLflow UI page of one run, in the Model training view. Every run link is built here."""
    return f"{ui_base(ui_url)}/#/experiments/{experiment_id}/runs/{run_id}?{ML_VIEW}"


def runs_url(
    experiment_id: str,
    *,
    search_filter: str = "",
    order_by: str | None = VALUE_ORDER,
    ascending: bool = True,
    ui_url: str | None = None,
) -> str:
    """The experiment's runs list in the Model training view, filtered by ``search_filter`` (MLflow's
    search syntax) and sorted by ``order_by`` (the URL params MLflow's experiment page reads:
    ``searchFilter``, ``orderByKey``, ``orderByAsc``)."""
    from urllib.parse import quote, urlencode

    q: dict[str, str] = {"workflowType": "machine_learning"}
    if search_filter:
        q["searchFilter"] = search_filter
    if order_by:
        q |= {"orderByKey": order_by, "orderByAsc": str(ascending).lower()}
    return f"{ui_base(ui_url)}/#/experiments/{experiment_id}/runs?{urlencode(q, quote_via=quote)}"


def trials_url(experiment_id: str, parent_run_id: str, *, maximize: bool | None = False) -> str:
    """The runs list of one sweep run's trials (its child runs), best ``value`` first (``maximize=None``:
    several objectives, no ``value`` metric, newest first)."""
    return runs_url(
        experiment_id,
        search_filter=f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
        order_by=None if maximize is None else VALUE_ORDER,
        ascending=not maximize,
    )


def find_run(sweep: str, **tags: str) -> Any | None:
    """A run of the sweep's experiment whose tags match (``airflow.run_id=...``), or None."""
    exp = client().get_experiment_by_name(experiment_name(sweep))
    if exp is None:
        return None
    cond = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    return _find(exp.experiment_id, cond)


def system_metrics_enabled() -> bool:
    """``HPO_SYSTEM_METRICS=1`` turns on system metrics for trial runs (off by default: it adds a
    sampling thread and up to a second per trial, noise for seconds-long trials)."""
    import os

    return os.environ.get("HPO_SYSTEM_METRICS", "").lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def system_metrics(run_id: str, *, enabled: bool) -> Iterator[None]:
    """Sample CPU/memory (and GPU where pynvml finds one) into ``run_id`` while the block runs.

    MLflow's monitor needs psutil; without it, or when disabled, this does nothing.
    """
    if not enabled:
        yield
        return
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            run_id, sampling_interval=1.0, samples_before_logging=1, tracking_uri=mlflow_tracking_uri()
        )
        monitor.start()
    except Exception as err:  # noqa: BLE001 - metrics are a nicety; the trial must still run
        import logging

        logging.getLogger(__name__).info("system metrics off: %s", err)
        yield
        return
    try:
        yield
    finally:
        monitor.finish()


def _find(experiment_id: str, filter_string: str) -> Any | None:
    runs = client().search_runs([experiment_id], filter_string=filter_string, max_results=2)
    return runs[0] if runs else None


def find_or_create_parent(
    sweep: str, study_name: str, *, tags: Mapping[str, str], params: Mapping[str, Any]
) -> str:
    exp_id = ensure_experiment(sweep)
    found = _find(exp_id, f"tags.`{STUDY_TAG}` = '{study_name}' and tags.`{KIND_TAG}` = 'sweep'")
    if found is not None:
        return found.info.run_id
    all_tags = {STUDY_TAG: study_name, KIND_TAG: "sweep", **tags}
    all_tags.update({f"version.{k}": v for k, v in library_versions().items()})
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = client().create_run(exp_id, tags=all_tags, run_name=study_name)
    log_to_run(run.info.run_id, params=params)
    return run.info.run_id


def find_or_create_child(
    sweep: str, study_name: str, parent_run_id: str, trial_number: int, *, tags: Mapping[str, str]
) -> tuple[str, str]:
    """The trial's child run id and its status (``RUNNING`` when new)."""
    exp_id = ensure_experiment(sweep)
    found = _find(
        exp_id,
        f"tags.`{STUDY_TAG}` = '{study_name}' and tags.`{TRIAL_TAG}` = '{trial_number}' "
        f"and tags.`{KIND_TAG}` = 'trial'",
    )
    if found is not None:
        return found.info.run_id, found.info.status
    all_tags = {
        PARENT_TAG: parent_run_id,
        STUDY_TAG: study_name,
        TRIAL_TAG: str(trial_number),
        KIND_TAG: "trial",
        **tags,
    }
    run = client().create_run(exp_id, tags=all_tags, run_name=f"trial-{trial_number:04d}")
    return run.info.run_id, run.info.status


def log_to_run(
    run_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, Any] | None = None,
    step: int = 0,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    client().log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
        params=[Param(k, _param_str(v)) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
    )


def _param_str(v: Any) -> str:
    return f"{v:.10g}" if isinstance(v, float) else str(v)


def run_info(run_id: str) -> Any:
    return client().get_run(run_id)


def end(run_id: str, status: str) -> None:
    client().set_terminated(run_id, status=status)


def children(parent_run_id: str, sweep: str) -> list[Any]:
    exp_id = ensure_experiment(sweep)
    return list(
        client().search_runs(
            [exp_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'", max_results=10_000
        )
    )


# -- what the sweep logs on its parent run -----------------------------------------------------------


def sweep_params(cfg: SweepConfig) -> dict[str, Any]:
    """The sweep's settings as flat MLflow params of its parent run."""
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


def log_suggest_step(parent: str, number: int, info: Mapping[str, Any]) -> None:
    """One GP suggest step on the parent run (step = trial number): fit and acquisition time, the chosen
    point's acquisition value, noise, outputscale, lengthscale per parameter, trust-region state;
    warnings and fallbacks as tags, so a sweep the GP could not serve well never passes for one that it
    did. Seed trials (no GP step, except a trust region's restart design) log nothing."""
    import math

    if info.get("phase") not in ("gp", "fallback") and "tr_length" not in info:
        return
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
    log_to_run(parent, metrics=metrics, tags=tags, step=number)
