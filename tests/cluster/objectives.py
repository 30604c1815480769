"""Objectives for the cluster tests, named in their sweep files as ``tests.cluster.objectives:...``."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo_tasks.objectives.synthetic import branin


def slow_branin(
    params: Mapping[str, Any], *, seed: int, seconds: float = 6.0, marker_dir: str | None = None
) -> float:
    """Branin after a pause: long enough to kill a worker or cut the database mid-trial. Drops a file in
    ``marker_dir`` as it starts, so a test knows the trial is inside its objective."""
    if marker_dir:
        Path(marker_dir).mkdir(parents=True, exist_ok=True)
        (Path(marker_dir) / f"{seed}-{time.time_ns()}.started").touch()
    time.sleep(seconds)
    return branin(params, seed=seed)


def lane_branin(
    params: Mapping[str, Any],
    *,
    seed: int,
    marker_dir: str,
    slow_seconds: float = 40.0,
    fast_seconds: float = 0.5,
    wait_seconds: float = 120.0,
) -> float:
    """Branin for the async kill test (``test_async_sweep_with_a_trial_process_killed``).

    The first trial to start claims ``slow.claim`` (writes its seed and its process id there) and sleeps
    ``slow_seconds``: the test kills that process. Every other trial sleeps ``fast_seconds``. Each start drops
    ``<seed>-<time_ns>.started``. The slow trial's retry (the claim holds its own seed) first waits, up to
    ``wait_seconds``, until another trial has started after the test wrote ``killed`` (its ``time_ns``):
    so whether the other lane kept going while this one was down is decided by the DAG's shape, not by the
    machine's speed; a DAG whose lanes waited for each other leaves the test to fail on that, 2 min later.
    """
    root = Path(marker_dir)
    root.mkdir(parents=True, exist_ok=True)
    claim = root / "slow.claim"
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        fd = None
    if fd is not None:  # the first trial: slow, and killed
        os.write(fd, f"{seed} {os.getpid()}".encode())
        os.close(fd)
        (root / f"{seed}-{time.time_ns()}.started").touch()
        time.sleep(slow_seconds)
        return branin(params, seed=seed)
    if claim.read_text().split()[:1] == [str(seed)]:  # the killed trial's retry
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not _started_since_kill(root, other_than=seed):
            time.sleep(0.2)
    (root / f"{seed}-{time.time_ns()}.started").touch()
    time.sleep(fast_seconds)
    return branin(params, seed=seed)


def _started_since_kill(root: Path, *, other_than: int) -> bool:
    killed = root / "killed"
    if not killed.exists():
        return False
    t_kill = int(killed.read_text())
    for p in root.glob("*.started"):
        s, ns = p.stem.split("-")
        if int(s) != other_than and int(ns) > t_kill:
            return True
    return False
