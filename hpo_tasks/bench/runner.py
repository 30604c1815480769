"""Run optimizers on problems: one job = one (problem, optimizer, seed) study of ``budget`` trials.

Jobs run in a pool of processes with one BLAS/torch thread each, so every optimizer sees the same CPU
share and results do not depend on how many jobs share the machine. Suggest latency (how long one ask
takes once a study holds n completed trials) is measured separately, one job at a time, with every core.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hpo_tasks.bench.optimizers import OptimizerSpec
    from hpo_tasks.bench.problems import Problem

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def eval_seed(seed: int, trial_number: int) -> int:
    """Seed of one evaluation's noise: the same for every optimizer at a given (seed, trial number)."""
    return int(np.random.SeedSequence([seed, trial_number, 7]).generate_state(1)[0])


def trial_seconds(seed: int, trial_number: int) -> float:
    """Virtual duration of one trial in the lanes' arm: log-uniform on [1, 8] (trial costs within one round
    of the shipped XGBoost sweep differ by up to 8x), drawn from (seed, trial number) alone, so every variant
    sees the same finishing order at the same trial numbers."""
    u = np.random.default_rng(np.random.SeedSequence([seed, trial_number, 11])).random()
    return float(8.0**u)


def run_study(
    problem_name: str | Problem, optimizer_name: str | OptimizerSpec, seed: int, budget: int
) -> dict[str, Any]:
    """One study, in memory. Returns the trace: per trial the observed and true loss, round, ask seconds.

    ``problem_name`` and ``optimizer_name`` name entries of ``PROBLEMS`` and ``OPTIMIZERS``, or are a
    ``Problem`` / ``OptimizerSpec`` of their own (the experiments in ``bench/experiments`` pass theirs).
    Round 0 asks the optimizer's seed trials at once, every later round ``q`` asks, then their tells. With
    ``lanes`` (async), ``q`` trials are in flight after round 0 and each is told when its virtual duration
    (``trial_seconds``) ends, the next ask following at once with the other running trials pending; the
    trace is in tell order and ``round`` counts the tells.
    """
    import optuna

    from hpo_tasks.bench.optimizers import OPTIMIZERS, sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = PROBLEMS[problem_name] if isinstance(problem_name, str) else problem_name
    opt = OPTIMIZERS[optimizer_name] if isinstance(optimizer_name, str) else optimizer_name
    cfg = sweep_config(problem.space, budget=budget, seed=seed)
    dists = SearchSpace.from_config(cfg).distributions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="minimize", sampler=opt.make(cfg, seed))
        observed: list[float] = []
        true: list[float] = []
        rounds: list[int] = []
        ask_s: list[float] = []
        params: list[dict[str, Any]] = []
        t_start = time.perf_counter()

        def ask() -> optuna.Trial:
            t0 = time.perf_counter()
            trial = study.ask(dists)
            ask_s.append(time.perf_counter() - t0)
            return trial

        def tell(trial: optuna.Trial, round_index: int) -> None:
            obs, tru = problem.observe(trial.params, seed=eval_seed(seed, trial.number))
            study.tell(trial, obs)
            observed.append(obs)
            true.append(tru)
            rounds.append(round_index)
            params.append(_jsonable_params(trial.params))

        for trial in [ask() for _ in range(min(opt.n_seed_trials(cfg), budget))]:  # round 0
            tell(trial, 0)
        r = 1
        if opt.lanes:  # q lanes: each asks (the others' trials pending) as its own trial ends
            running: list[tuple[float, int, optuna.Trial]] = []
            now = 0.0
            while len(observed) < budget:
                while len(running) < opt.q and len(observed) + len(running) < budget:
                    trial = ask()
                    heapq.heappush(running, (now + trial_seconds(seed, trial.number), trial.number, trial))
                now, _, trial = heapq.heappop(running)
                tell(trial, r)
                r += 1
        else:  # rounds of q asks, then their tells
            while len(observed) < budget:
                for trial in [ask() for _ in range(min(opt.q, budget - len(observed)))]:
                    tell(trial, r)
                r += 1
    return {
        "problem": problem.name,
        "optimizer": opt.name,
        "seed": seed,
        "budget": budget,
        "observed": observed,
        "true": true,
        "round": rounds,
        "ask_seconds": ask_s,
        "params": params,
        "wall_seconds": time.perf_counter() - t_start,
    }


def _jsonable_params(p: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str | bool | int) else float(v)) for k, v in p.items()}


def time_suggest(optimizer_name: str, n: int, repeat: int, *, problem_name: str = "hartmann6") -> dict:
    """Seconds of one ``ask`` on a study warm-started with ``n`` random completed trials.

    Each repeat builds a fresh study (different random trials) and a fresh sampler, as the pipeline does
    for every round, then times a single ask.
    """
    import optuna

    from hpo_tasks.bench.optimizers import OPTIMIZERS, sweep_config
    from hpo_tasks.bench.problems import PROBLEMS
    from hpo_tasks.record import get_trial, suggest_info
    from hpo_tasks.space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem, opt = PROBLEMS[problem_name], OPTIMIZERS[optimizer_name]
    cfg = sweep_config(problem.space, budget=max(n, 1), seed=0)
    space = SearchSpace.from_config(cfg)
    dists = space.distributions()
    seconds, parts = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rep in range(-1, repeat):  # rep -1: an untimed warm-up (lazy imports, first-call set-up)
            rng = np.random.default_rng([n, rep + 1])
            trials = []
            for _ in range(n):
                p = space.decode(rng.random(space.width))
                trials.append(
                    optuna.trial.create_trial(params=p, distributions=dists, value=problem.true_loss(p))
                )
            study = optuna.create_study(direction="minimize", sampler=opt.make(cfg, rep + 1))
            study.add_trials(trials)
            t0 = time.perf_counter()
            trial = study.ask(dists)
            elapsed = time.perf_counter() - t0
            if rep < 0:
                continue
            seconds.append(elapsed)
            info = suggest_info(get_trial(study, trial._trial_id))  # ours: fit / acq split
            parts.append({k: info[k] for k in ("fit_seconds", "acq_seconds") if k in info})
    return {
        "optimizer": optimizer_name,
        "n": n,
        "problem": problem_name,
        "seconds": seconds,
        "parts": parts,
        "threads": _threads(),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _limit_threads(n: int) -> None:
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(n)


def _call(job: tuple[Callable[..., dict], tuple]) -> dict:
    fn, args = job
    return fn(*args)


def run_pool(
    jobs: Iterable[tuple[Callable[..., dict], tuple]],
    *,
    workers: int,
    threads: int,
    on_done: Callable[[dict], None],
) -> list[dict]:
    """Run ``fn(*args)`` jobs in ``workers`` spawned processes with ``threads`` threads each."""
    import multiprocessing as mp

    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    for var in _THREAD_VARS:  # inherited by the spawned workers before they import numpy/torch
        os.environ[var] = str(threads)
    results = []
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_limit_threads,
            initargs=(threads,),
        ) as pool:
            futures = [pool.submit(_call, job) for job in jobs]
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except BaseException:
                    # a failed job ends the run now: without this the pool's exit ran every queued job
                    # (minutes to an hour) before the error surfaced, and their results were not saved
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                results.append(res)
                on_done(res)
    finally:
        for var, val in saved.items():
            if val is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = val
    return results


def expected_cost(problem_name: str, optimizer_name: str) -> float:
    """A rough relative cost, used only to start the longest jobs first (better packing)."""
    gp = 3.0 if optimizer_name.startswith(("ours", "botorch")) else 1.0
    heavy = 3.0 if problem_name.startswith(("svm", "xgb", "rf")) else 1.0
    return gp * heavy * (1.5 if "levy" in problem_name else 1.0)
