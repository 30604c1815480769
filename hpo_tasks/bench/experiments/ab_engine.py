"""A/B of engine changes on benchmark problems: the same studies as ``hpo_tasks.bench``, one variant each.

    python -m hpo_tasks.bench.experiments.ab_engine --problems hartmann6,dt-wine-nll --seeds 5

Variants patch the engine in the worker before the study runs:
    new  the engine as committed
    old  the seed design and acquisition before the 2026-11-27 changes: n_init = max(5, 2d) and
         qLogNEI also when nothing is pending
Prints the bayesmark score @20 / @50 per (problem, variant), normalised within this run. The studies are
``bench.runner.run_study`` jobs on paired seeds (every variant sees the same seeds and evaluation noise),
in ``--workers`` processes; finished runs are appended to ``--out`` and skipped when rerun. For the next
engine change, add a variant to ``_patch`` that restores the engine as it was before it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

_ORIGINAL: dict[str, Any] = {}


def _patch(variant: str) -> None:
    """Set the engine to ``variant`` (worker processes are reused: undo the last patch first)."""
    from hpo_tasks import config
    from hpo_tasks.gp import engine

    _ORIGINAL.setdefault("build", engine._build_acqf)
    _ORIGINAL.setdefault("n_init", config.SweepConfig.__dict__["n_init"])
    build = _ORIGINAL["build"]
    setattr(engine, "_build_acqf", build)  # noqa: B010 (a patch, on purpose)
    setattr(config.SweepConfig, "n_init", _ORIGINAL["n_init"])  # noqa: B010
    if variant in ("old", "old-acq"):

        def qlognei_always(name, model, train_x, pending_x, space, dev, **kw):
            if name == "logei" and (pending_x is None or not len(pending_x)):
                import torch
                from botorch.acquisition.logei import qLogNoisyExpectedImprovement

                X = torch.as_tensor(train_x, dtype=torch.float64, device=dev)
                return qLogNoisyExpectedImprovement(model=model, X_baseline=X, prune_baseline=True)
            return build(name, model, train_x, pending_x, space, dev, **kw)

        setattr(engine, "_build_acqf", qlognei_always)  # noqa: B010
    if variant in ("old", "old-init"):
        old_n_init = property(lambda self: min(max(5, 2 * len(self.space)), self.budget.max_trials))
        setattr(config.SweepConfig, "n_init", old_n_init)  # noqa: B010


def study(variant: str, problem: str, seed: int, budget: int) -> dict:
    from hpo_tasks.bench import runner

    _patch(variant)
    res = runner.run_study(problem, "ours-q1", seed, budget)
    res["variant"] = variant
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", default="hartmann6,dt-wine-nll,svm-breast-nll")
    ap.add_argument("--variants", default="old,new")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench_results/ab_engine.jsonl"))
    a = ap.parse_args(argv)
    from hpo_tasks.bench import runner, scoring

    problems, variants = a.problems.split(","), a.variants.split(",")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(x) for x in a.out.read_text().splitlines()] if a.out.exists() else []
    have = {(r["variant"], r["problem"], r["seed"]) for r in done}
    jobs: list[tuple[Any, tuple]] = [
        (study, (v, p, s, a.budget))
        for s in range(a.seeds)
        for p in problems
        for v in variants
        if (v, p, s) not in have
    ]
    jobs += [
        (runner.run_study, (p, "random", s, a.budget))
        for s in range(a.seeds)
        for p in problems
        if ("random", p, s) not in have
    ]

    def save(r: dict) -> None:
        r.setdefault("variant", r["optimizer"])
        done.append(r)
        with a.out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(r["variant"], r["problem"], r["seed"], round(r["wall_seconds"]), flush=True)

    runner.run_pool(jobs, workers=a.workers, threads=1, on_done=save)
    for p in problems:
        rs = [r for r in done if r["problem"] == p]
        f_best = min(min(r["true"]) for r in rs)
        f_rand = float(np.median([v for r in rs if r["variant"] == "random" for v in r["true"]]))
        for v in [*variants, "random"]:
            tr = [scoring.incumbent_trace(r["observed"], r["true"]) for r in rs if r["variant"] == v]
            if not tr:
                continue
            reg = scoring.normalized_regret(np.stack(tr), f_best=f_best, f_rand=f_rand)
            s20, s50 = (scoring.score(reg[:, t - 1].tolist()) for t in (min(20, a.budget), a.budget))
            print(f"{p:22s} {v:8s} n={len(tr)}  @20 {s20:5.1f}  @50 {s50:5.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
