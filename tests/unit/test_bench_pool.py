"""``hpo_tasks.bench.runner.run_pool``: a failed job ends the run at once (the queued jobs are cancelled)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpo_tasks.bench import runner


def _fail() -> dict:
    raise RuntimeError("this study failed")


def _mark(path: str) -> dict:
    time.sleep(0.3)
    Path(path).write_text("ran")
    return {"path": path}


def test_a_failed_job_raises_and_cancels_the_queued_ones(tmp_path: Path) -> None:
    marks = [str(tmp_path / f"job{i}") for i in range(8)]
    jobs = [(_fail, ())] + [(_mark, (m,)) for m in marks]
    done: list[dict] = []
    with pytest.raises(RuntimeError, match="this study failed"):
        runner.run_pool(jobs, workers=1, threads=1, on_done=done.append)
    time.sleep(1.0)  # what had reached the worker's queue before the cancel may still finish
    ran = sum(Path(m).exists() for m in marks)
    # before the fix the pool's exit ran all eight before the error surfaced
    assert ran < len(marks), ran
    assert done == []


def test_the_pool_returns_every_result(tmp_path: Path) -> None:
    marks = [str(tmp_path / f"job{i}") for i in range(3)]
    done: list[dict] = []
    out = runner.run_pool([(_mark, (m,)) for m in marks], workers=2, threads=1, on_done=done.append)
    assert sorted(r["path"] for r in out) == sorted(marks) == sorted(r["path"] for r in done)
