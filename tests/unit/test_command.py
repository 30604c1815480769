"""objective.command end to end at function level: tiny real Python scripts (written to tmp) run by the real
trial step against a real SQLite Optuna storage and a real local MLflow store."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import init_sweep, suggest_batch
from hpo_tasks.steps import trial as trial_step

# Each script gets --x <float> --trial <n>; PIDS (env) names a file for the pids it leaves running.
PRELUDE = """
import json, os, subprocess, sys, time
x = float(sys.argv[sys.argv.index("--x") + 1])
trial = int(sys.argv[sys.argv.index("--trial") + 1])
def leave_running():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["PIDS"], "w") as f:
        json.dump([os.getpid(), child.pid], f)
"""
SCRIPTS = {
    "device": """
seed_arg = int(sys.argv[sys.argv.index("--seed") + 1])
with open(os.environ["PIDS"], "w") as f:  # what it was given, for the test to read
    json.dump({"seed_arg": seed_arg, "seed_env": int(os.environ["HPO_SEED"])}, f)
print(json.dumps({"hpo_metrics": {"score": float(os.environ["CUDA_VISIBLE_DEVICES"])}}))
""",
    "mlflow": """
import mlflow
print("training on", os.environ["HPO_PARAMS_JSON"])
print("a warning", file=sys.stderr)
with mlflow.start_run():
    mlflow.log_param("x", sys.argv[sys.argv.index("--x") + 1])  # its own spelling of the parameter
    for epoch in (1, 2):
        mlflow.log_metric("val_accuracy", 0.5 + 0.1 * epoch, step=epoch)
""",
    "stdout": """
print("HPO_REPORT " + json.dumps({"step": 1, "value": x}), flush=True)
print(json.dumps({"hpo_metrics": {"score": 2 * x, "size": 3.0}}))
""",
    "metrics_file": """
with open(os.environ["HPO_METRICS_FILE"], "w") as f:
    json.dump({"score": 7.0}, f)
print(json.dumps({"hpo_metrics": {"score": 8.0}}))  # the stdout line wins over the file
""",
    "crash": """
print("loading data")
print("Traceback (most recent call last):\\nValueError: lr too large", file=sys.stderr)
sys.exit(3)
""",
    "silent": """
print("done, but forgot to report")
""",
    "hang": """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # deaf to SIGTERM: only SIGKILL stops it
leave_running()
time.sleep(600)
""",
    "prune": """
if trial == 0:
    for step in (1, 2, 3):
        print("HPO_REPORT " + json.dumps({"step": step, "value": 1.0}), flush=True)
    print(json.dumps({"hpo_metrics": {"score": 1.0}}))
else:
    print("HPO_REPORT " + json.dumps({"step": 1, "value": 0.0}), flush=True)
    leave_running()
    time.sleep(600)
""",
}


def _sweep(tmp_path: Path, script: str, **objective: Any) -> tuple[dict, Path]:
    path = tmp_path / f"script_{script}.py"
    path.write_text(PRELUDE + textwrap.dedent(SCRIPTS[script]))
    pids = tmp_path / "pids.json"
    cfg = {
        "name": "cmd",
        "objective": {
            "command": [sys.executable, str(path), "--x", "{x}", "--trial", "{trial_number}"],
            "metric": "score",
            "env": {"PIDS": str(pids)},
            "grace_seconds": 1,
            **objective,
        },
        "direction": "maximize",
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "budget": {"max_trials": 2, "n_init": 2, "batch_size": 2},
        "sampler": {"name": "random"},
    }
    return cfg, pids


def _specs(cfg: dict) -> list[dict]:
    info = init_sweep(parse_sweep(cfg), run_id="t")
    return suggest_batch(info["study_name"], 0)


def _trial_and_run(spec: dict) -> tuple[Any, Any]:
    study, _ = record.load(spec["study_name"])
    t = study.get_trials()[spec["trial_number"]]
    (child,) = [
        c
        for c in tracking.children(study.user_attrs[record.PARENT_RUN_ATTR], "cmd")
        if c.data.tags[tracking.TRIAL_TAG] == str(spec["trial_number"])
    ]
    return t, child


def _artifact(run_id: str, name: str) -> str:
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, tracking_uri=tracking.mlflow_tracking_uri()
    )
    return Path(path).read_text()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_metric_the_script_logs_to_mlflow_lands_in_the_trial_run(tmp_path: Path, state_dir: Path) -> None:
    cfg, _ = _sweep(tmp_path, "mlflow", metric="val_accuracy")
    spec = _specs(cfg)[0]
    result = trial_step.run_trial(spec)
    assert (result["state"], result["value"]) == ("COMPLETE", pytest.approx(0.7))
    t, child = _trial_and_run(spec)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.7)
    assert child.info.status == "FINISHED"
    history = tracking.client().get_metric_history(child.info.run_id, "val_accuracy")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(1, 0.6), (2, 0.7)]  # its own curve
    assert child.data.metrics["value"] == pytest.approx(0.7)
    assert child.data.params["x"] == repr(spec["params"]["x"])  # the script's own param is kept
    assert child.data.tags["hpo.seed"] == str(spec["seed"]) and "wallclock_seconds" in child.data.metrics
    assert "--x" in child.data.tags["hpo.command"]
    assert "training on" in _artifact(child.info.run_id, "stdout.txt")
    assert "a warning" in _artifact(child.info.run_id, "stderr.txt")


def test_stdout_line_gives_several_metrics_with_a_constraint(tmp_path: Path, state_dir: Path) -> None:
    cfg, _ = _sweep(tmp_path, "stdout", metric_source="stdout")
    cfg["constraints"] = ["size <= 5"]
    spec = _specs(cfg)[0]
    result = trial_step.run_trial(spec)
    x = spec["params"]["x"]
    assert (result["state"], result["value"]) == ("COMPLETE", pytest.approx(2 * x))
    t, child = _trial_and_run(spec)
    assert t.user_attrs["metrics"] == {"score": pytest.approx(2 * x), "size": 3.0}
    assert child.data.tags["hpo.feasible"] == "true"
    assert t.intermediate_values == {1: pytest.approx(x)}  # the HPO_REPORT line reached the trial


def test_stdout_line_wins_over_the_metrics_file(tmp_path: Path, state_dir: Path) -> None:
    cfg, _ = _sweep(tmp_path, "metrics_file")
    result = trial_step.run_trial(_specs(cfg)[0])
    assert (result["state"], result["value"]) == ("COMPLETE", 8.0)


def test_non_zero_exit_fails_the_trial_with_the_tail_of_stderr(tmp_path: Path, state_dir: Path) -> None:
    cfg, _ = _sweep(tmp_path, "crash")
    spec = _specs(cfg)[0]
    result = trial_step.run_trial(spec)
    assert result["state"] == "FAIL"
    assert "exited with status 3" in result["error"] and "ValueError: lr too large" in result["error"]
    t, child = _trial_and_run(spec)
    assert t.state == TrialState.FAIL and "lr too large" in t.user_attrs["error"]
    assert child.info.status == "FAILED" and "loading data" in _artifact(child.info.run_id, "stdout.txt")


def test_a_script_that_reports_no_metric_fails_naming_it_and_where_it_looked(
    tmp_path: Path, state_dir: Path
) -> None:
    cfg, _ = _sweep(tmp_path, "silent")
    result = trial_step.run_trial(_specs(cfg)[0])
    assert result["state"] == "FAIL"
    assert "no metric 'score'" in result["error"]
    for source in ("MLflow run", "HPO_METRICS_FILE", "hpo_metrics"):
        assert source in result["error"]


def test_a_hanging_script_is_killed_at_the_timeout_with_its_children(tmp_path: Path, state_dir: Path) -> None:
    cfg, pids = _sweep(tmp_path, "hang", timeout_seconds=3)
    result = trial_step.run_trial(_specs(cfg)[0])
    assert result["state"] == "FAIL" and "timed out after 3 s" in result["error"]
    leader, child = json.loads(pids.read_text())
    assert _gone(leader) and _gone(child), "the script and the process it started are gone"


def test_a_pruned_script_stops_with_its_process_group_and_is_pruned(tmp_path: Path, state_dir: Path) -> None:
    cfg, pids = _sweep(tmp_path, "prune", metric_source="stdout")
    cfg["pruner"] = {"name": "median", "n_startup_trials": 1}
    first, second = _specs(cfg)
    assert trial_step.run_trial(first)["state"] == "COMPLETE"
    result = trial_step.run_trial(second)
    assert result["state"] == "PRUNED" and result["pruned_at_step"] == 1
    leader, child = json.loads(pids.read_text())
    assert _gone(leader) and _gone(child)
    t, run = _trial_and_run(second)
    assert t.state == TrialState.PRUNED and t.intermediate_values == {1: 0.0}
    assert run.info.status == "KILLED" and run.data.tags["hpo.pruned_at_step"] == "1"
    assert trial_step.run_trial(second)["state"] == "PRUNED"  # a redelivered task runs nothing


def test_the_script_sees_its_workers_gpu_and_the_trials_seed(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker per GPU, started with CUDA_VISIBLE_DEVICES=N (docker/, docs/features/training-scripts.md):
    the script inherits the worker's device; {seed} and HPO_SEED carry the trial's seed."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    cfg, given = _sweep(tmp_path, "device", metric_source="stdout")
    cfg["objective"]["command"] += ["--seed", "{seed}"]
    spec = _specs(cfg)[0]
    result = trial_step.run_trial(spec)
    assert (result["state"], result["value"]) == ("COMPLETE", 3.0)
    assert json.loads(given.read_text()) == {"seed_arg": spec["seed"], "seed_env": spec["seed"]}
