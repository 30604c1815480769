"""A run whose conf is wrong fails in its first task, at once: ``airflow dags test`` with the real task
runner. Airflow 3.3 cannot refuse an unknown conf key at trigger time (``DAG.create_dagrun`` merges the
conf into the params and validates only declared ones), so ``init_study`` refuses it before any trial;
a configuration error raises ``AirflowFailException`` there, so it is not retried."""

from __future__ import annotations

import sqlite3

import pytest

from tests.integration.conftest import AirflowSandbox, branin_dag_sweep

pytestmark = pytest.mark.integration


def _tries(sandbox: AirflowSandbox, dag_id: str) -> dict[str, list[tuple[str, int]]]:
    """task_id -> [(state, try_number)] per task instance (mapped ones in map order)."""
    out: dict[str, list[tuple[str, int]]] = {}
    with sqlite3.connect(sandbox.home / "airflow.db") as db:
        rows = db.execute(
            "select task_id, state, try_number from task_instance where dag_id = ? order by map_index",
            (dag_id,),
        )
        for task_id, state, try_number in rows:
            out.setdefault(task_id, []).append((state, try_number))
    return out


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ('{"max_trails": 10}', ["unknown run parameter 'max_trails': did you mean 'max_trials'?"]),
        (
            '{"sampler": "tpe", "acquisition": "ucb"}',
            ["acquisition 'ucb' only applies to sampler gp, not 'tpe'"],
        ),
    ],
)
def test_bad_conf_fails_init_study_once_before_any_trial(
    airflow_sandbox: AirflowSandbox, conf: str, expected: list[str]
) -> None:
    airflow_sandbox.add_sweep("conf_check", branin_dag_sweep("conf_check"))
    dag_id = "hpo__conf_check"
    proc = airflow_sandbox.dag_test(dag_id, conf)
    output = proc.stdout + proc.stderr
    tries = _tries(airflow_sandbox, dag_id)
    assert tries["init_study"] == [("failed", 1)], output[-4000:]  # no retries
    ran = [s for task, states in tries.items() if task.endswith("run_trial") for s, _ in states]
    assert all(s in (None, "upstream_failed", "skipped") for s in ran), tries
    assert _trials(airflow_sandbox) == 0
    for text in expected:
        assert text in output, output[-4000:]


def _trials(sandbox: AirflowSandbox) -> int:
    """Trials in the sweep's Optuna storage (none when no task got as far as creating it)."""
    path = sandbox.state / "optuna.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("select count(*) from trials").fetchone()[0]
