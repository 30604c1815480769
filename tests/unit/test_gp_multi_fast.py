"""``hpo_tasks.gp.multi``'s fast path: its LogNEHVI is BoTorch's qLogNEHVI (same hyperparameters, many
samples), and the step keeps what the BoTorch path gives: reproducible points, pending points and
constraints honoured, failed trials discounted, the BoTorch path behind the switch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hpo_tasks.bench.experiments.mo_speed import ask_state, bc_space
from hpo_tasks.gp import engine, feasibility, multi
from hpo_tasks.gp import model as gp_model
from hpo_tasks.gp.optim import sweep_points
from hpo_tasks.gp.types import space_info

# MC samples of both estimates, per case: enough for log values within a few tenths of each other (three
# objectives take one box decomposition per sample, 40 s at 2048; 256 suffice there)
SAMPLES = {"branin_currin": 2048, "cnn_constrained_mixed": 2048, "three_objectives": 256}


def _three_objectives(n: int = 12) -> dict:
    """Three objectives on the unit square (a state as ``ask_state`` builds it)."""
    space = bc_space()
    rng = np.random.default_rng(3)
    x = rng.random((n + 2, 2))
    y = np.stack([-((x[:, 0] - 0.2) ** 2), -((x[:, 1] - 0.8) ** 2), -np.abs(x.sum(1) - 1.0)], axis=1)
    return {"train_x": x[:n], "train_y": y[:n], "train_c": None, "space": space_info(space),
            "pending_x": x[n:], "taken": set(), "seed": 0, "ref_point": y[:n].min(0) - 0.1}  # fmt: skip


STATES = {
    "branin_currin": lambda: ask_state("branin_currin", 12, 0),
    "cnn_constrained_mixed": lambda: ask_state("cnn", 15, 0),
    "three_objectives": _three_objectives,
}


def _outputs(state: dict) -> np.ndarray:
    parts = [state["train_y"]] + ([state["train_c"]] if state["train_c"] is not None else [])
    return np.concatenate(parts, axis=1)  # (n, m + k)


@pytest.mark.parametrize("name", sorted(STATES))
def test_lognehvi_matches_botorchs_qlognehvi_on_the_same_models(name: str, monkeypatch) -> None:
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
    from botorch.models import ModelListGP
    from botorch.sampling import SobolQMCNormalSampler

    state = STATES[name]()
    space, out, m = state["space"], _outputs(state), state["train_y"].shape[1]
    gps = [
        gp_model.fit(state["train_x"], out[:, j], cat_dims=sorted(space.cat_dims))[0]
        for j in range(out.shape[1])
    ]
    models = []
    for j, gp in enumerate(gps):  # the same hyperparameters in BoTorch's own model
        X, Y = torch.as_tensor(state["train_x"]), torch.as_tensor(out[:, j]).unsqueeze(-1)
        model = engine._make_model(X, Y, space, None, None)
        engine._load_params(model, gp.botorch_params())
        models.append(model.eval())
    monkeypatch.setattr(multi, "MC_SAMPLES", SAMPLES[name])
    base = np.concatenate([state["train_x"], state["pending_x"]])
    ours = multi.LogNEHVI(gps, m=m, ref_point=state["ref_point"], baseline=base, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = qLogNoisyExpectedHypervolumeImprovement(
            model=ModelListGP(*models),
            ref_point=torch.as_tensor(state["ref_point"]),
            X_baseline=torch.as_tensor(state["train_x"]),
            objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
            constraints=[multi._column(j) for j in range(m, out.shape[1])] or None,
            X_pending=torch.as_tensor(state["pending_x"]),
            sampler=SobolQMCNormalSampler(torch.Size([SAMPLES[name]]), seed=1),
        )
    x = torch.as_tensor(sweep_points(space, 48, seed=5))  # (48, d)
    with torch.no_grad():
        a = torch.cat([ours(x[i : i + 8]) for i in range(0, 48, 8)]).numpy()
        b = torch.cat([ref(x[i : i + 8].unsqueeze(1)) for i in range(0, 48, 8)]).numpy()
    # Where the improvement is not a far tail event (log value > -20), the two agree; the best agrees.
    body = b > -20
    assert body.sum() >= 5
    assert np.median(np.abs(a - b)[body]) < 0.5, (a[body], b[body])
    assert int(np.argmax(a)) == int(np.argmax(b))


@pytest.mark.parametrize("optimizer", ["botorch", "sweep"])
def test_fast_step_is_reproducible_and_avoids_pending_and_taken_points(optimizer: str, monkeypatch) -> None:
    monkeypatch.setattr(multi, "FAST_OPTIMIZER", optimizer)
    state = ask_state("cnn", 12, 1)
    first = multi.suggest_next_multi(**state)
    again = multi.suggest_next_multi(**state)
    assert first.phase == "gp" and first.diagnostics["engine"] == "torch", first.warnings
    assert np.array_equal(first.x, again.x) and first.acq_value == again.acq_value
    space = state["space"]
    assert space.key(first.x) not in state["taken"]  # neither observed nor pending
    other = multi.suggest_next_multi(**{**state, "seed": 2})
    assert other.phase == "gp" and space.key(other.x) not in state["taken"]


def test_pending_points_change_the_choice() -> None:
    state = ask_state("branin_currin", 12, 0)
    alone = multi.suggest_next_multi(**{**state, "pending_x": None})
    state_p = {
        **state,
        "pending_x": alone.x[None, :],
        "taken": state["taken"] | {state["space"].key(alone.x)},
    }
    second = multi.suggest_next_multi(**state_p)
    assert second.phase == alone.phase == "gp"
    assert np.abs(second.x - alone.x).max() > 1e-3  # the batch spreads out: not the same point again


def test_the_switch_keeps_botorchs_path(monkeypatch) -> None:
    state = ask_state("branin_currin", 10, 0)
    monkeypatch.setattr(multi, "FAST_PATH", False)
    slow = multi.suggest_next_multi(**state)
    assert slow.phase == "gp" and slow.diagnostics.get("engine") != "torch"
    monkeypatch.setattr(multi, "FAST_PATH", True)
    fast = multi.suggest_next_multi(**state)
    assert fast.phase == "gp" and fast.diagnostics["engine"] == "torch"


def test_failed_trials_steer_the_fast_step_away_from_where_they_failed() -> None:
    state = ask_state("branin_currin", 12, 0)
    plain = multi.suggest_next_multi(**state)
    rng = np.random.default_rng(0)  # trials failed all around the point the step chose without them
    failed_x = np.clip(plain.x + rng.uniform(-0.08, 0.08, (8, 2)), 0.0, 1.0)
    weighted = multi.suggest_next_multi(**state, failed_x=failed_x)
    assert weighted.phase == "gp" and weighted.diagnostics["engine"] == "torch", weighted.warnings
    fx = np.concatenate([state["train_x"], failed_x])
    fs = np.concatenate([np.ones(len(state["train_x"])), np.zeros(len(failed_x))])
    model, _, _ = engine._fit_robust(fx, fs, state["space"], torch.device("cpu"), [])
    p = feasibility.success_probability(model, np.stack([plain.x, weighted.x]))
    assert p[1] > 0.5 > p[0], (plain.x, weighted.x, p)
