"""What the DAG shows a person: the trigger form's fields (as plain JSON-schema dicts the DAG wraps in
Airflow ``Param``s) and the DAG's documentation. Pure functions of the sweep config: no airflow here.

The DAG unrolls a fixed number of rounds (Airflow DAGs have no cycles), sized so the form may halve the
file's ``batch_size``; the form's bounds keep every accepted value within that shape.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hpo_tasks.config import (
    ACQUISITIONS,
    PRUNERS,
    SAMPLERS,
    SweepConfig,
    SweepConfigError,
    rounds_after_seed,
)

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
WARM_START_PATTERN = r"^(latest|none|[A-Za-z0-9][A-Za-z0-9_.-]*:\S+)$"  # as config.WarmStartConfig


def min_batch_size(cfg: SweepConfig) -> int:
    return max(1, math.ceil(cfg.budget.batch_size / 2))


def unrolled_rounds(cfg: SweepConfig) -> int:
    """Rounds in the DAG: the seed round plus enough rounds of ``min_batch_size`` for the budget."""
    return 1 + rounds_after_seed(cfg.budget.max_trials, cfg.n_init, min_batch_size(cfg))


def form_fields(cfg: SweepConfig) -> dict[str, dict[str, Any]]:
    b = cfg.budget
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
            "maximum": 256,
            "title": "Batch size (q)",
            "description": "Trials proposed together and run in parallel per round.",
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


def check_overrides(cfg: SweepConfig, overrides: dict[str, Any]) -> None:
    """Reject combinations the per-field form checks cannot see, saying why (raises SweepConfigError)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    sampler = given.get("sampler", cfg.sampler.name)
    acquisition = given.get("acquisition", cfg.sampler.acquisition)
    problems = []
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
    source = given.get("warm_start_from")
    if source is not None and not re.match(WARM_START_PATTERN, str(source)):
        problems.append(
            f"warm_start_from '{source}' is not latest, none or a study name '<sweep>:<run label>'"
        )
    if problems:
        raise SweepConfigError(f"{cfg.name}: invalid run parameters: " + "; ".join(problems))


def doc_md(cfg: SweepConfig, source: str) -> str:
    rows = "\n".join(
        f"| `{name}` | {p.type} | "
        + (
            ", ".join(map(str, p.choices))
            if p.type == "categorical"
            else f"{p.low} .. {p.high}{' (log)' if p.log else ''}"
        )
        + " |"
        for name, p in cfg.space.items()
    )
    b = cfg.budget
    model = cfg.model.name or cfg.name
    promotion = (
        f"**Model**: finalize retrains the best configuration and registers it as `{model}@challenger`; it "
        f"becomes `{model}@champion` only if it beats the champion on the objective's held-out set "
        f"(margin {cfg.model.min_improvement:g}). Objectives without a final-model hook skip this.\n"
        if cfg.model.promote
        else "**Model**: promotion is off for this sweep.\n"
    )
    nightly = f"scheduled runs: `{cfg.name}:<logical date>`, one per night" if cfg.schedule else "manual runs"
    return f"""### Sweep `{cfg.name}`
{cfg.description}

**Objective** `{cfg.objective.name}` ({_senses(cfg)}), sampler `{cfg.sampler.name}` /
`{cfg.sampler.acquisition}`, seed {cfg.seed}, schedule `{cfg.schedule or "manual only"}`.

| parameter | type | range |
|---|---|---|
{rows}

**Budget**: {b.max_trials} trials ({cfg.n_init} seed trials, then rounds of {b.batch_size});
wall clock {b.max_minutes or "unlimited"} min; patience {b.patience or "off"}; pruner `{cfg.pruner.name}`.
Trials run on queue `{cfg.resources.queue}`, pool `{cfg.resources.pool}`.

**Results**: MLflow experiment `hpo/{cfg.name}`: one parent run per DAG run (plots under `plots/`:
convergence, parallel coordinates, importance, slice and contour of the top two parameters; the best config
as `best_config.yaml`), one child per trial. Optuna study `{cfg.name}:<run_id>`
({nightly}).

{promotion}
**Links**: each DAG run's *Sweep* tab (trials done / budget, best so far, stop reason, promotion, a link
to the MLflow parent run); each trial task instance's *MLflow trial* tab. When it finishes, the run
updates asset `{asset_uri(cfg)}` (its extra carries the best params) so downstream DAGs can schedule on it.

Source: `{source}`.
"""


def _senses(cfg: SweepConfig) -> str:
    """``maximize``, or a multi-objective sweep's ``accuracy maximize, latency_ms minimize``; constraints."""
    senses = cfg.direction or ", ".join(f"{o.metric} {o.direction}" for o in cfg.objectives or ())
    return senses + (f"; subject to {', '.join(cfg.constraints)}" if cfg.constraints else "")


def asset_uri(cfg: SweepConfig) -> str:
    """The Airflow Asset a sweep run updates when it finishes: downstream DAGs schedule on it."""
    return f"hpo://{cfg.name}/best_params"
