"""The local driver (``hpo_tasks.steps.local.run_in_process``): a whole in-process sweep through the same
steps the DAG runs (each step at function level: tests/unit/test_steps.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_tasks import steps
from hpo_tasks.config import parse_sweep
from tests.unit.test_steps import CFG

pytestmark = pytest.mark.integration


def test_run_in_process_drives_the_same_steps(state_dir: Path) -> None:
    seen: list[dict] = []
    out = steps.run_in_process(parse_sweep(CFG), label="loop", on_trial=seen.append)
    assert len(seen) == 5 and out["n_complete"] == 4 and out["n_replicate_trials"] == 1
    assert all(r["state"] == "COMPLETE" for r in seen)
