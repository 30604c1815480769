"""hpo_tasks.tracking: the MLflow links (one place for every URL we print) and what a trial's child run
carries, on a real local MLflow store."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from hpo_tasks import record, tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import init_sweep, run_trial, suggest_batch
from tests.helpers import branin_sweep

CFG = branin_sweep("trk", budget={"max_trials": 1, "n_init": 1, "batch_size": 1}, sampler={"name": "random"})


def _query(url: str) -> dict[str, str]:
    """The query of the hash route (MLflow's UI routes after ``#``)."""
    route = urllib.parse.urlsplit(url).fragment
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(route).query))


def test_every_link_opens_the_model_training_view() -> None:
    base = "http://mlflow.example:5000/"
    assert tracking.run_url("3", "abc", base) == (
        "http://mlflow.example:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    )
    assert tracking.home_url(base) == "http://mlflow.example:5000/#/experiments?workflowType=machine_learning"
    url = tracking.runs_url("3", search_filter="tags.`a` = 'b'", ui_url=base)
    assert url.startswith("http://mlflow.example:5000/#/experiments/3/runs?")
    assert _query(url) == {
        "workflowType": "machine_learning",
        "searchFilter": "tags.`a` = 'b'",
        "orderByKey": "metrics.`value`",
        "orderByAsc": "true",
    }


@pytest.mark.parametrize(
    ("maximize", "order"),
    [(False, {"orderByKey": "metrics.`value`", "orderByAsc": "true"}),
     (True, {"orderByKey": "metrics.`value`", "orderByAsc": "false"}),
     (None, {})],  # several objectives: no single value to sort by
)  # fmt: skip
def test_trials_url_filters_one_runs_children_best_first(
    maximize: bool | None, order: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_UI_URL", "http://ui:1")
    q = _query(tracking.trials_url("7", "p123", maximize=maximize))
    assert q == {
        "workflowType": "machine_learning",
        "searchFilter": "tags.`mlflow.parentRunId` = 'p123'",
        **order,
    }


def test_a_trial_run_carries_the_seed_as_a_tag_not_a_metric(state_dir: Path) -> None:
    info = init_sweep(parse_sweep(CFG), run_id="t")
    (spec,) = suggest_batch(info["study_name"], 0)
    run_trial(spec, context={"run_id": "t"})
    study, _ = record.load(info["study_name"])
    (child,) = tracking.children(study.user_attrs[record.PARENT_RUN_ATTR], "trk")
    assert "seed" not in child.data.metrics and "seed" not in child.data.params
    assert child.data.tags["hpo.seed"] == str(spec["seed"])
    assert set(child.data.metrics) == {"value", "wallclock_seconds"}
