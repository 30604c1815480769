"""samplers.make_sampler: the sampler a sweep config names, seeded so the same seed asks the same points."""

from __future__ import annotations

import optuna
import pytest

from hpo_tasks.config import parse_sweep
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.samplers import make_sampler
from hpo_tasks.space import SearchSpace
from tests.helpers import branin_sweep

BASE = branin_sweep("s", budget={"max_trials": 10, "n_init": 4, "batch_size": 2}, seed=3)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("gp", GPBatchSampler),
        ("optuna-gp", optuna.samplers.GPSampler),
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
    ],
)
def test_each_name_gets_its_sampler(name: str, kind: type) -> None:
    assert type(make_sampler(parse_sweep({**BASE, "sampler": {"name": name}}), n_asked=0)) is kind


def _asks(cfg: object, n_asked: int) -> list[dict]:
    study = optuna.create_study(sampler=make_sampler(cfg, n_asked=n_asked))  # type: ignore[arg-type]
    space = SearchSpace.from_config(cfg)  # type: ignore[arg-type]
    out = []
    for _ in range(3):
        t = study.ask()
        space.suggest(t)
        out.append(t.params)
    return out


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_same_seed_same_asks_and_rounds_draw_afresh(name: str) -> None:
    cfg = parse_sweep({**BASE, "sampler": {"name": name}})
    assert _asks(cfg, 0) == _asks(cfg, 0)
    assert _asks(cfg, 0) != _asks(cfg, 4)  # a later round's fresh sampler does not repeat round 0
    assert _asks(cfg, 0) != _asks(parse_sweep({**BASE, "seed": 4, "sampler": {"name": name}}), 0)
