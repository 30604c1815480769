"""The arguments of ``svm_subset`` (``hpo_tasks.objectives.subset``, a data-subset fraction as the resource)
and their checks against the sweep's direction and pruner: the one place of its levels rule, read by the
objective (which imports it) and by ``SweepConfig`` (which must not import the objective's module: it
imports ``hpo_tasks.fidelity``, which names the config).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from hpo_tasks.config.blocks import PrunerConfig

SUBSET_OBJECTIVE = "svm_subset"
SUBSET_ARGS = ("steps", "levels", "validation_fraction", "split_seed", "dataset")
DATASETS = ("digits", "breast_cancer", "wine")  # sklearn's shipped data sets: no download


def default_levels(steps: int, *, min_step: int = 1, reduction_factor: int = 3) -> list[int]:
    """``min_step * reduction_factor**k`` below ``steps``, then ``steps``: the rungs of a Hyperband or
    successive-halving pruner with those settings and ``max_resource = steps``, and its last step."""
    out, s = [], min_step
    while s < steps:
        out.append(s)
        s *= reduction_factor
    return [*out, steps]


def check_args(
    *,
    steps: Any = 27,
    levels: Any = None,
    validation_fraction: Any = 0.3,
    dataset: Any = "digits",
    full: bool = True,
) -> list[int]:
    """The levels ``svm_subset`` trains at, or a ``ValueError`` whose message starts with the bad
    argument's name (``steps: ...``). ``full``: the levels must end at ``steps`` (a sweep's trials end
    on the whole training set; top-k screening calls the function with shorter levels)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: must be an integer of at least 1, the last step (got {steps!r})")
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, int | float):
        raise ValueError(f"validation_fraction: must be a number in (0, 1) (got {validation_fraction!r})")
    if not 0.0 < float(validation_fraction) < 1.0:
        raise ValueError(
            f"validation_fraction: {validation_fraction} is outside (0, 1); the share of the data held out "
            f"for validation, e.g. 0.3"
        )
    if dataset not in DATASETS:
        raise ValueError(f"dataset: unknown '{dataset}'; use one of {', '.join(DATASETS)}")
    if levels is None:
        return default_levels(steps)
    if (
        not isinstance(levels, Sequence)
        or isinstance(levels, str)
        or not levels
        or any(isinstance(s, bool) or not isinstance(s, int) for s in levels)
    ):
        raise ValueError(f"levels: must be a non-empty list of integer steps, e.g. [1, 3, 9, {steps}]")
    lv = list(levels)
    if any(b <= a for a, b in itertools.pairwise(lv)):
        raise ValueError(f"levels: {lv} must be strictly ascending")
    bad = [s for s in lv if not 1 <= s <= steps]
    if bad:
        raise ValueError(
            f"levels: step {bad[0]} is the fraction {bad[0]}/{steps} of the training set, outside (0, 1]; "
            f"use steps from 1 to steps ({steps})"
        )
    if full and lv[-1] != steps:
        raise ValueError(
            f"levels: {lv} must end at steps ({steps}), the whole training set: a complete trial's value "
            f"is its value there; append {steps}"
        )
    return lv


def check_subset_sweep(args: dict[str, Any], *, direction: str | None, pruner: PrunerConfig) -> None:
    """``svm_subset``'s args, its direction, and its levels against the pruner's rungs; a ``ValueError``
    naming the field and the fix (``SweepConfig`` calls it for that objective only)."""
    unknown = sorted(set(args) - set(SUBSET_ARGS))
    if unknown:
        raise ValueError(
            f"objective.args.{unknown[0]}: {SUBSET_OBJECTIVE} takes {', '.join(SUBSET_ARGS)}; remove it"
        )
    try:
        levels = check_args(**{k: v for k, v in args.items() if k != "split_seed"})
    except ValueError as err:
        raise ValueError(f"objective.args.{err}") from None
    steps = levels[-1]
    if direction != "minimize":
        raise ValueError(
            f"direction: {SUBSET_OBJECTIVE} returns the validation error rate; set direction: minimize"
        )
    p = pruner
    if p.name == "none":
        return
    if p.max_resource != steps:
        raise ValueError(
            f"pruner.max_resource ({p.max_resource}) must equal objective.args.steps ({steps}), the whole "
            f"training set of {SUBSET_OBJECTIVE}: its last step, never pruned; set max_resource: {steps}"
        )
    if p.name in ("hyperband", "successive_halving"):
        rungs = default_levels(steps, min_step=p.min_resource, reduction_factor=p.reduction_factor)
        missing = [s for s in rungs if s not in levels]
        if missing:
            raise ValueError(
                f"objective.args.levels: {SUBSET_OBJECTIVE} trains at steps {levels}, but the {p.name} "
                f"pruner (min_resource {p.min_resource}, reduction_factor {p.reduction_factor}) decides at "
                f"{rungs[:-1]}: it would judge at the next level up, on more data than its rung; set "
                f"levels: {rungs}"
            )
