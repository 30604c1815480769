"""Objectives: ``fn(params, *, seed, **args) -> float | Mapping[str, float]``, named in a sweep file.

A mapping names several metrics: a sweep scores one (``objective.metric``), several (``objectives``) or
constrains some (``constraints``); every metric is logged to the trial's MLflow run.

An objective that declares a ``report`` keyword parameter receives ``report(step, value)`` and may be
stopped early by the sweep's pruner (``hpo_tasks.pruning``): ``cnn_classifier`` reports validation
accuracy per epoch, ``branin_curve``/``hartmann6_curve`` are synthetic learning curves (``curves.py``).

A sweep names a registered objective (below) or any importable ``package.module:function``.

An objective may carry a final-model hook (``@with_final_model(...)``) for nightly retuning: ``fit`` retrains
a configuration on the full training data, ``evaluate`` scores any such model on a fixed held-out set (the
same set every night, never seen by the sweep), in the objective's direction. ``finalize`` uses it to
register a challenger and to compare it with the champion; objectives without one skip promotion.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

Objective = Callable[..., float]
F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class FinalModel(Protocol):
    """How to build and judge the deployable model of a configuration (see the module doc)."""

    def fit(self, params: Mapping[str, Any], *, seed: int, **args: Any) -> Any: ...

    def evaluate(self, model: Any, **args: Any) -> float: ...


def with_final_model(final: FinalModel) -> Callable[[F], F]:
    """Attach a final-model hook to an objective function."""

    def attach(fn: F) -> F:
        fn.final_model = final  # type: ignore[attr-defined]
        return fn

    return attach


def final_model_of(name: str) -> FinalModel | None:
    """The objective's final-model hook, or None when it has none."""
    hook = getattr(resolve_objective(name), "final_model", None)
    return hook if isinstance(hook, FinalModel) else None


REGISTRY: dict[str, str] = {
    "xgboost_breast_cancer": "hpo_tasks.objectives.xgb:xgboost_breast_cancer",
    "xgboost_rounds": "hpo_tasks.objectives.xgb:xgboost_rounds",  # reports per boosting round
    "svm_subset": "hpo_tasks.objectives.subset:svm_subset",  # reports per training-data fraction
    "branin": "hpo_tasks.objectives.synthetic:branin",
    "hartmann6": "hpo_tasks.objectives.synthetic:hartmann6",
    "branin_currin": "hpo_tasks.objectives.synthetic:branin_currin",
    "constrained_bowl": "hpo_tasks.objectives.synthetic:constrained_bowl",
    "ackley30": "hpo_tasks.objectives.synthetic:ackley30",
    "cnn_classifier": "hpo_tasks.objectives.cnn:cnn_classifier",
    "branin_curve": "hpo_tasks.objectives.curves:branin_curve",
    "hartmann6_curve": "hpo_tasks.objectives.curves:hartmann6_curve",
    "command": "hpo_tasks.objectives.command:command_objective",  # objective.command: a training script
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
