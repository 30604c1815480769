"""A trust-region sweep (``sampler.trust_region: true``) through a real DAG run: each suggest task is a new
process that replays the region from the study, and the run matches the same sweep driven in-process."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import load_sweep
from hpo_tasks.record import latest_study_name
from hpo_tasks.steps import run_in_process
from hpo_tasks.summary import summarize
from tests.helpers import branin_yaml
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

TURBO = branin_yaml(
    "it_turbo",
    budget={"max_trials": 10, "n_init": 4, "batch_size": 3},
    sampler={"name": "gp", "trust_region": True},
    seed=2,
    resources={"retries": 0},
)


def test_trust_region_sweep_through_the_dag(airflow_sandbox: AirflowSandbox) -> None:
    path = airflow_sandbox.add_sweep("it_turbo", TURBO)
    proc = airflow_sandbox.dag_test("hpo__it_turbo")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_turbo.log").read_text()[-6000:]

    name = latest_study_name("it_turbo")
    study, _ = record.load(name)
    trials = study.get_trials()
    assert len(trials) == 10 and all(t.state == TrialState.COMPLETE for t in trials)
    infos = [record.suggest_info(t) for t in trials]
    assert all(i["phase"] == "sobol" and "tr_length" in i for i in infos[:4])
    assert all(i["phase"] == "gp" and i["trust_region"] is True for i in infos[4:])
    assert [i["n_observed"] for i in infos] == [0] * 4 + [4] * 3 + [7] * 3  # the replay's batches

    # The region's state per suggest step on the MLflow parent run; the setting among its params.
    parent = summarize(name)["mlflow_parent_run_id"]
    history = tracking.client().get_metric_history(parent, "gp.tr_length")
    assert sorted(m.step for m in history) == list(range(10))
    assert {m.value for m in history if m.step >= 4} == {i["tr_length"] for i in infos[4:]}
    for key in ("gp.tr_successes", "gp.tr_failures", "gp.tr_restarts"):
        assert tracking.client().get_metric_history(parent, key)
    assert tracking.run_info(parent).data.params["trust_region"] == "True"

    # Suggest tasks in separate processes give what one process gives: the state lives in the history.
    again = run_in_process(load_sweep(path), label="replay")
    replay = record.load(again["study_name"])[0].get_trials()
    assert [t.params for t in replay] == [t.params for t in trials]
