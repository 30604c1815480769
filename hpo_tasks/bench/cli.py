"""``python -m hpo_tasks.bench``: the benchmark suite, one command.

python -m hpo_tasks.bench            full suite (12 problems × 6 optimizers × 5 seeds, budget 50)
python -m hpo_tasks.bench --quick    smoke run (4 problems, 2 seeds, budget 15): a minute or two

Writes ``results.json`` (every raw trace, versions, arguments), ``report.md`` and PNGs under
``bench_results/<timestamp>/`` (or ``--out``); ``summary.json`` holds the computed tables. Each part is
saved as it finishes (``runs.jsonl``, ``latency.json``, ``pipeline.json``): ``--resume DIR`` finishes a run
that was cut short, ``--from-results DIR`` reports on what is there (whole seeds only).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from hpo_tasks.bench.optimizers import OPTIMIZERS
from hpo_tasks.bench.problems import PROBLEMS, QUICK_PROBLEMS

LATENCY_N = (10, 50, 100, 200, 500)
LATENCY_OPTIMIZERS = ("ours-q1", "optuna-gp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hpo bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small smoke run (defaults below shrink)")
    p.add_argument("--out", type=Path, help="results folder (default bench_results/<timestamp>)")
    p.add_argument("--problems", help=f"comma-separated subset of: {', '.join(PROBLEMS)}")
    p.add_argument("--optimizers", help=f"comma-separated subset of: {', '.join(OPTIMIZERS)}")
    p.add_argument("--seeds", type=int, help="seeds per (problem, optimizer); default 5 (quick: 2)")
    p.add_argument("--budget", type=int, help="trials per study; default 50 (quick: 15)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--latency-n", help="study sizes for suggest latency; default 10,50,100,200,500")
    p.add_argument("--latency-repeats", type=int, help="asks timed per size; default 5 (quick: 2)")
    p.add_argument(
        "--latency-threads",
        type=int,
        default=1,
        help="torch/BLAS threads while timing asks (default 1: on a shared machine more threads than\n"
        "free cores make torch spin; use the core count on an idle machine)",
    )
    p.add_argument("--pipeline-trials", type=int, help="no-op trials in the overhead sweep (default 24)")
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to skip: latency, pipeline, studies (to re-time latency on an idle\n"
        "machine: delete DIR/latency.json, then --resume DIR --skip pipeline,studies)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--from-results",
        type=Path,
        help="re-render report.md and PNGs from a results.json or a results folder; run nothing",
    )
    p.add_argument("--resume", type=Path, help="finish an interrupted run in this results folder")
    return p


def _csv(value: str | None, default: tuple[str, ...], known: Any, what: str) -> list[str]:
    items = [s.strip() for s in value.split(",") if s.strip()] if value else list(default)
    bad = [s for s in items if s not in known]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (known: {', '.join(known)})")
    return items


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.from_results:
        return _render(_load(args.from_results), args.from_results)
    quick = args.quick
    problems = _csv(args.problems, QUICK_PROBLEMS if quick else tuple(PROBLEMS), PROBLEMS, "problem")
    optimizers = _csv(args.optimizers, tuple(OPTIMIZERS), OPTIMIZERS, "optimizer")
    if "random" not in optimizers:
        optimizers.append("random")  # sets the scale of every score
    seeds = args.seeds or (2 if quick else 5)
    budget = args.budget or (15 if quick else 50)
    latency_n = (
        [int(x) for x in args.latency_n.split(",")]
        if args.latency_n
        else ([10, 50] if quick else list(LATENCY_N))
    )
    latency_repeats = args.latency_repeats or (2 if quick else 5)
    pipeline_trials = args.pipeline_trials or (8 if quick else 24)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    out = args.resume or args.out or Path("bench_results") / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    from hpo_tasks.bench import runner
    from hpo_tasks.bench.optimizers import describe

    if args.resume and (out / "meta.json").exists():  # same settings as the run being resumed
        meta = json.loads((out / "meta.json").read_text())
        problems, seeds, budget = meta["problems"], meta["seeds"], meta["budget"]
        optimizers = meta["optimizer_names"]
    else:
        meta = {
            **describe(),
            "command": "python -m hpo_tasks.bench " + shlex.join(sys.argv[1:] if argv is None else argv),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "problems": problems,
            "optimizer_names": optimizers,
            "seeds": seeds,
            "budget": budget,
            "workers": args.workers,
            "latency_threads": args.latency_threads,
            "problem_notes": {p: PROBLEMS[p].notes for p in problems},
            "load_average_start": os.getloadavg(),
        }
        (out / "meta.json").write_text(json.dumps(meta))
    t0 = time.perf_counter()

    # Latency and pipeline overhead first (minutes), then the studies (the bulk), each saved as it ends:
    # an interrupted run keeps what finished, ``--resume DIR`` runs only the rest.
    if "latency" not in skip and not (out / "latency.json").exists():
        lat_jobs = [
            (runner.time_suggest, (o, n, latency_repeats)) for o in LATENCY_OPTIMIZERS for n in latency_n
        ]
        bar = tqdm(
            total=len(lat_jobs), desc="latency", unit="size", disable=args.no_progress, file=sys.stderr
        )
        latency = runner.run_pool(
            lat_jobs, workers=1, threads=args.latency_threads, on_done=lambda r: bar.update()
        )
        bar.close()
        (out / "latency.json").write_text(json.dumps(latency))

    if "pipeline" not in skip and not (out / "pipeline.json").exists():
        from hpo_tasks.bench.overhead import measure_pipeline_overhead

        print("pipeline overhead: airflow dags test vs plain loop ...", file=sys.stderr, flush=True)
        try:
            pipeline = measure_pipeline_overhead(out / "pipeline", trials=pipeline_trials)
        except Exception as err:  # noqa: BLE001 - report what failed, keep every other result
            pipeline = {"error": f"{type(err).__name__}: {err}"}
        (out / "pipeline.json").write_text(json.dumps(pipeline))

    runs_file = out / "runs.jsonl"
    finished = {(r["problem"], r["optimizer"], r["seed"]) for r in _read_runs(runs_file)}
    # Seed-major, heaviest first within a seed: a run cut short still holds whole seeds.
    jobs = [
        (runner.run_study, (p, o, s, budget))
        for s in range(seeds)
        for p in problems
        for o in optimizers
        if (p, o, s) not in finished and "studies" not in skip
    ]
    jobs.sort(key=lambda j: (j[1][2], -runner.expected_cost(j[1][0], j[1][1])))
    bar = tqdm(total=len(jobs), desc="studies", unit="study", disable=args.no_progress, file=sys.stderr)

    def done(res: dict) -> None:
        with runs_file.open("a") as f:
            f.write(json.dumps(res) + "\n")
        bar.set_postfix_str(f"{res['problem']} {res['optimizer']} s{res['seed']}", refresh=False)
        bar.update()

    runner.run_pool(jobs, workers=args.workers, threads=1, on_done=done)
    bar.close()
    meta["wall_seconds"] = meta.get("wall_seconds", 0.0) + time.perf_counter() - t0
    meta["load_average_end"] = os.getloadavg()
    (out / "meta.json").write_text(json.dumps(meta))
    results = _load(out)
    (out / "results.json").write_text(json.dumps(results, default=float))
    return _render(results, out)


def _read_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _load(path: Path) -> dict[str, Any]:
    """Results from a ``results.json`` or from a results folder (complete or cut short)."""
    if path.is_file():
        return json.loads(path.read_text())

    def opt(name: str) -> Any:
        f = path / name
        return json.loads(f.read_text()) if f.exists() else None

    return {
        "meta": opt("meta.json"),
        "runs": _read_runs(path / "runs.jsonl"),
        "latency": opt("latency.json") or [],
        "pipeline": opt("pipeline.json"),
    }


def _whole_seeds(runs: list[dict], meta: dict[str, Any]) -> tuple[list[dict], list[int]]:
    """Keep the seeds every (problem, optimizer) finished: scores and paired differences stay paired."""
    have = {(r["problem"], r["optimizer"], r["seed"]) for r in runs}
    cells = {(r["problem"], r["optimizer"]) for r in runs}
    seeds = sorted(s for s in {r["seed"] for r in runs} if all((p, o, s) in have for p, o in cells))
    return [r for r in runs if r["seed"] in seeds], seeds


def _render(results: dict[str, Any], where: Path) -> int:
    """Tables, bars and plots from raw results (a fresh run, ``--from-results`` or a run cut short)."""
    from hpo_tasks.bench import report, report_md

    out = where.parent if where.is_file() else where
    meta = dict(results["meta"])
    runs, seeds = _whole_seeds(results["runs"], meta)
    if not runs:
        print(f"no finished seed in {where} yet", file=sys.stderr)
        return 1
    if len(seeds) < meta["seeds"]:
        meta["partial"] = f"{len(seeds)} of {meta['seeds']} seeds finished (seeds {seeds})"
    meta["seeds_used"] = len(seeds)
    summary = report.analyse(runs, budget=meta["budget"])
    lat_rows = report.latency_table(results["latency"])
    bar_rows = report.bars(summary, lat_rows)
    md = report_md.markdown(summary, lat_rows, results["pipeline"], bar_rows, meta)
    (out / "summary.json").write_text(json.dumps({"summary": summary, "bars": bar_rows}, default=float))
    (out / "report.md").write_text(md)
    pngs = report.plots(summary, lat_rows, out)
    print(md)
    print(f"results: {out / 'report.md'}, " + ", ".join(str(p) for p in pngs))
    return 0
