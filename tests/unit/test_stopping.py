from __future__ import annotations

import pytest

from hpo_tasks.stopping import BUDGET, PATIENCE, WALLCLOCK, decide_stop, trials_without_improvement

BASE = dict(n_running=0, maximize=True, max_trials=20, batch_size=4, n_init=3, elapsed_seconds=10.0)


@pytest.mark.parametrize(
    ("values", "overrides", "reason", "n_next"),
    [
        ([], {}, None, 4),
        ([0.1] * 20, {}, BUDGET, 0),
        ([0.1, None] * 10, {}, BUDGET, 0),  # failed trials count against the budget
        ([0.1] * 18, {}, None, 2),  # the last round is cut to the budget
        ([0.1] * 16, {"n_running": 4}, BUDGET, 0),  # running trials hold the rest
        ([0.1] * 5, {"max_minutes": 1, "elapsed_seconds": 61}, WALLCLOCK, 0),
        ([0.1] * 5, {"max_minutes": 2, "elapsed_seconds": 61}, None, 4),
        # seed phase (3 trials) never counts; then 3 trials without improvement
        ([0.1, 0.2, 0.3, 0.3, 0.29, 0.1], {"patience": 3}, PATIENCE, 0),
        ([0.1, 0.2, 0.3, 0.3, 0.29, 0.4], {"patience": 3}, None, 4),
        # improvements smaller than min_delta do not reset patience
        ([0.1, 0.2, 0.3, 0.301, 0.302, 0.303], {"patience": 3, "min_delta": 0.01}, PATIENCE, 0),
        # minimisation: lower is better
        ([3.0, 2.0, 1.0, 0.5, 0.4, 0.3], {"patience": 3, "maximize": False}, None, 4),
        ([3.0, 2.0, 1.0, 1.5, 2.5, 1.1], {"patience": 3, "maximize": False}, PATIENCE, 0),
        # failed trials are not "no improvement"
        ([0.1, 0.2, 0.3, None, None, None], {"patience": 3}, None, 4),
    ],
)
def test_decide_stop(values: list, overrides: dict, reason: str | None, n_next: int) -> None:
    d = decide_stop(values=values, **{**BASE, **overrides})
    assert d.stop is (reason is not None)
    assert d.reason == reason
    assert d.n_next == n_next
    assert d.detail


def test_trials_without_improvement_counts_only_after_seed_phase() -> None:
    assert trials_without_improvement([1.0, 0.5, 0.5], maximize=True, n_init=3) == 0
    assert trials_without_improvement([1.0, 0.5, 0.5, 0.5], maximize=True, n_init=3) == 1
