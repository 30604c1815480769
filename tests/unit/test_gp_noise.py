"""``sampler.noise``: learned / known / none, validated in the file and fixed in the GP."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.gp.engine import NOISE_FREE, _fit_robust, _noise_variance, suggest_next
from hpo_tasks.gp.sampler import space_info
from hpo_tasks.samplers import make_sampler
from hpo_tasks.space import SearchSpace
from tests.helpers import branin_sweep

SWEEP = branin_sweep("n", objective={"name": "branin", "args": {"noise_std": 0.3}}, budget={"max_trials": 20})


@pytest.mark.parametrize(
    ("sampler", "message"),
    [
        ({"noise": "known"}, "sampler: noise: known needs noise_std"),
        ({"noise": "learned", "noise_std": 0.3}, "sampler: noise_std only applies to noise: known"),
        ({"noise": "known", "noise_std": -1}, "sampler.noise_std: Input should be greater than 0"),
        ({"noise": "sometimes"}, "sampler.noise: Input should be 'learned', 'known' or 'none'"),
        ({"name": "tpe", "noise": "none"}, "noise only apply to sampler 'gp'"),
    ],
)
def test_bad_noise_settings_name_the_field_and_the_fix(sampler: dict, message: str) -> None:
    with pytest.raises(SweepConfigError, match=message):
        parse_sweep({**SWEEP, "sampler": sampler})


def test_default_is_learned_and_the_sampler_gets_the_setting() -> None:
    assert parse_sweep(SWEEP).sampler.noise == "learned"
    cfg = parse_sweep({**SWEEP, "sampler": {"noise": "known", "noise_std": 0.3}})
    sampler = make_sampler(cfg, n_asked=0)
    assert (sampler._noise, sampler._noise_std) == ("known", 0.3)  # type: ignore[attr-defined]


def _data(noise_std: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((12, 2))
    y = np.sin(6 * x[:, 0]) + 3 * x[:, 1] + rng.normal(0, noise_std, 12)
    return x, y


def _model_noise_variance(noise: str, noise_std: float | None, y: np.ndarray, x: np.ndarray) -> float:
    """The fitted GP's observation noise variance, in objective units."""
    import torch

    info = space_info(SearchSpace.from_config(parse_sweep(SWEEP)))
    model, _, err = _fit_robust(
        x, y, info, torch.device("cpu"), [], noise_var=_noise_variance(noise, noise_std, y)
    )
    assert model is not None, err
    stdv = float(model.outcome_transform.stdvs.reshape(-1)[0])
    return float(model.likelihood.noise.reshape(-1)[0]) * stdv**2


def test_known_noise_is_the_models_noise_none_is_tiny_learned_is_fitted() -> None:
    x, y = _data(0.3)
    assert _model_noise_variance("known", 0.3, y, x) == pytest.approx(0.09, rel=1e-6)
    tiny = NOISE_FREE * np.var(y, ddof=1)
    assert _model_noise_variance("none", None, y, x) == pytest.approx(tiny, rel=1e-6)
    learned = _model_noise_variance("learned", None, y, x)
    assert learned != pytest.approx(0.09, rel=1e-3) and learned > 1e-4


def test_suggest_reports_the_fixed_noise_in_its_diagnostics() -> None:
    x, y = _data(0.3)
    info = space_info(SearchSpace.from_config(parse_sweep(SWEEP)))
    s = suggest_next(x, y, space=info, pending_x=None, taken=set(), seed=0, noise="known", noise_std=0.3)
    assert s.phase == "gp"
    assert s.diagnostics["noise"] * np.var(y, ddof=1) == pytest.approx(0.09, rel=1e-6)  # standardised
