"""Multi-objective sweeps and outcome constraints end to end: real BoTorch, Optuna on SQLite, a real
MLflow store; in-process (``run_in_process``) and through one ``airflow dags test`` run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

from hpo_tasks import outcomes, record, tracking
from hpo_tasks.cli import main as hpo_main
from hpo_tasks.config import load_sweep
from hpo_tasks.record import latest_study_name
from hpo_tasks.steps import run_in_process
from hpo_tasks.summary import NO_FEASIBLE, summarize
from tests.conftest import write_sweep
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

BRANIN_CURRIN = """
name: {name}
objective: {{name: branin_currin}}
objectives:
  - {{metric: branin, direction: minimize}}
  - {{metric: currin, direction: minimize}}
{extra}
space:
  x1: {{type: float, low: 0.0, high: 1.0}}
  x2: {{type: float, low: 0.0, high: 1.0}}
budget: {{max_trials: {max_trials}, n_init: {n_init}, batch_size: {batch_size}}}
sampler: {{name: {sampler}}}
seed: {seed}
resources: {{retries: 0}}
"""


def _text(name: str, *, extra: str = "", max_trials: int = 11, n_init: int = 5, batch_size: int = 3,
          sampler: str = "gp", seed: int = 0) -> str:  # fmt: skip
    return BRANIN_CURRIN.format(
        name=name, extra=extra, max_trials=max_trials, n_init=n_init, batch_size=batch_size,
        sampler=sampler, seed=seed,
    )  # fmt: skip


def _sweep(folder: Path, name: str, **kw: object) -> Path:
    return write_sweep(folder, name, _text(name, **kw))  # type: ignore[arg-type]


def _history(run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(tracking.client().get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_pareto_sweep_in_process(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_sweep(_sweep(state_dir / "sweeps", "mo_bc", max_trials=9, n_init=5, batch_size=2))
    summary = run_in_process(cfg, label="t")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    assert len(trials) == 9 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(record.suggest_info(t)["acquisition"] == "qlognehvi" for t in trials[5:])

    # The reported front is the non-dominated set: no trial dominates a member, each other is dominated.
    front = {f["trial_number"] for f in summary["pareto_front"]}
    assert summary["pareto_size"] == len(front) > 0 and summary["best_params"] is None
    loss = np.array([t.values for t in trials])
    for i, t in enumerate(trials):
        dominated = bool(np.any(np.all(loss <= loss[i], axis=1) & np.any(loss < loss[i], axis=1)))
        assert dominated == (t.number not in front)

    # Reference point: inferred from the seed round (worst + 10 % of the range), pinned, logged.
    seed_loss = loss[:5]
    expected = seed_loss.max(0) + 0.1 * (seed_loss.max(0) - seed_loss.min(0))
    assert summary["reference_point_source"] == "inferred"
    assert list(summary["reference_point"].values()) == pytest.approx(expected.tolist())
    parent_id = summary["mlflow_parent_run_id"]
    parent = tracking.run_info(parent_id)
    assert float(parent.data.params["reference_point.branin"]) == pytest.approx(expected[0])
    assert parent.data.tags["hpo.reference_point"] == "inferred"

    # Hypervolume per round on the parent run: one value per round, never decreasing.
    per_round = _history(parent_id, "round_hypervolume")
    assert len(per_round) == 3 and per_round == sorted(per_round) and per_round[-1] > 0
    assert summary["hypervolume"] == pytest.approx(per_round[-1])

    # finalize: front table and plots, Pareto tags on every child run, promotion skipped with the reason.
    assert parent.data.tags["hpo.promotion"] == "skipped"
    artifacts = {a.path for a in tracking.client().list_artifacts(parent_id)}
    plots = {a.path for a in tracking.client().list_artifacts(parent_id, "plots")}
    assert "pareto_front.csv" in artifacts and {"plots/pareto_front.png", "plots/hypervolume.png"} <= plots
    children = tracking.children(parent_id, "mo_bc")
    tagged = {int(c.data.tags["hpo.trial_number"]): c.data.tags["hpo.pareto"] for c in children}
    assert tagged == {t.number: str(t.number in front).lower() for t in trials}
    assert all({"branin", "currin"} <= set(c.data.metrics) for c in children)

    # hpo best prints the Pareto set (not a single best), hpo report the front and its hypervolume.
    capsys.readouterr()
    assert hpo_main(["best", "mo_bc", "--json"]) == 0
    assert "pareto" in capsys.readouterr().out
    assert hpo_main(["report", "mo_bc"]) == 0
    assert f"Pareto set: {len(front)} trial(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_constrained_sweep_reports_only_feasible_trials(state_dir: Path) -> None:
    text = """
name: bowl
objective: {name: constrained_bowl, metric: loss}
direction: minimize
constraints: ["margin >= 0"]
space:
  x1: {type: float, low: 0.0, high: 1.0}
  x2: {type: float, low: 0.0, high: 1.0}
budget: {max_trials: 8, n_init: 5, batch_size: 2}
seed: 0
"""
    summary = run_in_process(load_sweep(write_sweep(state_dir / "sweeps", "bowl", text)), label="t")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    feasible = [t for t in trials if t.user_attrs["feasible"]]
    infeasible = [t for t in trials if not t.user_attrs["feasible"]]
    assert all((t.user_attrs["metrics"]["margin"] >= 0) == t.user_attrs["feasible"] for t in trials)
    assert infeasible and any(t.value < summary["best_value"] for t in infeasible), "optimum is infeasible"
    best = study.trials[summary["best_trial_number"]]
    assert best.user_attrs["feasible"] and best.value == min(t.value for t in feasible)
    assert summary["n_feasible"] == len(feasible)
    assert all(record.suggest_info(t)["acquisition"] == "constrained-qlognei" for t in trials[5:])
    children = tracking.children(summary["mlflow_parent_run_id"], "bowl")
    assert {c.data.tags["hpo.feasible"] for c in children} == {"true", "false"}
    assert tracking.run_info(summary["mlflow_parent_run_id"]).data.tags["hpo.best_trial_number"] == str(
        best.number
    )

    # Nothing feasible: no best is reported at all, and the run says why.
    impossible = text.replace("name: bowl", "name: bowl_none").replace("margin >= 0", "margin >= 5")
    impossible = impossible.replace("max_trials: 8, n_init: 5", "max_trials: 2, n_init: 2")
    s = run_in_process(load_sweep(write_sweep(state_dir / "sweeps", "bowl_none", impossible)), label="t")
    assert s["best_value"] is None and s["best_params"] is None and s["note"] == NO_FEASIBLE
    assert tracking.run_info(s["mlflow_parent_run_id"]).data.tags["hpo.best"] == NO_FEASIBLE


@pytest.mark.slow
def test_multi_objective_constrained_dag_run(airflow_sandbox: AirflowSandbox) -> None:
    _sweep(airflow_sandbox.sweeps, "it_mo", extra='constraints: ["currin <= 9"]', max_trials=6, n_init=4,
           batch_size=2)  # fmt: skip
    proc = airflow_sandbox.dag_test("hpo__it_mo")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_mo.log").read_text()[-6000:]

    name = latest_study_name("it_mo")
    study, cfg = record.load(name)
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert record.suggest_info(trials[-1])["acquisition"] == "qlognehvi"
    summary = summarize(name)
    front = {t.number for t in outcomes.pareto_trials(trials, cfg)}
    assert {f["trial_number"] for f in summary["pareto_front"]} == front
    parent_id = summary["mlflow_parent_run_id"]
    assert _history(parent_id, "hypervolume") and _history(parent_id, "round_hypervolume")
    children = tracking.children(parent_id, "it_mo")
    assert len(children) == 6
    for c in children:
        t = trials[int(c.data.tags["hpo.trial_number"])]
        assert c.data.tags["hpo.pareto"] == str(t.number in front).lower()
        assert c.data.tags["hpo.feasible"] == str(t.values[1] <= 9).lower()
        assert c.data.metrics["currin"] == pytest.approx(t.values[1])
    assert all(outcomes.is_feasible(trials[n]) for n in front)


def only_branin(params: dict, *, seed: int) -> dict[str, float]:
    """Returns one of the two metrics a BraninCurrin sweep needs (and NaN for x1 > 0.5)."""
    return {"branin": float("nan") if params["x1"] > 0.5 else 1.0}


def test_a_return_that_does_not_fit_fails_the_trial_and_names_the_field(state_dir: Path) -> None:
    text = _text("misfit", max_trials=3, n_init=3).replace(
        "{name: branin_currin}", "{name: 'tests.integration.test_multi_objective:only_branin'}"
    )
    s = run_in_process(load_sweep(write_sweep(state_dir / "sweeps", "misfit", text)), label="t")
    assert s["n_failed"] == 3 and s["stop_reason"] == "max_trials" and s["pareto_size"] == 0
    study, _ = record.load(s["study_name"])
    errors = {t.user_attrs["error"] for t in study.trials}
    assert errors <= {
        "objective returned branin=nan",
        "objectives.1.metric names metric 'currin' but the objective returned ['branin']; "
        "return it or fix objectives.1.metric",
    }
    children = tracking.children(s["mlflow_parent_run_id"], "misfit")
    assert all(c.info.status == "FAILED" and c.data.tags["hpo.error"] in errors for c in children)


@pytest.mark.parametrize("sampler", ["tpe", "optuna-gp"])
def test_optuna_samplers_run_a_constrained_pareto_sweep(state_dir: Path, sampler: str) -> None:
    """Optuna's own samplers on a constrained two-objective sweep, past their seed phase: they read the
    slacks this project stores (Optuna's ``constraints`` system attr) and the reported front is feasible."""
    name = "mo_" + sampler.replace("-", "_")
    cfg = load_sweep(_sweep(state_dir / "sweeps", name, extra='constraints: ["currin <= 9"]', max_trials=10,
                            n_init=4, batch_size=3, sampler=sampler))  # fmt: skip
    summary = run_in_process(cfg, label="t")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    assert len(trials) == 10 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.constraints == {"0": t.values[1] - 9} for t in trials)  # what Optuna's samplers read
    front = {f["trial_number"] for f in summary["pareto_front"]}
    assert front and front == {t.number for t in study.best_trials}  # Optuna's feasible front agrees
    assert all(t.values[1] <= 9 for t in trials if t.number in front)
    assert summary["hypervolume"] > 0 and _history(summary["mlflow_parent_run_id"], "round_hypervolume")
    assert len(tracking.children(summary["mlflow_parent_run_id"], name)) == 10


def test_a_lost_tell_of_a_constrained_pareto_trial_is_told_on_retry_without_rerunning(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial task trains and logs its child run, then the storage fails at the tell: Airflow's retry
    rebuilds the outcome (both objectives and the constraint's slack) from the run, never trains again."""
    import optuna

    from hpo_tasks.steps import init_sweep, suggest_batch
    from hpo_tasks.steps import trial as trial_mod

    text = _text("mo_lost", extra='constraints: ["currin <= 9"]', max_trials=4, n_init=4, batch_size=2)
    name = init_sweep(load_sweep(write_sweep(state_dir / "sweeps", "mo_lost", text)), run_id="r1")[
        "study_name"
    ]
    spec = suggest_batch(name, 0)[0]
    calls: list[dict] = []
    real_resolve, real_tell = trial_mod.resolve_objective, optuna.Study.tell

    def counting(name: str):  # type: ignore[no-untyped-def]
        fn = real_resolve(name)
        return lambda params, **kw: calls.append(params) or fn(params, **kw)

    def lost_tell(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise ConnectionError("storage went away")

    monkeypatch.setattr(trial_mod, "resolve_objective", counting)
    monkeypatch.setattr(optuna.Study, "tell", lost_tell)
    with pytest.raises(ConnectionError):
        trial_mod.run_trial(spec)
    monkeypatch.setattr(optuna.Study, "tell", real_tell)
    study, _ = record.load(name)
    assert study.get_trials()[spec["trial_number"]].state == TrialState.RUNNING and len(calls) == 1

    result = trial_mod.run_trial(spec)  # Airflow's retry
    t = record.load(name)[0].get_trials()[spec["trial_number"]]
    assert result["state"] == "COMPLETE" and t.state == TrialState.COMPLETE and len(calls) == 1
    (child,) = tracking.children(study.user_attrs[record.PARENT_RUN_ATTR], "mo_lost")
    assert t.values == pytest.approx([child.data.metrics["branin"], child.data.metrics["currin"]])
    assert t.constraints == {"0": pytest.approx(t.values[1] - 9)}
    assert t.user_attrs["feasible"] == (t.values[1] <= 9)


def curved_branin_currin(params: dict, *, seed: int, report) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """BraninCurrin that reports a 3-step curve first, like the CNN's per-epoch accuracy."""
    from hpo_tasks.objectives.synthetic import branin_currin

    out = branin_currin(params, seed=seed)
    for step in (1, 2, 3):
        report(step, out["branin"] * (1 + 1 / step))
    return out


def test_an_objective_that_reports_steps_runs_in_a_pareto_sweep(state_dir: Path) -> None:
    """The CNN reports per-epoch accuracy for pruning; in a sweep with several objectives (no pruner)
    Optuna keeps no intermediate values, so the curve goes to the child run and a trial attr instead."""
    text = _text("mo_curve", max_trials=4, n_init=4, batch_size=2, sampler="random").replace(
        "{name: branin_currin}", "{name: 'tests.integration.test_multi_objective:curved_branin_currin'}"
    )
    s = run_in_process(load_sweep(write_sweep(state_dir / "sweeps", "mo_curve", text)), label="t")
    study, _ = record.load(s["study_name"])
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 and s["pareto_size"] > 0
    assert all(t.user_attrs["reported_steps"] == [1, 2, 3] and not t.intermediate_values for t in trials)
    for c in tracking.children(s["mlflow_parent_run_id"], "mo_curve"):
        curve = tracking.client().get_metric_history(c.info.run_id, "intermediate_value")
        assert sorted(m.step for m in curve) == [1, 2, 3]
