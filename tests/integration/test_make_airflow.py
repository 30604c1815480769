"""The documented command: ``make airflow`` from a shell with nothing activated, in a temporary state
folder, driven over REST as a user would (generated admin password -> token -> unpause -> trigger -> poll).
Then a lost worker: ``kill -9`` of the LocalExecutor worker running a trial must cost tens of seconds (the
local heartbeat timeout), not Airflow's default 300 s, and the sweep must still finish with each trial
number once. The recovery time is printed (``-s``), not asserted.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_sweep
from tests.helpers import branin_yaml
from tests.integration.ui_stack import MakeStack

pytestmark = pytest.mark.integration

QUICK = branin_yaml(
    "make_quick",
    description="Six Branin trials in rounds of two (the make airflow test).",
    budget={"max_trials": 6, "n_init": 2, "batch_size": 2},
    sampler={"name": "random"},
    seed=1,
    resources={"retries": 0},
)
# The first trial to start sleeps (the one we kill); its retry and the others are instant.
SLOW = branin_yaml(
    "make_slow",
    description="Four Branin trials, the first of them slow (the lost-worker test).",
    objective={"name": "tests.integration.test_make_airflow:branin_first_call_slow"},
    budget={"max_trials": 4, "n_init": 2, "batch_size": 2},
    sampler={"name": "random"},
    seed=2,
    resources={"retries": 1, "retry_delay_seconds": 5},
)
SLEEP_S = 30


def branin_first_call_slow(params: Mapping[str, Any], *, seed: int) -> float:
    """Branin; the first call in a state folder sleeps ``SLEEP_S`` (a marker file says it happened)."""
    from hpo_tasks.objectives.synthetic import branin
    from hpo_tasks.settings import state_dir

    try:
        fd = os.open(state_dir() / "slow-trial-started", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return branin(params, seed=seed)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    time.sleep(SLEEP_S)
    return branin(params, seed=seed)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, migrated_airflow_db: Path) -> Iterator[MakeStack]:
    root = tmp_path_factory.mktemp("make_airflow")
    sweeps = root / "sweeps"
    write_sweep(sweeps, "make_quick", QUICK)
    write_sweep(sweeps, "make_slow", SLOW)
    s = MakeStack(root, sweeps, migrated_airflow_db)
    try:
        s.start()
        yield s
    finally:
        s.stop()


def trial_numbers(stack: MakeStack, sweep: str, run_id: str) -> list[int]:
    import optuna

    storage = f"sqlite:///{stack.state / 'optuna.db'}"
    study = optuna.load_study(study_name=f"{sweep}:{run_id}", storage=storage)
    return sorted(t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)


def test_make_airflow_runs_a_sweep_triggered_over_rest(stack: MakeStack) -> None:
    stack.wait_for_dag("hpo__make_quick")
    run_id = stack.trigger("hpo__make_quick")
    assert stack.wait_for_run("hpo__make_quick", run_id) == "success", f"see logs in {stack.root}"
    assert trial_numbers(stack, "make_quick", run_id) == list(range(6))


def _run_trial_tries(stack: MakeStack, dag_id: str, run_id: str) -> list[tuple[str, int]]:
    tis = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    return [(str(t["state"]), int(t["try_number"])) for t in tis if t["task_id"].endswith("run_trial")]


def test_kill_9_of_a_local_worker_costs_seconds_not_minutes(stack: MakeStack) -> None:
    import psutil

    dag = "hpo__make_slow"
    stack.wait_for_dag(dag)
    run_id = stack.trigger(dag)
    marker = stack.state / "slow-trial-started"
    deadline = time.time() + 300
    while not marker.exists():  # the slow trial is inside its objective
        assert time.time() < deadline, f"the slow trial never started; see {stack.root}"
        time.sleep(0.5)
    sleeper = psutil.Process(int(marker.read_text()))  # the task process; its parent supervises it
    worker = next((p for p in sleeper.parents() if "LocalExecutor" in " ".join(p.cmdline())), None)
    assert worker is not None, f"no LocalExecutor worker above the sleeping trial: {sleeper.parents()}"
    os.kill(worker.pid, signal.SIGKILL)
    killed_at = time.time()

    # The killed trial's task is the only one that can be retried (the others are instant).
    recovered_at = None
    while recovered_at is None:
        tries = _run_trial_tries(stack, dag, run_id)
        if any(state in ("up_for_retry", "failed") or n > 1 for state, n in tries):
            recovered_at = time.time()
        assert time.time() - killed_at < 600, f"the lost task never left 'running'; see {stack.root}"
        time.sleep(1)
    state = stack.wait_for_run(dag, run_id)
    done_at = time.time()
    print(
        f"\nkill -9 of LocalExecutor worker pid {worker.pid}: the lost trial's task left 'running' "
        f"{recovered_at - killed_at:.1f}s later (heartbeat timeout), the sweep finished "
        f"{done_at - killed_at:.1f}s after the kill ({state})"
    )
    assert state == "success", f"see logs in {stack.root}"
    assert trial_numbers(stack, "make_slow", run_id) == list(range(4))
