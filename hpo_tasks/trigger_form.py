"""What the DAG shows a person: the trigger form's fields (as plain JSON-schema dicts the DAG wraps in
Airflow ``Param``s) and the DAG's documentation. Pure functions of the sweep config: no airflow here.

The DAG unrolls a fixed number of rounds (Airflow DAGs have no cycles), sized so the form may halve the
file's ``batch_size``; the form's bounds keep every accepted value within that shape.
"""

from __future__ import annotations

import math
from typing import Any

from hpo_tasks.config import SweepConfig, rounds_after_seed


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
        "seed": {
            "default": cfg.seed,
            "type": "integer",
            "minimum": 0,
            "maximum": 2**31 - 1,
            "title": "Seed",
            "description": "Same seed, same suggestions.",
            "section": "Sampler",
        },
    }


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
    return f"""### Sweep `{cfg.name}`
{cfg.description}

**Objective** `{cfg.objective.name}` ({cfg.direction}), sampler `{cfg.sampler.name}` /
`{cfg.sampler.acquisition}`, seed {cfg.seed}, schedule `{cfg.schedule or "manual only"}`.

| parameter | type | range |
|---|---|---|
{rows}

**Budget**: {b.max_trials} trials ({cfg.n_init} seed trials, then rounds of {b.batch_size});
wall clock {b.max_minutes or "unlimited"} min; patience {b.patience or "off"}.
Trials run on queue `{cfg.resources.queue}`, pool `{cfg.resources.pool}`.

**Results**: MLflow experiment `hpo/{cfg.name}` (one parent run per DAG run, one child per trial);
Optuna study `{cfg.name}:<run_id>`. Source: `{source}`.
"""
