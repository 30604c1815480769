"""``GPBatchSampler``: our BoTorch engine as an Optuna sampler.

Why a sampler of our own rather than optuna-integration's ``BoTorchSampler`` with a candidates function:
``BoTorchSampler`` hands the candidates function only the observations and the pending points, so it
cannot (a) reject candidates that round onto an existing configuration (integers, categoricals),
(b) pick the seed design by trial number (reproducible across processes and retries), (c) encode
conditional parameters, or (d) record per-step diagnostics and warnings on the trial. Owning
``sample_relative`` gives all of these in ~150 lines, and the sampler stays a plain Optuna sampler:
``study.ask()`` works, and so do Optuna's tools on the study.

Seed phase: until ``n_init`` trials are COMPLETE, trial ``k`` takes point ``k`` of the seed design
(scrambled Sobol by default, or a Latin hypercube of ``n_init`` points, or uniform random), seeded by the
sweep seed; points that round onto a taken configuration move to a free one.
GP phase: ``hpo_tasks.gp.engine.suggest_next`` with every RUNNING trial as a pending point.

Warm start (``prior``, ``hpo_tasks.warm_start``): an earlier study's completed trials join the GP's
training set as they are (same objective, same direction, same outcome scale; one standardisation over
both). A prior point whose configuration the run has observed itself is left out: tonight's value wins.
They count towards ``n_init``: the seed phase runs only while own plus prior observations are fewer, so
with enough prior data the GP proposes from the first trial that is not an enqueued configuration.
Enqueued trials (fixed params) never reach ``sample_relative``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks.space import SearchSpace

if TYPE_CHECKING:
    from hpo_tasks.gp.engine import SpaceInfo

SUGGEST_ATTR = "hpo:suggest"
log = logging.getLogger(__name__)


class GPBatchSampler(BaseSampler):
    def __init__(
        self,
        space: SearchSpace,
        *,
        n_init: int,
        seed: int = 0,
        acquisition: str = "logei",
        beta: float = 2.0,
        init_design: str = "sobol",
        device: str = "auto",
        noise: str = "learned",
        noise_std: float | None = None,
        prior: list[tuple[dict[str, Any], float]] | None = None,
    ) -> None:
        self._space = space
        self._n_init = n_init
        self._seed = seed
        self._acquisition = acquisition
        self._beta = beta
        self._init_design = init_design
        self._device = device
        self._noise = noise
        self._noise_std = noise_std
        self._random = RandomSampler(seed=seed)
        self._prior = [(p, float(v)) for p, v in prior or [] if space.is_complete(p) and math.isfinite(v)]

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
        space = self._space
        complete, pending = [], []
        taken: set[Hashable] = set()
        for t in study._get_trials(deepcopy=False, use_cache=False):
            if t.number == trial.number or not space.is_complete(t.params) or "replicate_of" in t.user_attrs:
                continue  # replicates (hpo_tasks.replication) are no search trials
            taken.add(space.key(t.params))
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                complete.append(t)
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                pending.append(t)

        own = {space.key(t.params) for t in complete}
        prior = [(p, v) for p, v in self._prior if space.key(p) not in own]
        if len(complete) + len(prior) < self._n_init:
            x = self._seed_point(trial.number, taken)
            info: dict[str, Any] = {"phase": self._init_design, "n_observed": len(complete)}
        else:
            x, info = self._gp_point(study, trial, complete, pending, taken, prior)
        study._storage.set_trial_system_attr(trial._trial_id, SUGGEST_ATTR, json.dumps(info))
        return space.decode(x)

    def _gp_point(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        complete: list[FrozenTrial],
        pending: list[FrozenTrial],
        taken: set[Hashable],
        prior: list[tuple[dict[str, Any], float]],
    ) -> tuple[np.ndarray, dict[str, Any]]:
        from hpo_tasks.gp.engine import suggest_next

        space = self._space
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        xs = [space.encode(t.params) for t in complete] + [space.encode(p) for p, _ in prior]
        ys = [float(t.value) for t in complete if t.value is not None] + [v for _, v in prior]
        train_x = np.stack(xs)  # (n + n_prior, d)
        train_y = sign * np.array(ys)  # (n + n_prior,)
        pending_x = np.stack([space.encode(t.params) for t in pending]) if pending else None  # (p, d)
        info_space = space_info(space)
        s = suggest_next(
            train_x,
            train_y,
            space=info_space,
            pending_x=pending_x,
            taken=taken,
            seed=_mix(self._seed, trial.number),
            acquisition=self._acquisition,
            beta=self._beta,
            device=self._device,
            noise=self._noise,
            noise_std=self._noise_std,
        )
        for note in s.warnings:
            log.warning("trial %d: %s", trial.number, note)
        info = {
            "phase": s.phase,
            "acquisition": self._acquisition,
            "n_observed": len(complete),
            "n_prior": len(prior),
            "n_pending": len(pending),
            "acq_value": s.acq_value,
            "fit_seconds": round(s.fit_seconds, 4),
            "acq_seconds": round(s.acq_seconds, 4),
            "warnings": s.warnings,
            **s.diagnostics,
        }
        return s.x, info

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        # Only reached for parameters outside the sweep's space (a user objective suggesting extra ones).
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _seed_point(self, index: int, taken: set[Hashable]) -> np.ndarray:
        from scipy.stats import qmc

        space = self._space
        d = space.width
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warnings for non-powers of two
            if self._init_design == "sobol":
                engine = qmc.Sobol(d, scramble=True, seed=self._seed)
                if index:
                    engine.fast_forward(index)
                u = engine.random(1)[0]
            elif self._init_design == "lhs" and index < self._n_init:
                u = qmc.LatinHypercube(d, seed=self._seed).random(self._n_init)[index]
            else:
                u = np.random.default_rng(_mix(self._seed, index)).random(d)
        x = space.round_trip(space.from_unit(u))
        rng = np.random.default_rng(_mix(self._seed, index))
        for _ in range(1000):  # small discrete spaces: move to a free configuration
            if space.key(space.decode(x)) not in taken:
                break
            x = space.round_trip(space.from_unit(rng.random(d)))
        return x


def space_info(space: SearchSpace) -> SpaceInfo:
    """What the engine needs of a sweep's space: bounds, grids, and the round-trip/identity of a point."""
    from hpo_tasks.gp.engine import SpaceInfo

    return SpaceInfo(
        bounds=space.bounds(),
        cat_dims=space.cat_dims(),
        discrete_dims=space.discrete_dims(),
        names=space.names,
        round_trip=space.round_trip,
        from_unit=space.from_unit,
        key=lambda x: space.key(space.decode(x)),
    )


def _mix(seed: int, number: int) -> int:
    """A per-trial seed derived from the sweep seed (stable across processes and platforms)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
