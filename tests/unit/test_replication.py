"""Replication: the best configurations re-run with new seeds, reported by mean ± standard error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpo_tasks import replication
from hpo_tasks.config import SweepConfigError, parse_sweep
from tests.helpers import branin_sweep

REPLICATED = branin_sweep("rep", replicate={"top_k": 2, "repeats": 3})


def _trial(number: int, x: float, value: float | None, of: int | None = None) -> object:
    t = create_trial(
        params={"x": x},
        distributions={"x": FloatDistribution(0, 1)},
        value=value,
        state=TrialState.COMPLETE if value is not None else TrialState.FAIL,
        user_attrs={} if of is None else {"replicate_of": of, "replicate": 1},
    )
    t.number = number
    return t


def test_table_has_means_and_standard_errors_and_ranks_by_mean() -> None:
    trials = [
        _trial(0, 0.1, 1.0),  # lucky single best ...
        _trial(1, 0.2, 2.0),
        _trial(2, 0.3, 9.0),  # never replicated: not in the table
        _trial(3, 0.1, 5.0, of=0),
        _trial(4, 0.1, 6.0, of=0),  # ... whose mean is 4.0
        _trial(5, 0.2, 2.5, of=1),
        _trial(6, 0.2, None, of=1),  # a failed repeat does not count
    ]
    rows = replication.table(trials, maximize=False)  # type: ignore[arg-type]
    assert [r["trial_number"] for r in rows] == [1, 0]
    assert rows[0]["values"] == [2.0, 2.5] and rows[0]["mean"] == pytest.approx(2.25)
    assert rows[0]["stderr"] == pytest.approx(np.std([2.0, 2.5], ddof=1) / math.sqrt(2))
    assert rows[1]["n"] == 3 and rows[1]["mean"] == pytest.approx(4.0)
    assert rows[1]["stderr"] == pytest.approx(np.std([1.0, 5.0, 6.0], ddof=1) / math.sqrt(3))
    assert [r["trial_number"] for r in replication.table(trials, maximize=True)] == [0, 1]  # type: ignore[arg-type]


def test_replicate_block_is_validated() -> None:
    with pytest.raises(
        SweepConfigError, match=r"replicate\.repeats: Input should be greater than or equal to 1"
    ):
        parse_sweep({**REPLICATED, "replicate": {"repeats": 0}})
    with pytest.raises(SweepConfigError, match=r"replicate\.times: unknown field"):
        parse_sweep({**REPLICATED, "replicate": {"times": 2}})
    assert parse_sweep({k: v for k, v in REPLICATED.items() if k != "replicate"}).replicate is None


def test_plots_keep_replicates_out_of_the_search_views(tmp_path: Path) -> None:
    """A lucky replicate is no search progress: the Optuna plots see the search trials only, and the
    convergence plot's best-so-far line ignores the replicates (drawn apart, as grey crosses)."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from matplotlib import pyplot as plt

    from hpo_tasks import plots

    study = optuna.create_study(direction="minimize")
    rng = np.random.default_rng(0)
    for i in range(8):  # search trials 0-7, then two replicates of trial 3, one better than any search value
        study.add_trial(_trial(i, float(rng.random()), float(10 - i % 4)))  # type: ignore[arg-type]
    study.add_trial(_trial(8, 0.5, 0.5, of=3))  # type: ignore[arg-type]
    study.add_trial(_trial(9, 0.5, 7.5, of=3))  # type: ignore[arg-type]

    view = plots.search_view(study)
    assert [t.number for t in view.get_trials()] == list(range(8))
    plain = optuna.create_study()
    plain.add_trial(_trial(0, 0.1, 1.0))  # type: ignore[arg-type]
    assert plots.search_view(plain) is plain

    drawn: dict[str, object] = {}
    real_savefig = plt.Figure.savefig

    def keep(fig: plt.Figure, path: object, *a: object, **k: object) -> None:
        drawn[Path(str(path)).name] = fig.axes[0]
        real_savefig(fig, path, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", keep)
        out = plots.render_all(study, n_init=4, out_dir=tmp_path)
    assert out["convergence.png"] == "ok" and (tmp_path / "convergence.png").stat().st_size > 0
    ax = drawn["convergence.png"]
    (best_line,) = [ln for ln in ax.get_lines() if ln.get_label() == "best so far"]  # type: ignore[attr-defined]
    assert min(best_line.get_ydata()) == 7.0  # the search's best, not the replicate's 0.5
    labels = [c.get_label() for c in ax.collections]  # type: ignore[attr-defined]
    assert "replicates of the best (not searched)" in labels
