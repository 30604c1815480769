"""A real Airflow (api-server, scheduler, dag-processor; SimpleAuthManager, SQLite, LocalExecutor) plus an
MLflow tracking server, on free loopback ports, each in its own process group (FIELD_NOTES: stop the
group, TERM then KILL). Used by the browser test; ``python -m tests.integration.ui_stack`` starts one by
hand for poking around.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.conftest import _base_env

BIN = Path(sys.executable).parent
USER, PASSWORD = "admin", "hpo-ui-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class UIStack:
    root: Path
    airflow_db: Path
    sweeps: Path
    airflow_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self) -> dict[str, str]:
        home = self.root / "airflow"
        env = _base_env(home)
        env.update(
            HPO_SWEEPS_DIR=str(self.sweeps),
            HPO_STATE_DIR=str(self.state),
            MLFLOW_UI_URL=self.mlflow_url,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
            AIRFLOW__API_AUTH__JWT_SECRET=self._secret,
            AIRFLOW__API__SECRET_KEY=self._secret,
            AIRFLOW__API__BASE_URL=self.airflow_url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.airflow_url}/execution/",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL="5",
            AIRFLOW__API__WORKERS="1",
            GUNICORN_CMD_ARGS="--workers 1",
        )
        return env

    def __post_init__(self) -> None:
        self._secret = secrets.token_hex(16)

    def start(self) -> None:
        home = self.root / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.airflow_db, home / "airflow.db")
        (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
        self.state.mkdir(parents=True, exist_ok=True)
        env = self.env()
        mlflow_db = f"sqlite:///{self.state / 'mlflow.db'}"
        self._spawn(
            "mlflow",
            [str(BIN / "mlflow"), "server", "--backend-store-uri", mlflow_db, *self._mlflow_listen()],
            env,
        )
        self.wait_http(f"{self.mlflow_url}/health", 120)
        airflow = str(BIN / "airflow")
        self._spawn("api-server", [airflow, "api-server", "--port", str(self.airflow_port)], env)
        self._spawn("scheduler", [airflow, "scheduler"], env)
        self._spawn("dag-processor", [airflow, "dag-processor"], env)
        self.wait_http(f"{self.airflow_url}/api/v2/monitor/health", 180)

    def _mlflow_listen(self) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(self.mlflow_port), "--workers", "1"]

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        log = (self.root / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root
        )

    def wait_http(self, url: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except (OSError, urllib.error.HTTPError) as err:
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                if dead or time.time() > deadline:
                    raise RuntimeError(f"{url} not up ({err}); exited: {dead}; logs in {self.root}") from None
                time.sleep(1)

    def token(self) -> str:
        req = urllib.request.Request(
            f"{self.airflow_url}/auth/token",
            data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return str(json.load(r)["access_token"])

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"{self.airflow_url}/api/v2{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return dict(json.load(r))

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                if time.time() > deadline:
                    raise RuntimeError(f"DAG {dag_id} never appeared; see {self.root}") from None
                time.sleep(2)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


if __name__ == "__main__":  # python -m tests.integration.ui_stack ROOT MIGRATED_DB SWEEPS
    stack = UIStack(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
    stack.start()
    print(json.dumps({"airflow": stack.airflow_url, "mlflow": stack.mlflow_url}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that `finally` stops the groups
    try:
        signal.pause()
    finally:
        stack.stop()
