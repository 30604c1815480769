"""The Optuna study as the run's record: storage, naming, create/load, every attribute key the project
writes, the values that cross task boundaries, and the only reaches into Optuna's private storage API.

One study per sweep run (``<sweep>:<run label>``). What a run knows about itself lives on it:

    study user attrs   CONFIG_ATTR (the effective config, pinned at init), STARTED_ATTR, FINISHED_ATTR,
                       PARENT_RUN_ATTR (the MLflow parent run), STOP_ATTR (the gate's decision),
                       WARM_ATTR (the warm start taken), REFERENCE_ATTR (the pinned hypervolume reference
                       point), ``SUGGEST_SECONDS_ATTR:<round>``
    trial system attrs ROUND_ATTR, SEED_ATTR (the trial's training seed, stored once, at ask),
                       LANE_STEP_ATTR (async mode: the ``"<lane>:<step>"`` that asked it),
                       SUGGEST_ATTR (the GP sampler's step info, JSON), CONSTRAINTS_KEY (Optuna's own)
    trial user attrs   REPLICATE_OF_ATTR / REPEAT_ATTR, METRICS_ATTR, FEASIBLE_ATTR, PRUNED_AT_ATTR,
                       REPORTED_ATTR, ERROR_ATTR, WALLCLOCK_ATTR, WARM_FROM_ATTR / WARM_TRIAL_ATTR
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpo_tasks.config import SweepConfig
from hpo_tasks.gp.types import REFERENCE_ATTR as REFERENCE_ATTR  # the GP layer's keys, re-exported
from hpo_tasks.gp.types import SUGGEST_ATTR
from hpo_tasks.settings import optuna_storage_url

# -- study user attrs
CONFIG_ATTR = "hpo:config"
STARTED_ATTR = "hpo:started_at"
FINISHED_ATTR = "hpo:finished_at"
PARENT_RUN_ATTR = "hpo:mlflow_parent_run_id"
STOP_ATTR = "hpo:stop"
WARM_ATTR = "hpo:warm_start"
SUGGEST_SECONDS_ATTR = "hpo:suggest_seconds"  # one per round: ``hpo:suggest_seconds:<round>``
# -- trial system attrs
ROUND_ATTR = "hpo:round"
SEED_ATTR = "hpo:seed"
LANE_STEP_ATTR = "hpo:lane_step"  # async mode: "<lane>:<step>", the step's key for a retried suggest
CONSTRAINTS_KEY = "constraints"  # read by Optuna (optuna.study._constrained_optimization)
# -- trial user attrs
REPLICATE_OF_ATTR = "replicate_of"
REPEAT_ATTR = "replicate"
METRICS_ATTR = "metrics"  # every metric the objective returned
FEASIBLE_ATTR = "feasible"  # all constraints met (absent without constraints)
PRUNED_AT_ATTR = "pruned_at_step"
REPORTED_ATTR = "reported_steps"  # steps reported by a multi-objective trial (no pruning there)
ERROR_ATTR = "error"
WALLCLOCK_ATTR = "wallclock_seconds"
WARM_FROM_ATTR = "warm_start_from"  # an enqueued trial: the study its configuration came from
WARM_TRIAL_ATTR = "warm_start_trial"
_LEGACY_SEED_ATTR = "seed"  # studies from before the seed was stored once also carried it here

REPLICATE_ROUND = -1  # the ROUND_ATTR of replicate trials


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
    the pruner of that config, so every task's pruning decisions (and Hyperband's bracket filtering at
    ask time) follow the same rule."""
    study = optuna.load_study(study_name=study_name, storage=storage(storage_url))
    cfg = SweepConfig.model_validate_json(study.user_attrs[CONFIG_ATTR])
    study.pruner = make_pruner(cfg)
    return study, cfg


# The pruner lives with the study it is rebuilt for (hpo_tasks.pruning imports this module).
def make_pruner(cfg: SweepConfig) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``cfg.pruner`` (``NopPruner`` for ``none``)."""
    p = cfg.pruner
    if p.name in ("hyperband", "successive_halving"):
        from hpo_tasks import extrapolation as ex

        hyperband = p.name == "hyperband"
        kw: dict[str, Any] = {"min_resource": p.min_resource, "reduction_factor": p.reduction_factor,
                              "bootstrap_count": p.bootstrap_count}  # fmt: skip
        if hyperband:
            assert cfg.max_resource is not None  # SweepConfig rejects hyperband without one
            kw["max_resource"] = cfg.max_resource
        if p.beat_probability is None:
            plain = optuna.pruners.HyperbandPruner if hyperband else optuna.pruners.SuccessiveHalvingPruner
            return plain(**kw)
        assert cfg.max_resource is not None  # SweepConfig rejects beat_probability without one
        pruner = (ex.HyperbandStopHopeless if hyperband else ex.HalvingStopHopeless)(**kw)
        steps = ex.rungs(p.min_resource, p.reduction_factor, cfg.max_resource)
        # only this module writes Optuna's private storage: the pruner records a stop through it
        pruner.set_rule(p.beat_probability, steps, cfg.max_resource, note=set_trial_user_attr)
        return pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials,
            n_warmup_steps=p.n_warmup_steps,
            interval_steps=p.interval_steps,
        )
    return optuna.pruners.NopPruner()


@dataclass(frozen=True)
class StoredStudy:
    """A study of the storage, as listed (no trials loaded)."""

    name: str
    user_attrs: Mapping[str, Any]

    @property
    def started(self) -> float | None:
        return self.user_attrs.get(STARTED_ATTR)


def list_studies(sweep: str | None = None, *, storage_url: str | None = None) -> list[StoredStudy]:
    """The storage's studies (of ``sweep``, when given), newest start first (unstarted ones last)."""
    found = [
        StoredStudy(s.study_name, dict(s.user_attrs))
        for s in optuna.get_all_study_summaries(storage(storage_url), include_best_trial=False)
        if sweep is None or s.study_name.startswith(f"{sweep}:")
    ]
    return sorted(found, key=lambda s: s.started or 0.0, reverse=True)


def latest_study_name(sweep: str) -> str | None:
    """The most recently started run's study of a sweep, or None."""
    found = list_studies(sweep)
    return found[0].name if found else None


# -- trials ------------------------------------------------------------------------------------------


def is_replicate(t: FrozenTrial) -> bool:
    """A replicate trial (``hpo_tasks.replication``) is no search trial: the stopping rule, the budget,
    the GP and the search's best leave it out."""
    return REPLICATE_OF_ATTR in t.user_attrs


def search_trials(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if not is_replicate(t)]


def round_trials(study: optuna.Study, round_index: int) -> list[FrozenTrial]:
    """The trials the suggest (or replicate) task of ``round_index`` asked."""
    return [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get(ROUND_ATTR) == round_index]


def lane_step_key(lane: int, step: int) -> str:
    return f"{lane}:{step}"


def lane_trial(study: optuna.Study, lane: int, step: int) -> FrozenTrial | None:
    """The trial a lane's step asked (async mode), or None."""
    key = lane_step_key(lane, step)
    found = [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get(LANE_STEP_ATTR) == key]
    return found[0] if found else None


def lane_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial a lane asked (async mode)."""
    return [t for t in study.get_trials(deepcopy=False) if LANE_STEP_ATTR in t.system_attrs]


@contextmanager
def ask_lock(study: optuna.Study, *, timeout_seconds: float = 600.0) -> Iterator[None]:
    """Hold the study's ask lock: lanes check the budget and ask one at a time, so two lanes that both
    see one trial left do not both ask it. PostgreSQL: a session advisory lock keyed by the study;
    SQLite: an exclusive ``flock`` on a file next to the database; other storages: no lock."""
    backend: Any = getattr(study._storage, "_backend", study._storage)  # under Optuna's trial cache
    engine = getattr(backend, "engine", None)
    if engine is None:  # not an RDB storage
        yield
        return
    url = str(engine.url)
    key = zlib.crc32(study.study_name.encode())
    if url.startswith("postgresql"):
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(
                text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{timeout_seconds:.0f}s"}
            )
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return
    database = engine.url.database
    if url.startswith("sqlite") and database and database != ":memory:":
        import fcntl

        with open(f"{database}.ask-{key}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    yield


def seed_of(t: FrozenTrial) -> int | None:
    """The trial's training seed (system attr, set at ask; the user attr of older studies)."""
    seed = t.system_attrs.get(SEED_ATTR, t.user_attrs.get(_LEGACY_SEED_ATTR))
    return None if seed is None else int(seed)


def suggest_info(trial: FrozenTrial) -> dict[str, Any]:
    """What the GP sampler recorded when it suggested ``trial`` (phase, timings, diagnostics)."""
    raw = trial.system_attrs.get(SUGGEST_ATTR)
    return json.loads(raw) if raw else {}


# -- the only reaches into Optuna's private storage API (per-trial writes by id; Optuna's public API
#    offers them only on a live ``Trial`` of the same process) ------------------------------------------


def trial_id(study: optuna.Study, number: int) -> int:
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


def get_trial(study: optuna.Study, trial_id: int) -> FrozenTrial:
    return study._storage.get_trial(trial_id)


def set_trial_user_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    study._storage.set_trial_user_attr(trial_id, key, value)


def set_trial_system_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    study._storage.set_trial_system_attr(trial_id, key, value)


def mark_asked(study: optuna.Study, trial_id: int, *, round_index: int, seed: int) -> None:
    """Pin an asked trial's round and training seed (the seed is stored here only)."""
    set_trial_system_attr(study, trial_id, ROUND_ATTR, round_index)
    set_trial_system_attr(study, trial_id, SEED_ATTR, seed)


# -- values that cross task boundaries (XCom carries their JSON) -------------------------------------


@dataclass(frozen=True)
class TrialSpec:
    """What the suggest task hands one trial task: ``{study_name, trial_number, params, seed, round}``
    (and ``replicate_of`` for a replicate)."""

    study_name: str
    trial_number: int
    params: dict[str, Any]
    seed: int
    round: int
    replicate_of: int | None = None

    @classmethod
    def of(cls, study_name: str, t: FrozenTrial, *, round_index: int, seed: int) -> TrialSpec:
        of = t.user_attrs.get(REPLICATE_OF_ATTR)
        return cls(study_name, t.number, dict(t.params), seed, round_index, None if of is None else int(of))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.replicate_of is None:
            del out["replicate_of"]
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TrialSpec:
        of = raw.get("replicate_of")
        return cls(
            study_name=str(raw["study_name"]),
            trial_number=int(raw["trial_number"]),
            params=dict(raw["params"]),
            seed=int(raw["seed"]),
            round=int(raw.get("round", 0)),
            replicate_of=None if of is None else int(of),
        )


@dataclass
class TrialResult:
    """What a trial task returns: ``{trial_number, state, value, wallclock_seconds, error}`` (and
    ``pruned_at_step`` for a pruned trial)."""

    trial_number: int
    state: str
    value: float | None = None
    wallclock_seconds: float | None = None
    error: str | None = None
    pruned_at_step: int | None = None

    @classmethod
    def of(cls, frozen: FrozenTrial) -> TrialResult:
        """The result as recorded on a finished trial."""
        from optuna.trial import TrialState

        single = frozen.state == TrialState.COMPLETE and len(frozen.values) == 1
        return cls(
            frozen.number,
            frozen.state.name,
            frozen.values[0] if single else None,
            frozen.user_attrs.get(WALLCLOCK_ATTR),
            frozen.user_attrs.get(ERROR_ATTR),
            frozen.user_attrs.get(PRUNED_AT_ATTR, frozen.last_step)
            if frozen.state == TrialState.PRUNED
            else None,
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.state != "PRUNED":
            del out[PRUNED_AT_ATTR]
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TrialResult:
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw})  # type: ignore[arg-type]
