"""Run-time overrides of a sweep file: the trigger form's fields (plain JSON-schema dicts the DAG wraps in
Airflow ``Param``s), the checks the per-field form cannot make, applying them (``with_overrides``), and the
one rule for how many rounds a run needs and how many the DAG unrolls (``budget.mode: rounds``), and the
lanes rule (``budget.mode: async``). Pure functions: no airflow here.

The DAG unrolls a fixed number of rounds (Airflow DAGs have no cycles), sized so the form may halve the
file's ``batch_size``; in async mode it unrolls ``batch_size`` lanes of ``lane_steps`` steps each. The
form's bounds keep every accepted value within that shape.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from hpo_tasks.config.blocks import (
    ACQUISITIONS,
    BUDGET_MODES,
    PRUNER_FIELDS,
    PRUNERS,
    SAMPLERS,
    WARM_START_PATTERN,
)
from hpo_tasks.config.load import parse_sweep
from hpo_tasks.config.schema import SweepConfig, SweepConfigError

SAMPLER_LABELS = {
    "gp": "GP-BO (BoTorch, batch qLogEI)",
    "optuna-gp": "Optuna GPSampler",
    "tpe": "TPE (multivariate, constant liar)",
    "random": "Random search",
}
GP_SAMPLERS = ("gp",)  # samplers that read sampler.acquisition
PRUNER_LABELS = {
    "none": "None (every trial runs all its steps)",
    "hyperband": "Hyperband",
    "successive_halving": "Successive halving (ASHA)",
    "median": "Median stopping",
}
_BUDGET_OVERRIDES = ("max_trials", "batch_size", "patience", "max_minutes", "n_init", "min_delta", "mode")


def rounds_after_seed(max_trials: int, n_init: int, batch_size: int) -> int:
    """Rounds of ``batch_size`` after the seed round of ``n_init`` trials, for ``max_trials`` in all."""
    return max(0, math.ceil((max_trials - n_init) / batch_size))


def rounds_needed(cfg: SweepConfig, *, batch_size: int | None = None) -> int:
    """Rounds a run of ``cfg`` needs: one seed round of ``n_init`` trials, then rounds of ``batch_size``
    (default: the config's) until ``max_trials``. The one rounds rule: the DAG's shape and the check that a
    run fits it both read it."""
    return 1 + rounds_after_seed(cfg.budget.max_trials, cfg.n_init, batch_size or cfg.budget.batch_size)


def min_batch_size(cfg: SweepConfig) -> int:
    """The smallest ``batch_size`` the trigger form accepts: half the file's, rounded up."""
    return max(1, math.ceil(cfg.budget.batch_size / 2))


def unrolled_rounds(cfg: SweepConfig) -> int:
    """Rounds in the DAG: enough for the file's budget at the form's smallest batch size."""
    return rounds_needed(cfg, batch_size=min_batch_size(cfg))


def lane_steps(max_trials: int, lanes: int, *, min_lanes: int | None = None) -> int:
    """Steps unrolled per lane (``budget.mode: async``): the lanes rule, read by the DAG's shape and by
    the check that a run fits it.

    Lanes share the budget, so a lane whose trials are fast takes more than its fair share
    ``ceil(max_trials / lanes)``; each lane may take twice that. No lane can take more than
    ``max_trials - min_lanes + 1``: every running lane's first step asks a trial at the start. The form
    may run as few as ``min_lanes`` (default ``lanes``) of them; the steps are sized so those still
    reach ``max_trials`` (``min_lanes * steps >= max_trials``, see ``docs/features/async.md``).
    """
    least = lanes if min_lanes is None else min_lanes
    return max(1, min(2 * math.ceil(max_trials / lanes), max_trials - least + 1))


def unrolled_lanes(cfg: SweepConfig) -> tuple[int, int]:
    """``(lanes, steps per lane)`` in an async sweep's DAG: one lane per trial in flight (the file's
    ``batch_size``), each long enough for the file's budget at the form's smallest batch size."""
    q = cfg.budget.batch_size
    return q, lane_steps(cfg.budget.max_trials, q, min_lanes=min_batch_size(cfg))


def lanes_capacity(cfg: SweepConfig, *, lanes: int, steps: int) -> int:
    """Trials a run of ``cfg`` can ask in a DAG of ``lanes`` x ``steps``: its ``batch_size`` lanes run."""
    return min(cfg.budget.batch_size, lanes) * steps


def form_fields(cfg: SweepConfig) -> dict[str, dict[str, Any]]:
    b = cfg.budget
    lanes = b.mode == "async"
    return {
        "max_trials": {
            "default": b.max_trials,
            "type": "integer",
            "minimum": 1,
            "maximum": b.max_trials,
            "title": "Trial budget",
            "description": f"Completed + failed trials at most (this sweep's file allows {b.max_trials}).",
            "section": "Budget",
        },
        "batch_size": {
            "default": b.batch_size,
            "type": "integer",
            "minimum": min_batch_size(cfg),
            "maximum": b.batch_size if lanes else 256,  # async: one lane per trial in flight
            "title": "Trials in flight (q)" if lanes else "Batch size (q)",
            "description": (
                f"Lanes that run trials at once, each asking its next trial when its last one ends (the "
                f"DAG has {b.batch_size})."
                if lanes
                else "Trials proposed together and run in parallel per round."
            ),
            "section": "Budget",
        },
        "mode": {
            "default": b.mode,
            "type": "string",
            "enum": [b.mode],  # the DAG's shape follows the file's mode
            "values_display": {
                "rounds": "Rounds (q trials, then the next q)",
                "async": "Asynchronous (q lanes, none waits)",
            },
            "title": "Scheduling",
            "description": (
                "Set by budget.mode in the sweep file (rounds or async): the DAG's shape follows it, so "
                "a run cannot change it."
            ),
            "section": "Budget",
        },
        "patience": {
            "default": b.patience,
            "type": ["null", "integer"],
            "minimum": 1,
            "title": "Patience",
            "description": "Stop after this many completed trials without improvement (empty: off).",
            "section": "Budget",
        },
        "max_minutes": {
            "default": b.max_minutes,
            "type": ["null", "number"],
            "exclusiveMinimum": 0,
            "title": "Wall-clock budget (minutes)",
            "description": "Stop starting new rounds after this long (empty: off).",
            "section": "Budget",
        },
        "sampler": {
            "default": cfg.sampler.name,
            "type": "string",
            "enum": list(SAMPLERS),
            "values_display": {k: SAMPLER_LABELS.get(k, k) for k in SAMPLERS},
            "title": "Sampler",
            "description": "Who proposes the trials after the seed phase.",
            "section": "Sampler",
        },
        "acquisition": {
            "default": cfg.sampler.acquisition,
            "type": "string",
            "enum": list(ACQUISITIONS),
            "title": "Acquisition function",
            "description": "Used by the GP-BO sampler only; other samplers reject a change here.",
            "section": "Sampler",
        },
        "seed": {
            "default": cfg.seed,
            "type": "integer",
            "minimum": 0,
            "maximum": 2**31 - 1,
            "title": "Seed",
            "description": "Same seed, same suggestions.",
            "section": "Sampler",
        },
        "n_init": {
            "default": b.n_init,
            "type": ["null", "integer"],
            "minimum": cfg.n_init,
            "maximum": b.max_trials,
            "title": "Seed trials (Sobol)",
            "description": (
                f"Space-filling trials before the model takes over (empty: {cfg.n_init}, capped by the "
                f"trial budget); at least {cfg.n_init}, the DAG's rounds are sized for it."
            ),
            "section": "Advanced",
        },
        "warm_start_from": {
            "default": cfg.warm_start.source if cfg.warm_start is not None else "none",
            "type": "string",
            "pattern": WARM_START_PATTERN,
            "title": "Warm start from",
            "description": (
                "latest: the newest finished earlier run of this sweep; none: a cold start; or a study "
                "name '<sweep>:<run label>' (see hpo status). Its best configurations run first and its "
                "trials seed the GP."
            ),
            "section": "Advanced",
        },
        "min_delta": {
            "default": b.min_delta,
            "type": "number",
            "minimum": 0,
            "title": "Smallest improvement",
            "description": "A change in best value below this does not reset the patience counter.",
            "section": "Advanced",
        },
        "pruner": {
            "default": cfg.pruner.name,
            "type": "string",
            "enum": list(PRUNERS),
            "values_display": {k: PRUNER_LABELS.get(k, k) for k in PRUNERS},
            "title": "Pruner",
            "description": (
                "Stop unpromising trials early from the values the objective reports per step (epoch); "
                "needs an objective with a 'report' argument. Settings other than the name come from "
                "the sweep file's pruner block (hyperband also needs max_resource or an 'epochs' arg)."
            ),
            "section": "Sampler",
        },
    }


def unknown_keys(cfg: SweepConfig, keys: Any) -> list[str]:
    """One problem per key that is not a trigger-form field, with the closest field when there is one."""
    fields = list(form_fields(cfg))
    problems = []
    for key in sorted(str(k) for k in keys if k not in fields):
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(f"unknown run parameter '{key}': {hint}valid ones are {', '.join(fields)}")
    return problems


def check_overrides(cfg: SweepConfig, overrides: Mapping[str, Any]) -> None:
    """Reject what the per-field form checks cannot see, saying why (raises SweepConfigError): keys that
    are not form fields (Airflow takes any key in a run's conf), and combinations of fields."""
    given = {k: v for k, v in overrides.items() if v is not None}
    problems = unknown_keys(cfg, overrides)
    sampler = given.get("sampler", cfg.sampler.name)
    acquisition = given.get("acquisition", cfg.sampler.acquisition)
    if acquisition != cfg.sampler.acquisition and sampler not in GP_SAMPLERS:
        problems.append(
            f"acquisition '{acquisition}' only applies to sampler {' or '.join(GP_SAMPLERS)}, "
            f"not '{sampler}': choose sampler 'gp' or keep acquisition '{cfg.sampler.acquisition}'"
        )
    max_trials = given.get("max_trials", cfg.budget.max_trials)
    n_init = given.get("n_init")
    if n_init is not None and n_init > max_trials:
        problems.append(
            f"n_init ({n_init}) exceeds max_trials ({max_trials}): lower n_init or raise max_trials"
        )
    mode = given.get("mode", cfg.budget.mode)
    if mode != cfg.budget.mode:
        problems.append(
            f"mode '{mode}' differs from the sweep file's budget.mode '{cfg.budget.mode}': the DAG's "
            f"shape follows the file; change budget.mode there (one of {', '.join(BUDGET_MODES)})"
        )
    source = given.get("warm_start_from")
    if source is not None and not re.match(WARM_START_PATTERN, str(source)):
        problems.append(
            f"warm_start_from '{source}' is not latest, none or a study name '<sweep>:<run label>'"
        )
    if problems:
        raise SweepConfigError(f"{cfg.name}: invalid run parameters: " + "; ".join(problems))


def run_overrides(cfg: SweepConfig, params: Mapping[str, Any], conf: Mapping[str, Any]) -> dict[str, Any]:
    """A DAG run's overrides: the form fields' values from its ``params``, plus every other key of its
    ``conf`` so ``check_overrides`` refuses a misspelt one (``max_trails``) instead of ignoring it."""
    overrides = {k: params.get(k) for k in form_fields(cfg)}
    overrides.update({k: v for k, v in conf.items() if k not in overrides})
    return overrides


def with_overrides(cfg: SweepConfig, overrides: Mapping[str, Any]) -> SweepConfig:
    """A copy of ``cfg`` with run-time overrides (the trigger form's fields) applied and re-validated."""
    budget = cfg.budget.model_dump()
    top: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in _BUDGET_OVERRIDES:
            budget[key] = value
        elif key == "seed":
            top["seed"] = value
        elif key == "pruner":
            if value != cfg.pruner.name:  # keep the file's settings that apply to the new pruner
                fields = PRUNER_FIELDS.get(value, frozenset()) & cfg.pruner.model_fields_set
                kept = cfg.pruner.model_dump(include=set(fields))
                top["pruner"] = {"name": value, **kept}
        elif key == "warm_start_from":
            top["warm_start"] = _warm_start_override(cfg, value)
        elif key not in ("sampler", "acquisition"):
            raise SweepConfigError(f"unknown run override '{key}'")
    name = overrides.get("sampler") or cfg.sampler.name
    acquisition = overrides.get("acquisition") or cfg.sampler.acquisition
    if name != cfg.sampler.name or acquisition != cfg.sampler.acquisition:
        # Switching away from gp drops the file's GP-only settings; an acquisition the form changed
        # stays, so a non-GP sampler with one is rejected with the reason.
        sampler = cfg.sampler.model_dump() if name == "gp" else {}
        sampler["name"] = name
        if acquisition != cfg.sampler.acquisition or name == "gp":
            sampler["acquisition"] = acquisition
        top["sampler"] = sampler
    data = cfg.model_dump()
    data.update(top)
    data["budget"] = budget
    return parse_sweep(data, source=f"{cfg.name} (run overrides)")


def _warm_start_override(cfg: SweepConfig, source: str) -> dict[str, Any] | None:
    """The trigger form's ``warm_start_from``: none turns warm start off; anything else keeps the file's
    other warm-start settings (or the defaults, when the file has no block)."""
    if source == "none":
        return None
    data = cfg.warm_start.model_dump() if cfg.warm_start is not None else {}
    data["source"] = source
    return data
