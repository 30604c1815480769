"""A real Airflow cluster on this machine, for tests and for trying the deployment out by hand:
CeleryExecutor on the local PostgreSQL and Redis, an api-server, a scheduler, a dag-processor, two Celery
workers (queue ``default``; queue ``gpu`` standing in for the GPU worker) and an MLflow tracking server on
PostgreSQL. Optuna's storage is a third PostgreSQL database. Everything a cluster writes lives in one temp
folder and three uniquely named databases, all removed by ``stop()``.

    python -m tests.cluster.harness            # start, print the URLs and the admin password, wait for ^C

Each component runs in its own process group, stopped with TERM then KILL after a grace period (the
scheduler ignores TERM for a while). Secrets are fresh random values per cluster; the tests grep the task
logs, MLflow and XCom for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_HOST = os.environ.get("HPO_TEST_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("HPO_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("HPO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GPU_WORKER = "gpu-worker"
CPU_WORKER = "cpu-worker"
GPU_SLOTS = 2  # "GPUs" of the stand-in GPU worker: pool slots and worker concurrency


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: names the worker that ran a task instance."""
    return os.environ.get("HPO_CLUSTER_WORKER") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg(dbname: str = "postgres"):
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, user=PG_USER, dbname=dbname)
    conn.autocommit = True
    return conn


@dataclass
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def descendants(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill9(self) -> None:
        """SIGKILL the group and every descendant (task runners may have started their own session)."""
        if self.proc is None:
            return
        pids = self.descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


@dataclass
class Cluster:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hpo-cluster-")))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    components: dict[str, Component] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    startup_seconds: float | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "airflow"
        self.sweeps = self.root / "sweeps"
        self.home.mkdir(parents=True, exist_ok=True)
        self.sweeps.mkdir(exist_ok=True)
        self.dbs = {k: f"hpo_cluster_{self.tag}_{k}" for k in ("airflow", "optuna", "mlflow")}
        self.api_port, self.mlflow_port = free_port(), free_port()
        from cryptography.fernet import Fernet

        self.secrets = {
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
            "admin_password": secrets.token_urlsafe(18),
            # Trust auth on the local server ignores it, but every URL carries it, so a leak is visible.
            "db_password": secrets.token_urlsafe(18),
        }
        self._token: str | None = None

    # ---- configuration ------------------------------------------------------------------------
    def db_url(self, key: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{PG_USER}:{self.secrets['db_password']}@{PG_HOST}:5432/{self.dbs[key]}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "HPO_", "MLFLOW_"))}
        s = self.secrets
        env.update(
            PYTHONPATH=str(REPO),
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__FERNET_KEY=s["fernet_key"],
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.api_url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.db_url("airflow"),
            AIRFLOW__API_AUTH__JWT_SECRET=s["jwt_secret"],
            AIRFLOW__API__SECRET_KEY=s["api_secret_key"],
            AIRFLOW__API__BASE_URL=self.api_url,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__CELERY__BROKER_URL=REDIS_URL,
            AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="hpo_celery.CELERY_CONFIG",  # the task libraries preloaded
            AIRFLOW__CELERY__RESULT_BACKEND=self.db_url("airflow", "db+postgresql+psycopg2"),
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=f"hpo-{self.tag}-",
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="3600",
            AIRFLOW__OPERATORS__DEFAULT_QUEUE="default",
            # Small intervals: a dead worker is noticed in ~30 s, new sweep files in ~5 s.
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.home / "logs"),
            HPO_OPTUNA_STORAGE=self.db_url("optuna"),
            MLFLOW_TRACKING_URI=self.mlflow_url,
            HPO_SWEEPS_DIR=str(self.sweeps),
            HPO_STATE_DIR=str(self.root / "state"),
        )
        env.update(extra)
        return env

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 300.0) -> Cluster:
        t0 = time.monotonic()
        admin = _pg()
        for name in self.dbs.values():
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
        admin.close()
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.secrets["admin_password"]}))
        self._cli("db", "migrate", timeout=600)
        self._cli("pools", "set", "gpu", str(GPU_SLOTS), "one slot per GPU")
        airflow = str(BIN / "airflow")
        self._add("mlflow", [
            str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.mlflow_port),
            "--workers", "1", "--backend-store-uri", self.db_url("mlflow"),
            "--artifacts-destination", (self.root / "mlartifacts").as_uri(),
            "--allowed-hosts", f"127.0.0.1:{self.mlflow_port},localhost:{self.mlflow_port}",
        ])  # fmt: skip
        self._add(
            "api-server", [airflow, "api-server", "-H", "127.0.0.1", "-p", str(self.api_port), "-w", "1"]
        )
        self._add("scheduler", [airflow, "scheduler"])
        self._add("dag-processor", [airflow, "dag-processor"])
        self._add_worker(CPU_WORKER, "default", 2)
        self._add_worker(GPU_WORKER, "gpu", GPU_SLOTS)
        for c in self.components.values():
            c.start()
        self.wait_http(f"{self.mlflow_url}/health", timeout)
        self.wait_http(f"{self.api_url}/api/v2/monitor/health", timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _add(self, name: str, argv: list[str], **env: str) -> Component:
        comp = Component(name, argv, self.env(**env), self.home / f"{name}.out")
        self.components[name] = comp
        return comp

    def _add_worker(self, name: str, queue: str, concurrency: int) -> None:
        self._add(
            name,
            [str(BIN / "airflow"), "celery", "worker", "-q", queue, "-c", str(concurrency),
             "-H", f"{name}@%h", "--skip-serve-logs", "--without-mingle", "--without-gossip"],
            HPO_CLUSTER_WORKER=name,
            AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.cluster.harness.worker_hostname",
        )  # fmt: skip

    def restart(self, name: str, *, kill: bool = False) -> None:
        comp = self.components[name]
        comp.kill9() if kill else comp.stop()
        comp.start()

    def stop(self) -> None:
        for c in self.components.values():
            c.stop()
        with contextlib.suppress(Exception):
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(f"hpo-{self.tag}-*"))
            if keys:
                r.delete(*keys)
        with contextlib.suppress(Exception):
            admin = _pg()
            for name in self.dbs.values():
                admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        if not os.environ.get("HPO_CLUSTER_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def _cli(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def check_alive(self) -> None:
        for c in self.components.values():
            if not c.alive():
                tail = c.log.read_text(errors="replace")[-3000:] if c.log.exists() else ""
                raise RuntimeError(f"{c.name} exited ({c.proc and c.proc.returncode}):\n{tail}")

    def wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except (urllib.error.URLError, OSError):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer in {timeout:.0f}s") from None
                time.sleep(1)

    # ---- REST API, as a user's script would call it --------------------------------------------
    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {token or self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        # A GET is safe to repeat: on a loaded 2-core machine the one API-server worker can take over 30 s
        # to answer a poll (CI at 994876a timed out once in wait_run). Anything else is sent once.
        attempts = 3 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    raw = resp.read()
                    return resp.status, json.loads(raw) if raw else None
            except urllib.error.HTTPError as err:
                raw = err.read()
                try:
                    return err.code, json.loads(raw)
                except ValueError:
                    return err.code, raw.decode(errors="replace")
            except (TimeoutError, urllib.error.URLError):
                if attempt == attempts:
                    raise
                self.check_alive()
        raise AssertionError("unreachable")

    def token(self, password: str | None = None) -> str:
        if password is None and self._token:
            return self._token
        status, body = self.request(
            "POST",
            "/auth/token",
            {"username": "admin", "password": password or self.secrets["admin_password"]},
            auth=False,
        )
        if status not in (200, 201):
            raise PermissionError(f"token refused ({status}): {body}")
        if password is None:
            self._token = body["access_token"]
        return body["access_token"]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/api/v2/dags/{dag_id}")[0] != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} was not parsed in {timeout:.0f}s")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.wait_for_dag(dag_id)
        status, body = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
        status, body = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        if status != 200:
            raise RuntimeError(f"trigger of {dag_id} refused ({status}): {body}")
        return body["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> dict[str, Any]:
        status, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")
        assert status == 200, body
        return body

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run_state(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}/{run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(2)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        status, body = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/xcomEntries/return_value",
        )
        assert status == 200, body
        value = body["value"]
        return json.loads(value) if isinstance(value, str) else value

    # ---- direct reads for assertions ------------------------------------------------------------
    def airflow_rows(self, sql: str, *args: Any) -> list[tuple]:
        conn = _pg(self.dbs["airflow"])
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            conn.close()


def _quote(run_id: str) -> str:
    import urllib.parse

    return urllib.parse.quote(run_id, safe="")


def main() -> None:
    cluster = Cluster()
    for path in sorted((REPO / "config" / "sweeps").glob("*.yaml")):
        shutil.copy(path, cluster.sweeps)
    try:
        cluster.start()
        print(f"cluster up in {cluster.startup_seconds:.0f}s under {cluster.root}")
        print(f"Airflow {cluster.api_url}  (admin / {cluster.secrets['admin_password']})")
        print(f"MLflow  {cluster.mlflow_url}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
