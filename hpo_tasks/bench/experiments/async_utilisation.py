"""Rounds vs async (``budget.mode``) through a real scheduler: worker utilisation, best value at equal
trial counts, orchestration seconds per trial.

    PYTHONPATH=. python -m hpo_tasks.bench.experiments.async_utilisation --seeds 0 1 2 --out OUT_DIR

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
``best@8`` and ``best@16``: the best value among the first 8 / 16 trials by number.
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
    tis: list[dict[str, Any]], trials: dict[int, dict[str, Any]], *, mode: str, q: int = Q
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
    return {
        "n_trials": len(rows),
        "span_s": round(end - start, 1),
        "objective_s": round(busy, 1),
        "utilisation": round(busy / (q * (end - start)), 3),
        "orchestration_s": round(statistics.median(r["end"] - r["start"] - r["objective"] for r in rows), 2),
        "gap_s": round(statistics.median(gaps), 2) if gaps else None,
        "best@8": min(v for v in values[:8] if v is not None),
        "best@16": min(v for v in values[:16] if v is not None),
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["rounds", "async"])
    ap.add_argument("--out", type=Path, default=None, help="folder for the stack and results.json")
    ap.add_argument("--dag-size", action="store_true", help="only tasks per DAG and parse time")
    args = ap.parse_args(argv)
    if args.dag_size:
        dag_size()
        return

    import optuna

    from tests.integration.ui_stack import MakeStack  # a source checkout's harness: make airflow

    root = args.out or Path(tempfile.mkdtemp(prefix="async-util-"))
    sweeps = root / "sweeps"
    sweeps.mkdir(parents=True, exist_ok=True)
    for mode in args.modes:
        (sweeps / f"au_{mode}.yaml").write_text(
            SWEEP.format(name=f"au_{mode}", trials=TRIALS, q=Q, mode=mode)
        )
    stack = MakeStack(root, sweeps)
    results: list[dict[str, Any]] = []
    stack.start()
    try:
        for seed in args.seeds:
            for mode in args.modes:
                dag_id = f"hpo__au_{mode}"
                stack.wait_for_dag(dag_id)
                run_id = stack.trigger(dag_id, {"seed": seed})
                state = stack.wait_for_run(dag_id, run_id, timeout=1800)
                tis = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
                study = optuna.load_study(
                    study_name=f"au_{mode}:{run_id}", storage=f"sqlite:///{stack.state / 'optuna.db'}"
                )
                trials = {
                    t.number: {"value": t.value, "seconds": t.user_attrs.get("wallclock_seconds", 0.0)}
                    for t in study.get_trials()
                }
                row = {
                    "mode": mode,
                    "seed": seed,
                    "state": state,
                    **measure(tis["task_instances"], trials, mode=mode),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
                (root / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
