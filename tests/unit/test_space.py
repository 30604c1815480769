from __future__ import annotations

import numpy as np
import pytest

from hpo_tasks.config import parse_sweep
from hpo_tasks.space import SearchSpace

SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "depth": {"type": "int", "low": 2, "high": 12},
    "width": {"type": "int", "low": 8, "high": 512, "log": True},
    "opt": {"type": "categorical", "choices": ["adam", "sgd", "adamw"]},
}


def _space() -> SearchSpace:
    cfg = parse_sweep(
        {
            "name": "s",
            "objective": {"name": "branin"},
            "direction": "minimize",
            "space": SPACE,
            "budget": {"max_trials": 10},
        }
    )
    return SearchSpace.from_config(cfg)


def test_width_counts_one_hot_columns() -> None:
    assert _space().width == 4 + 3


@pytest.mark.parametrize(
    "params",
    [
        {"lr": 1e-5, "dropout": 0.0, "depth": 2, "width": 8, "opt": "adam"},
        {"lr": 1e-1, "dropout": 0.5, "depth": 12, "width": 512, "opt": "adamw"},
        {"lr": 3e-3, "dropout": 0.123, "depth": 7, "width": 64, "opt": "sgd"},
    ],
)
def test_round_trip(params: dict) -> None:
    space = _space()
    x = space.encode(params)
    assert x.shape == (7,) and np.all((x >= 0) & (x <= 1))
    back = space.decode(x)
    assert back["depth"] == params["depth"] and back["width"] == params["width"]
    assert back["opt"] == params["opt"]
    assert back["lr"] == pytest.approx(params["lr"], rel=1e-9)
    assert back["dropout"] == pytest.approx(params["dropout"], abs=1e-12)


def test_log_scale_midpoint_is_geometric_mean() -> None:
    space = _space()
    x = np.full(7, 0.5)
    assert space.decode(x)["lr"] == pytest.approx(1e-3)


def test_decode_types_and_bounds_for_any_point() -> None:
    space = _space()
    rng = np.random.default_rng(0)
    for x in rng.uniform(-0.2, 1.2, size=(200, 7)):
        p = space.decode(x)
        assert isinstance(p["depth"], int) and 2 <= p["depth"] <= 12
        assert isinstance(p["width"], int) and 8 <= p["width"] <= 512
        assert isinstance(p["lr"], float) and 1e-5 <= p["lr"] <= 1e-1
        assert p["opt"] in ("adam", "sgd", "adamw")
        np.testing.assert_allclose(space.round_trip(space.round_trip(x)), space.round_trip(x))
