"""A training-script sweep (``objective.command``) through Airflow's own task runner (``airflow dags test``):
examples/train_cnn.py, one epoch per trial, its own MLflow logging landing in each trial's child run."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, seeds, tracking
from hpo_tasks.record import latest_study_name
from hpo_tasks.summary import summarize
from tests.conftest import REPO
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

SWEEP = """
name: it_script
objective:
  command: ["{{python}}", "examples/train_cnn.py", "--lr", "{{lr}}", "--hidden", "{{hidden}}",
            "--epochs", "{{epochs}}", "--seed", "{{seed}}"]
  args: {{epochs: 1}}
  metric: val_accuracy
  workdir: {repo}
  timeout_seconds: 300
direction: maximize
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  hidden: {{type: int, low: 16, high: 64, power_of_two: true}}
budget: {{max_trials: 3, n_init: 3, batch_size: 3}}
sampler: {{name: random}}
seed: 2
resources: {{retries: 0}}
"""


def test_a_script_sweep_logs_into_each_trials_child_run(airflow_sandbox: AirflowSandbox) -> None:
    airflow_sandbox.add_sweep("it_script", SWEEP.format(repo=REPO))
    proc = airflow_sandbox.dag_test("hpo__it_script")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_script.log").read_text()[-6000:]
    assert "trial 0 stdout | epoch 1: train_loss" in proc.stdout + proc.stderr  # streamed to the task log

    name = latest_study_name("it_script")
    study, cfg = record.load(name)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    summary = summarize(name)
    assert summary["n_complete"] == 3 and summary["best_value"] == max(t.value for t in trials)

    client = tracking.client()
    children = tracking.children(summary["mlflow_parent_run_id"], "it_script")
    by_number = {t.number: t for t in trials}
    assert sorted(int(c.data.tags[tracking.TRIAL_TAG]) for c in children) == [0, 1, 2]
    for c in children:
        t = by_number[int(c.data.tags[tracking.TRIAL_TAG])]
        assert c.info.status == "FINISHED"
        # what the script logged itself, in the trial's run
        assert {"train_loss", "val_accuracy"} <= set(c.data.metrics) and c.data.params["device"] == "cpu"
        history = client.get_metric_history(c.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1]
        # what the sweep logged: the score it used, params, seed, wallclock, the output
        assert c.data.metrics["value"] == pytest.approx(t.value) == pytest.approx(history[0].value)
        assert (
            float(c.data.params["lr"]) == t.params["lr"]
            and int(c.data.params["hidden"]) == t.params["hidden"]
        )
        assert c.data.tags["hpo.seed"] == str(seeds.trial_seed(cfg.seed, t.number)) == str(record.seed_of(t))
        assert f"--seed {record.seed_of(t)}" in c.data.tags["hpo.command"]
        assert c.data.metrics["wallclock_seconds"] > 0
        assert {"stdout.txt", "stderr.txt"} <= {a.path for a in client.list_artifacts(c.info.run_id)}
        assert t.intermediate_values == {1: pytest.approx(t.value)}  # the HPO_REPORT line per epoch
