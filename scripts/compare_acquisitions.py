"""Each GP acquisition against random search on Branin (2-D) and Hartmann6 (6-D), sequential q=1.

    python scripts/compare_acquisitions.py --trials 30 --seeds 5 [--out results.json]

Prints, per (acquisition, problem): the median best value over seeds at the budget, its regret, and the
median suggest time per GP step. Sequential runs in one process, one torch thread (2-core machines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import optuna
import torch

from hpo_tasks.config import ACQUISITIONS, parse_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import Branin, Hartmann6, branin, hartmann6
from hpo_tasks.space import SearchSpace

PROBLEMS = {
    "branin": (branin, Branin, {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}),
    "hartmann6": (hartmann6, Hartmann6, {f"x{i + 1}": (0.0, 1.0) for i in range(6)}),
}


def run(problem: str, acquisition: str, seed: int, trials: int, n_init: int | None) -> tuple[float, float]:
    fn, _, bounds = PROBLEMS[problem]
    space = {k: {"type": "float", "low": lo, "high": hi} for k, (lo, hi) in bounds.items()}
    budget = {"max_trials": trials} | ({"n_init": n_init} if n_init else {})
    cfg = parse_sweep(
        {
            "name": "acq",
            "objective": {"name": problem},
            "direction": "minimize",
            "space": space,
            "budget": budget,
            "seed": seed,
        }
    )
    ss = SearchSpace.from_config(cfg)
    if acquisition == "random":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = GPBatchSampler(ss, n_init=cfg.n_init, seed=seed, acquisition=acquisition)
    study = optuna.create_study(sampler=sampler)
    gp_seconds = []
    for _ in range(trials):
        t0 = time.perf_counter()
        trial = study.ask()
        ss.suggest(trial)
        if len(study.trials) > cfg.n_init:
            gp_seconds.append(time.perf_counter() - t0)
        study.tell(trial, fn(trial.params, seed=0))
    return study.best_value, statistics.median(gp_seconds) if gp_seconds else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-init", type=int, default=None, help="default: min(10, max(5, d+1))")
    ap.add_argument("--acquisitions", default=",".join(("random", *ACQUISITIONS)))
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    print("| acquisition | problem | median best | median regret | median suggest s |")
    print("|---|---|---|---|---|")
    for acq in args.acquisitions.split(","):
        for problem, (_, data, _) in PROBLEMS.items():
            res = [run(problem, acq, s, args.trials, args.n_init) for s in range(args.seeds)]
            best = statistics.median(r[0] for r in res)
            secs = statistics.median(r[1] for r in res)
            regret = best - data.optimal_value
            rows.append(
                {
                    "acquisition": acq,
                    "problem": problem,
                    "best": [r[0] for r in res],
                    "median_best": best,
                    "median_regret": regret,
                    "median_suggest_s": secs,
                }
            )
            print(f"| {acq} | {problem} | {best:.4f} | {regret:.4f} | {secs:.3f} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"trials": args.trials, "seeds": args.seeds, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
