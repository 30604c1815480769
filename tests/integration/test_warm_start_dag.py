"""A real DAG run (``airflow dags test``) that warm-starts from last night's study and replicates its best
configuration as mapped trial tasks before finalize."""

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

SWEEP = branin_yaml(
    "it_warm",
    objective={"name": "branin", "args": {"noise_std": 1.0}},
    budget={"max_trials": 5, "n_init": 3, "batch_size": 2},
    seed=4,
    warm_start={"from": "latest", "top_k": 2},
    replicate={"top_k": 1, "repeats": 2},
    resources={"retries": 0},
)


@pytest.mark.slow  # whole sweeps with MLflow and Optuna stores: tens of seconds
def test_second_dag_run_warm_starts_and_replicates(airflow_sandbox: AirflowSandbox) -> None:
    path = airflow_sandbox.add_sweep("it_warm", SWEEP)
    first = run_in_process(load_sweep(path), label="night1")["study_name"]  # last night, in-process
    proc = airflow_sandbox.dag_test("hpo__it_warm")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_warm.log").read_text()[-6000:]
    second = latest_study_name("it_warm")
    assert second != first

    # The parent run says where the warm start came from and what it took.
    s2 = summarize(second)
    parent = tracking.run_info(s2["mlflow_parent_run_id"]).data
    assert parent.tags["hpo.warm_start.from"] == first
    assert parent.metrics["warm_start.enqueued"] == 2 and parent.metrics["warm_start.observations"] == 5
    assert parent.params["warm_start.from"] == "latest" and parent.params["warm_start.top_k"] == "2"
    assert parent.params["replicate.top_k"] == "1" and parent.params["replicate.repeats"] == "2"
    assert (
        tracking.run_info(summarize(first)["mlflow_parent_run_id"]).data.tags["hpo.warm_start.from"] == "none"
    )

    # The first night's two best search trials are the second night's first two trials.
    old, _ = record.load(first)
    best_two = sorted(
        (
            t
            for t in old.get_trials()
            if t.state == TrialState.COMPLETE and "replicate_of" not in t.user_attrs
        ),
        key=lambda t: t.value,
    )[:2]
    new, _ = record.load(second)
    trials = new.get_trials()
    assert [t.params for t in trials[:2]] == [t.params for t in best_two]
    assert all(t.user_attrs["warm_start_from"] == first for t in trials[:2])

    # Replication ran as mapped trial tasks: 5 search trials, then 2 repeats of the best one.
    states = airflow_sandbox.task_states("hpo__it_warm")
    assert states["replicate.run_trial"] == ["success", "success"]
    assert s2["n_trials"] == 5 and s2["n_replicate_trials"] == 2
    assert [r["n"] for r in s2["replication"]] == [3]
    reps = [
        c
        for c in tracking.children(s2["mlflow_parent_run_id"], "it_warm")
        if "hpo.replicate_of" in c.data.tags
    ]
    assert len(reps) == 2 and {c.data.tags["hpo.replicate_of"] for c in reps} == {
        str(s2["best_trial_number"])
    }
