from __future__ import annotations

from pathlib import Path

import pytest

from hpo_tasks.config import SweepConfigError, discover_sweeps, load_sweep, parse_sweep, with_overrides
from tests.conftest import REPO, write_sweep
from tests.helpers import branin_sweep

GOOD = branin_sweep("demo")


def _with(path: str, value: object) -> dict:
    import copy

    data = copy.deepcopy(GOOD)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is ...:
        node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    return data


@pytest.mark.parametrize("path", sorted((REPO / "config" / "sweeps").glob("*.yaml")))
def test_shipped_sweeps_are_valid(path: Path) -> None:
    cfg = load_sweep(path)
    assert cfg.dag_id == f"hpo__{path.stem}"


def test_defaults() -> None:
    cfg = parse_sweep(GOOD)
    assert cfg.n_init == 5  # min(10, max(5, d+1)) with d=2
    assert cfg.budget.batch_size == 4
    assert cfg.sampler.name == "gp" and cfg.sampler.acquisition == "logei"
    assert parse_sweep(_with("space.x3", {"type": "int", "low": 1, "high": 9})).n_init == 5  # d=3
    big = _with("space", {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(7)})
    assert parse_sweep({**big, "budget": {"max_trials": 40}}).n_init == 8  # d+1
    wide = _with("space", {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(30)})
    assert parse_sweep({**wide, "budget": {"max_trials": 40}}).n_init == 10  # capped
    assert parse_sweep({**wide, "budget": {"max_trials": 6}}).n_init == 6  # by the budget


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("budget.batch_size", 0, "budget.batch_size: Input should be greater than or equal to 1 (got 0)"),
        ("budget.max_trial", 5, "budget.max_trial: unknown field; did you mean 'max_trials'?"),
        ("budget.max_trials", ..., "budget.max_trials: required field is missing"),
        ("direction", "up", "direction: Input should be 'maximize' or 'minimize'"),
        ("space.x1.low", 20, "space.x1: low (20.0) must be smaller than high (10.0)"),
        ("space.x1.log", True, "space.x1: log scale needs low > 0 (got -5.0)"),
        ("space.x1.type", "double", "space.x1: type must be one of 'float', 'int', 'categorical'"),
        ("space.x2", {"type": "categorical", "choices": ["a"]}, "space.x2.choices: needs at least two"),
        ("objective.name", "brannin", "did you mean 'branin'?"),
        ("objective.name", "no_such_pkg.mod:fn", "module 'no_such_pkg.mod' cannot be found"),
        ("sampler", {"name": "cmaes"}, "sampler.name: Input should be 'gp', 'optuna-gp', 'tpe' or 'random'"),
        ("schedule", "every night", "schedule: 'every night' is not a cron expression"),
        ("budget.n_init", 50, "budget.n_init (50) exceeds budget.max_trials (10)"),
        ("name", "has space", "name: 'has space' is not a valid sweep name"),
    ],
)
def test_bad_config_names_field_and_fix(path: str, value: object, expected: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        parse_sweep(_with(path, value), source="x.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("x.yaml: ")


def test_file_errors(tmp_path: Path) -> None:
    bad_yaml = write_sweep(tmp_path, "broken", "name: [unclosed\n")
    with pytest.raises(SweepConfigError, match="not valid YAML"):
        load_sweep(bad_yaml)
    import yaml

    mismatch = write_sweep(tmp_path, "other", yaml.safe_dump(GOOD))
    with pytest.raises(SweepConfigError, match="must match the file name"):
        load_sweep(mismatch)
    with pytest.raises(SweepConfigError, match="cannot read"):
        load_sweep(tmp_path / "missing.yaml")


def test_discover_keeps_good_files_next_to_bad(tmp_path: Path) -> None:
    import yaml

    write_sweep(tmp_path, "demo", yaml.safe_dump(GOOD))
    write_sweep(tmp_path, "bad", yaml.safe_dump({**GOOD, "name": "bad", "direction": "up"}))
    found = {p.stem: v for p, v in discover_sweeps(tmp_path).items()}
    assert found["demo"].name == "demo"
    assert isinstance(found["bad"], SweepConfigError) and "direction" in str(found["bad"])


def test_overrides_are_validated() -> None:
    cfg = parse_sweep(GOOD)
    assert with_overrides(cfg, {"max_trials": 6, "seed": 3, "patience": None}).budget.max_trials == 6
    with pytest.raises(SweepConfigError, match=r"budget\.batch_size"):
        with_overrides(cfg, {"batch_size": 0})
    with pytest.raises(SweepConfigError, match="unknown run override"):
        with_overrides(cfg, {"learning_rate": 1})


def test_config_is_frozen() -> None:
    cfg = parse_sweep(GOOD)
    with pytest.raises(Exception, match="frozen"):
        cfg.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"m": {"type": "float", "low": 0, "high": 1, "when": {"opt": "sgd"}}}, "no parameter 'opt'"),
        (
            {
                "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                "m": {"type": "float", "low": 0, "high": 1, "when": {"opt": "rmsprop"}},
            },
            "space.m.when.opt: ['rmsprop'] not among opt's choices ['adam', 'sgd']",
        ),
        (
            {
                "k": {"type": "int", "low": 1, "high": 3},
                "m": {"type": "float", "low": 0, "high": 1, "when": {"k": 2}},
            },
            "conditions must name a categorical parameter",
        ),
        (
            {
                "a": {"type": "categorical", "choices": ["x", "y"], "when": {"b": "x"}},
                "b": {"type": "categorical", "choices": ["x", "y"], "when": {"a": "x"}},
            },
            "conditions form a cycle",
        ),
        ({"h": {"type": "int", "low": 24, "high": 512, "power_of_two": True}}, "powers of two (got 24)"),
    ],
)
def test_bad_space(space: dict, expected: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({**GOOD, "space": space})
    assert expected in str(info.value)


def test_conditional_order_puts_parents_first() -> None:
    space = {
        "m": {"type": "float", "low": 0, "high": 1, "when": {"opt": ["sgd"]}},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "lr": {"type": "float", "low": 1e-4, "high": 1, "log": True},
    }
    cfg = parse_sweep({**GOOD, "space": space})
    assert cfg.param_order == ["opt", "m", "lr"]
    assert cfg.space["m"].when == {"opt": ("sgd",)}


@pytest.mark.parametrize(
    ("sampler", "error"),
    [
        ({"name": "gp", "acquisition": "ucb", "beta": 3.0}, None),
        ({"name": "gp", "acquisition": "thompson", "init_design": "lhs"}, None),
        ({"name": "tpe", "acquisition": "ucb"}, "acquisition only apply to sampler 'gp'"),
        ({"name": "gp", "acquisition": "ei"}, "sampler.acquisition: Input should be 'logei', 'ucb'"),
        ({"name": "gp", "beta": 0}, "sampler.beta: Input should be greater than 0"),
    ],
)
def test_sampler_settings(sampler: dict, error: str | None) -> None:
    if error is None:
        assert parse_sweep({**GOOD, "sampler": sampler}).sampler.acquisition == sampler["acquisition"]
        return
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({**GOOD, "sampler": sampler})
    assert error in str(info.value)


def test_parent_run_params_hold_the_optional_blocks_and_the_noise_model() -> None:
    """What the MLflow parent run records of a sweep (``tracking.sweep_params``): every optional block by
    its YAML names, and the GP's noise model, so two nights' runs can be compared setting by setting."""
    from hpo_tasks.tracking import sweep_params

    cold = sweep_params(parse_sweep(GOOD))
    assert cold["noise"] == "learned" and "noise_std" not in cold
    assert not any(k.startswith(("warm_start.", "replicate.")) for k in cold)

    data = _with("warm_start", {"from": "latest", "top_k": 2})
    data["replicate"] = {"top_k": 1, "repeats": 4}
    data["sampler"] = {"name": "gp", "noise": "known", "noise_std": 0.5}
    params = sweep_params(parse_sweep(data))
    assert params["noise"] == "known" and params["noise_std"] == 0.5
    assert params["warm_start.from"] == "latest" and params["warm_start.top_k"] == 2
    assert params["warm_start.observations"] is True and params["warm_start.max_observations"] == 200
    assert (params["replicate.top_k"], params["replicate.repeats"]) == (1, 4)
    assert "noise" not in sweep_params(parse_sweep(_with("sampler", {"name": "tpe"})))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, True),  # 25 parameters, one unconstrained objective: auto turns TuRBO on
        ({"constraints": ["c <= 0"], "objective": {"name": "branin", "metric": "value"}}, False),  # never
        ({"sampler": {"name": "tpe"}}, False),
    ],
)
def test_logged_trust_region_is_what_the_sampler_runs(extra: dict, expected: bool) -> None:
    """One rule: the MLflow param ``trust_region`` and the sampler read ``cfg.uses_trust_region``."""
    from hpo_tasks.samplers import make_sampler
    from hpo_tasks.tracking import sweep_params

    data = {**GOOD, "space": {f"x{i}": {"type": "float", "low": 0, "high": 1} for i in range(25)}, **extra}
    cfg = parse_sweep(data)
    sampler = make_sampler(cfg, n_asked=0)
    runs = getattr(sampler, "_trust_region", False)
    assert sweep_params(cfg)["trust_region"] is runs is cfg.uses_trust_region is expected


@pytest.mark.parametrize(
    ("schedule", "error"),
    [
        ("0 2 * * *", None),
        ("*/15 * * * *", None),
        ("0 2 * * MON-FRI", None),
        ("0 2 1,15 * *", None),
        ("0 0 1 */3 *", None),
        ("@daily", None),
        ("@quarterly", None),  # an Airflow preset
        ("@annually", None),  # croniter's alias, which Airflow passes to it
        ("@once", None),
        (None, None),
        (
            "0 25 * * *",
            "'0 25 * * *' is not a cron expression Airflow accepts ([0 25 * * *] is not acceptable",
        ),
        ("61 2 * * *", "'61 2 * * *' is not a cron expression Airflow accepts"),
        ("0 2 32 * *", "out of range"),
        ("0 2 * 13 *", "out of range"),
        ("0 2 * *", "Exactly 5, 6 or 7 columns"),
        ("0 0 2 * * *", "(6 fields)"),  # croniter's seconds column: not an Airflow cron
        ("@nightly", "'@nightly' is not a cron expression Airflow accepts"),
        ("every night", "'every night' is not a cron expression"),
    ],
)
def test_schedule_is_checked_the_way_airflow_parses_it(schedule: str | None, error: str | None) -> None:
    if error is None:
        assert parse_sweep({**GOOD, "schedule": schedule}).schedule == schedule
        return
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({**GOOD, "schedule": schedule}, source="x.yaml")
    message = str(info.value)
    assert f"\n  schedule: '{schedule}' is not a cron expression" in message and error in message
    assert "like '0 2 * * *', a preset like '@daily', or null for manual runs only" in message


def test_when_errors_name_the_parameter() -> None:
    space = {
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "m": {"type": "float", "low": 0, "high": 1, "when": {"optim": "sgd"}},
    }
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({**GOOD, "space": space}, source="x.yaml")
    assert "\n  space.m.when.optim: no parameter 'optim' in the space" in str(info.value)
    assert "<root>" not in str(info.value)


def test_batch_size_above_max_trials_warns() -> None:
    assert parse_sweep(GOOD).warnings == []
    cfg = parse_sweep({**GOOD, "budget": {"max_trials": 3, "batch_size": 8}})
    assert cfg.warnings == [
        "budget.batch_size (8) exceeds budget.max_trials (3): no round proposes more than the trials "
        "left, so batch_size has no effect; lower it to at most max_trials"
    ]


def test_hpo_validate_prints_the_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from hpo_tasks.cli import main

    path = write_sweep(
        tmp_path, "demo", yaml.safe_dump({**GOOD, "budget": {"max_trials": 3, "batch_size": 8}})
    )
    assert main(["validate", str(path)]) == 0
    assert "budget.batch_size (8) exceeds budget.max_trials (3)" in capsys.readouterr().err


def test_choices_are_the_literals() -> None:
    from hpo_tasks.config import ACQUISITIONS, PRUNERS, SAMPLERS

    assert SAMPLERS == ("gp", "optuna-gp", "tpe", "random")
    assert PRUNERS == ("none", "hyperband", "successive_halving", "median")
    assert ACQUISITIONS == ("logei", "ucb", "pi", "thompson", "kg", "mes")
