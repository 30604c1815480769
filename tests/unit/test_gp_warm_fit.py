"""The warm-started GP fit: each GP trial keeps its fit (GP_STATE_ATTR), the next fit starts there."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from hpo_tasks.config import parse_sweep
from hpo_tasks.gp import engine
from hpo_tasks.gp.sampler import GPBatchSampler
from hpo_tasks.gp.types import GP_STATE_ATTR
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0},
    "x2": {"type": "float", "low": 0.0, "high": 15.0},
}
N_INIT = 5


def _space(space: dict = SPACE) -> SearchSpace:
    cfg = parse_sweep(
        {
            "name": "t",
            "objective": {"name": "branin"},
            "direction": "minimize",
            "space": space,
            "budget": {"max_trials": 100, "n_init": N_INIT},
            "seed": 0,
        }
    )
    return SearchSpace.from_config(cfg)


def _value(p: dict) -> float:
    return branin({"x1": p["x1"], "x2": p.get("x2", 1.0)}, seed=0) + p.get("x3", 0.0)


def _fits(study: optuna.Study) -> list[dict]:
    return [t.system_attrs[GP_STATE_ATTR] for t in study.trials if GP_STATE_ATTR in t.system_attrs]


def _seed_fit(study: optuna.Study, ss: SearchSpace, entry: dict) -> None:
    """A finished trial that carries ``entry`` as its fit (as a copied history would)."""
    t = study.ask(ss.distributions())
    study._storage.set_trial_system_attr(t._trial_id, GP_STATE_ATTR, entry)
    study.tell(t, _value(t.params))


def _run(study: optuna.Study, ss: SearchSpace, n: int) -> list[dict]:
    """``n`` sequential ask/tell steps; the suggest info of each."""
    infos = []
    for _ in range(n):
        t = study.ask(ss.distributions())
        study.tell(t, _value(t.params))
        infos.append(suggest_info(study._storage.get_trial(t._trial_id)))
    return infos


def test_fit_history_survives_a_fresh_process_and_full_fits_recur(tmp_path: Path) -> None:
    ss = _space()
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(
        storage=url, study_name="w", sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True)
    )
    infos = _run(study, ss, N_INIT + 1)
    assert infos[-1]["phase"] == "gp" and infos[-1]["fit"] == "full"
    stored = _fits(study)
    assert [e["n"] for e in stored] == [N_INIT] and stored[0]["full_n"] == N_INIT

    # Every suggest task is a fresh process: a new storage connection and sampler, nothing in memory.
    again = optuna.load_study(
        storage=url, study_name="w", sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True)
    )
    infos = _run(again, ss, engine.FULL_FIT_EVERY + 1)
    fits = [i["fit"] for i in infos]
    # rows N_INIT+1 .. N_INIT+FULL_FIT_EVERY-1 start warm; the fit on N_INIT+FULL_FIT_EVERY rows is full
    assert fits[: engine.FULL_FIT_EVERY - 1] == ["warm"] * (engine.FULL_FIT_EVERY - 1)
    assert fits[engine.FULL_FIT_EVERY - 1] == "full" and fits[-1] == "warm"
    assert [e["n"] for e in _fits(again)] == list(range(N_INIT, N_INIT + engine.FULL_FIT_EVERY + 2))


def test_same_seed_same_suggestions_with_warm_fits() -> None:
    ss = _space()
    runs = []
    for _ in range(2):
        study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT, seed=3, warm_fit=True))
        _run(study, ss, N_INIT + 4)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_warm_fit_is_off_by_default_and_fits_fully_every_time() -> None:
    ss = _space()
    study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT))
    infos = _run(study, ss, N_INIT + 3)
    assert [i["fit"] for i in infos[N_INIT:]] == ["full"] * 3
    assert [e["full_n"] for e in _fits(study)] == [N_INIT, N_INIT + 1, N_INIT + 2]  # stored all the same


def test_a_stored_fit_of_another_space_or_a_broken_one_is_not_a_start() -> None:
    ss = _space()
    study = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True))
    _run(study, ss, N_INIT + 1)
    stored = {**_fits(study)[0], "n": N_INIT - 1, "full_n": N_INIT - 1}  # fitted on fewer rows: a start

    # One more dimension: the signature differs, so a full fit (no error).
    wide = _space({**SPACE, "x3": {"type": "float", "low": 0.0, "high": 1.0}})
    other = optuna.create_study(sampler=GPBatchSampler(wide, n_init=N_INIT, warm_fit=True))
    _seed_fit(other, wide, stored)
    assert _run(other, wide, N_INIT)[-1]["fit"] == "full"

    # The same space: the stored fit is a start.
    same = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True))
    _seed_fit(same, ss, stored)
    assert _run(same, ss, N_INIT)[-1]["fit"] == "warm"

    # Same signature, a parameter missing: the warm run fails, the full fit follows and says why.
    broken = {**stored, "params": dict(list(stored["params"].items())[1:])}
    third = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True))
    _seed_fit(third, ss, broken)
    info = _run(third, ss, N_INIT)[-1]
    assert info["phase"] == "gp" and info["fit"] == "full" and "do not match" in info["warm_start_failed"]

    # Not a fit at all (hand-edited): ignored.
    fourth = optuna.create_study(sampler=GPBatchSampler(ss, n_init=N_INIT, warm_fit=True))
    _seed_fit(fourth, ss, "garbage")  # type: ignore[arg-type]
    assert _run(fourth, ss, N_INIT)[-1]["fit"] == "full"


@pytest.mark.parametrize("n, expected", [(11, 10), (10, 8), (8, None), (18, None)])
def test_warm_start_picks_the_latest_fit_on_fewer_rows(n: int, expected: int | None) -> None:
    sig = "plain:d=2:noise=learned"
    history = [{"n": k, "full_n": 8, "signature": sig, "params": {}} for k in (8, 10, 11)]
    entry = engine._warm_start(history, n, sig)  # a retry at n=11 finds the start its first attempt had
    assert (entry["n"] if entry else None) == expected
    assert engine._warm_start(history, 11, "plain:d=3:noise=learned") is None
