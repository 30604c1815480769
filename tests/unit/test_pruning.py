"""The pruner block of a sweep file, the ``report`` callback, and how the GP treats pruned trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_tasks.config import SweepConfig, SweepConfigError, parse_sweep
from hpo_tasks.config.overrides import form_fields, with_overrides
from hpo_tasks.fidelity import pruned_values
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.pruning import Reporter, accepts_report, config_warnings
from hpo_tasks.record import make_pruner, suggest_info
from hpo_tasks.space import SearchSpace
from tests.helpers import BRANIN_SPACE

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _cfg(pruner: Any = None, *, objective: str = "branin_curve", args: dict | None = None) -> SweepConfig:
    data: dict[str, Any] = {
        "name": "t",
        "objective": {"name": objective, "args": args or {}},
        "direction": "minimize",
        "space": BRANIN_SPACE,
        "budget": {"max_trials": 20, "n_init": 4},
    }
    if pruner is not None:
        data["pruner"] = pruner
    return parse_sweep(data)


@pytest.mark.parametrize(
    ("pruner", "args", "kind"),
    [
        (None, None, optuna.pruners.NopPruner),
        ("median", None, optuna.pruners.MedianPruner),
        ({"name": "successive_halving", "reduction_factor": 2}, None, optuna.pruners.SuccessiveHalvingPruner),
        ({"name": "hyperband", "max_resource": 27}, None, optuna.pruners.HyperbandPruner),
        ({"name": "hyperband"}, {"epochs": 9}, optuna.pruners.HyperbandPruner),  # max_resource = epochs
    ],
)
def test_pruner_from_config(pruner: Any, args: dict | None, kind: type) -> None:
    cfg = _cfg(pruner, args=args)
    assert isinstance(make_pruner(cfg), kind)
    pinned = SweepConfig.model_validate_json(cfg.model_dump_json())  # what every trial task rebuilds
    assert pinned == cfg and type(make_pruner(pinned)) is kind


@pytest.mark.parametrize(
    ("pruner", "args", "expected"),
    [
        ({"name": "hyperband"}, None, "pruner.max_resource: hyperband needs the last step"),
        ({"name": "hyperband", "min_resource": 10}, {"epochs": 9}, "pruner.min_resource (10) exceeds"),
        ({"name": "median", "reduction_factor": 4}, None, "reduction_factor do(es) not apply to pruner "
         "'median'; remove them or set name: hyperband or successive_halving"),
        ({"name": "none", "n_warmup_steps": 2}, None, "set name: median"),
        ({"name": "asha"}, None, "pruner.name: Input should be 'none', 'hyperband'"),
        ({"name": "hyperband", "max_resource": 9, "reduction_factor": 1}, None, "pruner.reduction_factor"),
        ({"name": "median", "max_resource": 3, "n_warmup_steps": -1}, None, "pruner.n_warmup_steps"),
        ({"name": "hyperband", "max_resources": 9}, None, "did you mean 'max_resource'?"),
        ({"name": "none", "model": "rungs"}, None, "model do(es) not apply to pruner 'none'"),
        ({"name": "median", "model": "mobster"}, None,
         "pruner.model: Input should be 'standin', 'rungs', 'line' or 'joint'"),
    ],
)  # fmt: skip
def test_bad_pruner_names_field_and_fix(pruner: dict, args: dict | None, expected: str) -> None:
    with pytest.raises(SweepConfigError) as err:
        _cfg(pruner, args=args)
    assert expected in str(err.value)


def test_form_switches_pruner_and_keeps_the_settings_that_apply() -> None:
    cfg = _cfg({"name": "hyperband", "reduction_factor": 4, "max_resource": 16})
    field = form_fields(cfg)["pruner"]
    assert field["default"] == "hyperband" and "successive_halving" in field["enum"]
    sha = with_overrides(cfg, {"pruner": "successive_halving"}).pruner
    assert (sha.name, sha.reduction_factor, sha.max_resource) == ("successive_halving", 4, 16)
    median = with_overrides(cfg, {"pruner": "median"}).pruner
    assert (median.name, median.max_resource, median.n_startup_trials) == ("median", 16, 5)
    assert with_overrides(cfg, {"pruner": "none"}).pruner.name == "none"
    with pytest.raises(SweepConfigError, match=r"pruner\.max_resource"):
        with_overrides(_cfg(None), {"pruner": "hyperband"})  # nothing says how long a trial runs


def test_objectives_that_report() -> None:
    from hpo_tasks.objectives import resolve_objective

    assert accepts_report(resolve_objective("cnn_classifier"))
    assert accepts_report(resolve_objective("branin_curve"))
    assert not accepts_report(resolve_objective("branin"))

    def swallow_all(params, *, seed, **kwargs):  # **kwargs alone: might pass 'report' on blindly
        return 0.0

    assert not accepts_report(swallow_all)
    assert config_warnings(_cfg("median")) == []
    (note,) = config_warnings(_cfg("median", objective="branin"))
    assert "takes no 'report' argument" in note and "set pruner: none" in note


def test_validate_warns_about_a_pruner_that_cannot_act(tmp_path: Path, capsys) -> None:
    from hpo_tasks.cli import main

    path = tmp_path / "w.yaml"
    path.write_text(
        "name: w\nobjective: {name: branin}\ndirection: minimize\n"
        "space: {x1: {type: float, low: 0.0, high: 1.0}, x2: {type: float, low: 0.0, high: 1.0}}\n"
        "budget: {max_trials: 5}\npruner: median\n"
    )
    assert main(["validate", str(path)]) == 0  # a warning, not an error: the sweep still runs
    assert "pruner 'median' has no effect" in capsys.readouterr().err


def _rdb_study(tmp_path: Path, pruner: optuna.pruners.BasePruner, direction: str = "minimize"):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")
    return optuna.create_study(study_name="s", storage=storage, direction=direction, pruner=pruner)


def test_reporter_records_prunes_and_spares_the_last_step(tmp_path: Path) -> None:
    study = _rdb_study(tmp_path, optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    curves = {0: [5.0, 4.0, 3.0], 1: [9.0, 8.0, 7.0], 2: [6.0, 1.0, 0.5]}
    outcome = {}
    for number, curve in curves.items():
        trial = study.ask()
        report = Reporter(study, trial._trial_id, max_resource=3)
        try:
            for step, value in enumerate(curve, start=1):
                report(step, value)
            study.tell(trial, curve[-1])
            outcome[number] = ("COMPLETE", report.last_step)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            outcome[number] = ("PRUNED", report.last_step)
    # Trial 1 is worse than trial 0 at step 1 (rung 0): stopped there. Trial 2 is worse at step 1 too.
    assert outcome == {0: ("COMPLETE", 3), 1: ("PRUNED", 1), 2: ("PRUNED", 1)}
    pruned = study.get_trials()[1]
    assert pruned.state == TrialState.PRUNED and pruned.intermediate_values == {1: 9.0}
    assert pruned.value == 9.0  # Optuna keeps the last reported value on a pruned trial
    assert study.best_trial.number == 0

    # Trial 0 reached step 3 = max_resource: never judged there, though SHA has a rung at 2^1 = 2 ...
    trial = study.ask()
    report = Reporter(study, trial._trial_id, max_resource=1)
    report(1, 100.0)  # ... and a trial at its last step is never pruned, however bad
    # A retried task replays its steps: recorded once, not judged again.
    again = Reporter(study, trial._trial_id, max_resource=1)
    again(1, 100.0)
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {1: 100.0}
    with pytest.raises(ValueError, match="non-negative integer"):
        again(1.5, 0.0)  # type: ignore[arg-type]


def test_reporter_on_several_objectives_records_the_steps_once_and_never_prunes(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'mo.db'}")
    study = optuna.create_study(study_name="mo", storage=storage, directions=["maximize", "minimize"])
    trial = study.ask()
    report = Reporter(study, trial._trial_id, max_resource=3)
    for step in (1, 2):
        report(step, 0.1 * step)  # Optuna's Trial.report would raise NotImplementedError here
    again = Reporter(study, trial._trial_id, max_resource=3)  # a retried task replays its steps
    assert again.last_step == 2
    for step in (1, 2, 3):
        again(step, 0.1 * step)
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.user_attrs["reported_steps"] == [1, 2, 3] and frozen.intermediate_values == {}
    study.tell(trial, [0.9, 1.0])
    assert study.get_trials()[0].state == TrialState.COMPLETE


def test_hyperband_brackets_agree_across_processes(tmp_path: Path) -> None:
    """Each trial task builds its own HyperbandPruner from the pinned config: a trial's bracket must not
    depend on which process asks (it is a CRC32 of study name and trial number, not hash())."""
    cfg = _cfg({"name": "hyperband", "max_resource": 27})
    study = _rdb_study(tmp_path, make_pruner(cfg))
    for _ in range(12):
        study.tell(study.ask(), 1.0)
    a, b = make_pruner(cfg), make_pruner(cfg)
    for p in (a, b):
        p._try_initialization(study)
    trials = study.get_trials()
    assert [a._get_bracket_id(study, t) for t in trials] == [b._get_bracket_id(study, t) for t in trials]
    assert len({a._get_bracket_id(study, t) for t in trials}) > 1


def _frozen(number: int, state: TrialState, value: float | None, steps: dict[int, float]):
    return optuna.trial.create_trial(
        params={"x1": 0.0, "x2": float(number)},
        distributions=SearchSpace.from_config(_cfg()).distributions(),
        value=value,
        state=state,
        intermediate_values=steps,
    )


def test_pruned_values_map_the_early_rank_onto_final_values() -> None:
    complete = [
        _frozen(i, TrialState.COMPLETE, final, {1: early, 3: final})
        for i, (early, final) in enumerate([(10.0, 1.0), (20.0, 2.0), (30.0, 3.0), (40.0, 4.0)])
    ]
    pruned = [
        _frozen(10, TrialState.PRUNED, 35.0, {1: 35.0}),  # worse than 3 of 4 at step 1
        _frozen(11, TrialState.PRUNED, 45.0, {1: 45.0}),  # worse than all
        _frozen(12, TrialState.PRUNED, 5.0, {1: 5.0}),  # better than all: capped at the median
        _frozen(13, TrialState.PRUNED, 1.5, {2: 1.5}),  # nobody reported step 2: the worst final
    ]
    # minimise: the GP sees sign * value with sign -1; higher is better.
    got = -pruned_values(pruned, complete, sign=-1.0)
    assert got.tolist() == pytest.approx([3.25, 4.0, 2.5, 4.0])
    assert all(g >= 2.5 for g in got), "a pruned trial never looks better than the median completed one"


def test_gp_seeds_on_complete_trials_and_learns_from_pruned_ones() -> None:
    cfg = _cfg()
    space = SearchSpace.from_config(cfg)
    study = optuna.create_study(direction="minimize", sampler=GPBatchSampler(space, n_init=4, seed=0))
    dists = space.distributions()

    def run(state: TrialState) -> optuna.trial.Trial:
        t = study.ask(dists)
        value = (t.params["x1"] - 2.0) ** 2 + (t.params["x2"] - 3.0) ** 2
        t.report(value + 50.0, 1)
        if state == TrialState.PRUNED:
            study.tell(t, state=TrialState.PRUNED)
        else:
            t.report(value, 2)
            study.tell(t, value)
        return t

    for state in [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED, TrialState.COMPLETE]:
        run(state)
    # Two of four complete: still the seed design (pruned trials do not count towards n_init).
    t = run(TrialState.COMPLETE)
    assert suggest_info(study._storage.get_trial(t._trial_id))["phase"] == "sobol"
    run(TrialState.COMPLETE)
    t = run(TrialState.PRUNED)
    info = suggest_info(study._storage.get_trial(t._trial_id))
    assert info["phase"] == "gp" and info["n_observed"] == 4 and info["n_pruned"] == 2
    keys = [space.key(x.params) for x in study.get_trials()]
    assert len(set(keys)) == len(keys), "a pruned configuration is never suggested again"
