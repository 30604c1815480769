"""Typed sweep configuration: YAML -> frozen pydantic models, validated once at the edge.

A bad file fails with the field's path and the reason (``SweepConfigError``) before any trial runs:
at DAG parse time (an import error naming the field) and in ``hpo validate``.

- ``blocks``: the file's blocks (space parameters, objective, budget, sampler, pruner, ...) and the
  choices, each listed once as a ``Literal``;
- ``objective``: the objective block, a function or a training script's command;
- ``schema``: ``SweepConfig``, the rules across blocks and the resolved properties;
- ``load``: YAML files and folders in, field-path errors out;
- ``overrides``: the trigger form, its checks, ``with_overrides`` and the rounds rule.
"""

from hpo_tasks.config.blocks import (
    ACQUISITIONS,
    PRUNER_FIELDS,
    PRUNERS,
    SAMPLERS,
    WARM_START_PATTERN,
    BudgetConfig,
    CategoricalParam,
    FloatParam,
    IntParam,
    ModelConfig,
    ObjectiveMetric,
    OutcomeConstraint,
    PrunerConfig,
    ReplicateConfig,
    ResourcesConfig,
    SamplerConfig,
    WarmStartConfig,
    parse_constraint,
)
from hpo_tasks.config.load import discover_sweeps, load_sweep, parse_sweep
from hpo_tasks.config.objective import ObjectiveConfig
from hpo_tasks.config.overrides import rounds_needed, with_overrides
from hpo_tasks.config.schema import TRUST_REGION_AUTO_MAX_DIMS, SweepConfig, SweepConfigError

__all__ = [
    "ACQUISITIONS",
    "PRUNERS",
    "PRUNER_FIELDS",
    "SAMPLERS",
    "TRUST_REGION_AUTO_MAX_DIMS",
    "WARM_START_PATTERN",
    "BudgetConfig",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "ModelConfig",
    "ObjectiveConfig",
    "ObjectiveMetric",
    "OutcomeConstraint",
    "PrunerConfig",
    "ReplicateConfig",
    "ResourcesConfig",
    "SamplerConfig",
    "SweepConfig",
    "SweepConfigError",
    "WarmStartConfig",
    "discover_sweeps",
    "load_sweep",
    "parse_constraint",
    "parse_sweep",
    "rounds_needed",
    "with_overrides",
]
