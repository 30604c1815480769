"""The ``objective`` block of a sweep file: a Python function (``name``) or a training script
(``command``, run per trial by ``hpo_tasks.objectives.command``), and the checks of a command template
against the search space (docs/features/training-scripts.md).
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hpo_tasks.config.blocks import _Frozen

# The objective name a command objective carries (``objective.command``): registered, so every module that
# resolves or shows ``objective.name`` works unchanged for training scripts.
COMMAND_OBJECTIVE = "command"
# Placeholders every command template may use besides the space's parameters and ``objective.args``
# ({python}: the worker's interpreter, sys.executable).
COMMAND_PLACEHOLDERS = ("seed", "trial_number", "python")


class ObjectiveConfig(_Frozen):
    """A Python function (``name``) or a training script run as a subprocess (``command``): exactly one.

    ``command`` is an argument list, never a shell line; ``{param}``, ``{seed}``, ``{trial_number}`` and
    ``{arg}`` (a key of ``args``) are substituted into it per trial (``{{``/``}}`` for literal braces).
    The rest of the command fields only apply to it (``hpo_tasks.objectives.command``,
    docs/features/training-scripts.md)."""

    # Required: the before-validator below names a command objective (``COMMAND_OBJECTIVE``) and refuses a
    # block with neither name nor command, so every validated objective has a name.
    name: str = Field(description="A registered objective name or 'package.module:function'.")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed keyword arguments (of a command: values for its {placeholders}).",
    )
    metric: str | None = Field(
        default=None,
        description="The score, when the objective returns a mapping of named metrics (one objective); "
        "of a command: the metric its script reports.",
    )
    command: tuple[str, ...] | None = Field(
        default=None,
        description="A training script's argument list, e.g. [python, train.py, --lr, '{lr}'] "
        "(no shell); each trial runs it as a subprocess.",
    )
    workdir: str = Field(
        default=".", description="The command's working directory; relative paths from the repo root."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the command."
    )
    metric_source: Literal["auto", "mlflow", "stdout", "file"] = Field(
        default="auto",
        description="Where the command's metrics are read: auto (all three; stdout line > metrics "
        "file > MLflow run), or only one of them.",
    )
    params_file: bool = Field(
        default=False,
        description="The script reads its parameters from HPO_PARAMS_FILE / HPO_PARAMS_JSON, so the "
        "command need not name every parameter (conditional parameters need this).",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Stop the command after this long (the trial FAILs); default: 90 % of "
        "resources.trial_timeout_minutes, else none.",
    )
    grace_seconds: float = Field(
        default=10.0, ge=0, le=600, description="SIGTERM to SIGKILL of a stopped command's process group."
    )

    @model_validator(mode="before")
    @classmethod
    def _name_a_command(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("command") is not None:
            if data.get("name") not in (None, COMMAND_OBJECTIVE):
                raise ValueError(
                    f"set either name (a Python objective) or command (a training script), not both; "
                    f"remove name '{data['name']}' or command"
                )
            return {**data, "name": COMMAND_OBJECTIVE}
        if isinstance(data, Mapping) and data.get("name") is None:
            raise ValueError(
                "needs name (a registered objective or 'package.module:function') or command "
                "(a training script's argument list, e.g. [python, train.py, --lr, '{lr}'])"
            )
        return data

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

    @field_validator("command", mode="before")
    @classmethod
    def _check_command(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            raise ValueError(
                f"must be a list of arguments, not one string (it never goes through a shell): "
                f"write {v.split()!r}"
            )
        if not isinstance(v, list | tuple) or not v:
            raise ValueError("must be a non-empty list of strings, e.g. [python, train.py, --lr, '{lr}']")
        bad = [i for i, a in enumerate(v) if not isinstance(a, str | int | float) or isinstance(a, bool)]
        if bad:
            raise ValueError(f"entry {bad[0]} ({v[bad[0]]!r}) is not a string; quote it")
        return tuple(str(a) for a in v)

    @model_validator(mode="after")
    def _command_fields_need_a_command(self) -> ObjectiveConfig:
        if self.command is None:
            given = sorted(  # a pinned config round-trips every field: only non-defaults count as given
                f
                for f in _COMMAND_ONLY
                if getattr(self, f) != ObjectiveConfig.model_fields[f].get_default(call_default_factory=True)
            )
            if self.name == COMMAND_OBJECTIVE:
                raise ValueError("name 'command' needs command: the training script's argument list")
            if given:
                raise ValueError(
                    f"{given[0]} only applies to a training script (objective.command); remove it"
                )
        else:
            placeholders(self.command)  # raises on a malformed template
        return self

    @property
    def is_command(self) -> bool:
        return self.command is not None


_COMMAND_ONLY = ("workdir", "env", "metric_source", "params_file", "timeout_seconds", "grace_seconds")


def placeholders(command: tuple[str, ...]) -> list[str]:
    """The ``{name}`` fields of a command template, in order (raises ``ValueError`` naming the entry)."""
    import string

    out: list[str] = []
    for i, arg in enumerate(command):
        try:
            fields = list(string.Formatter().parse(arg))
        except ValueError as err:
            raise ValueError(
                f"command entry {i} ({arg!r}): {err}; write {{{{ and }}}} for literal braces"
            ) from None
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise ValueError(
                    f"command entry {i} ({arg!r}): '{{{name}{'!' + conversion if conversion else ''}"
                    f"{':' + spec if spec else ''}}}' is not a placeholder: write {{name}} with a parameter, "
                    f"objective.args key, seed, trial_number or python"
                )
            out.append(name)
    return out


def check_command_template(objective: ObjectiveConfig, space: Mapping[str, Any]) -> None:
    """A command template against the sweep's space: every placeholder known, every parameter used
    (unless ``params_file``), no conditional parameter in the argument list (it is absent from some
    trials). Raises ``ValueError`` naming the field and the fix."""
    assert objective.command is not None
    used = placeholders(objective.command)
    clash = sorted(set(COMMAND_PLACEHOLDERS) & (set(space) | set(objective.args)))
    if clash:
        raise ValueError(
            f"objective.command: '{clash[0]}' is a reserved placeholder (set per trial); rename the "
            f"parameter or argument"
        )
    known = {*space, *objective.args, *COMMAND_PLACEHOLDERS}
    unknown = [n for n in used if n not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean '{{{close[0]}}}'? " if close else ""
        raise ValueError(
            f"objective.command: unknown placeholder '{{{unknown[0]}}}': {hint}use a space parameter "
            f"({', '.join(space)}), an objective.args key, seed, trial_number or python"
        )
    conditional = [n for n in used if n in space and getattr(space[n], "when", None)]
    if conditional:
        raise ValueError(
            f"objective.command: '{{{conditional[0]}}}' is a conditional parameter (space."
            f"{conditional[0]}.when), absent from some trials; read it from HPO_PARAMS_FILE in the script "
            f"and set objective.params_file: true"
        )
    unused = [n for n in space if n not in used and not getattr(space[n], "when", None)]
    if unused and not objective.params_file:
        raise ValueError(
            f"objective.command: never uses parameter '{unused[0]}' (space.{unused[0]}); add "
            f"'{{{unused[0]}}}' to the command, or set objective.params_file: true if the script reads "
            f"its parameters from HPO_PARAMS_FILE / HPO_PARAMS_JSON"
        )
    conditional_unread = [n for n in space if getattr(space[n], "when", None)]
    if conditional_unread and not objective.params_file:
        raise ValueError(
            f"objective.params_file: conditional parameter '{conditional_unread[0]}' cannot be passed as "
            f"an argument (absent from some trials); set objective.params_file: true and read it from "
            f"HPO_PARAMS_FILE"
        )
    unused_args = [k for k in objective.args if k not in used]
    if unused_args:
        raise ValueError(
            f"objective.args.{unused_args[0]}: not used by objective.command; add "
            f"'{{{unused_args[0]}}}' to the command or remove it"
        )
