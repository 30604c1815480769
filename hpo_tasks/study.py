"""The Optuna study of one sweep run: storage, naming, sampler choice, run-scoped configuration."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import optuna

from hpo_tasks.config import SweepConfig
from hpo_tasks.settings import optuna_storage_url

CONFIG_ATTR = "hpo:config"
STARTED_ATTR = "hpo:started_at"
PARENT_RUN_ATTR = "hpo:mlflow_parent_run_id"
STOP_ATTR = "hpo:stop"
ROUND_ATTR = "hpo:round"
SEED_ATTR = "hpo:seed"


def storage(url: str | None = None) -> optuna.storages.RDBStorage:
    url = url or optuna_storage_url()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # Parallel trial tasks write one file: wait for the lock rather than fail at once.
        engine_kwargs["connect_args"] = {"timeout": 60}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def study_name_for(sweep: str, run_id: str) -> str:
    """One study per sweep run: ``<sweep>:<airflow run_id>`` (or ``<sweep>:<label>`` from ``hpo run``)."""
    return f"{sweep}:{run_id}"


def create_study(cfg: SweepConfig, study_name: str, *, storage_url: str | None = None) -> optuna.Study:
    """Create the run's study once (idempotent) and pin its effective config on it."""
    study = optuna.create_study(
        study_name=study_name,
        storage=storage(storage_url),
        directions=cfg.directions,  # one per objective (a `direction` sweep: one)
        load_if_exists=True,
    )
    attrs = study.user_attrs
    if CONFIG_ATTR not in attrs:
        study.set_user_attr(CONFIG_ATTR, cfg.model_dump_json())
        study.set_user_attr(STARTED_ATTR, time.time())
    return study


def load(study_name: str, *, storage_url: str | None = None) -> tuple[optuna.Study, SweepConfig]:
    """The study and the config its run started with (later YAML edits do not leak into a run), with
    the pruner of that config, so every task's pruning decisions follow the same rule."""
    from hpo_tasks.pruning import make_pruner

    study = optuna.load_study(study_name=study_name, storage=storage(storage_url))
    cfg = SweepConfig.model_validate_json(study.user_attrs[CONFIG_ATTR])
    study.pruner = make_pruner(cfg)
    return study, cfg


def make_sampler(
    cfg: SweepConfig, *, n_asked: int, prior: list[tuple[dict[str, Any], float]] | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler for the next asks. ``n_asked`` varies the seed of stateful Optuna samplers between
    rounds (each round builds a fresh sampler; a fixed seed would repeat the previous round's draws).
    ``prior``: an earlier study's ``(params, value)`` for the GP (``hpo_tasks.warm_start``)."""
    from hpo_tasks.space import SearchSpace

    name = cfg.sampler.name
    if name == "gp":
        from hpo_tasks.gp.sampler import GPBatchSampler

        sc = cfg.sampler
        return GPBatchSampler(
            SearchSpace.from_config(cfg),
            n_init=cfg.n_init,
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
        )
    seed = int(np.random.SeedSequence([cfg.seed, n_asked]).generate_state(1)[0])
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


def trial_seed(cfg: SweepConfig, number: int) -> int:
    """The seed a trial trains with: derived from the sweep seed and the trial number."""
    return int(np.random.SeedSequence([cfg.seed, number, 1]).generate_state(1)[0] % (2**31 - 1))


def suggest_info(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    raw = trial.system_attrs.get("hpo:suggest")
    return json.loads(raw) if raw else {}
