"""Objectives: ``fn(params, *, seed, **args) -> float``, named in a sweep file.

A sweep names a registered objective (below) or any importable ``package.module:function``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

Objective = Callable[..., float]

REGISTRY: dict[str, str] = {
    "xgboost_breast_cancer": "hpo_tasks.objectives.xgb:xgboost_breast_cancer",
    "branin": "hpo_tasks.objectives.synthetic:branin",
    "hartmann6": "hpo_tasks.objectives.synthetic:hartmann6",
    "cnn_classifier": "hpo_tasks.objectives.cnn:cnn_classifier",
}


def resolve_objective(name: str) -> Objective:
    """The callable behind a registered name or a ``package.module:function`` reference."""
    ref = REGISTRY.get(name, name)
    module, _, func = ref.partition(":")
    fn = getattr(importlib.import_module(module), func, None)
    if not callable(fn):
        raise ValueError(f"objective '{name}': '{ref}' is not a callable")
    return fn


def call_objective(name: str, params: Mapping[str, Any], *, seed: int, args: Mapping[str, Any]) -> float:
    return resolve_objective(name)(dict(params), seed=seed, **dict(args))
