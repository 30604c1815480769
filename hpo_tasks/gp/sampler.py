"""``GPBatchSampler``: our BoTorch engine (``hpo_tasks.gp.engine``) as an Optuna sampler.

Why a sampler of our own, the seed phase, and how pruned, prior (warm-start) and failed trials enter the
model are described in docs/gp-engine.md. In short, per ``ask``: seed design until ``n_init`` trials (own
plus prior) are COMPLETE, then the GP with every RUNNING trial as a pending point; several objectives or
constraint values go to ``hpo_tasks.gp.multi``, ``trust_region=True`` to ``hpo_tasks.gp.turbo`` (its
state replayed from the trials on every ask). Enqueued trials (fixed params) never reach
``sample_relative``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo_tasks.gp.types import GP_STATE_ATTR, SUGGEST_ATTR, mix_seed, space_info
from hpo_tasks.space import SearchSpace

if TYPE_CHECKING:
    from hpo_tasks.gp.turbo import Region

__all__ = ["SUGGEST_ATTR", "GPBatchSampler", "space_info"]

log = logging.getLogger(__name__)

# Warm-started fits are off by default: the 2026-12-01 paired A/B (5 seeds x 50 trials) found them ~2x
# faster per ask but 10.6 points worse @20 on Hartmann6 (interval below zero); docs/results/2026-12-01-
# engine-speed.md. ``warm_fit=True`` (or this flag, for experiments) turns them on.
WARM_FIT_DEFAULT = False


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
        reference_point: list[float] | None = None,
        trust_region: bool = False,
        trust_region_options: Mapping[str, Any] | None = None,
        batch_size: int = 1,
        noise: str = "learned",
        noise_std: float | None = None,
        prior: list[tuple[dict[str, Any], float]] | None = None,
        exclude: Callable[[FrozenTrial], bool] | None = None,
        infer_reference: Callable[[np.ndarray], np.ndarray] | None = None,
        model_failures: bool = True,
        warm_fit: bool | None = None,
        fidelity: Callable[..., Any] | None = None,
    ) -> None:
        """``reference_point``: one value per objective (their units) for hypervolume; default the
        study's pinned ``hpo:reference_point``, else ``infer_reference`` applied to the observed losses
        (``n x m`` -> ``m``; the sweep's rule is ``hpo_tasks.outcomes.infer_reference_point``).
        ``exclude``: trials that are no search trials (e.g. replicates of an earlier configuration); the
        sampler neither trains on them nor counts them; default none.
        ``model_failures``: FAIL trials feed a feasibility model that discounts the acquisition where
        the objective crashed (``hpo_tasks.gp.feasibility``); False ignores them, as before.
        ``warm_fit``: True: the objective GP's fit starts from the latest fit stored on the study's
        trials (``GP_STATE_ATTR``, ``hpo_tasks.gp.engine.FULL_FIT_EVERY``); False: a full fit every ask
        (fits are still stored); None: ``WARM_FIT_DEFAULT``.
        ``fidelity``: what the GP learns from pruned trials (``hpo_tasks.fidelity.training_rule``, the
        sweep's ``pruner.model``); default its ``standin`` rule."""
        self._fidelity = fidelity
        self._exclude = exclude
        self._infer_reference = infer_reference
        self._space = space
        self._reference_point = reference_point
        self._n_init = n_init
        self._seed = seed
        self._acquisition = acquisition
        self._beta = beta
        self._init_design = init_design
        self._device = device
        self._noise = noise
        self._noise_std = noise_std
        self._random = RandomSampler(seed=seed)
        self._trust_region = trust_region  # TuRBO-1 (hpo_tasks.gp.turbo); batch_size sets its tolerance
        self._tr_options = dict(trust_region_options or {})  # TrustRegionSettings fields to override
        self._batch_size = batch_size
        self._fit_cache: dict[Hashable, Any] = {}  # the q asks of a batch share one GP fit
        self._feasibility_cache: dict[Hashable, Any] = {}  # ... and one feasibility fit
        self._model_failures = model_failures
        self._warm_fit = WARM_FIT_DEFAULT if warm_fit is None else warm_fit
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
        complete, pending, pruned, failed = [], [], [], []
        taken: set[Hashable] = set()
        for t in study._get_trials(deepcopy=False, use_cache=False):
            if t.number == trial.number or not space.is_complete(t.params):
                continue
            if self._exclude is not None and self._exclude(t):
                continue  # no search trial (e.g. a replicate, hpo_tasks.replication)
            taken.add(space.key(t.params))
            if t.state == TrialState.COMPLETE and t.values and all(math.isfinite(v) for v in t.values):
                complete.append(t)
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                pending.append(t)
            elif t.state == TrialState.PRUNED:
                pruned.append(t)
            elif t.state == TrialState.FAIL and self._model_failures:
                failed.append(t)

        own = {space.key(t.params) for t in complete}
        prior = [(p, v) for p, v in self._prior if space.key(p) not in own]
        info: dict[str, Any]
        if self._trust_region:
            x, info = self._trust_region_point(study, trial, complete, pending, taken, failed)
        elif len(complete) + len(prior) < self._n_init:
            x = self._seed_point(trial.number, taken)
            info = {"phase": self._init_design, "n_observed": len(complete)}
        else:
            x, info = self._gp_point(
                study, trial, complete, pending, taken, pruned=pruned, prior=prior, failed=failed
            )
        study._storage.set_trial_system_attr(trial._trial_id, SUGGEST_ATTR, json.dumps(info))
        return space.decode(x)

    def _gp_point(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        complete: list[FrozenTrial],
        pending: list[FrozenTrial],
        taken: set[Hashable],
        region: Region | None = None,
        *,
        pruned: list[FrozenTrial] | None = None,
        prior: list[tuple[dict[str, Any], float]] | None = None,
        failed: list[FrozenTrial] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        from hpo_tasks.gp.engine import suggest_next

        if len(study.directions) > 1 or any(t.constraints for t in complete):
            from hpo_tasks.gp.multi import gp_point_multi

            return gp_point_multi(
                study,
                trial,
                complete,
                pending,
                taken,
                space=self._space,
                seed=mix_seed(self._seed, trial.number),
                device=self._device,
                reference_point=self._reference_point,
                infer_reference=self._infer_reference,
                failed=failed or [],
            )
        space = self._space
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        pruned, prior, failed = pruned or [], prior or [], failed or []
        from hpo_tasks.fidelity import training_rule  # pruned trials and their steps: pruner.model

        data = (self._fidelity or training_rule())(complete, pruned, sign=sign, min_points=space.width + 1)
        prior = prior if data.level is None else []  # prior values are final: not at a lower level
        xs = [space.encode(t.params) for t in data.trials] + [space.encode(p) for p, _ in prior]
        train_x = np.stack(xs)  # (n_fit + n_prior, d)
        train_y = np.concatenate([data.y, [sign * v for _, v in prior]])  # (n_fit + n_prior,) signed
        pending_x = np.stack([space.encode(t.params) for t in pending]) if pending else None  # (p, d)
        failed_x = np.stack([space.encode(t.params) for t in failed]) if failed else None  # (f, d)
        info_space = space_info(space)
        fit_state = _stored_fits(study)
        s = suggest_next(
            train_x,
            train_y,
            space=info_space,
            pending_x=pending_x,
            taken=taken,
            seed=mix_seed(self._seed, trial.number),
            acquisition=self._acquisition,
            beta=self._beta,
            device=self._device,
            region=region,
            fit_cache=self._fit_cache,
            noise=self._noise,
            noise_std=self._noise_std,
            failed_x=failed_x,
            feasibility_cache=self._feasibility_cache,
            fit_state=fit_state,
            warm_fit=self._warm_fit,
            n_prior=len(prior),
        )
        if s.fit_state is not None:  # the next suggest task's fit starts here
            study._storage.set_trial_system_attr(trial._trial_id, GP_STATE_ATTR, s.fit_state)
        for note in s.warnings:
            log.warning("trial %d: %s", trial.number, note)
        info = {
            "phase": s.phase,
            "acquisition": self._acquisition,
            "n_observed": len(complete),
            "n_prior": len(prior),
            "n_pending": len(pending),
            "n_pruned": len(pruned),
            "n_failed": len(failed),
            **data.info,
            "acq_value": s.acq_value,
            "fit_seconds": round(s.fit_seconds, 4),
            "acq_seconds": round(s.acq_seconds, 4),
            "warnings": s.warnings,
            **s.diagnostics,
        }
        return s.x, info

    def _trust_region_point(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        complete: list[FrozenTrial],
        pending: list[FrozenTrial],
        taken: set[Hashable],
        failed: list[FrozenTrial],
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """TuRBO-1: the region's state replayed from the trial history; seed design after a restart,
        else the GP (fitted on the current restart's trials) inside the region around its best."""
        from hpo_tasks.gp import turbo

        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        done = {t.number for t in complete}
        records = []
        for t in study._get_trials(deepcopy=False, use_cache=False):
            if t.number == trial.number:
                continue
            batch = json.loads(t.system_attrs.get(SUGGEST_ATTR) or "{}").get("n_observed")
            value = sign * float(t.value) if t.number in done and t.value is not None else None
            records.append(turbo.TrialRecord(t.number, batch if isinstance(batch, int) else None, value))
        settings = turbo.TrustRegionSettings(
            dim=self._space.width, batch_size=self._batch_size, n_init=self._n_init, **self._tr_options
        )
        state = turbo.replay(records, settings=settings)
        epoch = turbo.epoch_numbers(records, state)
        mine = [t for t in complete if t.number in epoch]  # the current restart's observations
        if len(mine) < self._n_init:
            first = min([n for n in epoch] + [trial.number])
            seed = self._seed if not state.restarts else mix_seed(self._seed, 2**32 + state.restarts)
            x = self._seed_point(trial.number - first, taken, seed=seed)
            info: dict[str, Any] = {"phase": self._init_design, "n_observed": len(complete)}
        else:
            best = next(t for t in mine if t.number == state.best_number)
            region = turbo.Region(self._space.encode(best.params), state.length)
            mine_failed = [t for t in failed if t.number in epoch]
            x, info = self._gp_point(study, trial, mine, pending, taken, region=region, failed=mine_failed)
            # The batch key of the replay: complete trials of the whole study, not of this restart.
            info.update(n_observed=len(complete), n_fit=len(mine), trust_region=True)
        info.update(state.info())
        return x, info

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        # Only reached for parameters outside the sweep's space (a user objective suggesting extra ones).
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _seed_point(self, index: int, taken: set[Hashable], *, seed: int | None = None) -> np.ndarray:
        from scipy.stats import qmc

        seed = self._seed if seed is None else seed
        space = self._space
        d = space.width
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warnings for non-powers of two
            if self._init_design == "sobol":
                engine = qmc.Sobol(d, scramble=True, seed=seed)
                if index:
                    engine.fast_forward(index)
                u = engine.random(1)[0]
            elif self._init_design == "lhs" and index < self._n_init:
                u = qmc.LatinHypercube(d, seed=seed).random(self._n_init)[index]
            else:
                u = np.random.default_rng(mix_seed(seed, index)).random(d)
        x = space.round_trip(space.from_unit(u))
        rng = np.random.default_rng(mix_seed(seed, index))
        for _ in range(1000):  # small discrete spaces: move to a free configuration
            if space.key(space.decode(x)) not in taken:
                break
            x = space.round_trip(space.from_unit(rng.random(d)))
        return x


def _stored_fits(study: optuna.Study) -> list[dict[str, Any]]:
    """The fits stored on the study's trials (``GP_STATE_ATTR``), in trial order."""
    trials = study._get_trials(deepcopy=False, use_cache=False)
    return [e for t in trials if isinstance(e := t.system_attrs.get(GP_STATE_ATTR), dict)]
