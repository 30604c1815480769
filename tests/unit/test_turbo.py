"""Trust-region BO (``hpo_tasks.gp.turbo``): the state machine, its replay from a trial history, the region,
and the sampler driving it (``sampler.trust_region``)."""

from __future__ import annotations

import math
import random

import numpy as np
import optuna
import pytest

from hpo_tasks.config import SweepConfigError, load_sweep, parse_sweep
from hpo_tasks.gp import turbo
from hpo_tasks.gp.sampler import GPBatchSampler, space_info
from hpo_tasks.objectives.synthetic import ackley30
from hpo_tasks.record import suggest_info
from hpo_tasks.samplers import make_sampler
from tests.conftest import REPO
from tests.helpers import branin_sweep, rounds, space_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

SETTINGS = turbo.TrustRegionSettings(dim=4, batch_size=1, n_init=2, success_tolerance=2, failure_tolerance=2)


def _run(
    batches: list[list[float]], settings: turbo.TrustRegionSettings = SETTINGS
) -> turbo.TrustRegionState:
    """Step through batches of values (trial numbers and batch keys as a sequential loop would give)."""
    state, number = turbo.TrustRegionState(), 0
    for key, values in enumerate(batches):
        state = turbo.step(state, [(number + i, v) for i, v in enumerate(values)], key=key, settings=settings)
        number += len(values)
    return state


# -- the state machine --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "batch_size", "tolerance"),
    [(30, 4, 8), (30, 1, 30), (2, 4, 1), (2, 1, 4), (50, 8, 7)],  # ceil(max(4, d) / q)
)
def test_failure_tolerance_follows_the_tutorial(dim: int, batch_size: int, tolerance: int) -> None:
    assert turbo.TrustRegionSettings(dim=dim, batch_size=batch_size, n_init=5).failure_tolerance == tolerance


@pytest.mark.parametrize(
    ("batches", "length", "successes", "failures"),
    [
        ([[1.0, 2.0]], 0.8, 0, 0),  # seed design: sets the best, no verdict
        ([[1.0, 2.0], [3.0]], 0.8, 1, 0),
        ([[1.0, 2.0], [3.0], [4.0]], 1.6, 0, 0),  # 2 successes: doubled
        ([[1.0, 2.0], [3.0], [4.0], [5.0], [6.0]], 1.6, 0, 0),  # capped at LENGTH_MAX
        ([[1.0, 2.0], [0.0]], 0.8, 0, 1),
        ([[1.0, 2.0], [0.0], [1.5]], 0.4, 0, 0),  # 2 failures: halved
        ([[1.0, 2.0], [3.0], [0.0]], 0.8, 0, 1),  # a failure resets the success streak
        ([[1.0, 2.0], [0.0], [3.0]], 0.8, 1, 0),  # and a success the failure streak
        ([[10.0, 2.0], [10.005]], 0.8, 0, 1),  # below the 1e-3 relative margin: a failure
        ([[10.0, 2.0], [10.02]], 0.8, 1, 0),
        ([[-10.0, -20.0], [-9.995]], 0.8, 0, 1),  # the margin is relative to |best|
    ],
)
def test_expand_and_shrink(batches: list[list[float]], length: float, successes: int, failures: int) -> None:
    state = _run(batches)
    assert (state.length, state.successes, state.failures) == (length, successes, failures)
    assert state.best == max(v for b in batches for v in b)


def test_restart_when_the_region_shrinks_below_its_minimum() -> None:
    settings = turbo.TrustRegionSettings(dim=2, batch_size=4, n_init=2)  # failure tolerance 1
    lengths = []
    state = _run([[5.0, 4.0]], settings)
    for k in range(1, 8):
        state = turbo.step(state, [(10 * k, 0.0)], key=k, settings=settings)
        lengths.append(state.length)
    assert lengths[:6] == [0.4, 0.2, 0.1, 0.05, 0.025, 0.0125]
    # 0.00625 < 0.5^7: fresh region, best forgotten, the restart's trials are those asked after batch 7.
    assert state == turbo.TrustRegionState(restarts=1, epoch_after=7)
    state = turbo.step(state, [(80, -3.0), (81, -2.0)], key=8, settings=settings)  # new seed design
    assert (state.best, state.best_number, state.length, state.restarts) == (-2.0, 81, 0.8, 1)


def test_length_init_sets_the_first_region_and_each_restart() -> None:
    settings = turbo.TrustRegionSettings(dim=2, batch_size=4, n_init=2, length_init=1.6)
    records = [turbo.TrialRecord(0, 0, 5.0), turbo.TrialRecord(1, 0, 4.0)]
    assert turbo.replay(records, settings=settings).length == 1.6
    for k in range(1, 10):  # failure tolerance 1: halved every batch, restarted below 0.5^7
        records.append(turbo.TrialRecord(1 + k, 2 + k - 1, 0.0))
    state = turbo.replay(records, settings=settings)
    assert state.restarts == 1 and state.length == 1.6
    with pytest.raises(ValueError, match="length_init"):
        turbo.TrustRegionSettings(dim=2, batch_size=1, n_init=2, length_init=2.0)


def test_replay_groups_trials_into_batches_and_ignores_order_and_failures() -> None:
    # Seed round (asked with 0 complete), then rounds of 2 asked with 3, 5 and 7 complete.
    rows = [(0, 0, 1.0), (1, 0, 0.5), (2, 0, 2.0), (3, 3, 3.0), (4, 3, 0.0), (5, 5, 1.0), (6, 5, None)]
    rows += [(7, 5, 2.5), (8, 7, 9.0)]
    records = [turbo.TrialRecord(n, b, v) for n, b, v in rows]
    settings = turbo.TrustRegionSettings(dim=4, batch_size=2, n_init=3, success_tolerance=2)
    state = turbo.replay(records, settings=settings)
    # batches: seed [1, .5, 2] -> best 2; [3, 0] success; [1, fail, 2.5] failure; [9] success
    assert (state.successes, state.failures, state.best, state.best_number) == (1, 0, 9.0, 8)
    random.Random(0).shuffle(records)
    assert turbo.replay(records, settings=settings) == state
    # Without batch keys each trial is its own batch, asked after every earlier one finished.
    sequential = [turbo.TrialRecord(r.number, None, r.value) for r in records]
    expected = _run([[1.0, 0.5, 2.0], [3.0], [0.0], [1.0], [2.5], [9.0]], settings)
    got = turbo.replay(sequential, settings=settings)
    fields = ("length", "successes", "failures", "best", "n_epoch")
    assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert (got.successes, got.failures) == (1, 0) and (expected.length, got.length) == (0.4, 0.4)


def test_epoch_after_a_restart_holds_only_trials_asked_after_it() -> None:
    settings = turbo.TrustRegionSettings(dim=2, batch_size=1, n_init=1, failure_tolerance=1)
    records = [turbo.TrialRecord(0, 0, 1.0)] + [turbo.TrialRecord(k, k, 0.0) for k in range(1, 8)]
    records.append(turbo.TrialRecord(8, 8, None))  # running: the new restart's first seed trial
    state = turbo.replay(records, settings=settings)
    assert (state.restarts, state.epoch_after, state.n_epoch) == (1, 7, 0)
    assert turbo.epoch_numbers(records, state) == {8}


# -- the region -------------------------------------------------------------------------------------


MIXED = {
    "a": {"type": "float", "low": 0.0, "high": 1.0},
    "b": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "k": {"type": "int", "low": 0, "high": 20},
    "c": {"type": "categorical", "choices": ["x", "y", "z"]},
}


def test_region_is_a_box_around_the_centre_scaled_by_lengthscales() -> None:
    ss = space_of(MIXED)
    info = space_info(ss)
    center = ss.encode({"a": 0.5, "b": 0.01, "k": 10, "c": "y"})
    lengthscales = {"a": 0.4, "b": 0.1, "k": 0.2, "c": 3.0}
    r = turbo.restrict(info, turbo.Region(center, 0.4), lengthscales)
    lo, hi = r.bounds
    side = hi - lo
    # Ordinal columns: weights ls / geometric mean; the box keeps volume L^3 when nothing is clipped.
    w = np.array([0.4, 0.1, 0.2]) / np.exp(np.mean(np.log([0.4, 0.1, 0.2])))
    np.testing.assert_allclose(side[:2], 0.4 * w[:2])
    np.testing.assert_allclose((lo + hi)[:2] / 2, center[:2])
    assert (lo[3], hi[3]) == (0.0, 2.0), "categorical columns stay unrestricted"
    assert r.cat_dims == info.cat_dims
    # The integer column keeps the grid values inside the box: k = 10 +- 0.2 * 20.
    assert [round(v * 20) for v in r.discrete_dims[2]] == list(range(6, 15))
    assert (lo[2], hi[2]) == (r.discrete_dims[2][0], r.discrete_dims[2][-1])


def test_region_is_clipped_to_the_space_and_keeps_a_grid_neighbour() -> None:
    ss = space_of(MIXED)
    info = space_info(ss)
    center = ss.encode({"a": 0.0, "b": 1.0, "k": 0, "c": "x"})
    r = turbo.restrict(info, turbo.Region(center, turbo.LENGTH_MIN), {"a": 1.0, "b": 1.0, "k": 1.0})
    lo, hi = r.bounds
    assert lo[0] == 0.0 and hi[1] == 1.0 and np.all(lo <= hi)
    assert [round(v * 20) for v in r.discrete_dims[2]] == [0, 1], "never pinned to one value"


def test_perturbation_set_stays_in_the_region_near_the_centre() -> None:
    ss = space_of({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(40)})
    info = space_info(ss)
    center = np.full(40, 0.5)
    region = turbo.Region(center, 0.2)
    r = turbo.restrict(info, region, {})
    cand = turbo.perturbation_set(r, region, n=500, seed=3)
    assert cand.shape == (500, 40)
    assert np.all(cand >= r.bounds[0]) and np.all(cand <= r.bounds[1])
    changed = (cand != center).sum(axis=1)
    assert changed.min() >= 1 and 15 <= changed.mean() <= 25  # each column with probability 20 / d
    np.testing.assert_array_equal(cand, turbo.perturbation_set(r, region, n=500, seed=3))


# -- configuration ------------------------------------------------------------------------------------

GOOD = branin_sweep("demo")


@pytest.mark.parametrize(
    ("setting", "width", "on"),
    [("auto", 2, False), ("auto", 20, False), ("auto", 21, True), (True, 2, True), (False, 30, False)],
)
def test_trust_region_setting(setting: str | bool, width: int, on: bool) -> None:
    space = {f"x{i}": {"type": "float", "low": 0, "high": 1} for i in range(width)}
    cfg = parse_sweep({**GOOD, "space": space, "sampler": {"trust_region": setting}})
    assert cfg.sampler.trust_region == setting
    sampler = make_sampler(cfg, n_asked=0)
    assert isinstance(sampler, GPBatchSampler) and sampler._trust_region is on


@pytest.mark.parametrize(
    ("sampler", "error"),
    [
        (
            {"name": "tpe", "trust_region": True},
            "trust_region only apply to sampler 'gp' (got sampler 'tpe')",
        ),
        (
            {"trust_region": "sometimes"},
            "sampler.trust_region: use auto (on for more than 20 parameters), true or false (got 'some",
        ),
        ({"trust_region": 1}, "sampler.trust_region: use auto"),
    ],
)
def test_bad_trust_region_names_field_and_fix(sampler: dict, error: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        parse_sweep({**GOOD, "sampler": sampler}, source="x.yaml")
    assert error in str(info.value)


def test_ackley30_sweep_uses_the_trust_region() -> None:
    cfg = load_sweep(REPO / "config" / "sweeps" / "ackley30.yaml")
    assert len(cfg.space) == 30 and cfg.direction == "minimize"
    assert make_sampler(cfg, n_asked=0)._trust_region is True
    assert ackley30({f"x{i + 1}": 0.0 for i in range(30)}, seed=0) == pytest.approx(0.0, abs=1e-12)


# -- the sampler ----------------------------------------------------------------------------------------


def _study(space: dict, *, n_init: int, batch_size: int, seed: int = 0, acquisition: str = "logei"):
    ss = space_of(space)
    sampler = GPBatchSampler(
        ss, n_init=n_init, seed=seed, acquisition=acquisition, trust_region=True, batch_size=batch_size
    )
    return optuna.create_study(direction="minimize", sampler=sampler), ss


def _bowl(p: dict) -> float:
    return (
        (p["a"] - 0.3) ** 2 + (math.log10(p["b"]) + 2) ** 2 / 16 + (p["k"] - 7) ** 2 / 400 + (p["c"] != "z")
    )


def test_mixed_space_suggestions_lie_in_the_region_and_log_its_state() -> None:
    study, ss = _study(MIXED, n_init=5, batch_size=2)
    rounds(study, ss, 5, _bowl)
    batch = rounds(study, ss, 2, _bowl)
    info = space_info(ss)
    done = [t for t in study.trials if t.number < batch[0].number]
    best = min(done, key=lambda t: t.value)
    for t in batch:
        si = suggest_info(t)
        assert si["phase"] == "gp" and si["trust_region"] is True
        assert {"tr_length", "tr_successes", "tr_failures", "tr_restarts"} <= set(si)
        r = turbo.restrict(info, turbo.Region(ss.encode(best.params), si["tr_length"]), si["lengthscales"])
        x = ss.encode(t.params)
        assert np.all(x >= r.bounds[0] - 1e-9) and np.all(x <= r.bounds[1] + 1e-9), (t.params, r.bounds)
        assert isinstance(t.params["k"], int) and t.params["c"] in ("x", "y", "z")
    assert len({ss.key(t.params) for t in study.trials}) == len(study.trials)
    assert suggest_info(batch[1]).get("fit_reused") is True, "one GP fit per batch"


def test_constant_objective_shrinks_the_region_then_restarts_with_a_new_design() -> None:
    space = {
        "x1": {"type": "float", "low": 0.0, "high": 1.0},
        "x2": {"type": "float", "low": 0.0, "high": 1.0},
    }
    study, ss = _study(space, n_init=3, batch_size=4, acquisition="thompson")  # failure tolerance 1
    first = rounds(study, ss, 3, lambda p: 1.0)
    lengths = []
    for _ in range(7):
        lengths.append(suggest_info(rounds(study, ss, 4, lambda p: 1.0)[0])["tr_length"])
    assert lengths == [0.8, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125]
    again = rounds(study, ss, 4, lambda p: 1.0)
    infos = [suggest_info(t) for t in again]
    assert all(i["phase"] == "sobol" and i["tr_restarts"] == 1 and i["tr_length"] == 0.8 for i in infos)
    assert {ss.key(t.params) for t in again}.isdisjoint({ss.key(t.params) for t in first})


def test_same_history_same_region_and_suggestion_in_a_fresh_sampler() -> None:
    """A retried or later suggest task builds a new sampler in a new process: it must see the region the
    history implies, not state kept in memory."""
    space = {k: MIXED[k] for k in ("a", "b")} | {"e": MIXED["a"]}

    def bowl(p: dict) -> float:
        return (p["a"] - 0.3) ** 2 + (math.log10(p["b"]) + 2) ** 2 / 16 + (p["e"] - 0.6) ** 2

    study, ss = _study(space, n_init=4, batch_size=3, seed=4)
    rounds(study, ss, 4, bowl)
    for _ in range(2):
        rounds(study, ss, 3, bowl)
    nxt = rounds(study, ss, 1, bowl)[0]

    copy, _ = _study(space, n_init=4, batch_size=3, seed=4)  # fresh sampler, same history
    for t in study.trials[: nxt.number]:
        copy.add_trial(t)
    again = rounds(copy, ss, 1, bowl)[0]
    assert again.number == nxt.number and again.params == nxt.params
    keys = ("tr_length", "tr_successes", "tr_failures", "tr_restarts", "n_observed")
    assert {k: suggest_info(again)[k] for k in keys} == {k: suggest_info(nxt)[k] for k in keys}
