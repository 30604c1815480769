"""Gated promotion: retrain the night's best configuration, register it as ``challenger``, and move
``champion`` to it only when it beats the current champion on the same held-out evaluation.

Both models are scored now, by the objective's final-model hook, on its fixed holdout: a champion
registered months ago is judged on today's code and data, not on a number it logged back then. The
comparison goes to the MLflow parent run (metrics, a ``promotion`` tag and ``promotion.json``) and to the
model versions' tags. Idempotent: a retried finalize finds the version it registered by the study tag.
"""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo_tasks import tracking
from hpo_tasks.config import SweepConfig
from hpo_tasks.objectives import final_model_of
from hpo_tasks.settings import mlflow_tracking_uri

log = logging.getLogger(__name__)
CHALLENGER = "challenger"
CHAMPION = "champion"
_SCORE_TAG = "hpo.holdout_score"


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    *, challenger: float, champion: float | None, maximize: bool, min_improvement: float = 0.0
) -> PromotionDecision:
    """Promote when there is no champion, or the challenger beats it by more than ``min_improvement``."""
    if champion is None:
        return PromotionDecision(True, "no champion yet")
    gain = challenger - champion if maximize else champion - challenger
    if gain > min_improvement:
        return PromotionDecision(True, f"beats the champion by {gain:.6g} (needs > {min_improvement:g})")
    return PromotionDecision(
        False, f"does not beat the champion: gain {gain:.6g}, needs > {min_improvement:g}"
    )


def model_name(cfg: SweepConfig) -> str:
    return cfg.model.name or cfg.name


def retrain_and_promote(
    cfg: SweepConfig, *, study_name: str, parent_run_id: str, params: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """Register the best configuration as challenger and gate champion; returns the logged outcome.

    ``{"status": "skipped", "reason"}`` when the sweep has no final-model hook or promotion is off;
    otherwise ``{"status": "promoted"|"kept_champion", "model", "challenger_version", "challenger_score",
    "champion_version", "champion_score", "reason"}``.
    """
    hook = final_model_of(cfg.objective.name)
    if hook is None or not cfg.model.promote:
        reason = (
            f"objective '{cfg.objective.name}' has no final-model hook"
            if hook is None
            else "model.promote is false"
        )
        tracking.log_to_run(parent_run_id, tags={"hpo.promotion": "skipped", "hpo.promotion_detail": reason})
        log.info("promotion skipped: %s", reason)
        return {"status": "skipped", "reason": reason}

    c = tracking.client()
    name = model_name(cfg)
    args = dict(cfg.objective.args)
    _ensure_registered_model(c, name, cfg)
    version = _find_version(c, name, study_name)
    if version is None:
        model = hook.fit(params, seed=seed, **args)
        score = float(hook.evaluate(model, **args))
        version = _register(c, name, model, parent_run_id, study_name, score)
    score = float(version.tags[_SCORE_TAG])
    c.set_registered_model_alias(name, CHALLENGER, version.version)

    champion = _alias(c, name, CHAMPION)
    if champion is not None and champion.version == version.version:  # a retry after promoting
        decision = PromotionDecision(True, "already champion (finalize retried)")
        champion_score: float | None = score
    else:
        champion_score = None
        if champion is not None:
            champion_score = float(hook.evaluate(_load(champion.source), **args))
        decision = decide_promotion(
            challenger=score,
            champion=champion_score,
            maximize=cfg.maximize,
            min_improvement=cfg.model.min_improvement,
        )
        if decision.promote:
            c.set_registered_model_alias(name, CHAMPION, version.version)
    outcome = {
        "status": "promoted" if decision.promote else "kept_champion",
        "model": name,
        "challenger_version": int(version.version),
        "challenger_score": score,
        "champion_version": None if champion is None else int(champion.version),
        "champion_score": champion_score,
        "reason": decision.reason,
        "direction": cfg.direction,
        "min_improvement": cfg.model.min_improvement,
    }
    c.set_model_version_tag(name, version.version, "hpo.promotion", outcome["status"])
    metrics = {"promotion.challenger_holdout": score}
    if champion_score is not None:
        metrics["promotion.champion_holdout"] = champion_score
    tracking.log_to_run(
        parent_run_id,
        metrics=metrics,
        tags={
            "hpo.promotion": outcome["status"],
            "hpo.promotion_detail": decision.reason,
            "hpo.model": f"{name} v{version.version}",
        },
    )
    c.log_dict(parent_run_id, outcome, "promotion.json")
    log.info("promotion: %s", outcome)
    return outcome


def _ensure_registered_model(c: Any, name: str, cfg: SweepConfig) -> None:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
    except MlflowException:
        try:
            c.create_registered_model(name, description=f"Best model of sweep '{cfg.name}', retuned nightly.")
        except MlflowException:  # created concurrently
            c.get_registered_model(name)


def _find_version(c: Any, name: str, study_name: str) -> Any | None:
    for v in c.search_model_versions(f"name = '{name}'"):
        if v.tags.get(tracking.STUDY_TAG) == study_name and _SCORE_TAG in v.tags:
            return v
    return None


def _alias(c: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _requirements() -> list[str]:
    out = []
    for dist in ("scikit-learn", "xgboost", "numpy"):
        try:
            out.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _register(c: Any, name: str, model: Any, run_id: str, study_name: str, score: float) -> Any:
    """Save the model under the parent run's ``model/`` and create a version with its holdout score."""
    import mlflow.sklearn

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        # Explicit requirements: MLflow's inference re-imports the model in a subprocess (seconds).
        mlflow.sklearn.save_model(
            model, str(path), serialization_format="cloudpickle", pip_requirements=_requirements()
        )
        c.log_artifacts(run_id, str(path), "model")
    return c.create_model_version(
        name,
        source=f"runs:/{run_id}/model",
        run_id=run_id,
        tags={tracking.STUDY_TAG: study_name, _SCORE_TAG: repr(score)},
        description=f"study {study_name}",
    )


def _load(source: str) -> Any:
    import mlflow.artifacts
    import mlflow.sklearn

    local = mlflow.artifacts.download_artifacts(artifact_uri=source, tracking_uri=mlflow_tracking_uri())
    return mlflow.sklearn.load_model(local)
