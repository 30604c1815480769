"""``GPBatchSampler``: our BoTorch engine as an Optuna sampler.

Why a sampler of our own rather than optuna-integration's ``BoTorchSampler`` with a candidates function:
``BoTorchSampler`` hands the candidates function only the observations and the pending points, so it
cannot (a) reject candidates that round onto an existing configuration (integers, categoricals),
(b) pick the seed design by trial number (Sobol, reproducible across processes and retries), or
(c) record per-step diagnostics on the trial. It also refits the whole model per ask with no hook for a
space-filling fallback. Owning ``sample_relative`` gives all four in ~100 lines, and the sampler stays a
plain Optuna sampler: ``study.ask()`` works, and so do Optuna's tools on the study.

Seed phase: until ``n_init`` trials are COMPLETE, trial ``k`` takes point ``k`` of a scrambled Sobol
sequence seeded by the sweep seed (skipping points that round onto a taken configuration).
GP phase: ``hpo_tasks.gp.engine.suggest_next`` with every RUNNING trial as a pending point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks.space import SearchSpace

SUGGEST_ATTR = "hpo:suggest"


class GPBatchSampler(BaseSampler):
    def __init__(self, space: SearchSpace, *, n_init: int, seed: int = 0) -> None:
        self._space = space
        self._n_init = n_init
        self._seed = seed
        self._random = RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._space.distributions()

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        trials = study._get_trials(deepcopy=False, use_cache=False)
        names = self._space.names
        complete, pending = [], []
        taken: set[Hashable] = set()
        for t in trials:
            if t.number == trial.number or not all(n in t.params for n in names):
                continue
            taken.add(self._space.key(t.params))
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                complete.append(t)
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                pending.append(t)

        def key(x: np.ndarray) -> Hashable:
            return self._space.key(self._space.decode(x))

        if len(complete) < self._n_init:
            x = self._sobol_point(trial.number, key, taken)
            info: dict[str, Any] = {"phase": "sobol", "n_observed": len(complete)}
        else:
            from hpo_tasks.gp.engine import suggest_next

            sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
            train_x = np.stack([self._space.encode(t.params) for t in complete])  # (n, D)
            train_y = np.array([sign * float(t.value) for t in complete if t.value is not None])  # (n,)
            pending_x = (
                np.stack([self._space.encode(t.params) for t in pending]) if pending else None
            )  # (p, D)
            s = suggest_next(
                train_x,
                train_y,
                pending_x=pending_x,
                round_trip=self._space.round_trip,
                key=key,
                taken=taken,
                seed=_mix(self._seed, trial.number),
            )
            x = s.x
            info = {
                "phase": s.phase,
                "n_observed": len(complete),
                "n_pending": len(pending),
                "acq_value": s.acq_value,
                "fit_seconds": round(s.fit_seconds, 4),
                "acq_seconds": round(s.acq_seconds, 4),
                **s.diagnostics,
            }
            if s.phase == "fallback":
                optuna.logging.get_logger(__name__).warning(
                    "trial %d: GP could not serve this step (%s); using a space-filling point",
                    trial.number,
                    s.diagnostics.get("fallback_reason"),
                )
        study._storage.set_trial_system_attr(trial._trial_id, SUGGEST_ATTR, json.dumps(info))
        return self._space.decode(x)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        # Only reached for parameters outside the sweep's space (a user objective suggesting extra ones).
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _sobol_point(self, index: int, key: Any, taken: set[Hashable]) -> np.ndarray:
        from scipy.stats import qmc

        d = self._space.width
        engine = qmc.Sobol(d, scramble=True, seed=self._seed)
        if index:
            engine.fast_forward(index)
        x = self._space.round_trip(engine.random(1)[0])
        rng = np.random.default_rng(_mix(self._seed, index))
        for _ in range(1000):  # small discrete spaces: move to a free configuration
            if key(x) not in taken:
                break
            x = self._space.round_trip(rng.random(d))
        return x


def _mix(seed: int, number: int) -> int:
    """A per-trial seed derived from the sweep seed (stable across processes and platforms)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
