"""One DAG per sweep file in config/sweeps (id ``hpo__<name>``). Read it like configuration: every task
body calls one ``hpo_tasks`` function. A sweep file with errors is left out here (the other sweeps keep
working) and reported as an import error of ``hpo_sweep_config_check.py``, naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pendulum
from airflow.sdk import (
    Asset,
    Param,
    TaskGroup,
    TriggerRule,
    dag,
    get_current_context,
    get_parsing_context,
    task,
)

from hpo_tasks.config import SweepConfig, SweepConfigError, discover_sweeps
from hpo_tasks.config.overrides import form_fields, run_overrides, unrolled_lanes, unrolled_rounds
from hpo_tasks.dag_docs import asset_uri, doc_md
from hpo_tasks.settings import sweeps_dir

log = logging.getLogger(__name__)


def _context() -> dict[str, str]:
    """The run's identity, tagged on MLflow runs (the plugin's links find runs by these tags)."""
    ctx = get_current_context()
    run_type = ctx["dag_run"].run_type
    out = {
        "dag_id": ctx["dag"].dag_id,
        "run_id": ctx["run_id"],
        "run_type": getattr(run_type, "value", run_type),
    }
    if ctx.get("logical_date"):
        out["logical_date"] = ctx["logical_date"].isoformat()
    ti = ctx["ti"]
    if ti.map_index >= 0:
        out.update(task_id=ti.task_id, map_index=str(ti.map_index))
    return out


def _scheduled_for() -> str | None:
    ctx = get_current_context()
    scheduled = getattr(ctx["dag_run"].run_type, "value", ctx["dag_run"].run_type) == "scheduled"
    return ctx["logical_date"].isoformat() if scheduled and ctx.get("logical_date") else None


def _label(label: str) -> None:
    """This lane step's label in the grid from now on. Airflow renders ``map_index_template`` from the
    context when the task ends; it is sent at once too, as Airflow's task runner sends its early render,
    so that a trial whose process dies in its objective (``kill -9``, OOM) still shows its number."""
    ctx = get_current_context()
    ctx["hpo_label"] = label
    ctx["ti"].rendered_map_index = label  # what the task's final state message carries (failed too)
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import SetRenderedMapIndex

        task_runner.SUPERVISOR_COMMS.send(msg=SetRenderedMapIndex(rendered_map_index=label))
    except Exception:  # the label is cosmetic: the end-of-task render still sets it
        log.warning("could not send the task's label %r early", label, exc_info=True)


def _label_trial(number: int) -> None:
    _label(f"trial {number}")


@contextmanager
def _config_errors_fail_at_once() -> Iterator[None]:
    """A configuration error is the same on every try: fail the task without its retries."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except SweepConfigError as err:
        raise AirflowFailException(str(err)) from err


def build_sweep_dag(cfg: SweepConfig, source: str):
    lanes = cfg.budget.mode == "async"
    n_rounds = unrolled_rounds(cfg)
    n_lanes, n_steps = unrolled_lanes(cfg)
    res = cfg.resources
    best_params = Asset(asset_uri(cfg), extra={"sweep": cfg.name})

    @dag(
        dag_id=cfg.dag_id,
        schedule=cfg.schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md(cfg, source),
        params={k: Param(**v) for k, v in form_fields(cfg).items()},
        tags=["hpo", f"sampler:{cfg.sampler.name}"],
        default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    )
    def sweep():
        @task
        def init_study() -> str:
            from hpo_tasks.steps import init_sweep, run_label

            ctx = get_current_context()
            overrides = run_overrides(cfg, ctx["params"], ctx["dag_run"].conf or {})
            label = run_label(ctx["run_id"], scheduled_for=_scheduled_for())
            with _config_errors_fail_at_once():
                info = init_sweep(
                    cfg,
                    run_id=label,
                    overrides=overrides,
                    max_rounds=None if lanes else n_rounds,
                    lanes=(n_lanes, n_steps) if lanes else None,
                    context=_context(),
                )
            return info["study_name"]

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def gate(study_name: str) -> bool:
            from hpo_tasks.steps import gate as go_on

            return go_on(study_name)

        @task
        def suggest(study_name: str, round_index: int) -> list[dict]:
            from hpo_tasks.steps import suggest_batch

            return suggest_batch(study_name, round_index)

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def suggest_one(study_name: str, lane: int, step: int) -> list[dict]:
            from hpo_tasks.steps import suggest_one as ask

            return ask(study_name, lane, step)  # [] short-circuits: the rest of the lane skips

        @task(trigger_rule=TriggerRule.ALL_DONE)
        def record_lanes(study_name: str) -> dict:
            from hpo_tasks.steps import record_lanes as record_all

            return record_all(study_name)

        # a trial's task: the sweep's queue, pool, retries and timeout
        trial_task = dict(
            queue=res.queue,
            pool=res.pool,
            retries=res.retries,
            retry_delay=timedelta(seconds=res.retry_delay_seconds),
            max_active_tis_per_dagrun=res.max_parallel_trials,
            execution_timeout=(
                timedelta(minutes=res.trial_timeout_minutes) if res.trial_timeout_minutes else None
            ),
        )

        @task(**trial_task, map_index_template="trial {{ task.op_kwargs['spec']['trial_number'] }}")
        def run_trial(spec: dict) -> dict:
            from hpo_tasks.steps import run_trial as run

            return run(spec, context=_context())

        # mapped over its one step so that the grid labels it: "trial <number>" once it has asked
        @task(**trial_task, map_index_template="{{ hpo_label | default('') }}")
        def lane_trial(study_name: str, lane: int, step: int) -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from hpo_tasks.steps import ask_and_run

            out = ask_and_run(study_name, lane, step, context=_context(), on_asked=_label_trial)
            if out is None:  # the sweep has stopped: the rest of the lane skips
                _label("stopped")
                raise AirflowSkipException("the sweep has stopped (or this lane is idle in this run)")
            return out

        @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
        def record(study_name: str, round_index: int) -> dict:
            from hpo_tasks.steps import record_round

            return record_round(study_name, round_index)

        @task(trigger_rule=TriggerRule.NONE_FAILED)
        def replicate(study_name: str) -> list[dict]:
            from hpo_tasks.steps import replicate_batch

            return replicate_batch(study_name)

        @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
        def record_replicates(study_name: str) -> dict:
            from hpo_tasks.steps import record_replicates as record_all

            return record_all(study_name)

        @task(trigger_rule=TriggerRule.NONE_FAILED, outlets=[best_params])
        def finalize(study_name: str) -> dict:
            from hpo_tasks.steps import finalize as summarize

            summary = summarize(study_name)
            keys = ("study_name", "best_value", "best_params", "stop_reason", "mlflow_parent_run_id")
            get_current_context()["outlet_events"][best_params].extra = {k: summary[k] for k in keys}
            return summary

        name = init_study()
        previous = None
        if lanes:  # budget.mode async: q lanes of steps, each trial asked when the lane's last one ended
            ends = []
            for lane in range(n_lanes):
                with TaskGroup(group_id=f"lane_{lane}"):
                    asks: list = []
                    lane_trials: list = []
                    for k in range(n_steps):
                        # step k runs after the lane's trial k-1 ended, failed or not; a skipped upstream
                        # (the sweep stopped) skips it, so the rest of the lane skips
                        rule = TriggerRule.ALL_DONE_MIN_ONE_SUCCESS if k else TriggerRule.ALL_SUCCESS
                        if not cfg.budget.ask_ahead:  # one task a step: it asks its trial and runs it
                            step = lane_trial.override(task_id=f"trial_{k:03d}", trigger_rule=rule)
                            trial = step.partial(study_name=name, lane=lane).expand(step=[k])
                        else:  # suggest k asks after trial k-2, while trial k-1 runs; trial k after both
                            spec = suggest_one.override(task_id=f"suggest_{k:03d}", trigger_rule=rule)(
                                name, lane, k
                            )
                            trial = run_trial.override(task_id=f"trial_{k:03d}", trigger_rule=rule)
                            trial = trial.expand(spec=spec)
                            if k:
                                asks[-1] >> spec
                            if k >= (ended := cfg.budget.ended_before_ask):
                                lane_trials[-ended] >> spec
                            asks.append(spec)
                        if k:
                            lane_trials[-1] >> trial
                        lane_trials.append(trial)
                ends.extend(lane_trials)
            # every trial task, not a lane's last: a step that says stop skips the rest of its lane at
            # once, while the other lanes' trials (asking ahead: its own previous one) may still run
            previous = record_lanes(name)
            ends >> previous
        for r in range(0 if lanes else n_rounds):
            with TaskGroup(group_id=f"round_{r:02d}"):
                go = gate(name)
                specs = suggest(name, r)
                trials = run_trial.expand(spec=specs)
                done = record(name, r)
                go >> specs
                [specs, trials] >> done
            if previous is not None:
                previous >> go
            previous = done
        if cfg.replicate is not None:  # the best configurations again, with new seeds
            with TaskGroup(group_id="replicate"):
                reps = replicate(name)
                rep_trials = run_trial.expand(spec=reps)
                rep_done = record_replicates(name)
                [reps, rep_trials] >> rep_done
            previous >> reps
            previous = rep_done
        end = finalize(name)
        previous >> end

    return sweep()


# A task process parses this file to run one task: it builds only that task's DAG (Airflow's documented
# optimisation for generated DAGs); the DAG processor (dag_id None) builds them all.
_only = get_parsing_context().dag_id
for _path, _cfg in discover_sweeps(sweeps_dir()).items():
    if isinstance(_cfg, SweepConfigError):
        log.warning("skipping invalid sweep file %s", _path)
        continue
    if _only is not None and _cfg.dag_id != _only:
        continue
    globals()[_cfg.dag_id] = build_sweep_dag(_cfg, str(_path))
