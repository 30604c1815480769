"""The GP engine's warm-started fit (issue 14, speed): its A/B and its per-ask latency.

    python -m hpo_tasks.bench.experiments.engine_speed ab --problems branin,hartmann6,svm-breast-nll
    python -m hpo_tasks.bench.experiments.engine_speed latency --n 10,50,100,200

``ab`` is ``ab_engine`` (same studies, paired seeds, scores) with the variants
    cold  the BoTorch path, every fit a full fit from the priors' modes (``engine.FAST_PATH`` off)
    warm  the BoTorch path, fits start from the latest fit stored on the trials (GP_STATE_ATTR),
          ``sampler.WARM_FIT_DEFAULT`` set
    fast  the plain-torch GP and closed-form LogEI where it applies (``engine.FAST_PATH`` on)
    fast-s256 / fast-s2048  fast with a 256- / 2048-point sweep (``gp.optim.N_SWEEP``, 2048)
    fast-raw / fast-log     fast with the fit on BoTorch's raw parameters / on log-parameters
               (``gp.model.FIT_SPACE``: raw since 2026-12-01-engine-fast-ab.md; the first fast path's
               was log, that page's ``fast`` rows); fast-autofit: log for the plain kernel, raw otherwise
    fast-autograd / fast-plaingrad   fast with the plain kernel's fit gradient by torch autograd / written
               out in numpy (``gp.model.PLAIN_GRADIENT``: written out since 2026-12-01-plain-gradient.md)
    fast-warp / fast-halfrank  fast with the Yeo-Johnson / half-rank output warp before standardisation
               (``gp.warp.OUTPUT_WARP``; every other variant runs it "none": 2026-12-01-output-warp.md)
    fast-potri / fast-solve  fast with the fit gradient's K^-1 by LAPACK potri / a solve (``gp.model.KINV``)
    fast-acqtorch / fast-acqnumpy  fast with the plain kernel's LogEI maximised through torch autograd / its
               numpy twin (``gp.acquisition.ACQ_NUMPY``)
    fast-nostart / fast-incstart  fast without / with a local search from the incumbent
               (``gp.engine.INCUMBENT_START``)
and prints, besides the scores, the median GP-phase ask per variant (the studies run sequentially in one
process each, the stored fits on the in-memory trials as on PostgreSQL).

``acqopt`` compares the two acquisition optimisers on the same fitted model: random designs of n points
per problem, the plain-torch fit loaded into BoTorch's model, then BoTorch's ``optimize_acqf`` /
``optimize_acqf_mixed_alternating`` (``engine._optimize``) vs the fast path's sweep + local search
(``gp.optim.maximize``), both candidates rounded and scored by BoTorch's ``LogExpectedImprovement``:

    python -m hpo_tasks.bench.experiments.engine_speed acqopt --problems branin,hartmann6 --n 10,30

``profile`` prints a cProfile of one cold ask (the bench latency table's) at each ``--n``; ``fittol`` the
L-BFGS-B steps and marginal likelihood of the plain-torch fit under looser scipy tolerances:

    python -m hpo_tasks.bench.experiments.engine_speed profile --n 10,200
    python -m hpo_tasks.bench.experiments.engine_speed fittol --n 10,50,200
    python -m hpo_tasks.bench.experiments.engine_speed fitspeed --n 10,50,200,500   (autograd vs written out)

``abreport`` prints the paired table of an ``ab`` run (``--out`` file, plus ``--random`` files with the
random-search baselines): per problem the seeds both variants finished, scores @20 / @50, the paired
difference (second variant - first) with its bootstrap 95 % interval, and the median GP-phase ask; then
the overall score (mean over problems) and its paired difference, seeds resampled within each problem:

    python -m hpo_tasks.bench.experiments.engine_speed abreport --out ab.jsonl --variants cold,fast

``latency`` times the ask a fresh suggest task makes on a study that has a stored fit: ``n - 1`` random
completed Hartmann6 trials, one untimed ask and tell (a full fit, stored), then a fresh sampler (a fresh
process has no in-memory cache) asks once, timed; GPSampler gets a fresh sampler on the same study. One
thread. ``bench``'s latency table times the cold ask (a study without a stored fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

_ORIGINAL: dict[str, Any] = {}
# fast-path variants with another sweep size (``gp.optim.N_SWEEP``)
FAST_SWEEPS = {"fast-s256": 256, "fast-s2048": 2048}
# fast-path variants with another fit parametrisation (``gp.model.FIT_SPACE``)
FAST_FITS = {"fast-raw": "raw", "fast-log": "log", "fast-autofit": "auto"}
# fast-path variants with the plain kernel's fit gradient by autograd / written out
# (``gp.model.PLAIN_GRADIENT``)
FAST_GRADIENTS = {"fast-autograd": False, "fast-plaingrad": True}
# fast-path variants with an output warp (``gp.warp.OUTPUT_WARP``); the others run without one
FAST_WARPS = {"fast-warp": "yeo-johnson", "fast-halfrank": "half-rank"}
# fast-path variants forming the written-out gradient's K^-1 by potri / by a solve (``gp.model.KINV``)
FAST_KINVS = {"fast-potri": "potri", "fast-solve": "solve"}
# fast-path variants maximising the plain kernel's LogEI through torch autograd / its numpy twin with the
# written-out gradient (``gp.acquisition.ACQ_NUMPY``)
FAST_ACQS = {"fast-acqtorch": False, "fast-acqnumpy": True}
# fast-path variants without / with a local search from the incumbent (``gp.engine.INCUMBENT_START``)
FAST_STARTS = {"fast-nostart": False, "fast-incstart": True}
# fast-path variants without / with the plain kernel's input warp (``gp.engine.INPUT_WARP``)
FAST_INWARPS = {"fast-nowarp": False, "fast-inwarp": True}
# fast-path variants with the default seed design / a smaller one, min(10, max(3, ceil((d + 1) / 2)))
# (``SweepConfig.n_init`` when the sweep file sets none)
FAST_INITS = {"fast-init": False, "fast-init-small": True}
# fast-path variants without / with an exploratory UCB ask one time in ten (``gp.engine.EXPLORE_PROB``)
FAST_EXPLORES = {"fast-noexplore": 0.0, "fast-explore": 0.1}
# fast-path variants without / with the stall rule's exploratory asks, (k, every): from the k-th trial
# without a gain, every other one / every fifth / from the tenth, every other
# (``gp.engine.STALL_EXPLORE``, ``STALL_EVERY``)
FAST_STALLS = {
    "fast-nostall": (0, 2),
    "fast-stall": (5, 2),
    "fast-stall-e5": (5, 5),
    "fast-stall-k10": (10, 2),
}
# fast-path variants with the learned noise's prior, BoTorch's LogNormal(-4, 1) / Optuna's Gamma(1.1, 30)
# (``gp.model.NOISE_PRIOR_KIND``)
FAST_NOISES = {"fast-lognoise": "lognormal", "fast-gammanoise": "gamma"}
# fast-path variants with LogEI's f*, the best posterior mean / the best observation
# (``gp.acquisition.INCUMBENT``)
FAST_INCUMBENTS = {"fast-incmean": "mean", "fast-incobs": "observed"}
# fast-path variants without / with the plain kernel's outputscale (``gp.model.PLAIN_OUTPUTSCALE``)
FAST_SCALES = {"fast-noscale": False, "fast-scale": True}
# fast-path variants with the Matern lengthscales' prior, BoTorch's dimension-scaled LogNormal / Optuna's
# (``gp.model.LENGTHSCALE_PRIOR_KIND``)
FAST_LSPRIORS = {"fast-lsdim": "dim-scaled", "fast-lsoptuna": "optuna"}

# ours-q4 (rounds of 4 asks) with a round's later asks, pending the earlier ones, on the BoTorch path
# (qLogNEI with X_pending) / on the fast path believing them (``gp.engine.FAST_PENDING``)
Q4_PENDINGS = {"q4-pending-botorch": False, "q4-pending-fast": True}
# ours as async lanes (4 in flight after the seed round, each ask with the other three pending; virtual
# trial durations, ``runner.trial_seconds``): pending points on the BoTorch path / believed on the fast path
A4_PENDINGS = {"a4-pending-botorch": False, "a4-pending-fast": True}


def study(variant: str, problem: str, seed: int, budget: int) -> dict:
    """An ``ab_engine`` study with ``variant`` (``cold`` or one of ab_engine's) set in this worker."""
    from hpo_tasks.bench import runner
    from hpo_tasks.bench.experiments import ab_engine
    from hpo_tasks.bench.optimizers import OPTIMIZERS
    from hpo_tasks.config import schema
    from hpo_tasks.gp import acquisition, engine, optim, sampler, warp
    from hpo_tasks.gp import model as gp_model

    _ORIGINAL.setdefault("warm", sampler.WARM_FIT_DEFAULT)
    _ORIGINAL.setdefault("fast", engine.FAST_PATH)
    _ORIGINAL.setdefault("sweep", optim.N_SWEEP)
    _ORIGINAL.setdefault("fit", gp_model.FIT_SPACE)
    _ORIGINAL.setdefault("grad", gp_model.PLAIN_GRADIENT)
    _ORIGINAL.setdefault("warp", warp.OUTPUT_WARP)
    _ORIGINAL.setdefault("kinv", gp_model.KINV)
    _ORIGINAL.setdefault("acq", acquisition.ACQ_NUMPY)
    _ORIGINAL.setdefault("start", engine.INCUMBENT_START)
    _ORIGINAL.setdefault("inwarp", engine.INPUT_WARP)
    _ORIGINAL.setdefault("explore", engine.EXPLORE_PROB)
    _ORIGINAL.setdefault("stall", (engine.STALL_EXPLORE, engine.STALL_EVERY))
    _ORIGINAL.setdefault("pending", engine.FAST_PENDING)
    _ORIGINAL.setdefault("noise", gp_model.NOISE_PRIOR_KIND)
    _ORIGINAL.setdefault("incumbent", acquisition.INCUMBENT)
    _ORIGINAL.setdefault("scale", gp_model.PLAIN_OUTPUTSCALE)
    _ORIGINAL.setdefault("lsprior", gp_model.LENGTHSCALE_PRIOR_KIND)
    variants = (
        FAST_SWEEPS,
        FAST_FITS,
        FAST_GRADIENTS,
        FAST_WARPS,
        FAST_KINVS,
        FAST_ACQS,
        FAST_STARTS,
        FAST_INWARPS,
        FAST_INITS,
        FAST_EXPLORES,
        FAST_STALLS,
        FAST_NOISES,
        FAST_INCUMBENTS,
        FAST_SCALES,
        FAST_LSPRIORS,
        Q4_PENDINGS,
        A4_PENDINGS,
    )
    ours = ("cold", "warm", "fast", *(v for group in variants for v in group))
    fast = variant == "fast" or any(variant in group for group in variants)
    sampler.WARM_FIT_DEFAULT = variant == "warm" or (variant not in ours and _ORIGINAL["warm"])
    engine.FAST_PATH = fast or (variant not in ours and _ORIGINAL["fast"])
    optim.N_SWEEP = FAST_SWEEPS.get(variant, _ORIGINAL["sweep"])
    gp_model.FIT_SPACE = FAST_FITS.get(variant, _ORIGINAL["fit"])
    gp_model.PLAIN_GRADIENT = FAST_GRADIENTS.get(variant, _ORIGINAL["grad"])
    warp.OUTPUT_WARP = FAST_WARPS.get(variant, "none" if variant in ours else _ORIGINAL["warp"])
    gp_model.KINV = FAST_KINVS.get(variant, _ORIGINAL["kinv"])
    acquisition.ACQ_NUMPY = FAST_ACQS.get(variant, _ORIGINAL["acq"])
    engine.INCUMBENT_START = FAST_STARTS.get(variant, _ORIGINAL["start"])
    engine.INPUT_WARP = FAST_INWARPS.get(variant, _ORIGINAL["inwarp"])
    engine.EXPLORE_PROB = FAST_EXPLORES.get(variant, _ORIGINAL["explore"])
    engine.STALL_EXPLORE, engine.STALL_EVERY = FAST_STALLS.get(variant, _ORIGINAL["stall"])
    engine.FAST_PENDING = (Q4_PENDINGS | A4_PENDINGS).get(variant, _ORIGINAL["pending"])
    gp_model.NOISE_PRIOR_KIND = FAST_NOISES.get(variant, _ORIGINAL["noise"])
    acquisition.INCUMBENT = FAST_INCUMBENTS.get(variant, _ORIGINAL["incumbent"])
    gp_model.PLAIN_OUTPUTSCALE = FAST_SCALES.get(variant, _ORIGINAL["scale"])
    gp_model.LENGTHSCALE_PRIOR_KIND = FAST_LSPRIORS.get(variant, _ORIGINAL["lsprior"])
    base = "new" if variant in ours else variant
    ab_engine._patch(base)  # restores the seed design, among others
    if FAST_INITS.get(variant):
        small = property(lambda self: min(10, max(3, -(-(len(self.space) + 1) // 2)), self.budget.max_trials))
        setattr(schema.SweepConfig, "n_init", small)  # noqa: B010 (a patch, on purpose)
    optimizer: Any = "ours-q4" if variant in Q4_PENDINGS else "ours-q1"
    if variant in A4_PENDINGS:
        q4 = OPTIMIZERS["ours-q4"]
        optimizer = dataclasses.replace(q4, name="ours-a4", lanes=True, args=f"{q4.args}; async lanes")
    return runner.run_study(problem, optimizer, seed, budget) | {"variant": variant}


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
    from hpo_tasks.bench.optimizers import OPTIMIZERS, sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.gp.sampler import GPBatchSampler

    problem = PROBLEMS["hartmann6"]
    cfg = sweep_config(problem.space, budget=max(n, 1), seed=0)
    st, dists = _hartmann6_study(n - 1, rep, size=n)
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


def acqopt(argv: list[str]) -> int:
    import torch
    from botorch.acquisition import LogExpectedImprovement

    from hpo_tasks.bench.optimizers import sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.gp import engine
    from hpo_tasks.gp import model as gp_model
    from hpo_tasks.gp.acquisition import LogEI
    from hpo_tasks.gp.optim import maximize
    from hpo_tasks.gp.types import space_info
    from hpo_tasks.space import SearchSpace

    ap = argparse.ArgumentParser(prog="engine_speed acqopt")
    ap.add_argument("--problems", default="branin,hartmann6,linear-breast-nll,dt-wine-nll")
    ap.add_argument("--n", default="10,30")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dev = torch.device("cpu")
    print("| problem | n | rep | LogEI BoTorch opt | LogEI fast opt | fast - BoTorch | s BoTorch / fast |")
    print("|---|---|---|---|---|---|---|")
    for name in a.problems.split(","):
        problem = PROBLEMS[name]
        space = SearchSpace.from_config(sweep_config(problem.space, budget=50, seed=0))
        info = space_info(space)
        for n in [int(x) for x in a.n.split(",")]:
            for rep in range(a.reps):
                rng = np.random.default_rng([n, rep])
                x = np.stack([space.round_trip(space.from_unit(u)) for u in rng.random((n, space.width))])
                y = -np.array([problem.true_loss(space.decode(row)) for row in x])  # larger is better
                gp, _ = gp_model.fit(x, y, cat_dims=sorted(info.cat_dims))
                X, Y = torch.as_tensor(x), torch.as_tensor(y).unsqueeze(-1)
                model = engine._make_model(X, Y, info, None)
                engine._load_params(model, gp.botorch_params())
                model.eval()
                mine = LogEI(gp)
                ref = LogExpectedImprovement(model, best_f=mine.best_f)
                t0 = time.perf_counter()
                cb, _ = engine._optimize(ref, "logei", info, dev, num_restarts=8, raw_samples=256)
                t1 = time.perf_counter()
                cf, _ = maximize(mine, info, seed=rep)
                t2 = time.perf_counter()
                with torch.no_grad():
                    vb, vf = (
                        float(ref(torch.as_tensor(space.round_trip(c[0]))[None, None])) for c in (cb, cf)
                    )
                secs = f"{t1 - t0:.2f} / {t2 - t1:.2f}"
                print(f"| {name} | {n} | {rep} | {vb:.4f} | {vf:.4f} | {vf - vb:+.4f} | {secs} |", flush=True)
    return 0


def abreport(argv: list[str]) -> int:
    import json
    from pathlib import Path

    from hpo_tasks.bench import scoring

    ap = argparse.ArgumentParser(prog="engine_speed abreport")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--random", type=Path, action="append", default=[])
    ap.add_argument("--variants", default="cold,fast")
    ap.add_argument("--at", default="20,50", help="the trial counts scored (comma-separated)")
    a = ap.parse_args(argv)
    ats = tuple(int(t) for t in a.at.split(","))
    base, new = a.variants.split(",")
    runs: dict[tuple[str, str, int], dict] = {}
    for path in [a.out, *a.random]:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            runs.setdefault((r.get("variant", r["optimizer"]), r["problem"], r["seed"]), r)  # first wins
    head = [f"{v} @{t}" for t in ats for v in (base, new, "diff")]
    print("| problem | seeds | " + " | ".join(h.replace("diff", "diff [95 %]") for h in head) + " | ask s |")
    print("|---" * (len(head) + 3) + "|")
    overall: dict[tuple[str, int], dict[str, list[float]]] = {(v, t): {} for v in (base, new) for t in ats}
    for p in sorted({k[1] for k in runs}):
        seeds = sorted(s for (v, q, s) in runs if v == base and q == p and (new, p, s) in runs)
        rand = [v for (var, q, _), r in runs.items() if var == "random" and q == p for v in r["true"]]
        if not seeds or not rand:
            continue
        f_best = min(min(r["true"]) for (_, q, _), r in runs.items() if q == p)
        f_rand = float(np.median(rand))
        sc: dict[tuple[str, int], list[float]] = {}
        for v in (base, new):
            tr = np.stack(
                [scoring.incumbent_trace(runs[v, p, s]["observed"], runs[v, p, s]["true"]) for s in seeds]
            )
            reg = scoring.normalized_regret(tr, f_best=f_best, f_rand=f_rand)
            for t in ats:
                sc[v, t] = [scoring.score([x]) for x in reg[:, t - 1]]
                overall[v, t][p] = sc[v, t]
        cells = [p, ",".join(map(str, seeds))]
        for t in ats:
            d, lo, hi = scoring.paired_bootstrap(
                {p: sc[new, t]}, {p: sc[base, t]}, rng=np.random.default_rng(0)
            )
            cells += [
                f"{np.mean(sc[base, t]):.1f}",
                f"{np.mean(sc[new, t]):.1f}",
                f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]",
            ]
        asks = [
            statistics.median(a for s in seeds for a in runs[v, p, s]["ask_seconds"][12:])
            for v in (base, new)
        ]
        cells.append(f"{asks[0]:.2f} / {asks[1]:.2f}")
        print("| " + " | ".join(cells) + " |")
    if overall[base, ats[0]]:  # the mean over problems of the mean over seeds, resampled within problems
        cells = ["**overall**", f"{len(overall[base, ats[0]])} problems"]
        for t in ats:
            d, lo, hi = scoring.paired_bootstrap(
                overall[new, t], overall[base, t], rng=np.random.default_rng(0)
            )
            means = [np.mean([np.mean(x) for x in overall[v, t].values()]) for v in (base, new)]
            cells += [f"{means[0]:.1f}", f"{means[1]:.1f}", f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]"]
        print("| " + " | ".join([*cells, ""]) + " |")
    return 0


def _hartmann6_study(
    n: int, rep: int, optimizer: str = "ours-q1", *, size: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """A fresh study of ``n`` random Hartmann6 trials and a fresh sampler, as ``runner.time_suggest``
    builds for study size ``size`` (default ``n``: its budget and the random design's seed)."""
    import optuna

    from hpo_tasks.bench.optimizers import OPTIMIZERS, sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.space import SearchSpace

    size = n if size is None else size
    problem = PROBLEMS["hartmann6"]
    cfg = sweep_config(problem.space, budget=max(size, 1), seed=0)
    space = SearchSpace.from_config(cfg)
    dists = space.distributions()
    rng = np.random.default_rng([size, rep + 1])
    trials = []
    for _ in range(n):
        p = space.decode(rng.random(space.width))
        trials.append(optuna.trial.create_trial(params=p, distributions=dists, value=problem.true_loss(p)))
    st = optuna.create_study(direction="minimize", sampler=OPTIMIZERS[optimizer].make(cfg, rep + 1))
    st.add_trials(trials)
    return st, dists


def profile(argv: list[str]) -> int:
    """cProfile of one cold ask (the bench latency table's) at each n, top functions by cumulative time."""
    import cProfile
    import pstats

    import optuna
    import torch
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(prog="engine_speed profile")
    ap.add_argument("--n", default="10")
    ap.add_argument("--optimizer", default="ours-q1")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    with threadpool_limits(limits=1):
        for n in [int(x) for x in a.n.split(",")]:
            st, dists = _hartmann6_study(n, -1, a.optimizer)
            st.ask(dists)  # untimed warm-up: lazy imports
            st, dists = _hartmann6_study(n, 7, a.optimizer)
            prof = cProfile.Profile()
            prof.enable()
            st.ask(dists)
            prof.disable()
            print(f"## {a.optimizer}, n = {n}")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(a.top)
    return 0


def fittol(argv: list[str]) -> int:
    """L-BFGS-B steps and -mll/n of ``gp.model.fit`` on random Hartmann6 designs under scipy options."""
    import torch
    from threadpoolctl import threadpool_limits

    from hpo_tasks.bench.optimizers import sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.gp import model as gp_model
    from hpo_tasks.space import SearchSpace

    ap = argparse.ArgumentParser(prog="engine_speed fittol")
    ap.add_argument("--n", default="10,50,200")
    ap.add_argument("--designs", type=int, default=3)
    a = ap.parse_args(argv)
    problem = PROBLEMS["hartmann6"]
    space = SearchSpace.from_config(sweep_config(problem.space, budget=10, seed=0))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    variants: dict[str, Any] = {
        "default": lambda n: None,
        "ftol 1e-6": lambda n: {"maxiter": 100, "ftol": 1e-6},
        "gtol 1e-2/n": lambda n: {"maxiter": 100, "gtol": 1e-2 / n},
        "ftol 1e-4": lambda n: {"maxiter": 100, "ftol": 1e-4},
    }
    print("| n | design | " + " | ".join(f"{v}: ms, steps, -mll/n" for v in variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    with threadpool_limits(limits=1):
        for n in [int(x) for x in a.n.split(",")]:
            for rep in range(a.designs):
                rng = np.random.default_rng([n, rep])
                x = rng.random((n, space.width))
                y = -np.array([problem.true_loss(space.decode(row)) for row in x])
                cells = []
                for options in variants.values():
                    t0 = time.perf_counter()
                    _, info = gp_model.fit(x, y, cat_dims=[], options=options(n))
                    ms = 1000 * (time.perf_counter() - t0)
                    cells.append(f"{ms:.0f}, {info['fit_steps']}, {info['neg_mll']:.4f}")
                print(f"| {n} | {rep} | " + " | ".join(cells) + " |", flush=True)
    return 0


def fitspeed(argv: list[str]) -> int:
    """Milliseconds and L-BFGS-B steps of ``gp.model.fit`` with the plain kernel's gradient by autograd
    and written out (``gp.model.PLAIN_GRADIENT``), on one random design per n, ``--repeats`` fits each."""
    import torch
    from threadpoolctl import threadpool_limits

    from hpo_tasks.gp import model as gp_model

    ap = argparse.ArgumentParser(prog="engine_speed fitspeed")
    ap.add_argument("--n", default="10,50,200,500")
    ap.add_argument("--d", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    before = gp_model.PLAIN_GRADIENT
    print("| n | autograd: ms (steps) | written out: ms (steps) |\n|---|---|---|")
    try:
        with threadpool_limits(limits=1):
            gp_model.fit(rng.random((10, a.d)), rng.standard_normal(10), cat_dims=[])  # warm-up
            for n in [int(x) for x in a.n.split(",")]:
                x = rng.random((n, a.d))
                y = np.sin(x @ rng.normal(size=a.d)) + 0.1 * rng.standard_normal(n)
                cells = []
                for flag in (False, True):
                    gp_model.PLAIN_GRADIENT = flag
                    runs = []
                    for _ in range(a.repeats):
                        t0 = time.perf_counter()
                        _, info = gp_model.fit(x, y, cat_dims=[])
                        runs.append((1000 * (time.perf_counter() - t0), info["fit_steps"]))
                    cells.append(", ".join(f"{ms:.0f}" for ms, _ in runs) + f" ({runs[0][1]})")
                print(f"| {n} | " + " | ".join(cells) + " |", flush=True)
    finally:
        gp_model.PLAIN_GRADIENT = before
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {
        "ab": ab,
        "latency": latency,
        "acqopt": acqopt,
        "abreport": abreport,
        "profile": profile,
        "fittol": fittol,
        "fitspeed": fitspeed,
    }
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
