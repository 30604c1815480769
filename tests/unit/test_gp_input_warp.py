"""The fast path's input warp (``gp.input_warp``): its derivatives, the fit's written-out gradient with the
warp, the numpy LogEI through it, and the engine's switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpo_tasks.gp import engine, input_warp
from hpo_tasks.gp import model as gp_model
from hpo_tasks.gp.acquisition import LogEI, PlainLogEI
from tests.helpers import assert_log_ei_twin_is_torchs


def _skewed(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A function that changes fast near x0 = 1 and not elsewhere: what the warp is for."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))  # (n, d)
    return x, np.sin(12.0 * x[:, 0] ** 5) + 0.3 * x[:, 1] + 0.01 * rng.standard_normal(n)


def _central(f, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e.flat[i] = h
        out.flat[i] = (f(z + e) - f(z - e)) / (2 * h)
    return out


def test_the_warps_derivatives_are_its_finite_differences_and_a_b_1_is_the_identity() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 0.99, (7, 3))
    la, lb = rng.normal(0, 0.6, 3), rng.normal(0, 0.6, 3)
    w, dla, dlb = input_warp.warp_and_grads_np(x, la, lb)
    np.testing.assert_array_equal(w, input_warp.warp_np(x, la, lb))
    for j in range(3):
        e = np.eye(3)[j] * 1e-6
        num_a = (input_warp.warp_np(x, la + e, lb) - input_warp.warp_np(x, la - e, lb))[:, j] / 2e-6
        num_b = (input_warp.warp_np(x, la, lb + e) - input_warp.warp_np(x, la, lb - e))[:, j] / 2e-6
        np.testing.assert_allclose(dla[:, j], num_a, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(dlb[:, j], num_b, rtol=1e-6, atol=1e-9)
    w2, dx = input_warp.warp_and_dx_np(x, la, lb)
    np.testing.assert_array_equal(w2, w)
    num_x = (input_warp.warp_np(x + 1e-7, la, lb) - input_warp.warp_np(x - 1e-7, la, lb)) / 2e-7
    np.testing.assert_allclose(dx, num_x, rtol=1e-5)
    torch_w = input_warp.warp_torch(torch.as_tensor(x), torch.as_tensor(la), torch.as_tensor(lb))
    np.testing.assert_allclose(torch_w.numpy(), w, rtol=1e-13)
    ident = input_warp.warp_np(x, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(ident, x, atol=1e-6)
    # strictly increasing inside [0, 1]
    grid = np.linspace(0, 1, 101)[:, None]
    wg = input_warp.warp_np(grid, la[:1], lb[:1])[:, 0]
    assert np.all(np.diff(wg) > 0) and wg[0] >= 0 and wg[-1] <= 1


@pytest.mark.parametrize("noise_var", [None, 0.01])
def test_the_warped_fits_written_out_gradient_is_its_finite_differences(noise_var) -> None:
    x, y = _skewed(25, 3)
    layout = gp_model._Layout((0, 1, 2), (), noise_var is None, warp=True)
    assert set(layout.slices()) >= {"l1", "wa", "wb"}
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 0.5, layout.size)
    ys = (y - y.mean()) / y.std(ddof=1)
    noise = np.asarray(0.0 if noise_var is None else noise_var / y.var(ddof=1))

    def value(t: np.ndarray) -> float:
        return gp_model._plain_neg_mll_and_grad(layout, t, None, ys, noise, x)[0]

    _, grad = gp_model._plain_neg_mll_and_grad(layout, theta, None, ys, noise, x)
    np.testing.assert_allclose(grad, _central(value, theta), rtol=1e-5, atol=1e-7)


def test_a_warped_fit_bends_the_column_that_needs_it_and_its_log_ei_twin_is_torchs() -> None:
    x, y = _skewed(30, 2)
    gp, info = gp_model.fit(x, y, cat_dims=[], warp=True)
    assert gp.layout.warp and info["attempts"] >= 1
    warps = gp.input_warp(["x0", "x1"])
    a0 = warps["x0"][0]
    assert a0 > 1.5  # x0's action is near 1: the warp stretches that end (a > 1)
    # the warped model fits the data better than the plain one (held-out rows)
    plain, _ = gp_model.fit(x, y, cat_dims=[])
    xt, yt = _skewed(200, 2, seed=9)
    errs = []
    for model in (gp, plain):
        with torch.no_grad():
            mu, _ = model.posterior(torch.as_tensor(xt))
        errs.append(float(np.mean((mu.numpy() - yt) ** 2)))
    assert errs[0] < 0.5 * errs[1], errs  # 0.03 against 0.2 when written
    # the numpy LogEI (the optimiser's) is the torch one through the warp, gradient included
    acq = LogEI(gp)
    assert isinstance(acq.numpy, PlainLogEI)
    q = np.concatenate([np.random.default_rng(3).random((30, 2)), x[:3] + 1e-7])
    assert_log_ei_twin_is_torchs(acq, q, rtol=1e-10)
    # a stored fit (BoTorch's parameter form plus the warp) starts a warped fit, not a plain one
    params = gp.botorch_params()
    assert "input_transform.concentration1" in params
    again, _ = gp_model.fit(x, y, cat_dims=[], warp=True, start=params, options={"maxiter": 5})
    np.testing.assert_allclose(again.theta, gp.theta, atol=1e-3)
    with pytest.raises(KeyError):
        gp_model.fit(x, y, cat_dims=[], start=params)


def test_a_categorical_column_or_autograd_means_no_warp(monkeypatch) -> None:
    x, y = _skewed(15, 2)
    x[:, 1] = np.arange(15) % 3
    gp, _ = gp_model.fit(x, y, cat_dims=[1], warp=True)
    assert not gp.layout.warp and gp.input_warp(["a", "b"]) == {}
    monkeypatch.setattr(gp_model, "PLAIN_GRADIENT", False)
    gp, _ = gp_model.fit(x[:, :1], y, cat_dims=[], warp=True)
    assert not gp.layout.warp


def test_the_engine_switch_warps_the_fast_path_and_reports_the_concentrations(monkeypatch) -> None:
    from hpo_tasks.gp.sampler import space_info
    from tests.helpers import space_of

    x, y = _skewed(20, 2)
    info = space_info(space_of({n: {"type": "float", "low": 0.0, "high": 1.0} for n in ("x0", "x1")}))
    monkeypatch.setattr(engine, "FAST_PATH", True)
    monkeypatch.setattr(engine, "INPUT_WARP", True)
    runs = [
        engine.suggest_next(x, y, space=info, pending_x=None, taken=set(), seed=3, fit_state=[])
        for _ in range(2)
    ]
    assert set(runs[0].diagnostics["input_warp"]) == {"x0", "x1"}
    assert np.array_equal(runs[0].x, runs[1].x)  # same seed, same suggestion
    assert runs[0].fit_state is not None and runs[0].fit_state["signature"].startswith("plain:warp")
    monkeypatch.setattr(engine, "INPUT_WARP", False)
    plain = engine.suggest_next(x, y, space=info, pending_x=None, taken=set(), seed=3, fit_state=[])
    assert "input_warp" not in plain.diagnostics
