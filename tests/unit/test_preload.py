"""``hpo_tasks.preload``'s switches and the Celery configuration that calls it (a process forked after it
runs sweeps: tests/integration/test_preload_fork.py)."""

from __future__ import annotations

import pytest

from hpo_tasks import preload
from tests.conftest import REPO


def test_preload_skips_a_missing_optional_module_and_fails_on_a_missing_required_one() -> None:
    assert "json" in preload.preload(("json",), ("no_such_module_hpo",))
    with pytest.raises(ImportError):
        preload.preload(("no_such_module_hpo",), ())


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("off", False)])
def test_hpo_preload_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool) -> None:
    if value is None:
        monkeypatch.delenv("HPO_PRELOAD", raising=False)
    else:
        monkeypatch.setenv("HPO_PRELOAD", value)
    assert preload.enabled() is on


def test_celery_workers_preload_on_the_signal_airflows_provider_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """``[celery] celery_config_options = hpo_celery.CELERY_CONFIG``: Airflow's own default config, and a
    receiver of ``import_modules`` (sent in the worker's main process before its pool forks) that preloads."""
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import import_modules

    monkeypatch.syspath_prepend(str(REPO / "plugins"))
    import hpo_celery

    assert hpo_celery.CELERY_CONFIG is DEFAULT_CELERY_CONFIG
    calls: list[tuple] = []
    monkeypatch.setattr(preload, "preload", lambda *a: calls.append(a))
    import_modules.send(sender=None)
    monkeypatch.setenv("HPO_PRELOAD", "0")
    import_modules.send(sender=None)
    assert calls == [()]
