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

Pruned trials (``pruner`` in the sweep file): the seed phase counts COMPLETE trials only, so a pruned seed
trial is replaced by the next design point. The GP trains on them at a pessimistic stand-in for the final
value they never reached (``pruned_values``): their rank among the completed trials at the step where they
stopped, carried over to the completed trials' final values (the same "early rank predicts final rank"
assumption the pruner acts on), and never better than the median completed trial. The raw last value
would be wrong in scale (an epoch-1 loss is far above every final loss) and would tell the GP that a
merely mediocre region is the worst seen. Excluding them would leave the model unchanged after a pruned
trial, and the next suggestion would land next to it (continuous spaces) only to be pruned again.
They stay "taken", so their exact configuration is never suggested again.
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
    ) -> None:
        self._space = space
        self._n_init = n_init
        self._seed = seed
        self._acquisition = acquisition
        self._beta = beta
        self._init_design = init_design
        self._device = device
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
        space = self._space
        complete, pending, pruned = [], [], []
        taken: set[Hashable] = set()
        for t in study._get_trials(deepcopy=False, use_cache=False):
            if t.number == trial.number or not space.is_complete(t.params):
                continue
            taken.add(space.key(t.params))
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                complete.append(t)
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                pending.append(t)
            elif t.state == TrialState.PRUNED:
                pruned.append(t)

        if len(complete) < self._n_init:
            x = self._seed_point(trial.number, taken)
            info: dict[str, Any] = {"phase": self._init_design, "n_observed": len(complete)}
        else:
            x, info = self._gp_point(study, trial, complete, pending, taken, pruned=pruned)
        study._storage.set_trial_system_attr(trial._trial_id, SUGGEST_ATTR, json.dumps(info))
        return space.decode(x)

    def _gp_point(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        complete: list[FrozenTrial],
        pending: list[FrozenTrial],
        taken: set[Hashable],
        *,
        pruned: list[FrozenTrial] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        from hpo_tasks.gp.engine import suggest_next

        space = self._space
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        pruned = pruned or []
        train_x = np.stack([space.encode(t.params) for t in complete + pruned])  # (n + n_pruned, d)
        train_y = np.array([sign * float(t.value) for t in complete if t.value is not None])  # (n,)
        train_y = np.concatenate([train_y, pruned_values(pruned, complete, sign=sign)])
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
        )
        for note in s.warnings:
            log.warning("trial %d: %s", trial.number, note)
        info = {
            "phase": s.phase,
            "acquisition": self._acquisition,
            "n_observed": len(complete),
            "n_pending": len(pending),
            "n_pruned": len(pruned),
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


def pruned_values(pruned: list[FrozenTrial], complete: list[FrozenTrial], *, sign: float) -> np.ndarray:
    """Stand-in final values of pruned trials for the GP, in the maximised sign (``sign * value``).

    A trial pruned at step s with value v: q = the share of completed trials whose value at step s is no
    better than v (quantile mapping between fidelities), capped at 0.5; its stand-in is the q-quantile of
    the completed trials' final values. Without a completed trial that reported step s (or without any
    reported value): the worst completed value.
    """
    finals = np.array([sign * float(t.value) for t in complete])  # (n,)
    out = []
    for t in pruned:
        s = t.last_step
        y = sign * t.intermediate_values[s] if s is not None else math.nan
        peers = np.array([sign * c.intermediate_values[s] for c in complete if s in c.intermediate_values])
        if peers.size == 0 or not math.isfinite(y):  # (m,) values of completed trials at step s
            out.append(float(finals.min()))
            continue
        q = min(float(np.mean(peers <= y)), 0.5)
        out.append(float(np.quantile(finals, q)))
    return np.array(out, dtype=float)  # (n_pruned,)


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
