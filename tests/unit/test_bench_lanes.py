"""The benchmark's async-lanes arm (``OptimizerSpec.lanes``): q trials in flight, each told as it ends."""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from hpo_tasks.bench import runner
from hpo_tasks.bench.optimizers import OptimizerSpec


class _Recording(optuna.samplers.RandomSampler):
    """A random sampler that notes, per new trial, how many other trials were running when it was asked."""

    def __init__(self, seed: int, seen: list[int], told: list[int]) -> None:
        super().__init__(seed=seed)
        self.seen, self.told = seen, told

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        self.seen.append(len(running) - 1)  # the new trial itself is running already

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.told.append(trial.number)


def _spec(seen: list[int], *, lanes: bool, told: list[int] | None = None) -> OptimizerSpec:
    told = [] if told is None else told
    return OptimizerSpec("rec", 4, lambda cfg, seed: _Recording(seed, seen, told), "recording", True, lanes)


def test_lanes_keep_q_trials_in_flight_and_tell_in_finishing_order() -> None:
    seen: list[int] = []
    told: list[int] = []
    res = runner.run_study("branin", _spec(seen, lanes=True, told=told), seed=3, budget=20)
    assert len(res["true"]) == len(res["params"]) == 20
    n_seed = sum(r == 0 for r in res["round"])
    assert n_seed == 5  # branin's seed design, min(10, max(5, d + 1)), asked and told as round 0
    assert seen[:n_seed] == list(range(n_seed))  # the seed round: asked together, then told
    # the first lane ask sees none running, each next one more, up to q - 1; then q - 1 at every ask
    # until the budget leaves fewer to ask
    assert seen[n_seed : n_seed + 4] == [0, 1, 2, 3]
    assert set(seen[n_seed + 4 :]) == {3}
    assert res["round"][n_seed:] == list(range(1, 20 - n_seed + 1))
    # every trial told once, as the virtual durations end: not in asking order
    assert told[:n_seed] == list(range(n_seed))
    assert sorted(told[n_seed:]) == list(range(n_seed, 20)) != told[n_seed:]


def test_lanes_are_reproducible_and_rounds_unchanged() -> None:
    a = runner.run_study("branin", _spec([], lanes=True), seed=1, budget=16)
    b = runner.run_study("branin", _spec([], lanes=True), seed=1, budget=16)
    assert a["params"] == b["params"] and a["true"] == b["true"]
    seen: list[int] = []
    rounds = runner.run_study("branin", _spec(seen, lanes=False), seed=1, budget=16)
    assert sorted(set(rounds["round"])) == [0, 1, 2, 3]  # 5 seeds, then rounds of 4, 4, 3
    assert seen[5:9] == [0, 1, 2, 3]  # within a round, the earlier asks are pending
