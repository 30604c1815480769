"""The same GP sweep on a synthetic learning curve without and with a pruner, through the real pipeline
(``run_in_process``: Optuna and MLflow on SQLite in a temporary state folder).

    python scripts/compare_pruning.py --problem branin_curve --trials 20 --more 30 --seeds 3

Per seed and variant: epochs reported (the compute spent), wall seconds of the trials, completed and pruned
trials, best value. Variants: ``none`` and the pruner at ``--trials``, and the pruner at ``--more`` trials
(a pruned trial counts as one trial of the budget: the saved epochs buy more configurations).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

import yaml

SWEEP = """
name: cmp_{problem}
objective: {{name: {problem}, args: {{epochs: {epochs}, seconds_per_epoch: {spe}}}}}
direction: minimize
space: {space}
budget: {{max_trials: {trials}, batch_size: 1}}
sampler: {{name: gp}}
pruner: {{name: {pruner}, min_resource: 1, reduction_factor: 3}}
seed: {seed}
"""
SPACES = {
    "branin_curve": {"x1": {"type": "float", "low": -5.0, "high": 10.0},
                     "x2": {"type": "float", "low": 0.0, "high": 15.0}},
    "hartmann6_curve": {f"x{i + 1}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(6)},
}  # fmt: skip


def run(problem: str, pruner: str, trials: int, seed: int, epochs: int, spe: float) -> dict:
    from hpo_tasks.config import parse_sweep
    from hpo_tasks.steps import run_in_process

    text = SWEEP.format(
        problem=problem, epochs=epochs, spe=spe, space=json.dumps(SPACES[problem]), trials=trials,
        pruner=pruner, seed=seed,
    )  # fmt: skip
    data = yaml.safe_load(text)
    if pruner == "none":
        data["pruner"] = "none"
    s = run_in_process(parse_sweep(data), label=f"{pruner}-{trials}-{seed}")
    keys = ("n_steps", "trial_seconds", "n_complete", "n_pruned", "best_value")
    return {"pruner": pruner, "trials": trials, "seed": seed} | {k: s[k] for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--problem", default="branin_curve", choices=sorted(SPACES))
    p.add_argument("--pruner", default="hyperband", choices=["hyperband", "successive_halving"])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--more", type=int, default=30, help="trials of the third variant (0: skip it)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=9)
    p.add_argument("--seconds-per-epoch", type=float, default=0.05)
    p.add_argument("--out", default=None, help="write every run as JSON lines here")
    args = p.parse_args()
    os.environ["HPO_STATE_DIR"] = tempfile.mkdtemp(prefix="hpo-prune-cmp-")
    os.environ.pop("HPO_OPTUNA_STORAGE", None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    variants = [("none", args.trials), (args.pruner, args.trials)]
    if args.more:
        variants.append((args.pruner, args.more))
    rows = []
    for seed in range(args.seeds):
        for pruner, trials in variants:
            r = run(args.problem, pruner, trials, seed, args.epochs, args.seconds_per_epoch)
            rows.append(r)
            print(json.dumps(r), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
    print(f"\n{args.problem}, {args.seeds} seeds, {args.epochs} epochs per full trial (medians)")
    print(f"{'variant':<24}{'epochs':>8}{'trial s':>9}{'complete':>9}{'pruned':>8}{'best':>10}")
    for pruner, trials in variants:
        mine = [r for r in rows if r["pruner"] == pruner and r["trials"] == trials]
        med = {k: statistics.median(r[k] for r in mine) for k in ("n_steps", "trial_seconds", "n_complete",
                                                                   "n_pruned", "best_value")}  # fmt: skip
        print(
            f"{pruner + f' @{trials}':<24}{med['n_steps']:>8.0f}{med['trial_seconds']:>9.1f}"
            f"{med['n_complete']:>9.0f}{med['n_pruned']:>8.0f}{med['best_value']:>10.4f}"
        )


if __name__ == "__main__":
    main()
