"""Warm start: mapping an earlier study onto tonight's space, choosing the source, what a run takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_tasks import warm_start
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.config.overrides import check_overrides, form_fields, with_overrides
from hpo_tasks.space import SearchSpace
from hpo_tasks.steps import init_sweep
from tests.helpers import warm_sweep

SPACE = SearchSpace.from_config(
    parse_sweep(
        warm_sweep(
            space={
                "lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
                "depth": {"type": "int", "low": 2, "high": 8},
                "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"opt": "sgd"}},
            }
        )
    )
)


@pytest.mark.parametrize(
    ("params", "clip", "expected", "notes"),
    [
        # in the space: unchanged, for enqueueing and for observations alike
        ({"lr": 0.05, "depth": 4, "opt": "adam"}, False, {"lr": 0.05, "depth": 4, "opt": "adam"}, []),
        # bounds narrowed: enqueued configs are clipped, observations dropped
        ({"lr": 0.5, "depth": 12, "opt": "adam"}, True, {"lr": 0.1, "depth": 8, "opt": "adam"},
         [("lr", "clipped"), ("depth", "clipped")]),
        ({"lr": 0.5, "depth": 4, "opt": "adam"}, False, None, [("lr", "outside")]),
        # float became int: rounded when enqueued
        ({"lr": 0.05, "depth": 3.6, "opt": "adam"}, True, {"lr": 0.05, "depth": 4, "opt": "adam"},
         [("depth", "clipped")]),
        # a removed parameter is dropped
        ({"lr": 0.05, "depth": 4, "opt": "adam", "gone": 3}, False,
         {"lr": 0.05, "depth": 4, "opt": "adam"}, [("gone", "removed")]),
        # a new parameter (momentum, active under sgd): its centre when enqueued, skipped as observation
        ({"lr": 0.05, "depth": 4, "opt": "sgd"}, True,
         {"lr": 0.05, "depth": 4, "opt": "sgd", "momentum": 0.45}, [("momentum", "new")]),
        ({"lr": 0.05, "depth": 4, "opt": "sgd"}, False, None, [("momentum", "new")]),
        # a choice no longer offered: skipped either way
        ({"lr": 0.05, "depth": 4, "opt": "rmsprop"}, True, None, [("opt", "choice gone")]),
    ],
)  # fmt: skip
def test_earlier_configs_are_mapped_onto_the_new_space(
    params: dict, clip: bool, expected: dict | None, notes: list
) -> None:
    got, got_notes = warm_start.fit_to_space(params, SPACE, clip=clip)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)
    assert got_notes == notes


def test_config_and_form_validate_the_source() -> None:
    assert parse_sweep(warm_sweep(warm_start={})).warm_start.source == "latest"  # type: ignore[union-attr]
    assert parse_sweep(warm_sweep(warm_start=...)).warm_start is None  # no block: cold start
    with pytest.raises(SweepConfigError, match=r"warm_start\.from: 'yesterday' is not latest, none"):
        parse_sweep(warm_sweep(warm_start={"from": "yesterday"}))
    with pytest.raises(SweepConfigError, match=r"warm_start\.top_k: Input should be greater than"):
        parse_sweep(warm_sweep(warm_start={"top_k": -1}))

    cfg = parse_sweep(warm_sweep())
    assert form_fields(cfg)["warm_start_from"]["default"] == "latest"
    with pytest.raises(SweepConfigError, match="warm_start_from 'last night' is not latest"):
        check_overrides(cfg, {"warm_start_from": "last night"})
    assert with_overrides(cfg, {"warm_start_from": "none"}).warm_start is None
    named = with_overrides(cfg, {"warm_start_from": "ws:n1"}).warm_start
    assert named is not None and (named.source, named.top_k) == ("ws:n1", 2)
    cold = parse_sweep(warm_sweep(warm_start=...))
    assert form_fields(cold)["warm_start_from"]["default"] == "none"
    assert with_overrides(cold, {"warm_start_from": "latest"}).warm_start is not None


def test_named_source_must_exist(state_dir: Path) -> None:
    with pytest.raises(SweepConfigError, match=r"warm_start\.from: no study 'ws:nope'"):
        init_sweep(parse_sweep(warm_sweep(warm_start={"from": "ws:nope"})), run_id="n1")
