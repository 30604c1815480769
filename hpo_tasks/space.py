"""Search-space encoding: trial params <-> points of the unit cube the GP works in.

Notations:
    d  number of parameters in the sweep's space
    D  encoded width: one column per float/int parameter, one per choice of a categorical (one-hot)

Floats and integers map linearly (or in log space, ``log: true``) onto [0, 1]. Integers are treated as
continuous while the acquisition is optimised and rounded when decoded; the engine rejects candidates that
round onto an existing trial. Categoricals are one-hot columns; a decoded point takes the argmax.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna.distributions as od

from hpo_tasks.config import CategoricalParam, FloatParam, IntParam, SweepConfig


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[tuple[str, FloatParam | IntParam | CategoricalParam], ...]

    @classmethod
    def from_config(cls, cfg: SweepConfig) -> SearchSpace:
        return cls(tuple(cfg.space.items()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.params]

    @property
    def width(self) -> int:
        """D, the encoded width."""
        return sum(len(p.choices) if isinstance(p, CategoricalParam) else 1 for _, p in self.params)

    def distributions(self) -> dict[str, od.BaseDistribution]:
        out: dict[str, od.BaseDistribution] = {}
        for name, p in self.params:
            if isinstance(p, FloatParam):
                out[name] = od.FloatDistribution(p.low, p.high, log=p.log)
            elif isinstance(p, IntParam):
                out[name] = od.IntDistribution(p.low, p.high, log=p.log)
            else:
                out[name] = od.CategoricalDistribution(p.choices)
        return out

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """One trial's params -> a point of [0, 1]^D."""
        cols: list[float] = []
        for name, p in self.params:
            v = params[name]
            if isinstance(p, CategoricalParam):
                onehot = [0.0] * len(p.choices)
                onehot[p.choices.index(v)] = 1.0
                cols.extend(onehot)
            elif p.log:
                cols.append((math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low)))
            else:
                cols.append((v - p.low) / (p.high - p.low))
        return np.clip(np.asarray(cols, dtype=np.float64), 0.0, 1.0)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """A point of [0, 1]^D -> valid params (integers rounded, categoricals by argmax)."""
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)  # (D,)
        out: dict[str, Any] = {}
        i = 0
        for name, p in self.params:
            if isinstance(p, CategoricalParam):
                k = len(p.choices)
                out[name] = p.choices[int(np.argmax(x[i : i + k]))]
                i += k
                continue
            u = float(x[i])
            i += 1
            if p.log:
                v = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
            else:
                v = p.low + u * (p.high - p.low)
            if isinstance(p, IntParam):
                out[name] = int(min(max(round(v), p.low), p.high))
            else:
                out[name] = float(min(max(v, p.low), p.high))
        return out

    def round_trip(self, x: np.ndarray) -> np.ndarray:
        """The point a candidate lands on once decoded to real params: (D,) -> (D,)."""
        return self.encode(self.decode(x))

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a configuration, used to reject duplicates."""
        out: list[Any] = []
        for name, p in self.params:
            v = params[name]
            out.append(float(f"{v:.12g}") if isinstance(p, FloatParam) else v)
        return tuple(out)
