"""hpo_tasks.summary: one summary of a run and one "best" rule, read by finalize (summary.json), hpo
best|report|status, the Sweep tab and promotion. Real SQLite Optuna storage and a local MLflow store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from hpo_tasks import promotion, record, summary, tracking
from hpo_tasks.cli import main
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import finalize, init_sweep

CFG = {
    "name": "sm",
    "objective": {"name": "branin"},
    "direction": "minimize",
    "space": {
        "x1": {"type": "float", "low": -5.0, "high": 10.0},
        "x2": {"type": "float", "low": 0.0, "high": 15.0},
    },
    "budget": {"max_trials": 3, "n_init": 3, "batch_size": 1},
    "sampler": {"name": "random"},
    "replicate": {"top_k": 2, "repeats": 2},
}
DIST = {"x1": FloatDistribution(-5.0, 10.0), "x2": FloatDistribution(0.0, 15.0)}


def _add(study: Any, x1: float, value: float, of: int | None = None, repeat: int = 1) -> None:
    attrs = {} if of is None else {record.REPLICATE_OF_ATTR: of, record.REPEAT_ATTR: repeat}
    study.add_trial(
        create_trial(params={"x1": x1, "x2": 1.0}, distributions=DIST, value=value, user_attrs=attrs)
    )


@pytest.fixture
def replicated(state_dir: Path) -> str:
    """A finished search whose lucky best single trial (0: 1.0, repeats 5.0 and 6.0: mean 4.0) is not
    the best mean (trial 1: 2.0 and 2.5, mean 2.25)."""
    cfg = parse_sweep(CFG)
    info = init_sweep(cfg, run_id="manual__r", context={"dag_id": "hpo__sm", "run_id": "manual__r"})
    study, _ = record.load(info["study_name"])
    for x1, value in ((1.0, 1.0), (2.0, 2.0), (3.0, 9.0)):
        _add(study, x1, value)
    _add(study, 1.0, 5.0, of=0, repeat=1)
    _add(study, 1.0, 6.0, of=0, repeat=2)
    _add(study, 2.0, 2.5, of=1, repeat=1)
    return info["study_name"]


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_all_five_places_name_the_best_mean_of_a_replicated_sweep(
    replicated: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    promoted: list[dict] = []
    real = promotion.retrain_and_promote

    def spy(cfg: Any, **kw: Any) -> dict:
        promoted.append(kw["params"])
        return real(cfg, **kw)

    monkeypatch.setattr(promotion, "retrain_and_promote", spy)
    final = finalize(replicated)
    want = (1, {"x1": 2.0, "x2": 1.0})
    assert (final["best_trial_number"], final["best_params"]) == want
    assert final["best_value"] == pytest.approx(2.25) and final["best_single_trial_number"] == 0

    # 1. summary.json on the MLflow parent run
    path = tracking.client().download_artifacts(final["mlflow_parent_run_id"], "summary.json", str(tmp_path))
    logged = json.loads(Path(path).read_text())
    assert (logged["best_trial_number"], logged["best_params"]) == want
    # 2. hpo best, 3. hpo report and hpo status
    best = _cli_json(capsys, "best", "sm", "--json")
    assert (best["best_trial_number"], best["best_params"]) == want
    assert best["best_value"] == pytest.approx(2.25)
    report = _cli_json(capsys, "report", "sm", "--json")
    assert (report["best_trial_number"], report["best_params"]) == want
    (status,) = _cli_json(capsys, "status", "sm", "--json")
    assert (status["best_trial_number"], status["best_params"]) == want
    # 4. the plugin's Sweep tab (its JSON and its page)
    tab = summary.run_progress("hpo__sm", "manual__r")
    assert tab is not None and (tab["best_trial_number"], tab["best_params"]) == want
    page = summary.render_html(tab, dag_id="hpo__sm", run_id="manual__r")
    assert "mean over replicates (trial 1)" in page and "3 / 3" in page
    # 5. promotion retrained that configuration
    assert promoted == [want[1]]


def test_best_rule_without_replicates_is_the_best_feasible_single_trial(state_dir: Path) -> None:
    cfg = parse_sweep({k: v for k, v in CFG.items() if k != "replicate"})
    study = record.create_study(cfg, "sm:plain")
    for x1, value in ((1.0, 3.0), (2.0, 1.0), (3.0, 1.0)):  # a tie: the earlier trial wins
        _add(study, x1, value)
    top = summary.best(study.get_trials(), cfg)
    assert top is not None and (top.trial_number, top.value, top.by_mean) == (1, 1.0, False)
    assert summary.best([], cfg) is None


def test_best_rule_under_constraints_skips_infeasible_trials(state_dir: Path) -> None:
    plain = {k: v for k, v in CFG.items() if k != "replicate"}
    cfg = parse_sweep({**plain, "constraints": ["c <= 0"], "objective": {"name": "branin", "metric": "v"}})
    study = record.create_study(cfg, "sm:c")
    for x1, value, slack in ((1.0, 0.5, 1.0), (2.0, 2.0, -1.0)):
        study.add_trial(
            create_trial(
                params={"x1": x1, "x2": 1.0},
                distributions=DIST,
                value=value,
                system_attrs={record.CONSTRAINTS_KEY: [slack]},
            )
        )
    top = summary.best(study.get_trials(), cfg)
    assert top is not None and top.trial_number == 1
    s = summary.run_summary(study, cfg)
    assert (s["n_feasible"], s["best_trial_number"]) == (1, 1) and "note" not in s


def test_summary_counts_against_the_budget(replicated: str) -> None:
    s = summary.summarize(replicated)
    assert (s["trials_done"], s["budget"], s["n_complete"], s["n_replicate_trials"]) == (3, 3, 3, 3)
    assert s["mlflow_parent_run_id"] and s["stop_reason"] is None
    assert [r["trial_number"] for r in s["replication"]] == [1, 0]
