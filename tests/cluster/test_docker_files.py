"""docker/ without a Docker engine: the compose file against the Compose specification's JSON schema
(``compose_spec.json``, vendored from docker-compose 1.29.2, Apache-2.0) and, where Debian's
``docker-compose`` is installed, its own ``config`` check; the secret checks; the Dockerfile's install
step as a pip dry run against the project's pins."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
COMPOSE = DOCKER / "docker-compose.yaml"
SECRETS = (
    "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "HPO_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "OPTUNA_DB_PASSWORD", "MLFLOW_DB_PASSWORD", "REDIS_PASSWORD",
)  # fmt: skip
AIRFLOW_SERVICES = (
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    "airflow-worker-cpu", "airflow-worker-gpu0",
)  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env_file(tmp_path: Path, drop: str | None = None) -> Path:
    lines = [f"{k}={secrets.token_urlsafe(24)}" for k in SECRETS if k != drop] + ["GPU_COUNT=2"]
    path = tmp_path / "env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_compose_file_follows_the_compose_spec(compose: dict) -> None:
    import jsonschema

    schema = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft201909Validator)


def test_compose_services_make_the_cluster(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {*AIRFLOW_SERVICES, "postgres", "redis", "mlflow"}
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["HPO_OPTUNA_STORAGE"].endswith("@postgres:5432/optuna")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    for name in AIRFLOW_SERVICES:  # one JWT secret for every component
        jwt = services[name]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
        assert jwt == "${AIRFLOW_JWT_SECRET:?set AIRFLOW_JWT_SECRET in docker/.env}"

    gpu = services["airflow-worker-gpu0"]
    assert gpu["command"].split()[:5] == ["celery", "worker", "-q", "gpu", "-c"]
    assert gpu["command"].split()[5] == "1"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "cu" in gpu["build"]["args"]["TORCH_INDEX_URL"]
    assert "-q default" in services["airflow-worker-cpu"]["command"]
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and 'airflow pools set gpu "$${GPU_COUNT}"' in init

    mlflow = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://mlflow:" in mlflow
    assert re.search(r"--allowed-hosts=\S*\bmlflow:5000\b", mlflow)
    assert "mlflow-artifacts:/opt/airflow/mlartifacts" in services["mlflow"]["volumes"]
    assert services["mlflow"]["environment"] == {}  # no Airflow secret where it is not needed
    init_sql = (DOCKER / "postgres-init.sh").read_text()
    assert "for store in airflow optuna mlflow" in init_sql


def test_every_secret_is_required_and_has_no_default() -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        assert f"${{{name}:?set {name} in docker/.env}}" in text, name
        assert not re.search(rf"\${{{name}:?-", text), f"{name} has a default"
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if "=" in line
        if not line.startswith("#")
    )
    assert {k: example[k] for k in SECRETS} == dict.fromkeys(SECRETS, "")


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
@pytest.mark.parametrize("missing", [None, "AIRFLOW_JWT_SECRET", "OPTUNA_DB_PASSWORD", "REDIS_PASSWORD"])
def test_docker_compose_config_refuses_a_missing_secret(tmp_path: Path, missing: str | None) -> None:
    proc = subprocess.run(
        [
            "docker-compose",
            "--env-file",
            str(_env_file(tmp_path, missing)),
            "-f",
            str(COMPOSE),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in SECRETS},
    )
    if missing is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0
        assert f"set {missing} in docker/.env" in proc.stderr


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(None, False), ("", False), ("airflow", False), ("short-but-random", True), ("x" * 8, False)],
)
def test_check_secrets_refuses_missing_or_well_known_values(value: str | None, accepted: bool) -> None:
    env = {"PATH": os.environ["PATH"], "GOOD": secrets.token_urlsafe(24)}
    if value is not None:
        env["CANDIDATE"] = value
    proc = subprocess.run(
        [str(DOCKER / "check-secrets.sh"), "GOOD", "CANDIDATE"], env=env, capture_output=True, text=True
    )
    assert (proc.returncode == 0) == accepted, proc.stderr
    if not accepted:
        assert proc.returncode == 78 and "CANDIDATE" in proc.stderr and "GOOD" not in proc.stderr


def test_dockerfile_copies_files_that_exist() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    sources = [src for line in text.splitlines() if line.startswith("COPY") for src in line.split()[2:-1]]
    assert sources
    missing = [s for s in sources if not (REPO / s).exists()]
    assert not missing
    assert "docker/install-project.sh" in text


def test_dockerfile_install_step_resolves() -> None:
    """The image's install script as a pip dry run: the pins of ``.[cluster]`` resolve together."""
    pip_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{pip_dir}:{os.environ['PATH']}", "TORCH_INDEX_URL": ""}
    proc = subprocess.run(
        [str(DOCKER / "install-project.sh"), str(REPO), "--dry-run", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
