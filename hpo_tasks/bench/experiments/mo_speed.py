"""The multi-objective GP step's speed (issue 14): BoTorch's path against the fast path, side by side.

    python -m hpo_tasks.bench.experiments.mo_speed asks --n 10,15,20 --repeats 5
    python -m hpo_tasks.bench.experiments.mo_speed hv --seeds 0,1,2,3,4 --trials 21 --batch 4
    python -m hpo_tasks.bench.experiments.mo_speed cold --problem cnn --n 15 --repeats 3
    python -m hpo_tasks.bench.experiments.mo_speed profile --problem cnn --n 15 --variant before

``asks`` times single asks (``multi.suggest_next_multi``) on one thread, the two variants interleaved
(before, after, before, after, ...) so that both see the same machine load:
    cnn        the ``cnn_accuracy_latency`` space (config/sweeps/cnn_accuracy_latency.yaml: 6 parameters,
               3 power-of-two integers and a categorical), ``n`` observed points of a scrambled Sobol design
               and 3 pending ones, with *synthetic* outcomes (``cnn_outcomes``: no CNN is trained): accuracy
               (maximised), latency (minimised) and the constraint ``model_mb <= 0.5``, where model_mb is
               the SmallCNN's exact parameter size and latency is proportional to its forward FLOPs.
    branin_currin  BraninCurrin (both minimised, reference point (18, 6)), ``n`` Sobol points, 3 pending.
``hv`` runs BraninCurrin studies as the 2026-11-27 page did (``n_init`` 5 Sobol trials, then rounds of
``batch`` asks and tells, to ``trials``), per seed once with each variant (paired seeds), and prints the
hypervolume w.r.t. (18, 6) after each round, and the median GP ask. ``cold`` times the first ask of a
fresh process (as each Airflow suggest task is), one subprocess per ask; ``profile`` a cProfile of a warm
ask.

Variants: ``before`` is BoTorch's path (``multi.FAST_PATH`` off, as ``HPO_GP_MO_FAST=0``); ``after`` the
fast path (plain-torch fits, LogNEHVI, BoTorch's optimisers); ``after-sweep`` the fast path with
``gp.optim.maximize`` as its optimiser; ``after-parego`` the fast fits with qLogNParEGO (by
``gp.optim.maximize``); ``before-python`` BoTorch's path without its fused C++ hypervolume kernel. Each
row carries the load average (``os.getloadavg``) when it was taken.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

VARIANTS = ("before", "before-python", "after", "after-sweep", "after-parego")
CNN_SWEEP = "config/sweeps/cnn_accuracy_latency.yaml"
MB_BOUND = 0.5  # the sweep's constraint, model_mb <= 0.5
N_PENDING = 3


@contextmanager
def variant(name: str) -> Iterator[None]:
    """``before``: BoTorch's multi-objective path; ``before-python``: the same without BoTorch 0.18's fused
    C++ hypervolume kernel (its pure-Python loop); ``after``: the fast path (``multi.FAST_PATH``) with
    LogNEHVI and BoTorch's optimisers; ``after-sweep``: the same maximised by ``gp.optim.maximize``
    (``multi.FAST_OPTIMIZER``); ``after-parego``: the fast fits with qLogNParEGO, by ``gp.optim.maximize``
    (``multi.FAST_ACQUISITION``)."""
    from hpo_tasks.gp import multi

    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; use one of {VARIANTS}")
    saved = multi.FAST_PATH, multi.FAST_ACQUISITION, multi.FAST_OPTIMIZER
    multi.FAST_PATH = name.startswith("after")
    multi.FAST_ACQUISITION = "logparego" if name == "after-parego" else "lognehvi"
    multi.FAST_OPTIMIZER = "sweep" if name in ("after-sweep", "after-parego") else "botorch"
    fused: tuple[Any, bool] | None = None
    if name == "before-python":  # BoTorch's qLogNEHVI without its fused C++ kernel
        from botorch.acquisition.multi_objective import logei

        fused = logei._C, logei._load_attempted
        logei._C, logei._load_attempted = None, True
    try:
        yield
    finally:
        multi.FAST_PATH, multi.FAST_ACQUISITION, multi.FAST_OPTIMIZER = saved
        if fused is not None:
            logei._C, logei._load_attempted = fused


def cnn_space() -> Any:
    from hpo_tasks.config import load_sweep
    from hpo_tasks.space import SearchSpace

    return SearchSpace.from_config(load_sweep(CNN_SWEEP))


def cnn_outcomes(params: dict[str, Any], rng: np.random.Generator) -> tuple[float, float, float]:
    """Synthetic (accuracy, latency_ms, model_mb) of a SmallCNN configuration on 8 x 8 digits.

    model_mb is exact (float32 parameters of ``objectives.cnn._model``); latency is 1.5 ms plus the
    forward multiply-adds of 256 images at 0.1 ns each, with 5 % noise; accuracy peaks at lr 3e-3 and
    dropout 0.2, grows with the widths and saturates, plus N(0, 0.004) noise. Shapes, not a CNN's truth.
    """
    c1, c2, hidden = int(params["conv1"]), int(params["conv2"]), int(params["hidden"])
    n_params = (9 * c1 + c1) + (9 * c1 * c2 + c2) + (16 * c2 * hidden + hidden) + (10 * hidden + 10)
    mb = 4 * n_params / 1e6
    macs = 64 * 9 * c1 + 16 * 9 * c1 * c2 + 16 * c2 * hidden + 10 * hidden  # per image
    latency = (1.5 + 256 * macs * 1e-7) * (1.0 + 0.05 * rng.standard_normal())
    acc = (
        0.985
        - 0.06 * (np.log10(params["lr"]) + 2.5) ** 2
        - 0.2 * (params["dropout"] - 0.2) ** 2
        - 0.06 * np.exp(-c1 / 8)
        - 0.05 * np.exp(-c2 / 16)
        - 0.06 * np.exp(-hidden / 64)
        + (0.004 if params["optimizer"] == "adamw" else 0.0)
        + 0.004 * rng.standard_normal()
    )
    return float(min(acc, 1.0)), float(latency), float(mb)


def _sobol(space: Any, n: int, seed: int) -> np.ndarray:
    import warnings

    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warnings
        u = qmc.Sobol(space.width, scramble=True, seed=seed).random(n)  # (n, d)
    return np.stack([space.round_trip(space.from_unit(row)) for row in u])


def bc_space() -> Any:
    from hpo_tasks.config.blocks import FloatParam
    from hpo_tasks.space import SearchSpace

    unit = FloatParam(type="float", low=0.0, high=1.0)
    return SearchSpace((("x1", unit), ("x2", unit)))


def ask_state(problem: str, n: int, seed: int) -> dict[str, Any]:
    """The inputs of one ``suggest_next_multi``: ``n`` observed Sobol points with their outcomes
    (maximised: objectives negated where minimised), 3 pending Sobol points, the reference point."""
    from hpo_tasks.gp.types import space_info
    from hpo_tasks.objectives.synthetic import BraninCurrin
    from hpo_tasks.outcomes import infer_reference_point

    if problem not in ("cnn", "branin_currin"):
        raise ValueError(f"unknown problem {problem!r}; use cnn or branin_currin")
    space = cnn_space() if problem == "cnn" else bc_space()
    x = _sobol(space, n + N_PENDING, seed)  # (n + p, d)
    train_x, pending_x = x[:n], x[n:]
    train_c = None
    if problem == "cnn":
        rng = np.random.default_rng(seed)
        out = np.array([cnn_outcomes(space.decode(row), rng) for row in train_x])  # (n, 3)
        train_y = np.stack([out[:, 0], -out[:, 1]], axis=1)  # (n, 2) accuracy, -latency
        train_c = out[:, 2:] - MB_BOUND  # (n, 1) slack, <= 0 feasible
        feasible = train_c[:, 0] <= 0
        ref = -infer_reference_point(-train_y[feasible] if feasible.any() else -train_y)
    else:
        train_y = -np.array([BraninCurrin.evaluate(row) for row in train_x])  # (n, 2)
        ref = -np.array(BraninCurrin.reference_point)
    taken = {space.key(space.decode(row)) for row in x}
    return {
        "train_x": train_x,
        "train_y": train_y,
        "train_c": train_c,
        "space": space_info(space),
        "pending_x": pending_x,
        "taken": taken,
        "seed": seed,
        "ref_point": ref,
    }


def time_ask(state: dict[str, Any], name: str) -> dict[str, Any]:
    """One ask with ``name``'s variant on one torch thread: wall seconds and what it chose."""
    import torch

    from hpo_tasks.gp.multi import suggest_next_multi

    torch.set_num_threads(1)
    with variant(name):
        t0 = time.perf_counter()
        s = suggest_next_multi(**state)
        wall = time.perf_counter() - t0
    return {
        "variant": name,
        "seconds": wall,
        "fit_s": s.fit_seconds,
        "acq_s": s.acq_seconds,
        "phase": s.phase,
        "x": s.x.tolist(),
        "load1": os.getloadavg()[0],
    }


def cmd_asks(args: argparse.Namespace) -> None:
    """Interleaved timed asks per problem and n; one untimed warm-up ask per variant first (imports,
    BoTorch's fused hypervolume kernel), reported apart as the cold ask."""
    import json

    rows: list[dict[str, Any]] = []
    for problem in args.problems.split(","):
        ns = [int(v) for v in args.n.split(",")]
        for name in args.variants.split(","):  # warm-up
            r = time_ask(ask_state(problem, ns[0], 10_000), name)
            print(f"# warm-up {problem} {name}: {r['seconds']:.2f} s (load {r['load1']:.2f})", flush=True)
        for n in ns:
            for rep in range(args.repeats):
                state = ask_state(problem, n, rep)
                for name in args.variants.split(","):
                    r = {"problem": problem, "n": n, "rep": rep, **time_ask(state, name)}
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    print("\n| problem | n | variant | median ask s | fit s | acq s | asks | load1 range |")
    print("|---|---|---|---|---|---|---|---|")
    keys = sorted(
        {(r["problem"], r["n"], r["variant"]) for r in rows}, key=lambda k: (k[0], k[1], k[2] != "before")
    )
    for problem, n, name in keys:
        rs = [r for r in rows if (r["problem"], r["n"], r["variant"]) == (problem, n, name)]
        med = statistics.median
        loads = [r["load1"] for r in rs]
        print(
            f"| {problem} | {n} | {name} | {med(r['seconds'] for r in rs):.2f} "
            f"| {med(r['fit_s'] for r in rs):.2f} | {med(r['acq_s'] for r in rs):.2f} | {len(rs)} "
            f"| {min(loads):.1f}-{max(loads):.1f} |"
        )
    for problem in args.problems.split(","):  # every variant's ask on all of a problem's states
        for name in args.variants.split(","):
            rs = [r for r in rows if r["problem"] == problem and r["variant"] == name]
            print(
                f"# {problem} {name}: median over all n {statistics.median(r['seconds'] for r in rs):.2f} s"
            )


def bc_study(name: str, seed: int, trials: int, batch: int, n_init: int) -> dict[str, Any]:
    """A BraninCurrin study with ``name``'s variant: ``n_init`` Sobol trials, then rounds of ``batch``
    asks and tells; the hypervolume w.r.t. (18, 6) after each round and every GP ask's seconds."""
    import optuna

    from hpo_tasks.gp.sampler import GPBatchSampler
    from hpo_tasks.objectives.synthetic import BraninCurrin
    from hpo_tasks.outcomes import hypervolume

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ref = np.array(BraninCurrin.reference_point)
    sampler = GPBatchSampler(bc_space(), n_init=n_init, seed=seed, reference_point=list(ref))
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    asks: list[float] = []
    curve: list[tuple[int, float]] = []
    with variant(name):
        while len(study.trials) < trials:
            q = n_init if not study.trials else min(batch, trials - len(study.trials))
            batch_trials = []
            for _ in range(q):
                t0 = time.perf_counter()
                t = study.ask()
                x = np.array([t.suggest_float("x1", 0.0, 1.0), t.suggest_float("x2", 0.0, 1.0)])
                if t.number >= n_init:
                    asks.append(time.perf_counter() - t0)
                batch_trials.append((t, x))
            for t, x in batch_trials:
                study.tell(t, BraninCurrin.evaluate(x))
            loss = np.array([t.values for t in study.trials])
            curve.append((len(loss), hypervolume(loss, ref)))
    return {"variant": name, "seed": seed, "curve": curve, "asks": asks, "load1": os.getloadavg()[0]}


def cmd_hv(args: argparse.Namespace) -> None:
    """Paired seeds, the variants alternating per seed; the table of medians at the end."""
    import json

    import torch

    torch.set_num_threads(1)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        names = args.variants.split(",")
        for name in names if seed % 2 == 0 else names[::-1]:  # alternate which runs first
            r = bc_study(name, seed, args.trials, args.batch, args.n_init)
            rows.append(r)
            print(json.dumps(r), flush=True)
    print("\n| variant | median HV by round | at the last round, per seed | median GP ask s | load1 |")
    print("|---|---|---|---|---|")
    for name in args.variants.split(","):
        rs = sorted((r for r in rows if r["variant"] == name), key=lambda r: r["seed"])
        by_round = [
            statistics.median(c[i][1] for c in (r["curve"] for r in rs)) for i in range(len(rs[0]["curve"]))
        ]
        final = [r["curve"][-1][1] for r in rs]
        asks = [a for r in rs for a in r["asks"]]
        loads = [r["load1"] for r in rs]
        print(
            f"| {name} | {', '.join(f'{v:.2f}' for v in by_round)} | {', '.join(f'{v:.2f}' for v in final)} "
            f"| {statistics.median(asks):.2f} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    before = {r["seed"]: r["curve"][-1][1] for r in rows if r["variant"] == "before"}
    after = {r["seed"]: r["curve"][-1][1] for r in rows if r["variant"] == "after"}
    diffs = [after[s] - before[s] for s in sorted(before) if s in after]
    if diffs:
        print(
            f"# paired after - before at {args.trials} trials: {[round(d, 2) for d in diffs]}, "
            f"median {statistics.median(diffs):.2f}"
        )


def cmd_profile(args: argparse.Namespace) -> None:
    """cProfile of one warm ask (after one untimed ask with the same variant)."""
    import torch

    torch.set_num_threads(1)
    state = ask_state(args.problem, args.n, 0)
    time_ask(ask_state(args.problem, args.n, 10_000), args.variant)
    prof = cProfile.Profile()
    with variant(args.variant):
        from hpo_tasks.gp.multi import suggest_next_multi

        prof.enable()
        s = suggest_next_multi(**state)
        prof.disable()
    print(f"fit {s.fit_seconds:.2f} s, acquisition {s.acq_seconds:.2f} s, load {os.getloadavg()[0]:.2f}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


def cmd_cold(args: argparse.Namespace) -> None:
    """The first ask of a fresh process (a suggest task's), per variant, interleaved: each a subprocess
    that imports torch, then times one ``suggest_next_multi`` (its botorch imports and, on the BoTorch
    path, the load of BoTorch's fused hypervolume kernel included)."""
    import json
    import subprocess

    rows = []
    for rep in range(args.repeats):
        for name in args.variants.split(","):
            cmd = [
                sys.executable,
                "-m",
                __spec__.name if __spec__ else "hpo_tasks.bench.experiments.mo_speed",
            ]
            cmd += [
                "cold-one",
                "--problem",
                args.problem,
                "--n",
                str(args.n),
                "--seed",
                str(rep),
                "--variant",
                name,
            ]
            out = (
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            rows.append(json.loads(out))
            print(out, flush=True)
    for name in args.variants.split(","):
        rs = [r for r in rows if r["variant"] == name]
        loads = [r["load1"] for r in rs]
        med = statistics.median(r["seconds"] for r in rs)
        print(
            f"# cold {args.problem} n={args.n} {name}: median {med:.2f} s "
            f"over {len(rs)} processes, load {min(loads):.1f}-{max(loads):.1f}"
        )


def cmd_cold_one(args: argparse.Namespace) -> None:
    import json

    import torch  # noqa: F401 - a suggest task has torch imported before the GP step

    state = ask_state(args.problem, args.n, args.seed)
    r = time_ask(state, args.variant)
    print(json.dumps({"problem": args.problem, "n": args.n, **r}))


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("asks")
    a.add_argument("--problems", default="cnn,branin_currin")
    a.add_argument("--n", default="10,15,20")
    a.add_argument("--repeats", type=int, default=5)
    a.add_argument("--variants", default="before,after")
    h = sub.add_parser("hv")
    h.add_argument("--seeds", default="0,1,2,3,4")
    h.add_argument("--trials", type=int, default=21)
    h.add_argument("--batch", type=int, default=4)
    h.add_argument("--n-init", type=int, default=5)
    h.add_argument("--variants", default="before,after")
    f = sub.add_parser("profile")
    f.add_argument("--problem", default="cnn")
    f.add_argument("--n", type=int, default=15)
    f.add_argument("--variant", default="before", choices=VARIANTS)
    f.add_argument("--top", type=int, default=40)
    c = sub.add_parser("cold")
    c.add_argument("--problem", default="cnn")
    c.add_argument("--n", type=int, default=15)
    c.add_argument("--repeats", type=int, default=3)
    c.add_argument("--variants", default="before,after")
    o = sub.add_parser("cold-one")
    o.add_argument("--problem", default="cnn")
    o.add_argument("--n", type=int, default=15)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--variant", default="before", choices=VARIANTS)
    args = p.parse_args(argv)
    commands = {
        "asks": cmd_asks,
        "hv": cmd_hv,
        "profile": cmd_profile,
        "cold": cmd_cold,
        "cold-one": cmd_cold_one,
    }
    commands[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
