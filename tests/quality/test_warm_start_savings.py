"""Quality: a warm-started second night reaches the first night's best in fewer trials (the mapping and
the source choice are unit-tested in tests/unit/test_warm_start.py, whole runs in
tests/integration/test_warm_start_sweeps.py)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo_tasks import record
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import run_in_process
from tests.helpers import warm_sweep

pytestmark = [pytest.mark.quality, pytest.mark.slow]


def _trials_to_reach(study_name: str, target: float) -> int:
    """1 + the number of the first trial at least as good as ``target`` (budget + 1 if none is)."""
    study, cfg = record.load(study_name)
    for t in study.get_trials():
        if t.state == TrialState.COMPLETE and t.value <= target + 1e-9:
            return t.number + 1
    return cfg.budget.max_trials + 1


def test_warm_second_sweep_reaches_the_first_best_in_fewer_trials(state_dir: Path) -> None:
    """Branin, 3 seeds, 8 trials a night: the trials the cold first night needed to reach its best vs
    the trials the warm second night (another seed) needs to reach that value.
    (``scripts/warm_start_savings.py`` measures against a separate cold sweep, with more seeds.)"""
    warm, cold = [], []
    for seed in range(3):
        base = warm_sweep(name=f"ws{seed}", budget={"max_trials": 8, "n_init": 4, "batch_size": 4})
        first = run_in_process(parse_sweep({**base, "seed": seed}), label="n1")
        second = run_in_process(parse_sweep({**base, "seed": seed + 100}), label="n2")
        cold.append(_trials_to_reach(first["study_name"], first["best_value"]))
        warm.append(_trials_to_reach(second["study_name"], first["best_value"]))
    assert statistics.median(warm) < statistics.median(cold), (warm, cold)
