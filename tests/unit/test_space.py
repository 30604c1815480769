from __future__ import annotations

import numpy as np
import pytest

from hpo_tasks.space import SearchSpace
from tests.helpers import space_of

SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "depth": {"type": "int", "low": 2, "high": 12},
    "width": {"type": "int", "low": 8, "high": 512, "power_of_two": True},
    "opt": {"type": "categorical", "choices": ["adam", "sgd", "adamw"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"opt": "sgd"}},
}


def _space() -> SearchSpace:
    return space_of(SPACE)


def test_columns_bounds_and_grids() -> None:
    space = _space()
    assert space.names == ["lr", "dropout", "depth", "width", "opt", "momentum"]
    np.testing.assert_array_equal(space.bounds(), [[0] * 6, [1, 1, 1, 1, 2, 1]])
    assert space.cat_dims() == {4: [0.0, 1.0, 2.0]}
    grids = space.discrete_dims()
    assert len(grids[2]) == 11 and len(grids[3]) == 7  # depth 2..12; width 8, 16, ..., 512
    assert space.distributions()["width"].choices == (8, 16, 32, 64, 128, 256, 512)


@pytest.mark.parametrize(
    "params",
    [
        {"lr": 1e-5, "dropout": 0.0, "depth": 2, "width": 8, "opt": "adam"},
        {"lr": 1e-1, "dropout": 0.5, "depth": 12, "width": 512, "opt": "adamw"},
        {"lr": 3e-3, "dropout": 0.123, "depth": 7, "width": 64, "opt": "sgd", "momentum": 0.9},
    ],
)
def test_round_trip(params: dict) -> None:
    space = _space()
    back = space.decode(space.encode(params))
    assert set(back) == set(params)
    for k, v in params.items():
        assert back[k] == (pytest.approx(v, rel=1e-9, abs=1e-12) if isinstance(v, float) else v)


def test_log_scale_midpoint_is_geometric_mean() -> None:
    x = np.array([0.5, 0, 0, 0, 0, 0])
    assert _space().decode(x)["lr"] == pytest.approx(1e-3)


def test_conditional_parameter_only_when_active() -> None:
    space = _space()
    sgd = space.decode(np.array([0.5, 0.5, 0.5, 0.5, 1.0, 0.7]))
    adam = space.decode(np.array([0.5, 0.5, 0.5, 0.5, 0.0, 0.7]))
    assert sgd["opt"] == "sgd" and sgd["momentum"] == pytest.approx(0.693)
    assert adam["opt"] == "adam" and "momentum" not in adam
    assert space.is_complete(adam) and not space.is_complete(
        {k: v for k, v in sgd.items() if k != "momentum"}
    )
    assert space.encode(adam)[5] == 0.0  # inactive: imputed


def test_decode_types_and_bounds_for_any_point() -> None:
    space = _space()
    rng = np.random.default_rng(0)
    for u in rng.uniform(-0.2, 1.2, size=(200, 6)):
        x = space.from_unit(u)
        p = space.decode(x)
        assert isinstance(p["depth"], int) and 2 <= p["depth"] <= 12
        assert p["width"] in (8, 16, 32, 64, 128, 256, 512)
        assert isinstance(p["lr"], float) and 1e-5 <= p["lr"] <= 1e-1
        assert p["opt"] in ("adam", "sgd", "adamw")
        assert ("momentum" in p) == (p["opt"] == "sgd")
        np.testing.assert_allclose(space.round_trip(space.round_trip(x)), space.round_trip(x))
