"""Sweep files in, ``SweepConfig`` out: YAML parsing, discovery of a folder of sweeps, and pydantic errors
rewritten as one line per bad field (``budget.max_trial: unknown field; did you mean 'max_trials'?``)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hpo_tasks.config.schema import SweepConfig, SweepConfigError

# A model-level rule names its field at the start of its message ("space.m.when.opt: ..."): that
# path is the error's location, not <root>.
_FIELD_PREFIX_RE = re.compile(r"^(?P<loc>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*): (?P<msg>.+)$", re.S)


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
        m = None if loc else _FIELD_PREFIX_RE.match(msg)
        if m and m["loc"].split(".")[0] in SweepConfig.model_fields:
            loc, msg = m["loc"], m["msg"]
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
