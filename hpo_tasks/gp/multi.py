"""Several objectives and outcome constraints: one GP per outcome, a hypervolume or constrained
acquisition, the same sequential-greedy batches, rounding and fallbacks as ``hpo_tasks.gp.engine``.

Notations:
    n  observations (completed trials)
    p  pending points (the batch so far and running trials)
    d  encoded width of the search space
    m  objectives, all maximised here (minimised ones are negated by the sampler)
    k  outcome constraints, each a slack ``c(x)`` that is feasible when ``<= 0`` (Optuna's convention)

Model: ``ModelListGP`` of independent ``SingleTaskGP``/``MixedSingleTaskGP`` models (the engine's own
model, fitted robustly, per outcome column): ``m`` objective models followed by ``k`` constraint models.

Acquisition, always with the running and batched trials as ``X_pending`` (sequential greedy):
    m >= 2   qLogNoisyExpectedHypervolumeImprovement (Daulton et al. 2021, "Parallel Bayesian
             Optimization of Multiple Noisy Objectives with Expected Hypervolume Improvement";
             Ament et al. 2023 for the log form) w.r.t. the reference point, with the constraints
             as feasibility weights (sigmoid of ``-c(x)``, BoTorch's ``constraints=``).
    m == 1   qLogNoisyExpectedImprovement with the same constraint weighting (constrained EI,
             Gardner et al. 2014), the baseline's best feasible point as the incumbent.

Fast path (``FAST_PATH``, on unless ``HPO_GP_MO_FAST=0``; m >= 2 on the CPU): each outcome's GP fitted
in plain torch (``hpo_tasks.gp.model``: BoTorch's model and marginal likelihood without gpytorch), and
``LogNEHVI``, qLogNEHVI at q = 1 written on those models (the same pending points, constraint weights and
per-sample box decompositions, the latter computed once per step), maximised by BoTorch's optimisers as
the BoTorch path's (``engine._optimize``; ``FAST_OPTIMIZER``). A fast fit or acquisition that fails leaves
a note and the step to the BoTorch path below. Speed and hypervolume, before and after:
docs/results/2026-12-01-mo-speed.md.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hpo_tasks.gp import engine
from hpo_tasks.gp.types import REFERENCE_ATTR, SpaceInfo, Suggestion, space_info

if TYPE_CHECKING:
    import optuna

    from hpo_tasks.space import SearchSpace

log = logging.getLogger(__name__)

# The fast path (see the module docstring). HPO_GP_MO_FAST=0 in the environment turns it off (bench workers
# inherit it); so does this flag. The before/after measurement: hpo_tasks/bench/experiments/mo_speed.py.
FAST_PATH = os.environ.get("HPO_GP_MO_FAST", "1") == "1"


def suggest_next_multi(
    train_x: np.ndarray,
    train_y: np.ndarray,
    train_c: np.ndarray | None,
    *,
    space: SpaceInfo,
    pending_x: np.ndarray | None,
    taken: set[Hashable],
    seed: int,
    ref_point: np.ndarray | None,
    device: str = "auto",
    num_restarts: int = 8,
    raw_samples: int = 256,
    failed_x: np.ndarray | None = None,
) -> Suggestion:
    """Choose one new point.

    Args:
        train_x: ``n x d`` observed encoded points.
        train_y: ``n x m`` objective values, larger is better.
        train_c: ``n x k`` constraint slacks (``<= 0`` feasible), or None.
        ref_point: ``m`` hypervolume reference point (maximisation); needed when ``m >= 2``.
        pending_x, taken, seed, failed_x: as ``engine.suggest_next``.
    """
    import torch

    m = train_y.shape[1]
    outputs = np.concatenate([train_y, train_c], axis=1) if train_c is not None else train_y  # (n, m+k)
    dev = engine._device(device, len(train_x))
    notes: list[str] = []
    with (
        engine._threads(1 if len(train_x) < engine.SMALL_PROBLEM else None),
        torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []),
    ):
        torch.manual_seed(seed)
        if FAST_PATH and m >= 2 and dev.type == "cpu":
            fast = _suggest_fast(
                train_x,
                outputs,
                m,
                space,
                pending_x,
                taken,
                seed,
                ref_point,
                failed_x,
                num_restarts,
                raw_samples,
                notes,
            )
            if fast is not None:
                return fast
        t0 = time.perf_counter()
        models: list[Any] = []
        diag: dict[str, Any] = {}
        for j in range(outputs.shape[1]):
            model_j, diag_j, err = engine._fit_robust(train_x, outputs[:, j], space, dev, notes)
            if model_j is None:
                fit_s = time.perf_counter() - t0
                return engine._fallback(
                    space, taken, seed, fit_s, f"GP fit of output {j} failed: {err}", notes
                )
            models.append(model_j)
            diag = diag or diag_j  # the first objective's hyperparameters stand for the step
        feasible = engine._fit_feasibility(train_x, failed_x, space, dev, notes, None)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            acqf = _build_acqf(models, train_x, pending_x, m, ref_point, dev)
            if feasible is not None:
                from hpo_tasks.gp import feasibility

                acqf = feasibility.weight(acqf, feasible, log=True)
            cands, values = engine._optimize(
                acqf, "logei", space, dev, num_restarts=num_restarts, raw_samples=raw_samples
            )
        except Exception as err:  # noqa: BLE001 - any optimiser failure falls back, never crashes
            return engine._fallback(space, taken, seed, fit_s, f"acquisition failed: {err}", notes, diag)
        return engine.pick(
            cands, values, acqf, space, taken, seed, dev, fit_s=fit_s, t1=t1, diag=diag, notes=notes
        )


@engine._blas_threads(1)  # scipy's L-BFGS-B on BLAS threads contending with torch's (engine._suggest_fast)
def _suggest_fast(
    train_x: np.ndarray,
    outputs: np.ndarray,
    m: int,
    space: SpaceInfo,
    pending_x: np.ndarray | None,
    taken: set[Hashable],
    seed: int,
    ref_point: np.ndarray | None,
    failed_x: np.ndarray | None,
    num_restarts: int,
    raw_samples: int,
    notes: list[str],
) -> Suggestion | None:
    """The fast path's step (``FAST_PATH``): plain-torch GPs per outcome, ``LogNEHVI`` maximised by
    BoTorch's optimisers (``engine._optimize``; ``FAST_OPTIMIZER``). None (with a note) when a fit or the
    acquisition fails: the BoTorch path serves the step. ``outputs``: ``n x (m + k)``, the objectives
    then the constraint slacks."""
    import torch

    from hpo_tasks.gp import model as gp_model

    assert ref_point is not None, "several objectives need a reference point"
    t0 = time.perf_counter()
    gps: list[gp_model.ExactGP] = []
    fit_steps: list[int] = []
    for j in range(outputs.shape[1]):
        try:
            gp, info = gp_model.fit(
                train_x, outputs[:, j], cat_dims=sorted(space.cat_dims), seed=seed, scale=False
            )
        except Exception as err:  # noqa: BLE001 - any failure: the BoTorch path (robust refit) follows
            notes.append(
                f"fast GP fit of output {j} failed ({type(err).__name__}: {str(err)[:200]}); "
                "BoTorch's fit follows"
            )
            return None
        gps.append(gp)
        fit_steps.append(int(info["fit_steps"]))
    dev = torch.device("cpu")
    feasible = engine._fit_feasibility(train_x, failed_x, space, dev, notes, None)
    fit_s = time.perf_counter() - t0
    # the first objective's fit stands for the step, as on the BoTorch path
    diag = engine.torch_fit_diagnostics(gps[0], space, notes, kind="full", fit_steps=fit_steps[0])
    t1 = time.perf_counter()
    try:
        base = train_x if pending_x is None or not len(pending_x) else np.concatenate([train_x, pending_x])
        if FAST_ACQUISITION == "logparego":
            nehvi = _log_parego(gps, train_x, outputs, m, pending_x, space)
        else:
            nehvi = LogNEHVI(gps, m=m, ref_point=ref_point, baseline=base, seed=seed)
        acqf: Callable[[Any], Any] = nehvi
        if feasible is not None:
            from hpo_tasks.gp.feasibility import log_success

            def acqf(x: Any) -> Any:
                return nehvi(x) + log_success(feasible, x)

        if FAST_OPTIMIZER == "sweep":
            from hpo_tasks.gp.optim import maximize

            cands, values = maximize(acqf, space, seed=seed, num_restarts=num_restarts)
        else:
            cands, values = engine._optimize(
                _as_botorch(acqf), "logei", space, dev, num_restarts=num_restarts, raw_samples=raw_samples
            )
    except Exception as err:  # noqa: BLE001 - any failure: the BoTorch path follows
        notes.append(f"fast acquisition failed ({type(err).__name__}: {str(err)[:200]}); BoTorch's follows")
        return None
    return engine.pick(
        cands, values, acqf, space, taken, seed, dev, fit_s=fit_s, t1=t1, diag=diag, notes=notes
    )


def _log_parego(
    gps: Sequence[Any],
    train_x: np.ndarray,
    outputs: np.ndarray,
    m: int,
    pending_x: np.ndarray | None,
    space: SpaceInfo,
) -> Callable[[Any], Any]:
    """BoTorch's qLogNParEGO (random Chebyshev scalarisation drawn from the seeded torch RNG; Daulton et al.
    2020) on the plain-torch fits loaded into BoTorch's models, as a ``... x d -> ...`` callable
    (``FAST_ACQUISITION = "logparego"``, measured against LogNEHVI by the bench's ``after-parego``)."""
    import torch
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
    from botorch.acquisition.multi_objective.parego import qLogNParEGO
    from botorch.models import ModelListGP

    models = []
    X = torch.as_tensor(train_x, dtype=torch.float64)  # (n, d)
    for j, gp in enumerate(gps):
        model = engine._make_model(X, torch.as_tensor(outputs[:, j : j + 1]), space, None, None)
        engine._load_params(model, gp.botorch_params())
        models.append(model.eval())
    Xp = None if pending_x is None or not len(pending_x) else torch.as_tensor(pending_x, dtype=torch.float64)
    acqf = qLogNParEGO(
        model=ModelListGP(*models),
        X_baseline=X,
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
        constraints=[_column(m + j) for j in range(len(gps) - m)] or None,
        X_pending=Xp,
        prune_baseline=True,
    )
    return lambda x: acqf(x.unsqueeze(-2))


# How the fast path maximises its acquisition: "botorch", BoTorch's optimize_acqf /
# optimize_acqf_mixed_alternating (``engine._optimize``, 8 restarts, 256 raw samples), or "sweep",
# ``gp.optim.maximize`` (2048-point sweep): on BraninCurrin the same hypervolume within noise (20 paired
# seeds) and slower on both spaces, its sweep costing 2048 x 128 samples
# (docs/results/2026-12-01-mo-speed.md).
FAST_OPTIMIZER = "botorch"


@functools.cache
def _botorch_wrapper() -> type:
    """A BoTorch ``AcquisitionFunction`` around a ``... x d -> ...`` callable (``b x 1 x d -> b``), built
    on first use so that importing this module needs no botorch."""
    import torch
    from botorch.acquisition import AcquisitionFunction

    class Wrapped(AcquisitionFunction):
        def __init__(self, fn: Callable[[Any], Any]) -> None:
            torch.nn.Module.__init__(self)  # no model: the callable holds its own
            self.fn = fn

        def forward(self, X: Any) -> Any:
            return self.fn(X.squeeze(-2))  # b x 1 x d -> b

    return Wrapped


def _as_botorch(fn: Callable[[Any], Any]) -> Any:
    return _botorch_wrapper()(fn)


# What the fast path maximises: "lognehvi" (``LogNEHVI``) or "logparego" (``_log_parego``); the bench's
# after / after-parego variants measure both (docs/results/2026-12-01-mo-speed.md).
FAST_ACQUISITION = "lognehvi"
MC_SAMPLES = 128  # qLogNEHVI's default sample count (BoTorch 0.18), scrambled Sobol normals
ETA = 1e-3  # constraint temperature, as qLogNEHVI's eta
TAU_RELU = 1e-6  # qLogNEHVI's smoothing of the improvement (its log_fatplus temperature)
CELL_BLOCK = 1 << 22  # improvement values computed at once (32 MiB of float64)
_JITTER = (0.0, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4)  # added to the baseline's posterior covariance


class LogNEHVI:
    """q=1 log noisy expected hypervolume improvement on ``gp.model.ExactGP`` outcome models, with
    outcome constraints and pending points: BoTorch's ``qLogNoisyExpectedHypervolumeImprovement``
    (``cache_root``, ``incremental_nehvi``: pending points join the baseline) in plain torch.

    Notations (besides the module's): ``Z`` the baseline, ``z = n + p`` points (observed and pending);
    ``S`` MC samples; ``o = m + k`` outcomes; ``c`` hypercells per sample.

    At construction, per outcome, the joint posterior of ``f(Z)`` and its Cholesky factor ``L_Z``; ``S``
    joint samples ``f_s(Z) = mu_Z + L_Z e_s`` from fixed QMC normals; per sample the Pareto front of the
    feasible sampled points and the box decomposition of the region it does not dominate (BoTorch's
    ``FastNondominatedPartitioning``: computed once, the "cached box decompositions"). A candidate's
    sample is conditioned on the same baseline sample (``f_s(x) = mu_x + l_x^T e_s + s_x e'_s``, the
    cached-root update), and

        log NEHVI(x) = logmeanexp_s [ logsumexp_cells sum_j
                                          min(log_fat+(f_sj(x) - lo_j), log(hi_j - lo_j))
                                      + sum_k log_fatmoid(-c_sk(x) / eta) ]

    as ``qLogNEHVI._compute_log_qehvi`` for q = 1 (Daulton et al. 2021; Ament et al. 2023), except that
    the clamp to the cell's side is an exact min, not BoTorch's ``fatmin`` (tau 1e-3): the fatmin took
    two thirds of each evaluation (profile on docs/results/2026-12-01-mo-speed.md).
    """

    def __init__(
        self, gps: Sequence[Any], *, m: int, ref_point: np.ndarray, baseline: np.ndarray, seed: int
    ) -> None:
        import torch
        from botorch.utils.multi_objective.box_decompositions.box_decomposition_list import (
            BoxDecompositionList,
        )
        from botorch.utils.multi_objective.box_decompositions.non_dominated import (
            FastNondominatedPartitioning,
        )
        from botorch.utils.multi_objective.box_decompositions.utils import _pad_batch_pareto_frontier

        from hpo_tasks.gp import model as gp_model

        self.gps, self.m = list(gps), m
        self.z = torch.as_tensor(baseline, dtype=torch.float64)  # (z, d)
        nz, o = len(self.z), len(self.gps)
        sobol = torch.quasirandom.SobolEngine(dimension=o * (nz + 1), scramble=True, seed=seed)
        u = sobol.draw(MC_SAMPLES, dtype=torch.float64).clamp(1e-10, 1 - 1e-10)  # (S, o (z + 1))
        e = torch.special.ndtri(u).reshape(MC_SAMPLES, o, nz + 1)
        self.e_z, self.e_x = e[..., :nz], e[..., nz]  # (S, o, z), (S, o)
        self.v_z, self.l_z = [], []  # per outcome: L^-1 k(X, Z) (n, z); chol of the posterior cov (z, z)
        samples = []
        for j, gp in enumerate(self.gps):
            k_zx = gp_model._kernel(gp.layout, gp.p, self.z, gp.x)  # (z, n)
            v = torch.linalg.solve_triangular(gp.chol, k_zx.T, upper=False)  # (n, z)
            mean = gp.p["mean"] + k_zx @ gp.alpha  # (z,) standardised
            cov = gp_model._kernel(gp.layout, gp.p, self.z, self.z) - v.T @ v  # (z, z)
            chol = _psd_cholesky(cov)
            self.v_z.append(v)
            self.l_z.append(chol)
            f = mean + self.e_z[:, j] @ chol.T  # (S, z)
            samples.append(f * gp.y_std + gp.y_mean)
        f_z = torch.stack(samples, dim=-1)  # (S, z, o)
        obj = f_z[..., :m]  # (S, z, m)
        feas = (f_z[..., m:] <= 0).all(dim=-1) if o > m else None  # (S, z)
        ref = torch.as_tensor(ref_point, dtype=torch.float64)  # (m,)
        if m == 2:  # batched partitioning, as BoTorch's NEHVI for two objectives
            padded = _pad_batch_pareto_frontier(
                Y=obj, ref_point=ref.expand(MC_SAMPLES, m), feasibility_mask=feas
            )
            bounds = FastNondominatedPartitioning(ref_point=ref, Y=padded).get_hypercell_bounds()
        else:
            parts = [
                FastNondominatedPartitioning(ref_point=ref, Y=obj[s] if feas is None else obj[s][feas[s]])
                for s in range(MC_SAMPLES)
            ]
            bounds = BoxDecompositionList(*parts).get_hypercell_bounds()
        self.lower = bounds[0]  # (S, c, m)
        self.log_len = (bounds[1].clamp_max(1e10) - bounds[0]).log()  # (S, c, m)

    def __call__(self, x: Any) -> Any:
        """``... x d`` candidates -> ``...`` log NEHVI values (differentiable)."""
        import torch
        from botorch.utils.safe_math import log_fatmoid, log_fatplus, logmeanexp, logsumexp

        from hpo_tasks.gp import model as gp_model

        shape, xf = x.shape[:-1], x.reshape(-1, x.shape[-1])  # (b, d)
        cols = []
        for j, gp in enumerate(self.gps):
            k_x = gp_model._kernel(gp.layout, gp.p, xf, gp.x)  # (b, n)
            mean = gp.p["mean"] + k_x @ gp.alpha  # (b,)
            v_x = torch.linalg.solve_triangular(gp.chol, k_x.T, upper=False)  # (n, b)
            var = gp_model._prior_variance(gp.layout, gp.p) - (v_x * v_x).sum(0)  # (b,)
            cross = gp_model._kernel(gp.layout, gp.p, self.z, xf) - self.v_z[j].T @ v_x  # (z, b)
            l_x = torch.linalg.solve_triangular(self.l_z[j], cross, upper=False)  # (z, b)
            s_x = (var - (l_x * l_x).sum(0)).clamp_min(1e-12).sqrt()  # (b,)
            f = mean + self.e_z[:, j] @ l_x + self.e_x[:, j, None] * s_x  # (S, b)
            cols.append(f * gp.y_std + gp.y_mean)
        f_x = torch.stack(cols, dim=-1)  # (S, b, o)
        obj = f_x[..., : self.m]  # (S, b, m)
        # the (S, b, c, m) improvement tensors in slices of candidates, at most CELL_BLOCK values each
        step = max(1, CELL_BLOCK // (self.lower.shape[0] * self.lower.shape[1] * self.m))
        parts = []
        for i in range(0, obj.shape[1], step):
            gain = obj[:, i : i + step, None, :] - self.lower[:, None]  # (S, b', c, m)
            log_gain = log_fatplus(gain, tau=TAU_RELU)
            log_area = torch.minimum(log_gain, self.log_len[:, None]).sum(-1)  # (S, b', c)
            parts.append(logsumexp(log_area, dim=-1))  # (S, b')
        log_hvi = torch.cat(parts, dim=1)  # (S, b)
        if f_x.shape[-1] > self.m:
            log_hvi = log_hvi + log_fatmoid(-f_x[..., self.m :] / ETA).sum(-1)
        return logmeanexp(log_hvi, dim=0).reshape(shape)


def _psd_cholesky(cov: Any) -> Any:
    """Cholesky of a posterior covariance, with growing jitter (a GP's posterior at its training rows
    can be singular to rounding)."""
    import torch

    eye = torch.eye(cov.shape[-1], dtype=cov.dtype)
    cov = 0.5 * (cov + cov.T)
    for jitter in _JITTER:
        chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
        if not int(info):
            return chol
    raise np.linalg.LinAlgError("baseline posterior covariance not positive definite, even with jitter")


def _build_acqf(
    models: Sequence[Any],
    train_x: np.ndarray,
    pending_x: np.ndarray | None,
    m: int,
    ref_point: np.ndarray | None,
    dev: Any,
) -> Any:
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.models import ModelListGP

    model = ModelListGP(*models)
    X = torch.as_tensor(train_x, dtype=torch.float64, device=dev)  # (n, d)
    Xp = None
    if pending_x is not None and len(pending_x):
        Xp = torch.as_tensor(pending_x, dtype=torch.float64, device=dev)  # (p, d)
    # Samples are ``sample_shape x batch x q x (m+k)``; constraint j reads column m + j.
    constraints = [_column(m + j) for j in range(len(models) - m)] or None
    if m >= 2:
        assert ref_point is not None, "several objectives need a reference point"
        return qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=torch.as_tensor(ref_point, dtype=torch.float64, device=dev),
            X_baseline=X,
            objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
            constraints=constraints,
            X_pending=Xp,
            prune_baseline=True,
        )
    return qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=X,
        objective=GenericMCObjective(_first_column),
        constraints=constraints,
        X_pending=Xp,
        prune_baseline=True,
    )


def _column(c: int) -> Callable[[Any], Any]:
    """Outcome column ``c`` of MC samples ``sample_shape x batch x q x (m+k)``: a constraint's slack."""
    return lambda Z: Z[..., c]


def _first_column(Z: Any, X: Any = None) -> Any:
    """The single objective of a constrained one-objective sweep (column 0)."""
    return Z[..., 0]


def gp_point_multi(
    study: optuna.Study,
    trial: FrozenTrial,
    complete: list[FrozenTrial],
    pending: list[FrozenTrial],
    taken: set[Hashable],
    *,
    space: SearchSpace,
    seed: int,
    device: str = "auto",
    reference_point: Sequence[float] | None = None,
    infer_reference: Callable[[np.ndarray], np.ndarray] | None = None,
    failed: Sequence[FrozenTrial] = (),
) -> tuple[np.ndarray, dict[str, Any]]:
    """``GPBatchSampler``'s GP step for several objectives and/or constraints: ``(x, info)``.

    ``seed``: this step's seed (the sampler derives it from the sweep seed and the trial number).
    The hypervolume reference point, in objective units: ``reference_point`` when given, else the one
    pinned on the study, else ``infer_reference`` (losses ``n x m`` -> reference ``m``, loss space; the
    sweep's rule is ``hpo_tasks.outcomes.infer_reference_point``) applied to the observations. With none
    of these the step is a space-filling fallback that says why. ``failed``: FAIL trials for the
    feasibility model (``hpo_tasks.gp.feasibility``).
    """
    sign = np.array([1.0 if d == StudyDirection.MAXIMIZE else -1.0 for d in study.directions])  # (m,)
    k = max(len(t.constraints) for t in complete)
    obs = [t for t in complete if len(t.constraints) == k]  # a trial without its constraints is skipped
    train_x = np.stack([space.encode(t.params) for t in obs])  # (n, d)
    train_y = np.array([t.values for t in obs], dtype=float) * sign  # (n, m), maximised
    train_c = np.array([list(t.constraints.values()) for t in obs], dtype=float) if k else None  # (n, k)
    pending_x = np.stack([space.encode(t.params) for t in pending]) if pending else None  # (p, d)
    failed_x = np.stack([space.encode(t.params) for t in failed]) if failed else None  # (f, d)

    ref = None
    m = train_y.shape[1]
    if m >= 2:
        pinned = study.user_attrs.get(REFERENCE_ATTR)
        if reference_point is not None:
            ref = np.asarray(reference_point, dtype=float) * sign
        elif pinned:
            ref = np.asarray(list(pinned.values()), dtype=float) * sign
        elif infer_reference is not None:  # not pinned yet: the rule on what is observed (feasible first)
            feasible = np.all(train_c <= 0, axis=1) if train_c is not None else np.ones(len(obs), bool)
            base = -train_y[feasible] if feasible.any() else -train_y  # losses
            ref = -infer_reference(base)
    info_space = space_info(space)
    if m >= 2 and ref is None:
        reason = "no reference point: configure reference_point or pass the sampler infer_reference"
        s = engine._fallback(info_space, taken, seed, 0.0, reason, [])
    else:
        s = suggest_next_multi(
            train_x,
            train_y,
            train_c,
            space=info_space,
            pending_x=pending_x,
            taken=taken,
            seed=seed,
            ref_point=ref,
            device=device,
            failed_x=failed_x,
        )
    for note in s.warnings:
        log.warning("trial %d: %s", trial.number, note)
    info = {
        "phase": s.phase,
        "acquisition": "qlognehvi" if m >= 2 else "constrained-qlognei",
        "n_observed": len(obs),
        "n_pending": len(pending),
        "n_constraints": k,
        "n_failed": len(failed),
        "reference_point": None if ref is None else json.loads(json.dumps((ref * sign).tolist())),
        "acq_value": s.acq_value,
        "fit_seconds": round(s.fit_seconds, 4),
        "acq_seconds": round(s.acq_seconds, 4),
        "warnings": s.warnings,
        **s.diagnostics,
    }
    return s.x, info
