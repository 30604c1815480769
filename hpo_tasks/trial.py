"""The DAG's entry point for trial tasks, for now: ``dags/hpo_sweeps.py`` imports ``run_trial`` from here
until it imports ``hpo_tasks.steps`` (rewired at merge; delete this module then)."""

from hpo_tasks.steps.trial import run_trial

__all__ = ["run_trial"]
