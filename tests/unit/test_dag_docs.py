"""hpo_tasks.dag_docs: the DAG page's documentation and the Asset a run updates, from the sweep config."""

from __future__ import annotations

from hpo_tasks.config import parse_sweep
from hpo_tasks.dag_docs import asset_uri, doc_md
from tests.helpers import branin_sweep

MIXED_SPACE = {
    "lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}


def test_doc_lists_every_parameter_with_its_range_and_the_budget() -> None:
    cfg = parse_sweep(
        branin_sweep("docs", space=MIXED_SPACE, budget={"max_trials": 12, "n_init": 4, "batch_size": 2})
    )
    md = doc_md(cfg, "config/sweeps/docs.yaml")
    assert md.startswith("### Sweep `docs`")
    assert "| `lr` | float | 0.001 .. 0.1 (log) |" in md and "| `opt` | categorical | adam, sgd |" in md
    assert "**Budget**: 12 trials (4 seed trials, then rounds of 2)" in md
    assert "(minimize)" in md and "schedule `manual only`" in md and "manual runs" in md
    assert f"updates asset `{asset_uri(cfg)}`" in md and md.rstrip().endswith(
        "Source: `config/sweeps/docs.yaml`."
    )


def test_doc_names_objectives_constraints_schedule_and_promotion() -> None:
    cfg = parse_sweep(
        branin_sweep(
            "mo",
            direction=...,
            objective={"name": "branin_currin"},
            objectives=[
                {"metric": "branin", "direction": "minimize"},
                {"metric": "currin", "direction": "minimize"},
            ],
            constraints=["currin <= 9"],
            schedule="0 2 * * *",
            model={"promote": False},
        )
    )
    md = doc_md(cfg, "x.yaml")
    assert "(branin minimize, currin minimize; subject to currin <= 9)" in md
    assert "schedule `0 2 * * *`" in md and "`mo:<logical date>`, one per night" in md
    assert "promotion is off for this sweep" in md

    promoted = doc_md(parse_sweep(branin_sweep("xgb", model={"name": "m"})), "x.yaml")
    assert "`m@challenger`" in promoted and "`m@champion`" in promoted


def test_asset_uri_is_per_sweep() -> None:
    assert asset_uri(parse_sweep(branin_sweep("nightly"))) == "hpo://nightly/best_params"


def test_doc_says_when_an_async_lane_asks() -> None:
    budget = {"max_trials": 12, "n_init": 4, "batch_size": 3, "mode": "async"}
    md = doc_md(parse_sweep(branin_sweep("lanes", budget=budget)), "x.yaml")
    assert "asynchronous: 3 lanes, each asks its next trial when its last one has ended" in md
    ahead = parse_sweep(branin_sweep("ahead", budget={**budget, "ask_ahead": True}))
    assert "each asks its next trial while its last one runs" in doc_md(ahead, "x.yaml")
