"""The engine's GP in plain torch: the model of ``engine._make_model``, fitted without gpytorch.

The same model as BoTorch's ``SingleTaskGP`` / ``MixedSingleTaskGP`` as ``engine._make_model`` builds them
(BoTorch 0.18), so a fit here and a fit there reach the same marginal likelihood (``tests/unit/
test_gp_model.py`` checks it); only the per-evaluation overhead of gpytorch/linear_operator is gone:

    plain (no categorical column):  k(x, x') = M(x, x'; l)                       (no outputscale)
                                    c M(x, x'; l) with ``PLAIN_OUTPUTSCALE`` (off; slice sc)
    mixed (o ordinal, c categorical columns, o >= 1):
        k(x, x') = a (M(x_o, x'_o; l1) + b C(x_c, x'_c; h1)) + s M(x_o, x'_o; l2) C(x_c, x'_c; h2)
    all categorical:                k(x, x') = a C(x, x'; h1)

    M    Matern-5/2 with ARD lengthscales l >= 0.025, prior LogNormal(sqrt 2 + log(o) / 2, sqrt 3)
         (Hvarfner et al. 2024, BoTorch's ``get_covar_module_with_dim_scaled_prior``)
    C    BoTorch's ``CategoricalKernel``: exp(-mean_j [x_j != x'_j] / h_j), h >= 1e-6, no prior
    a, b, s   outputscales, > 0, no prior; c (plain, optional): prior Gamma(2, 1)
    noise     learned: sigma^2 >= 1e-4, prior LogNormal(-4, 1) (or ``NOISE_PRIOR_KIND``'s Gamma); fixed:
              the given variance
    mean      a constant m, no prior
    warp      optional, plain kernel only (``fit(warp=True)``): M on w(x), a Kumaraswamy CDF per column
              with concentrations a, b (``gp.input_warp``: its prior, bounds and derivatives)

Outcomes are standardised (mean, sample std with ddof 1, as BoTorch's ``Standardize``); inputs are the
encoded columns as they are (``hpo_tasks.space``: [0, 1], categoricals as indices). The fit maximises
(log N(y | m, K + sigma^2 I) + log priors) / n, as gpytorch's ``ExactMarginalLogLikelihood``, with scipy's
L-BFGS-B from the priors' modes (BoTorch's start), retried from prior samples when L-BFGS-B ends
abnormally (as ``fit_gpytorch_mll``): with a categorical column over BoTorch's raw parameters with its
bounds and step cap, so the fit takes BoTorch's steps; for the plain kernel over the log-parameters
(``FIT_SPACE``). theta (log-parameters) is what the model is evaluated on.

Notations:
    n  training rows, d columns; o ordinal (continuous and integer) columns, c categorical columns
    m  query points
    theta  the log-parameter vector L-BFGS-B moves (``_Layout`` names its slices)

torch is imported inside the functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_tasks.gp import input_warp

LENGTHSCALE_MIN = 2.5e-2  # BoTorch's Matern lengthscale bound
CAT_LENGTHSCALE_MIN = 1e-6  # BoTorch's CategoricalKernel bound
NOISE_MIN = 1e-4  # BoTorch's MIN_INFERRED_NOISE_LEVEL
NOISE_PRIOR = (-4.0, 1.0)  # LogNormal(loc, scale) of the learned noise
# The learned noise's prior: "lognormal", BoTorch's LogNormal(-4, 1) on sigma^2 with sigma^2 >= 1e-4 (its
# log density falls by (log sigma^2 + 4)^2 / 2 below the mode: 13.5 nats at 1e-4, so a noiseless objective
# keeps sigma^2 near 1e-2 of the outcomes' variance); or "gamma", Optuna GPSampler's Gamma(1.1, 30) on
# sigma^2 with sigma^2 >= 1e-6 (below its mode 0.0033 the log density falls 0.1 nats per unit of
# log sigma^2: nearly flat).
# HPO_GP_NOISE_PRIOR sets it.
NOISE_PRIOR_KIND = os.environ.get("HPO_GP_NOISE_PRIOR", "lognormal")
NOISE_GAMMA = (1.1, 30.0)  # Gamma(concentration, rate) of the learned noise, "gamma"
NOISE_MIN_GAMMA = 1e-6  # Optuna's DEFAULT_MINIMUM_NOISE_VAR
# The plain kernel with an outputscale c, k = c M(x, x'; l), prior Gamma(2, 1) on c (Optuna GPSampler's
# kernel scale; mode 1, the standardised outcomes' variance), instead of BoTorch 0.18's SingleTaskGP,
# which fixes it at 1. The single-objective fast path only (``fit(scale=...)``'s default): the BoTorch
# models have no such parameter. HPO_GP_PLAIN_OUTPUTSCALE=1 sets it.
PLAIN_OUTPUTSCALE = os.environ.get("HPO_GP_PLAIN_OUTPUTSCALE", "0") == "1"
SCALE_GAMMA = (2.0, 1.0)  # Gamma(concentration, rate) of the plain kernel's outputscale
# The Matern lengthscales' prior: "dim-scaled", BoTorch's LogNormal(sqrt 2 + log(o) / 2, sqrt 3) (median
# 10 at o = 6: long lengthscales, irrelevant columns, cost little); or "optuna", Optuna GPSampler's
# log p = -(0.1 / rho + 0.1 rho) on rho = 1 / l^2 (mode l = 1; l = 0.1 and l = 10 both cost 10 nats).
# HPO_GP_LENGTHSCALE_PRIOR sets it.
LENGTHSCALE_PRIOR_KIND = os.environ.get("HPO_GP_LENGTHSCALE_PRIOR", "dim-scaled")
FIT_MAXITER = 100  # as engine.FIT_MAXITER
FIT_ATTEMPTS = 5  # as fit_gpytorch_mll's max_attempts
# What L-BFGS-B moves: "raw", BoTorch's raw parameters (``_Layout.raw_bounds``): the objective, start,
# bounds and step cap of ``fit_gpytorch_mll``, so the fit takes BoTorch's steps (its iterates where it
# converges; on mixed spaces BoTorch's fit ends at the cap at small n, and so does this one, near it); or
# "log", the log-parameters (theta; ~15 steps to the optimum, but on mixed spaces it runs categorical
# lengthscales to 1e-6 or 1e16+ and chose worse points: docs/results/2026-12-01-engine-fast-ab.md); or
# "auto", log for the plain kernel (no categorical column: the same or a higher likelihood in 15-23 steps
# where raw takes 25-100, 3-4x faster at n = 500) and raw for the others; the default since its paired
# A/B (12 problems x 10 seeds level: docs/results/2026-12-02-latency-numpy.md). HPO_GP_FIT_SPACE sets it.
FIT_SPACE = os.environ.get("HPO_GP_FIT_SPACE", "auto")
# The plain kernel's fit (every column ordinal) evaluates the objective and its written-out gradient in
# numpy (``_plain_neg_mll_and_grad``) instead of torch autograd; the same function to rounding
# (``tests/unit/test_gp_model.py``). HPO_GP_PLAIN_GRADIENT=0 keeps autograd (the A/B's "before").
PLAIN_GRADIENT = os.environ.get("HPO_GP_PLAIN_GRADIENT", "1") == "1"
# How that gradient forms K^-1: "potri", LAPACK's inverse from the Cholesky factor (a third of the flops),
# or "solve", a triangular solve against the identity (HPO_GP_KINV=solve: the A/B's "before"). The same
# matrix to rounding: docs/results/2026-12-02-kinv.md.
KINV = os.environ.get("HPO_GP_KINV", "potri")
_LN2 = math.log(2.0)  # softplus(0): gpytorch's initial outputscale and categorical lengthscale


def noise_floor() -> float:
    """The learned noise's lower bound (standardised variance) under ``NOISE_PRIOR_KIND``."""
    return NOISE_MIN_GAMMA if NOISE_PRIOR_KIND == "gamma" else NOISE_MIN


def _gamma_logprior(log_x: Any, concentration: float, rate: float) -> tuple[Any, Any]:
    """log Gamma(concentration, rate) density in x (constants dropped) and its derivative in log x, at
    ``log_x`` (numpy or torch)."""
    x = log_x.exp() if hasattr(log_x, "exp") else np.exp(log_x)
    return ((concentration - 1.0) * log_x - rate * x).sum(), (concentration - 1.0) - rate * x


def noise_logprior(log_noise: Any) -> tuple[Any, Any]:
    """The learned noise's log prior density in sigma^2 (constants dropped for "gamma") and its
    derivative in log sigma^2, at ``log_noise`` (numpy or torch, one element)."""
    if NOISE_PRIOR_KIND == "gamma":
        return _gamma_logprior(log_noise, *NOISE_GAMMA)
    loc, scale = NOISE_PRIOR
    return _lognormal_logpdf(log_noise, loc, scale), -1.0 - (log_noise - loc) / scale**2


def scale_logprior(log_c: Any) -> tuple[Any, Any]:
    """The plain kernel's outputscale log prior density in c (constants dropped) and its derivative in
    log c, at ``log_c`` (numpy or torch, one element)."""
    return _gamma_logprior(log_c, *SCALE_GAMMA)


def lengthscale_logprior(log_l: Any, o: int) -> tuple[Any, Any]:
    """The Matern lengthscales' log prior density (``LENGTHSCALE_PRIOR_KIND``; "optuna" without its
    constant) and its derivative in each log l, at ``log_l`` (numpy or torch, ``o`` elements)."""
    if LENGTHSCALE_PRIOR_KIND == "optuna":
        exp = (lambda t: t.exp()) if hasattr(log_l, "exp") else np.exp
        rho, inv_rho = exp(-2.0 * log_l), exp(2.0 * log_l)  # 1 / l^2, l^2
        return -(0.1 * inv_rho + 0.1 * rho).sum(), -0.2 * inv_rho + 0.2 * rho
    loc, scale = lengthscale_prior(o)
    return _lognormal_logpdf(log_l, loc, scale), -1.0 - (log_l - loc) / scale**2


def lengthscale_prior(o: int) -> tuple[float, float]:
    """(loc, scale) of the LogNormal lengthscale prior for ``o`` ordinal columns."""
    return math.sqrt(2.0) + 0.5 * math.log(o), math.sqrt(3.0)


@dataclass(frozen=True)
class _Layout:
    """Where each hyperparameter sits in theta (slices), for one model kind."""

    ordinal: tuple[int, ...]
    categorical: tuple[int, ...]
    learned_noise: bool
    warp: bool = False  # the plain kernel's columns through ``gp.input_warp`` (wa, wb: log a, log b)
    scale: bool = False  # the plain kernel's outputscale (sc: log c; ``PLAIN_OUTPUTSCALE``)

    def index(self) -> tuple[Any, Any]:
        """The ordinal and categorical columns as index tensors (built once per layout)."""
        import torch

        if not hasattr(self, "_index"):
            o = torch.as_tensor(self.ordinal, dtype=torch.long)
            object.__setattr__(self, "_index", (o, torch.as_tensor(self.categorical, dtype=torch.long)))
        return self._index  # type: ignore[attr-defined]

    @property
    def mixed(self) -> bool:
        return bool(self.categorical)

    def slices(self) -> dict[str, slice]:
        o, c = len(self.ordinal), len(self.categorical)
        sizes: list[tuple[str, int]]
        if not self.mixed:
            sizes = [
                ("l1", o),
                *([("wa", o), ("wb", o)] if self.warp else []),
                *([("sc", 1)] if self.scale else []),
            ]
        elif not o:
            sizes = [("a", 1), ("h1", c)]
        else:
            sizes = [("a", 1), ("l1", o), ("b", 1), ("h1", c), ("s", 1), ("l2", o), ("h2", c)]
        if self.learned_noise:
            sizes.append(("noise", 1))
        sizes.append(("mean", 1))
        out, at = {}, 0
        for name, k in sizes:
            out[name] = slice(at, at + k)
            at += k
        return out

    def start(self) -> np.ndarray:
        """BoTorch's initial values: the priors' modes, softplus(0) for outputscales and categorical
        lengthscales, the noise prior's mode, mean 0 (theta: logs, the mean as it is)."""
        loc, scale = lengthscale_prior(max(len(self.ordinal), 1))
        theta = np.zeros(self.size)
        for name, sl in self.slices().items():
            if name in ("l1", "l2"):
                theta[sl] = 0.0 if LENGTHSCALE_PRIOR_KIND == "optuna" else loc - scale**2
            elif name in ("a", "b", "s"):
                theta[sl] = math.log(_LN2)
            elif name in ("h1", "h2"):
                theta[sl] = math.log(_LN2 + CAT_LENGTHSCALE_MIN)
            elif name == "noise":
                c, r = NOISE_GAMMA
                gamma_mode = math.log((c - 1.0) / r)
                theta[sl] = (
                    gamma_mode if NOISE_PRIOR_KIND == "gamma" else NOISE_PRIOR[0] - NOISE_PRIOR[1] ** 2
                )
        return theta

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A restart: lengthscales and noise drawn from their priors, the rest at ``start`` (as
        BoTorch's ``sample_all_priors`` after a rollback)."""
        theta = self.start()
        loc, scale = lengthscale_prior(max(len(self.ordinal), 1))
        if LENGTHSCALE_PRIOR_KIND == "optuna":  # about its mode l = 1, a factor e either way
            loc, scale = 0.0, 1.0
        for name, sl in self.slices().items():
            if name in ("l1", "l2"):
                theta[sl] = np.maximum(rng.normal(loc, scale, sl.stop - sl.start), math.log(LENGTHSCALE_MIN))
            elif name == "noise" and NOISE_PRIOR_KIND == "gamma":
                c, r = NOISE_GAMMA
                theta[sl] = max(math.log(rng.gamma(c, 1.0 / r)), math.log(NOISE_MIN_GAMMA))
            elif name == "noise":
                theta[sl] = max(rng.normal(*NOISE_PRIOR), math.log(NOISE_MIN))
        return theta

    def from_botorch(self, params: Mapping[str, Any]) -> np.ndarray:
        """theta from ``ExactGP.botorch_params``' form (a stored fit); KeyError when it is another
        model kind's."""
        flat = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in params.items()}
        names = _botorch_names(self)
        if set(flat) != set(names.values()):
            raise KeyError(
                f"stored hyperparameters {sorted(flat)} do not match the model's {sorted(names.values())}"
            )
        theta = np.zeros(self.size)
        for key, sl in self.slices().items():
            raw = flat[names[key]]
            if raw.size != sl.stop - sl.start:
                raise KeyError(f"stored {names[key]} has {raw.size} values, the model {sl.stop - sl.start}")
            if key == "mean":
                theta[sl] = raw
            elif key in ("a", "b", "s", "sc"):
                theta[sl] = np.log(np.logaddexp(0.0, raw))  # softplus
            elif key in ("h1", "h2"):
                theta[sl] = np.log(np.logaddexp(0.0, raw) + CAT_LENGTHSCALE_MIN)
            else:  # lengthscales and noise: no transform in BoTorch
                theta[sl] = np.log(np.maximum(raw, 1e-300))
        return np.maximum(theta, [lo if lo is not None else -np.inf for lo, _ in self.bounds()])

    def to_raw(self, theta: np.ndarray) -> np.ndarray:
        """theta -> BoTorch's raw parameters (``from_botorch``'s inverse, flat)."""
        raw = np.array(theta, dtype=float)
        for key, sl in self.slices().items():
            v = np.exp(theta[sl])
            if key in ("a", "b", "s", "sc"):
                raw[sl] = v + np.log(-np.expm1(-v))  # softplus^-1
            elif key in ("h1", "h2"):
                u = np.maximum(v - CAT_LENGTHSCALE_MIN, 1e-300)
                raw[sl] = u + np.log(-np.expm1(-u))
            elif key != "mean":
                raw[sl] = v
        return raw

    def theta_of_raw(self, raw: Any) -> Any:
        """BoTorch's raw parameters (a torch vector) -> theta, differentiable (``from_botorch`` in torch)."""
        import torch

        parts = []
        for key, sl in self.slices().items():
            v = raw[sl]
            if key in ("a", "b", "s", "sc"):
                v = torch.nn.functional.softplus(v).log()
            elif key in ("h1", "h2"):
                v = (torch.nn.functional.softplus(v) + CAT_LENGTHSCALE_MIN).log()
            elif key != "mean":
                v = v.log()
            parts.append(v)
        return torch.cat(parts)

    def raw_bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds on the raw parameters: BoTorch's untransformed lower bounds (Matern
        lengthscales, noise); softplus-constrained and free parameters unbounded."""
        return [(None if lo is None else math.exp(lo), hi) for lo, hi in self.bounds()]

    @property
    def size(self) -> int:
        return max(sl.stop for sl in self.slices().values())

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(None, None)] * self.size
        for name, sl in self.slices().items():
            low = {"l1": LENGTHSCALE_MIN, "l2": LENGTHSCALE_MIN, "noise": noise_floor()}.get(name)
            low = CAT_LENGTHSCALE_MIN if name in ("h1", "h2") else low
            bound: tuple[float | None, float | None] = (math.log(low) if low is not None else None, None)
            if name in ("wa", "wb"):
                bound = input_warp.LOG_BOUNDS
            out[sl] = [bound] * (sl.stop - sl.start)
        return out


def _parts(layout: _Layout, x1: Any, x2: Any) -> tuple[Any, Any]:
    """What the kernel needs of ``... x m x d`` and ``n x d`` points, independent of the
    hyperparameters: squared differences of the ordinal columns ``... x m x n x o`` and mismatches of
    the categorical ones ``... x m x n x c`` (computed once per fit for the training rows)."""
    if not layout.categorical:  # every column ordinal: no gather (a copy per call)
        diff = x1.unsqueeze(-2) - x2  # (..., m, n, d)
        return diff * diff, None
    o, c = layout.index()
    diff = x1.index_select(-1, o).unsqueeze(-2) - x2.index_select(-1, o)  # (..., m, n, o)
    neq = (x1.index_select(-1, c).unsqueeze(-2) != x2.index_select(-1, c)).to(x1.dtype)  # (..., m, n, c)
    return diff * diff, neq


def _matern52(sq: Any, ls: Any) -> Any:
    """Matern-5/2 from squared differences ``... x o`` and lengthscales ``o``: ``...``."""
    import torch

    r2 = (sq @ (1.0 / (ls * ls))).clamp_min(1e-30)
    r = torch.sqrt(5.0 * r2)
    return (1.0 + r + (5.0 / 3.0) * r2) * torch.exp(-r)


def _categorical(neq: Any, h: Any) -> Any:
    """BoTorch's CategoricalKernel from mismatches ``... x c`` and lengthscales ``c``: ``...``."""
    import torch

    return torch.exp(-(neq @ (1.0 / h)) / h.shape[-1])


def _kernel_of(layout: _Layout, p: Mapping[str, Any], sq: Any, neq: Any) -> Any:
    """k from ``_parts``: ``... x m x n``."""
    if not layout.mixed:
        return p["sc"] * _matern52(sq, p["l1"]) if layout.scale else _matern52(sq, p["l1"])
    c1 = _categorical(neq, p["h1"])
    if not layout.ordinal:
        return p["a"] * c1
    c2 = _categorical(neq, p["h2"])
    return p["a"] * (_matern52(sq, p["l1"]) + p["b"] * c1) + p["s"] * _matern52(sq, p["l2"]) * c2


def _kernel(layout: _Layout, p: Mapping[str, Any], x1: Any, x2: Any) -> Any:
    """k(x1, x2) for ``... x m x d`` and ``n x d``: ``... x m x n``."""
    return _kernel_of(layout, p, *_parts(layout, x1, x2))


def _prior_variance(layout: _Layout, p: Mapping[str, Any]) -> Any:
    """k(x, x), the same at every x."""
    if not layout.mixed:
        return p["sc"] if layout.scale else 1.0
    if not layout.ordinal:
        return p["a"]
    return p["a"] * (1.0 + p["b"]) + p["s"]


def _lognormal_logpdf(x_log: Any, loc: float, scale: float) -> Any:
    """Sum of log LogNormal(loc, scale) densities at x = exp(x_log) (the density in x, as gpytorch)."""
    return (
        -x_log - math.log(scale) - 0.5 * math.log(2 * math.pi) - (x_log - loc) ** 2 / (2 * scale**2)
    ).sum()


def _cholesky(a: Any) -> Any:
    """Cholesky with gpytorch's jitter schedule (1e-8, 1e-7, 1e-6 added on failure)."""
    import torch

    chol, info = torch.linalg.cholesky_ex(a)
    jitter = 1e-8
    eye = torch.eye(a.shape[-1], dtype=a.dtype)
    while int(info) and jitter <= 1e-6:
        chol, info = torch.linalg.cholesky_ex(a + jitter * eye)
        jitter *= 10
    if int(info):
        raise np.linalg.LinAlgError("kernel matrix not positive definite, even with jitter")
    return chol


class ExactGP:
    """A fitted GP: hyperparameters, the Cholesky factor and the weights, for a closed-form posterior.

    Build it with ``fit``. ``posterior`` is differentiable in its input (the acquisition's local search).
    """

    def __init__(
        self,
        layout: _Layout,
        theta: np.ndarray,
        x: Any,
        y: Any,
        noise: Any,
        y_mean: float,
        y_std: float,
        *,
        sq: np.ndarray | None = None,
    ) -> None:
        """``sq``: the plain kernel's squared differences of ``x`` (``n x n x d``), when the caller has them:
        the factorisation then runs in numpy, as the fit's (``_plain_factor``)."""
        import torch

        self.layout, self.theta = layout, theta
        self.y_mean, self.y_std = y_mean, y_std
        self.x = x  # (n, d)
        t = torch.as_tensor(theta, dtype=torch.float64)
        self.p = _unpack(layout, t)
        slices = layout.slices()
        self.log_warp = (t[slices["wa"]], t[slices["wb"]]) if layout.warp else None  # (d,) each
        self.wx = self.warp(x)  # (n, d): the rows as the kernel sees them
        var = self.p["noise"] if layout.learned_noise else noise  # () or (n,) standardised
        if sq is not None:  # the fit's own numpy factorisation (a third of torch's time at n = 500)
            chol, alpha, _ = _plain_factor(layout, theta, sq, y.numpy(), noise.numpy())
            self.chol, self.alpha = torch.from_numpy(chol), torch.from_numpy(alpha)
        else:
            k = _kernel(layout, self.p, self.wx, self.wx) + torch.diag(torch.broadcast_to(var, (len(x),)))
            self.chol = _cholesky(k)  # (n, n)
            self.alpha = torch.cholesky_solve((y - self.p["mean"]).unsqueeze(-1), self.chol).squeeze(-1)
        self.noise = float(var.mean()) if hasattr(var, "mean") else float(var)
        self.train_y = y * y_std + y_mean  # (n,) original scale

    def believing(self, pending_x: np.ndarray) -> ExactGP:
        """The same hyperparameters conditioned on ``p x d`` pending points observed at their posterior
        means ("Kriging believer"): the mean is unchanged everywhere, the variance shrinks at and near
        the pending points, so an acquisition on this model steers away from what is already running."""
        import torch

        xp = torch.as_tensor(pending_x, dtype=torch.float64)  # (p, d)
        with torch.no_grad():
            mu, _ = self.posterior(xp)  # (p,) outcome scale
        x = torch.cat([self.x, xp])  # (n + p, d)
        y = (torch.cat([self.train_y, mu]) - self.y_mean) / self.y_std  # (n + p,) standardised
        noise = torch.as_tensor(self.noise, dtype=torch.float64)  # the fixed one (a learned one is in theta)
        return ExactGP(self.layout, self.theta, x, y, noise, self.y_mean, self.y_std)

    def warp(self, x: Any) -> Any:
        """``... x d`` points as the kernel sees them: through the input warp, when the fit has one."""
        if self.log_warp is None:
            return x
        return input_warp.warp_torch(x, *self.log_warp)

    def input_warp(self, names: Sequence[str]) -> dict[str, list[float]]:
        """The warp's concentrations [a, b] per column name; empty without a warp."""
        if self.log_warp is None:
            return {}
        a, b = (v.exp().tolist() for v in self.log_warp)
        return {names[j]: [round(a[k], 4), round(b[k], 4)] for k, j in enumerate(self.layout.ordinal)}

    def posterior(self, x: Any) -> tuple[Any, Any]:
        """Mean and variance (no observation noise) on the outcome's scale at ``... x m x d``: two
        ``... x m`` tensors."""
        import torch

        ks = _kernel(self.layout, self.p, self.warp(x), self.wx)  # (..., m, n)
        mean = self.p["mean"] + ks @ self.alpha  # (..., m)
        flat = ks.reshape(-1, ks.shape[-1])  # (M, n), M = all query points
        v = torch.linalg.solve_triangular(self.chol, flat.T, upper=False)  # (n, M): one solve, M columns
        var = (_prior_variance(self.layout, self.p) - (v * v).sum(0)).reshape(mean.shape).clamp_min(0.0)
        return mean * self.y_std + self.y_mean, var * self.y_std**2

    def lengthscales(self, names: Sequence[str]) -> dict[str, float]:
        """The first kernel's lengthscale per column name (as ``engine._diagnostics``)."""
        out: dict[str, float] = {}
        for key, dims in (("l1", self.layout.ordinal), ("h1", self.layout.categorical)):
            if key in self.p:
                for dim, v in zip(dims, self.p[key].reshape(-1).tolist(), strict=True):
                    out[names[dim]] = round(float(v), 5)
        return {names[i]: out[names[i]] for i in range(len(names)) if names[i] in out}

    def outputscale(self) -> float:
        return float(self.p["a"]) if "a" in self.p else float(self.p["sc"]) if "sc" in self.p else 1.0

    def botorch_params(self) -> dict[str, list[float] | float]:
        """This fit as the raw parameters of the BoTorch model ``engine._make_model`` builds (names and
        shapes of its ``named_parameters``), for ``engine._load_params`` and the stored fit history."""
        p = {k: v.detach().reshape(-1).tolist() for k, v in self.p.items()}

        def softplus_inv(v: float, low: float = 0.0) -> float:
            # a parameter at its bound (a categorical lengthscale at 1e-6) or underflowed to it: u = 0,
            # whose inverse is -inf; 1e-300 maps back to the bound (``from_botorch``)
            u = max(v - low, 1e-300)
            return u + math.log(-math.expm1(-u))

        out: dict[str, Any] = {}
        for key, name in _botorch_names(self.layout).items():
            if key == "mean":
                out[name] = p[key][0]
            elif key == "noise":
                out[name] = p[key]  # shape (1,)
            elif key in ("a", "b", "s", "sc"):
                out[name] = softplus_inv(p[key][0])  # shape ()
            elif key in ("h1", "h2"):
                out[name] = [[softplus_inv(v, CAT_LENGTHSCALE_MIN) for v in p[key]]]  # (1, c)
            else:
                out[name] = [p[key]]  # (1, o)
        return out


def _botorch_names(layout: _Layout) -> dict[str, str]:
    """Each theta slice's raw parameter in the BoTorch model ``engine._make_model`` builds."""
    out: dict[str, str] = {}
    if layout.learned_noise:
        out["noise"] = "likelihood.noise_covar.raw_noise"
    out["mean"] = "mean_module.raw_constant"
    if not layout.mixed:
        # with the outputscale, a ScaleKernel's names (engine._make_model's SingleTaskGP has none)
        out["l1"] = (
            "covar_module.base_kernel.raw_lengthscale" if layout.scale else "covar_module.raw_lengthscale"
        )
        if layout.scale:
            out["sc"] = "covar_module.raw_outputscale"
        if layout.warp:  # BoTorch's Warp names (a: concentration1, b: concentration0), as values
            out["wa"] = "input_transform.concentration1"
            out["wb"] = "input_transform.concentration0"
    elif not layout.ordinal:
        out["a"] = "covar_module.raw_outputscale"
        out["h1"] = "covar_module.base_kernel.raw_lengthscale"
    else:
        c0, c1 = "covar_module.kernels.0", "covar_module.kernels.1"
        out["a"] = f"{c0}.raw_outputscale"
        out["l1"] = f"{c0}.base_kernel.kernels.0.raw_lengthscale"
        out["b"] = f"{c0}.base_kernel.kernels.1.raw_outputscale"
        out["h1"] = f"{c0}.base_kernel.kernels.1.base_kernel.raw_lengthscale"
        out["s"] = f"{c1}.raw_outputscale"
        out["l2"] = f"{c1}.base_kernel.kernels.0.raw_lengthscale"
        out["h2"] = f"{c1}.base_kernel.kernels.1.raw_lengthscale"
    return out


def _unpack(layout: _Layout, theta: Any) -> dict[str, Any]:
    """theta -> hyperparameters on their own scale (exp of the logs; the mean as it is)."""
    out = {}
    for name, sl in layout.slices().items():
        v = theta[sl]
        if name == "mean":
            out[name] = v[0]
        elif name in ("a", "b", "s", "sc", "noise"):
            out[name] = v[0].exp()
        else:
            out[name] = v.exp()
    return out


def neg_mll(layout: _Layout, theta: Any, parts: tuple[Any, Any], y: Any, noise: Any) -> Any:
    """-(log N(y | m, K + sigma^2 I) + log priors) / n at ``theta`` (a torch vector); ``parts``: the
    training rows' ``_parts``."""
    import torch

    p = _unpack(layout, theta)
    n = len(y)
    var = p["noise"] if layout.learned_noise else noise
    k = _kernel_of(layout, p, *parts) + torch.diag(torch.broadcast_to(var, (n,)))  # (n, n)
    chol = _cholesky(k)  # (n, n)
    r = (y - p["mean"]).unsqueeze(-1)  # (n, 1)
    z = torch.linalg.solve_triangular(chol, r, upper=False)  # (n, 1)
    loglik = -0.5 * (z * z).sum() - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)
    slices = layout.slices()
    logprior = theta.new_zeros(())
    for name in ("l1", "l2"):
        if name in slices and layout.ordinal:
            logprior = logprior + lengthscale_logprior(theta[slices[name]], len(layout.ordinal))[0]
    if layout.scale:
        logprior = logprior + scale_logprior(theta[slices["sc"]])[0]
    if layout.learned_noise:
        logprior = logprior + noise_logprior(theta[slices["noise"]])[0]
    return -(loglik + logprior) / n


def matern52_np(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_matern52`` in numpy from scaled squared distances ``r2`` (clamped at 1e-30): u = sqrt(5 r2),
    exp(-u) and the kernel value, each of ``r2``'s shape (the first two for the written-out gradients)."""
    r2 = np.maximum(r2, 1e-30)
    u = np.sqrt(5.0 * r2)
    eu = np.exp(-u)
    return u, eu, (1.0 + u + (5.0 / 3.0) * r2) * eu


def _plain_factor(
    layout: _Layout, theta: np.ndarray, sq: np.ndarray, y: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
    """The plain kernel's K + sigma^2 I in numpy from the squared differences ``n x n x o``: its
    Cholesky factor (with ``_cholesky``'s jitter schedule), alpha = K^-1 (y - m), and what the gradient
    reuses (r = y - m, u, exp(-u), sigma^2). Raises ``np.linalg.LinAlgError`` as ``_cholesky``."""
    from scipy.linalg import cho_solve

    slices = layout.slices()
    n = len(y)
    inv_l2 = np.exp(-2.0 * theta[slices["l1"]])  # (o,)
    u, eu, k = matern52_np(sq @ inv_l2)  # (n, n) each
    if layout.scale:
        k *= np.exp(theta[slices["sc"]][0])
    var = np.exp(theta[slices["noise"]][0]) if layout.learned_noise else noise
    k[np.diag_indices(n)] += np.broadcast_to(var, (n,))
    chol = None
    for jitter in (0.0, 1e-8, 1e-7, 1e-6):  # _cholesky's schedule
        try:
            chol = np.linalg.cholesky(k if not jitter else k + jitter * np.eye(n))
            break
        except np.linalg.LinAlgError:
            continue
    if chol is None:
        raise np.linalg.LinAlgError("kernel matrix not positive definite, even with jitter")
    r = y - theta[slices["mean"]][0]  # (n,)
    alpha = cho_solve((chol, True), r)  # (n,)
    return chol, alpha, (r, u, eu, var)


def warped_sq(layout: _Layout, theta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The plain kernel's rows through the input warp at ``theta``: w, dw / dlog a, dw / dlog b (``n x d``
    each) and the squared differences of w, ``n x n x d``."""
    slices = layout.slices()
    w, dla, dlb = input_warp.warp_and_grads_np(x, theta[slices["wa"]], theta[slices["wb"]])
    diff = w[:, None, :] - w  # (n, n, d)
    return w, dla, dlb, diff * diff


def _plain_neg_mll_and_grad(
    layout: _Layout,
    theta: np.ndarray,
    sq: np.ndarray | None,
    y: np.ndarray,
    noise: np.ndarray,
    x: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """``neg_mll`` and its gradient in theta for the plain kernel (every column ordinal), in numpy with
    the gradient written out: the same value as the torch version, without autograd's per-op cost (~0.8
    ms an evaluation at n = 10, most of the fit; docs/results/2026-12-01-latency-idle.md).

        K = M(l) + sigma^2 I,  r = y - m,  alpha = K^-1 r,  W = alpha alpha^T - K^-1
        d loglik / d m = sum(alpha);  d loglik / d log sigma^2 = sigma^2 tr(W) / 2
        d loglik / d log l_k = sum_ij W_ij (5/3)(1 + u_ij) exp(-u_ij) sq_ijk / l_k^2 / 2,
            u = sqrt(5 r2), r2 = sum_k sq_k / l_k^2  (Matern-5/2's dk/dr2 = -(5/6)(1 + u) exp(-u))

    With the input warp (``layout.warp``; ``gp.input_warp``) sq is that of the warped rows w, computed
    here from the rows ``x``, and with G = (5/3)(1 + u) exp(-u) W (``dk`` below, symmetric):

        d loglik / d w_ik = -(w_ik sum_j G_ij - sum_j G_ij w_jk) / l_k^2
        d loglik / d log a_k = sum_i d loglik / d w_ik * dw_ik / dlog a_k   (and b alike)

    ``sq``: the training rows' squared differences ``n x n x o`` (None with the warp); ``noise``: the
    fixed standardised variance (``()`` or ``(n,)``) when the noise is not learned. Raises
    ``np.linalg.LinAlgError`` as ``_cholesky`` does."""
    from scipy.linalg import cho_solve, lapack

    slices = layout.slices()
    n = len(y)
    if layout.warp:
        assert x is not None
        wx, dla, dlb, sq = warped_sq(layout, theta, x)
    assert sq is not None
    log_l = theta[slices["l1"]]
    inv_l2 = np.exp(-2.0 * log_l)  # (o,)
    chol, alpha, (r, u, eu, var) = _plain_factor(layout, theta, sq, y, noise)
    loglik = -0.5 * r @ alpha - np.log(np.diag(chol)).sum() - 0.5 * n * math.log(2 * math.pi)
    if KINV == "potri":  # fills the lower triangle only
        k_inv, info = lapack.dpotri(chol, lower=1)  # (n, n)
        if info:
            raise np.linalg.LinAlgError(f"potri failed (info {info})")
        k_inv = np.tril(k_inv)
        k_inv += np.tril(k_inv, -1).T
    else:
        k_inv = cho_solve((chol, True), np.eye(n))  # (n, n)
    w = np.outer(alpha, alpha) - k_inv  # (n, n)
    grad = np.zeros_like(theta)
    c = np.exp(theta[slices["sc"]][0]) if layout.scale else 1.0
    dk = (5.0 / 3.0) * c * (1.0 + u) * eu * w  # (n, n): W_ij times -2 dk/dr2
    grad[slices["l1"]] = 0.5 * (dk.reshape(-1) @ sq.reshape(n * n, -1)) * inv_l2  # sum_ij dk_ij sq_ijk
    grad[slices["mean"]] = alpha.sum()
    value, prior_grad = lengthscale_logprior(log_l, max(len(layout.ordinal), 1))
    logprior = float(value)
    grad[slices["l1"]] += prior_grad
    if layout.warp:
        gw = -(wx * dk.sum(1)[:, None] - dk @ wx) * inv_l2  # (n, d): d loglik / dw
        for name, dw in (("wa", dla), ("wb", dlb)):
            value, prior_grad = input_warp.log_prior_and_grad(theta[slices[name]])
            grad[slices[name]] = (gw * dw).sum(0) + prior_grad
            logprior += value
    if layout.scale:  # d loglik / d log c = sum_ij W_ij (c M)_ij / 2, c M = K - sigma^2 I
        cm = c * (1.0 + u + u * u / 3.0) * eu  # (n, n): Matern-5/2 from the factor's u, exp(-u)
        value, prior_grad = scale_logprior(theta[slices["sc"]])
        grad[slices["sc"]] = 0.5 * (w * cm).sum() + prior_grad
        logprior += float(value)
    if layout.learned_noise:
        log_noise = theta[slices["noise"]]
        value, prior_grad = noise_logprior(log_noise)
        if NOISE_PRIOR_KIND == "gamma":
            grad[slices["noise"]] = 0.5 * var * np.trace(w) + prior_grad
        else:  # the same sum as prior_grad, grouped as before the switch: the same fit to the last bit
            grad[slices["noise"]] = (
                0.5 * var * np.trace(w) - 1.0 - (log_noise - NOISE_PRIOR[0]) / NOISE_PRIOR[1] ** 2
            )
        logprior += float(value)
    return float(-(loglik + logprior) / n), -grad / n


def standardize(train_y: np.ndarray) -> tuple[float, float]:
    """BoTorch's ``Standardize``: the mean and the sample std (ddof 1), std 1 when under 1e-8 or n = 1."""
    mean = float(np.mean(train_y))
    std = float(np.std(train_y, ddof=1)) if len(train_y) > 1 else float("nan")
    return mean, std if std >= 1e-8 else 1.0


def fit(
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    cat_dims: Sequence[int],
    noise_var: float | None = None,
    seed: int = 0,
    maxiter: int = FIT_MAXITER,
    start: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    warp: bool = False,
    scale: bool | None = None,
) -> tuple[ExactGP, dict[str, Any]]:
    """Fit the GP to ``n x d`` points and ``n`` outcomes (larger is better; any scale).

    Args:
        cat_dims: the categorical columns (values are category indices).
        warp: fit an input warp (``gp.input_warp``) with the kernel, where it applies: the plain kernel
            with its written-out gradient (``PLAIN_GRADIENT``), on the log-parameters.
        noise_var: a fixed observation noise variance in outcome units, or None: learned.
        scale: fit the plain kernel's outputscale (no categorical column); None: ``PLAIN_OUTPUTSCALE``.
        seed: the prior samples of a restart (only after an abnormal L-BFGS-B end).
        start: a stored fit (``ExactGP.botorch_params``' form) to start one L-BFGS-B run from, with
            ``options`` (scipy's); no restarts: an abnormal end raises (the caller's full fit follows).

    Returns the fitted model and ``{"fit_steps": L-BFGS-B iterations, "attempts": runs, "neg_mll": ...}``.
    Raises ``np.linalg.LinAlgError`` or ``RuntimeError`` when every attempt fails (the caller falls back).
    """
    import torch
    from scipy.optimize import minimize

    d = train_x.shape[1]
    cats = tuple(sorted(int(i) for i in cat_dims))
    warp = warp and not cats and PLAIN_GRADIENT
    scale = (PLAIN_OUTPUTSCALE if scale is None else scale) and not cats
    layout = _Layout(
        tuple(i for i in range(d) if i not in cats), cats, noise_var is None, warp=warp, scale=scale
    )
    y_mean, y_std = standardize(train_y)
    x = torch.as_tensor(train_x, dtype=torch.float64)  # (n, d)
    y = torch.as_tensor((train_y - y_mean) / y_std, dtype=torch.float64)  # (n,)
    noise = torch.as_tensor(0.0 if noise_var is None else noise_var / y_std**2, dtype=torch.float64)

    written = not layout.mixed and PLAIN_GRADIENT
    xn = x.numpy()
    sq_np: np.ndarray | None = None  # with the warp: at every theta (``_plain_neg_mll_and_grad``)
    if written and not warp:  # numpy's squared differences; torch's parts only for autograd
        diff = xn[:, None, :] - xn  # (n, n, d)
        sq_np = diff * diff
    elif not warp:
        parts = _parts(layout, x, x)  # (n, n, o), (n, n, c)
        sq_np = parts[0].numpy()
    y_np, noise_np = y.numpy(), noise.numpy()

    raw_space = not warp and (FIT_SPACE == "raw" or (FIT_SPACE == "auto" and layout.mixed))

    def autograd_fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        loss = neg_mll(layout, layout.theta_of_raw(t) if raw_space else t, parts, y, noise)
        (grad,) = torch.autograd.grad(loss, t)
        return loss.item(), grad.numpy().copy()

    positive = np.ones(layout.size, dtype=bool)  # raw lengthscales and noise: theta = log(raw)
    positive[layout.slices()["mean"]] = False

    def plain_fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        """The same function and gradient for the plain kernel, written out (``PLAIN_GRADIENT``)."""
        if not raw_space:
            return _plain_neg_mll_and_grad(layout, z, sq_np, y_np, noise_np, xn)
        safe = np.where(positive, z, 1.0)
        theta = np.where(positive, np.log(safe), z)
        value, grad = _plain_neg_mll_and_grad(layout, theta, sq_np, y_np, noise_np)
        return value, np.where(positive, grad / safe, grad)

    fun = plain_fun if written else autograd_fun

    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray] | None = None
    steps = 0
    err: Exception | None = None
    opts = dict(options) if options is not None else {"maxiter": maxiter}
    for attempt in range(1, FIT_ATTEMPTS + 1 if start is None else 2):
        if start is not None:
            theta0 = layout.from_botorch(start)
        else:
            theta0 = layout.start() if attempt == 1 else layout.sample(rng)
        z0, bounds = (layout.to_raw(theta0), layout.raw_bounds()) if raw_space else (theta0, layout.bounds())
        try:
            res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
        except (np.linalg.LinAlgError, RuntimeError, ValueError) as e:
            err = e
            continue
        steps += int(res.nit)
        if np.isfinite(res.fun) and (best is None or res.fun < best[0]):
            z = torch.as_tensor(res.x, dtype=torch.float64)
            best = (float(res.fun), layout.theta_of_raw(z).numpy() if raw_space else res.x)
        # scipy's "ABNORMAL" line-search end is what makes fit_gpytorch_mll restart from the priors;
        # success and the iteration cap both stop here.
        if res.success or res.status == 1:
            break
        if start is not None:
            raise RuntimeError(f"warm L-BFGS-B run ended abnormally: {res.message}")
    if best is None:
        raise RuntimeError(f"every fit attempt failed: {err}")
    if warp:
        sq_np = warped_sq(layout, best[1], xn)[3]
    model = ExactGP(layout, best[1], x, y, noise, y_mean, y_std, sq=sq_np if written else None)
    return model, {"fit_steps": steps, "attempts": attempt, "neg_mll": best[0]}
