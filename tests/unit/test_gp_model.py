"""``hpo_tasks.gp.model`` / ``acquisition`` / ``optim``: the plain-torch GP is BoTorch's model, and the
fast path serves the cases it covers (q=1 logei, nothing pending) reproducibly, on mixed spaces too."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from hpo_tasks.gp import engine
from hpo_tasks.gp import model as gp_model
from hpo_tasks.gp.acquisition import LogEI
from hpo_tasks.gp.optim import maximize
from hpo_tasks.gp.sampler import space_info
from tests.helpers import assert_log_ei_twin_is_torchs, space_of

# (rows, width, categorical columns with their number of values, fixed noise variance or None: learned)
DATASETS = [(20, 3, {}, None), (16, 3, {2: 3}, None), (16, 2, {}, 0.01), (18, 2, {0: 2, 1: 3}, None)]


def _data(n: int, d: int, cats: dict[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))  # (n, d)
    for j, k in cats.items():
        x[:, j] = rng.integers(0, k, n)
    y = np.sin(3 * x).sum(1) + 0.05 * rng.standard_normal(n)  # (n,)
    return x, y


def _botorch_model(x: np.ndarray, y: np.ndarray, cats: dict[int, int], noise_var: float | None) -> object:
    hi = [float(cats[j] - 1) if j in cats else 1.0 for j in range(x.shape[1])]
    info = engine.SpaceInfo(
        np.array([[0.0] * x.shape[1], hi]),
        {j: [float(i) for i in range(k)] for j, k in cats.items()},
        {},
        [f"p{j}" for j in range(x.shape[1])],
        lambda v: v,
        lambda u: u,
        lambda v: tuple(v),
    )
    X, Y = torch.as_tensor(x), torch.as_tensor(y).unsqueeze(-1)  # (n, d), (n, 1)
    return engine._make_model(X, Y, info, None, noise_var)


def _botorch_mll(model: object) -> float:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    model.train()  # type: ignore[attr-defined]
    mll = ExactMarginalLogLikelihood(model.likelihood, model)  # type: ignore[attr-defined]
    with torch.no_grad():
        return float(mll(model(*model.train_inputs), model.train_targets))  # type: ignore[attr-defined]


@pytest.mark.parametrize("n,d,cats,noise_var", DATASETS)
def test_the_fast_fit_reaches_botorchs_likelihood_on_botorchs_own_model(n, d, cats, noise_var) -> None:
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    x, y = _data(n, d, cats)

    def botorch_fit(maxiter: int) -> object:
        ref = _botorch_model(x, y, cats, noise_var)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(ref.likelihood, ref),  # type: ignore[attr-defined]
                optimizer_kwargs={"options": {"maxiter": maxiter}},
            )
        return ref

    gp, info = gp_model.fit(x, y, cat_dims=sorted(cats), noise_var=noise_var)

    # The fast fit's hyperparameters, loaded into BoTorch's model: BoTorch computes the same objective
    # (same kernel, priors, noise, standardisation) and it is no worse than BoTorch's own optimum.
    mine = _botorch_model(x, y, cats, noise_var)
    engine._load_params(mine, gp.botorch_params())
    assert _botorch_mll(mine) == pytest.approx(-info["neg_mll"], abs=1e-6)
    if info["fit_steps"] < engine.FIT_MAXITER:
        assert _botorch_mll(mine) >= _botorch_mll(botorch_fit(engine.FIT_MAXITER)) - 1e-4
    else:
        # The step cap bound (a flat mixed likelihood at 16 rows): the two capped fits stop at different
        # points of a ridge, which one ahead depends on the machine's rounding (an Intel and an AMD
        # machine differ here). Given the steps to converge, ours reaches BoTorch's optimum.
        long, long_info = gp_model.fit(x, y, cat_dims=sorted(cats), noise_var=noise_var, maxiter=1000)
        assert -long_info["neg_mll"] >= _botorch_mll(botorch_fit(1000)) - 2e-3
        mine = _botorch_model(x, y, cats, noise_var)
        engine._load_params(mine, long.botorch_params())
        gp = long

    # ... and the same posterior at the training rows and elsewhere.
    q = np.concatenate([x[:3], _data(5, d, cats, seed=1)[0]])  # (8, d)
    mine.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        post = mine.posterior(torch.as_tensor(q))  # type: ignore[attr-defined]
        mu, var = gp.posterior(torch.as_tensor(q))
    assert np.allclose(post.mean.reshape(-1).numpy(), mu.numpy(), atol=1e-9)
    assert np.allclose(post.variance.reshape(-1).numpy(), var.numpy(), atol=1e-9)


def test_log_ei_is_botorchs_analytic_log_ei() -> None:
    from botorch.acquisition import LogExpectedImprovement

    x, y = _data(15, 2, {})
    gp, _ = gp_model.fit(x, y, cat_dims=[])
    ref = _botorch_model(x, y, {}, None)
    engine._load_params(ref, gp.botorch_params())
    ref.eval()  # type: ignore[attr-defined]
    acq = LogEI(gp)
    q = torch.as_tensor(
        np.concatenate([np.random.default_rng(3).random((50, 2)), x[:2] + 5.0])
    )  # far: tiny EI
    with torch.no_grad():
        expected = LogExpectedImprovement(ref, best_f=acq.best_f)(q.unsqueeze(1))
        assert np.allclose(acq(q).numpy(), expected.numpy(), atol=1e-7)


def test_the_local_search_finds_a_mixed_optimum() -> None:
    ss = space_of(
        {
            "a": {"type": "float", "low": 0, "high": 1},
            "k": {"type": "int", "low": 1, "high": 20},
            "c": {"type": "categorical", "choices": ["x", "y", "z"]},
        },
        direction="maximize",
    )
    info = space_info(ss)
    k_target = float(info.discrete_dims[1][13])

    def acqf(x: torch.Tensor) -> torch.Tensor:  # best at a = 0.37, k on its grid's 14th value, c = z
        return -((x[..., 0] - 0.37) ** 2) - (x[..., 1] - k_target) ** 2 - 0.5 * (x[..., 2] != 2.0).double()

    cands, values = maximize(acqf, info, seed=0)
    assert cands[0] == pytest.approx([0.37, k_target, 2.0], abs=1e-4)
    assert values[0] == pytest.approx(0.0, abs=1e-6) and np.all(np.diff(values[: len(values)]) <= 1e-12)


MIXED = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "depth": {"type": "int", "low": 2, "high": 12},
    "opt": {"type": "categorical", "choices": ["adam", "sgd", "rms"]},
}


def test_the_fast_path_serves_q1_logei_reproducibly_and_batches_keep_botorch(monkeypatch) -> None:
    monkeypatch.setattr(engine, "FAST_PATH", True)
    ss = space_of(MIXED, direction="maximize")
    info = space_info(ss)
    rng = np.random.default_rng(0)
    x = np.stack([ss.round_trip(ss.from_unit(u)) for u in rng.random((12, 3))])  # (12, d)
    y = -((x[:, 0] - 0.3) ** 2) + 0.1 * x[:, 2]
    taken = {info.key(row) for row in x}
    runs = [suggest_next_q1(x, y, info, taken) for _ in range(2)]
    assert runs[0].diagnostics["engine"] == "torch" and runs[0].phase == "gp"
    assert np.array_equal(runs[0].x, runs[1].x) and runs[0].acq_value == runs[1].acq_value
    assert np.array_equal(runs[0].x, ss.round_trip(runs[0].x)) and info.key(runs[0].x) not in taken
    # the stored fit is BoTorch's parameter set: a BoTorch-path fit can start from it
    assert runs[0].fit_state is not None and "mean_module.raw_constant" in runs[0].fit_state["params"]

    pending = engine.suggest_next(x, y, space=info, pending_x=runs[0].x[None], taken=taken, seed=1)
    assert pending.phase == "gp" and "engine" not in pending.diagnostics  # qLogNEI: the BoTorch path


def suggest_next_q1(x: np.ndarray, y: np.ndarray, info: engine.SpaceInfo, taken: set) -> engine.Suggestion:
    return engine.suggest_next(x, y, space=info, pending_x=None, taken=taken, seed=7, fit_state=[])


def test_the_raw_parameter_fit_takes_botorchs_steps(monkeypatch) -> None:
    """FIT_SPACE "raw": L-BFGS-B on BoTorch's raw parameters from BoTorch's start, so on a continuous
    model (where the fit converges before the step cap) it ends on BoTorch's hyperparameters."""
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    monkeypatch.setattr(gp_model, "FIT_SPACE", "raw")
    x, y = _data(20, 3, {})
    ref = _botorch_model(x, y, {}, None)
    steps = [0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(
            ExactMarginalLogLikelihood(ref.likelihood, ref),  # type: ignore[attr-defined]
            optimizer_kwargs={
                "options": {"maxiter": engine.FIT_MAXITER},
                "callback": lambda _p, r: steps.__setitem__(0, int(r.step)),
            },
        )
    gp, info = gp_model.fit(x, y, cat_dims=[])
    # the same iterates: as many L-BFGS-B steps as BoTorch's (the log-parameter fit takes 13, BoTorch 22)
    assert info["fit_steps"] == steps[0]
    mine = gp.botorch_params()
    for name, p in ref.named_parameters():  # type: ignore[attr-defined]
        assert np.allclose(np.ravel(mine[name]), p.detach().reshape(-1).numpy(), atol=1e-6), name


@pytest.mark.parametrize(
    "kinv,noise_prior,scale,ls_prior",
    [
        ("potri", "lognormal", False, "dim-scaled"),
        ("solve", "lognormal", False, "dim-scaled"),
        ("potri", "gamma", False, "dim-scaled"),
        ("potri", "lognormal", True, "dim-scaled"),
        ("potri", "lognormal", False, "optuna"),
    ],
)
@pytest.mark.parametrize("noise_var", [None, 0.01])
def test_the_plain_kernels_written_out_gradient_is_autograds(
    noise_var: float | None,
    kinv: str,
    noise_prior: str,
    scale: bool,
    ls_prior: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # gp.model.PLAIN_GRADIENT: the plain kernel's fit objective and gradient in numpy; the same function
    # and the same derivative as the torch objective under autograd, at random hyperparameters, with
    # K^-1 from either gp.model.KINV, under either gp.model.NOISE_PRIOR_KIND, and with the outputscale
    # (gp.model.PLAIN_OUTPUTSCALE), under either gp.model.LENGTHSCALE_PRIOR_KIND.
    monkeypatch.setattr(gp_model, "KINV", kinv)
    monkeypatch.setattr(gp_model, "NOISE_PRIOR_KIND", noise_prior)
    monkeypatch.setattr(gp_model, "LENGTHSCALE_PRIOR_KIND", ls_prior)
    rng = np.random.default_rng(4)
    x, y = _data(15, 4, {})
    layout = gp_model._Layout((0, 1, 2, 3), (), noise_var is None, scale=scale)
    xt, yt = torch.as_tensor(x), torch.as_tensor((y - y.mean()) / y.std(ddof=1))
    noise = torch.as_tensor(0.0 if noise_var is None else noise_var, dtype=torch.float64)
    parts = gp_model._parts(layout, xt, xt)
    for _ in range(5):
        theta = layout.start() + rng.normal(0.0, 0.7, layout.size)
        t = torch.tensor(theta, requires_grad=True)
        loss = gp_model.neg_mll(layout, t, parts, yt, noise)
        (grad,) = torch.autograd.grad(loss, t)
        value, written = gp_model._plain_neg_mll_and_grad(
            layout, theta, parts[0].numpy(), yt.numpy(), noise.numpy()
        )
        assert value == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(written, grad.numpy(), rtol=1e-9, atol=1e-12)


def test_the_plain_fit_with_the_written_out_gradient_reaches_autograds_optimum(monkeypatch) -> None:
    x, y = _data(30, 3, {}, seed=2)
    monkeypatch.setattr(gp_model, "PLAIN_GRADIENT", False)
    auto, auto_info = gp_model.fit(x, y, cat_dims=[])
    monkeypatch.setattr(gp_model, "PLAIN_GRADIENT", True)
    written, info = gp_model.fit(x, y, cat_dims=[])
    assert info["neg_mll"] == pytest.approx(auto_info["neg_mll"], abs=1e-7)
    np.testing.assert_allclose(written.theta, auto.theta, atol=1e-4)
    again, _ = gp_model.fit(x, y, cat_dims=[])
    np.testing.assert_array_equal(again.theta, written.theta)  # deterministic


@pytest.mark.parametrize(
    "n,d,noise_var,scale", [(12, 2, None, False), (40, 5, 0.01, False), (20, 3, None, True)]
)
def test_the_plain_log_eis_numpy_twin_is_the_torch_function_and_its_gradient(n, d, noise_var, scale) -> None:
    # gp.acquisition.PlainLogEI (ACQ_NUMPY): the local search's LogEI and its gradient in x written out;
    # the same values and the same derivatives as the torch LogEI under autograd, at random points, at
    # the training rows (sigma ~ 0), just off them, and far away; with and without the outputscale.
    from hpo_tasks.gp import acquisition

    x, y = _data(n, d, {}, seed=5)
    gp, _ = gp_model.fit(x, y, cat_dims=[], noise_var=noise_var, scale=scale)
    assert ("sc" in gp.p) == scale
    acq = LogEI(gp)
    assert isinstance(acq.numpy, acquisition.PlainLogEI)
    rng = np.random.default_rng(6)
    q = np.concatenate([rng.random((40, d)), x[:3], x[:3] + 1e-7, x[:2] + 4.0])  # (m, d)
    assert_log_ei_twin_is_torchs(acq, q)


def test_log_h_and_its_derivative_in_numpy_are_torchs_on_both_sides_of_the_asymptotic_case() -> None:
    from hpo_tasks.gp import acquisition

    z = np.concatenate([-np.logspace(3, -3, 60), [0.0], np.logspace(-3, 1.6, 30)])  # -1000 .. 40
    zt = torch.tensor(z, requires_grad=True)
    values = acquisition.log_h(zt)
    (grad,) = torch.autograd.grad(values.sum(), zt)
    assert (z < acquisition._SMALL_Z).sum() > 10
    np.testing.assert_allclose(acquisition._log_h_np(z), values.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acquisition._dlog_h_np(z), grad.numpy(), rtol=1e-9, atol=1e-12)


def test_a_mixed_model_has_no_numpy_log_ei_and_the_optimiser_takes_torch(monkeypatch) -> None:
    from hpo_tasks.gp import acquisition

    x, y = _data(16, 3, {2: 3})
    gp, _ = gp_model.fit(x, y, cat_dims=[2])
    assert LogEI(gp).numpy is None
    x, y = _data(20, 3, {})
    gp, _ = gp_model.fit(x, y, cat_dims=[])
    info = space_info(space_of({f"p{j}": {"type": "float", "low": 0, "high": 1} for j in range(3)}))
    twin, _ = maximize(LogEI(gp), info, seed=1)
    monkeypatch.setattr(acquisition, "ACQ_NUMPY", False)
    plain = LogEI(gp)
    assert plain.numpy is None
    autograd, _ = maximize(plain, info, seed=1)
    np.testing.assert_allclose(twin[0], autograd[0], atol=1e-5)  # the same best point to rounding


def test_a_local_search_from_a_given_start_finds_a_peak_the_sweep_misses() -> None:
    # gp.optim.maximize(starts=...): the engine's incumbent start (engine.INCUMBENT_START); a peak 1e-3
    # wide in 3 dimensions is between the 2048 swept points, the search from a start beside it climbs it.
    info = space_info(space_of({f"p{j}": {"type": "float", "low": 0, "high": 1} for j in range(3)}))
    peak = np.array([0.3137, 0.6021, 0.4471])

    def acqf(x: torch.Tensor) -> torch.Tensor:
        dist2 = ((x - torch.as_tensor(peak)) ** 2).sum(-1)
        return 10.0 * torch.exp(-dist2 / 1e-6) + 0.1 * x[..., 0]

    without, _ = maximize(acqf, info, seed=0)
    assert without[0][0] == pytest.approx(1.0)  # the slope's end: the sweep never saw the peak
    found, values = maximize(acqf, info, seed=0, starts=(peak + 5e-4)[None])
    assert found[0] == pytest.approx(peak, abs=1e-5)
    assert values[0] == pytest.approx(10.0 + 0.1 * peak[0], rel=1e-6)


@pytest.mark.parametrize("noise_var", [None, 0.01])
def test_the_plain_fits_numpy_factorisation_is_torchs(noise_var: float | None) -> None:
    # ExactGP(sq=...): the plain kernel's Cholesky factor and weights from gp.model._plain_factor (numpy,
    # what fit passes) equal the torch kernel's to rounding, and so does the posterior
    x, y = _data(40, 4, {}, seed=7)
    gp, _ = gp_model.fit(x, y, cat_dims=[], noise_var=noise_var)
    yt = (torch.as_tensor(y) - gp.y_mean) / gp.y_std
    noise = torch.as_tensor(0.0 if noise_var is None else noise_var / gp.y_std**2, dtype=torch.float64)
    ref = gp_model.ExactGP(gp.layout, gp.theta, gp.x, yt, noise, gp.y_mean, gp.y_std)
    np.testing.assert_allclose(gp.chol.numpy(), ref.chol.numpy(), atol=1e-12)
    np.testing.assert_allclose(gp.alpha.numpy(), ref.alpha.numpy(), rtol=1e-9, atol=1e-9)
    q = torch.as_tensor(np.random.default_rng(8).random((20, 4)))
    with torch.no_grad():
        for a, b in zip(gp.posterior(q), ref.posterior(q), strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_a_fit_with_a_categorical_lengthscale_at_its_bound_stores_finite_raw_parameters() -> None:
    # A categorical lengthscale at its lower bound (1e-6) or an outputscale underflowed to 0 has no finite
    # softplus inverse; the stored fit takes the bound's neighbour instead, and maps back to the bound.
    x, y = _data(12, 3, {2: 3})
    layout = gp_model._Layout((0, 1), (2,), True)
    theta = layout.start()
    sl = layout.slices()
    theta[sl["h1"]] = math.log(gp_model.CAT_LENGTHSCALE_MIN)
    theta[sl["b"]] = -800.0  # exp underflows to 0.0
    yt = torch.as_tensor((y - y.mean()) / y.std(ddof=1))
    gp = gp_model.ExactGP(layout, theta, torch.as_tensor(x), yt, torch.tensor(0.0), float(y.mean()), 1.0)
    params = gp.botorch_params()
    flat = np.concatenate([np.ravel(v) for v in params.values()])
    assert np.all(np.isfinite(flat))
    back = layout.from_botorch(params)
    assert back[sl["h1"]] == pytest.approx(math.log(gp_model.CAT_LENGTHSCALE_MIN))


def test_the_plain_outputscale_fits_stores_and_warm_starts() -> None:
    # gp.model.PLAIN_OUTPUTSCALE: the plain kernel's outputscale c is fitted (on data with variance well
    # away from the prior's mode it moves off 1), is the posterior's prior variance far from the rows,
    # and survives the stored fit's round trip, so a warm start begins where the fit ended.
    x, y = _data(25, 3, {}, seed=7)
    gp, _ = gp_model.fit(x, y, cat_dims=[], scale=True)
    c = gp.outputscale()
    assert c != pytest.approx(1.0, abs=1e-3)
    _, var = gp.posterior(torch.full((1, 3), 50.0, dtype=torch.float64))
    assert float(var[0]) == pytest.approx(c * gp.y_std**2, rel=1e-6)
    params = gp.botorch_params()
    assert "covar_module.raw_outputscale" in params
    np.testing.assert_allclose(gp.layout.from_botorch(params), gp.theta, atol=1e-9)
    warm, info = gp_model.fit(x, y, cat_dims=[], scale=True, start=params)
    assert info["fit_steps"] <= 3
    np.testing.assert_allclose(warm.theta, gp.theta, atol=1e-3)
