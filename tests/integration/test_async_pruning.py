"""Multi-fidelity in async mode through Airflow's own task runner (``airflow dags test``): lanes of
suggest -> trial steps on a learning curve under Hyperband with the joint (configuration, resource) model
and replication. Pruned trials stop early and are recorded as pruned in Optuna and MLflow, every suggest
after the seed design learned from them through the fidelity GP (no fallback), replicates and complete
trials train every epoch, and the compute figures reach the parent run."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.record import latest_study_name
from hpo_tasks.summary import summarize
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

EPOCHS = 9

ASYNC_CURVE = f"""
name: it_async_mf
objective: {{name: branin_curve, args: {{epochs: {EPOCHS}}}}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: 12, batch_size: 3, mode: async}}
sampler: {{name: gp}}
pruner: {{name: hyperband, min_resource: 1, reduction_factor: 3, model: joint}}
replicate: {{top_k: 1, repeats: 2}}
seed: 5
resources: {{retries: 0}}
"""


def test_async_hyperband_with_the_joint_model_prunes_records_and_replicates(
    airflow_sandbox: AirflowSandbox,
) -> None:
    airflow_sandbox.add_sweep("it_async_mf", ASYNC_CURVE)
    proc = airflow_sandbox.dag_test("hpo__it_async_mf")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_async_mf.log").read_text()[-6000:]

    name = latest_study_name("it_async_mf")
    study, cfg = record.load(name)
    assert cfg.budget.mode == "async" and cfg.pruner.model == "joint"
    trials = study.get_trials()
    search = [t for t in trials if "replicate_of" not in t.user_attrs]
    replicates = [t for t in trials if "replicate_of" in t.user_attrs]
    assert sorted(t.number for t in search) == list(range(12))  # the budget, each number once
    assert len(replicates) == 2
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)  # nothing RUNNING

    pruned = [t for t in search if t.state == TrialState.PRUNED]
    assert pruned, "Hyperband prunes some of 12 trials on the curve"
    assert all(len(t.intermediate_values) < EPOCHS for t in pruned)
    full = list(range(1, EPOCHS + 1))
    assert all(sorted(t.intermediate_values) == full for t in trials if t.state == TrialState.COMPLETE)
    assert all(t.state == TrialState.COMPLETE for t in replicates), "a replicate is never pruned"

    # Every GP step fitted the fidelity GP (no fallback to stand-ins); once a trial was pruned, the
    # steps that followed saw it as a model-based stand-in.
    infos = [record.suggest_info(t) for t in search]
    gp_infos = [i for i in infos if i.get("phase") == "gp"]
    assert gp_infos, "the sweep ran GP steps after its seed design"
    after_pruning = [i for i in gp_infos if i.get("n_pruned", 0) > 0]
    assert after_pruning, "some GP step came after a pruned trial"
    for i in after_pruning:
        assert i.get("fidelity") == "joint" and "joint_error" not in i, i
        assert i["n_pruned_predicted"] == i["n_pruned"], i
    # (``dags test`` runs one task at a time and a lane's step asks and runs its trial in one task, so no
    # ask here sees another lane's trial running: tests/unit/test_async_lanes.py interleaves the lanes)

    summary = summarize(name)
    assert summary["n_pruned"] == len(pruned) and summary["stop_reason"] == "max_trials"
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    # the compute figures count the search (replicates, never pruned, are no search progress)
    used = sum(len(t.intermediate_values) for t in search)
    assert parent.data.metrics["resource_used"] == used < EPOCHS * len(search)
    assert parent.data.metrics["resource_unpruned"] == EPOCHS * len(search)
    children = {
        int(c.data.tags["hpo.trial_number"]): c for c in tracking.children(parent.info.run_id, "it_async_mf")
    }
    assert sorted(children) == sorted(t.number for t in trials)
    for t in pruned:
        assert children[t.number].info.status == "KILLED"
        assert children[t.number].data.tags["hpo.pruned_at_step"] == str(t.last_step)
    states = airflow_sandbox.task_states("hpo__it_async_mf")
    assert states["record_lanes"] == ["success"] and states["finalize"] == ["success"]
