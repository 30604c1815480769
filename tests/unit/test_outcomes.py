"""Several objectives and outcome constraints: the sweep file's fields, what an objective's return
becomes, the Pareto set and hypervolume, and the GP sampler's multi-output step."""

from __future__ import annotations

import copy

import numpy as np
import optuna
import pytest

from hpo_tasks import outcomes
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import BraninCurrin, branin_currin, constrained_bowl
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

MO = {
    "name": "mo",
    "objective": {"name": "branin_currin"},
    "objectives": [
        {"metric": "branin", "direction": "minimize"},
        {"metric": "currin", "direction": "minimize"},
    ],
    "space": {"x1": {"type": "float", "low": 0, "high": 1}, "x2": {"type": "float", "low": 0, "high": 1}},
    "budget": {"max_trials": 10},
}
SO = {**{k: v for k, v in MO.items() if k != "objectives"}, "direction": "minimize"}


def _with(base: dict, **changes: object) -> dict:
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_with(SO, direction=...), "objectives: neither direction nor objectives is set"),
        (_with(MO, direction="maximize"), "objectives: set either direction (one objective) or objectives"),
        (_with(MO, objectives=MO["objectives"][:1]), "objectives: needs at least two entries"),
        (_with(MO, objectives=[MO["objectives"][0]] * 2), "objectives: metrics must be distinct"),
        (
            _with(MO, objectives=[{"metric": "a", "direction": "down"}, MO["objectives"][1]]),
            "objectives.0.direction: Input should be 'maximize' or 'minimize'",
        ),
        (
            _with(MO, objective={"name": "branin_currin", "metric": "branin"}),
            "objectives: a multi-objective sweep names its metrics here; remove objective.metric",
        ),
        (_with(MO, reference_point={"branin": 18}), "reference_point: needs one value per objective metric"),
        (_with(SO, reference_point={"a": 1}), "reference_point: only applies to a multi-objective sweep"),
        (
            _with(MO, constraints=["latency_ms < 20"]),
            "constraints: entry 0: 'latency_ms < 20' is not a constraint: write 'metric <= number'",
        ),
        (_with(MO, constraints=["a <= 1", "a <= 1"]), "constraints: constraints must be distinct"),
        (
            _with(SO, constraints=["margin >= 0"]),
            "constraints: need the objective to return named metrics: name the score with objective.metric",
        ),
        (
            _with(MO, sampler={"name": "gp", "acquisition": "ucb"}),
            "sampler.acquisition: 'ucb' cannot handle objectives; use logei",
        ),
    ],
)
def test_bad_outcome_fields_name_the_field_and_the_fix(data: dict, expected: str) -> None:
    with pytest.raises(SweepConfigError) as err:
        parse_sweep(data)
    assert expected in str(err.value)


def test_outcome_fields_parse_and_round_trip() -> None:
    cfg = parse_sweep(
        _with(
            MO, reference_point={"currin": 6, "branin": 18}, constraints=["currin >= 1.5e-1", "branin<=100"]
        )
    )
    assert cfg.directions == ["minimize", "minimize"] and cfg.is_multi_objective
    assert list(cfg.reference_point) == ["branin", "currin"]  # objective order
    (c1, c2) = cfg.outcome_constraints
    assert (c1.metric, c1.op, c1.bound, c2.metric, c2.op, c2.bound) == (
        "currin",
        ">=",
        0.15,
        "branin",
        "<=",
        100,
    )
    assert c1.slack(0.1) > 0 >= c1.slack(0.2) and c2.slack(101) > 0 >= c2.slack(99)
    assert type(cfg).model_validate_json(cfg.model_dump_json()) == cfg  # pinned on the study as JSON
    assert parse_sweep(SO).directions == ["minimize"]


def test_interpret_maps_returns_onto_the_sweep() -> None:
    mo = parse_sweep(_with(MO, constraints=["currin <= 5"]))
    out = outcomes.interpret({"branin": 3.0, "currin": 6.0, "extra": 1}, mo)
    assert out.values == [3.0, 6.0] and out.slacks == [1.0] and out.feasible is False
    assert out.metrics == {"branin": 3.0, "currin": 6.0, "extra": 1.0}
    so = parse_sweep(_with(SO, objective={"name": "constrained_bowl", "metric": "loss"}))
    assert outcomes.interpret({"loss": 2.0, "margin": 1.0}, so).values == [2.0]
    assert outcomes.interpret(0.5, parse_sweep(SO)).values == [0.5]  # a float stays the score
    for raw, cfg, message in [
        (
            {"branin": 1.0},
            mo,
            "objectives.1.metric names metric 'currin' but the objective returned ['branin']",
        ),
        (1.0, mo, "the objective returned a single number but the sweep needs named metrics"),
        ({"branin": 1.0, "currin": float("nan")}, mo, "objective returned currin=nan"),
        ({"a": 1.0}, parse_sweep(SO), "name the score with objective.metric"),
        (
            {"branin": 1, "currin": 2},
            parse_sweep(_with(MO, constraints=["lat <= 1"])),
            "constraints.0 ('lat <= 1')",
        ),
    ]:
        with pytest.raises(outcomes.OutcomeError) as err:
            outcomes.interpret(raw, cfg)
        assert message in str(err.value)


def test_pareto_set_and_hypervolume_on_known_points() -> None:
    loss = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0], [2.0, 2.0]])
    assert outcomes.non_dominated(loss).tolist() == [True, True, False, True, True]
    # Boxes to (5, 5): [1,5]x[4,5] + [2,5]x[2,4] + [4,5]x[1,2] = 4 + 6 + 1.
    assert outcomes.hypervolume(loss, np.array([5.0, 5.0])) == pytest.approx(11.0)
    assert outcomes.hypervolume(loss, np.array([0.5, 0.5])) == 0.0  # nothing inside the box
    ref = outcomes.infer_reference_point(loss)
    assert ref == pytest.approx([4.3, 4.3])  # worst + 10 % of the range


def _mo_study(*, constraints: bool = False, seed: int = 0) -> tuple[optuna.Study, GPBatchSampler]:
    cfg = parse_sweep(MO)
    sampler = GPBatchSampler(SearchSpace.from_config(cfg), n_init=5, seed=seed, reference_point=[18.0, 6.0])
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    return study, sampler


@pytest.mark.slow
def test_gp_sampler_uses_qlognehvi_with_pending_points_and_is_reproducible() -> None:
    def run(seed: int) -> list[dict]:
        study, _ = _mo_study(seed=seed)
        study.optimize(
            lambda t: BraninCurrin.evaluate(np.array([t.suggest_float(f"x{i}", 0, 1) for i in (1, 2)])), 5
        )
        batch = [study.ask() for _ in range(2)]  # the second is asked with the first pending
        for t in batch:
            t.suggest_float("x1", 0, 1)
            t.suggest_float("x2", 0, 1)
        return [
            *(t.params for t in study.trials[:5]),
            *(t.params for t in batch),
            suggest_info(study.trials[-1]),
        ]

    a = run(0)
    info = a[-1]
    assert info["phase"] == "gp" and info["acquisition"] == "qlognehvi" and info["n_pending"] == 1
    assert info["reference_point"] == [18.0, 6.0]
    assert a[5] != a[6]
    assert run(0)[:7] == a[:7]


def test_gp_sampler_models_constraints_from_optuna_constraint_values() -> None:
    cfg = parse_sweep(_with(SO, objective={"name": "constrained_bowl", "metric": "loss"}))
    study = optuna.create_study(sampler=GPBatchSampler(SearchSpace.from_config(cfg), n_init=5, seed=1))
    for _ in range(6):  # 5 seed trials, then one constrained GP step
        t = study.ask()
        p = {"x1": t.suggest_float("x1", 0, 1), "x2": t.suggest_float("x2", 0, 1)}
        r = constrained_bowl(p, seed=0)
        study._storage.set_trial_system_attr(t._trial_id, outcomes.CONSTRAINTS_KEY, [-r["margin"]])
        study.tell(t, r["loss"])
    info = suggest_info(study.trials[-1])
    assert info["acquisition"] == "constrained-qlognei" and info["n_constraints"] == 1
    assert all(t.constraints == {"0": -constrained_bowl(t.params, seed=0)["margin"]} for t in study.trials)
    assert outcomes.is_feasible(study.best_trial)  # Optuna's best respects the stored constraints


def test_branin_currin_matches_botorch() -> None:
    pytest.importorskip("botorch")
    import torch
    from botorch.test_functions.multi_objective import BraninCurrin as Reference

    x = np.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.05]])
    ours = np.array([list(branin_currin({"x1": a, "x2": b}, seed=0).values()) for a, b in x])
    assert ours == pytest.approx(Reference()(torch.tensor(x)).numpy(), rel=1e-9)
