"""Shared sweep fixtures and the ask/tell loop for the tests.

- ``BRANIN_SPACE`` and ``branin_sweep(name, **changes)``: the Branin sweep as the dict ``parse_sweep`` takes
  (``branin_yaml`` writes the same as the YAML a sweep file holds);
- ``space_of(space)``: a ``SearchSpace`` for a ``space:`` block alone;
- ``rounds(study, space, q, fn)``: rounds as the DAG runs them, ask ``q`` then tell all ``q``.
- ``assert_log_ei_twin_is_torchs(acq, q, rtol)``: a ``LogEI``'s numpy twin against torch autograd at ``q``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks.config import parse_sweep
from hpo_tasks.space import SearchSpace

BRANIN_SPACE: dict[str, Any] = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0},
    "x2": {"type": "float", "low": 0.0, "high": 15.0},
}


def branin_sweep(name: str = "t", **changes: Any) -> dict[str, Any]:
    """A minimised Branin sweep over ``BRANIN_SPACE`` with ``budget: {max_trials: 10}``, as a fresh dict.

    Each keyword sets a top-level key (``budget={...}``); ``a__b=v`` sets ``data["a"]["b"]`` and keeps the
    rest of ``a``; the value ``...`` removes the key (``warm_start=...``: no warm-start block).
    """
    data: dict[str, Any] = {
        "name": name,
        "objective": {"name": "branin"},
        "direction": "minimize",
        "space": copy.deepcopy(BRANIN_SPACE),
        "budget": {"max_trials": 10},
    }
    return with_changes(data, **changes)


def with_changes(data: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a sweep dict with ``changes`` applied as ``branin_sweep`` does."""
    out = copy.deepcopy(dict(data))
    for path, value in changes.items():
        node = out
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = copy.deepcopy(value)
    return out


def branin_yaml(name: str = "t", **changes: Any) -> str:
    """``branin_sweep(name, **changes)`` as the text of a sweep file."""
    return yaml.safe_dump(branin_sweep(name, **changes), sort_keys=False)


def space_of(space: Mapping[str, Any], **changes: Any) -> SearchSpace:
    """The ``SearchSpace`` of a ``space:`` block (in a Branin sweep with ``changes``, e.g. direction)."""
    return SearchSpace.from_config(parse_sweep(branin_sweep(space=dict(space), **changes)))


def rounds(
    study: optuna.Study,
    space: SearchSpace,
    q: int,
    fn: Callable[[dict[str, Any]], float | None],
    *,
    n: int | None = None,
    n_init: int | None = None,
) -> list[FrozenTrial]:
    """Rounds as the DAG runs them: ask ``q`` trials (``space.suggest`` on each), then tell all ``q``.

    ``fn(params)`` is the objective; ``None`` tells the trial FAIL. Without ``n``, one round; with ``n``,
    rounds until the study holds ``n`` trials, the first round of an empty study ``n_init`` wide.
    Returns the trials of the last round, as stored.
    """
    while True:
        width = n_init if (n_init is not None and not study.trials) else q
        asked = []
        for _ in range(width):
            t = study.ask()
            space.suggest(t)
            asked.append(t)
        for t in asked:
            value = fn(t.params)
            if value is None:
                study.tell(t, state=TrialState.FAIL)
            else:
                study.tell(t, value)
        if n is None or len(study.trials) >= n:
            return [study.trials[t.number] for t in asked]


def crashing_branin(params: Mapping[str, Any]) -> float | None:
    """Branin that crashes (``None``: the trial fails) for x1 > 2.5 and, in a space with ``c``, for
    c == 'c'; ``0.1 * k`` on top where the space has ``k``."""
    if params["x1"] > 2.5 or params.get("c") == "c":
        return None
    from hpo_tasks.objectives.synthetic import branin

    return branin(dict(params), seed=0) + 0.1 * params.get("k", 0)


def warm_sweep(**changes: Any) -> dict[str, Any]:
    """The warm-started Branin sweep ``ws`` (6 trials, seed round 4, rounds of 2, warm start from the
    latest study's top 2) with ``changes`` as ``with_changes`` applies them."""
    budget = {"max_trials": 6, "n_init": 4, "batch_size": 2}
    base = branin_sweep("ws", budget=budget, warm_start={"from": "latest", "top_k": 2})
    return with_changes(base, **changes)


def assert_log_ei_twin_is_torchs(acq: Any, q: Any, rtol: float = 1e-11) -> None:
    """``acq.numpy`` (``gp.acquisition.PlainLogEI``) gives the torch LogEI's values (to ``rtol``) and its
    autograd gradient at the ``m x d`` points ``q``."""
    import numpy as np
    import torch

    qt = torch.tensor(q, requires_grad=True)
    values = acq(qt)
    (grad,) = torch.autograd.grad(values.sum(), qt)
    twin_values, twin_grad = acq.numpy.value_and_grad(q)
    np.testing.assert_allclose(twin_values, values.detach().numpy(), rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(twin_grad, grad.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(acq.numpy.values(q), twin_values)
