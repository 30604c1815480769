"""The GP engine's warm-started fit (issue 14, speed): its A/B and its per-ask latency.

    python -m hpo_tasks.bench.experiments.engine_speed ab --problems branin,hartmann6,svm-breast-nll
    python -m hpo_tasks.bench.experiments.engine_speed latency --n 10,50,100,200

``ab`` is ``ab_engine`` (same studies, paired seeds, scores) with the variants
    cold  the BoTorch path, every fit a full fit from the priors' modes (``engine.FAST_PATH`` off)
    warm  the BoTorch path, fits start from the latest fit stored on the trials (GP_STATE_ATTR),
          ``sampler.WARM_FIT_DEFAULT`` set
    fast  the plain-torch GP and closed-form LogEI where it applies (``engine.FAST_PATH``)
and prints, besides the scores, the median GP-phase ask per variant (the studies run sequentially in one
process each, the stored fits on the in-memory trials as on PostgreSQL).

``latency`` times the ask a fresh suggest task makes on a study that has a stored fit: ``n - 1`` random
completed Hartmann6 trials, one untimed ask and tell (a full fit, stored), then a fresh sampler (a fresh
process has no in-memory cache) asks once, timed; GPSampler gets a fresh sampler on the same study. One
thread. ``bench``'s latency table times the cold ask (a study without a stored fit).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

_ORIGINAL: dict[str, Any] = {}


def study(variant: str, problem: str, seed: int, budget: int) -> dict:
    """An ``ab_engine`` study with ``variant`` (``cold`` or one of ab_engine's) set in this worker."""
    from hpo_tasks.bench.experiments import ab_engine
    from hpo_tasks.gp import engine, sampler

    _ORIGINAL.setdefault("warm", sampler.WARM_FIT_DEFAULT)
    _ORIGINAL.setdefault("fast", engine.FAST_PATH)
    ours = ("cold", "warm", "fast")
    sampler.WARM_FIT_DEFAULT = variant == "warm" or (variant not in ours and _ORIGINAL["warm"])
    engine.FAST_PATH = variant == "fast" or (variant not in ours and _ORIGINAL["fast"])
    base = "new" if variant in ours else variant
    return ab_engine.study(base, problem, seed, budget) | {"variant": variant}


def ab(argv: list[str]) -> int:
    import json
    from pathlib import Path

    from hpo_tasks.bench.experiments import ab_engine

    args = list(argv)
    if "--variants" not in args:
        args += ["--variants", "cold,warm"]
    if "--out" not in args:
        args += ["--out", "bench_results/engine_speed_ab.jsonl"]
    ab_engine.study = study  # the jobs name this module's study (spawn-safe)
    rc = ab_engine.main(args)
    out = Path(args[args.index("--out") + 1])
    runs = [json.loads(x) for x in out.read_text().splitlines()]
    print("median ask seconds after the seed design (all problems):")
    for v in sorted({r["variant"] for r in runs}):
        asks = [s for r in runs if r["variant"] == v for s in r["ask_seconds"][12:]]
        if asks:
            print(f"  {v:8s} {statistics.median(asks):.3f} s over {len(asks)} asks")
    return rc


def warm_ask_seconds(optimizer: str, n: int, rep: int) -> float:
    """Seconds of the timed ask described in the module docstring."""
    import optuna

    from hpo_tasks.bench.optimizers import OPTIMIZERS, sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.gp.sampler import GPBatchSampler
    from hpo_tasks.space import SearchSpace

    problem = PROBLEMS["hartmann6"]
    cfg = sweep_config(problem.space, budget=max(n, 1), seed=0)
    space = SearchSpace.from_config(cfg)
    dists = space.distributions()
    rng = np.random.default_rng([n, rep + 1])
    trials = []
    for _ in range(n - 1):
        p = space.decode(rng.random(space.width))
        trials.append(optuna.trial.create_trial(params=p, distributions=dists, value=problem.true_loss(p)))
    st = optuna.create_study(direction="minimize", sampler=OPTIMIZERS["ours-q1"].make(cfg, rep + 1))
    st.add_trials(trials)
    first = st.ask(dists)  # the previous suggest task: a full fit, stored on the study
    st.tell(first, problem.true_loss(first.params))
    st.sampler = OPTIMIZERS[optimizer].make(cfg, rep + 1)  # a fresh process: nothing in memory
    if isinstance(st.sampler, GPBatchSampler):
        st.sampler._warm_fit = True
    t0 = time.perf_counter()
    st.ask(dists)
    return time.perf_counter() - t0


def latency(argv: list[str]) -> int:
    import optuna
    import torch

    ap = argparse.ArgumentParser(prog="engine_speed latency")
    ap.add_argument("--n", default="10,50,100,200,500")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    with threadpool_limits(limits=1):  # BLAS too, as bench's workers (2 BLAS threads on busy cores spin)
        for opt in ("ours-q1", "optuna-gp"):
            warm_ask_seconds(opt, 12, -1)  # untimed warm-up: lazy imports
        print("| n | ours (warm) s | GPSampler s | ratio |\n|---|---|---|---|")
        for n in [int(x) for x in a.n.split(",")]:
            ours = statistics.median(warm_ask_seconds("ours-q1", n, r) for r in range(a.repeats))
            gp = statistics.median(warm_ask_seconds("optuna-gp", n, r) for r in range(a.repeats))
            print(f"| {n} | {ours:.3f} | {gp:.3f} | {ours / gp:.1f}x |", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("ab", "latency"):
        print(__doc__)
        return 2
    return ab(argv[1:]) if argv[0] == "ab" else latency(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
