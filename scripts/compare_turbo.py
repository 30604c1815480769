"""Trust-region BO (TuRBO-1) vs plain GP-BO vs random search on Ackley 30-D, in rounds of q like a sweep.

    python scripts/compare_turbo.py --trials 200 --seeds 3 [--first-seed 0] [--batch-size 4] [--out F]

Optimizers: ``turbo`` (``trust_region: true``, qLogNEI in the region), ``turbo-ts`` (the tutorial's Thompson
sampling on a perturbation set), ``turbo-wide`` (the region starts at its largest side, 1.6, and only
shrinks once rounds fail), ``gp`` (``trust_region: false``, qLogNEI on the whole space) and ``random``.
Each run: the sweep's seed round of ``n_init`` Sobol points, then rounds of ``--batch-size`` asks followed
by their tells (what a DAG round does), one torch thread. Prints a table per optimizer: the median over
seeds of the best value at half and at the full budget, each seed's best, the median wall time of a run
and the median time of one ask after the seed round. Each finished run is appended to ``--out`` (JSON
lines); rerunning with the same file skips finished runs, and ``--max-minutes`` stops starting new ones,
so a long comparison can run in pieces and the table is printed from everything in the file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import optuna
import torch

from hpo_tasks.config import load_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import Ackley30, ackley30
from hpo_tasks.space import SearchSpace

SWEEP = Path(__file__).resolve().parent.parent / "config" / "sweeps" / "ackley30.yaml"
# name: (acquisition, trust region, TrustRegionSettings overrides)
VARIANTS: dict[str, tuple[str, bool, dict]] = {
    "turbo": ("logei", True, {}),
    "turbo-ts": ("thompson", True, {}),
    "turbo-wide": ("logei", True, {"length_init": 1.6}),  # start as the whole space, shrink on failure
    "gp": ("logei", False, {}),
}
OPTIMIZERS = (*VARIANTS, "random")


def sampler_for(name: str, ss: SearchSpace, *, n_init: int, seed: int, q: int) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    acquisition, trust_region, options = VARIANTS[name]
    return GPBatchSampler(
        ss,
        n_init=n_init,
        seed=seed,
        acquisition=acquisition,
        trust_region=trust_region,
        trust_region_options=options,
        batch_size=q,
    )


def run(name: str, seed: int, *, trials: int, q: int) -> dict:
    cfg = load_sweep(SWEEP)
    ss = SearchSpace.from_config(cfg)
    study = optuna.create_study(
        direction="minimize", sampler=sampler_for(name, ss, n_init=cfg.n_init, seed=seed, q=q)
    )
    ask_seconds: list[float] = []
    t0 = time.perf_counter()
    while len(study.trials) < trials:
        n = cfg.n_init if not study.trials else min(q, trials - len(study.trials))
        asked = []
        for _ in range(n):
            a = time.perf_counter()
            t = study.ask()
            ss.suggest(t)
            if len(study.trials) > cfg.n_init:
                ask_seconds.append(time.perf_counter() - a)
            asked.append(t)
        for t in asked:
            study.tell(t, ackley30(t.params, seed=0))
    values = [t.value for t in study.trials]
    trace = [min(values[: i + 1]) for i in range(len(values))]
    return {
        "optimizer": name,
        "seed": seed,
        "trials": trials,
        "batch_size": q,
        "best_trace": trace,
        "wall_seconds": time.perf_counter() - t0,
        "median_ask_seconds": statistics.median(ask_seconds) if ask_seconds else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed+seeds-1")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--out", default="compare_turbo.jsonl")
    ap.add_argument("--max-minutes", type=float, default=None, help="start no new run after this long")
    ap.add_argument("--report-only", action="store_true", help="print the table of --out, run nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    names = args.optimizers.split(",")
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            if (r["trials"], r["batch_size"]) == (args.trials, args.batch_size):
                done[(r["optimizer"], r["seed"])] = r
    start = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    todo = [(n, s) for s in seeds for n in names if (n, s) not in done]  # seed-major
    for name, seed in [] if args.report_only else todo:
        if args.max_minutes is not None and time.perf_counter() - start > 60 * args.max_minutes:
            print(f"stopping after {args.max_minutes} min; rerun with the same --out to resume")
            break
        r = run(name, seed, trials=args.trials, q=args.batch_size)
        done[(name, seed)] = r
        with out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(f"{name} seed {seed}: best {r['best_trace'][-1]:.3f} in {r['wall_seconds']:.0f} s", flush=True)
    half = args.trials // 2
    q, n = args.batch_size, args.trials
    print(f"\nAckley 30-D on [-5, 10]^30 (optimum {Ackley30.optimal_value}), {n} trials, rounds of {q}")
    print(
        f"| optimizer | seeds | median best @{half} | median best @{n} | best per seed | median run s "
        "| median ask s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        rs = [done[k] for k in sorted(done) if k[0] == name]  # every seed in the file
        if not rs:
            continue
        at_half = statistics.median(r["best_trace"][half - 1] for r in rs)
        at_end = statistics.median(r["best_trace"][-1] for r in rs)
        per_seed = ", ".join(f"{r['best_trace'][-1]:.2f}" for r in rs)
        wall = statistics.median(r["wall_seconds"] for r in rs)
        ask = statistics.median(r["median_ask_seconds"] for r in rs)
        print(f"| {name} | {len(rs)} | {at_half:.3f} | {at_end:.3f} | {per_seed} | {wall:.0f} | {ask:.2f} |")


if __name__ == "__main__":
    main()
