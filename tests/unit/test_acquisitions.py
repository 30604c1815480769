"""Every acquisition builds a batch of distinct points in bounds around pending ones. (Each one beating
random search is a quality check: tests/quality/test_acquisition_regret.py.)"""

from __future__ import annotations

import optuna
import pytest

from hpo_tasks.config import ACQUISITIONS
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.objectives.synthetic import branin
from tests.helpers import BRANIN_SPACE, rounds, space_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_batch_is_distinct_in_bounds_with_pending(acquisition: str) -> None:
    ss = space_of(BRANIN_SPACE)
    study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=5, seed=0, acquisition=acquisition))
    rounds(study, ss, 1, lambda p: branin(p, seed=0), n=5)
    batch = []
    for _ in range(4):
        t = study.ask()
        ss.suggest(t)
        batch.append(t)
    keys = {ss.key(t.params) for t in batch}
    assert len(keys) == 4
    assert all(-5 <= t.params["x1"] <= 10 and 0 <= t.params["x2"] <= 15 for t in batch)
