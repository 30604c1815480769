"""Objectives that misbehave on purpose, referenced from test sweeps as ``module:function``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo_tasks.objectives.synthetic import branin


def branin_with_failures(params: Mapping[str, Any], *, seed: int) -> float:
    """Branin, except it raises for x1 > 6 and returns NaN for x2 > 11."""
    if params["x1"] > 6:
        raise ValueError(f"diverged at x1={params['x1']:.3f}")
    if params["x2"] > 11:
        return float("nan")
    return branin(params, seed=seed)


def conditional_bowl(params: Mapping[str, Any], *, seed: int) -> float:
    """A cheap stand-in for the CNN's mixed, conditional space (maximise)."""
    import math

    score = -((math.log10(params["lr"]) + 3) ** 2) + 0.1 * math.log2(params["hidden"])
    if params["optimizer"] == "sgd":
        assert "momentum" in params, "momentum must be present when optimizer == sgd"
        return score + params["momentum"]
    assert "momentum" not in params, "momentum must be absent unless optimizer == sgd"
    return score + 0.5
