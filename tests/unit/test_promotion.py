"""Gated promotion: the champion alias moves only to a challenger that wins on the same holdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_tasks import tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.promotion import CHALLENGER, CHAMPION, decide_promotion, retrain_and_promote


@pytest.mark.parametrize(
    ("challenger", "champion", "maximize", "margin", "promote"),
    [
        (0.9, None, True, 0.0, True),  # first night: nothing to beat
        (0.95, 0.9, True, 0.0, True),
        (0.9, 0.95, True, 0.0, False),
        (0.9, 0.9, True, 0.0, False),  # a tie keeps the champion
        (0.905, 0.9, True, 0.01, False),  # inside the margin
        (1.0, 2.0, False, 0.0, True),  # minimising
        (2.0, 1.0, False, 0.0, False),
    ],
)
def test_decide_promotion(
    challenger: float, champion: float | None, maximize: bool, margin: float, promote: bool
) -> None:
    d = decide_promotion(challenger=challenger, champion=champion, maximize=maximize, min_improvement=margin)
    assert d.promote is promote and d.reason


def _cfg(**model):
    return parse_sweep(
        {
            "name": "promo",
            "objective": {"name": "xgboost_breast_cancer", "args": {"holdout_fraction": 0.25}},
            "direction": "maximize",
            "space": {"max_depth": {"type": "int", "low": 1, "high": 6}},
            "budget": {"max_trials": 2},
            "model": model,
        }
    )


# Held-out ROC AUC (25% of breast_cancer): BAD ~0.88 < MID ~0.94 < GOOD ~0.98.
BAD = {"max_depth": 1, "n_estimators": 1, "learning_rate": 0.001}
MID = {"max_depth": 1, "n_estimators": 3, "learning_rate": 0.1}
GOOD = {"max_depth": 3, "n_estimators": 60, "learning_rate": 0.1}


def _night(cfg, label: str, params: dict) -> dict:
    parent = tracking.find_or_create_parent(cfg.name, f"promo:{label}", tags={}, params={})
    return retrain_and_promote(cfg, study_name=f"promo:{label}", parent_run_id=parent, params=params, seed=0)


def test_worse_challenger_stays_challenger_better_one_becomes_champion(state_dir: Path) -> None:
    cfg = _cfg(name="promo_model")
    c = tracking.client()

    first = _night(cfg, "n1", MID)
    assert first["status"] == "promoted" and first["champion_version"] is None
    assert int(c.get_model_version_by_alias("promo_model", CHAMPION).version) == 1

    worse = _night(cfg, "n2", BAD)
    assert worse["status"] == "kept_champion"
    assert worse["challenger_score"] < worse["champion_score"]
    assert int(c.get_model_version_by_alias("promo_model", CHAMPION).version) == 1
    assert int(c.get_model_version_by_alias("promo_model", CHALLENGER).version) == 2

    better = _night(cfg, "n3", GOOD)
    assert better["champion_score"] == pytest.approx(first["challenger_score"])  # re-evaluated, same holdout
    assert better["status"] == "promoted" and better["challenger_score"] > better["champion_score"]
    assert int(c.get_model_version_by_alias("promo_model", CHAMPION).version) == 3

    # A retried finalize registers nothing new.
    again = _night(cfg, "n2", BAD)
    assert again["challenger_version"] == 2
    assert len(c.search_model_versions("name = 'promo_model'")) == 3

    run = c.get_run(tracking.find_or_create_parent("promo", "promo:n2", tags={}, params={}))
    assert run.data.tags["hpo.promotion"] == "kept_champion"
    assert run.data.metrics["promotion.champion_holdout"] > run.data.metrics["promotion.challenger_holdout"]
    assert {a.path for a in c.list_artifacts(run.info.run_id)} >= {"model", "promotion.json"}


def test_objective_without_hook_skips_promotion(state_dir: Path) -> None:
    cfg = parse_sweep(
        {
            "name": "nohook",
            "objective": {"name": "branin"},
            "direction": "minimize",
            "space": {"x1": {"type": "float", "low": 0, "high": 1}},
            "budget": {"max_trials": 2},
        }
    )
    parent = tracking.find_or_create_parent("nohook", "nohook:1", tags={}, params={})
    out = retrain_and_promote(cfg, study_name="nohook:1", parent_run_id=parent, params={"x1": 0.5}, seed=0)
    assert out["status"] == "skipped" and "no final-model hook" in out["reason"]
    assert tracking.run_info(parent).data.tags["hpo.promotion"] == "skipped"
