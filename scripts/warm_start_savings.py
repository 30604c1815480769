"""Trials saved by warm start: a second night on the same problem vs a cold sweep.

Per seed s: night 1 is a cold sweep (seed s); night 2 (seed s+100) runs cold, warm with the defaults
(top_k 3 enqueued + prior observations) and warm with observations only (top_k 0), each warm run naming
night 1's study in ``warm_start.from``. Each night-2 run is
scored by the trials it needs to reach night 1's best value (budget + 1 when it never does). Prints a
table and the medians. In-process (``pipeline.run_in_process``), private state under --state.

    HPO_STATE_DIR is set by the script; run e.g.
    OMP_NUM_THREADS=1 python scripts/warm_start_savings.py --problem branin --seeds 5 --trials 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

PROBLEMS = {
    "branin": {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)},
    "hartmann6": {f"x{i}": (0.0, 1.0) for i in range(1, 7)},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--problem", choices=sorted(PROBLEMS), default="branin")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--state", default=None, help="state folder (default: a new temporary one)")
    args = p.parse_args()
    os.environ["HPO_STATE_DIR"] = args.state or tempfile.mkdtemp(prefix="warm-savings-")

    from optuna.trial import TrialState

    from hpo_tasks import record
    from hpo_tasks.config import parse_sweep
    from hpo_tasks.steps import run_in_process

    def reach(study_name: str, target: float, budget: int) -> int:
        study, _ = record.load(study_name)
        for t in study.get_trials():
            if t.state == TrialState.COMPLETE and t.value <= target + 1e-9:
                return t.number + 1
        return budget + 1

    space = {k: {"type": "float", "low": lo, "high": hi} for k, (lo, hi) in PROBLEMS[args.problem].items()}
    variants = {
        "cold": None,
        "warm (top_k 3 + observations)": {"top_k": 3},
        "warm (observations only)": {"top_k": 0},
    }
    results: dict[str, list[int]] = {v: [] for v in variants}
    t0 = time.time()
    print(f"{args.problem}, {args.trials} trials a night, batch 2; trials to reach night 1's best")

    def sweep(name: str, seed: int, warm: dict | None) -> dict:
        return {
            "name": name,
            "objective": {"name": args.problem},
            "direction": "minimize",
            "space": space,
            "budget": {"max_trials": args.trials, "batch_size": 2},
            "seed": seed,
            "warm_start": warm,
        }

    for seed in range(args.seeds):
        first = f"{args.problem}_s{seed}"
        night1 = run_in_process(parse_sweep(sweep(first, seed, None)), label="night1")
        for i, (label, ws) in enumerate(variants.items()):
            warm = None if ws is None else {**ws, "from": night1["study_name"]}
            night2 = run_in_process(parse_sweep(sweep(f"{first}_v{i}", seed + 100, warm)), label="night2")
            n = reach(night2["study_name"], night1["best_value"], args.trials)
            results[label].append(n)
            print(
                f"seed {seed}  {label:<30} night1 best {night1['best_value']:.4f}  reached at {n}", flush=True
            )
    print(f"\nmedian trials to reach night 1's best ({args.seeds} seeds, {time.time() - t0:.0f} s):")
    for label, ns in results.items():
        print(f"  {label:<30} {statistics.median(ns):>5}   {ns}")


if __name__ == "__main__":
    main()
