"""Search-space encoding: trial params <-> points of the space the GP models.

Notations:
    d  number of parameters in the sweep's space; the encoded point has one column per parameter
    x  an encoded point, shape (d,)

Column by parameter type:
    float / int          (v - low) / (high - low), in log space when ``log: true``; in [0, 1]
    int, power_of_two    (log2 v - log2 low) / (log2 high - log2 low); in [0, 1], on a grid
    categorical          the choice's index, 0 .. k-1 (the GP gives these columns a categorical kernel)

Integers (and powers of two) are *discrete* columns: the acquisition optimiser searches their grids
directly (``discrete_dims``), and anything continuous is rounded when decoded. Conditional parameters
(``when:``) that are inactive for a configuration are absent from its params; their column holds a fixed
imputed value (0) so the GP sees every inactive configuration alike there, and decoding drops them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna.distributions as od

from hpo_tasks.config import CategoricalParam, FloatParam, IntParam, SweepConfig

INACTIVE = 0.0  # the imputed column value of an inactive conditional parameter
_MAX_GRID = 2048  # integer ranges wider than this are searched continuously and rounded


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[tuple[str, FloatParam | IntParam | CategoricalParam], ...]  # in dependency order

    @classmethod
    def from_config(cls, cfg: SweepConfig) -> SearchSpace:
        return cls(tuple((name, cfg.space[name]) for name in cfg.param_order))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.params]

    @property
    def width(self) -> int:
        return len(self.params)

    @property
    def has_conditions(self) -> bool:
        return any(p.when for _, p in self.params)

    # -- what the optimiser needs ------------------------------------------------------------
    def bounds(self) -> np.ndarray:
        """``2 x d`` lower and upper bounds of the encoded columns."""
        hi = [len(p.choices) - 1 if isinstance(p, CategoricalParam) else 1.0 for _, p in self.params]
        return np.array([[0.0] * self.width, hi], dtype=np.float64)

    def cat_dims(self) -> dict[int, list[float]]:
        return {
            i: [float(j) for j in range(len(p.choices))]
            for i, (_, p) in enumerate(self.params)
            if isinstance(p, CategoricalParam)
        }

    def discrete_dims(self) -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}
        for i, (_, p) in enumerate(self.params):
            if isinstance(p, IntParam):
                values = _int_values(p)
                if len(values) <= _MAX_GRID:
                    out[i] = sorted({float(self._encode_one(p, v)) for v in values})
        return out

    # -- optuna --------------------------------------------------------------------------------
    def distributions(self) -> dict[str, od.BaseDistribution]:
        out: dict[str, od.BaseDistribution] = {}
        for name, p in self.params:
            if isinstance(p, FloatParam):
                out[name] = od.FloatDistribution(p.low, p.high, log=p.log)
            elif isinstance(p, IntParam) and p.power_of_two:
                out[name] = od.CategoricalDistribution(_int_values(p))
            elif isinstance(p, IntParam):
                out[name] = od.IntDistribution(p.low, p.high, log=p.log)
            else:
                out[name] = od.CategoricalDistribution(p.choices)
        return out

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Define-by-run: suggest the active parameters of ``trial`` in dependency order."""
        params: dict[str, Any] = {}
        for name, dist in self.distributions().items():
            if not _active(dict(self.params)[name], params):
                continue
            if isinstance(dist, od.FloatDistribution):
                params[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
            elif isinstance(dist, od.IntDistribution):
                params[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
            else:
                assert isinstance(dist, od.CategoricalDistribution)
                params[name] = trial.suggest_categorical(name, dist.choices)
        return params

    # -- encoding ------------------------------------------------------------------------------
    @staticmethod
    def _encode_one(p: FloatParam | IntParam | CategoricalParam, v: Any) -> float:
        if isinstance(p, CategoricalParam):
            return float(p.choices.index(v))
        if isinstance(p, IntParam) and p.power_of_two:
            return (math.log2(v) - math.log2(p.low)) / (math.log2(p.high) - math.log2(p.low))
        if p.log:
            return (math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
        return (v - p.low) / (p.high - p.low)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """One trial's params -> its encoded point ``x`` (inactive parameters imputed)."""
        x = [self._encode_one(p, params[name]) if name in params else INACTIVE for name, p in self.params]
        return np.clip(np.asarray(x, dtype=np.float64), *self.bounds())

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """An encoded point -> valid params: rounded, clipped, inactive parameters dropped."""
        x = np.clip(np.asarray(x, dtype=np.float64), *self.bounds())  # (d,)
        out: dict[str, Any] = {}
        for u, (name, p) in zip(x, self.params, strict=True):
            if not _active(p, out):
                continue
            out[name] = _decode_one(p, float(u))
        return out

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """A point of the unit cube (Sobol, LHS) -> the encoded point it stands for."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0 - 1e-12)
        x = u.copy()
        for i, (_, p) in enumerate(self.params):
            if isinstance(p, CategoricalParam):
                x[i] = math.floor(u[i] * len(p.choices))
        return x

    def round_trip(self, x: np.ndarray) -> np.ndarray:
        """The encoded point a candidate lands on once decoded to real params."""
        return self.encode(self.decode(x))

    def is_complete(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` holds every parameter that is active for it."""
        seen: dict[str, Any] = {}
        for name, p in self.params:
            if _active(p, seen):
                if name not in params:
                    return False
                seen[name] = params[name]
        return True

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a configuration, used to reject duplicates."""
        out: list[Any] = []
        for name, p in self.params:
            v = params.get(name)
            out.append(float(f"{v:.12g}") if isinstance(p, FloatParam) and v is not None else v)
        return tuple(out)


def _active(p: FloatParam | IntParam | CategoricalParam, params: Mapping[str, Any]) -> bool:
    return all(params.get(parent) in allowed for parent, allowed in (p.when or {}).items())


def _int_values(p: IntParam) -> list[int]:
    if p.power_of_two:
        return [2**k for k in range(int(math.log2(p.low)), int(math.log2(p.high)) + 1)]
    return list(range(p.low, p.high + 1))


def _decode_one(p: FloatParam | IntParam | CategoricalParam, u: float) -> Any:
    if isinstance(p, CategoricalParam):
        return p.choices[int(min(max(round(u), 0), len(p.choices) - 1))]
    if isinstance(p, IntParam) and p.power_of_two:
        lo, hi = math.log2(p.low), math.log2(p.high)
        return int(2 ** round(lo + u * (hi - lo)))
    if p.log:
        v = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    else:
        v = p.low + u * (p.high - p.low)
    if isinstance(p, IntParam):
        return int(min(max(round(v), p.low), p.high))
    return float(min(max(v, p.low), p.high))
