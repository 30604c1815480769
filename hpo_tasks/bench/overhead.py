"""Pipeline overhead: one sweep of no-op trials through a real Airflow DAG run versus the same sweep in a
plain Python loop (``hpo_tasks.steps.run_in_process``), each against its own fresh state.

Both sides do the same work per trial (Optuna storage on SQLite, an MLflow child run, the same random
sampler); the difference is what Airflow adds: the CLI and DAG parse, scheduling, a task process per step.
Airflow runs as a subprocess (``airflow dags test``, LocalExecutor on SQLite, the task runner for real) in
a private ``AIRFLOW_HOME``; ``hpo_tasks`` never imports airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo_tasks.settings import REPO_ROOT, airflow_env

SWEEP = "bench_noop"
SWEEP_YAML = """\
name: {name}
description: no-op trials for the pipeline-overhead benchmark
objective: {{name: "hpo_tasks.bench.overhead:noop_objective"}}
direction: minimize
space:
  x1: {{type: float, low: 0.0, high: 1.0}}
  x2: {{type: float, low: 0.0, high: 1.0}}
budget: {{max_trials: {trials}, n_init: 4, batch_size: 4}}
sampler: {{name: random}}
seed: 0
resources: {{retries: 0, retry_delay_seconds: 1}}
"""

_LOOP = """
import json, sys, time
from hpo_tasks.config import load_sweep
from hpo_tasks.steps import run_in_process
cfg = load_sweep(sys.argv[1])
t0 = time.perf_counter()
s = run_in_process(cfg, label="loop")
print("BENCH_RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "n_complete": s["n_complete"]}))
"""

_SUMMARY = """
import json
from hpo_tasks.record import latest_study_name
from hpo_tasks.summary import summarize
s = summarize(latest_study_name("{name}"))
print("BENCH_RESULT " + json.dumps({{"n_complete": s["n_complete"], "wall_seconds": s["wall_seconds"]}}))
"""


def noop_objective(params: Mapping[str, Any], *, seed: int) -> float:
    """A trial that costs nothing: the benchmark measures only what runs around it."""
    return float(params["x1"]) + float(params["x2"])


def _env(work: Path, state: Path) -> dict[str, str]:
    return airflow_env(
        work / "airflow",
        isolate=True,
        HPO_SWEEPS_DIR=str(work / "sweeps"),
        HPO_STATE_DIR=str(state),
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )


def _result(stdout: str) -> dict[str, Any]:
    line = next(ln for ln in reversed(stdout.splitlines()) if ln.startswith("BENCH_RESULT "))
    return json.loads(line.removeprefix("BENCH_RESULT "))


def measure_pipeline_overhead(work: Path, *, trials: int, timeout: float = 900) -> dict[str, Any]:
    """Run the no-op sweep both ways; returns seconds per trial for each and their ratio."""
    work = work.resolve()  # Airflow refuses a relative SQLite path
    work.mkdir(parents=True, exist_ok=True)
    sweeps = work / "sweeps"
    sweeps.mkdir(exist_ok=True)
    sweep_file = sweeps / f"{SWEEP}.yaml"
    sweep_file.write_text(SWEEP_YAML.format(name=SWEEP, trials=trials))
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = (work / "airflow.log").open("w")

    def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        log.write(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}\n")
        log.flush()
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}; see {work / 'airflow.log'}")
        return time.perf_counter() - t0, proc

    with log:
        env_dag = _env(work, work / "state_dag")
        migrate_s, _ = run([airflow, "db", "migrate"], env_dag)
        dag_s, _ = run([airflow, "dags", "test", f"hpo__{SWEEP}"], env_dag)
        _, proc = run([sys.executable, "-c", _SUMMARY.format(name=SWEEP)], env_dag)
        dag = _result(proc.stdout)
        loop_wall, proc = run([sys.executable, "-c", _LOOP, str(sweep_file)], _env(work, work / "state_loop"))
        loop = _result(proc.stdout)
    n = max(dag["n_complete"], 1)
    return {
        "trials": trials,
        "dag_complete": dag["n_complete"],
        "loop_complete": loop["n_complete"],
        "airflow_db_migrate_seconds": migrate_s,
        "dag_run_seconds": dag_s,  # `airflow dags test` end to end: CLI start, DAG parse, every task
        "dag_study_seconds": dag["wall_seconds"],  # first trial created -> last trial finished
        "loop_process_seconds": loop_wall,  # python start + imports + the loop
        "loop_seconds": loop["seconds"],  # the loop alone
        "dag_seconds_per_trial": dag_s / n,
        "loop_seconds_per_trial": loop_wall / max(loop["n_complete"], 1),
        "overhead_seconds_per_trial": (dag_s - loop_wall) / n,
        "ratio": dag_s / loop_wall,
    }
