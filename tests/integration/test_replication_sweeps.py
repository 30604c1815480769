"""Replication across whole in-process sweeps (``run_in_process``: real Optuna and MLflow stores): a noisy
sweep replicates its best and picks by mean; a pruned sweep never prunes its replicates. (The by-mean table
and the block's validation are unit-tested in tests/unit/test_replication.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

from hpo_tasks import record, seeds, tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import replicate_batch, run_in_process
from tests.helpers import branin_sweep

pytestmark = pytest.mark.integration

NOISY = branin_sweep(
    "rep",
    objective={"name": "branin", "args": {"noise_std": 20.0}},
    budget={"max_trials": 6, "n_init": 6, "batch_size": 2},
    sampler={"name": "random"},
    seed=1,
    replicate={"top_k": 2, "repeats": 3},
)


def test_noisy_sweep_replicates_its_best_and_picks_by_mean(state_dir: Path) -> None:
    cfg = parse_sweep(NOISY)
    summary = run_in_process(cfg, label="r1")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    search = [t for t in trials if not record.is_replicate(t)]
    reps = [t for t in trials if record.is_replicate(t)]

    # The search used its whole budget; 2 configs x 3 repeats came on top, not out of it.
    assert len(search) == 6 and summary["n_trials"] == 6 and summary["n_replicate_trials"] == 6
    top2 = sorted(search, key=lambda t: t.value)[:2]
    assert sorted({t.user_attrs["replicate_of"] for t in reps}) == sorted(t.number for t in top2)
    for t in reps:
        original = trials[t.user_attrs["replicate_of"]]
        assert t.params == original.params and t.state == TrialState.COMPLETE
        assert record.seed_of(t) == seeds.replicate_seed(cfg.seed, original.number, t.user_attrs["replicate"])
    assert len({record.seed_of(t) for t in trials}) == len(trials)  # new seeds: new noise draws

    # Report: mean ± s.e. over original + repeats, best by mean; the best single trial stays on record.
    rows = summary["replication"]
    for row in rows:
        values = [trials[row["trial_number"]].value] + [
            t.value for t in reps if t.user_attrs["replicate_of"] == row["trial_number"]
        ]
        assert row["n"] == 4 and row["mean"] == pytest.approx(np.mean(values))
        assert row["stderr"] == pytest.approx(np.std(values, ddof=1) / 2)
    assert rows[0]["mean"] <= rows[1]["mean"]
    assert summary["best_trial_number"] == rows[0]["trial_number"]
    assert summary["best_value"] == pytest.approx(rows[0]["mean"])
    assert summary["best_single_trial_number"] == top2[0].number

    # MLflow: the parent logs the pick and the table; replicate children carry hpo.replicate_of.
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.data.metrics["best_mean"] == pytest.approx(rows[0]["mean"])
    assert parent.data.metrics["best_mean_stderr"] == pytest.approx(rows[0]["stderr"])
    artifacts = {a.path for a in tracking.client().list_artifacts(parent.info.run_id)}
    assert {"replication.json", "replication.txt"} <= artifacts
    children = tracking.children(parent.info.run_id, "rep")
    tagged = {int(c.data.tags["hpo.trial_number"]): c.data.tags.get("hpo.replicate_of") for c in children}
    assert tagged == {t.number: (str(t.user_attrs["replicate_of"]) if t in reps else None) for t in trials}

    # Idempotent: a retried replicate step creates nothing new.
    again = replicate_batch(summary["study_name"])
    assert sorted(s["trial_number"] for s in again) == sorted(t.number for t in reps)
    assert len(record.load(summary["study_name"])[0].get_trials()) == 12


def test_a_pruned_sweep_never_prunes_its_replicates(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pruner, search trials are judged at every rung; a replicate's whole value is the data the
    report needs, so its steps are recorded but the pruner is never asked."""
    from hpo_tasks import pruning

    judged: dict[int, bool] = {}
    real = pruning.Reporter

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, study, trial_id, **kw):  # type: ignore[no-untyped-def]
            super().__init__(study, trial_id, **kw)
            judged[study._storage.get_trial(trial_id).number] = self._judge

    monkeypatch.setattr(pruning, "Reporter", Spy)
    cfg = parse_sweep(
        {
            **NOISY,
            "name": "rep_pruned",
            "objective": {"name": "branin_curve", "args": {"epochs": 4, "noise_std": 30.0}},
            "pruner": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 2},
            "replicate": {"top_k": 1, "repeats": 2},
        }
    )
    summary = run_in_process(cfg, label="t")
    study, _ = record.load(summary["study_name"])
    reps = [t for t in study.get_trials() if record.is_replicate(t)]
    assert len(reps) == 2 and all(t.state == TrialState.COMPLETE for t in reps)
    assert all(len(t.intermediate_values) == 4 for t in reps)  # the curve is still recorded
    assert judged == {t.number: not record.is_replicate(t) for t in study.trials}
    assert any(t.state == TrialState.PRUNED for t in study.get_trials()), "the pruner acted on search trials"
