"""The documented local stack, started the documented way: ``make airflow`` (``airflow standalone``:
api-server, scheduler, dag-processor, triggerer; SimpleAuthManager with its generated admin password,
SQLite, LocalExecutor) and, when asked, ``make mlflow``, in a temporary state folder on free loopback
ports. Each ``make`` runs in its own process group, stopped TERM then KILL (FIELD_NOTES: SIGTERM to
``airflow standalone`` leaves its children running).

Used by ``test_make_airflow.py`` and the browser test; ``python -m tests.integration.ui_stack ROOT SWEEPS``
starts one by hand for poking around.

Nothing is activated: PATH lacks the venv's ``bin`` (the Makefile must add it). ``make`` gets the venv of the
running interpreter (``VENV=``) with its install stamp taken as up to date (``-o``), so it never reinstalls.
"""

from __future__ import annotations

import contextlib
import json
import os
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

from tests.conftest import REPO

VENV = Path(sys.executable).parent.parent
USER = "admin"  # airflow standalone's user; its password is generated into AIRFLOW_HOME


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unactivated_env(**extra: str) -> dict[str, str]:
    """This process's environment without Airflow/HPO/MLflow settings and without the venv on PATH."""
    prefixes = ("AIRFLOW__", "AIRFLOW_HOME", "HPO_", "MLFLOW_", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    venv_bin = str(VENV / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(extra)
    return env


@dataclass
class MakeStack:
    root: Path
    sweeps: Path
    airflow_db: Path | None = None  # a migrated metadata DB to start from (saves the migration)
    airflow_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _password: str | None = None

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def home(self) -> Path:
        return self.state / "airflow"

    def env(self) -> dict[str, str]:
        return unactivated_env(
            HPO_STATE_DIR=str(self.state),
            AIRFLOW_HOME=str(self.home),
            HPO_SWEEPS_DIR=str(self.sweeps),
            MLFLOW_UI_URL=self.mlflow_url,
            # Test pace only: pick up the temporary sweep files quickly.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL="5",
        )

    def make(self, target: str) -> list[str]:
        return [
            "make",
            "-C",
            str(REPO),
            "--no-print-directory",
            "-o",
            str(VENV / ".installed"),
            f"VENV={VENV}",
            f"AIRFLOW_PORT={self.airflow_port}",
            f"MLFLOW_PORT={self.mlflow_port}",
            target,
        ]

    def start(self, *, mlflow: bool = False) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.airflow_db is not None:
            shutil.copy(self.airflow_db, self.home / "airflow.db")
        env = self.env()
        if mlflow:
            self._spawn("mlflow", self.make("mlflow"), env)
            self.wait_http(f"{self.mlflow_url}/health", 180)
        self._spawn("airflow", self.make("airflow"), env)
        self.wait_http(f"{self.airflow_url}/api/v2/monitor/health", 300)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        log = (self.root / f"make-{name}.log").open("w")
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

    @property
    def password(self) -> str:
        """The admin password ``airflow standalone`` generated (SimpleAuthManager writes it as JSON)."""
        if self._password is None:
            path = self.home / "simple_auth_manager_passwords.json.generated"
            deadline = time.time() + 60
            while not path.exists():
                if time.time() > deadline:
                    raise RuntimeError(f"no generated password at {path}; logs in {self.root}")
                time.sleep(1)
            self._password = str(json.loads(path.read_text())[USER])
        return self._password

    def token(self) -> str:
        req = urllib.request.Request(
            f"{self.airflow_url}/auth/token",
            data=json.dumps({"username": USER, "password": self.password}).encode(),
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

    def wait_for_dag(self, dag_id: str, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                if time.time() > deadline:
                    raise RuntimeError(f"DAG {dag_id} never appeared; see {self.root}") from None
                time.sleep(2)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause ``dag_id`` and start a run over REST; its run id."""
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        """The run's final state (``success`` or ``failed``)."""
        deadline = time.time() + timeout
        while True:
            state = str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])
            if state in ("success", "failed"):
                return state
            if time.time() > deadline:
                raise RuntimeError(f"run {run_id} still {state} after {timeout}s; see {self.root}")
            time.sleep(2)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.time()))
        for p in self.procs.values():  # the group, even when its leader (make) is gone
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


if __name__ == "__main__":  # python -m tests.integration.ui_stack ROOT SWEEPS
    stack = MakeStack(Path(sys.argv[1]), Path(sys.argv[2]))
    stack.root.mkdir(parents=True, exist_ok=True)
    stack.start(mlflow=True)
    print(json.dumps({"airflow": stack.airflow_url, "mlflow": stack.mlflow_url, "user": USER}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that `finally` stops the groups
    try:
        signal.pause()
    finally:
        stack.stop()
