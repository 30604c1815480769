"""The sweep's steps, one module per DAG task; each loads the study once, decides, records.

    init.init_sweep, init.run_label        init_study
    suggest.gate                           round_NN.gate
    suggest.suggest_batch                  round_NN.suggest
    lanes.ask_and_run                      lane_L.trial_SSS           (budget.mode: async)
    lanes.suggest_one                      lane_L.suggest_SSS         (async, budget.ask_ahead)
    lanes.record_lanes                     record_lanes
    trial.run_trial                        round_NN.run_trial, replicate.run_trial, lane_L.trial_SSS
                                           (asking ahead)
    record.record_round                    round_NN.record
    suggest.replicate_batch                replicate.replicate
    record.record_replicates               replicate.record_replicates
    finalize.finalize                      finalize
    local.run_in_process                   ``hpo run`` (all of the above in a loop)

Every step is idempotent: it re-derives what it needs from the Optuna study and finds MLflow runs by
tag. Small JSON values cross task boundaries (``hpo_tasks.record.TrialSpec``/``TrialResult``).
"""

from hpo_tasks.steps.finalize import finalize
from hpo_tasks.steps.init import init_sweep, run_label
from hpo_tasks.steps.lanes import ask_and_run, record_lanes, suggest_one
from hpo_tasks.steps.local import run_in_process
from hpo_tasks.steps.record import record_replicates, record_round
from hpo_tasks.steps.suggest import check_stop, gate, replicate_batch, suggest_batch
from hpo_tasks.steps.trial import run_trial

__all__ = [
    "ask_and_run",
    "check_stop",
    "finalize",
    "gate",
    "init_sweep",
    "record_lanes",
    "record_replicates",
    "record_round",
    "replicate_batch",
    "run_in_process",
    "run_label",
    "run_trial",
    "suggest_batch",
    "suggest_one",
]
