"""Rounds vs async lanes in virtual time: the sampler's choices without Airflow, to compare how a lane asks.

    PYTHONPATH=. python -m hpo_tasks.bench.experiments.async_sim --seeds 0 1 2 3 4

The real ``GPBatchSampler`` (the sweep default: GP, LogEI), Branin over ``async_utilisation``'s space and
cost model (``sleep_seconds(params)`` as each trial's duration, no sleeping), q lanes, ``--trials``
trials, the seed design ``--n-init`` wide. Modes:

- ``rounds``: ask q, tell q (the DAG's rounds; its values equal a DAG run's of the same seed);
- ``ask_after``: a lane asks when its trial ends (``budget.ask_ahead: false``), the other lanes' trials
  pending;
- ``ask_ahead``: a lane asks its next trial when its current one starts (``ask_ahead: true``): its own
  running trial pending too, and every lane's first two asks at the start.

Prints one JSON line per (mode, seed): the best value after 16 and after all trials, the virtual span,
and the virtual seconds until the best value first reached each of ``TARGETS`` (the Airflow benchmark's;
``None`` where the run never did). Orchestration costs nothing unless ``--gap`` gives a lane's idle
seconds between two of its trials (rounds: between a round's last trial end and the next round's start);
the Airflow runs measured about 2.2 s for a lane and 4.8 s for rounds
(``docs/results/2026-12-01-async-preload.md``, table 4).
"""

from __future__ import annotations

import argparse
import heapq
import json
from typing import Any

import optuna

from hpo_tasks.bench.experiments.async_utilisation import SWEEP, TARGETS, sleep_seconds
from hpo_tasks.config import parse_sweep
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.space import SearchSpace

MODES = ("rounds", "ask_after", "ask_ahead")


def _space() -> SearchSpace:
    import yaml

    text = SWEEP.format(name="sim", trials=40, q=4, mode="rounds")
    return SearchSpace.from_config(parse_sweep(yaml.safe_load(text)))


def run(
    mode: str,
    seed: int,
    *,
    trials: int = 40,
    q: int = 4,
    n_init: int = 4,
    gap: dict[str, float] | None = None,
) -> dict[str, Any]:
    from hpo_tasks.gp.sampler import GPBatchSampler

    space = _space()
    study = optuna.create_study(sampler=GPBatchSampler(space, n_init=n_init, seed=seed))

    def ask() -> optuna.Trial:
        t = study.ask()
        space.suggest(t)
        return t

    wait = (gap or {}).get(mode, 0.0)
    values: dict[int, float] = {}
    ended: dict[int, float] = {}
    now = 0.0
    if mode == "rounds":
        while len(study.trials) < trials:
            batch = [ask() for _ in range(n_init if not study.trials else q)]
            start = now + (wait if values else 0.0)
            for t in batch:
                ended[t.number] = start + sleep_seconds(t.params)
            now = max(ended[t.number] for t in batch)
            for t in batch:
                values[t.number] = branin(t.params, seed=0)
                study.tell(t, values[t.number])
    else:
        ahead = mode == "ask_ahead"
        queued: dict[int, list[optuna.Trial]] = {lane: [] for lane in range(q)}
        events: list[tuple[float, int, int, optuna.Trial]] = []

        def lane_asks(lane: int) -> None:
            if len(study.trials) < trials:
                queued[lane].append(ask())

        def lane_starts(lane: int, at: float) -> None:
            if queued[lane]:
                t = queued[lane].pop(0)
                heapq.heappush(events, (at + sleep_seconds(t.params), t.number, lane, t))

        for lane in range(q):
            lane_asks(lane)
            if ahead:
                lane_asks(lane)
        for lane in range(q):
            lane_starts(lane, 0.0)
        while events:
            now, number, lane, t = heapq.heappop(events)
            values[number] = branin(t.params, seed=0)
            ended[number] = now
            study.tell(t, values[number])
            if not ahead:
                lane_asks(lane)
            lane_starts(lane, now + wait)
            if ahead:
                lane_asks(lane)
    ordered = [values[k] for k in sorted(values)]
    best = [min(ordered[: i + 1]) for i in range(len(ordered))]
    row: dict[str, Any] = {"mode": mode, "seed": seed, "best@16": best[15], f"best@{trials}": best[-1]}
    row["span_s"] = now
    for target in TARGETS:
        hits = [ended[k] for k, v in values.items() if v <= target]
        row[f"to<={target}_s"] = min(hits) if hits else None
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--q", type=int, default=4)
    ap.add_argument("--n-init", type=int, default=4)
    ap.add_argument(
        "--gap",
        nargs=2,
        type=float,
        metavar=("LANE_S", "ROUND_S"),
        help="a lane's idle seconds between trials and rounds' between rounds (default 0 0)",
    )
    args = ap.parse_args(argv)
    gap = None
    if args.gap:
        gap = {"ask_after": args.gap[0], "ask_ahead": args.gap[0], "rounds": args.gap[1]}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for seed in args.seeds:
        for mode in args.modes:
            row = run(mode, seed, trials=args.trials, q=args.q, n_init=args.n_init, gap=gap)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
