"""Failed trials in the GP: imputed into the objective model (one objective), and a feasibility model
that discounts the acquisition by the probability that the objective runs at all (docs/gp-engine.md,
"Failed trials").

Notations:
    n  successes: the points the objective GP trains on (completed, pruned stand-ins, warm-start prior)
    f  failures: trials in state FAIL (the objective raised, or the trial was told FAIL)
    d  encoded width of the search space
    b x q x d  the acquisition's input (q = 1 here; one-shot KG adds its fantasy points to q)
    s  the success indicator: 1 at the n successes, 0 at the f failures
    mu, sigma  the feasibility GP's latent posterior mean and standard deviation at x

1. ``impute_failures``: the f failures join the objective GP's training set at the worst observed
   outcome (a crash is as bad as the worst run; SMAC3's ``crash_cost`` in a finite, data-scaled form), so
   the objective model itself stops predicting improvement there. Single-objective studies only
   (``engine.suggest_next``); ``hpo_tasks.gp.multi`` uses the feasibility weight alone.
2. Feasibility GP (``engine._fit_feasibility``: the engine's own GP fitted on ``s``),
   ``P(success | x) = Phi((mu(x) - 1/2) / sigma(x))``, and the acquisition ``a`` weighted by it
   (Gardner et al. 2014; Gelbart, Snoek & Adams 2014): ``a + log P`` for log acquisitions (logei,
   qLogNEHVI, constrained qLogNEI), else ``a * P`` where ``a >= 0`` and ``a / P`` where ``a < 0``.
   Pending points stay in the wrapped acquisition as before; only the candidate is weighted.
Without a failed trial nothing here runs: a failure-free history gets the same suggestions.

torch and botorch are imported inside the functions.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

P_FLOOR = 1e-6  # P(success) below this counts as this (keeps a / P and gradients finite)


def impute_failures(
    train_x: np.ndarray, train_y: np.ndarray, failed_x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The objective GP's training set with the failures at the worst observed outcome (larger is
    better): ``n x d``, ``n`` -> ``(n + f) x d``, ``n + f``; unchanged without failures."""
    if failed_x is None or not len(failed_x) or not len(train_y):
        return train_x, train_y
    worst = np.full(len(failed_x), float(np.min(train_y)))  # (f,)
    return np.concatenate([train_x, failed_x]), np.concatenate([train_y, worst])


def log_success(model: Any, X: Any) -> Any:
    """``log P(success)`` at ``X`` (``... x d`` -> ``...``), differentiable."""
    import torch

    post = model.posterior(X)
    mu = post.mean.squeeze(-1)
    sigma = post.variance.squeeze(-1).clamp_min(1e-12).sqrt()
    return torch.special.log_ndtr((mu - 0.5) / sigma).clamp_min(float(np.log(P_FLOOR)))


def success_probability(model: Any, x: np.ndarray) -> np.ndarray:
    """``P(success)`` at encoded points ``k x d`` -> ``k`` (for diagnostics and tests)."""
    import torch

    X = torch.as_tensor(x, dtype=torch.float64)
    with torch.no_grad():
        return log_success(model, X).exp().cpu().numpy()


def weight(acqf: Any, model: Any, *, log: bool) -> Any:
    """``acqf`` discounted by ``model``'s probability of success at the candidate (see the module)."""
    from botorch.acquisition.acquisition import OneShotAcquisitionFunction

    plain, one_shot = _classes()
    cls = one_shot if isinstance(acqf, OneShotAcquisitionFunction) else plain
    return cls(acqf, model, log=log)


@functools.cache
def _classes() -> tuple[type, type]:
    """The wrapper classes, built on first use so that importing this module needs no botorch."""
    import torch
    from botorch.acquisition import AcquisitionFunction
    from botorch.acquisition.acquisition import OneShotAcquisitionFunction

    class FeasibilityWeighted(AcquisitionFunction):
        def __init__(self, acqf: Any, feasibility: Any, *, log: bool) -> None:
            super().__init__(model=acqf.model)
            self.acqf = acqf
            self.feasibility = feasibility
            self.log = log

        def candidates(self, X: torch.Tensor) -> torch.Tensor:
            return X  # b x q x d

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            a = self.acqf(X)  # (b,)
            logp = log_success(self.feasibility, self.candidates(X)).sum(-1)  # (b,) joint over q
            if self.log:
                return a + logp
            p = logp.exp()
            return torch.where(a >= 0, a * p, a / p)

    class FeasibilityWeightedOneShot(FeasibilityWeighted, OneShotAcquisitionFunction):
        """One-shot KG: BoTorch's optimiser augments q with the fantasy points; only the real
        candidates (``extract_candidates``) are weighted."""

        def candidates(self, X: torch.Tensor) -> torch.Tensor:
            return self.acqf.extract_candidates(X)

        def get_augmented_q_batch_size(self, q: int) -> int:
            return self.acqf.get_augmented_q_batch_size(q)

        def extract_candidates(self, X_full: torch.Tensor) -> torch.Tensor:
            return self.acqf.extract_candidates(X_full)

        @staticmethod
        def ic_generator(acq_function: Any, bounds: Any, q: int, **kwargs: Any) -> Any:
            """BoTorch picks KG's own initial conditions by class; the wrapper gets random ones of the
            augmented size (candidate plus fantasy points)."""
            from botorch.optim.initializers import gen_batch_initial_conditions

            q_aug = acq_function.get_augmented_q_batch_size(q)
            return gen_batch_initial_conditions(acq_function, bounds, q_aug, **kwargs)

    return FeasibilityWeighted, FeasibilityWeightedOneShot
