"""The sweep file's schema: ``SweepConfig``, a frozen pydantic model of the blocks in ``blocks``, with the
rules that tie blocks together and the resolved properties every module reads (``cfg.maximize``,
``cfg.sign``, ``cfg.uses_trust_region``, ``cfg.n_init``, ...). Fields first, then validators, then
properties.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hpo_tasks.config.blocks import (
    BudgetConfig,
    CategoricalParam,
    ModelConfig,
    ObjectiveMetric,
    OutcomeConstraint,
    Param,
    PrunerConfig,
    ReplicateConfig,
    ResourcesConfig,
    SamplerConfig,
    WarmStartConfig,
    _Frozen,
    parse_constraint,
)
from hpo_tasks.config.objective import ObjectiveConfig, check_command_template
from hpo_tasks.config.subset import SUBSET_OBJECTIVE, check_subset_sweep

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# sampler.trust_region: auto turns the region on above this many parameters.
TRUST_REGION_AUTO_MAX_DIMS = 20
# Airflow's schedule presets (airflow.sdk.definitions.timetables._cron.CRON_PRESETS, copied: hpo_tasks
# never imports airflow), plus @once, which Airflow turns into a OnceTimetable rather than a cron.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
CRON_FIELDS = "minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6"


class SweepConfigError(ValueError):
    """A sweep file is invalid. The message names the file, each bad field's path and the fix."""


def check_cron(schedule: str) -> str | None:
    """Why Airflow would refuse ``schedule`` (None when it accepts it), checked as its cron timetable
    does: presets resolved, then ``croniter(expression)`` (``CronMixin.validate``). Five fields only:
    croniter's seconds and year columns are not Airflow crons."""
    if schedule == "@once":
        return None
    from croniter import croniter

    expression = CRON_PRESETS.get(schedule, schedule)
    try:
        fields = len(croniter(expression).expanded)
    except Exception as err:  # noqa: BLE001 - whatever croniter refuses, Airflow fails to import the DAG
        reason = str(err)
    else:
        if fields == 5:
            return None
        reason = f"{fields} fields"
    return (
        f"'{schedule}' is not a cron expression Airflow accepts ({reason}): use five fields "
        f"({CRON_FIELDS}) like '0 2 * * *', a preset like '@daily', or null for manual runs only"
    )


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
    pruner: PrunerConfig = PrunerConfig()
    warm_start: WarmStartConfig | None = None
    replicate: ReplicateConfig | None = None

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

    @model_validator(mode="after")
    def _check_command(self) -> SweepConfig:
        if self.objective.is_command:  # a training script: its template against the space
            check_command_template(self.objective, self.space)
            if self.direction is not None and self.objective.metric is None:
                raise ValueError(
                    "objective.metric: name the metric the command's script reports (e.g. metric: "
                    "val_accuracy): it is the score"
                )
        return self

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, v: str | None) -> str | None:
        if v is not None:
            cron_problem = check_cron(v)
            if cron_problem:
                raise ValueError(cron_problem)
        return v

    @model_validator(mode="after")
    def _check_budget(self) -> SweepConfig:
        if self.budget.n_init is not None and self.budget.n_init > self.budget.max_trials:
            raise ValueError(
                f"budget.n_init ({self.budget.n_init}) exceeds budget.max_trials "
                f"({self.budget.max_trials}); lower n_init or raise max_trials"
            )
        if self.budget.mode == "async" and self.uses_trust_region:
            raise ValueError(
                "budget.mode: async does not support the trust region (TuRBO counts successes and "
                "failures per round of batch_size trials); set sampler.trust_region: false or use "
                "budget.mode: rounds"
            )
        cap = self.resources.max_parallel_trials
        if self.budget.mode == "async" and cap is not None and cap < self.budget.batch_size:
            raise ValueError(
                f"resources.max_parallel_trials ({cap}) below budget.batch_size ({self.budget.batch_size}) "
                "in budget.mode async, where each lane runs one trial at a time: lower batch_size to "
                f"{cap} instead"
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
        if self.pruner.beat_probability is not None and self.max_resource is None:
            raise ValueError(
                "pruner.beat_probability compares a trial with the complete trials' final values, at "
                "max_resource: set pruner.max_resource to the last step your objective reports"
            )
        if self.pruner.model != "standin" and self.sampler.name != "gp":
            raise ValueError(
                f"pruner.model: {self.pruner.model} is how sampler gp learns from pruned trials (got "
                f"sampler '{self.sampler.name}'); set sampler: gp or remove pruner.model"
            )
        return self

    @model_validator(mode="after")
    def _check_subset_objective(self) -> SweepConfig:
        if self.objective.name == SUBSET_OBJECTIVE:  # a data-subset fraction as the resource
            check_subset_sweep(self.objective.args, direction=self.direction, pruner=self.pruner)
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
    def warnings(self) -> list[str]:
        """What is valid but likely not meant (``hpo validate`` prints it, the init task logs it)."""
        out = []
        b = self.budget
        if b.batch_size > b.max_trials:
            out.append(
                f"budget.batch_size ({b.batch_size}) exceeds budget.max_trials ({b.max_trials}): no round "
                f"proposes more than the trials left, so batch_size has no effect; lower it to at most "
                f"max_trials"
            )
        return out
