"""Multi-objective sweeps on BraninCurrin: our sampler (Sobol seed trials, then qLogNEHVI) against
Optuna's random search and TPE, in rounds of ``q`` asks then ``q`` tells (as the DAG runs them).

    python scripts/compare_multi_objective.py --trials 20 --seeds 3 --batch 4 [--out results.json]

Prints, per optimizer, the median over seeds of the hypervolume after each round w.r.t. BoTorch's
reference point (18, 6) (at most 59.36), the median Pareto set size at the budget and the median time
per GP ask. Runs in one process, one torch thread (2-core machines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import optuna
import torch

from hpo_tasks import outcomes
from hpo_tasks.config import parse_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import BraninCurrin
from hpo_tasks.space import SearchSpace

SPACE = {"x1": {"type": "float", "low": 0.0, "high": 1.0}, "x2": {"type": "float", "low": 0.0, "high": 1.0}}


def make_sampler(name: str, seed: int, n_init: int) -> optuna.samplers.BaseSampler:
    if name == "qlognehvi":
        cfg = parse_sweep(
            {
                "name": "bc",
                "objective": {"name": "branin_currin"},
                "objectives": [
                    {"metric": "branin", "direction": "minimize"},
                    {"metric": "currin", "direction": "minimize"},
                ],
                "space": SPACE,
                "budget": {"max_trials": 100},
            }
        )
        ref = list(BraninCurrin.reference_point)
        return GPBatchSampler(SearchSpace.from_config(cfg), n_init=n_init, seed=seed, reference_point=ref)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_init, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def run(name: str, seed: int, trials: int, batch: int, n_init: int) -> dict:
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(name, seed, n_init))
    ref = np.array(BraninCurrin.reference_point)
    per_round, ask_seconds = [], []
    while len(study.trials) < trials:
        q = n_init if not study.trials else min(batch, trials - len(study.trials))
        asked = []
        for _ in range(q):
            t0 = time.perf_counter()
            t = study.ask()
            x = np.array([t.suggest_float("x1", 0.0, 1.0), t.suggest_float("x2", 0.0, 1.0)])
            if len(study.trials) > n_init:
                ask_seconds.append(time.perf_counter() - t0)
            asked.append((t, x))
        for t, x in asked:
            study.tell(t, BraninCurrin.evaluate(x))
        loss = np.array([t.values for t in study.trials])
        per_round.append(outcomes.hypervolume(loss, ref))
    front = outcomes.non_dominated(np.array([t.values for t in study.trials]))
    return {"per_round": per_round, "pareto_size": int(front.sum()), "ask_seconds": ask_seconds}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--n-init", type=int, default=5)
    p.add_argument("--optimizers", default="qlognehvi,random,tpe")
    p.add_argument("--out")
    a = p.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    for name in a.optimizers.split(","):
        runs = [run(name, seed, a.trials, a.batch, a.n_init) for seed in range(a.seeds)]
        curve = [statistics.median(r) for r in zip(*(x["per_round"] for x in runs), strict=True)]
        asks = [s for x in runs for s in x["ask_seconds"]]
        results[name] = {
            "median_hypervolume_per_round": [round(v, 3) for v in curve],
            "final_hypervolume": [round(x["per_round"][-1], 3) for x in runs],
            "median_pareto_size": statistics.median(x["pareto_size"] for x in runs),
            "median_ask_seconds": round(statistics.median(asks), 3) if asks else None,
        }
        print(name, json.dumps(results[name]), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
