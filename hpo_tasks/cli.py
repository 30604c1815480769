"""``hpo``: validate sweep files, run a sweep (through Airflow or in-process), report results.

hpo validate config/sweeps/*.yaml      field-path errors, exit 1 on any bad file
hpo dag-run xgb_breast_cancer          one real DAG run via ``airflow dags test`` (SQLite defaults)
hpo run config/sweeps/branin_quick.yaml   the same steps in a plain loop, no Airflow
hpo report xgb_breast_cancer           best config, score, stop reason, where to look in MLflow
hpo status xgb_breast_cancer           progress of the latest runs (trials done / budget, best, stop)
hpo best xgb_breast_cancer --json      the best configuration, ready to paste (YAML by default)
hpo dashboard xgb_breast_cancer        optuna-dashboard on the sweep's study storage
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hpo_tasks.config import SweepConfigError, load_sweep
from hpo_tasks.settings import (
    airflow_env,
    mlflow_tracking_uri,
    optuna_storage_url,
    state_dir,
    sweeps_dir,
)


def _sweep_path(ref: str) -> Path:
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return sweeps_dir() / f"{ref}.yaml"


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for ref in args.files:
        try:
            cfg = load_sweep(_sweep_path(ref))
        except SweepConfigError as err:
            print(err, file=sys.stderr)
            bad += 1
            continue
        print(f"ok  {ref}: dag hpo__{cfg.name}, {len(cfg.space)} params, {cfg.budget.max_trials} trials")
        from hpo_tasks.pruning import config_warnings

        for note in [*cfg.warnings, *config_warnings(cfg)]:
            print(f"warning  {ref}: {note}", file=sys.stderr)
    return 1 if bad else 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("max_trials", "batch_size", "patience", "seed", "max_minutes", "warm_start_from")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hpo_tasks.steps.local import run_in_process

    cfg = load_sweep(_sweep_path(args.sweep))
    label = args.label or time.strftime("local__%Y%m%dT%H%M%S")
    total = _overrides(args).get("max_trials", cfg.budget.max_trials)
    maximize = cfg.maximize  # the bar's "best" (a multi-objective sweep shows none)
    best: list[float] = []

    with tqdm(total=total, unit="trial", desc=cfg.name, disable=args.no_progress) as bar:

        def on_trial(result: dict[str, Any]) -> None:
            value = result["value"]
            if value is not None:
                best.append(value if not best else (max if maximize else min)(best[-1], value))
            bar.update(1)
            bar.set_postfix(best=f"{best[-1]:.6g}" if best else "-", refresh=False)

        summary = run_in_process(cfg, label=label, overrides=_overrides(args), on_trial=on_trial)
    _print_summary(summary)
    return 0


def _study_names(sweep: str) -> list[str]:
    """The sweep's studies, newest first."""
    from hpo_tasks import record

    return [s.name for s in record.list_studies(sweep)]


def cmd_status(args: argparse.Namespace) -> int:
    from hpo_tasks.summary import summarize

    names = [args.study] if args.study else _study_names(args.sweep)[: args.last]
    if not names:
        print(f"no run of sweep '{args.sweep}' in {optuna_storage_url()}", file=sys.stderr)
        return 1
    rows = [summarize(n) for n in names]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    w = max(len("study"), *(len(p["study_name"]) for p in rows))
    print(f"{'study':<{w}} {'done/budget':>11} {'failed':>6} {'running':>7} {'best':>12}  stopped")
    for p in rows:
        best = "-" if p["best_value"] is None else f"{p['best_value']:.6g}"
        done = f"{p['trials_done']}/{p['budget']}"
        stop = p["stop_reason"] or "not stopped (running)"
        print(f"{p['study_name']:<{w}} {done:>11} {p['n_failed']:>6} {p['n_running']:>7} {best:>12}  {stop}")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    import yaml

    from hpo_tasks.summary import direction_label, summarize

    names = [args.study] if args.study else _study_names(args.sweep)[:1]
    p = summarize(names[0]) if names else None
    if p is not None and p.get("pareto_front"):  # several objectives: the Pareto set
        if args.json:
            shown = {"sweep": p["sweep"], "study_name": p["study_name"], "direction": direction_label(p)}
            print(json.dumps({**shown, "pareto": p["pareto_front"]}, indent=2))
        else:
            print(f"# sweep {p['sweep']}, study {p['study_name']}: Pareto set ({direction_label(p)})")
            for f in p["pareto_front"]:
                print(f"# trial {f['trial_number']}: {f['values']}")
                print(yaml.safe_dump([dict(f["params"])], sort_keys=False), end="")
        return 0
    if p is None or p["best_params"] is None:
        print(
            f"no completed (and, under constraints, feasible) trial of sweep '{args.sweep}' in "
            f"{optuna_storage_url()}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        keys = ("sweep", "study_name", "direction", "best_value", "best_trial_number", "best_params")
        print(json.dumps({k: p[k] for k in keys}, indent=2))
    else:
        what = "mean over replicates" if p.get("replication") else "value"
        print(f"# sweep {p['sweep']}, study {p['study_name']}: best {p['direction'][:3]} {what}")
        print(f"# {p['best_value']} (trial {p['best_trial_number']})")
        print(yaml.safe_dump(dict(p["best_params"]), sort_keys=False), end="")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """optuna-dashboard on the study storage (every run of every sweep is a plain Optuna study)."""
    dashboard = shutil.which("optuna-dashboard") or str(Path(sys.executable).with_name("optuna-dashboard"))
    if not Path(dashboard).exists():
        print("optuna-dashboard is not installed: pip install optuna-dashboard", file=sys.stderr)
        return 1
    names = _study_names(args.sweep)
    url = f"http://{args.host}:{args.port}/dashboard"
    print(f"optuna-dashboard on {optuna_storage_url()} at {url}", flush=True)
    print(f"  studies of '{args.sweep}': {', '.join(names[:5]) or 'none yet'}", flush=True)
    os.execv(dashboard, [dashboard, optuna_storage_url(), "--host", args.host, "--port", str(args.port)])


def cmd_dag_run(args: argparse.Namespace) -> int:
    cfg = load_sweep(_sweep_path(args.sweep))  # fail fast, with field paths, before Airflow starts
    airflow = shutil.which("airflow") or str(Path(sys.executable).with_name("airflow"))
    # The embedded defaults (SQLite metadata, LocalExecutor) unless the user exported otherwise.
    env = airflow_env(Path(os.environ.get("AIRFLOW_HOME") or state_dir() / "airflow"))
    env.setdefault("HPO_STATE_DIR", str(state_dir()))
    log_path = state_dir() / "logs" / f"{cfg.name}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"airflow home {env['AIRFLOW_HOME']}; full log: {log_path}", flush=True)
    with log_path.open("w") as out:
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        t0 = time.time()
        print(f"running DAG {cfg.dag_id} (airflow dags test) ...", flush=True)
        cmd = [airflow, "dags", "test", cfg.dag_id]
        if _overrides(args):
            cmd += ["-c", json.dumps(_overrides(args))]
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    print(f"DAG run finished in {time.time() - t0:.0f}s (exit {proc.returncode})")
    if proc.returncode != 0:
        print(f"the DAG run failed: see {log_path}", file=sys.stderr)
        return proc.returncode
    return cmd_report(argparse.Namespace(sweep=cfg.name, study=None, json=False))


def cmd_report(args: argparse.Namespace) -> int:
    from hpo_tasks.record import latest_study_name
    from hpo_tasks.summary import summarize

    name = args.study or latest_study_name(args.sweep)
    if name is None:
        print(f"no run of sweep '{args.sweep}' in {optuna_storage_url()}", file=sys.stderr)
        return 1
    summary = summarize(name)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    print(f"\nsweep {s['sweep']}  (study {s['study_name']})")
    print(
        f"  trials: {s['n_complete']} complete, {s['n_failed']} failed"
        + (f", {s['n_pruned']} pruned ({s['n_steps']} steps reported)" if s.get("n_pruned") else "")
        + "  |  "
        f"stopped: {s['stop_reason']} ({s['stop_detail']})"
    )
    if "pareto_front" in s:  # several objectives: the Pareto set, no single best
        print(
            f"  Pareto set: {s['pareto_size']} trial(s), hypervolume {s['hypervolume']} "
            f"(reference point {s['reference_point']}, {s['reference_point_source']})"
        )
        for f in s["pareto_front"]:
            print(f"    trial {f['trial_number']}: {f['values']}  {f['params']}")
    else:
        if s.get("replication"):
            from hpo_tasks.replication import format_table

            print(
                f"  best by mean over replicates: {s['best_value']:.6g} ± {s['best_value_stderr'] or 0:.3g} "
                f"(trial {s['best_trial_number']}; best single trial {s['best_single_trial_number']}: "
                f"{s['best_single_value']:.6g})"
            )
            print(format_table(s["replication"]))
        else:
            print(f"  best {s['direction'][:3]} value: {s['best_value']}  (trial {s['best_trial_number']})")
        for k, v in (s["best_params"] or {}).items():
            print(f"    {k}: {v:.6g}" if isinstance(v, float) else f"    {k}: {v}")
    if "resource_used" in s:  # a pruner: what it saved (hpo_tasks.fidelity.compute_figures)
        print(
            f"  compute: {s['resource_used']:.0f} resource units trained of {s['resource_unpruned']:.0f} "
            f"for the same trials unpruned ({100 * s['resource_saved']:.0f} % saved)"
        )
    if s.get("constraints"):
        print(f"  constraints {s['constraints']}: {s['n_feasible']} feasible trial(s). {s.get('note', '')}")
    print(
        f"  time: {s['wall_seconds']:.1f}s wall (init to the last trial) = {s['trial_busy_seconds']:.1f}s "
        f"with a trial running ({s['trial_seconds']:.1f}s summed over trials) + {s['suggest_seconds']:.1f}s "
        f"in suggest + {s['orchestration_seconds']:.1f}s orchestration (the rest: scheduling, task start-up, "
        "logging)"
    )
    print(f"  MLflow: experiment '{s['mlflow_experiment']}', parent run {s['mlflow_parent_run_id']}")
    if s["mlflow_parent_run_id"]:
        from hpo_tasks import tracking

        exp_id = tracking.run_info(s["mlflow_parent_run_id"]).info.experiment_id
        maximize = None if s.get("pareto_front") is not None else s["direction"] == "maximize"
        print(f"    run:    {tracking.run_url(exp_id, s['mlflow_parent_run_id'])}")
        print(f"    trials: {tracking.trials_url(exp_id, s['mlflow_parent_run_id'], maximize=maximize)}")
    print(f"    (serve it: mlflow ui --backend-store-uri {mlflow_tracking_uri()})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hpo", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check sweep files")
    v.add_argument("files", nargs="+")
    v.set_defaults(fn=cmd_validate)
    for name, fn, helptext in (
        ("run", cmd_run, "run a sweep in-process (no Airflow)"),
        ("dag-run", cmd_dag_run, "run a sweep's DAG once via 'airflow dags test'"),
    ):
        r = sub.add_parser(name, help=helptext)
        r.add_argument("sweep", help="sweep name (config/sweeps/<name>.yaml) or a file path")
        r.add_argument("--max-trials", type=int)
        r.add_argument("--batch-size", type=int)
        r.add_argument("--patience", type=int)
        r.add_argument("--max-minutes", type=float)
        r.add_argument("--seed", type=int)
        r.add_argument("--warm-start-from", help="latest | none | a study name (warm_start.from)")
        if name == "run":
            r.add_argument("--label", help="run label (study '<sweep>:<label>')")
            r.add_argument("--no-progress", action="store_true", help="no progress bar")
        r.set_defaults(fn=fn)
    for name, fn, helptext in (
        ("report", cmd_report, "summarise a sweep's latest (or a named) run"),
        ("status", cmd_status, "progress of a sweep's latest runs, from the study storage"),
        ("best", cmd_best, "the best configuration (YAML; --json for JSON) of the latest or a named run"),
    ):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("sweep")
        q.add_argument("--study", help="a specific study name")
        q.add_argument("--json", action="store_true")
        if name == "status":
            q.add_argument("--last", type=int, default=5, help="how many recent runs (default 5)")
        q.set_defaults(fn=fn)
    da = sub.add_parser("dashboard", help="open optuna-dashboard on the sweep's study storage")
    da.add_argument("sweep")
    da.add_argument("--host", default="127.0.0.1")
    da.add_argument("--port", type=int, default=8081)
    da.set_defaults(fn=cmd_dashboard)
    b = sub.add_parser("bench", help="benchmarks against the peers (see hpo bench --help)", add_help=False)
    b.set_defaults(fn=None)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from hpo_tasks.bench.cli import main as bench_main

        return bench_main(argv[1:])
    args = p.parse_args(argv)
    try:
        return int(args.fn(args))
    except SweepConfigError as err:
        print(err, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
