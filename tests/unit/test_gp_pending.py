"""Pending points on the fast path (``engine.FAST_PENDING``): the fitted GP believes them at their
posterior means (``ExactGP.believing``), LogEI on that model; the BoTorch path's qLogNEI otherwise."""

from __future__ import annotations

import numpy as np
import torch

from hpo_tasks.gp import engine
from hpo_tasks.gp import model as gp_model
from hpo_tasks.gp.acquisition import LogEI
from hpo_tasks.gp.sampler import space_info
from tests.helpers import space_of


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.random((15, 2))
    return x, -((x - 0.6) ** 2).sum(1) + 0.01 * rng.standard_normal(15)


def test_believing_keeps_the_mean_and_shrinks_the_variance_at_the_pending_points() -> None:
    x, y = _data()
    gp, _ = gp_model.fit(x, y, cat_dims=[])
    pending = np.array([[0.55, 0.62], [0.1, 0.9]])
    believer = gp.believing(pending)
    q = torch.as_tensor(np.vstack([pending, np.random.default_rng(0).random((20, 2))]))
    with torch.no_grad():
        mu, var = gp.posterior(q.unsqueeze(-2))
        mu_b, var_b = believer.posterior(q.unsqueeze(-2))
    np.testing.assert_allclose(mu_b.numpy(), mu.numpy(), rtol=0, atol=1e-8)  # y_p = mean: no mean update
    assert np.all(var_b.numpy() <= var.numpy() + 1e-12)  # more rows never add variance
    assert np.all(var_b.numpy()[:2, 0] < 0.5 * var.numpy()[:2, 0])  # at the pending points: much less
    assert believer.x.shape == (17, 2) and np.array_equal(believer.theta, gp.theta)  # no refit
    at = torch.as_tensor(pending[:1])
    assert LogEI(believer)(at).item() < LogEI(gp)(at).item() - 1.0  # little left to gain where one runs


def test_a_pending_ask_takes_the_fast_path_when_on_and_not_the_pending_point(monkeypatch) -> None:
    x, y = _data()
    info = space_info(space_of({n: {"type": "float", "low": 0.0, "high": 1.0} for n in ("x0", "x1")}))
    monkeypatch.setattr(engine, "FAST_PATH", True)

    def ask(pending: np.ndarray | None) -> engine.Suggestion:
        return engine.suggest_next(x, y, space=info, pending_x=pending, taken=set(), seed=5, fit_state=[])

    first = ask(None)
    monkeypatch.setattr(engine, "FAST_PENDING", False)
    slow = ask(first.x[None])
    assert "pending" not in slow.diagnostics  # the BoTorch path's qLogNEI
    monkeypatch.setattr(engine, "FAST_PENDING", True)
    runs = [ask(first.x[None]) for _ in range(2)]
    assert "believed" in runs[0].diagnostics["pending"]
    assert np.array_equal(runs[0].x, runs[1].x)  # same seed, same suggestion
    assert not np.allclose(runs[0].x, first.x, atol=1e-3)  # not the running trial again
