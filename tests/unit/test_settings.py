"""Local Airflow settings: worker slots from the machine and the sweep files, the local heartbeat timeout,
the preloading executor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpo_tasks import settings
from tests.conftest import REPO, write_sweep

SWEEP = """
name: {name}
objective: {{name: branin}}
direction: minimize
space: {{x1: {{type: float, low: 0.0, high: 1.0}}}}
budget: {{max_trials: 40, batch_size: {batch}}}
"""


@pytest.mark.parametrize(
    ("cpus", "batches", "broken", "expected"),
    [
        (2, [4, 3], False, 4 + settings.ORCHESTRATION_SLOTS),  # the largest round, not the 2 cores
        (16, [4], False, 16 + settings.ORCHESTRATION_SLOTS),  # every core
        (2, [8, 2], False, 8 + settings.ORCHESTRATION_SLOTS),
        (2, [], True, 4 + settings.ORCHESTRATION_SLOTS),  # a file that does not load: the default batch 4
        (3, [], False, 3 + settings.ORCHESTRATION_SLOTS),  # no sweep files
    ],
)
def test_local_parallelism(
    tmp_path: Path, cpus: int, batches: list[int], broken: bool, expected: int
) -> None:
    folder = tmp_path / "sweeps"
    folder.mkdir()
    for i, batch in enumerate(batches):
        write_sweep(folder, f"s{i}", SWEEP.format(name=f"s{i}", batch=batch))
    if broken:
        write_sweep(folder, "bad", "name: bad\nbudget: {max_trials: nope}\n")
    assert settings.local_parallelism(folder, cpus=cpus) == expected


def test_the_shipped_sweeps_fit_in_a_few_workers_not_airflows_32() -> None:
    assert settings.local_parallelism(REPO / "config" / "sweeps", cpus=2) == 4 + settings.ORCHESTRATION_SLOTS


def test_airflow_env_sets_the_local_heartbeat_timeout_and_an_export_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"
    monkeypatch.delenv(key, raising=False)
    assert settings.airflow_env(tmp_path)[key] == str(settings.LOCAL_HEARTBEAT_TIMEOUT_S)
    assert int(settings.airflow_env(tmp_path)["AIRFLOW__CORE__PARALLELISM"]) < 32
    monkeypatch.setenv(key, "45")
    assert settings.airflow_env(tmp_path)[key] == "45"
    assert settings.airflow_env(tmp_path, isolate=True)[key] == str(settings.LOCAL_HEARTBEAT_TIMEOUT_S)


def test_the_makefile_helper_prints_only_what_the_caller_did_not_export(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "AIRFLOW__CORE__PARALLELISM": "3"}
    env["HPO_SWEEPS_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "hpo_tasks.settings"], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        f"AIRFLOW__CORE__EXECUTOR={settings.LOCAL_EXECUTOR}",
        f"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT={settings.LOCAL_HEARTBEAT_TIMEOUT_S}",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="
        f"{settings.LOCAL_HEARTBEAT_DETECTION_INTERVAL_S}",
    ]


@pytest.mark.parametrize(("value", "executor"), [("1", settings.LOCAL_EXECUTOR), ("0", "LocalExecutor")])
def test_hpo_preload_chooses_the_executor(monkeypatch: pytest.MonkeyPatch, value: str, executor: str) -> None:
    monkeypatch.setenv("HPO_PRELOAD", value)
    assert settings.local_airflow_sizing()["AIRFLOW__CORE__EXECUTOR"] == executor


def test_the_preloading_executor_is_importable_where_the_scheduler_looks() -> None:
    """``[core] executor`` names ``module.Class`` on the scheduler's sys.path (the plugins folder)."""
    module, _, cls = settings.LOCAL_EXECUTOR.rpartition(".")
    plugins = str(REPO / "plugins")
    code = f"import sys; sys.path.append({plugins!r}); import {module}; print({module}.{cls}.is_local)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "True"
