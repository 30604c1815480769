"""report.md from the analysed results: a header, then one small function per section."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo_tasks.bench.report import _fmt, _opt_order, targets


def markdown(
    summary: dict[str, Any],
    latency_rows: list[dict],
    pipeline: dict[str, Any] | None,
    bar_rows: list[dict],
    meta: dict[str, Any],
) -> str:
    """report.md: a header, then one section per table (a section with nothing to show is left out)."""
    sections = [
        _header(summary, meta),
        _scores_section(summary),
        _paired_section(summary),
        _reach_section(summary),
        _latency_section(latency_rows),
        _rounds_section(summary),
        _pipeline_section(pipeline),
        _bars_section(bar_rows),
    ]
    return "\n".join(line for sec in sections for line in sec) + "\n"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table_head(*cols: str) -> list[str]:
    return [_row(*cols), "|---" * len(cols) + "|"]


def _header(summary: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    m = meta["machine"]
    lines = [
        f"# hpo-sweeps benchmark ({meta['started']})\n",
        f"- command: `{meta['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; Python {meta['python']}",
    ]
    if meta.get("partial"):
        lines.append(f"- **partial run: {meta['partial']}**")
    lines += [
        f"- {meta.get('seeds_used', meta['seeds'])} seeds × {len(summary['problems'])} problems × "
        f"{len(summary['optimizers'])} optimizers, "
        f"budget {meta['budget']}, {meta['workers']} worker processes × 1 thread; "
        f"wall {meta.get('wall_seconds', 0) / 60:.1f} min; load average at start / end "
        f"{_load_avg(meta.get('load_average_start'))} / {_load_avg(meta.get('load_average_end'))}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v is not None),
        "- optimizers: " + "; ".join(f"**{k}** `{v['args']}`" for k, v in meta["optimizers"].items()),
        "",
    ]
    return lines


def _scores_section(summary: dict[str, Any]) -> list[str]:
    opts, cps = summary["optimizers"], summary["checkpoints"]
    lines = [f"## Score (bayesmark: 100 × (1 − mean normalized regret)) {' / '.join(f'@{t}' for t in cps)}\n"]
    lines += _table_head("problem", *opts)
    for p in summary["problems"]:
        s = summary["scores"][p]
        lines.append(
            _row(
                p, *(" / ".join(_fmt(float(np.mean(s[o][t]))) for t in cps) if o in s else "—" for o in opts)
            )
        )
    for label, ov in (("**overall**", summary["overall"]), ("overall, pilot 6", summary["overall_pilot"])):
        if ov:
            lines.append(
                _row(label, *(" / ".join(_fmt(ov[o][t]) for t in cps) if o in ov else "—" for o in opts))
            )
    pilot = targets()["pilot"]
    quoted = ", ".join(f"{k} {' / '.join(f'{v:.1f}' for v in vs)}" for k, vs in pilot["scores"].items())
    lines.append(
        f"\nPilot 6 = {pilot['label']} (the issue's pilot: {quoted}). Normalisation per problem: "
        "f_best = best true loss seen by anyone, f_rand = median single random evaluation.\n"
    )
    lines += ["| problem | f_best | f_rand | known optimum |\n|---|---|---|---|"]
    for p, n in summary["normalisation"].items():
        lines.append(_row(p, f"{n['f_best']:.6g}", f"{n['f_rand']:.6g}", _fmt(n["optimum"], 6)))
    return lines


def _paired_section(summary: dict[str, Any]) -> list[str]:
    lines = ["\n## Paired difference of overall score, ours − peer (95 % bootstrap CI over seeds)\n"]
    lines += ["| ours | peer | trials | diff | CI |\n|---|---|---|---|---|"]
    for r in summary["paired"]:
        lines.append(
            _row(r["ours"], r["peer"], r["trials"], f"{r['diff']:+.1f}", f"[{r['lo']:+.1f}, {r['hi']:+.1f}]")
        )
    return lines


def _reach_section(summary: dict[str, Any]) -> list[str]:
    opts, budget = summary["optimizers"], summary["checkpoints"][-1]
    lines = [f"\n## Trials to reach random search's {budget}-trial median (median over seeds)\n"]
    lines += _table_head("problem", "target", *opts)
    for p, r in summary["reach"].items():
        cells = []
        for o in opts:
            med, per_seed = r[o]["median"], r[o]["per_seed"]
            n_hit = sum(h is not None for h in per_seed)
            cells.append(f"{_fmt(med, 0) if med is not None else f'>{budget}'} ({n_hit}/{len(per_seed)})")
        lines.append(_row(p, f"{r['target']:.4g}", *cells))
    lines.append("\n(in brackets: seeds that reached it)\n")
    return lines


def _latency_section(latency_rows: list[dict]) -> list[str]:
    if not latency_rows:
        return []
    lines = ["## Suggest latency: one ask on a study of n completed trials (hartmann6), seconds\n"]
    ns = sorted({r["n"] for r in latency_rows})
    cell = {(r["optimizer"], r["n"]): r for r in latency_rows}
    lines += _table_head("optimizer", *(f"n={n} median / p95" for n in ns))
    for o in sorted({r["optimizer"] for r in latency_rows}, key=_opt_order):
        lines.append(
            _row(o, *(f"{r['median']:.3f} / {r['p95']:.3f}" if (r := cell.get((o, n))) else "—" for n in ns))
        )
    split = [r for r in latency_rows if r["fit_median"] is not None]
    if split:
        fit_acq = {r["n"]: f"{r['fit_median']:.3f} / {r['acq_median']:.3f}" for r in reversed(split)}
        lines.append(_row("ours: GP fit / acquisition (median)", *(fit_acq.get(n, "—") for n in ns)))
    first = latency_rows[0]
    lines.append(
        f"\n{first['repeats']} repeats per cell (fresh study and sampler each, after an untimed "
        f"warm-up), one job at a time, {first['threads']} torch/BLAS thread(s).\n"
    )
    return lines


def _rounds_section(summary: dict[str, Any]) -> list[str]:
    rr = summary["rounds"]
    if not rr:
        return []
    lines = ["## Batch mode: overall score after r rounds (a round = one ask of q, then q tells)\n"]
    max_r = max(max(v) for v in rr.values())
    marks = sorted({r for r in (1, 2, 3, 5, 8, 10, 12, 15, 20, 30, 40, max_r) if r <= max_r})
    lines += _table_head("optimizer", *(f"r={r}" for r in marks))
    for o, v in rr.items():
        lines.append(_row(o, *(_fmt(v.get(r, v[max(v)])) for r in marks)))
    lines.append("\nRound 1 is the Sobol seed design (min(10, max(5, d+1)) trials at once) for both.\n")
    return lines


def _pipeline_section(pl: dict[str, Any] | None) -> list[str]:
    if not pl:
        return []
    lines = ["## Pipeline overhead: no-op trials, Airflow DAG run vs plain Python loop\n"]
    if "error" in pl:
        return [*lines, f"not measured: {pl['error']}\n"]
    lines += [
        "| | seconds | per trial |\n|---|---|---|",
        _row(
            f"`airflow dags test` ({pl['dag_complete']} trials)",
            f"{pl['dag_run_seconds']:.1f}",
            f"{pl['dag_seconds_per_trial']:.2f}",
        ),
        _row(
            f"plain loop, `run_in_process` ({pl['loop_complete']} trials, process incl. imports)",
            f"{pl['loop_process_seconds']:.1f}",
            f"{pl['loop_seconds_per_trial']:.2f}",
        ),
        f"\nOverhead {pl['overhead_seconds_per_trial']:.2f} s per trial; ratio "
        f"{pl['ratio']:.1f}×. Study span inside the DAG run {pl['dag_study_seconds']:.1f} s, "
        f"the loop alone {pl['loop_seconds']:.1f} s; `airflow db migrate` "
        f"({pl['airflow_db_migrate_seconds']:.0f} s) not counted. Same sweep both ways: "
        f"random sampler, n_init 4, rounds of 4, SQLite Optuna + local MLflow, LocalExecutor.\n",
    ]
    if pl.get("note"):
        lines.append(f"Note: {pl['note']}.\n")
    return lines


def _bars_section(bar_rows: list[dict]) -> list[str]:
    lines = ["## Bars (issue 4)\n", "| bar | met | numbers |\n|---|---|---|"]
    for b in bar_rows:
        met = "n/a" if b["met"] is None else ("yes" if b["met"] else "**no**")
        lines.append(_row(b["bar"], met, b["detail"]))
    return lines


def _load_avg(v: Any) -> str:
    return "—" if not v else f"{v[0]:.1f}"
