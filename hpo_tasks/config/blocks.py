"""The blocks of a sweep file as frozen pydantic models: the search-space parameters, objective, budget,
sampler, resources, model, outcomes, pruner, warm start and replication. ``schema.SweepConfig`` puts them
together. Every list of choices is a ``Literal`` here and the tuples (``SAMPLERS``, ...) are derived from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SamplerName = Literal["gp", "optuna-gp", "tpe", "random"]
Acquisition = Literal["logei", "ucb", "pi", "thompson", "kg", "mes"]
PrunerName = Literal["none", "hyperband", "successive_halving", "median"]
FidelityModel = Literal["standin", "rungs", "line", "joint"]  # hpo_tasks.fidelity.MODELS
BudgetMode = Literal["rounds", "async"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
ACQUISITIONS: tuple[str, ...] = get_args(Acquisition)
PRUNERS: tuple[str, ...] = get_args(PrunerName)
BUDGET_MODES: tuple[str, ...] = get_args(BudgetMode)
# warm_start.from (and the trigger form's warm_start_from): latest, none or '<sweep>:<run label>'.
WARM_START_PATTERN = r"^(latest|none|[A-Za-z0-9][A-Za-z0-9_.-]*:\S+)$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Scalar = str | int | float | bool


class _ParamBase(_Frozen):
    when: dict[str, tuple[Scalar, ...]] | None = Field(
        default=None,
        description="Active only when each named parameter takes one of the listed values, "
        "e.g. {optimizer: sgd} or {optimizer: [sgd, rmsprop]}.",
    )

    @field_validator("when", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: tuple(x) if isinstance(x, list | tuple) else (x,) for k, x in v.items()}
        return v


class FloatParam(_ParamBase):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs low > 0 (got {self.low}); raise low or set log: false")
        return self


class IntParam(_ParamBase):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    power_of_two: bool = Field(default=False, description="Only powers of two: 8, 16, ..., 512.")

    @model_validator(mode="after")
    def _check_bounds(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        if self.log and self.low < 1:
            raise ValueError(f"log scale needs low >= 1 (got {self.low}); raise low or set log: false")
        if self.power_of_two:
            bad = [v for v in (self.low, self.high) if v < 1 or v & (v - 1)]
            if bad:
                raise ValueError(f"power_of_two needs low and high to be powers of two (got {bad[0]})")
        return self


class CategoricalParam(_ParamBase):
    type: Literal["categorical"]
    choices: tuple[str | int | float | bool, ...]

    @field_validator("choices")
    @classmethod
    def _check_choices(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(v) < 2:
            raise ValueError("needs at least two choices")
        if len(set(v)) != len(v):
            raise ValueError("choices must be distinct")
        return v


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class BudgetConfig(_Frozen):
    max_trials: int = Field(ge=1, le=10_000, description="Completed + failed trials at most.")
    n_init: int | None = Field(
        default=None, ge=1, description="Random (Sobol) seed trials; default min(10, max(5, d+1))."
    )
    batch_size: int = Field(
        default=4, ge=1, le=256, description="Trials per round (q); in async mode the trials in flight."
    )
    # rounds: q trials per round, the next round after the slowest; async: q lanes, each asks its next
    # trial as soon as its last one finished (docs/features/async.md).
    mode: BudgetMode = Field(default="rounds", description="rounds (synchronous batches) or async (lanes).")
    ask_ahead: bool = Field(
        default=False,
        description="async: a lane asks its next trial while its current one runs (a suggest and a trial "
        "task a step, one more pending point per lane) instead of when it has finished (one task a step).",
    )
    max_minutes: float | None = Field(default=None, gt=0, description="Wall-clock budget.")
    patience: int | None = Field(
        default=None, ge=1, description="Stop after this many completed trials without improvement."
    )
    min_delta: float = Field(default=0.0, ge=0, description="Smallest change that counts as improvement.")

    @property
    def ended_before_ask(self) -> int:
        """async: how many steps back the lane trial is that must have ended before step k asks: 1
        (trial k-1), or 2 with ``ask_ahead`` (trial k-2, so step k asks while trial k-1 runs). The DAG's
        dependencies (one ask-and-run task a step, or a suggest and a trial task asking ahead) and the
        ask's bookkeeping both follow it."""
        return 2 if self.ask_ahead else 1


class SamplerConfig(_Frozen):
    name: SamplerName = "gp"
    acquisition: Acquisition = Field(default="logei", description="GP acquisition (sampler gp only).")
    beta: float = Field(default=2.0, gt=0, description="UCB exploration weight (acquisition ucb).")
    init_design: Literal["sobol", "lhs", "random"] = Field(
        default="sobol", description="Seed design of the first n_init trials (sampler gp)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where the GP runs; auto picks CUDA when present and n is large."
    )
    # auto: on above 20 parameters (hpo_tasks.gp.turbo), where one global GP spreads a small budget thin.
    trust_region: Literal["auto"] | bool = Field(
        default="auto",
        description="Trust-region BO (TuRBO-1) for sampler gp: auto (on for more than 20 parameters), "
        "true or false.",
    )
    noise: Literal["learned", "known", "none"] = Field(
        default="learned",
        description="GP observation noise: learned from the data, known (noise_std), none (deterministic).",
    )
    noise_std: float | None = Field(
        default=None, gt=0, description="Noise standard deviation in objective units (noise: known)."
    )

    @field_validator("trust_region", mode="before")
    @classmethod
    def _check_trust_region(cls, v: Any) -> Any:
        if v == "auto" or isinstance(v, bool):
            return v
        raise ValueError("use auto (on for more than 20 parameters), true or false")

    @model_validator(mode="after")
    def _check_noise(self) -> SamplerConfig:
        if self.noise == "known" and self.noise_std is None:
            raise ValueError("noise: known needs noise_std (the objective's noise std, > 0); add it")
        if self.noise != "known" and self.noise_std is not None:
            raise ValueError(f"noise_std only applies to noise: known (got noise: {self.noise}); remove one")
        return self

    @model_validator(mode="after")
    def _gp_only(self) -> SamplerConfig:
        changed = [
            f
            for f in ("acquisition", "beta", "init_design", "device", "trust_region", "noise", "noise_std")
            if f in self.model_fields_set and getattr(self, f) != SamplerConfig.model_fields[f].default
        ]
        if self.name != "gp" and changed:
            raise ValueError(
                f"{', '.join(changed)} only apply to sampler 'gp' (got sampler '{self.name}'); "
                f"remove them or set name: gp"
            )
        return self


class ResourcesConfig(_Frozen):
    queue: str = Field(default="default", description="Airflow queue for trial tasks (e.g. 'gpu').")
    pool: str = Field(default="default_pool", description="Airflow pool for trial tasks.")
    retries: int = Field(default=2, ge=0, le=20, description="Retries of a trial task.")
    retry_delay_seconds: float = Field(default=30.0, ge=0)
    max_parallel_trials: int | None = Field(
        default=None, ge=1, description="Cap on concurrently running trials of one run."
    )
    trial_timeout_minutes: float | None = Field(default=None, gt=0)


class ModelConfig(_Frozen):
    """Nightly retuning's output: the best configuration retrained, registered and (gated) promoted.

    Needs an objective with a final-model hook (``hpo_tasks.objectives.final_model_of``); sweeps whose
    objective has none skip this step with a logged note.
    """

    name: str | None = Field(default=None, description="Registered model name; default: the sweep name.")
    promote: bool = Field(default=True, description="Retrain, register as 'challenger', gate 'champion'.")
    min_improvement: float = Field(
        default=0.0, ge=0, description="Held-out margin a challenger needs over the champion."
    )


class ObjectiveMetric(_Frozen):
    """One entry of a multi-objective sweep's ``objectives``: a metric the objective returns, its sense."""

    metric: str = Field(description="Name of a metric in the mapping the objective returns.")
    direction: Literal["maximize", "minimize"]


_CONSTRAINT_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=)\s*"
    r"(?P<bound>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class OutcomeConstraint:
    """``metric <= bound`` or ``metric >= bound``. ``slack(value)`` is Optuna's constraint value:
    feasible when ``<= 0``, and the GP models it directly."""

    text: str
    metric: str
    op: str
    bound: float

    def slack(self, value: float) -> float:
        return value - self.bound if self.op == "<=" else self.bound - value


def parse_constraint(text: str) -> OutcomeConstraint:
    m = _CONSTRAINT_RE.match(text)
    if not m:
        raise ValueError(
            f"'{text}' is not a constraint: write 'metric <= number' or 'metric >= number', "
            f"e.g. 'latency_ms <= 20'"
        )
    return OutcomeConstraint(text.strip(), m["metric"], m["op"], float(m["bound"]))


class PrunerConfig(_Frozen):
    """Early stopping of unpromising trials (multi-fidelity): Optuna's pruners on the values an objective
    reports per step through its ``report`` keyword (``hpo_tasks.pruning``). Steps count the resource
    used so far (epoch 1, 2, ...), so ``min_resource``/``max_resource``/``n_warmup_steps`` are in epochs.
    """

    name: PrunerName = Field(
        default="none", description="hyperband | successive_halving (ASHA) | median | none."
    )
    min_resource: int = Field(
        default=1, ge=1, description="Steps before the first pruning decision (hyperband, ASHA)."
    )
    max_resource: int | None = Field(
        default=None,
        ge=1,
        description="The last step a trial reports (default: the objective's 'epochs' argument): never "
        "pruned there (the work is done); hyperband sizes its brackets by it.",
    )
    reduction_factor: int = Field(
        default=3, ge=2, description="Keep 1 in reduction_factor trials per rung (hyperband, ASHA)."
    )
    bootstrap_count: int = Field(
        default=0, ge=0, description="Trials a rung needs before any is promoted (hyperband, ASHA)."
    )
    n_startup_trials: int = Field(
        default=5, ge=0, description="Complete trials before median pruning starts (median)."
    )
    n_warmup_steps: int = Field(
        default=0, ge=0, description="Steps a trial runs before it can be pruned (median)."
    )
    interval_steps: int = Field(default=1, ge=1, description="Steps between pruning checks (median).")
    # What sampler gp learns from pruned trials (hpo_tasks.fidelity, docs/features/multi-fidelity.md).
    model: FidelityModel = Field(
        default="standin",
        description="standin: pruned trials at a stand-in final value; rungs: BOHB, the GP fits the "
        "highest step with d+1 values, every trial that reached it at its value there; line: rungs, the "
        "trials stopped below that step at a least-squares line's prediction from their last step; "
        "joint: pruned trials at a fidelity GP's prediction at max_resource, fitted to every step "
        "(sampler gp).",
    )
    beat_probability: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Also stop a trial at a rung when the probability that it ends better than the best "
        "complete trial, from the complete trials' rung-to-final regression, is below this (e.g. 0.05; "
        "hyperband, ASHA; default: off).",
    )

    @model_validator(mode="after")
    def _fields_of_name(self) -> PrunerConfig:
        allowed = PRUNER_FIELDS[self.name]
        given = sorted(  # a pinned config round-trips every field: only non-defaults count as given
            f
            for f in self.model_fields_set - allowed - {"name"}
            if getattr(self, f) != PrunerConfig.model_fields[f].default
        )
        if given:
            users = sorted(n for n, fs in PRUNER_FIELDS.items() if set(given) <= fs)
            fix = f"set name: {' or '.join(users)}" if users else "set a pruner they belong to"
            raise ValueError(
                f"{', '.join(given)} do(es) not apply to pruner '{self.name}'; remove them or {fix}"
            )
        if self.max_resource is not None and self.max_resource < self.min_resource:
            raise ValueError(
                f"max_resource ({self.max_resource}) is below min_resource ({self.min_resource}); "
                f"raise max_resource to the last step your objective reports"
            )
        return self


PRUNER_FIELDS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "hyperband": frozenset(
        {"min_resource", "max_resource", "reduction_factor", "bootstrap_count", "model", "beat_probability"}
    ),
    "successive_halving": frozenset(
        {"min_resource", "max_resource", "reduction_factor", "bootstrap_count", "model", "beat_probability"}
    ),
    "median": frozenset({"max_resource", "n_startup_trials", "n_warmup_steps", "interval_steps", "model"}),
}


class WarmStartConfig(_Frozen):
    """Start a run from an earlier study of the sweep (``hpo_tasks.warm_start``). No block: cold start."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: str = Field(
        default="latest",
        alias="from",
        description="latest (the newest finished earlier study of this sweep), none, or a study name.",
    )
    top_k: int = Field(
        default=3, ge=0, le=100, description="Best earlier configurations enqueued first (at most n_init)."
    )
    observations: bool = Field(
        default=True, description="Feed the earlier study's completed trials to the GP as prior data."
    )
    max_observations: int = Field(
        default=200, ge=1, le=5000, description="Prior observations kept, best first (bounds GP cost)."
    )

    @field_validator("source")
    @classmethod
    def _check_source(cls, v: str) -> str:
        if re.match(WARM_START_PATTERN, v):
            return v
        raise ValueError(
            f"'{v}' is not latest, none or a study name: use latest, none, or '<sweep>:<run label>' "
            f"(see hpo status)"
        )


class ReplicateConfig(_Frozen):
    """Re-run the best configurations with new seeds once the search stops (``hpo_tasks.replication``)."""

    top_k: int = Field(default=3, ge=1, le=50, description="Best search trials to replicate.")
    repeats: int = Field(default=3, ge=1, le=20, description="Extra runs of each, with new seeds.")
