"""BoTorch GP-BO: fit a GP to the observations, pick the next point by qLogNEI given pending points.

Notations:
    n  observations (completed trials)
    p  pending points (trials asked but not finished: other members of this batch, running trials)
    D  encoded width of the search space (see ``hpo_tasks.space``)
    R  restarts of the acquisition optimiser

Model: ``SingleTaskGP`` with a Matérn-5/2 ARD kernel whose lengthscales carry the dimension-scaled
log-normal prior of Hvarfner et al. (2024, "Vanilla Bayesian Optimization Performs Great in High
Dimensions"), inputs already in [0, 1]^D, outcomes standardised (``Standardize``), noise learned.

Acquisition: qLogNoisyExpectedImprovement (Ament et al. 2023, "Unexpected Improvements to Expected
Improvement for Bayesian Optimization"). A batch of q is built sequentially-greedy: each point is chosen
with the points already in the batch (and running trials) as ``X_pending``, whose outcomes the MC
acquisition integrates over jointly (fantasies), exactly BoTorch's ``optimize_acqf(sequential=True)``.
This lets one code path serve ``study.ask()`` called q times, Airflow rounds, and ``hpo run``.

torch and botorch are imported inside the functions: importing ``hpo_tasks`` stays cheap.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Suggestion:
    x: np.ndarray  # (D,) the chosen point, already rounded onto a valid configuration
    phase: str  # "gp", or "fallback" when the GP could not serve the step
    acq_value: float | None
    fit_seconds: float
    acq_seconds: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


def suggest_next(
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    pending_x: np.ndarray | None,
    round_trip: Callable[[np.ndarray], np.ndarray],
    key: Callable[[np.ndarray], Hashable],
    taken: set[Hashable],
    seed: int,
    num_restarts: int = 8,
    raw_samples: int = 256,
) -> Suggestion:
    """Choose one new point to evaluate.

    Args:
        train_x: ``n x D`` observed points in [0, 1]^D.
        train_y: ``n`` outcomes, larger is better.
        pending_x: ``p x D`` points asked but not observed, or None.
        round_trip: maps a candidate onto the point its decoded configuration encodes to.
        key: identity of a rounded point; candidates whose key is in ``taken`` are rejected, so
            integer rounding never yields a duplicate of a finished, running or batched trial.
        seed: seeds the MC sampler, the raw samples and the restarts (same seed, same point).
    """
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        try:
            model, diag = _fit_gp(train_x, train_y)
        except Exception as err:  # noqa: BLE001 - any fit failure falls back, never crashes a sweep
            return _fallback(
                train_x.shape[1], round_trip, key, taken, seed, time.perf_counter() - t0, str(err)
            )
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            cands, values = _optimize_logei(
                model, train_x, pending_x, num_restarts=num_restarts, raw_samples=raw_samples
            )
        except Exception as err:  # noqa: BLE001
            return _fallback(train_x.shape[1], round_trip, key, taken, seed, fit_s, str(err))
        acq_s = time.perf_counter() - t1
    for x, v in zip(cands, values, strict=True):
        xr = round_trip(x)
        if key(xr) not in taken:
            return Suggestion(xr, "gp", float(v), fit_s, acq_s, diag)
    fb = _fallback(
        train_x.shape[1], round_trip, key, taken, seed, fit_s, "every optimised candidate was taken"
    )
    return Suggestion(fb.x, fb.phase, None, fit_s, acq_s, {**diag, **fb.diagnostics})


def _fit_gp(train_x: np.ndarray, train_y: np.ndarray) -> tuple[Any, dict[str, Any]]:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.mlls import ExactMarginalLogLikelihood

    X = torch.as_tensor(train_x, dtype=torch.float64)  # (n, D)
    Y = torch.as_tensor(train_y, dtype=torch.float64).unsqueeze(-1)  # (n, 1)
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=X.shape[-1], use_rbf_kernel=False)
    model = SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(mll)
    lengthscales = model.covar_module.lengthscale.detach().reshape(-1).tolist()
    noise = float(model.likelihood.noise.detach().reshape(-1)[0])
    return model, {"lengthscales": lengthscales, "noise": noise}


def _optimize_logei(
    model: Any,
    train_x: np.ndarray,
    pending_x: np.ndarray | None,
    *,
    num_restarts: int,
    raw_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from every restart, best first: ``R x D`` and their acquisition values ``R``."""
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.optim import optimize_acqf

    d = train_x.shape[1]
    X = torch.as_tensor(train_x, dtype=torch.float64)
    Xp = None
    if pending_x is not None and len(pending_x):
        Xp = torch.as_tensor(pending_x, dtype=torch.float64)  # (p, D)
    acqf = qLogNoisyExpectedImprovement(model=model, X_baseline=X, X_pending=Xp, prune_baseline=True)
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)  # (2, D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cands, values = optimize_acqf(
            acqf,
            bounds=bounds,
            q=1,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            return_best_only=False,
            options={"maxiter": 100, "batch_limit": num_restarts},
        )
    assert values is not None
    cands = cands.reshape(-1, d)  # (R, D)
    values = values.reshape(-1)  # (R,)
    order = torch.argsort(values, descending=True)
    return cands[order].detach().numpy(), values[order].detach().numpy()


def _fallback(
    d: int,
    round_trip: Callable[[np.ndarray], np.ndarray],
    key: Callable[[np.ndarray], Hashable],
    taken: set[Hashable],
    seed: int,
    fit_s: float,
    reason: str,
) -> Suggestion:
    """A space-filling point not yet taken, used when the GP cannot serve this step."""
    rng = np.random.default_rng(seed)
    x = round_trip(rng.random(d))
    for _ in range(1000):
        if key(x) not in taken:
            break
        x = round_trip(rng.random(d))
    return Suggestion(x, "fallback", None, fit_s, 0.0, {"fallback_reason": reason})
