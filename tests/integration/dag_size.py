"""Where the DAG-size cost grows (issue 15): tasks per DAG, the DAG file's parse seconds and the scheduler's
loop seconds with one active run, for ``max_trials`` 40, 200 and 1000 in both ``budget.mode`` values.

    PYTHONPATH=. python -m tests.integration.dag_size [--repo PATH] [--out DIR]

``--repo`` is the checkout whose ``dags/`` and ``hpo_tasks`` are measured (default: this one), so the same
command measures another branch's DAG shape. Per (mode, max_trials) it writes one sweep file (q = 4,
``n_init`` 4, the random sampler) into a folder of its own, named by ``HPO_SWEEPS_DIR``, and measures:

- ``tasks``: tasks in the DAG (``len(dag.tasks)`` after parsing the file);
- ``parse_s``: the file's parse in a fresh process with Airflow already imported, as the dag-processor's
  child and every task process parse it (``DagBag`` of ``dags/hpo_sweeps.py``; the hpo_tasks imports
  included); median of ``--repeats`` processes. ``rebuild_s``: a second parse in the same process (modules
  cached: building the DAG only). ``serialize_s``: ``DagSerialization.to_dict`` (first process only),
  which the dag-processor runs after each parse; ``json_kb``: its size, ``task_params_kb`` the part of it
  that is the tasks' ``params`` (Airflow copies the DAG's params, the trigger form, into every task);
- ``loop_s``: ``airflow scheduler --num-runs N`` (LocalExecutor, SQLite) with one active run of that DAG,
  the scheduler's own ``Ran scheduling loop in X ms`` line (``SchedulerJobRunner._run_scheduler_loop``,
  logged at DEBUG: only that logger is raised, through ``[logging] namespace_levels``). ``default_pool``
  has 0 slots, so no task is ever queued: each loop examines the run and evaluates every pending task
  instance, which is the part that grows with the DAG, and nothing else changes between loops. The
  first loop (it starts the run) is reported apart (``first_loop_s``); ``loop_s`` is the median of the rest.

It lives under tests/ beside the other Airflow harnesses (hpo_tasks never imports airflow); Airflow runs
in child processes. Writes ``results.json`` under ``--out`` (default: a new temp folder) and prints one
JSON line per (mode, max_trials).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

Q = 4
SIZES = (40, 200, 1000)
MODES = ("rounds", "async")
SWEEP = """
name: {name}
objective: {{name: branin}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: {trials}, n_init: 4, batch_size: {q}, mode: {mode}}}
sampler: {{name: random}}
seed: 0
"""

# Run in a child process: Airflow imported first (as in the dag-processor's parse child), then the file.
PARSE = """
import json, sys, time
import airflow.sdk  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

def parse():
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1], safe_mode=False, load_op_links=False)
    seconds = time.perf_counter() - t0
    assert not bag.import_errors, bag.import_errors
    (dag,) = bag.dags.values()
    return dag, seconds

dag, parse_s = parse()
out = {"dag_id": dag.dag_id, "tasks": len(dag.tasks), "parse_s": parse_s}
_, out["rebuild_s"] = parse()
if sys.argv[2] == "serialize":
    t0 = time.perf_counter()
    data = DagSerialization.to_dict(dag)
    out["serialize_s"] = time.perf_counter() - t0
    out["json_kb"] = len(json.dumps(data, default=str)) / 1024
    # the share of it that is the DAG's params, copied into every task
    params = [t.get("__var", t).get("params", {}) for t in data["dag"]["tasks"]]
    out["task_params_kb"] = sum(len(json.dumps(p, default=str)) for p in params) / 1024
print(json.dumps(out))
"""
LOOP_LINE = re.compile(r"Ran scheduling loop in ([0-9.]+) ms")


def sweep_text(mode: str, max_trials: int, q: int = Q) -> str:
    return SWEEP.format(name=f"size_{mode}_{max_trials}", trials=max_trials, q=q, mode=mode)


def airflow_env(repo: Path, home: Path, sweeps: Path) -> dict[str, str]:
    """A throw-away Airflow (SQLite under ``home``, LocalExecutor) that reads ``repo``'s DAGs and
    ``sweeps``; inherited ``AIRFLOW__``/``HPO_``/``MLFLOW_`` settings are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "HPO_", "MLFLOW_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(repo / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(repo / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        AIRFLOW__LOGGING__NAMESPACE_LEVELS="airflow.jobs.scheduler_job_runner=DEBUG",
        # Airflow's 30 s default stops the parse of the largest DAGs on a loaded machine: measure them anyway
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="0",
        HPO_SWEEPS_DIR=str(sweeps),
        HPO_STATE_DIR=str(home / "state"),
    )
    return env


def _airflow(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    airflow = str(Path(sys.executable).with_name("airflow"))
    proc = subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def parse_figures(repo: Path, env: dict[str, str], repeats: int) -> dict[str, Any]:
    runs = []
    for i in range(repeats):
        what = "serialize" if i == 0 else "parse"
        proc = subprocess.run(
            [sys.executable, "-c", PARSE, str(repo / "dags" / "hpo_sweeps.py"), what],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode:
            raise RuntimeError(f"parsing failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {"dag_id": runs[0]["dag_id"], "tasks": runs[0]["tasks"]}
    for key in ("parse_s", "rebuild_s"):
        out[key] = round(statistics.median(r[key] for r in runs), 3)
    out["serialize_s"] = round(runs[0]["serialize_s"], 3)
    out["json_kb"] = round(runs[0]["json_kb"])
    out["task_params_kb"] = round(runs[0]["task_params_kb"])
    return out


def loop_figures(env: dict[str, str], dag_id: str, loops: int) -> dict[str, Any]:
    _airflow(env, "dags", "reserialize")
    _airflow(env, "pools", "set", "default_pool", "0", "no task is queued: loops only examine the run")
    _airflow(env, "dags", "unpause", dag_id)
    _airflow(env, "dags", "trigger", dag_id)
    log = _airflow(env, "scheduler", "--num-runs", str(loops), timeout=1800)
    ms = [float(m) for m in LOOP_LINE.findall(log)]
    if len(ms) < 3:
        raise RuntimeError(f"{len(ms)} scheduler loop lines in:\n{log[-3000:]}")
    return {
        "loops": len(ms),
        "first_loop_s": round(ms[0] / 1000, 3),
        "loop_s": round(statistics.median(ms[1:]) / 1000, 3),
        "loop_max_s": round(max(ms[1:]) / 1000, 3),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[2]
    ap.add_argument("--repo", type=Path, default=here, help="checkout whose dags/ and hpo_tasks to measure")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--modes", nargs="+", default=list(MODES))
    ap.add_argument("--q", type=int, default=Q, help="batch_size: trials per round / lanes")
    ap.add_argument("--repeats", type=int, default=3, help="parse processes per size (median)")
    ap.add_argument("--loops", type=int, default=6, help="scheduler loops per size (0: no loop figures)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    out = args.out or Path(tempfile.mkdtemp(prefix="dag-size-"))
    out.mkdir(parents=True, exist_ok=True)
    template = out / "template-home"
    if args.loops and not (template / "airflow.db").exists():  # one migration, copied per size
        _airflow(airflow_env(repo, template, out), "db", "migrate")
    rows = []
    for mode in args.modes:
        for n in args.sizes:
            case = out / f"{mode}_{n}"
            shutil.rmtree(case, ignore_errors=True)
            sweeps, home = case / "sweeps", case / "home"
            sweeps.mkdir(parents=True)
            (sweeps / f"size_{mode}_{n}.yaml").write_text(sweep_text(mode, n, args.q))
            env = airflow_env(repo, home, sweeps)
            if args.loops:
                shutil.copytree(template, home)
            row: dict[str, Any] = {"mode": mode, "max_trials": n, "q": args.q}
            load = [os.getloadavg()[0]]
            row.update(parse_figures(repo, env, args.repeats))
            if args.loops:
                row.update(loop_figures(env, row["dag_id"], args.loops))
            load.append(os.getloadavg()[0])
            row["load1"] = f"{load[0]:.1f}-{load[1]:.1f}"  # the 1-min load average before and after
            rows.append(row)
            print(json.dumps(row), flush=True)
            (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"results: {out / 'results.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
