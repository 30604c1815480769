from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

# Airflow reads its config at import: keep test processes off ~/airflow and the examples.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hpo-test-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

REPO = Path(__file__).resolve().parent.parent
# Modules whose tests are independent (no module-scoped fixture) and long: spread over the workers one by one.
SPREAD = {"tests/quality/test_acquisition_regret.py"}


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist (3.8) groups tests by rewriting ``item._nodeid``, which pytest 9.2 no longer reads
    (``Node.nodeid`` became a structured id): every module was split over both workers, two Celery
    clusters at once and a CI run twice as long. Refuse that pairing instead of running slowly."""
    if config.getoption("dist", "no") == "loadgroup" and tuple(pytest.version_tuple[:2]) >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with --dist loadgroup ignores tests/conftest.py's groups: "
            "install the versions pyproject.toml's dev extra allows (make install)"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs ``--dist loadgroup``: a module's tests share one worker (its module fixtures, a
    Celery cluster or a UI stack, start once), except ``SPREAD``'s, which go to whichever worker is free.
    Without pytest-xdist (``-p no:xdist``) there is no marker to set."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        path = item.path.relative_to(REPO).as_posix()
        if path not in SPREAD and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(path))


# seconds of setup, call and teardown per (worker, module), summed on the controller from the workers'
# reports: the terminal summary says how the modules packed onto the workers (where a CI run's time went)
_MODULE_SECONDS: defaultdict[tuple[str, str], float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    worker = getattr(report, "worker_id", None) or getattr(getattr(report, "node", None), "workerid", "main")
    _MODULE_SECONDS[(str(worker), report.nodeid.split("::")[0])] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _MODULE_SECONDS or terminalreporter.config.option.collectonly:
        return
    by_worker: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
    for (worker, module), seconds in _MODULE_SECONDS.items():
        by_worker[worker].append((seconds, module))
    terminalreporter.section("time per worker (setup + call + teardown, summed per module)")
    for worker, mods in sorted(by_worker.items()):
        mods.sort(reverse=True)
        top = ", ".join(f"{m.removeprefix('tests/')} {s:.0f}" for s, m in mods[:6])
        total = sum(s for s, _ in mods)
        terminalreporter.write_line(f"{worker}: {total:.0f} s in {len(mods)} modules; {top}")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state folder: SQLite Optuna storage and a local MLflow store inside tmp_path."""
    state = tmp_path / "state"
    monkeypatch.setenv("HPO_STATE_DIR", str(state))
    monkeypatch.delenv("HPO_OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return state


def write_sweep(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path
