"""One real cluster per test module (starting one takes about a minute on two cores); the fault tests
restart the component they break before they return, so the next test finds a whole cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.harness import Cluster

SWEEP = """
name: {name}
objective: {{name: {objective}, args: {args}}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: {max_trials}, n_init: {n_init}, batch_size: 2}}
seed: 1
resources: {{queue: gpu, pool: gpu, retries: 3, retry_delay_seconds: 2}}
"""

# name -> (objective, args, max_trials, n_init). Most are one round (n_init = max_trials) to keep the
# module short; cl_a has a GP round after its seed round.
SWEEPS = {
    "cl_a": ("branin", "{}", 4, 2),
    "cl_b": ("branin", "{}", 2, 2),
    "cl_tiny": ("branin", "{}", 2, 2),
    "cl_slow": ("tests.cluster.objectives:slow_branin", "{seconds: 8, marker_dir: MARKERS}", 2, 2),
}
# budget.mode async: two lanes (the GPU worker's two slots) share six trials; the first trial to start is
# the slow one the kill test kills (objectives.lane_branin).
ASYNC_SWEEP = """
name: cl_async
objective: {{name: "tests.cluster.objectives:lane_branin", args: {{marker_dir: {markers}}}}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: {max_trials}, n_init: {max_trials}, batch_size: 2, mode: async}}
seed: 1
resources: {{queue: gpu, pool: gpu, retries: 3, retry_delay_seconds: 2}}
"""
ASYNC_MAX_TRIALS = 6
TIMINGS: dict[str, object] = {}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    for name, (objective, args, max_trials, n_init) in SWEEPS.items():
        args = args.replace("MARKERS", str(c.root / "markers"))
        text = SWEEP.format(name=name, objective=objective, args=args, max_trials=max_trials, n_init=n_init)
        (c.sweeps / f"{name}.yaml").write_text(text)
    async_text = ASYNC_SWEEP.format(markers=c.root / "lane-markers", max_trials=ASYNC_MAX_TRIALS)
    (c.sweeps / "cl_async.yaml").write_text(async_text)
    try:
        c.start()
        TIMINGS["cluster start-up (s)"] = round(c.startup_seconds or 0, 1)
        yield c
    finally:
        c.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("cluster timings")
        for key, value in TIMINGS.items():
            terminalreporter.write_line(f"{key}: {value}")
