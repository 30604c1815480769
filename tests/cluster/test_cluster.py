"""The sweep DAG on a real CeleryExecutor cluster (see ``harness.py``), triggered over the REST API the
way a user's script would, and the faults it must survive. Every finished run is checked the same way
(``assert_consistent``): the run succeeded; every trial number has exactly one Optuna trial, COMPLETE, and
exactly one MLflow child run holding the same value; nothing is left RUNNING; completed + failed is within
the budget; every trial task ran on the ``gpu`` queue's worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import time
from collections import Counter
from typing import Any

import pytest

from tests.cluster.conftest import ASYNC_MAX_TRIALS, SWEEPS, TIMINGS
from tests.cluster.harness import GPU_WORKER, Cluster, _pg

pytestmark = pytest.mark.cluster


def assert_consistent(
    cluster: Cluster, dag_id: str, run_id: str, max_trials: int | None = None
) -> dict[str, Any]:
    import optuna
    from mlflow import MlflowClient

    run = cluster.run_state(dag_id, run_id)
    assert run["state"] == "success", run
    summary = cluster.xcom(dag_id, run_id, "finalize")
    sweep = dag_id.removeprefix("hpo__")
    max_trials = max_trials or SWEEPS[sweep][2]

    study = optuna.load_study(study_name=summary["study_name"], storage=cluster.db_url("optuna"))
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(max_trials)), numbers
    states = Counter(t.state.name for t in trials)
    assert states == {"COMPLETE": max_trials}, states
    assert summary["n_running"] == 0 and summary["n_complete"] + summary["n_failed"] <= max_trials

    client = MlflowClient(tracking_uri=cluster.mlflow_url)
    exp = client.get_experiment_by_name(f"hpo/{sweep}")
    children = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`hpo.study_name` = '{summary['study_name']}' and tags.`hpo.kind` = 'trial'",
        max_results=1000,
    )
    per_number = Counter(int(r.data.tags["hpo.trial_number"]) for r in children)
    assert per_number == dict.fromkeys(numbers, 1), per_number
    values = {int(r.data.tags["hpo.trial_number"]): r.data.metrics.get("value") for r in children}
    assert all(r.info.status == "FINISHED" for r in children)
    assert values == {t.number: pytest.approx(t.value) for t in trials}
    assert all(r.data.tags["mlflow.parentRunId"] == summary["mlflow_parent_run_id"] for r in children)

    # trial tasks by their grid label ("trial <number>"), whatever the DAG's shape names them
    rows = cluster.airflow_rows(
        "select queue, hostname, try_number, extract(epoch from end_date - start_date),"
        " extract(epoch from start_date - queued_dttm), rendered_map_index"
        " from task_instance where dag_id = %s and run_id = %s and rendered_map_index like %s"
        " and state = 'success'",
        dag_id,
        run_id,
        "trial %",
    )
    assert sorted(label for *_, label in rows) == sorted(f"trial {n}" for n in numbers)
    assert {(q, h) for q, h, *_ in rows} == {("gpu", GPU_WORKER)}
    wall = {t.number: t.user_attrs.get("wallclock_seconds", 0.0) for t in trials}
    summary["_task_overhead"] = [
        float(d) - wall.get(int(label.split()[1]), 0.0) for *_, d, _, label in rows if d is not None
    ]
    summary["_queue_latency"] = [float(q) for *_, q, _ in rows if q is not None]
    summary["_tries"] = max(t for _, _, t, *_ in rows)
    return summary


def _wait_for_running_trial(cluster: Cluster, dag_id: str, run_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not cluster.airflow_rows(
        "select 1 from task_instance where dag_id = %s and run_id = %s and task_id like %s"
        " and state = 'running'",
        dag_id,
        run_id,
        "%run_trial",
    ):
        assert time.monotonic() < deadline, f"no trial of {dag_id} started in {timeout}s"
        time.sleep(0.5)


def _wait_for_objective(cluster: Cluster, timeout: float = 300) -> None:
    """Until a new trial of ``cl_slow`` is inside its objective (it drops a marker file as it starts)."""
    markers = cluster.root / "markers"
    before = set(markers.glob("*.started")) if markers.exists() else set()
    deadline = time.monotonic() + timeout
    while not (markers.exists() and set(markers.glob("*.started")) - before):
        assert time.monotonic() < deadline, f"no trial reached its objective in {timeout}s"
        time.sleep(0.2)


def _retried_trials(cluster: Cluster, dag_id: str, run_id: str) -> int:
    return cluster.airflow_rows(
        "select count(*) from task_instance where dag_id = %s and run_id = %s and task_id like %s"
        " and try_number > 1",
        dag_id,
        run_id,
        "%run_trial",
    )[0][0]


def test_api_requires_authentication(cluster: Cluster) -> None:
    assert cluster.request("GET", "/api/v2/dags", auth=False)[0] == 401
    assert cluster.request("POST", "/api/v2/dags/hpo__cl_a/dagRuns", {"conf": {}}, auth=False)[0] == 401
    assert cluster.request("GET", "/api/v2/dags", token="not-a-token")[0] in (401, 403)
    with pytest.raises(PermissionError):
        cluster.token(password="admin")
    assert cluster.request("GET", "/api/v2/dags")[0] == 200


@pytest.mark.parametrize(
    ("conf", "field"),
    [({"max_trials": 10_000}, "max_trials"), ({"batch_size": "many"}, "batch_size")],
)
def test_invalid_trigger_payload_is_rejected(cluster: Cluster, conf: dict, field: str) -> None:
    cluster.wait_for_dag("hpo__cl_a")
    status, body = cluster.request(
        "POST", "/api/v2/dags/hpo__cl_a/dagRuns", {"logical_date": None, "conf": conf}
    )
    assert status == 400, body
    assert field in str(body)
    runs = cluster.request("GET", "/api/v2/dags/hpo__cl_a/dagRuns")[1]
    assert runs["total_entries"] == 0


def test_bad_sweep_file_is_an_import_error_and_other_sweeps_keep_working(cluster: Cluster) -> None:
    cluster.wait_for_dag("hpo__cl_tiny")
    bad = cluster.sweeps / "cl_broken.yaml"
    bad.write_text((cluster.sweeps / "cl_tiny.yaml").read_text().replace("max_trials: 2", "max_trials: 0"))
    deadline = time.monotonic() + 120
    while True:
        errors = cluster.request("GET", "/api/v2/importErrors")[1]["import_errors"]
        if errors:
            break
        assert time.monotonic() < deadline, "no import error after 120s"
        time.sleep(2)
    text = "\n".join(e["stack_trace"] for e in errors)
    assert "cl_broken.yaml" in text and "budget.max_trials" in text, text
    assert all(e["filename"].endswith("hpo_sweep_config_check.py") for e in errors)
    dag = cluster.request("GET", "/api/v2/dags/hpo__cl_tiny")[1]
    assert not dag["is_stale"]
    run_id = cluster.trigger("hpo__cl_tiny")
    cluster.wait_run("hpo__cl_tiny", run_id)
    assert_consistent(cluster, "hpo__cl_tiny", run_id)
    bad.unlink()


def test_two_sweeps_at_once_run_on_the_gpu_worker_and_stay_isolated(cluster: Cluster) -> None:
    t0 = time.monotonic()
    runs = {dag: cluster.trigger(dag) for dag in ("hpo__cl_a", "hpo__cl_b")}
    for dag, run_id in runs.items():
        cluster.wait_run(dag, run_id)
    TIMINGS["two sweeps at once, 4 + 2 trials (s)"] = round(time.monotonic() - t0, 1)
    a, b = (assert_consistent(cluster, dag, run_id) for dag, run_id in runs.items())
    assert a["study_name"] != b["study_name"]
    assert (a["mlflow_experiment"], b["mlflow_experiment"]) == ("hpo/cl_a", "hpo/cl_b")
    overhead = a["_task_overhead"] + b["_task_overhead"]
    latency = a["_queue_latency"] + b["_queue_latency"]
    TIMINGS["trial task overhead: median / max (s)"] = (
        round(statistics.median(overhead), 2),
        round(max(overhead), 2),
    )
    TIMINGS["trial queued->running: median / max (s)"] = (
        round(statistics.median(latency), 2),
        round(max(latency), 2),
    )


def test_second_trigger_waits_for_the_active_run(cluster: Cluster) -> None:
    first = cluster.trigger("hpo__cl_tiny")
    second = cluster.trigger("hpo__cl_tiny")
    _wait_for_running_trial(cluster, "hpo__cl_tiny", first)
    assert cluster.run_state("hpo__cl_tiny", second)["state"] == "queued"
    done = [cluster.wait_run("hpo__cl_tiny", r) for r in (first, second)]
    s1, s2 = (assert_consistent(cluster, "hpo__cl_tiny", r) for r in (first, second))
    assert s1["study_name"] != s2["study_name"]
    assert done[1]["start_date"] >= done[0]["end_date"], done


def test_worker_killed_mid_trial(cluster: Cluster) -> None:
    t0 = time.monotonic()
    run_id = cluster.trigger("hpo__cl_slow")
    _wait_for_objective(cluster)
    cluster.restart(GPU_WORKER, kill=True)
    cluster.wait_run("hpo__cl_slow", run_id)
    TIMINGS["kill -9 worker: sweep wall (s)"] = round(time.monotonic() - t0, 1)
    summary = assert_consistent(cluster, "hpo__cl_slow", run_id)
    assert summary["_tries"] >= 2, "the killed trial was not retried"


def _wait_for_the_slow_trial(cluster: Cluster, timeout: float = 300) -> tuple[int, int]:
    """Until the async sweep's slow trial is inside its objective: its ``(seed, pid)``, the pid being the
    task process that runs the objective on the GPU worker (``objectives.lane_branin``)."""
    markers = cluster.root / "lane-markers"
    deadline = time.monotonic() + timeout
    while True:
        claim = markers / "slow.claim"
        fields = claim.read_text().split() if claim.exists() else []
        if len(fields) == 2 and list(markers.glob(f"{fields[0]}-*.started")):
            return int(fields[0]), int(fields[1])
        assert time.monotonic() < deadline, f"no trial reached its objective in {timeout}s"
        time.sleep(0.1)


def test_async_sweep_with_a_trial_process_killed(cluster: Cluster) -> None:
    """``budget.mode: async``, one DAG run for both of issue 15's cluster tests. Two lanes share six trials
    on the GPU worker; the task process of one lane's trial is killed (-9, as the OOM killer does) inside
    its objective, whatever the other lane is doing. The killed trial is retried with its number and its
    child run, the other lane keeps asking and running trials while it is down, and the whole run ends
    with every trial number once in Optuna and in MLflow, nothing RUNNING, the budget met and each lane's
    leftover steps skipped. (Killing the whole worker, and the heartbeat timeout that brings its trials
    back, is ``test_worker_killed_mid_trial``'s; here it would also kill the other lane's trial whenever
    it is in flight, which with a lane that asks ahead is nearly always.)"""
    from mlflow import MlflowClient

    from hpo_tasks.seeds import trial_seed

    dag_id, n = "hpo__cl_async", ASYNC_MAX_TRIALS
    markers = cluster.root / "lane-markers"
    t0 = time.monotonic()
    run_id = cluster.trigger(dag_id)
    slow_seed, pid = _wait_for_the_slow_trial(cluster)
    assert pid in cluster.components[GPU_WORKER].descendants()
    t_kill = time.time_ns()
    os.kill(pid, signal.SIGKILL)
    (markers / "killed.tmp").write_text(str(t_kill))
    os.replace(markers / "killed.tmp", markers / "killed")
    cluster.wait_run(dag_id, run_id)
    TIMINGS[f"async, kill -9 trial: sweep wall, {n} trials in 2 lanes (s)"] = round(time.monotonic() - t0, 1)
    summary = assert_consistent(cluster, dag_id, run_id, max_trials=n)
    assert summary["stop_reason"] == "max_trials", summary
    killed = next(k for k in range(n) if trial_seed(1, k) == slow_seed)

    # retried with the same number: its one successful task is a retry; no other trial was hit
    tries = dict(
        cluster.airflow_rows(
            "select rendered_map_index, try_number from task_instance where dag_id = %s and run_id = %s"
            " and rendered_map_index like %s and state = 'success'",
            dag_id,
            run_id,
            "trial %",
        )
    )
    assert tries.pop(f"trial {killed}") >= 2, "the killed trial was not retried"
    assert set(tries.values()) == {1}, tries
    # ... in one MLflow child run: the only run of its number (the killed try may or may not have begun it)
    client = MlflowClient(tracking_uri=cluster.mlflow_url)
    (child,) = client.search_runs(
        [client.get_experiment_by_name("hpo/cl_async").experiment_id],
        filter_string=f"tags.`hpo.study_name` = '{summary['study_name']}'"
        f" and tags.`hpo.trial_number` = '{killed}'",
    )
    assert child.info.status == "FINISHED" and child.data.metrics["value"] is not None

    # the other lane kept going: trials started after the kill, before the killed one's retry started
    started = {}
    for p in markers.glob("*.started"):
        seed, ns = map(int, p.stem.split("-"))
        started.setdefault(seed, []).append(ns)
    assert sorted(started) == sorted(trial_seed(1, k) for k in range(n))  # every trial reached its objective
    first_try, retry = sorted(started.pop(slow_seed))
    assert first_try < t_kill < retry
    assert all(len(times) == 1 for times in started.values()), started
    meanwhile = [s for s, (t,) in started.items() if t_kill < t < retry]
    assert meanwhile, "no other trial started while the killed one waited for its retry"
    TIMINGS["async, kill -9 trial: retry began after the kill (s)"] = round((retry - t_kill) / 1e9, 1)
    TIMINGS["async, kill -9 trial: trials started meanwhile"] = len(meanwhile)

    # every task ended success or skipped; in each lane its trials are its first steps, and the steps
    # after the one that stopped it are all skipped (found by shape: "lane*.<name>_<step>")
    rows = cluster.airflow_rows(
        "select task_id, state, queue from task_instance where dag_id = %s and run_id = %s", dag_id, run_id
    )
    assert {state for _, state, _ in rows} == {"success", "skipped"}, Counter(s for _, s, _ in rows)
    assert ("finalize", "success") in {(t, s) for t, s, _ in rows}
    lanes: dict[str, dict[int, set[str]]] = {}
    for task_id, state, queue in rows:
        m = re.fullmatch(r"(lane[^.]*)\.\D*(\d+)", task_id)
        if m:
            lanes.setdefault(m[1], {}).setdefault(int(m[2]), set()).add(f"{state}:{queue}")
    assert len(lanes) == 2, sorted(lanes)
    for lane, steps in lanes.items():
        ran = sorted(k for k, states in steps.items() if "success:gpu" in states)
        assert ran and ran == list(range(len(ran))), (lane, steps)
        after = [s for k, states in steps.items() if k > len(ran) for s in states]
        assert all(s.startswith("skipped:") for s in after), (lane, steps)
    assert sum(s == "skipped" for _, s, q in rows if q == "gpu") == sum(map(len, lanes.values())) - n


# A training script as the trial (objective.command): writes {trial}-{pid}.json = [its pid, a child's pid,
# MLFLOW_RUN_ID] into PIDS, then trains for 15 s and prints its score.
SCRIPT = """
import json, os, subprocess, sys, time
x1, x2 = (float(sys.argv[sys.argv.index(k) + 1]) for k in ("--x1", "--x2"))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
out = os.path.join(os.environ["PIDS"], f"{os.environ['HPO_TRIAL_NUMBER']}-{os.getpid()}.json")
with open(out + ".tmp", "w") as f:
    json.dump([os.getpid(), child.pid, os.environ["MLFLOW_RUN_ID"]], f)
os.replace(out + ".tmp", out)
time.sleep(15)
child.kill()
print(json.dumps({"hpo_metrics": {"score": (x2 - 5.1 / 39.5 * x1**2 + 5 / 3.14 * x1 - 6) ** 2}}))
"""
SCRIPT_SWEEP = """
name: cl_script
objective:
  command: ["{{python}}", "{script}", "--x1", "{{x1}}", "--x2", "{{x2}}"]
  metric: score
  env: {{PIDS: "{pids}"}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: 4, n_init: 4, batch_size: 2}}
seed: 1
resources: {{queue: gpu, pool: gpu, retries: 3, retry_delay_seconds: 2}}
"""


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill9_worker_but_not_scripts(cluster: Cluster, scripts: set[int]) -> None:
    """``kill -9`` of the GPU worker and every process it started (supervisors, task runners), but not
    the scripts' process groups nor their watchers: whether those go is what the test checks."""
    import psutil

    comp = cluster.components[GPU_WORKER]
    assert comp.proc is not None
    victims = []
    for pid in comp.descendants():
        try:
            p = psutil.Process(pid)
            if os.getpgid(pid) in scripts or "os.killpg" in " ".join(p.cmdline()):
                continue
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
        victims.append(pid)
    os.killpg(comp.proc.pid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    comp.proc.wait(timeout=30)
    comp.start()


def test_worker_killed_mid_script_trial(cluster: Cluster) -> None:
    pids = cluster.root / "script-pids"
    pids.mkdir()
    script = cluster.root / "train_script.py"
    script.write_text(SCRIPT)
    (cluster.sweeps / "cl_script.yaml").write_text(SCRIPT_SWEEP.format(script=script, pids=pids))
    t0 = time.monotonic()
    run_id = cluster.trigger("hpo__cl_script")
    deadline = time.monotonic() + 300
    while not list(pids.glob("*.json")):
        assert time.monotonic() < deadline, "no script trial started in 300 s"
        time.sleep(0.2)
    time.sleep(2)  # the batch's second script starts too
    first = {f.name: json.loads(f.read_text()) for f in pids.glob("*.json")}
    killed = [pid for leader, child, _ in first.values() for pid in (leader, child)]
    assert not [p for p in killed if _gone(p)]
    t_kill = time.monotonic()
    _kill9_worker_but_not_scripts(cluster, {leader for leader, _, _ in first.values()})
    while [p for p in killed if not _gone(p)]:
        assert time.monotonic() - t_kill < 30, "a killed attempt's script or its child is still running"
        time.sleep(0.05)
    TIMINGS["kill -9 worker mid script: script + child gone after (s)"] = round(time.monotonic() - t_kill, 2)
    cluster.wait_run("hpo__cl_script", run_id)
    TIMINGS["kill -9 worker mid script: sweep wall (s)"] = round(time.monotonic() - t0, 1)
    summary = assert_consistent(cluster, "hpo__cl_script", run_id, max_trials=4)
    assert summary["_tries"] >= 2, "the killed trials were not retried"
    attempts: dict[int, list[str]] = {}
    for f in pids.glob("*.json"):
        attempts.setdefault(int(f.name.split("-")[0]), []).append(json.loads(f.read_text())[2])
    assert sorted(attempts) == [0, 1, 2, 3]
    for name in first:
        number = int(name.split("-")[0])
        runs = attempts[number]
        assert len(runs) == 2 and len(set(runs)) == 1, (number, runs)  # retried once, in the same child run
    assert [p for p in killed if not _gone(p)] == []


def test_scheduler_restart_mid_sweep(cluster: Cluster) -> None:
    t0 = time.monotonic()
    run_id = cluster.trigger("hpo__cl_tiny")
    _wait_for_running_trial(cluster, "hpo__cl_tiny", run_id)
    t_restart = time.monotonic()
    cluster.restart("scheduler")
    TIMINGS["scheduler stop + start (s)"] = round(time.monotonic() - t_restart, 1)
    cluster.wait_run("hpo__cl_tiny", run_id)
    TIMINGS["scheduler restart: sweep wall (s)"] = round(time.monotonic() - t0, 1)
    assert_consistent(cluster, "hpo__cl_tiny", run_id)


def test_optuna_database_outage(cluster: Cluster) -> None:
    db = cluster.dbs["optuna"]
    t0 = time.monotonic()
    run_id = cluster.trigger("hpo__cl_slow")
    _wait_for_objective(cluster)  # 8 s of objective: its result is written during the outage
    admin = _pg()
    try:
        cur = admin.cursor()
        cur.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
        cur.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = %s", (db,))
        terminated = cur.fetchone()[0]
        time.sleep(12)
    finally:
        admin.cursor().execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
        admin.close()
    assert terminated > 0
    cluster.wait_run("hpo__cl_slow", run_id)
    TIMINGS["Optuna DB outage (12 s): sweep wall (s)"] = round(time.monotonic() - t0, 1)
    assert_consistent(cluster, "hpo__cl_slow", run_id)
    assert _retried_trials(cluster, "hpo__cl_slow", run_id) >= 1


def test_secrets_never_reach_task_logs_mlflow_or_xcom(cluster: Cluster) -> None:
    from mlflow import MlflowClient

    secrets = cluster.secrets.values()
    logs = [p for p in (cluster.home / "logs").rglob("*") if p.is_file()]
    assert len(logs) > 20
    for path in logs:
        text = path.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"secret in {path}"

    client = MlflowClient(tracking_uri=cluster.mlflow_url)
    exps = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in exps], max_results=5000)
    assert runs
    for r in runs:
        text = repr(r.data.params) + repr(r.data.tags)
        assert not [s for s in secrets if s in text], f"secret in MLflow run {r.info.run_id}"

    xcoms = cluster.airflow_rows("select value::text from xcom")
    assert xcoms
    for (value,) in xcoms:
        assert not [s for s in secrets if s in value]
