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
"""

from __future__ import annotations

import json
import logging
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
        for x, v in zip(cands, values, strict=True):
            xr = space.round_trip(x)
            if space.key(xr) not in taken:
                return Suggestion(xr, "gp", float(v), fit_s, time.perf_counter() - t1, diag, notes)
        x, v = engine._best_untaken(acqf, space, taken, seed, dev)
        acq_s = time.perf_counter() - t1
    if x is None:
        return engine._fallback(space, taken, seed, fit_s, "no untaken candidate found", notes, diag)
    return Suggestion(x, "gp", v, fit_s, acq_s, diag, notes)


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
