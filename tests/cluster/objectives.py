"""Objectives for the cluster tests, named in their sweep files as ``tests.cluster.objectives:...``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hpo_tasks.objectives.synthetic import branin


def slow_branin(params: Mapping[str, Any], *, seed: int, seconds: float = 6.0) -> float:
    """Branin after a pause: long enough to kill a worker or cut the database mid-trial."""
    time.sleep(seconds)
    return branin(params, seed=seed)
