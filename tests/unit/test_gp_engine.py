"""The engine on awkward data and spaces: duplicates, constant outcomes, mixed + conditional spaces."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from hpo_tasks.gp.engine import SpaceInfo, suggest_next
from hpo_tasks.gp.sampler import GPBatchSampler, space_info
from hpo_tasks.record import suggest_info
from hpo_tasks.space import SearchSpace
from tests.helpers import space_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

CNN_LIKE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
    "hidden": {"type": "int", "low": 32, "high": 512, "power_of_two": True},
    "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
}


def _space(space: dict) -> SearchSpace:
    return space_of(space, direction="maximize")


def _info(ss: SearchSpace) -> SpaceInfo:
    return space_info(ss)


CONT = {"a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "float", "low": 0, "high": 1}}


@pytest.mark.parametrize(
    "case",
    ["exact_duplicates", "near_duplicates", "constant_objective", "two_points"],
)
def test_awkward_observations_do_not_break_suggest(case: str) -> None:
    ss = _space(CONT)
    rng = np.random.default_rng(0)
    x = rng.random((8, 2))
    y = np.sin(6 * x[:, 0]) + x[:, 1]
    if case == "exact_duplicates":
        x, y = np.concatenate([x, x, x]), np.concatenate([y, y + 1e-9, y])
    elif case == "near_duplicates":
        x = np.concatenate([x, x + 1e-10])
        y = np.concatenate([y, y + rng.normal(0, 1e-3, len(y))])
    elif case == "constant_objective":
        y = np.full(len(y), 0.7)
    else:
        x, y = x[:2], y[:2]
    s = suggest_next(x, y, space=_info(ss), pending_x=None, taken=set(), seed=0)
    assert s.x.shape == (2,) and np.all((s.x >= 0) & (s.x <= 1))
    if case in ("exact_duplicates", "near_duplicates"):  # the GP copes with them: no fallback
        assert s.phase == "gp", s.warnings
    else:  # a constant objective or two points may fall back, saying why
        assert s.phase == "gp" or (s.phase == "fallback" and s.warnings), (s.phase, s.warnings)


def test_mixed_conditional_space_uses_the_gp_and_respects_conditions() -> None:
    ss = _space(CNN_LIKE)
    study = optuna.create_study(direction="maximize", sampler=GPBatchSampler(ss, n_init=6, seed=0))

    def score(p: dict) -> float:
        base = -((np.log10(p["lr"]) + 3) ** 2) + 0.1 * np.log2(p["hidden"])
        return base + (p["momentum"] if p["optimizer"] == "sgd" else 0.3)

    for _ in range(4):  # rounds: ask 3, then tell 3
        batch = [study.ask() for _ in range(3)]
        for t in batch:
            ss.suggest(t)
        for t in batch:
            study.tell(t, score(t.params))
    trials = study.get_trials()
    for t in trials:
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")
        assert t.params["hidden"] in (32, 64, 128, 256, 512)
    gp = [suggest_info(t) for t in trials if suggest_info(t)["phase"] != "sobol"]
    assert gp and all(i["phase"] == "gp" for i in gp), "the GP path, not a fallback"
    assert {"lr", "hidden", "optimizer", "momentum"} == set(gp[0]["lengthscales"])
    assert gp[0]["outputscale"] > 0 and gp[0]["noise"] > 0
    assert len({ss.key(t.params) for t in trials}) == len(trials)


def test_fit_failure_falls_back_with_a_warning() -> None:
    ss = _space(CONT)
    x = np.random.default_rng(0).random((6, 2))
    y = np.array([1.0, np.nan, 2.0, 3.0, 1.0, 0.0])  # NaN outcome: the fit cannot succeed
    s = suggest_next(x, y, space=_info(ss), pending_x=None, taken=set(), seed=0)
    assert s.phase == "fallback" and s.diagnostics["fallback_reason"]
    assert any("GP fit failed" in w for w in s.warnings)


@pytest.mark.parametrize("fast", [True, False])
def test_when_every_optimised_candidate_is_taken_the_gp_still_picks_the_free_configuration(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five configurations, four observed and the fifth free at the edge away from the best (every
    restart of the optimiser climbs to the best, taken): both single-objective paths end in
    ``engine.pick``, which scores a space-filling set when the optimiser's candidates all round onto
    taken configurations, so the step is the GP's (not a fallback) and never a taken configuration."""
    from hpo_tasks.gp import engine

    monkeypatch.setattr(engine, "FAST_PATH", fast)
    ss = _space({"k": {"type": "int", "low": 0, "high": 4}})
    info = _info(ss)
    observed = [{"k": k} for k in (1, 2, 3, 4)]
    x = np.array([ss.encode(p) for p in observed])
    y = np.array([0.1, 0.5, 0.9, 0.6])
    taken = {ss.key(p) for p in observed}
    s = suggest_next(x, y, space=info, pending_x=None, taken=taken, seed=0)
    assert s.phase == "gp", s.diagnostics.get("fallback_reason")
    assert ss.decode(s.x) == {"k": 0}
