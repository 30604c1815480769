"""Failed trials as a feasibility model: the acquisition is discounted by the probability that the
objective runs at all, so the search learns to stay out of regions where it crashed.

Notations:
    n  successes: the points the objective GP trains on (completed, pruned stand-ins, warm-start prior)
    f  failures: trials in state FAIL (the objective raised, or the trial was told FAIL)
    d  encoded width of the search space
    b x q x d  the acquisition's input (q = 1 here; one-shot KG adds its fantasy points to q)

Model (fitted by ``engine._fit_feasibility``): the engine's own GP (``engine._make_model``:
Matérn-5/2 ARD with the dimension-scaled prior, ``MixedSingleTaskGP`` with categorical parameters,
learned noise, standardised outcomes), fitted on the success indicator ``s`` (1 at the n successes,
0 at the f failures). With ``mu``, ``sigma`` its latent posterior mean and standard deviation,
``P(success | x) = Phi((mu(x) - 1/2) / sigma(x))``: the probability that the indicator lies above one
half. This is regression on the indicator rather than a GP classifier (no Laplace/EP approximation to
fit; the same robust fit and fallbacks as the objective model). Far from every observation ``P`` reverts
to the prior; close to a failure it goes to zero.

Acquisition ``a(x)`` -> ``a_P(x)`` (the feasibility-weighted acquisition of Gardner et al. 2014 and
Gelbart, Snoek & Adams 2014, "Bayesian Optimization with Unknown Constraints"):
    log acquisitions (logei: LogEI, qLogNEI; qLogNEHVI and constrained qLogNEI)
        a_P = a + log P                 (the product a·P in log space)
    others (ucb, pi, kg, mes, thompson)
        a_P = a · P  where a >= 0,  a / P  where a < 0    (never raises a score, equals the product for
                                                        the non-negative PI, KG and GIBBON)
Pending points (the batch so far, running trials) stay in the wrapped acquisition exactly as before; only
the candidate is weighted (its own success is what is at stake). Without a failed trial nothing here
runs, so a failure-free history gets the same suggestions as without this module.

torch and botorch are imported inside the functions.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

P_FLOOR = 1e-6  # P(success) below this counts as this (keeps a / P and gradients finite)


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
