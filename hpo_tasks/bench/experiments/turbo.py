"""Trust-region BO (TuRBO-1) vs plain GP-BO vs random search on Ackley 30-D, in rounds of q like a sweep.

    python -m hpo_tasks.bench.experiments.turbo --trials 200 --seeds 5 --out bench_results/turbo200.jsonl

Optimizers: ``turbo`` (``trust_region: true``, qLogNEI in the region), ``turbo-ts`` (the tutorial's Thompson
sampling on a perturbation set), ``turbo-wide`` (the region starts at its largest side, 1.6, and only
shrinks once rounds fail), ``gp`` (``trust_region: false``, qLogNEI on the whole space) and ``random``.
Each run is one ``bench.runner.run_study``: the seed round of ``n_init`` Sobol points, then rounds of
``--batch-size`` asks followed by their tells (what a DAG round does), one torch thread. Prints per
optimizer the median over seeds of the best value at half and at the full budget, each seed's best, the
median wall time of a run and the median time of one ask after the seed round. Each finished run is
appended to ``--out`` (JSON lines); rerunning with the same file skips finished runs, and
``--max-minutes`` stops starting new ones, so a long comparison can run in pieces.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from hpo_tasks.bench import runner
from hpo_tasks.bench.optimizers import OPTIMIZERS, OptimizerSpec
from hpo_tasks.bench.problems import Problem
from hpo_tasks.config import SweepConfig

# name: (acquisition, trust region, TrustRegionSettings overrides)
VARIANTS: dict[str, tuple[str, bool, dict]] = {
    "turbo": ("logei", True, {}),
    "turbo-ts": ("thompson", True, {}),
    "turbo-wide": ("logei", True, {"length_init": 1.6}),  # start as the whole space, shrink on failure
    "gp": ("logei", False, {}),
}
NAMES = (*VARIANTS, "random")


def ackley30() -> Problem:
    from hpo_tasks.objectives.synthetic import Ackley30

    space = {
        f"x{i + 1}": {"type": "float", "low": lo, "high": hi} for i, (lo, hi) in enumerate(Ackley30.bounds)
    }
    return Problem(
        "ackley30",
        space,
        lambda p: Ackley30.evaluate(np.array([p[f"x{i + 1}"] for i in range(Ackley30.dim)])),
        optimal_value=Ackley30.optimal_value,
    )


def optimizer(name: str, *, q: int) -> OptimizerSpec:
    if name == "random":
        return OPTIMIZERS["random"]
    acquisition, trust_region, options = VARIANTS[name]

    def make(cfg: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
        from hpo_tasks.gp.sampler import GPBatchSampler
        from hpo_tasks.space import SearchSpace

        return GPBatchSampler(
            SearchSpace.from_config(cfg),
            n_init=cfg.n_init,
            seed=seed,
            acquisition=acquisition,
            trust_region=trust_region,
            trust_region_options=options,
            batch_size=q,
        )

    return OptimizerSpec(
        name, q, make, f"GPBatchSampler({acquisition}, trust_region={trust_region}, {options})", True
    )


def run(name: str, seed: int, *, trials: int, q: int, problem: Problem | None = None) -> dict[str, Any]:
    res = runner.run_study(problem or ackley30(), optimizer(name, q=q), seed, trials)
    n_seed = sum(r == 0 for r in res["round"])
    values = res["true"]
    return {
        "optimizer": name,
        "seed": seed,
        "trials": trials,
        "batch_size": q,
        "best_trace": [min(values[: i + 1]) for i in range(len(values))],
        "wall_seconds": res["wall_seconds"],
        "median_ask_seconds": statistics.median(res["ask_seconds"][n_seed:]) if len(values) > n_seed else 0.0,
    }


def table(done: dict[tuple[str, int], dict], names: list[str], *, trials: int) -> list[str]:
    half = trials // 2
    lines = [
        f"| optimizer | seeds | median best @{half} | median best @{trials} | best per seed | median run s "
        "| median ask s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        rs = [done[k] for k in sorted(done) if k[0] == name]
        if not rs:
            continue
        at_half = statistics.median(r["best_trace"][half - 1] for r in rs)
        at_end = statistics.median(r["best_trace"][-1] for r in rs)
        per_seed = ", ".join(f"{r['best_trace'][-1]:.2f}" for r in rs)
        wall = statistics.median(r["wall_seconds"] for r in rs)
        ask = statistics.median(r["median_ask_seconds"] for r in rs)
        lines.append(
            f"| {name} | {len(rs)} | {at_half:.3f} | {at_end:.3f} | {per_seed} | {wall:.0f} | {ask:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed+seeds-1")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--optimizers", default=",".join(NAMES))
    ap.add_argument("--out", default="bench_results/turbo.jsonl")
    ap.add_argument("--max-minutes", type=float, default=None, help="start no new run after this long")
    ap.add_argument("--report-only", action="store_true", help="print the table of --out, run nothing")
    a = ap.parse_args(argv)
    runner._limit_threads(1)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = a.optimizers.split(",")
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            if (r["trials"], r["batch_size"]) == (a.trials, a.batch_size):
                done[(r["optimizer"], r["seed"])] = r
    start = time.perf_counter()
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    todo = [(n, s) for s in seeds for n in names if (n, s) not in done]  # seed-major
    for name, seed in [] if a.report_only else todo:
        if a.max_minutes is not None and time.perf_counter() - start > 60 * a.max_minutes:
            print(f"stopping after {a.max_minutes} min; rerun with the same --out to resume")
            break
        r = run(name, seed, trials=a.trials, q=a.batch_size)
        done[(name, seed)] = r
        with out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(f"{name} seed {seed}: best {r['best_trace'][-1]:.3f} in {r['wall_seconds']:.0f} s", flush=True)
    print(f"\nAckley 30-D on [-5, 10]^30 (optimum 0), {a.trials} trials, rounds of {a.batch_size}")
    print("\n".join(table(done, names, trials=a.trials)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
