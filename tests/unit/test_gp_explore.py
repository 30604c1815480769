"""The fast path's occasional exploratory ask (``engine.EXPLORE_PROB``): UCB in place of LogEI on a
seeded draw, reproducible, reported in the suggest info."""

from __future__ import annotations

import numpy as np
import torch

from hpo_tasks.gp import engine
from hpo_tasks.gp import model as gp_model
from hpo_tasks.gp.acquisition import UCB
from hpo_tasks.gp.sampler import space_info
from tests.helpers import space_of


def _ask(x: np.ndarray, y: np.ndarray, seed: int) -> engine.Suggestion:
    info = space_info(space_of({n: {"type": "float", "low": 0.0, "high": 1.0} for n in ("x0", "x1")}))
    return engine.suggest_next(x, y, space=info, pending_x=None, taken=set(), seed=seed, fit_state=[])


def test_an_exploratory_ask_takes_ucb_reproducibly_and_says_so(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    x = 0.3 * rng.random((12, 2))  # every row in one corner: LogEI climbs there, UCB looks away
    y = -((x - 0.2) ** 2).sum(1)
    monkeypatch.setattr(engine, "FAST_PATH", True)
    monkeypatch.setattr(engine, "EXPLORE_PROB", 0.0)
    greedy = _ask(x, y, seed=4)
    assert "explore" not in greedy.diagnostics
    monkeypatch.setattr(engine, "EXPLORE_PROB", 1.0)
    runs = [_ask(x, y, seed=4) for _ in range(2)]
    assert runs[0].diagnostics["explore"].startswith("ucb") and np.array_equal(runs[0].x, runs[1].x)
    far = lambda s: float(np.min(np.linalg.norm(x - s.x, axis=1)))  # noqa: E731
    assert far(runs[0]) > far(greedy)
    # UCB is mu + sqrt(beta) sigma of the model's posterior
    gp, _ = gp_model.fit(x, y, cat_dims=[])
    q = torch.as_tensor(rng.random((5, 2)))
    mu, var = gp.posterior(q.unsqueeze(-2))
    np.testing.assert_allclose(UCB(gp, 9.0)(q).numpy(), (mu + 3 * var.sqrt()).squeeze(-1).numpy(), rtol=1e-12)


def test_asks_since_gain_counts_trials_since_the_last_gain_beyond_the_tolerance() -> None:
    mu = np.array([0.0, 1.0, 1.01, 1.02, 1.03, 1.04, 1.2, 1.21])
    assert engine.asks_since_gain(mu, 8, tol=0.1) == 1  # 1.2 gained on 1.0; 1.21 did not
    assert engine.asks_since_gain(mu[:6], 6, tol=0.1) == 4  # creeping 0.04 in all: no gain since 1.0
    assert engine.asks_since_gain(mu[:6], 6, tol=0.03) == 0  # creeping past the tolerance counts
    # prior rows (the last ones) set the start: no own trial beat 1.5
    assert engine.asks_since_gain(np.append(mu, 1.5), 8, tol=0.1) == 8


def test_a_stalled_study_gets_every_other_ask_exploratory(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((14, 2))
    y = -((x - x[3]) ** 2).sum(1)  # the best at row 3, nothing since: 10 trials without a gain
    monkeypatch.setattr(engine, "FAST_PATH", True)
    monkeypatch.setattr(engine, "EXPLORE_PROB", 0.0)
    monkeypatch.setattr(engine, "STALL_EXPLORE", 0)
    assert "since_gain" not in _ask(x, y, seed=2).diagnostics
    monkeypatch.setattr(engine, "STALL_EXPLORE", 4)
    s = _ask(x, y, seed=2)
    assert s.diagnostics["since_gain"] == 10 and "stalled 10" in s.diagnostics["explore"]
    s = _ask(x[:13], y[:13], seed=2)  # 9 since the gain: the greedy ask of the pair
    assert s.diagnostics["since_gain"] == 9 and "explore" not in s.diagnostics
    y[-1] = 0.5  # the last trial gained: greedy again
    assert "explore" not in _ask(x, y, seed=2).diagnostics
