"""What the DAG page shows a person: the sweep's documentation (``doc_md``) and the Asset a run updates
(``asset_uri``). Pure functions of the sweep config: no airflow here."""

from __future__ import annotations

from hpo_tasks.config import SweepConfig
from hpo_tasks.config.blocks import BudgetConfig


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

**Budget**: {b.max_trials} trials ({cfg.n_init} seed trials, then {_schedule(b)});
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


def _schedule(b: BudgetConfig) -> str:
    if b.mode == "async":
        when = "while its last one runs" if b.ask_ahead else "when its last one has ended"
        return f"asynchronous: {b.batch_size} lanes, each asks its next trial {when}"
    return f"rounds of {b.batch_size}"
