"""The DAG's entry points, for now: ``dags/hpo_sweeps.py`` imports these names from here until it imports
``hpo_tasks.steps`` (rewired at merge; delete this module then). Nothing else should import it."""

from __future__ import annotations

from hpo_tasks import record
from hpo_tasks.steps import finalize, init_sweep, record_round, replicate_batch, run_label, suggest_batch
from hpo_tasks.steps import suggest as _suggest
from hpo_tasks.stopping import StopDecision

__all__ = [
    "check_stop",
    "finalize",
    "init_sweep",
    "record_round",
    "replicate_batch",
    "run_label",
    "suggest_batch",
]


def check_stop(study_name: str) -> StopDecision:
    """The gate by study name (``hpo_tasks.steps.gate`` is the new entry point)."""
    study, cfg = record.load(study_name)
    return _suggest.check_stop(study, cfg)
