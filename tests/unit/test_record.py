"""hpo_tasks.record: the study as the run's record, on a real SQLite Optuna storage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpo_tasks import record
from hpo_tasks.config import parse_sweep
from tests.conftest import REPO

CFG = {
    "name": "rec",
    "objective": {"name": "branin"},
    "direction": "minimize",
    "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "budget": {"max_trials": 4, "n_init": 2, "batch_size": 2},
    "sampler": {"name": "random"},
    "pruner": {"name": "median"},
}


def test_every_key_is_defined_once_and_only_record_reaches_into_private_storage() -> None:
    keys = {k: v for k, v in vars(record).items() if k.endswith(("_ATTR", "_KEY"))}
    assert len(set(keys.values())) == len(keys)  # no two names for one key
    offenders = []
    for path in (REPO / "hpo_tasks").rglob("*.py"):
        # gp/sampler.py writes its step info from inside sample_relative, the way Optuna's own samplers
        # do (no public API sets a running trial's system attrs there); gp/ imports nothing above it.
        if path.name == "record.py" or path.relative_to(REPO).as_posix() == "hpo_tasks/gp/sampler.py":
            continue
        offenders += [f"{path.name}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if "._storage" in line]  # fmt: skip
    assert offenders == []


def test_create_pins_config_once_and_load_rebuilds_pruner(state_dir: Path) -> None:
    cfg = parse_sweep(CFG)
    first = record.create_study(cfg, "rec:a")
    started = first.user_attrs[record.STARTED_ATTR]
    again = record.create_study(cfg.model_copy(update={"seed": 99}), "rec:a")  # a retried init
    assert again.user_attrs[record.STARTED_ATTR] == started
    study, pinned = record.load("rec:a")
    assert pinned == cfg and isinstance(study.pruner, optuna.pruners.MedianPruner)


def test_list_studies_newest_first_and_by_sweep(state_dir: Path) -> None:
    cfg = parse_sweep(CFG)
    for label in ("n1", "n2", "n3"):
        record.create_study(cfg, record.study_name_for("rec", label))
    record.create_study(cfg.model_copy(update={"name": "other"}), "other:n9")
    assert [s.name for s in record.list_studies("rec")] == ["rec:n3", "rec:n2", "rec:n1"]
    assert record.latest_study_name("rec") == "rec:n3" and record.latest_study_name("nosuch") is None
    assert {s.name for s in record.list_studies()} == {"rec:n1", "rec:n2", "rec:n3", "other:n9"}


def test_seed_is_stored_once_and_old_studies_still_read(state_dir: Path) -> None:
    study = record.create_study(parse_sweep(CFG), "rec:s")
    t = study.ask({"x": FloatDistribution(0, 1)})
    record.mark_asked(study, t._trial_id, round_index=0, seed=1234)
    frozen = record.get_trial(study, t._trial_id)
    assert record.seed_of(frozen) == 1234 and "seed" not in frozen.user_attrs
    assert frozen.system_attrs[record.ROUND_ATTR] == 0 and record.round_trials(study, 0) == [frozen]
    old = create_trial(params={}, distributions={}, value=1.0, user_attrs={"seed": 77})  # before: user attr
    assert record.seed_of(old) == 77
    assert record.seed_of(create_trial(params={}, distributions={}, value=1.0)) is None


def test_replicates_are_no_search_trials() -> None:
    plain = create_trial(params={}, distributions={}, value=1.0)
    rep = create_trial(params={}, distributions={}, value=1.0, user_attrs={record.REPLICATE_OF_ATTR: 0})
    assert record.is_replicate(rep) and not record.is_replicate(plain)
    assert record.search_trials([plain, rep]) == [plain]


def test_trial_spec_and_result_round_trip_as_the_json_tasks_exchange() -> None:
    spec = {"study_name": "rec:a", "trial_number": 3, "params": {"x": 0.5}, "seed": 9, "round": 1}
    assert record.TrialSpec.from_json(spec).to_json() == spec
    rep = {**spec, "round": record.REPLICATE_ROUND, "replicate_of": 1}
    assert record.TrialSpec.from_json(json.loads(json.dumps(rep))).to_json() == rep
    done = {"trial_number": 3, "state": "COMPLETE", "value": 1.5, "wallclock_seconds": 0.1, "error": None}
    assert record.TrialResult.from_json(done).to_json() == done
    pruned = record.TrialResult(3, "PRUNED", None, 0.1, None, pruned_at_step=2).to_json()
    assert pruned["pruned_at_step"] == 2 and record.TrialResult.from_json(pruned).to_json() == pruned


def test_result_of_a_recorded_trial() -> None:
    t = create_trial(
        params={"x": 0.1},
        distributions={"x": FloatDistribution(0, 1)},
        state=TrialState.PRUNED,
        intermediate_values={1: 3.0, 2: 2.0},
        user_attrs={record.WALLCLOCK_ATTR: 0.5},
    )
    r = record.TrialResult.of(t)
    assert (r.state, r.value, r.wallclock_seconds, r.pruned_at_step) == ("PRUNED", None, 0.5, 2)


@pytest.mark.parametrize("module", ["study", "pareto", "progress"])
def test_old_modules_are_gone(module: str) -> None:
    assert not (REPO / "hpo_tasks" / f"{module}.py").exists()
    pattern = re.compile(rf"hpo_tasks(\.| import ){module}\b")
    assert not any(pattern.search(p.read_text()) for p in (REPO / "hpo_tasks").rglob("*.py"))
