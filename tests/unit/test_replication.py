"""Replication: the best configurations re-run with new seeds, reported by mean ± standard error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpo_tasks import record, replication, seeds, tracking
from hpo_tasks.config import SweepConfigError, parse_sweep
from hpo_tasks.steps import replicate_batch, run_in_process

NOISY = {
    "name": "rep",
    "objective": {"name": "branin", "args": {"noise_std": 20.0}},
    "direction": "minimize",
    "space": {
        "x1": {"type": "float", "low": -5.0, "high": 10.0},
        "x2": {"type": "float", "low": 0.0, "high": 15.0},
    },
    "budget": {"max_trials": 6, "n_init": 6, "batch_size": 2},
    "sampler": {"name": "random"},
    "seed": 1,
    "replicate": {"top_k": 2, "repeats": 3},
}


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
        parse_sweep({**NOISY, "replicate": {"repeats": 0}})
    with pytest.raises(SweepConfigError, match=r"replicate\.times: unknown field"):
        parse_sweep({**NOISY, "replicate": {"times": 2}})
    assert parse_sweep({k: v for k, v in NOISY.items() if k != "replicate"}).replicate is None


@pytest.mark.slow  # whole sweeps with MLflow and Optuna stores: tens of seconds
def test_noisy_sweep_replicates_its_best_and_picks_by_mean(state_dir: Path) -> None:
    cfg = parse_sweep(NOISY)
    summary = run_in_process(cfg, label="r1")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    search = [t for t in trials if not replication.is_replicate(t)]
    reps = [t for t in trials if replication.is_replicate(t)]

    # The search used its whole budget; 2 configs x 3 repeats came on top, not out of it.
    assert len(search) == 6 and summary["n_trials"] == 6 and summary["n_replicate_trials"] == 6
    top2 = sorted(search, key=lambda t: t.value)[:2]
    assert sorted({t.user_attrs["replicate_of"] for t in reps}) == sorted(t.number for t in top2)
    for t in reps:
        original = trials[t.user_attrs["replicate_of"]]
        assert t.params == original.params and t.state == TrialState.COMPLETE
        assert record.seed_of(t) == seeds.replicate_seed(cfg.seed, original.number, t.user_attrs["replicate"])
    assert len({record.seed_of(t) for t in trials}) == len(trials)  # new seeds: new noise draws

    # Report: mean ± s.e. over original + repeats, best by mean; the best single trial stays on record.
    rows = summary["replication"]
    for row in rows:
        values = [trials[row["trial_number"]].value] + [
            t.value for t in reps if t.user_attrs["replicate_of"] == row["trial_number"]
        ]
        assert row["n"] == 4 and row["mean"] == pytest.approx(np.mean(values))
        assert row["stderr"] == pytest.approx(np.std(values, ddof=1) / 2)
    assert rows[0]["mean"] <= rows[1]["mean"]
    assert summary["best_trial_number"] == rows[0]["trial_number"]
    assert summary["best_value"] == pytest.approx(rows[0]["mean"])
    assert summary["best_single_trial_number"] == top2[0].number

    # MLflow: the parent logs the pick and the table; replicate children carry hpo.replicate_of.
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.data.metrics["best_mean"] == pytest.approx(rows[0]["mean"])
    assert parent.data.metrics["best_mean_stderr"] == pytest.approx(rows[0]["stderr"])
    artifacts = {a.path for a in tracking.client().list_artifacts(parent.info.run_id)}
    assert {"replication.json", "replication.txt"} <= artifacts
    children = tracking.children(parent.info.run_id, "rep")
    tagged = {int(c.data.tags["hpo.trial_number"]): c.data.tags.get("hpo.replicate_of") for c in children}
    assert tagged == {t.number: (str(t.user_attrs["replicate_of"]) if t in reps else None) for t in trials}

    # Idempotent: a retried replicate step creates nothing new.
    again = replicate_batch(summary["study_name"])
    assert sorted(s["trial_number"] for s in again) == sorted(t.number for t in reps)
    assert len(record.load(summary["study_name"])[0].get_trials()) == 12


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


def test_a_pruned_sweep_never_prunes_its_replicates(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pruner, search trials are judged at every rung; a replicate's whole value is the data the
    report needs, so its steps are recorded but the pruner is never asked."""
    from hpo_tasks import pruning

    judged: dict[int, bool] = {}
    real = pruning.Reporter

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, study, trial_id, **kw):  # type: ignore[no-untyped-def]
            super().__init__(study, trial_id, **kw)
            judged[study._storage.get_trial(trial_id).number] = self._judge

    monkeypatch.setattr(pruning, "Reporter", Spy)
    cfg = parse_sweep(
        {
            **NOISY,
            "name": "rep_pruned",
            "objective": {"name": "branin_curve", "args": {"epochs": 4, "noise_std": 30.0}},
            "pruner": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 2},
            "replicate": {"top_k": 1, "repeats": 2},
        }
    )
    summary = run_in_process(cfg, label="t")
    study, _ = record.load(summary["study_name"])
    reps = [t for t in study.get_trials() if replication.is_replicate(t)]
    assert len(reps) == 2 and all(t.state == TrialState.COMPLETE for t in reps)
    assert all(len(t.intermediate_values) == 4 for t in reps)  # the curve is still recorded
    assert judged == {t.number: not replication.is_replicate(t) for t in study.trials}
    assert any(t.state == TrialState.PRUNED for t in study.get_trials()), "the pruner acted on search trials"
