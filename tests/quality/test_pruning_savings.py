"""Quality: Hyperband on a learning curve spends fewer epochs for the same best (pruned trials through the
pipeline: tests/integration/test_pruning.py; the pruner factory and reporter: tests/unit/test_pruning.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import run_in_process
from tests.helpers import branin_sweep

pytestmark = [pytest.mark.quality, pytest.mark.slow]


def test_hyperband_spends_fewer_epochs_for_the_same_best(state_dir: Path) -> None:
    """The same sweep (random search: the same 16 configurations in the same order) without and with
    Hyperband on a learning curve: pruning stops the hopeless configurations early."""
    cfg = parse_sweep(
        branin_sweep(
            "prune_speed",
            objective={"name": "branin_curve", "args": {"epochs": 9}},
            budget={"max_trials": 16, "n_init": 4, "batch_size": 4},
            sampler={"name": "random"},
            pruner={"name": "hyperband", "min_resource": 1, "reduction_factor": 3},
            seed=1,
            resources={"retries": 0},
        )
    )
    with_hb = run_in_process(cfg, label="hyperband")
    without = run_in_process(cfg, label="none", overrides={"pruner": "none"})
    assert without["n_pruned"] == 0 and without["n_steps"] == 16 * 9
    assert with_hb["n_pruned"] >= 4
    assert with_hb["n_steps"] <= 0.75 * without["n_steps"]
    assert with_hb["best_value"] <= without["best_value"] + 0.05 * abs(without["best_value"])
