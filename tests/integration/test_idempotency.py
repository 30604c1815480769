"""Airflow delivers at least once: re-running any step must not create a second trial or MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import load_sweep
from hpo_tasks.steps import finalize, init_sweep, record_round, run_trial, suggest_batch
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_retried_steps_reuse_trials_and_runs(state_dir: Path) -> None:
    cfg = load_sweep(REPO / "config" / "sweeps" / "branin_quick.yaml")
    first = init_sweep(cfg, run_id="r1")
    assert init_sweep(cfg, run_id="r1") == first  # retried init: same study, same parent run

    name = first["study_name"]
    specs = suggest_batch(name, 0)
    assert len(specs) == cfg.n_init
    assert suggest_batch(name, 0) == specs  # retried suggest: the same trials, nothing new asked

    results = [run_trial(s) for s in specs]
    assert [run_trial(s) for s in specs] == results  # redelivered trial tasks: recorded result

    # A trial whose task died after asking: record fails it, exactly once, with one child run.
    lost = suggest_batch(name, 1)[0]
    for _ in range(2):
        record_round(name, 1)
    study, _ = record.load(name)
    t = study.get_trials()[lost["trial_number"]]
    assert t.state == TrialState.FAIL and "did not report" in t.user_attrs["error"]

    summary = finalize(name)
    children = tracking.children(first["parent_run_id"], cfg.name)
    numbers = [int(c.data.tags["hpo.trial_number"]) for c in children]
    assert sorted(numbers) == sorted(set(numbers)) == list(range(len(study.get_trials())))
    assert len(study.get_trials()) == cfg.n_init + cfg.budget.batch_size
    assert summary["n_running"] == 0
