"""BoTorch GP-BO: fit a GP to the observations, pick the next point by an acquisition function.

The model, the acquisitions, batches of q, mixed spaces, the fallback and the trust region are described
(with their citations) in docs/gp-engine.md; failed trials in ``hpo_tasks.gp.feasibility``.

Notations:
    n  observations (completed trials; larger outcome is better)
    p  pending points (trials asked but not finished: earlier members of this batch, running trials)
    f  failed trials (feasibility model only)
    d  encoded width of the search space (``hpo_tasks.space``: one column per parameter)
    R  restarts of the acquisition optimiser

torch and botorch are imported inside the functions: importing ``hpo_tasks`` stays cheap.

The fast path (``FAST_PATH``, ``_suggest_fast``) uses ``gp.model`` (the same GP in plain torch),
``gp.acquisition`` (closed-form LogEI) and ``gp.optim`` (sweep + batched local search) instead of BoTorch.

Why 600 lines in one module: it still holds the model (fit, warm fit, noise), the acquisition builders and
the optimiser side by side. Splitting them into ``model``/``acqf``/``optim`` modules with one
``suggest_next`` for every case (``gp/multi.py``'s loop folded in) is the engine issue's reshaping of
``gp/`` (issue 14), which the structure redesign left to it on purpose.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_tasks.gp.feasibility import impute_failures
from hpo_tasks.gp.types import SpaceInfo, Suggestion

if TYPE_CHECKING:
    from hpo_tasks.gp.turbo import Region

ACQUISITIONS = ("logei", "ucb", "pi", "thompson", "kg", "mes")
FIT_MAXITER = 100
# Warm start (each GP trial stores its fit, GP_STATE_ATTR): a fit starts from the latest earlier fitted
# hyperparameters with one loose L-BFGS-B run; a full fit (from the priors' modes, FIT_MAXITER) runs when
# nothing fits as a start (first GP step, new dims, another model kind), when the warm run fails, and
# once every FULL_FIT_EVERY observations.
FULL_FIT_EVERY = 10
WARM_FIT_OPTIONS = {"maxiter": 30, "ftol": 1e-6}  # scipy's defaults: ftol 2.2e-9, no iteration cap
PI_MARGIN = 0.1  # pi: required improvement, in outcome standard deviations
SMALL_PROBLEM = 1000  # observations below which the GP runs on one CPU thread
# The fast path (``_suggest_fast``): the same GP fitted in plain torch (``hpo_tasks.gp.model``) and its
# closed-form LogEI maximised by a QMC sweep and batched local searches (``hpo_tasks.gp.optim``), for the
# cases it covers: logei, nothing pending, no failed trials, no trust region, CPU. Everything else (and
# a fast fit that fails) takes the BoTorch path. Latency: docs/results/2026-12-01-engine-fast.md.
# On by default since its paired A/B (6 problems, 5-9 seeds, the fit on BoTorch's raw parameters: no
# problem worse beyond noise @20 or @50; docs/results/2026-12-01-engine-fast-ab.md). HPO_GP_FAST_PATH=0
# in the environment turns it off (bench workers inherit it); so does this flag.
FAST_PATH = os.environ.get("HPO_GP_FAST_PATH", "1") == "1"
# Pending points on the fast path (HPO_GP_FAST_PENDING=1): the fitted GP conditioned on the pending points
# at their posterior means ("Kriging believer", ``ExactGP.believing``), LogEI on that, instead of the
# BoTorch path's qLogNEI with X_pending, for a round's later asks and every async lane's ask. Off: its
# paired A/Bs were behind in rounds and level in async lanes (docs/results/2026-12-03-fast-pending.md).
FAST_PENDING = os.environ.get("HPO_GP_FAST_PENDING", "0") == "1"
# The fast path's local search also starts from the incumbent (the training row with the best posterior
# mean, LogEI's plug-in), in place of one roulette start, as Optuna's GPSampler starts one from its best
# trial: it refines the best point found. HPO_GP_INCUMBENT_START=1 turns it on.
INCUMBENT_START = os.environ.get("HPO_GP_INCUMBENT_START", "0") == "1"
# The fast path's plain kernel (no categorical column) fits a Kumaraswamy input warp per column with its
# hyperparameters (``gp.input_warp``). Off: its paired A/B was level overall, better on XGBoost and worse
# on noisy Branin (docs/results/2026-12-02-input-warp-and-seed-design.md). HPO_GP_INPUT_WARP=1 turns it on.
INPUT_WARP = os.environ.get("HPO_GP_INPUT_WARP", "0") == "1"
# An occasional exploratory ask on the fast path: with this probability (drawn from the ask's seed, so
# reproducible) the acquisition is UCB with EXPLORE_BETA instead of LogEI, against LogEI's local climbs in
# a poor basin (the suite's stalled Hartmann6 seeds, docs/results/2026-12-02-benchmark.md). Off (0) until
# its A/B; HPO_GP_EXPLORE sets it.
EXPLORE_PROB = float(os.environ.get("HPO_GP_EXPLORE", "0"))
EXPLORE_BETA = 9.0  # mu + 3 sigma
# The stall rule (HPO_GP_STALL=k, 0 off): once the incumbent (the best posterior mean at the trials, in
# trial order) has not improved by STALL_TOL outcome standard deviations for k trials, every
# STALL_EVERY-th fast-path ask (HPO_GP_STALL_EVERY, from the k-th on) is the exploratory UCB one, until an
# ask improves it again. Against LogEI's climbs in a poor basin, where each new point sits next to an
# earlier one and gains little (``asks_since_gain``).
STALL_EXPLORE = int(os.environ.get("HPO_GP_STALL", "0"))
STALL_EVERY = int(os.environ.get("HPO_GP_STALL_EVERY", "2"))
STALL_TOL = 0.05
CUDA_MIN_OBSERVATIONS = (
    1000  # H200 vs 16 CPU cores: suggest 1.8 s vs 4.0 s at n=1000; CUDA acq overhead ~1.2 s
)


def suggest_next(
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    space: SpaceInfo,
    pending_x: np.ndarray | None,
    taken: set[Hashable],
    seed: int,
    acquisition: str = "logei",
    beta: float = 2.0,
    device: str = "auto",
    num_restarts: int = 8,
    raw_samples: int = 256,
    region: Region | None = None,
    fit_cache: dict[Hashable, Any] | None = None,
    noise: str = "learned",
    noise_std: float | None = None,
    failed_x: np.ndarray | None = None,
    feasibility_cache: dict[Hashable, Any] | None = None,
    fit_state: Sequence[Mapping[str, Any]] | None = None,
    warm_fit: bool = True,
    n_prior: int = 0,
) -> Suggestion:
    """Choose one new point to evaluate.

    Args:
        train_x: ``n x d`` observed encoded points.
        train_y: ``n`` outcomes, larger is better.
        pending_x: ``p x d`` points asked but not observed, or None.
        taken: keys of configurations that exist already; a candidate with such a key is rejected, so
            rounding never yields a duplicate of a finished, running or batched trial.
        seed: seeds the MC samplers, the raw samples and the restarts (same seed, same point).
        region: a trust region (``hpo_tasks.gp.turbo``): the acquisition is optimised inside it only,
            its sides scaled by the fitted lengthscales.
        fit_cache: when given, a fit of the same observations made earlier (the previous ask of this
            batch) is reused from it instead of refitted; it holds the latest fit only.
        noise: ``learned``, ``known`` (variance ``noise_std**2``, objective units) or ``none``.
        failed_x: ``f x d`` points whose trials failed, or None: with any, they join the objective GP at
            the worst observed outcome and the acquisition is discounted by a feasibility model's
            probability of success (``hpo_tasks.gp.feasibility``); the acquisition's baseline and
            incumbent stay the ``n`` observations.
        feasibility_cache: as ``fit_cache``, for the feasibility model.
        fit_state: the fits stored on the study's trials (``GP_STATE_ATTR``): the objective GP's fit
            starts from the latest one fitted on fewer rows (see FULL_FIT_EVERY), so a retried task,
            or a copy of the trials, starts where the first did; ``Suggestion.fit_state`` is this fit's
            entry, to store on the new trial. None: a full fit, nothing returned.
        warm_fit: False: a full fit even when ``fit_state`` holds a start (this fit is still returned).
        n_prior: the last ``n_prior`` rows are prior observations (a warm start's), the others are in
            trial order (the stall rule, ``STALL_EXPLORE``, reads that order).
    """
    import torch

    if acquisition not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition '{acquisition}'; use one of {ACQUISITIONS}")
    dev = _device(device, len(train_x))
    notes: list[str] = []
    with (
        _threads(1 if len(train_x) < SMALL_PROBLEM else None),
        torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []),
    ):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        # Failed trials join the objective GP at the worst observed outcome (hpo_tasks.gp.feasibility).
        obj_x, obj_y = impute_failures(train_x, train_y, failed_x)  # (n + f, d), (n + f,)
        noise_var = _noise_variance(noise, noise_std, obj_y)
        sig = _signature(space, noise_var)
        start = None if fit_state is None or not warm_fit else _warm_start(fit_state, len(obj_x), sig)
        no_pending = pending_x is None or not len(pending_x)
        no_failed = failed_x is None or not len(failed_x)
        if (
            FAST_PATH
            and acquisition == "logei"
            and (no_pending or FAST_PENDING)
            and no_failed
            and region is None
            and dev.type == "cpu"
        ):
            fast = _suggest_fast(
                train_x,
                train_y,
                space,
                taken,
                seed,
                noise_var,
                notes,
                keep_state=fit_state is not None,
                num_restarts=num_restarts,
                start=start,
                n_prior=n_prior,
                pending_x=pending_x,
            )
            if fast is not None:
                return fast
            t0 = time.perf_counter()
        model, diag, fit_err = _fit_memo(obj_x, obj_y, space, dev, notes, fit_cache, noise_var, start)
        entry = diag.get("_state") if fit_state is not None else None  # this fit, to store on the trial
        diag = {k: v for k, v in diag.items() if k != "_state"}
        if model is None:
            return _fallback(space, taken, seed, time.perf_counter() - t0, f"GP fit failed: {fit_err}", notes)
        feasible = _fit_feasibility(train_x, failed_x, space, dev, notes, feasibility_cache)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            acqf = _build_acqf(acquisition, model, train_x, pending_x, space, dev, beta=beta, seed=seed)
            if feasible is not None:
                from hpo_tasks.gp import feasibility

                acqf = feasibility.weight(acqf, feasible, log=acquisition == "logei")
            opt_space = space
            if region is not None:
                from hpo_tasks.gp.turbo import restrict

                opt_space = restrict(space, region, diag.get("lengthscales") or {})
            if region is not None and acquisition == "thompson":
                cands, values = _thompson_in_region(acqf, opt_space, region, seed, dev)
            else:
                cands, values = _optimize(
                    acqf, acquisition, opt_space, dev, num_restarts=num_restarts, raw_samples=raw_samples
                )
        except Exception as err:  # noqa: BLE001 - any optimiser failure falls back, never crashes
            return _fallback(space, taken, seed, fit_s, f"acquisition failed: {err}", notes, diag)
        return pick(
            cands,
            values,
            acqf,
            space,
            taken,
            seed,
            dev,
            fit_s=fit_s,
            t1=t1,
            diag=diag,
            notes=notes,
            entry=entry,
        )


def pick(
    cands: np.ndarray,
    values: np.ndarray,
    acqf: Callable[[Any], Any],
    space: SpaceInfo,
    taken: set[Hashable],
    seed: int,
    dev: Any,
    *,
    fit_s: float,
    t1: float,
    diag: dict[str, Any],
    notes: list[str],
    entry: dict[str, Any] | None = None,
) -> Suggestion:
    """Every path's last step: the best optimised candidate (``k x d``, best first) whose rounding is not
    taken; when all are, the best untaken point of a space-filling set scored by ``acqf`` (``b x 1 x d``
    -> ``b``); when none is, a fallback. ``t1``: when the acquisition step began."""
    for x, v in zip(cands, values, strict=True):
        xr = space.round_trip(x)
        if space.key(xr) not in taken:
            return Suggestion(xr, "gp", float(v), fit_s, time.perf_counter() - t1, diag, notes, entry)
    xb, vb = _best_untaken(acqf, space, taken, seed, dev)
    if xb is None:
        return _fallback(space, taken, seed, fit_s, "no untaken candidate found", notes, diag)
    return Suggestion(xb, "gp", vb, fit_s, time.perf_counter() - t1, diag, notes, entry)


_BLAS_CONTROLLER: Any = None  # threadpoolctl's, built on first use


@contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """numpy/scipy's BLAS on ``n`` threads (threadpoolctl, when installed). Measured: at n = 200 one
    scipy L-BFGS-B step took 10 ms with OpenBLAS's default threads on 2 busy cores, ~0.1 ms with one
    (Optuna's GPSampler limits them too, ``optuna/_gp/thread_limiting.py``). The controller (a scan of
    the loaded libraries, 4-7 ms) is built once per process; numpy's and torch's BLAS are loaded by then."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            yield
            return
        import torch  # noqa: F401 - its BLAS and OpenMP among the scanned libraries

        _BLAS_CONTROLLER = ThreadpoolController()
    with _BLAS_CONTROLLER.limit(limits=n, user_api="blas"):
        yield


@_blas_threads(1)  # scipy's L-BFGS-B on BLAS threads contending with torch's: 10x slower
def _suggest_fast(
    train_x: np.ndarray,
    train_y: np.ndarray,
    space: SpaceInfo,
    taken: set[Hashable],
    seed: int,
    noise_var: float | None,
    notes: list[str],
    *,
    keep_state: bool,
    num_restarts: int,
    start: Mapping[str, Any] | None = None,
    n_prior: int = 0,
    pending_x: np.ndarray | None = None,
) -> Suggestion | None:
    """q=1 analytic LogEI on the plain-torch GP (``FAST_PATH``); None (with a note) when its fit fails,
    so that the BoTorch path (with its merged-duplicates refit) serves the step. ``start``: a stored
    fit (``_warm_start``) to begin from with one loose run, as ``_fit_robust``; when that run fails,
    a full fit follows. ``pending_x`` (``p x d``, ``FAST_PENDING``): the acquisition's GP believes them
    at their posterior means; the fit and the stored fit are the observations' alone."""
    from hpo_tasks.gp import model as gp_model
    from hpo_tasks.gp.acquisition import UCB, LogEI
    from hpo_tasks.gp.optim import maximize
    from hpo_tasks.gp.warp import warp_outcomes

    t0 = time.perf_counter()
    cats = sorted(space.cat_dims)
    # The output warp (``gp.warp.OUTPUT_WARP``, off by default): monotone, so LogEI in warped units.
    train_y, warp_info = warp_outcomes(train_y, noise_var=noise_var)
    kind, warm_err = "full", None
    gp: gp_model.ExactGP | None = None
    info: dict[str, Any] = {}
    if start is not None:
        try:
            gp, info = gp_model.fit(
                train_x,
                train_y,
                cat_dims=cats,
                noise_var=noise_var,
                start=start["params"],
                options=WARM_FIT_OPTIONS,
                warp=INPUT_WARP,
            )
            kind = "warm"
        except Exception as err:  # noqa: BLE001 - a failed warm run: the full fit follows
            warm_err = f"{type(err).__name__}: {err}"[:200]
    if gp is None:
        try:
            gp, info = gp_model.fit(
                train_x, train_y, cat_dims=cats, noise_var=noise_var, seed=seed, warp=INPUT_WARP
            )
        except Exception as err:  # noqa: BLE001 - any failure: the BoTorch path serves the step
            notes.append(
                f"fast GP fit failed ({type(err).__name__}: {str(err)[:200]}); BoTorch's fit follows"
            )
            return None
    fit_s = time.perf_counter() - t0
    diag = torch_fit_diagnostics(gp, space, notes, kind=kind, fit_steps=info["fit_steps"])
    if warm_err:
        diag["warm_start_failed"] = warm_err
    if warp_info["method"] != "none" or "skipped" in warp_info:
        diag["output_warp"] = warp_info
    entry = None
    if keep_state:
        entry = {
            "n": len(train_x),
            "full_n": len(train_x) if kind == "full" else int(start["full_n"]),  # type: ignore[index]
            "signature": _signature(space, noise_var),
            "params": gp.botorch_params(),
        }
    t1 = time.perf_counter()
    acq_gp = gp
    if pending_x is not None and len(pending_x):
        acq_gp = gp.believing(pending_x)
        diag["pending"] = f"{len(pending_x)} believed at their posterior means"
    logei = LogEI(acq_gp)
    acqf: Any = logei
    why = None  # the exploratory ask's reason, when it is one
    if EXPLORE_PROB > 0 and np.random.default_rng([seed, 1]).random() < EXPLORE_PROB:
        why = ""
    elif STALL_EXPLORE > 0:
        mu = logei.mu[: len(train_x)]  # the observed rows' (believed ones follow)
        since = asks_since_gain(mu, len(train_x) - n_prior, STALL_TOL * float(np.std(mu)))
        diag["since_gain"] = since
        if since >= STALL_EXPLORE and (since - STALL_EXPLORE) % STALL_EVERY == 0:
            why = f" (stalled {since} trials)"
    if why is not None:
        acqf = UCB(acq_gp, EXPLORE_BETA)
        diag["explore"] = f"ucb beta={EXPLORE_BETA:g}{why}"
    starts = logei.incumbent[None] if INCUMBENT_START else None  # (1, d)
    cands, values = maximize(acqf, space, seed=seed, num_restarts=num_restarts, starts=starts)
    return pick(
        cands,
        values,
        lambda x: acqf(x.squeeze(-2)),  # pick's b x 1 x d -> b
        space,
        taken,
        seed,
        gp.x.device,
        fit_s=fit_s,
        t1=t1,
        diag=diag,
        notes=notes,
        entry=entry,
    )


def asks_since_gain(mu: np.ndarray, n_own: int, tol: float) -> int:
    """Trials since the incumbent last gained more than ``tol``: ``mu`` (``n``) the posterior means at
    the rows, the first ``n_own`` in trial order, the rest prior rows (their best is the start). A gain
    is measured from the incumbent at the last gain, so slow creeping counts once it adds up to ``tol``;
    ``n_own`` when no own trial gained on the prior rows."""
    ref = float(mu[n_own:].max()) if len(mu) > n_own else -np.inf
    last = -1
    for i in range(n_own):
        if mu[i] > ref + tol:
            ref, last = float(mu[i]), i
    return n_own - 1 - last


def torch_fit_diagnostics(
    gp: Any, space: SpaceInfo, notes: list[str], *, kind: str, fit_steps: int
) -> dict[str, Any]:
    """The suggest info of a ``gp.model`` fit (lengthscales, noise, outputscale, fit kind and steps);
    a note when a continuous lengthscale sits at its lower bound."""
    from hpo_tasks.gp import model as gp_model

    lengthscales = gp.lengthscales(space.names)
    low = [
        name
        for i, name in enumerate(space.names)
        if i not in space.cat_dims and lengthscales.get(name, 1.0) <= 1.05 * gp_model.LENGTHSCALE_MIN
    ]
    if low:
        notes.append(f"lengthscale at its lower bound for {low}: the GP may be overfitting noise")
    out = {
        "lengthscales": lengthscales,
        "noise": gp.noise,
        "outputscale": gp.outputscale(),
        "fit": kind,
        "fit_steps": fit_steps,
        "engine": "torch",
    }
    warps = gp.input_warp(space.names)
    if warps:
        out["input_warp"] = warps  # [a, b] per column
    return out


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads. Small GPs are dominated by per-op overhead, and intra-op threads
    contending for 2 busy cores made one fit 7x slower (0.96 s vs 7.5 s for a mixed GP at n=20)."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device(device: str, n: int) -> Any:
    import torch

    if device == "cuda" or (device == "auto" and n >= CUDA_MIN_OBSERVATIONS and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


# -- model ------------------------------------------------------------------------------------------


def _fit_feasibility(
    train_x: np.ndarray,
    failed_x: np.ndarray | None,
    space: SpaceInfo,
    dev: Any,
    notes: list[str],
    cache: dict[Hashable, Any] | None,
) -> Any | None:
    """The feasibility GP (``hpo_tasks.gp.feasibility``) on the success indicator of the ``n``
    successes and ``f`` failures, when any trial failed; None without failures, or (with a note) when
    it cannot be fitted. ``cache``: as ``_fit_memo``'s (one fit per batch of q asks)."""
    if failed_x is None or not len(failed_x):
        return None
    x = np.concatenate([train_x, failed_x])  # (n + f, d)
    s = np.concatenate([np.ones(len(train_x)), np.zeros(len(failed_x))])  # (n + f,)
    own: list[str] = []
    model, _, err = _fit_memo(x, s, space, dev, own, cache)
    notes.extend(f"feasibility model: {n}" for n in own if "lengthscale at its lower bound" not in n)
    if model is None:
        notes.append(f"feasibility model not fitted ({err}); failed trials ignored this step")
    return model


# noise: none, as a fraction of the outcome variance (= the standardised noise). gpytorch rounds fixed
# noise below 1e-6 up to 1e-6 with a warning; 1e-5 stays clear of that and is still noise-free in effect.
NOISE_FREE = 1e-5


def _noise_variance(noise: str, noise_std: float | None, train_y: np.ndarray) -> float | None:
    """The fixed observation noise variance in outcome units, or None when it is learned."""
    if noise == "learned":
        return None
    if noise == "known":
        if noise_std is None or not noise_std > 0:
            raise ValueError("noise 'known' needs noise_std > 0")
        return float(noise_std) ** 2
    if noise == "none":
        return NOISE_FREE * max(float(np.var(train_y, ddof=1)) if len(train_y) > 1 else 1.0, 1e-12)
    raise ValueError(f"unknown noise '{noise}'; use learned, known or none")


def _make_model(
    X: Any, Y: Any, space: SpaceInfo, noise_floor: float | None, noise_var: float | None = None
) -> Any:
    from functools import partial

    import torch
    from botorch.models import MixedSingleTaskGP, SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.constraints import GreaterThan
    from gpytorch.likelihoods import GaussianLikelihood

    likelihood = None
    yvar = None  # (n, 1) fixed noise variances, or None: learned
    if noise_var is not None:
        yvar = torch.full_like(Y, noise_var)
    elif noise_floor is not None:
        likelihood = GaussianLikelihood(noise_constraint=GreaterThan(noise_floor)).to(X)
    if space.cat_dims:
        factory = partial(get_covar_module_with_dim_scaled_prior, use_rbf_kernel=False)
        return MixedSingleTaskGP(
            X,
            Y,
            cat_dims=sorted(space.cat_dims),
            train_Yvar=yvar,
            cont_kernel_factory=factory,
            likelihood=likelihood,
            outcome_transform=Standardize(m=1),
        )
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=X.shape[-1], use_rbf_kernel=False)
    return SingleTaskGP(
        X, Y, yvar, covar_module=covar, likelihood=likelihood, outcome_transform=Standardize(m=1)
    )


def _fit_robust(
    train_x: np.ndarray,
    train_y: np.ndarray,
    space: SpaceInfo,
    dev: Any,
    notes: list[str],
    *,
    noise_var: float | None = None,
    start: Mapping[str, Any] | None = None,
) -> tuple[Any | None, dict[str, Any], str | None]:
    """Fit; on failure merge near-duplicates and raise the noise floor, then refit once. A fixed noise
    (``noise_var``, outcome units) is raised to the same floor, 1e-3 of the outcome variance, on refit.
    ``start``: a fit history entry (``_warm_start``) to begin from with one loose run; when that fails,
    the full fit follows. ``diag["_state"]``: this fit's history entry (not for the jitter refit)."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    err: str | None = None
    warm_err: str | None = None
    plans: list[tuple[str, np.ndarray, np.ndarray, float | None]] = []
    if start is not None:
        plans.append(("warm", train_x, train_y, None))
    plans.append(("full", train_x, train_y, None))
    plans.append(("jitter", *_merge_near_duplicates(train_x, train_y), 1e-3))
    for kind, xs, ys, floor in plans:
        X = torch.as_tensor(xs, dtype=torch.float64, device=dev)  # (n, d)
        Y = torch.as_tensor(ys, dtype=torch.float64, device=dev).unsqueeze(-1)  # (n, 1)
        steps = [0]
        try:
            var = noise_var
            if var is not None and floor is not None:
                var = max(var, floor * float(np.var(ys)))
            model = _make_model(X, Y, space, floor, var)
            # Hyperparameters barely move after ~100 L-BFGS steps; the mixed kernel's flat likelihood
            # otherwise runs to 400+ (20 s at n=8 on 2 busy cores).
            options: dict[str, Any] = {"maxiter": FIT_MAXITER}
            if kind == "warm":
                assert start is not None
                _load_params(model, start["params"])
                options = dict(WARM_FIT_OPTIONS)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(
                    mll,
                    optimizer_kwargs={
                        "options": options,
                        "callback": lambda _p, r, s=steps: s.__setitem__(0, max(s[0], int(r.step))),
                    },
                )
            model.eval()
            with torch.no_grad():
                model.posterior(X[:1])  # the Cholesky must exist
            if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                raise ValueError("non-finite hyperparameters")
        except Exception as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {e}"
            if kind == "warm":
                warm_err = err[:200]
            elif kind == "full":
                notes.append(f"GP fit failed ({err[:200]}); refitting with merged duplicates and jitter")
            continue
        diag = _diagnostics(model, space)
        low = [n for n, at in diag.pop("_at_lower", {}).items() if at]
        if low:
            notes.append(f"lengthscale at its lower bound for {low}: the GP may be overfitting noise")
        diag["fit"] = kind
        diag["fit_steps"] = steps[0]
        if warm_err:
            diag["warm_start_failed"] = warm_err
        if kind != "jitter":
            full_n = len(xs) if kind == "full" else int(start["full_n"])  # type: ignore[index]
            diag["_state"] = {
                "n": len(xs),
                "full_n": full_n,
                "signature": _signature(space, noise_var),
                "params": {k: p.detach().cpu().tolist() for k, p in model.named_parameters()},
            }
        return model, diag, None
    return None, {}, err


def _signature(space: SpaceInfo, noise_var: float | None) -> str:
    """What a stored fit must share with this one to start it: the model kind, width, noise mode."""
    kind = f"mixed{sorted(space.cat_dims)}" if space.cat_dims else "plain"
    kind += ":warp" if INPUT_WARP and FAST_PATH and not space.cat_dims else ""  # the fast path's input warp
    return f"{kind}:d={space.bounds.shape[1]}:noise={'fixed' if noise_var is not None else 'learned'}"


def _warm_start(history: Sequence[Mapping[str, Any]], n: int, signature: str) -> Mapping[str, Any] | None:
    """The stored fit a fit on ``n`` rows starts from: the latest fitted on fewer rows, when it has
    this ``signature`` and its chain's last full fit is less than FULL_FIT_EVERY rows back; else None."""
    older = [e for e in history if isinstance(e, Mapping) and isinstance(e.get("n"), int) and e["n"] < n]
    if not older:
        return None
    entry = max(older, key=lambda e: e["n"])
    if entry.get("signature") != signature or n - int(entry.get("full_n", -FULL_FIT_EVERY)) >= FULL_FIT_EVERY:
        return None
    return entry


def _load_params(model: Any, params: Mapping[str, Any]) -> None:
    """Set the model's raw hyperparameters from a history entry; every name and shape must match."""
    import torch

    own = dict(model.named_parameters())
    if set(own) != set(params):
        raise ValueError(f"stored hyperparameters {sorted(params)} do not match the model's {sorted(own)}")
    with torch.no_grad():
        for name, p in own.items():
            value = torch.as_tensor(params[name], dtype=p.dtype, device=p.device)
            if value.shape != p.shape:
                raise ValueError(f"stored {name} has shape {tuple(value.shape)}, the model {tuple(p.shape)}")
            p.copy_(value)


def _fit_memo(
    train_x: np.ndarray,
    train_y: np.ndarray,
    space: SpaceInfo,
    dev: Any,
    notes: list[str],
    cache: dict[Hashable, Any] | None,
    noise_var: float | None = None,
    start: Mapping[str, Any] | None = None,
) -> tuple[Any | None, dict[str, Any], str | None]:
    """``_fit_robust``, reusing ``cache``'s fit when the observations are the same (q asks of one batch
    share their training data: one fit per batch instead of q)."""
    if cache is None:
        return _fit_robust(train_x, train_y, space, dev, notes, noise_var=noise_var, start=start)
    key = (train_x.shape, train_x.tobytes(), train_y.tobytes(), str(dev), noise_var)
    if key in cache:
        model, diag, fit_notes = cache[key]
        notes.extend(fit_notes)
        return model, {**diag, "fit_reused": True}, None
    model, diag, err = _fit_robust(train_x, train_y, space, dev, notes, noise_var=noise_var, start=start)
    if model is not None:
        cache.clear()
        cache[key] = (model, diag, list(notes))
    return model, diag, err


def _merge_near_duplicates(x: np.ndarray, y: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Average the outcomes of points closer than ``tol`` (max-norm): ``n x d -> m x d``."""
    keys = np.round(x / tol).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ys = np.bincount(inverse, weights=y) / np.bincount(inverse)
    return x[first], ys


def _diagnostics(model: Any, space: SpaceInfo) -> dict[str, Any]:
    """Lengthscale per parameter, noise, outputscale; flags lengthscales sitting at their lower bound."""
    lengthscales: dict[str, float] = {}
    at_lower: dict[str, bool] = {}
    outputscales: list[float] = []
    for _, module in model.covar_module.named_modules():
        if hasattr(module, "outputscale") and getattr(module, "outputscale", None) is not None:
            outputscales.append(float(module.outputscale.detach().reshape(-1)[0]))
        ls = getattr(module, "lengthscale", None)
        if ls is None:
            continue
        values = ls.detach().reshape(-1).tolist()
        dims = module.active_dims.tolist() if module.active_dims is not None else range(len(values))
        lower = float(getattr(module.raw_lengthscale_constraint, "lower_bound", 0.0))
        for dim, v in zip(dims, values, strict=False):
            name = space.names[dim]
            if name not in lengthscales:
                lengthscales[name] = round(float(v), 5)
                at_lower[name] = lower > 1e-5 and v <= 1.05 * lower
    return {
        "lengthscales": lengthscales,
        "noise": float(model.likelihood.noise.detach().reshape(-1)[0]),
        # The plain model has no outputscale: outcomes are standardised, so it is fixed at 1.
        "outputscale": outputscales[0] if outputscales else 1.0,
        "_at_lower": at_lower,
    }


# -- acquisition ------------------------------------------------------------------------------------


def _build_acqf(
    name: str,
    model: Any,
    train_x: np.ndarray,
    pending_x: np.ndarray | None,
    space: SpaceInfo,
    dev: Any,
    *,
    beta: float,
    seed: int,
) -> Any:
    import torch
    from botorch import acquisition as acq
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement

    X = torch.as_tensor(train_x, dtype=torch.float64, device=dev)
    Xp = None
    if pending_x is not None and len(pending_x):
        Xp = torch.as_tensor(pending_x, dtype=torch.float64, device=dev)  # (p, d)
    if name == "logei" and Xp is not None:
        return qLogNoisyExpectedImprovement(model=model, X_baseline=X, X_pending=Xp, prune_baseline=True)
    if name == "logei":
        # Nothing pending (q=1, or a round's first point): analytic LogEI over the best posterior mean at
        # the observations (the noise-robust plug-in incumbent). Same optimum as qLogNEI without pending
        # points up to MC error, at a fraction of the cost (no joint MC over the n baseline points).
        with torch.no_grad():
            incumbent = model.posterior(X).mean.max()
        return acq.LogExpectedImprovement(model, best_f=incumbent)
    if name == "ucb":
        return acq.qUpperConfidenceBound(model, beta=beta, X_pending=Xp)
    with torch.no_grad():
        best_mean = model.posterior(X).mean.max()
    if name == "pi":
        # Improvement must clear a margin of PI_MARGIN outcome standard deviations: plain PI over the
        # incumbent is greedy to a fault (Kushner 1964's xi; Lizotte 2008 found ~0.01-0.1 std robust).
        margin = PI_MARGIN * float(np.std(train_y_of(model)))
        return acq.qProbabilityOfImprovement(model, best_f=best_mean + margin, X_pending=Xp)
    if name == "kg":
        return acq.qKnowledgeGradient(model, num_fantasies=32, X_pending=Xp, current_value=best_mean)
    if name == "mes":
        cand = _unit_candidates(space, 1000, seed, dev)
        cand = torch.cat([cand, X])  # (1000 + n, d)
        return acq.qLowerBoundMaxValueEntropy(model, candidate_set=cand, X_pending=Xp)
    from botorch.acquisition.thompson_sampling import PathwiseThompsonSampling

    return PathwiseThompsonSampling(model)


def train_y_of(model: Any) -> np.ndarray:
    """The model's training outcomes on their original scale: ``n``."""
    y = model.train_targets
    if getattr(model, "outcome_transform", None) is not None:
        y, _ = model.outcome_transform.untransform(y.unsqueeze(-1))
    return y.detach().cpu().numpy().reshape(-1)


def _unit_candidates(space: SpaceInfo, n: int, seed: int, dev: Any) -> Any:
    import torch
    from scipy.stats import qmc

    d = space.bounds.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = qmc.Sobol(d, scramble=True, seed=seed).random(n)
    x = np.stack([space.round_trip(space.from_unit(row)) for row in u])
    return torch.as_tensor(x, dtype=torch.float64, device=dev)


def _optimize(
    acqf: Any, name: str, space: SpaceInfo, dev: Any, *, num_restarts: int, raw_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates best first, ``k x d``, and their acquisition values ``k``."""
    import torch
    from botorch.optim import optimize_acqf
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating

    bounds = torch.as_tensor(space.bounds, dtype=torch.float64, device=dev)  # (2, d)
    d = bounds.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if (space.cat_dims or space.discrete_dims) and name != "kg":
            cands, values = optimize_acqf_mixed_alternating(
                acqf,
                bounds=bounds,
                discrete_dims={k: list(v) for k, v in space.discrete_dims.items()} or None,
                cat_dims={k: list(v) for k, v in space.cat_dims.items()} or None,
                q=1,
                num_restarts=num_restarts,
                raw_samples=raw_samples,
            )
        else:
            # KG on mixed spaces: continuous relaxation, rounded when decoded.
            ic = getattr(acqf, "ic_generator", None)  # the feasibility-weighted KG (gp.feasibility)
            cands, values = optimize_acqf(
                acqf,
                **({"ic_generator": ic} if ic is not None else {}),
                bounds=bounds,
                q=1,
                num_restarts=num_restarts if name != "kg" else 4,
                raw_samples=raw_samples if name != "kg" else 64,
                return_best_only=False,
                options={"maxiter": 100, "batch_limit": num_restarts},
            )
    assert values is not None
    cands = cands.reshape(-1, d)  # (k, d)
    values = values.reshape(-1)  # (k,)
    order = torch.argsort(values, descending=True)
    return cands[order].detach().cpu().numpy(), values[order].detach().cpu().numpy()


def _thompson_in_region(
    acqf: Any, space: SpaceInfo, region: Region, seed: int, dev: Any
) -> tuple[np.ndarray, np.ndarray]:
    """TuRBO's Thompson step: one posterior sample path scored on a perturbation set of the region
    (``turbo.perturbation_set``), candidates best first ``k x d`` with their sampled values ``k``."""
    import torch

    from hpo_tasks.gp.turbo import perturbation_set

    d = space.bounds.shape[1]
    n = min(5000, max(2000, 200 * d))  # the tutorial's candidate count
    cand = perturbation_set(space, region, n=n, seed=seed)  # (n, d)
    with torch.no_grad():
        vals = acqf(torch.as_tensor(cand, dtype=torch.float64, device=dev).unsqueeze(1)).reshape(-1)  # (n,)
    order = torch.argsort(vals, descending=True).cpu().numpy()
    return cand[order], vals.cpu().numpy()[order]


def _best_untaken(
    acqf: Any, space: SpaceInfo, taken: set[Hashable], seed: int, dev: Any
) -> tuple[np.ndarray | None, float | None]:
    import torch

    cand = _unit_candidates(space, 512, seed + 1, dev)  # (512, d)
    try:
        with torch.no_grad():
            vals = acqf(cand.unsqueeze(1)).reshape(-1)  # (512,) one candidate per t-batch
    except Exception:  # noqa: BLE001 - e.g. one-shot KG, which scores augmented batches only
        vals = torch.rand(len(cand), generator=torch.Generator().manual_seed(seed)).to(cand)
    for i in torch.argsort(vals, descending=True).tolist():
        x = cand[i].cpu().numpy()
        if space.key(x) not in taken:
            return x, float(vals[i])
    return None, None


def _fallback(
    space: SpaceInfo,
    taken: set[Hashable],
    seed: int,
    fit_s: float,
    reason: str,
    notes: list[str],
    diag: dict[str, Any] | None = None,
) -> Suggestion:
    """A space-filling point not yet taken, used when the GP cannot serve this step."""
    rng = np.random.default_rng(seed)
    d = space.bounds.shape[1]
    x = space.round_trip(space.from_unit(rng.random(int(d))))
    for _ in range(1000):
        if space.key(x) not in taken:
            break
        x = space.round_trip(space.from_unit(rng.random(int(d))))
    return Suggestion(
        x, "fallback", None, fit_s, 0.0, {**(diag or {}), "fallback_reason": reason}, [*notes, reason]
    )
