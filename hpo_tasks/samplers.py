"""Sweep config -> the Optuna sampler for the next asks (gp, optuna-gp, tpe, random)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from hpo_tasks import outcomes, record, seeds
from hpo_tasks.config import SweepConfig


def make_sampler(
    cfg: SweepConfig,
    *,
    n_asked: int,
    prior: list[tuple[dict[str, Any], float]] | None = None,
    gp_options: Mapping[str, Any] | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler for the next asks. ``n_asked`` varies the seed of stateful Optuna samplers between
    rounds (``seeds.sampler_seed``). ``gp_options``: engine switches of ``GPBatchSampler`` that no sweep
    file sets (``model_failures``, ``warm_fit``), for the A/B experiments. ``prior``: an earlier study's
    ``(params, value)`` for the GP
    (``hpo_tasks.warm_start``)."""
    from hpo_tasks.space import SearchSpace

    name = cfg.sampler.name
    if name == "gp":
        from hpo_tasks.fidelity import seed_trials, training_rule
        from hpo_tasks.gp.sampler import GPBatchSampler

        sc = cfg.sampler
        space = SearchSpace.from_config(cfg)
        return GPBatchSampler(
            space,
            n_init=seed_trials(cfg),  # pruner.model rungs starts on the low rungs (hpo_tasks.fidelity)
            seed=cfg.seed,
            acquisition=sc.acquisition,
            beta=sc.beta,
            init_design=sc.init_design,
            device=sc.device,
            reference_point=list(cfg.reference_point.values()) if cfg.reference_point else None,
            trust_region=cfg.uses_trust_region,
            batch_size=cfg.budget.batch_size,
            noise=sc.noise,
            noise_std=sc.noise_std,
            prior=prior,
            exclude=record.is_replicate,  # replicates re-measure a configuration: no search trial
            infer_reference=outcomes.infer_reference_point,
            fidelity=training_rule(
                cfg.pruner.model, max_resource=cfg.max_resource, encode=space.encode, bounds=space.bounds()
            ),
            **dict(gp_options or {}),
        )
    seed = seeds.sampler_seed(cfg.seed, n_asked)
    if name == "optuna-gp":
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=cfg.n_init,
            independent_sampler=optuna.samplers.QMCSampler(seed=cfg.seed, scramble=True),
        )
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=cfg.n_init, multivariate=True, constant_liar=True
        )
    return optuna.samplers.RandomSampler(seed=seed)
