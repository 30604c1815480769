"""objective.command in the sweep file: template validation naming the field, substitution, round trip."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from hpo_tasks.config import SweepConfig, SweepConfigError, parse_sweep
from hpo_tasks.objectives.command import render

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "hidden": {"type": "int", "low": 8, "high": 64},
}


def _cfg(objective: dict[str, Any], space: dict | None = None) -> SweepConfig:
    return parse_sweep(
        {
            "name": "c",
            "objective": objective,
            "direction": "maximize",
            "space": space or SPACE,
            "budget": {"max_trials": 2},
        }
    )


GOOD = ["python", "train.py", "--lr", "{lr}", "--hidden={hidden}", "--seed", "{seed}"]


def test_a_command_objective_parses_and_round_trips() -> None:
    cfg = _cfg({"command": [*GOOD, "--epochs", "{epochs}"], "args": {"epochs": 3}, "metric": "acc"})
    assert cfg.objective.is_command and cfg.objective.name == "command"
    assert cfg.max_resource == 3  # objective.args.epochs, as for a function objective
    assert SweepConfig.model_validate_json(cfg.model_dump_json()) == cfg  # pinned on the study
    assert not _cfg({"name": "branin"}).objective.is_command  # the function form is unchanged


@pytest.mark.parametrize(
    ("objective", "field", "words"),
    [
        ({"command": ["python", "t.py", "{lrr}", "{hidden}"], "metric": "a"}, "objective.command",
         "unknown placeholder '{lrr}': did you mean '{lr}'?"),
        ({"command": ["python", "t.py", "{lr}"], "metric": "a"}, "objective.command",
         "never uses parameter 'hidden'"),
        ({"command": "python t.py --lr {lr}", "metric": "a"}, "objective.command", "not one string"),
        ({"command": [], "metric": "a"}, "objective.command", "non-empty list of strings"),
        ({"command": ["python", ["t.py"]], "metric": "a"}, "objective.command", "entry 1"),
        ({"command": GOOD}, "objective.metric", "name the metric"),
        ({"command": GOOD, "metric": "a", "name": "branin"}, "objective", "either name"),
        ({"name": "branin", "workdir": "src"}, "objective", "workdir only applies"),
        ({"name": "command"}, "objective", "needs command"),
        ({"command": [*GOOD, "{lr:.2f}"], "metric": "a"}, "objective", "is not a placeholder"),
        ({"command": [*GOOD, "{oops"], "metric": "a"}, "objective", "literal braces"),
        ({"command": GOOD, "metric": "a", "args": {"epochs": 3}}, "objective.args.epochs", "not used"),
        ({"command": GOOD, "metric": "a", "metric_source": "stderr"}, "objective.metric_source", ""),
    ],
)  # fmt: skip
def test_a_bad_command_fails_naming_the_field(objective: dict, field: str, words: str) -> None:
    with pytest.raises(SweepConfigError) as err:
        _cfg(objective)
    assert f"  {field}: " in str(err.value) and words in str(err.value)


def test_unused_parameters_need_params_file_and_conditional_ones_cannot_be_arguments() -> None:
    assert _cfg({"command": ["python", "t.py"], "metric": "a", "params_file": True}).objective.params_file
    space = {**SPACE, "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
             "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"opt": "sgd"}}}  # fmt: skip
    with pytest.raises(SweepConfigError, match=r"'\{momentum\}' is a conditional parameter"):
        _cfg({"command": [*GOOD, "{opt}", "{momentum}"], "metric": "a", "params_file": True}, space)
    with pytest.raises(SweepConfigError, match=r"objective\.params_file: conditional parameter 'momentum'"):
        _cfg({"command": [*GOOD, "{opt}"], "metric": "a"}, space)
    assert _cfg({"command": [*GOOD, "{opt}"], "metric": "a", "params_file": True}, space)


def test_reserved_placeholders_cannot_be_parameter_names() -> None:
    with pytest.raises(SweepConfigError, match="'seed' is a reserved placeholder"):
        _cfg({"command": ["x", "{seed}"], "metric": "a"}, {"seed": {"type": "int", "low": 0, "high": 3}})


def test_render_substitutes_every_placeholder_exactly_and_never_splits() -> None:
    argv = render(
        ("{python}", "t.py", "--lr", "{lr}", "--name={name} x", "{{literal}}", "--flag", "{flag}"),
        {"lr": 0.1 + 0.2, "name": "a b;rm -rf /", "flag": True},
        seed=5,
        trial_number=2,
    )
    assert argv == [
        sys.executable, "t.py", "--lr", "0.30000000000000004", "--name=a b;rm -rf / x", "{literal}",
        "--flag", "true",
    ]  # fmt: skip
    assert float(argv[3]) == 0.1 + 0.2  # the script trains with exactly the suggested value
    fixed = render(("{seed}", "{trial_number}", "{epochs}"), {}, seed=7, trial_number=3, args={"epochs": 2})
    assert fixed == ["7", "3", "2"]
