"""Typed sweep configuration: YAML -> frozen pydantic models, validated once at the edge.

A bad file fails with the field's path and the reason (``SweepConfigError``) before any trial runs:
at DAG parse time (an import error naming the field) and in ``hpo validate``.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

SAMPLERS = ("gp", "optuna-gp", "tpe", "random")
PRUNERS = ("none", "hyperband", "successive_halving", "median")
ACQUISITIONS = ("logei", "ucb", "pi", "thompson", "kg", "mes")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# sampler.trust_region: auto turns the region on above this many parameters.
TRUST_REGION_AUTO_MAX_DIMS = 20
_CRON_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually")


class SweepConfigError(ValueError):
    """A sweep file is invalid. The message names the file, each bad field's path and the fix."""


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


class ObjectiveConfig(_Frozen):
    name: str = Field(description="A registered objective name or 'package.module:function'.")
    args: dict[str, Any] = Field(default_factory=dict, description="Fixed keyword arguments.")
    metric: str | None = Field(
        default=None,
        description="The score, when the objective returns a mapping of named metrics (one objective).",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        from hpo_tasks.objectives import REGISTRY

        if v in REGISTRY:
            return v
        if ":" not in v:
            close = difflib.get_close_matches(v, REGISTRY, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"unknown objective '{v}': use one of {sorted(REGISTRY)} or 'package.module:function'{hint}"
            )
        module, _, func = v.partition(":")
        if not module or not func.isidentifier():
            raise ValueError(f"'{v}' is not of the form 'package.module:function'")
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ValueError(f"module '{module}' cannot be found on the Python path")
        return v


class BudgetConfig(_Frozen):
    max_trials: int = Field(ge=1, le=10_000, description="Completed + failed trials at most.")
    n_init: int | None = Field(
        default=None, ge=1, description="Random (Sobol) seed trials; default min(10, max(5, d+1))."
    )
    batch_size: int = Field(default=4, ge=1, le=256, description="Trials per round (q).")
    max_minutes: float | None = Field(default=None, gt=0, description="Wall-clock budget.")
    patience: int | None = Field(
        default=None, ge=1, description="Stop after this many completed trials without improvement."
    )
    min_delta: float = Field(default=0.0, ge=0, description="Smallest change that counts as improvement.")


class SamplerConfig(_Frozen):
    name: Literal["gp", "optuna-gp", "tpe", "random"] = "gp"
    acquisition: Literal["logei", "ucb", "pi", "thompson", "kg", "mes"] = Field(
        default="logei", description="GP acquisition (sampler gp only)."
    )
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

    @field_validator("trust_region", mode="before")
    @classmethod
    def _check_trust_region(cls, v: Any) -> Any:
        if v == "auto" or isinstance(v, bool):
            return v
        raise ValueError("use auto (on for more than 20 parameters), true or false")

    noise: Literal["learned", "known", "none"] = Field(
        default="learned",
        description="GP observation noise: learned from the data, known (noise_std), none (deterministic).",
    )
    noise_std: float | None = Field(
        default=None, gt=0, description="Noise standard deviation in objective units (noise: known)."
    )

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

    name: Literal["none", "hyperband", "successive_halving", "median"] = Field(
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
    "hyperband": frozenset({"min_resource", "max_resource", "reduction_factor", "bootstrap_count"}),
    "successive_halving": frozenset({"min_resource", "max_resource", "reduction_factor", "bootstrap_count"}),
    "median": frozenset({"max_resource", "n_startup_trials", "n_warmup_steps", "interval_steps"}),
}
_STUDY_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*:\S+$")


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
        if v in ("latest", "none") or _STUDY_REF_RE.match(v):
            return v
        raise ValueError(
            f"'{v}' is not latest, none or a study name: use latest, none, or '<sweep>:<run label>' "
            f"(see hpo status)"
        )


class ReplicateConfig(_Frozen):
    """Re-run the best configurations with new seeds once the search stops (``hpo_tasks.replication``)."""

    top_k: int = Field(default=3, ge=1, le=50, description="Best search trials to replicate.")
    repeats: int = Field(default=3, ge=1, le=20, description="Extra runs of each, with new seeds.")


class SweepConfig(_Frozen):
    name: str
    description: str = ""
    objective: ObjectiveConfig
    direction: Literal["maximize", "minimize"] | None = None  # or `objectives` (below)
    space: dict[str, Param]
    budget: BudgetConfig
    sampler: SamplerConfig = SamplerConfig()
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    schedule: str | None = None
    resources: ResourcesConfig = ResourcesConfig()
    model: ModelConfig = ModelConfig()
    # Multi-objective sweeps and outcome constraints (hpo_tasks.outcomes). `objectives` replaces
    # `direction`; both are validated here (declared after `direction` and `objective` so they see them).
    objectives: tuple[ObjectiveMetric, ...] | None = Field(default=None, validate_default=True)
    reference_point: dict[str, float] | None = None
    constraints: tuple[str, ...] = ()

    @field_validator("objectives")
    @classmethod
    def _check_objectives(cls, v: Any, info: ValidationInfo) -> Any:
        direction = info.data.get("direction")
        if v is None:
            if "direction" in info.data and direction is None:  # absent from data: its own error says why
                raise ValueError(
                    "neither direction nor objectives is set: set direction: maximize|minimize for one "
                    "objective, or objectives: [{metric: ..., direction: ...}, ...] for several"
                )
            return v
        if direction is not None:
            raise ValueError(
                "set either direction (one objective) or objectives (several), not both; remove one"
            )
        if len(v) < 2:
            raise ValueError(
                "needs at least two entries; for one objective set direction (and objective.metric)"
            )
        names = [o.metric for o in v]
        if len(set(names)) != len(names):
            raise ValueError(f"metrics must be distinct (got {names})")
        objective = info.data.get("objective")
        if objective is not None and objective.metric is not None:
            raise ValueError("a multi-objective sweep names its metrics here; remove objective.metric")
        return v

    @field_validator("reference_point")
    @classmethod
    def _check_reference_point(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        objectives = info.data.get("objectives")
        if not objectives:
            raise ValueError("only applies to a multi-objective sweep (objectives); remove it")
        want = [o.metric for o in objectives]
        if set(v) != set(want):
            raise ValueError(f"needs one value per objective metric {want} (got {sorted(v)})")
        bad = [k for k, x in v.items() if not math.isfinite(x)]
        if bad:
            raise ValueError(f"values must be finite numbers (got {bad[0]}: {v[bad[0]]})")
        return {m: v[m] for m in want}

    @field_validator("constraints")
    @classmethod
    def _check_constraints(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        errors = []
        for i, text in enumerate(v):
            try:
                parse_constraint(text)
            except ValueError as err:
                errors.append(f"entry {i}: {err}")
        if errors:
            raise ValueError("; ".join(errors))
        if len(set(v)) != len(v):
            raise ValueError("constraints must be distinct")
        objective = info.data.get("objective")
        single = info.data.get("direction") is not None
        if v and single and objective is not None and objective.metric is None:
            raise ValueError(
                "need the objective to return named metrics: name the score with "
                "objective.metric (e.g. metric: accuracy)"
            )
        return v

    @model_validator(mode="after")
    def _check_sampler_outcomes(self) -> SweepConfig:
        outcomes = self.objectives or self.constraints
        if self.objectives and self.pruner.name != "none":
            raise ValueError(
                "pruner: Optuna cannot prune trials of a multi-objective study (report() is single-"
                "objective); set pruner: none, or sweep one objective with the others as constraints"
            )
        if outcomes and self.warm_start is not None and self.warm_start.source != "none":
            raise ValueError(
                "warm_start: takes configurations and outcomes of one unconstrained objective (an "
                "earlier Pareto or constrained study has no single ranking to take from); remove warm_start"
            )
        if self.objectives and self.replicate is not None:
            raise ValueError(
                "replicate: picks one best configuration by its mean, which a Pareto sweep does not have; "
                "remove replicate or sweep one objective"
            )
        if outcomes and self.sampler.trust_region is True:
            raise ValueError(
                "sampler.trust_region: the trust region is for one unconstrained objective; set it to "
                "auto or false for a sweep with objectives or constraints"
            )
        if outcomes and self.sampler.name == "gp" and self.sampler.acquisition != "logei":
            what = "objectives" if self.objectives else "constraints"
            raise ValueError(
                f"sampler.acquisition: '{self.sampler.acquisition}' cannot handle {what}; use logei "
                f"(qLogNEHVI for several objectives, constrained qLogNEI for one)"
            )
        return self

    @property
    def is_multi_objective(self) -> bool:
        return bool(self.objectives)

    @property
    def outcome_constraints(self) -> list[OutcomeConstraint]:
        return [parse_constraint(c) for c in self.constraints]

    @property
    def maximize(self) -> bool:
        """Whether the single ranking objective is maximised (False for several objectives)."""
        return self.direction == "maximize"

    @property
    def sign(self) -> float:
        """+1.0 for a maximised objective, -1.0 for a minimised one (``sign * value``: higher is better)."""
        return 1.0 if self.maximize else -1.0

    @property
    def uses_trust_region(self) -> bool:
        """Whether the GP sampler runs a TuRBO trust region: ``sampler.trust_region`` resolved for this
        space (``auto``: above 20 parameters), and only for one unconstrained objective. The one rule:
        the sampler factory and the logged MLflow param both read it."""
        if self.sampler.name != "gp" or self.objectives or self.constraints:
            return False
        setting = self.sampler.trust_region
        return len(self.space) > TRUST_REGION_AUTO_MAX_DIMS if setting == "auto" else bool(setting)

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        """One direction per Optuna objective value."""
        if self.objectives:
            return [o.direction for o in self.objectives]
        assert self.direction is not None  # exactly one of direction/objectives (validated)
        return [self.direction]

    pruner: PrunerConfig = PrunerConfig()
    warm_start: WarmStartConfig | None = None
    replicate: ReplicateConfig | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not _NAME_RE.match(v) or len(v) > 100:
            raise ValueError(
                f"'{v}' is not a valid sweep name: use letters, digits, '_', '-' and '.' (at most 100)"
            )
        return v

    @field_validator("space")
    @classmethod
    def _check_space(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("the search space needs at least one parameter")
        for key in v:
            if not key.isidentifier():
                raise ValueError(f"parameter name '{key}' must be a Python identifier")
        return v

    @model_validator(mode="after")
    def _check_conditions(self) -> SweepConfig:
        for name, p in self.space.items():
            for parent, allowed in (p.when or {}).items():
                where = f"space.{name}.when.{parent}"
                if parent not in self.space:
                    raise ValueError(f"{where}: no parameter '{parent}' in the space")
                if parent == name:
                    raise ValueError(f"{where}: a parameter cannot depend on itself")
                pp = self.space[parent]
                if not isinstance(pp, CategoricalParam):
                    raise ValueError(f"{where}: conditions must name a categorical parameter")
                missing = [v for v in allowed if v not in pp.choices]
                if missing:
                    raise ValueError(f"{where}: {missing} not among {parent}'s choices {list(pp.choices)}")
        self.param_order  # noqa: B018 - raises on cycles
        return self

    @property
    def param_order(self) -> list[str]:
        """Parameter names with every condition's parent before its children (file order otherwise)."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ValueError(f"space.{name}.when: conditions form a cycle")
            visiting.add(name)
            for parent in self.space[name].when or {}:
                visit(parent)
            visiting.discard(name)
            order.append(name)

        for name in self.space:
            visit(name)
        return order

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, v: str | None) -> str | None:
        if v is None or v in _CRON_PRESETS:
            return v
        fields = v.split()
        if len(fields) != 5 or not all(re.fullmatch(r"[\d*/,\-A-Za-z?]+", f) for f in fields):
            raise ValueError(
                f"'{v}' is not a cron expression: use five fields like '0 2 * * *', a preset "
                f"like '@daily', or null for manual runs only"
            )
        return v

    @model_validator(mode="after")
    def _check_budget(self) -> SweepConfig:
        if self.budget.n_init is not None and self.budget.n_init > self.budget.max_trials:
            raise ValueError(
                f"budget.n_init ({self.budget.n_init}) exceeds budget.max_trials "
                f"({self.budget.max_trials}); lower n_init or raise max_trials"
            )
        return self

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v  # `pruner: median`

    @model_validator(mode="after")
    def _check_pruner(self) -> SweepConfig:
        if self.pruner.name == "hyperband" and self.max_resource is None:
            raise ValueError(
                "pruner.max_resource: hyperband needs the last step your objective reports (e.g. its "
                "epochs); set pruner.max_resource or give the objective an 'epochs' argument"
            )
        if self.pruner.name == "hyperband" and self.max_resource < self.pruner.min_resource:  # type: ignore[operator]
            raise ValueError(
                f"pruner.min_resource ({self.pruner.min_resource}) exceeds the last step "
                f"({self.max_resource}, max_resource or the objective's epochs); lower min_resource"
            )
        return self

    @property
    def max_resource(self) -> int | None:
        """The last step trials report: ``pruner.max_resource``, else the objective's ``epochs`` argument."""
        if self.pruner.max_resource is not None:
            return self.pruner.max_resource
        epochs = self.objective.args.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1 else None

    @property
    def n_init(self) -> int:
        """Seed trials before the GP takes over: ``min(10, max(5, d+1))`` unless set, capped by the budget."""
        if self.budget.n_init is not None:
            return self.budget.n_init
        return min(10, max(5, len(self.space) + 1), self.budget.max_trials)

    @property
    def dag_id(self) -> str:
        return f"hpo__{self.name}"

    @property
    def n_rounds(self) -> int:
        """Rounds the DAG unrolls: one seed round of ``n_init`` trials, then rounds of ``batch_size``."""
        return 1 + rounds_after_seed(self.budget.max_trials, self.n_init, self.budget.batch_size)

    def with_overrides(self, overrides: Mapping[str, Any]) -> SweepConfig:
        """A copy with run-time overrides (the trigger form's fields) applied and re-validated."""
        budget = self.budget.model_dump()
        top: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ("max_trials", "batch_size", "patience", "max_minutes", "n_init", "min_delta"):
                budget[key] = value
            elif key == "seed":
                top["seed"] = value
            elif key == "pruner":
                if value != self.pruner.name:  # keep the file's settings that apply to the new pruner
                    fields = PRUNER_FIELDS.get(value, frozenset()) & self.pruner.model_fields_set
                    kept = self.pruner.model_dump(include=set(fields))
                    top["pruner"] = {"name": value, **kept}
            elif key == "warm_start_from":
                top["warm_start"] = _warm_start_override(self.warm_start, value)
            elif key not in ("sampler", "acquisition"):
                raise SweepConfigError(f"unknown run override '{key}'")
        name = overrides.get("sampler") or self.sampler.name
        acquisition = overrides.get("acquisition") or self.sampler.acquisition
        if name != self.sampler.name or acquisition != self.sampler.acquisition:
            # Switching away from gp drops the file's GP-only settings; an acquisition the form changed
            # stays, so a non-GP sampler with one is rejected with the reason.
            sampler = self.sampler.model_dump() if name == "gp" else {}
            sampler["name"] = name
            if acquisition != self.sampler.acquisition or name == "gp":
                sampler["acquisition"] = acquisition
            top["sampler"] = sampler
        data = self.model_dump()
        data.update(top)
        data["budget"] = budget
        return parse_sweep(data, source=f"{self.name} (run overrides)")


def _warm_start_override(current: WarmStartConfig | None, source: str) -> dict[str, Any] | None:
    """The trigger form's ``warm_start_from``: none turns warm start off; anything else keeps the file's
    other warm-start settings (or the defaults, when the file has no block)."""
    if source == "none":
        return None
    data = current.model_dump() if current is not None else {}
    data["source"] = source
    return data


def rounds_after_seed(max_trials: int, n_init: int, batch_size: int) -> int:
    return max(0, math.ceil((max_trials - n_init) / batch_size))


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid sweep config ({err.error_count()} error(s))"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        # Discriminated unions put the tag in the path (space.lr.float.low): drop it.
        loc = re.sub(r"\.(float|int|categorical)(?=\.|$)", "", loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent_fields = _known_fields(e["loc"][:-1])
            close = difflib.get_close_matches(str(e["loc"][-1]), parent_fields, n=1)
            msg = "unknown field" + (f"; did you mean '{close[0]}'?" if close else "; remove it")
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "union_tag_invalid":
            msg = "type must be one of 'float', 'int', 'categorical'"
        elif e["type"] == "union_tag_not_found":
            msg = "each parameter needs 'type: float|int|categorical'"
        elif "input" in e and not isinstance(e["input"], dict | list):
            msg += f" (got {e['input']!r})"
        lines.append(f"  {loc or '<root>'}: {msg}")
    return "\n".join(lines)


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = SweepConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(getattr(model, "model_fields", {}))


def parse_sweep(data: Any, *, source: str = "<sweep>") -> SweepConfig:
    if not isinstance(data, Mapping):
        raise SweepConfigError(f"{source}: a sweep file must be a YAML mapping at the top level")
    try:
        return SweepConfig.model_validate(dict(data))
    except ValidationError as err:
        raise SweepConfigError(_format_errors(err, source)) from None


def load_sweep(path: str | Path) -> SweepConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SweepConfigError(f"{path}: cannot read sweep file: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SweepConfigError(f"{path}: not valid YAML: {err}") from None
    cfg = parse_sweep(data, source=str(path))
    if path.stem != cfg.name:
        raise SweepConfigError(
            f"{path}: name: '{cfg.name}' must match the file name '{path.stem}' "
            f"(one DAG per file, id hpo__<name>); rename the file or the sweep"
        )
    return cfg


def discover_sweeps(folder: str | Path) -> dict[Path, SweepConfig | SweepConfigError]:
    """Every ``*.yaml`` in ``folder``: its config, or the error that rejects it (others still load)."""
    out: dict[Path, SweepConfig | SweepConfigError] = {}
    for path in sorted(Path(folder).glob("*.y*ml")):
        try:
            out[path] = load_sweep(path)
        except SweepConfigError as err:
            out[path] = err
    return out
