"""One trial, end to end: seed, train, measure, log an MLflow child run, tell Optuna.

Idempotent: Airflow delivers a task at least once. A retry reuses the trial number (chosen by the suggest
task) and the child run (found by tag). A trial that already finished is not run again; one whose child
run finished but whose result never reached Optuna is told from the child run, without retraining.
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
from optuna.trial import TrialState

from hpo_tasks import study as study_mod
from hpo_tasks import tracking
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
            **({"hpo.replicate_of": str(frozen.user_attrs["replicate_of"])} if _is_replicate(frozen) else {}),
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
        logged = tracking.run_info(run_id).data.metrics.get("value")
        if logged is not None and math.isfinite(logged):
            study.tell(number, logged, skip_if_finished=True)
            return _result(number, "COMPLETE", logged, None, None)

    seed = int(spec["seed"])
    t0 = time.perf_counter()
    error: str | None = None
    value: float | None = None
    try:
        objective = resolve_objective(cfg.objective.name)  # imports its module (torch too, if it uses it)
        seed_everything(seed)
        with tracking.system_metrics(run_id, enabled=tracking.system_metrics_enabled()):
            raw = objective(dict(spec["params"]), seed=seed, **dict(cfg.objective.args))
        value = float(raw)
        if not math.isfinite(value):
            error = f"objective returned {value}"
            value = None
    except Exception as err:  # noqa: BLE001 - the objective's failure is the trial's result
        error = f"{type(err).__name__}: {err}"
        log.warning("trial %d failed:\n%s", number, traceback.format_exc())
    wallclock = time.perf_counter() - t0
    result = _result(number, "COMPLETE" if error is None else "FAIL", value, wallclock, error)

    storage = study._storage
    storage.set_trial_user_attr(trial_id, "seed", seed)
    storage.set_trial_user_attr(trial_id, "wallclock_seconds", wallclock)
    if error:
        storage.set_trial_user_attr(trial_id, "error", error[:2000])
    _log_child(run_id, spec, result)
    if error is None:
        study.tell(number, value, skip_if_finished=True)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    log.info("trial %d %s value=%s in %.2fs", number, result["state"], value, wallclock)
    return result


def _is_replicate(frozen: Any) -> bool:
    return "replicate_of" in frozen.user_attrs  # hpo_tasks.replication.OF_ATTR


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
    return _result(
        frozen.number,
        frozen.state.name,
        frozen.value if frozen.state == TrialState.COMPLETE else None,
        frozen.user_attrs.get("wallclock_seconds"),
        frozen.user_attrs.get("error"),
    )


def _log_child(run_id: str, spec: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    metrics: dict[str, float] = {"seed": float(spec["seed"])}
    if result["value"] is not None:
        metrics["value"] = result["value"]
    if result["wallclock_seconds"] is not None:
        metrics["wallclock_seconds"] = result["wallclock_seconds"]
    tags = {"hpo.state": result["state"], "hpo.seed": spec["seed"]}
    if result["error"]:
        tags["hpo.error"] = result["error"]
    tracking.log(run_id, params=spec["params"], metrics=metrics, tags=tags)
    tracking.end(run_id, "FINISHED" if result["state"] == "COMPLETE" else "FAILED")
