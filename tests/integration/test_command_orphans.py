"""A real ``kill -9`` of the process running a script trial, without a cluster.

A separate Python process runs one command trial exactly as the trial task does
(``hpo_tasks.steps.trial.run_trial`` on a spec of a real study in a private state folder: SQLite Optuna
storage, local MLflow store). The script it runs starts a grandchild and sleeps. The test SIGKILLs that
runner, then checks with ``psutil`` that the script and its grandchild are gone (nobody is left to run
``stop_group``: the kernel's ``PR_SET_PDEATHSIG`` takes the script, the watcher ``command.py`` starts beside
it takes the rest of its process group). Then it runs the trial again, as Airflow's retry would: same trial
number, same MLflow child run, the script run to completion.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import init_sweep, suggest_batch
from hpo_tasks.steps import trial as trial_step
from tests.conftest import REPO

# First attempt (no PIDS file yet): start a grandchild, write [own pid, grandchild pid, MLFLOW_RUN_ID],
# sleep 60 s. Later attempts: report the score and exit.
SCRIPT = """
import json, os, subprocess, sys, time
pids = os.environ["PIDS"]
x = float(sys.argv[sys.argv.index("--x") + 1])
if not os.path.exists(pids):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(pids + ".tmp", "w") as f:
        json.dump([os.getpid(), child.pid, os.environ["MLFLOW_RUN_ID"]], f)
    os.replace(pids + ".tmp", pids)
    time.sleep(60)
print(json.dumps({"hpo_metrics": {"score": 2 * x}}))
"""
RUNNER = "import json, sys; from hpo_tasks.steps import trial; trial.run_trial(json.loads(sys.argv[1]))"


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(predicate, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` holds; fails after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, f"{what} after {timeout:g} s"
        time.sleep(0.05)
    return time.monotonic() - t0


def test_kill_9_of_the_trial_process_leaves_no_orphan_and_the_retry_reuses_the_trial(
    tmp_path: Path, state_dir: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    pids = tmp_path / "pids.json"
    cfg = {
        "name": "orphans",
        "objective": {
            "command": [sys.executable, str(script), "--x", "{x}"],
            "metric": "score",
            "env": {"PIDS": str(pids)},
            "grace_seconds": 1,
        },
        "direction": "maximize",
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "budget": {"max_trials": 1, "n_init": 1, "batch_size": 1},
        "sampler": {"name": "random"},
    }
    info = init_sweep(parse_sweep(cfg), run_id="t")
    (spec,) = suggest_batch(info["study_name"], 0)

    env = {**os.environ, "PYTHONPATH": str(REPO)}  # HPO_STATE_DIR: the test's private state folder
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(spec)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # like a task runner: the kill below reaches it alone, not the test
    )
    try:
        _wait(pids.exists, 120, "the script never started")
        leader, grandchild, run_id = json.loads(pids.read_text())
        assert psutil.Process(leader).ppid() == runner.pid
        assert not _gone(leader) and not _gone(grandchild)
        os.kill(runner.pid, signal.SIGKILL)  # the runner alone: no stop_group, no finally
        runner.wait(timeout=30)
        seconds = _wait(lambda: _gone(leader) and _gone(grandchild), 10, "the script or its child survives")
        print(f"\nscript and grandchild gone {seconds:.2f} s after kill -9 of the trial process")
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in [p for p in (json.loads(pids.read_text())[:2] if pids.exists() else [])]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)

    study, _ = record.load(spec["study_name"])
    assert study.get_trials()[spec["trial_number"]].state == TrialState.RUNNING  # never told: run it again
    result = trial_step.run_trial(spec)  # Airflow's retry
    assert (result["state"], result["trial_number"]) == ("COMPLETE", spec["trial_number"])
    assert result["value"] == pytest.approx(2 * spec["params"]["x"])
    study, _ = record.load(spec["study_name"])
    trials = study.get_trials()
    assert [(t.number, t.state) for t in trials] == [(spec["trial_number"], TrialState.COMPLETE)]
    (child,) = tracking.children(study.user_attrs[record.PARENT_RUN_ATTR], "orphans")
    assert child.info.run_id == run_id  # the first attempt's child run, finished by the retry
    assert child.info.status == "FINISHED" and child.data.metrics["value"] == pytest.approx(result["value"])
