"""The optimizers compared, each a recipe for an Optuna sampler plus the batch size it is driven with.

Ours is ``GPBatchSampler`` with the project's defaults (``n_init = min(10, max(5, d+1))``, as a sweep file
without ``budget.n_init`` gets). Peers run with their library defaults and only the seed set: that is what
a user who picks them gets. ``describe()`` records every argument next to the library versions.
"""

from __future__ import annotations

import importlib.metadata
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from hpo_tasks.config import SamplerConfig, SweepConfig, parse_sweep, with_overrides


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    q: int  # trials asked per round (told together); 1 = sequential
    make: Callable[[SweepConfig, int], optuna.samplers.BaseSampler]
    args: str  # the constructor call, as recorded in the results
    seed_round: bool = False  # True: the first round asks the whole seed design at once (our GP sampler)
    lanes: bool = False  # True: after the first round, q trials in flight, each told as it ends (async)

    def n_seed_trials(self, cfg: SweepConfig) -> int:
        """Trials of the first round: ours asks its whole Sobol design at once, as a DAG run does."""
        return cfg.n_init if self.seed_round else self.q


def _ours(cfg: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    """Exactly what a sweep file with ``sampler: {name: gp}`` and no other setting runs."""
    from hpo_tasks.samplers import make_sampler

    if cfg.seed != seed:
        cfg = with_overrides(cfg, {"seed": seed})
    return make_sampler(cfg, n_asked=0)


def _botorch(cfg: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    from optuna_integration import BoTorchSampler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BoTorchSampler(seed=seed)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    o.name: o
    for o in (
        OptimizerSpec(
            "ours-q1",
            1,
            _ours,
            "make_sampler(sweep with sampler: {name: gp}): GPBatchSampler, n_init=min(10, max(5, d+1)), seed",
            seed_round=True,
        ),
        OptimizerSpec("ours-q4", 4, _ours, "as ours-q1; rounds of 4 asks, then 4 tells", seed_round=True),
        OptimizerSpec(
            "random", 1, lambda c, s: optuna.samplers.RandomSampler(seed=s), "RandomSampler(seed=seed)"
        ),
        OptimizerSpec("tpe", 1, lambda c, s: optuna.samplers.TPESampler(seed=s), "TPESampler(seed=seed)"),
        OptimizerSpec("optuna-gp", 1, lambda c, s: optuna.samplers.GPSampler(seed=s), "GPSampler(seed=seed)"),
        OptimizerSpec("botorch", 1, _botorch, "optuna_integration.BoTorchSampler(seed=seed)"),
    )
}
PEERS = ("random", "tpe", "optuna-gp", "botorch")


def sweep_config(space: dict[str, Any], *, budget: int, seed: int = 0) -> SweepConfig:
    """A validated sweep config for a benchmark problem's space (our sampler reads its ``n_init``)."""
    return parse_sweep(
        {
            "name": "bench",
            "objective": {"name": "branin"},  # not called: the runner evaluates the problem itself
            "direction": "minimize",
            "space": space,
            "budget": {"max_trials": budget},
            "seed": seed,
        },
        source="bench problem",
    )


def describe() -> dict[str, Any]:
    """Library versions, the machine, and every optimizer's arguments, for the results file."""
    import os

    pkgs = (
        "optuna",
        "optuna-integration",
        "botorch",
        "gpytorch",
        "torch",
        "scikit-learn",
        "xgboost",
        "numpy",
        "scipy",
        "greenlet",
        "apache-airflow",
        "mlflow",
        "hpo-sweeps",
    )
    versions: dict[str, str | None] = {}
    for p in pkgs:
        try:
            versions[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            versions[p] = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "versions": versions,
        "python": platform.python_version(),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()},
        "optimizers": {o.name: {"q": o.q, "args": o.args} for o in OPTIMIZERS.values()},
        "ours_sampler_config": SamplerConfig().model_dump(),
    }
