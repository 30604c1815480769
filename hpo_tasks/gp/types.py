"""Value types shared by the GP modules (engine, multi, turbo, sampler): no torch, no logic beyond
building them, so every gp module can import this one without an import cycle."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

# Study attributes the GP sampler itself reads or writes: defined here, the lowest layer, and re-exported
# by hpo_tasks.record, which owns every other key.
SUGGEST_ATTR = "hpo:suggest"  # system attr of a trial: the GP step's info (JSON)
REFERENCE_ATTR = "hpo:reference_point"  # study user attr: the pinned hypervolume reference point
# system attr of a GP trial: the objective GP's fit that chose it (raw hyperparameters, rows, JSON); the
# next fit starts there, so the warm start survives the fresh process of every suggest task
GP_STATE_ATTR = "hpo:gp_state"

if TYPE_CHECKING:
    from hpo_tasks.space import SearchSpace


@dataclass(frozen=True)
class Suggestion:
    x: np.ndarray  # (d,) the chosen point, already rounded onto a valid configuration
    phase: str  # "gp", or "fallback" when the GP could not serve the step
    acq_value: float | None
    fit_seconds: float
    acq_seconds: float
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # this step's fit, to store under GP_STATE_ATTR on the new trial (None: not kept)
    fit_state: dict[str, Any] | None = None


@dataclass(frozen=True)
class SpaceInfo:
    """What the engine needs to know of the encoded space (see ``hpo_tasks.space.SearchSpace``)."""

    bounds: np.ndarray  # (2, d)
    cat_dims: Mapping[int, Sequence[float]]
    discrete_dims: Mapping[int, Sequence[float]]
    names: Sequence[str]
    round_trip: Callable[[np.ndarray], np.ndarray]
    from_unit: Callable[[np.ndarray], np.ndarray]
    key: Callable[[np.ndarray], Hashable]


def space_info(space: SearchSpace) -> SpaceInfo:
    """What the engine needs of a sweep's space: bounds, grids, and the round-trip/identity of a point."""
    return SpaceInfo(
        bounds=space.bounds(),
        cat_dims=space.cat_dims(),
        discrete_dims=space.discrete_dims(),
        names=space.names,
        round_trip=space.round_trip,
        from_unit=space.from_unit,
        key=lambda x: space.key(space.decode(x)),
    )


def mix_seed(seed: int, number: int) -> int:
    """A per-trial seed derived from the sweep seed (stable across processes and platforms)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
