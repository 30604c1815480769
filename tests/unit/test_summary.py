"""hpo_tasks.summary: one summary of a run and one "best" rule, read by finalize (summary.json), hpo
best|report|status, the Sweep tab and promotion. Real SQLite Optuna storage and a local MLflow store."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo_tasks import promotion, record, summary, tracking, views
from hpo_tasks.cli import main
from hpo_tasks.config import parse_sweep
from hpo_tasks.steps import finalize, init_sweep
from tests.helpers import branin_sweep

CFG = branin_sweep(
    "sm",
    budget={"max_trials": 3, "n_init": 3, "batch_size": 1},
    sampler={"name": "random"},
    replicate={"top_k": 2, "repeats": 2},
)
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
    page = views.render_html(tab, dag_id="hpo__sm", run_id="manual__r")
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


# -- the Sweep tab's and the MLflow trial tab's fields (issue 12 items 3 and 10) ------------------------

PLAIN = {**{k: v for k, v in CFG.items() if k != "replicate"}, "budget": {"max_trials": 5, "n_init": 5}}


@pytest.fixture
def live(state_dir: Path) -> str:
    """A live DAG run, by Optuna ask/tell: trials 0-2 complete (5.0, 3.0, 4.0), 3 failed, 4 running; trial
    1's MLflow child run logged by the mapped task ``round_00.run_trial`` [0]."""
    cfg = parse_sweep(PLAIN)
    info = init_sweep(cfg, run_id="manual__l", context={"dag_id": "hpo__sm", "run_id": "manual__l"})
    study, _ = record.load(info["study_name"])
    for i, value in enumerate((5.0, 3.0, 4.0, None, None)):
        t = study.ask({"x1": DIST["x1"], "x2": DIST["x2"]})
        t.set_user_attr(record.WALLCLOCK_ATTR, 0.5 + i)
        if i == 3:
            t.set_user_attr(record.ERROR_ATTR, "ValueError: boom")
            study.tell(t, state=TrialState.FAIL)
        elif value is not None:
            study.tell(t, value)
    tags = {"airflow.run_id": "manual__l", "airflow.task_id": "round_00.run_trial", "airflow.map_index": "0"}
    tracking.find_or_create_child("sm", info["study_name"], info["parent_run_id"], 1, tags=tags)
    return info["study_name"]


def test_sweep_tab_lists_the_trials_and_the_best_so_far_curve(live: str) -> None:
    p = summary.run_progress("hpo__sm", "manual__l")
    assert p is not None and p["stop_reason"] is None and summary.stop_label(p) == "not stopped (running)"
    rows = p["trials"]
    assert [(r["trial_number"], r["state"], r["value"]) for r in rows] == [
        (0, "COMPLETE", 5.0), (1, "COMPLETE", 3.0), (2, "COMPLETE", 4.0),
        (3, "FAIL", None), (4, "RUNNING", None),
    ]  # fmt: skip
    assert set(rows[0]["params"]) == {"x1", "x2"} and rows[3]["error"] == "ValueError: boom"
    assert rows[1]["mlflow_url"].endswith("?workflowType=machine_learning") and rows[0]["mlflow_url"] is None
    assert p["best_so_far"] == [(0, 5.0), (1, 3.0), (2, 3.0)]
    assert "searchFilter=" in p["mlflow_trials_url"] and p["mlflow_url"].endswith("machine_learning")

    page = views.render_html(p, dag_id="hpo__sm", run_id="manual__l")
    assert page.count('<tr class="trial"') == 5 and "<svg" in page and "<polyline" in page
    assert "not stopped (running)" in page and "ValueError: boom" in page
    assert 'id="mlflow-trials-link"' in page and "<script" not in page
    assert "lost-workers" not in page


def test_sweep_tab_marks_a_finished_trial_whose_task_still_runs(live: str) -> None:
    p = summary.run_progress("hpo__sm", "manual__l")
    # trial 2 told COMPLETE but its worker died (task still running); 4 is running for real.
    states = {0: "success", 1: "success", 2: "running", 3: "failed", 4: "running"}
    page = views.render_html(p, dag_id="hpo__sm", run_id="manual__l", task_states=states)
    assert '<p id="lost-workers" class="lost">Trials [2]:' in page
    assert page.count("task still running") == 2  # the note above the table and trial 2's row


def test_mlflow_trial_tab_shows_the_trial_not_the_map_index(live: str) -> None:
    t = summary.trial_detail("hpo__sm", "manual__l", "round_00.run_trial", 0)
    assert t is not None and (t["trial_number"], t["state"], t["value"]) == (1, "COMPLETE", 3.0)
    assert t["wallclock_seconds"] == 1.5 and t["study_name"] == live
    page = views.render_trial_html(t, task_id="round_00.run_trial", map_index=0)
    assert '<span id="trial-number">1</span>' in page and "param x1" in page and "COMPLETE" in page
    assert t["mlflow_url"] in page
    assert summary.trial_detail("hpo__sm", "manual__l", "round_00.run_trial", 1) is None
    assert "not a trial" in views.render_trial_html(None, task_id="init_study", map_index=-1)


def _frozen(number: int, complete: float, wallclock: float) -> FrozenTrial:
    return FrozenTrial(
        number=number, trial_id=number, state=TrialState.COMPLETE, value=1.0, values=None,
        datetime_start=datetime.fromtimestamp(complete - wallclock - 0.1), params={}, distributions={},
        datetime_complete=datetime.fromtimestamp(complete), user_attrs={record.WALLCLOCK_ATTR: wallclock},
        system_attrs={}, intermediate_values={},
    )  # fmt: skip


def test_time_split_counts_parallel_trials_once_and_names_orchestration() -> None:
    t0 = 1_000_000.0
    # Trials busy over [t0+6, t0+10] and [t0+7, t0+12] (in parallel) and [t0+18, t0+20]: 8 s with a trial
    # running, 11 s summed; 3 s of suggest; the other 9 s of the 20 s wall are orchestration.
    trials = [_frozen(0, t0 + 10, 4.0), _frozen(1, t0 + 12, 5.0), _frozen(2, t0 + 20, 2.0)]
    attrs = {f"{record.SUGGEST_SECONDS_ATTR}:0": 2.0, f"{record.SUGGEST_SECONDS_ATTR}:1": 1.0}
    split = summary.time_split(trials, attrs, started=t0, ended=t0 + 20)
    assert split == {
        "wall_seconds": 20.0, "trial_seconds": 11.0, "trial_busy_seconds": 8.0, "suggest_seconds": 3.0,
        "orchestration_seconds": 9.0,
    }  # fmt: skip


def test_hpo_report_prints_the_whole_time_split_and_mlflow_links(
    live: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "sm", "--study", live]) == 0
    out = capsys.readouterr().out
    assert "in suggest +" in out and "orchestration" in out and "with a trial running" in out
    assert "#/experiments/" in out and "workflowType=machine_learning" in out and "searchFilter=" in out
