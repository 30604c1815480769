from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.conftest import REPO, write_sweep

pytestmark = pytest.mark.integration


def _dagbag(monkeypatch: pytest.MonkeyPatch, sweeps: Path):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("HPO_SWEEPS_DIR", str(sweeps))
    return DagBag(dag_folder=str(REPO / "dags"))


def test_every_shipped_sweep_is_a_dag_without_import_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    sweeps = REPO / "config" / "sweeps"
    bag = _dagbag(monkeypatch, sweeps)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted(f"hpo__{p.stem}" for p in sweeps.glob("*.yaml"))
    dag = bag.dags["hpo__xgb_breast_cancer"]
    assert dag.max_active_runs == 1
    assert "round_00.gate" in dag.task_dict and "finalize" in dag.task_dict
    assert dag.task_dict["round_00.run_trial"].queue == "default"
    assert "xgboost_breast_cancer" in dag.doc_md


def test_bad_sweep_file_is_reported_by_field_and_others_still_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    good = (REPO / "config" / "sweeps" / "branin_quick.yaml").read_text()
    write_sweep(tmp_path, "branin_quick", good)
    write_sweep(tmp_path, "broken", good.replace("branin_quick", "broken").replace("max_trials", "max_trail"))
    bag = _dagbag(monkeypatch, tmp_path)
    assert list(bag.dags) == ["hpo__branin_quick"]
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("hpo_sweep_config_check.py")
    assert (
        "broken.yaml" in message and "budget.max_trail: unknown field; did you mean 'max_trials'?" in message
    )


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("max_trials", 10, True),
        ("max_trials", 0, False),
        ("max_trials", 21, False),  # more than the file allows: the DAG's rounds could not hold it
        ("batch_size", 2, True),
        ("batch_size", 1, False),  # below half the file's batch size
        ("patience", None, True),
        ("patience", 0, False),
        ("seed", -1, False),
        ("max_minutes", 0, False),
        ("warm_start_from", "latest", True),
        ("warm_start_from", "branin_quick:2026-11-26T0200", True),
        ("warm_start_from", "yesterday", False),  # not latest, none or '<sweep>:<run label>'
    ],
)
def test_trigger_form_rejects_invalid_values(
    monkeypatch: pytest.MonkeyPatch, field: str, value: object, ok: bool
) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    bag = _dagbag(monkeypatch, REPO / "config" / "sweeps")
    params = copy.deepcopy(bag.dags["hpo__branin_quick"].params)
    try:
        params[field] = value
        params.validate()
        accepted = True
    except ParamValidationError:
        accepted = False
    assert accepted is ok


@pytest.mark.parametrize("schedule", ["0 25 * * *", "61 2 * * *"])
def test_out_of_range_cron_is_reported_by_field_and_the_sweeps_dag_file_still_imports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, schedule: str
) -> None:
    good = (REPO / "config" / "sweeps" / "branin_quick.yaml").read_text()
    write_sweep(tmp_path, "branin_quick", good)
    nightly = good.replace("branin_quick", "nightly").replace("schedule: null", f"schedule: '{schedule}'")
    assert f"schedule: '{schedule}'" in nightly
    write_sweep(tmp_path, "nightly", nightly)
    bag = _dagbag(monkeypatch, tmp_path)
    assert list(bag.dags) == ["hpo__branin_quick"]  # hpo_sweeps.py imported: the bad file left out
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("hpo_sweep_config_check.py")
    assert "nightly.yaml" in message
    assert f"  schedule: '{schedule}' is not a cron expression Airflow accepts" in message
    assert "use five fields (minute 0-59, hour 0-23" in message
