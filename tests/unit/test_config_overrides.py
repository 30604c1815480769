"""hpo_tasks.config.overrides: the run's conf checked before any trial (unknown keys refused with a
did-you-mean), and the one rounds rule the DAG shape and the init check share."""

from __future__ import annotations

import re

import pytest

from hpo_tasks.config import SweepConfigError, load_sweep, parse_sweep
from hpo_tasks.config.overrides import (
    check_overrides,
    form_fields,
    rounds_needed,
    run_overrides,
    unrolled_rounds,
    with_overrides,
)
from tests.conftest import REPO
from tests.helpers import branin_sweep
from tests.unit.test_config import GOOD

RANDOM = branin_sweep(
    "daily", budget={"max_trials": 6, "n_init": 3, "batch_size": 3}, sampler={"name": "random"}
)


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"max_trails": 10}, "unknown run parameter 'max_trails': did you mean 'max_trials'?"),
        ({"batchsize": 2}, "unknown run parameter 'batchsize': did you mean 'batch_size'?"),
        ({"aquisition": "ucb"}, "did you mean 'acquisition'?"),
        ({"learning_rate": 0.1}, "unknown run parameter 'learning_rate': valid ones are max_trials, "),
    ],
)
def test_unknown_conf_key_is_refused_naming_it_and_the_valid_ones(conf: dict, expected: str) -> None:
    cfg = parse_sweep(GOOD)
    params = {k: v["default"] for k, v in form_fields(cfg).items()}  # what Airflow resolves from the form
    with pytest.raises(SweepConfigError) as info:
        check_overrides(cfg, run_overrides(cfg, {**params, **conf}, conf))
    message = str(info.value)
    assert expected in message
    assert all(field in message for field in form_fields(cfg))


def test_known_conf_keys_pass_and_keep_the_forms_values() -> None:
    cfg = parse_sweep(GOOD)
    params = {k: v["default"] for k, v in form_fields(cfg).items()} | {"max_trials": 6}
    overrides = run_overrides(cfg, params, {"max_trials": 6})
    check_overrides(cfg, overrides)
    assert overrides["max_trials"] == 6 and set(overrides) == set(form_fields(cfg))


@pytest.mark.parametrize(
    ("budget", "needed", "unrolled"),
    [
        ({"max_trials": 10, "n_init": 4, "batch_size": 3}, 3, 4),  # 4 + 3 + 3; at q=2: 4 + 2*3
        ({"max_trials": 20, "n_init": 6, "batch_size": 4}, 5, 8),
        ({"max_trials": 5, "n_init": 5, "batch_size": 4}, 1, 1),  # the seed round is the whole budget
        ({"max_trials": 3, "batch_size": 8}, 1, 1),  # n_init is capped by max_trials
    ],
)
def test_one_rounds_rule(budget: dict, needed: int, unrolled: int) -> None:
    cfg = parse_sweep({**GOOD, "budget": budget})
    assert rounds_needed(cfg) == needed
    assert (
        unrolled_rounds(cfg)
        == unrolled
        == rounds_needed(cfg, batch_size=form_fields(cfg)["batch_size"]["minimum"])
    )


def test_form_has_sections_enums_and_bounds() -> None:
    cfg = load_sweep(REPO / "config/sweeps/xgb_breast_cancer.yaml")
    fields = form_fields(cfg)
    assert {f["section"] for f in fields.values()} == {"Budget", "Sampler", "Advanced"}
    assert fields["sampler"]["enum"] == ["gp", "optuna-gp", "tpe", "random"]
    assert "logei" in fields["acquisition"]["enum"]
    assert fields["max_trials"]["maximum"] == 40 and fields["n_init"]["minimum"] == cfg.n_init
    assert all(f["description"] for f in fields.values())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_init": 30, "max_trials": 20}, "n_init (30) exceeds max_trials (20)"),
        ({"sampler": "tpe", "acquisition": "other"}, "only applies to sampler gp"),
    ],
)
def test_invalid_combinations_are_rejected_with_a_reason(overrides: dict, message: str) -> None:
    cfg = load_sweep(REPO / "config/sweeps/xgb_breast_cancer.yaml")
    with pytest.raises(SweepConfigError, match=re.escape(message)):
        check_overrides(cfg, overrides)
    check_overrides(cfg, {"sampler": "tpe", "max_trials": 20})  # valid


def test_form_sampler_override_applies() -> None:
    cfg = parse_sweep(RANDOM)
    assert with_overrides(cfg, {"sampler": "tpe", "acquisition": "logei"}).sampler.name == "tpe"


def test_switching_sampler_in_the_form_drops_gp_only_settings() -> None:
    cfg = parse_sweep({**RANDOM, "sampler": {"name": "gp", "acquisition": "ucb"}})
    tpe = with_overrides(cfg, {"sampler": "tpe", "acquisition": "ucb"})  # the form's untouched default
    assert (tpe.sampler.name, tpe.sampler.acquisition) == ("tpe", "logei")
    assert with_overrides(cfg, {"acquisition": "pi"}).sampler.acquisition == "pi"
    with pytest.raises(SweepConfigError, match="only apply to sampler 'gp'"):
        with_overrides(cfg, {"sampler": "random", "acquisition": "pi"})
