"""``hpo run``: the DAG's steps in a plain loop, in one process, trials in order (no Airflow)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo_tasks.config import SweepConfig
from hpo_tasks.steps.finalize import finalize
from hpo_tasks.steps.init import init_sweep
from hpo_tasks.steps.record import record_replicates, record_round
from hpo_tasks.steps.suggest import replicate_batch, suggest_batch
from hpo_tasks.steps.trial import run_trial


def run_in_process(
    cfg: SweepConfig,
    *,
    label: str,
    overrides: Mapping[str, Any] | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The same sweep without Airflow; returns ``finalize``'s summary. ``on_trial`` sees each trial's
    result as it finishes (``hpo run``'s progress bar)."""
    name = init_sweep(cfg, run_id=label, overrides=overrides)["study_name"]

    def run(specs: list[dict[str, Any]]) -> None:
        for spec in specs:
            result = run_trial(spec, context={"run_id": label})
            if on_trial is not None:
                on_trial(result)

    r = 0
    while specs := suggest_batch(name, r):
        run(specs)
        record_round(name, r)
        r += 1
    if specs := replicate_batch(name):
        run(specs)
        record_replicates(name)
    return finalize(name)
