"""The bayesmark score and its pieces, against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_tasks.bench import report, scoring


def test_incumbent_is_the_best_observed_trial_scored_by_its_true_loss() -> None:
    # observed 5, 3, 4, 1 -> incumbents are trials 0, 1, 1, 3; their true losses 4, 3.5, 3.5, 2
    trace = scoring.incumbent_trace([5.0, 3.0, 4.0, 1.0], [4.0, 3.5, 0.0, 2.0])
    assert trace.tolist() == [4.0, 3.5, 3.5, 2.0]


@pytest.mark.parametrize(
    ("trace", "f_best", "f_rand", "expected"),
    [
        ([20.0, 10.0, 5.0, 0.0], 0.0, 10.0, [1.0, 1.0, 0.5, 0.0]),  # worse than random clips to 1
        ([-5.0], 0.0, 10.0, [-0.5]),
        ([-50.0], 0.0, 10.0, [-1.0]),  # clipped below too
        ([3.0, 2.5], 2.0, 7.0, [0.2, 0.1]),
        ([4.0], 1.0, 1.0, [0.0]),  # no spread between best and random: nothing to regret
    ],
)
def test_normalized_regret(trace, f_best, f_rand, expected) -> None:
    got = scoring.normalized_regret(np.array(trace), f_best=f_best, f_rand=f_rand)
    assert got.tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("regrets", "expected"),
    [([0.0], 100.0), ([1.0, 1.0], 0.0), ([0.0, 0.5], 75.0), ([0.2, 0.4, 0.6], 60.0), ([-0.5], 150.0)],
)
def test_score(regrets, expected) -> None:
    assert scoring.score(regrets) == pytest.approx(expected)


@pytest.mark.parametrize(("target", "expected"), [(3.0, 3), (10.0, 1), (2.0, 4), (1.0, None)])
def test_trials_to_reach(target, expected) -> None:
    assert scoring.trials_to_reach(np.array([5.0, 4.0, 3.0, 2.0]), target) == expected


def test_paired_bootstrap_of_a_constant_difference_is_that_difference() -> None:
    ours = {"a": [80.0, 90.0], "b": [70.0, 70.0]}
    peer = {"a": [70.0, 80.0], "b": [60.0, 60.0]}
    d, lo, hi = scoring.paired_bootstrap(ours, peer, n_boot=200, rng=np.random.default_rng(0))
    assert (d, lo, hi) == pytest.approx((10.0, 10.0, 10.0))


def test_paired_bootstrap_interval_brackets_the_mean_and_pairs_by_seed() -> None:
    ours = {"a": [90.0, 50.0, 70.0, 80.0]}
    peer = {"a": [80.0, 50.0, 60.0, 90.0]}  # differences 10, 0, 10, -10: mean 2.5
    d, lo, hi = scoring.paired_bootstrap(ours, peer, n_boot=2000, rng=np.random.default_rng(1))
    assert d == pytest.approx(2.5)
    assert -10.0 <= lo < d < hi <= 10.0


def _run(problem: str, optimizer: str, seed: int, true: list[float]) -> dict:
    return {
        "problem": problem,
        "optimizer": optimizer,
        "seed": seed,
        "observed": true,
        "true": true,
        "round": list(range(len(true))),
    }


def test_analyse_scores_a_hand_computed_problem() -> None:
    # random pools 10, 6, 8, 4 -> f_rand = 7; the best anyone saw is 2 -> span 5.
    runs = [
        _run("branin", "random", 0, [10.0, 6.0]),
        _run("branin", "random", 1, [8.0, 4.0]),
        _run("branin", "ours-q1", 0, [5.0, 2.0]),  # regret 0 -> 100
        _run("branin", "ours-q1", 1, [3.0, 3.0]),  # (3 - 2) / 5 = 0.2 -> 80
    ]
    s = report.analyse(runs, budget=2)
    assert s["normalisation"]["branin"]["f_best"] == 2.0
    assert s["normalisation"]["branin"]["f_rand"] == 7.0
    assert s["scores"]["branin"]["ours-q1"][2] == pytest.approx([100.0, 80.0])
    assert s["scores"]["branin"]["random"][2] == pytest.approx([20.0, 60.0])  # 6 -> 0.8, 4 -> 0.4
    assert s["overall"]["ours-q1"][2] == pytest.approx(90.0)
    # random's final median is 5: ours gets there at trial 1 (seed 0: 5) and trial 1 (seed 1: 3)
    assert s["reach"]["branin"]["target"] == 5.0
    assert s["reach"]["branin"]["ours-q1"]["per_seed"] == [1, 1]
    assert s["reach"]["branin"]["random"]["per_seed"] == [None, 2]


def test_analyse_needs_random_search() -> None:
    with pytest.raises(ValueError, match="random"):
        report.analyse([_run("branin", "ours-q1", 0, [1.0])], budget=1)
