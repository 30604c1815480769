"""The Airflow plugin's pages as HTML: the Sweep tab of a DAG run and the MLflow-trial tab of a task
instance. Small self-contained documents (an inline SVG, no scripts) rendered from ``hpo_tasks.summary``'s
values; the plugin adds what only Airflow knows (task-instance states). No airflow here.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from typing import Any

from hpo_tasks.settings import LOCAL_HEARTBEAT_TIMEOUT_S
from hpo_tasks.summary import direction_label, stop_label

LOST_WORKER = (
    "finished, task still running: its worker may be lost; Airflow retries or fails the task after the "
    f"heartbeat timeout ({LOCAL_HEARTBEAT_TIMEOUT_S} s locally)"
)


def _num(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def best_so_far_svg(points: Sequence[tuple[int, float]], *, width: int = 480, height: int = 160) -> str:
    """The best-so-far curve as a small inline SVG (a step line over trial numbers); empty without points."""
    if not points:
        return ""
    pad_l, pad_r, pad_t, pad_b = 64, 12, 10, 24
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def at(x: float, y: float) -> str:
        px = pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)
        py = pad_t + (y1 - y) / (y1 - y0) * (height - pad_t - pad_b)
        return f"{px:.1f},{py:.1f}"

    step = [at(*points[0])]
    for (_, prev), (x, y) in itertools.pairwise(points):
        step += [at(x, prev), at(x, y)]
    dots = "".join('<circle cx="{}" cy="{}" r="2.5"/>'.format(*at(x, y).split(",")) for x, y in points)
    bottom, right = height - pad_b, width - pad_r
    return (
        f'<svg id="best-curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="best value so far by trial number" font-size="11" font-family="sans-serif">'
        f'<line x1="{pad_l}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{bottom}" stroke="#999"/>'
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end">{html.escape(_num(y1))}</text>'
        f'<text x="{pad_l - 4}" y="{bottom}" text-anchor="end">{html.escape(_num(y0))}</text>'
        f'<text x="{pad_l}" y="{height - 6}">trial {x0}</text>'
        f'<text x="{right}" y="{height - 6}" text-anchor="end">trial {x1}</text>'
        f'<polyline fill="none" stroke="#2b7" stroke-width="2" points="{" ".join(step)}"/>'
        f'<g fill="#2b7">{dots}</g></svg>'
    )


def _trials_table(rows: Sequence[dict[str, Any]], task_states: dict[int, str]) -> str:
    e = html.escape
    keys = sorted({k for r in rows for k in r["params"]})
    head = "".join(f"<th>{e(k)}</th>" for k in ["trial", "state", "value", *keys, "seconds", "MLflow"])
    body = []
    for r in rows:
        state = r["state"]
        task = task_states.get(r["trial_number"])
        note = ""
        if r["replicate_of"] is not None:
            note = f" (repeat of {r['replicate_of']})"
        if state != "RUNNING" and task == "running":
            note += f'<br><span class="lost">{e(LOST_WORKER)}</span>'
        if r["error"]:
            note += f"<br><small>{e(r['error'][:300])}</small>"
        value = r["values"] if r["values"] is not None else r["value"]
        secs = r["wallclock_seconds"]
        link = (
            f'<a href="{e(r["mlflow_url"])}" target="_blank" rel="noopener">run</a>'
            if r["mlflow_url"]
            else ""
        )
        cells = [
            str(r["trial_number"]),
            f"{e(state)}{note}",
            "" if value is None else e(_num(value)),
            *(e(_num(r["params"][k])) if k in r["params"] else "" for k in keys),
            "" if secs is None else f"{secs:.2f}",
            link,
        ]
        body.append(
            f'<tr class="trial" data-trial="{r["trial_number"]}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return f'<table id="trials"><tr>{head}</tr>{"".join(body)}</table>'


def render_html(
    p: dict[str, Any] | None, *, dag_id: str, run_id: str, task_states: dict[int, str] | None = None
) -> str:
    """The Sweep tab's page: one small self-contained HTML document (no scripts).

    ``task_states`` (trial number -> Airflow task-instance state, from the plugin) marks trials whose
    Optuna trial has finished while their task is still ``running`` (a lost worker)."""
    e = html.escape
    states = task_states or {}
    if p is None:
        body = f"<p>No sweep run found for <code>{e(dag_id)}</code> / <code>{e(run_id)}</code> (yet).</p>"
    else:
        pct = min(100, round(100 * p["trials_done"] / max(1, p["budget"])))
        shown = "—" if p["best_value"] is None else f"{p['best_value']:.6g} (trial {p['best_trial_number']})"
        if p.get("replication") and p["best_value"] is not None:
            shown = f"{p['best_value']:.6g} mean over replicates (trial {p['best_trial_number']})"
        if p.get("pareto_front") is not None:
            front = p["pareto_front"]
            shown = f"Pareto set of {len(front)}: trials {[f['trial_number'] for f in front]}"
        params = "".join(
            f"<tr><td>{e(str(k))}</td><td>{e(_num(v))}</td></tr>" for k, v in (p["best_params"] or {}).items()
        )
        promo = e(f"{p['promotion']}: {p['promotion_detail']}") if p.get("promotion") else "—"
        rows = p.get("trials") or []
        lost = [
            r["trial_number"]
            for r in rows
            if r["state"] != "RUNNING" and states.get(r["trial_number"]) == "running"
        ]
        lost_note = f'<p id="lost-workers" class="lost">Trials {lost}: {e(LOST_WORKER)}.</p>' if lost else ""
        curve = best_so_far_svg(p.get("best_so_far") or [])
        trials_link = (
            f'<a id="mlflow-trials-link" href="{e(p["mlflow_trials_url"])}" target="_blank" rel="noopener">'
            "Open the trials of this run in MLflow</a>"
            if p.get("mlflow_trials_url")
            else ""
        )
        body = f"""
<p id="progress"><b>{p["trials_done"]} / {p["budget"]}</b> trials done
 ({p["n_complete"]} complete, {p["n_failed"]} failed, {p["n_running"]} running)</p>
<div style="background:#eee;width:100%;max-width:480px;height:12px"><div style="background:#2b7;
 width:{pct}%;height:12px"></div></div>{lost_note}
<p>Best so far ({e(direction_label(p))}): <b id="best">{e(shown)}</b></p>
<div style="display:flex;gap:2em;align-items:flex-start"><table>{params}</table>{curve}</div>
<p>Stop reason: <span id="stop">{e(stop_label(p))}</span></p>
<p>Promotion: {promo}</p>
<p>Study <code>{e(p["study_name"])}</code></p>
<p><a id="mlflow-link" href="{e(p["mlflow_url"])}" target="_blank" rel="noopener">
 Open the MLflow run</a> · {trials_link}</p>
<h4>Trials</h4>
{_trials_table(rows, states) if rows else "<p>No trial yet.</p>"}"""
    return _page(f"Sweep {dag_id}", f"Sweep <code>{e(dag_id)}</code> run <code>{e(run_id)}</code>", body)


def render_trial_html(t: dict[str, Any] | None, *, task_id: str, map_index: int) -> str:
    """The MLflow trial tab's page: the trial that task instance ran, and the link to its MLflow run."""
    e = html.escape
    if t is None:
        body = "<p>This task instance is not a trial of a sweep run (or has not started yet).</p>"
        title = f"{e(task_id)} [{map_index}]"
    else:
        value = t["values"] if t["values"] is not None else t["value"]
        rows = [
            ("state", t["state"]),
            ("value", "—" if value is None else _num(value)),
            *((f"param {k}", _num(v)) for k, v in t["params"].items()),
            ("wallclock", "—" if t["wallclock_seconds"] is None else f"{t['wallclock_seconds']:.2f} s"),
            *((("error", t["error"]),) if t["error"] else ()),
            *((("repeat of trial", str(t["replicate_of"])),) if t["replicate_of"] is not None else ()),
            ("study", t["study_name"]),
        ]
        table = "".join(f'<tr><th style="text-align:left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows)
        body = (
            f'<table id="trial">{table}</table><p><a id="mlflow-link" href="{e(t["mlflow_url"])}" '
            'target="_blank" rel="noopener">Open this trial in MLflow</a></p>'
        )
        title = f'Trial <span id="trial-number">{t["trial_number"]}</span> ({e(task_id)} [{map_index}])'
    return _page(f"Trial {task_id}", title, body)


def _page(title: str, heading: str, body: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}}td,th{{padding:0 1em 0 0}}
#trials td,#trials th{{border-bottom:1px solid #eee;text-align:left}}.lost{{color:#b50}}</style></head>
<body><h3>{heading}</h3>{body}</body></html>"""
