"""Quality: the trust region (TuRBO, ``hpo_tasks.gp.turbo``) beats random search on a 30-D problem (its
state machine and replay are unit-tested in tests/unit/test_turbo.py)."""

from __future__ import annotations

import statistics

import optuna
import pytest

from hpo_tasks.config import load_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import ackley30
from hpo_tasks.space import SearchSpace
from tests.conftest import REPO
from tests.helpers import rounds

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = [pytest.mark.quality, pytest.mark.slow]


def test_trust_region_beats_random_search_on_ackley30() -> None:
    """3 seeds x 50 trials in rounds of 4 on Ackley 30-D (random points score 13-15). Thompson sampling in
    the region (the tutorial's acquisition) keeps it affordable: ~0.3 s per ask on one thread."""
    cfg = load_sweep(REPO / "config" / "sweeps" / "ackley30.yaml")
    ss = SearchSpace.from_config(cfg)

    def best(sampler: optuna.samplers.BaseSampler) -> float:
        study = optuna.create_study(direction="minimize", sampler=sampler)
        rounds(study, ss, 4, lambda p: ackley30(p, seed=0), n=50, n_init=cfg.n_init)
        return study.best_value

    seeds = range(3)
    ours = statistics.median(
        best(
            GPBatchSampler(
                ss, n_init=cfg.n_init, seed=s, acquisition="thompson", trust_region=True, batch_size=4
            )
        )
        for s in seeds
    )
    rand = statistics.median(best(optuna.samplers.RandomSampler(seed=s)) for s in seeds)
    # Random search's median here is 12.63 (seeds 0-2, measured with scripts/compare_turbo.py).
    assert ours < rand - 0.5, f"trust region median best {ours:.3f} vs random {rand:.3f}"
