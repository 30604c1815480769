"""Rounds vs async (``budget.mode``) through a real scheduler: worker utilisation, best value at equal
trial counts, wall-clock to a target value, orchestration seconds per trial.

    PYTHONPATH=. python -m hpo_tasks.bench.experiments.async_utilisation --seeds 0 1 2 --out OUT_DIR
    ... --trials 40 --concurrent      # 40 trials a run, both modes of a seed at once

Starts the documented local stack (``make airflow``: ``airflow standalone``, LocalExecutor, SQLite,
parallelism >= q) in a temporary folder with the test harness's ``MakeStack`` (imported lazily: this
experiment needs a source checkout), writes two sweep files that differ only in ``budget.mode``, triggers
one run per mode and seed over REST, one at a time, and reads the trial task instances back.

The objective (``sleepy_branin``): Branin's value after sleeping 5-40 s, the cost growing with ``x1``,
so trial costs vary 8x with the configuration as the XGBoost sweep's do.

Per run: ``utilisation`` = seconds inside the objective / (q x span from the first trial task's start to
the last one's end); ``orchestration`` = the median over trials of the trial task's duration minus its
objective's seconds; ``gap`` = the median idle time of a worker slot between two trials (async: between a
lane's consecutive trial tasks; rounds: from a round's last trial end to the next round's first start);
``best@8``, ``best@16``, ``best@40``: the best value among the first 8 / 16 / 40 trials by number;
``--objective xgb``: the shipped XGBoost sweep's objective and space instead, as 1 - AUC (minimised);
``to<=T_s``: seconds from the first trial task's start to the end of the first trial valued at most T.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

Q = 4
TRIALS = 16
TARGETS = (2.0, 1.0, 0.5)  # Branin values (optimum 0.397887) for the wall-clock to a target
OBJECTIVE_MODULE = "hpo_tasks.bench.experiments.async_utilisation"  # not __name__: it is __main__ under -m
XGB_TARGETS = (0.01, 0.008, 0.007)  # 1 - CV ROC AUC (the shipped sweep's best is about 0.0062)
PARSE_SETTINGS = (
    "CORE__DAGBAG_IMPORT_TIMEOUT",
    "DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT",
    "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL",
)
SWEEP = """
name: {name}
objective: {{name: "hpo_tasks.bench.experiments.async_utilisation:sleepy_branin"}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: {trials}, n_init: 4, batch_size: {q}, mode: {mode}}}
sampler: {{name: gp}}
seed: 0
resources: {{retries: 1, retry_delay_seconds: 5}}
"""


def sweep_text(objective: str, *, name: str, trials: int, q: int, mode: str) -> str:
    """The benchmark's sweep file: ``SWEEP`` (sleepy Branin), or for ``xgb`` the shipped
    ``config/sweeps/xgb_breast_cancer.yaml``'s objective args and space with ``xgb_error`` minimised."""
    if objective != "xgb":
        return SWEEP.format(name=name, trials=trials, q=q, mode=mode)
    import yaml

    from hpo_tasks.settings import REPO_ROOT

    shipped = yaml.safe_load((REPO_ROOT / "config" / "sweeps" / "xgb_breast_cancer.yaml").read_text())
    data = {
        "name": name,
        "objective": {"name": OBJECTIVE_MODULE + ":xgb_error", "args": shipped["objective"].get("args", {})},
        "direction": "minimize",
        "space": shipped["space"],
        "budget": {"max_trials": trials, "batch_size": q, "mode": mode},
        "sampler": {"name": "gp"},
        "seed": 0,
        "resources": {"retries": 1, "retry_delay_seconds": 5},
    }
    return yaml.safe_dump(data, sort_keys=False)


def xgb_error(params: dict[str, Any], *, seed: int, **args: Any) -> float:
    """1 - the shipped XGBoost sweep's CV ROC AUC (its trials cost 0.3-5 s with n_estimators)."""
    from hpo_tasks.objectives.xgb import xgboost_breast_cancer

    return 1.0 - xgboost_breast_cancer(params, seed=seed, **args)


def sleep_seconds(params: dict[str, Any]) -> float:
    """5 s at x1 = -5 up to 40 s at x1 = 10."""
    return 5.0 + 35.0 * (float(params["x1"]) + 5.0) / 15.0


def sleepy_branin(params: dict[str, Any], *, seed: int) -> float:
    from hpo_tasks.objectives.synthetic import branin

    time.sleep(sleep_seconds(params))
    return branin(params, seed=seed)


def _ts(s: str | None) -> float | None:
    from datetime import datetime

    return None if s is None else datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def measure(
    tis: list[dict[str, Any]],
    trials: dict[int, dict[str, Any]],
    *,
    mode: str,
    q: int = Q,
    targets: tuple[float, ...] = TARGETS,
) -> dict[str, Any]:
    """The figures of one run from its trial task instances and its trials (number -> value, seconds)."""
    rows = []
    for ti in tis:
        label = ti.get("rendered_map_index") or ""
        if ti["state"] != "success" or not label.startswith("trial "):
            continue
        number = int(label.split()[1])
        rows.append(
            {
                "number": number,
                "task": ti["task_id"],
                "start": _ts(ti["start_date"]),
                "end": _ts(ti["end_date"]),
                "objective": trials[number]["seconds"],
            }
        )
    start = min(r["start"] for r in rows)
    end = max(r["end"] for r in rows)
    busy = sum(r["objective"] for r in rows)
    gaps: list[float] = []
    if mode == "async":
        lanes: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            lanes.setdefault(r["task"].split(".")[0], []).append(r)
        for lane in lanes.values():
            lane.sort(key=lambda r: r["start"])
            gaps += [b["start"] - a["end"] for a, b in itertools.pairwise(lane)]
    else:
        rounds: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            rounds.setdefault(r["task"].split(".")[0], []).append(r)
        ordered = sorted(rounds.values(), key=lambda rs: min(r["start"] for r in rs))
        gaps += [
            min(r["start"] for r in b) - max(r["end"] for r in a) for a, b in itertools.pairwise(ordered)
        ]
    values = [trials[n]["value"] for n in sorted(trials)]
    reached: dict[str, float | None] = {}
    for target in targets:  # from the first trial's start to the end of the first one at or below target
        good = [r for r in rows if (v := trials[r["number"]]["value"]) is not None and v <= target]
        hits = [r["end"] - start for r in good]
        reached[f"to<={target}_s"] = round(min(hits), 1) if hits else None
    return {
        "n_trials": len(rows),
        "span_s": round(end - start, 1),
        "objective_s": round(busy, 1),
        "utilisation": round(busy / (q * (end - start)), 3),
        "orchestration_s": round(statistics.median(r["end"] - r["start"] - r["objective"] for r in rows), 2),
        "gap_s": round(statistics.median(gaps), 2) if gaps else None,
        **{f"best@{n}": min(v for v in values[:n] if v is not None) for n in (8, 16, 40)},
        **reached,
    }


def dag_size(sizes: tuple[int, ...] = (40, 200, 1000), *, q: int = Q) -> list[dict[str, Any]]:
    """Tasks per DAG and the DAG file's parse seconds (``airflow dags report``, one sweep file per
    folder) for ``max_trials`` in ``sizes``, both modes. Runs the Airflow CLI in child processes (this
    package never imports airflow); migrates a throw-away metadata DB first."""
    import os
    import subprocess
    import sys

    from hpo_tasks.settings import REPO_ROOT, airflow_env

    airflow = str(Path(sys.executable).with_name("airflow"))
    root = Path(tempfile.mkdtemp(prefix="async-dag-size-"))
    env = airflow_env(root / "home", isolate=True, PYTHONPATH=str(REPO_ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    out = []
    for mode in ("rounds", "async"):
        for n in sizes:
            sweeps = root / f"{mode}_{n}"
            sweeps.mkdir()
            text = SWEEP.format(name=f"size_{mode}_{n}", trials=n, q=q, mode=mode)
            (sweeps / "size.yaml").write_text(text.replace("sampler: {name: gp}", "sampler: {name: random}"))
            proc = subprocess.run(
                [airflow, "dags", "report", "-o", "json"],
                env={**env, "HPO_SWEEPS_DIR": str(sweeps)},
                check=True,
                capture_output=True,
                text=True,
            )
            rows = json.loads(proc.stdout[proc.stdout.index("[") :])
            row = next(r for r in rows if str(r["file"]).endswith("hpo_sweeps.py"))
            out.append(
                {"mode": mode, "max_trials": n, "tasks": int(row["task_num"]), "parse": row["duration"]}
            )
            print(json.dumps(out[-1]), flush=True)
    return out


def _retry(call: Any, *args: Any, attempts: int = 30) -> Any:
    """``call(*args)``, tried again while the stack's REST API times out (a loaded machine)."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except OSError:  # urllib's timeouts and refused connections
            if attempt == attempts - 1:
                raise
            time.sleep(10)
    return None


def _task_instances(stack: Any, dag_id: str, run_id: str, page: int = 100) -> list[dict[str, Any]]:
    """Every task instance of the run: the REST API returns at most 100 a page (a 40-trial async run has
    about 170)."""
    out: list[dict[str, Any]] = []
    while True:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit={page}&offset={len(out)}"
        got = _retry(stack.api, "GET", path)["task_instances"]
        out += got
        if len(got) < page:
            return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["rounds", "async"])
    ap.add_argument("--trials", type=int, default=TRIALS, help="max_trials of both sweeps")
    ap.add_argument("--q", type=int, default=Q, help="batch_size: trials in flight")
    ap.add_argument("--out", type=Path, default=None, help="folder for the stack and results.json")
    ap.add_argument("--dag-size", action="store_true", help="only tasks per DAG and parse time")
    ap.add_argument("--concurrent", action="store_true", help="the modes of a seed run at once")
    ap.add_argument(
        "--objective", choices=["sleepy", "xgb"], default="sleepy", help="sleepy Branin or XGBoost"
    )
    ap.add_argument(
        "--preload",
        choices=["executor", "forkserver", "off"],
        default="executor",
        help="hpo_tasks.preload done by the executor, by Airflow's forkserver, or not done",
    )
    ap.add_argument(
        "--idle-sleep",
        type=float,
        default=None,
        help="[scheduler] scheduler_idle_sleep_time, seconds (default: hpo_tasks.settings' local value)",
    )
    args = ap.parse_args(argv)
    if args.dag_size:
        dag_size()
        return

    import optuna

    from tests.integration.ui_stack import MakeStack  # a source checkout's harness: make airflow

    root = args.out or Path(tempfile.mkdtemp(prefix="async-util-"))
    sweeps = root / "sweeps"
    sweeps.mkdir(parents=True, exist_ok=True)
    # one DAG per mode; with --concurrent the modes of a seed run at once, so both see the same load on a
    # shared machine (its LocalExecutor sized for both runs' trials)
    jobs = [(mode, seed) for seed in args.seeds for mode in args.modes]
    names = {job: f"au_{job[0]}" for job in jobs}
    for mode in args.modes:
        text = sweep_text(args.objective, name=f"au_{mode}", trials=args.trials, q=args.q, mode=mode)
        (sweeps / f"au_{mode}.yaml").write_text(text)
    slots = len(args.modes) * (args.q + 2) if args.concurrent else None

    class Stack(MakeStack):
        def env(self) -> dict[str, str]:
            extra = {"AIRFLOW__CORE__PARALLELISM": str(slots)} if slots else {}
            # one DAG file builds every sweep's DAG: on a loaded machine that outlasts the default 30 s
            # timeout, and re-parsing it every 30 s would take a core from the runs measured
            extra |= {f"AIRFLOW__{k}": "600" for k in PARSE_SETTINGS}
            if args.idle_sleep is not None:
                extra["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = str(args.idle_sleep)
            if args.preload != "executor":
                extra["HPO_PRELOAD"] = "0"
            if args.preload == "forkserver":
                from hpo_tasks import preload

                extra["AIRFLOW__SCHEDULER__MP_START_METHOD"] = "forkserver"
                airflow = ("airflow.executors.local_executor", "airflow.sdk.execution_time.supervisor")
                modules = (*airflow, *preload.MODULES, *preload.OPTIONAL)
                extra["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"] = ",".join(modules)
            return {**super().env(), **extra}

    stack = Stack(root, sweeps)
    results: list[dict[str, Any]] = []
    stack.start()
    try:
        if args.concurrent:
            batches = [[(mode, seed) for mode in args.modes] for seed in args.seeds]
        else:
            batches = [[job] for job in jobs]
        for batch in batches:
            runs = {}
            for job in batch:
                _retry(stack.wait_for_dag, f"hpo__{names[job]}")
                runs[job] = _retry(stack.trigger, f"hpo__{names[job]}", {"seed": job[1]})
            while runs:  # measure each run as it ends
                for (mode, seed), run_id in list(runs.items()):
                    dag_id = f"hpo__{names[mode, seed]}"
                    state = _retry(stack.api, "GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                    if state not in ("success", "failed"):
                        continue
                    del runs[mode, seed]
                    tis = _task_instances(stack, dag_id, run_id)
                    (root / f"tis_{mode}_{seed}.json").write_text(json.dumps(tis, indent=1))
                    study = optuna.load_study(
                        study_name=f"{names[mode, seed]}:{run_id}",
                        storage=f"sqlite:///{stack.state / 'optuna.db'}",
                    )
                    trials = {
                        t.number: {"value": t.value, "seconds": t.user_attrs.get("wallclock_seconds", 0.0)}
                        for t in study.get_trials()
                    }
                    (root / f"trials_{mode}_{seed}.json").write_text(json.dumps(trials, indent=1))
                    row = {
                        "mode": mode,
                        "seed": seed,
                        "state": state,
                        **measure(
                            tis,
                            trials,
                            mode=mode,
                            q=args.q,
                            targets=XGB_TARGETS if args.objective == "xgb" else TARGETS,
                        ),
                    }
                    results.append(row)
                    print(json.dumps(row), flush=True)
                    (root / "results.json").write_text(json.dumps(results, indent=1))
                time.sleep(10)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
