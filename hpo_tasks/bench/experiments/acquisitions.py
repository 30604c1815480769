"""Each GP acquisition against random search, on benchmark problems, through the benchmark runner.

    python -m hpo_tasks.bench.experiments.acquisitions --trials 30 --seeds 5 [--problems branin,hartmann6]

Every acquisition runs as our sampler with the sweep-file defaults and ``sampler.acquisition`` set, in
the runner's rounds (the Sobol seed design at once, then ``--batch-size`` asks and their tells). Prints,
per (acquisition, problem): the median best true loss over seeds at the budget, its regret to the known
optimum, and the median seconds of one ask after the seed round. One process, one torch thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import optuna

from hpo_tasks.bench import runner
from hpo_tasks.bench.optimizers import OPTIMIZERS, OptimizerSpec
from hpo_tasks.bench.problems import PROBLEMS
from hpo_tasks.config import SweepConfig, with_overrides


def acquisition_optimizer(acquisition: str, *, q: int = 1) -> OptimizerSpec:
    """Our sampler, exactly as a sweep file with ``sampler: {name: gp, acquisition: <name>}`` runs it."""

    def make(cfg: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
        from hpo_tasks.samplers import make_sampler

        return make_sampler(with_overrides(cfg, {"seed": seed, "acquisition": acquisition}), n_asked=0)

    return OptimizerSpec(acquisition, q, make, f"gp, acquisition={acquisition}", seed_round=True)


def run(problem: str, acquisition: str, seed: int, trials: int, *, q: int = 1) -> dict[str, Any]:
    opt = OPTIMIZERS["random"] if acquisition == "random" else acquisition_optimizer(acquisition, q=q)
    res = runner.run_study(problem, opt, seed, trials)
    n_seed = sum(r == 0 for r in res["round"])
    res["best"] = min(res["true"])
    res["regret"] = res["best"] - (PROBLEMS[problem].optimal_value or 0.0)
    res["gp_ask_seconds"] = res["ask_seconds"][n_seed:]
    return res


def main(argv: list[str] | None = None) -> int:
    from hpo_tasks.config import ACQUISITIONS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--problems", default="branin,hartmann6")
    ap.add_argument("--acquisitions", default=",".join(("random", *ACQUISITIONS)))
    ap.add_argument("--out", help="write every run as JSON here")
    a = ap.parse_args(argv)
    runner._limit_threads(1)
    rows = []
    print("| acquisition | problem | median best | median regret | median ask s |\n|---|---|---|---|---|")
    for acq in a.acquisitions.split(","):
        for problem in a.problems.split(","):
            res = [run(problem, acq, s, a.trials, q=a.batch_size) for s in range(a.seeds)]
            best = statistics.median(r["best"] for r in res)
            regret = statistics.median(r["regret"] for r in res)
            asks = [statistics.median(r["gp_ask_seconds"]) for r in res if r["gp_ask_seconds"]]
            secs = statistics.median(asks) if asks else 0.0
            print(f"| {acq} | {problem} | {best:.4f} | {regret:.4f} | {secs:.3f} |", flush=True)
            rows += res
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"trials": a.trials, "seeds": a.seeds, "runs": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
