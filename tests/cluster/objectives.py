"""Objectives for the cluster tests, named in their sweep files as ``tests.cluster.objectives:...``."""

from __future__ import annotations

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
