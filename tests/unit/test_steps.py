"""The steps init / gate / suggest / record / replicate / finalize at function level: each loads the
study once, a retry returns what the first attempt did, the replicate round closes by name. (The local
driver running them all, a whole sweep, is in tests/integration/test_steps_local.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, steps, summary, views
from hpo_tasks.config import parse_sweep
from tests.helpers import branin_sweep

CFG = branin_sweep(
    "st",
    budget={"max_trials": 4, "n_init": 2, "batch_size": 2},
    sampler={"name": "random"},
    seed=5,
    replicate={"top_k": 1, "repeats": 1},
)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = record.load

    def counting(name: str, **kw: Any) -> Any:
        seen.append(name)
        return real(name, **kw)

    monkeypatch.setattr(record, "load", counting)
    return seen


def test_steps_load_once_and_retries_repeat_themselves(state_dir: Path, loads: list[str]) -> None:
    cfg = parse_sweep(CFG)
    info = steps.init_sweep(cfg, run_id="a")
    assert steps.init_sweep(cfg, run_id="a") == info  # a retried init
    name = info["study_name"]

    for step, args in ((steps.gate, ()), (steps.suggest_batch, (0,))):
        loads.clear()
        step(name, *args)
        assert loads == [name], step.__name__
    first = steps.suggest_batch(name, 0)
    assert steps.suggest_batch(name, 0) == first and len(first) == 2  # a retried suggest: same trials
    assert [s["seed"] for s in first] == [
        t.system_attrs[record.SEED_ATTR] for t in record.load(name)[0].get_trials()
    ]

    steps.run_trial(first[0])  # the second trial's task is lost
    loads.clear()
    closed = steps.record_round(name, 0)
    assert loads == [name]
    assert (closed["asked"], closed["complete"], closed["failed"]) == (2, 1, 1)
    lost = record.load(name)[0].get_trials()[first[1]["trial_number"]]
    assert lost.state == TrialState.FAIL and "did not report" in lost.user_attrs[record.ERROR_ATTR]

    for spec in steps.suggest_batch(name, 1):
        steps.run_trial(spec)
    steps.record_round(name, 1)
    assert steps.suggest_batch(name, 2) == []  # budget spent: the gate stops the sweep
    reps = steps.replicate_batch(name)
    assert steps.replicate_batch(name) == reps and len(reps) == 1
    assert reps[0]["round"] == record.REPLICATE_ROUND and "replicate_of" in reps[0]
    steps.run_trial(reps[0])
    assert steps.record_replicates(name)["asked"] == 1

    loads.clear()
    out = steps.finalize(name, promote=False)
    assert loads == [name] and out["best_trial_number"] == reps[0]["replicate_of"]
    assert out["n_replicate_trials"] == 1 and out["stop_reason"] == "max_trials"


def test_same_seed_same_suggestions(state_dir: Path) -> None:
    cfg = parse_sweep(CFG)
    a = steps.suggest_batch(steps.init_sweep(cfg, run_id="x")["study_name"], 0)
    b = steps.suggest_batch(steps.init_sweep(cfg, run_id="y")["study_name"], 0)
    assert [(s["params"], s["seed"]) for s in a] == [(s["params"], s["seed"]) for s in b]


def test_init_tags_the_run_so_the_progress_page_finds_it(state_dir: Path) -> None:
    budget = {"max_trials": 6, "n_init": 3, "batch_size": 3}
    cfg = parse_sweep(branin_sweep("daily", budget=budget, sampler={"name": "random"}))
    ctx = {"dag_id": "hpo__daily", "run_id": "manual__x"}
    info = steps.init_sweep(cfg, run_id="manual__x", context=ctx)
    p = summary.run_progress("hpo__daily", "manual__x")
    assert p is not None and p["study_name"] == info["study_name"]
    assert (p["trials_done"], p["budget"], p["stop_reason"]) == (0, 6, None)
    page = views.render_html(p, dag_id="hpo__daily", run_id="manual__x")
    assert "0 / 6" in page and info["parent_run_id"] in page
    assert summary.run_progress("hpo__daily", "other") is None
    assert summary.run_progress("not_a_sweep", "manual__x") is None


def test_scheduled_runs_get_one_study_per_logical_date() -> None:
    label = steps.run_label("scheduled__2026-11-27T02:00:00+00:00", scheduled_for="2026-11-27T02:00:00+00:00")
    assert label == "2026-11-27T0200"
    assert steps.run_label("manual__2026-11-27T09:13:00+00:00") == "manual__2026-11-27T09:13:00+00:00"
