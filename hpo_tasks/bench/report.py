"""From raw traces to the tables: scores at checkpoints, paired differences, trials to reach random's
median, suggest latency, batch mode against rounds, the bars of issue 4, and the Markdown and PNGs."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hpo_tasks.bench import scoring
from hpo_tasks.bench.problems import PILOT_PROBLEMS, PROBLEMS

OURS = "ours-q1"


def _group(runs: list[dict]) -> dict[str, dict[str, list[dict]]]:
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        out[r["problem"]][r["optimizer"]].append(r)
    for by_opt in out.values():
        for rs in by_opt.values():
            rs.sort(key=lambda r: r["seed"])
    return out


def analyse(runs: list[dict], *, budget: int, seed: int = 0) -> dict[str, Any]:
    grouped = _group(runs)
    problems = [p for p in PROBLEMS if p in grouped]
    optimizers = sorted({r["optimizer"] for r in runs}, key=_opt_order)
    checkpoints = sorted({min(20, budget), budget})
    norm: dict[str, dict[str, float | None]] = {}
    regret: dict[str, dict[str, np.ndarray]] = defaultdict(dict)  # [problem][opt] -> (seeds, T)
    traces: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for p in problems:
        rand = grouped[p].get("random")
        if not rand:
            raise ValueError("the random optimizer is needed: it sets the scale of every score")
        f_best = min(min(r["true"]) for rs in grouped[p].values() for r in rs)
        f_rand = float(np.median([v for r in rand for v in r["true"]]))
        norm[p] = {"f_best": f_best, "f_rand": f_rand, "optimum": PROBLEMS[p].optimal_value}
        for o, rs in grouped[p].items():
            tr = np.stack([scoring.incumbent_trace(r["observed"], r["true"]) for r in rs])
            traces[p][o] = tr
            regret[p][o] = scoring.normalized_regret(tr, f_best=f_best, f_rand=f_rand)

    scores = {
        p: {o: {t: (100 * (1 - regret[p][o][:, t - 1])).tolist() for t in checkpoints} for o in regret[p]}
        for p in problems
    }

    def overall(subset: list[str]) -> dict[str, dict[int, float]]:
        return {
            o: {t: float(np.mean([np.mean(scores[p][o][t]) for p in subset])) for t in checkpoints}
            for o in optimizers
            if all(o in scores[p] for p in subset)
        }

    pilot = [p for p in PILOT_PROBLEMS if p in problems]
    rng = np.random.default_rng(seed)
    paired = []
    for ours in ("ours-q1", "ours-q4"):
        for peer in optimizers:
            if peer.startswith("ours") or ours not in optimizers:
                continue
            for t in checkpoints:
                a = {p: scores[p][ours][t] for p in problems}
                b = {p: scores[p][peer][t] for p in problems}
                d, lo, hi = scoring.paired_bootstrap(a, b, rng=rng)
                paired.append({"ours": ours, "peer": peer, "trials": t, "diff": d, "lo": lo, "hi": hi})

    reach: dict[str, dict[str, Any]] = {}
    for p in problems:
        target = float(np.median(traces[p]["random"][:, budget - 1]))
        reach[p] = {"target": target}
        for o in optimizers:
            hits = [scoring.trials_to_reach(tr, target) for tr in traces[p][o]]
            vals = [math.inf if h is None else h for h in hits]
            med = float(np.median(vals))
            reach[p][o] = {"per_seed": hits, "median": None if math.isinf(med) else med}

    return {
        "problems": problems,
        "optimizers": optimizers,
        "checkpoints": checkpoints,
        "normalisation": norm,
        "scores": scores,
        "overall": overall(problems),
        "overall_pilot": overall(pilot) if len(pilot) == len(PILOT_PROBLEMS) else None,
        "paired": paired,
        "reach": reach,
        "rounds": _rounds(grouped, regret, problems),
        "curves": {p: {o: np.median(regret[p][o], axis=0).tolist() for o in regret[p]} for p in problems},
    }


def _rounds(grouped: dict, regret: dict, problems: list[str]) -> dict[str, dict[int, float]]:
    """Overall score after r rounds (a round = one ask of q trials then their tells; round 0 = seed)."""
    out: dict[str, dict[int, float]] = {}
    for o in ("ours-q1", "ours-q4"):
        if not all(o in grouped[p] for p in problems):
            continue
        max_round = max(max(r["round"]) for p in problems for r in grouped[p][o])
        per_r: dict[int, float] = {}
        for rr in range(max_round + 1):
            vals = []
            for p in problems:
                for i, run in enumerate(grouped[p][o]):
                    idx = (
                        max(j for j, x in enumerate(run["round"]) if x <= rr) if run["round"][0] <= rr else 0
                    )
                    vals.append(100 * (1 - regret[p][o][i, idx]))
            per_r[rr + 1] = float(np.mean(vals))  # rounds completed = rr + 1
        out[o] = per_r
    return out


def latency_table(latency: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for rec in sorted(latency, key=lambda r: (r["optimizer"], r["n"])):
        s = np.asarray(rec["seconds"])
        parts = [x for x in rec.get("parts", []) if "fit_seconds" in x]
        rows.append(
            {
                "optimizer": rec["optimizer"],
                "n": rec["n"],
                "median": float(np.median(s)),
                "p95": float(np.quantile(s, 0.95)),
                "repeats": len(s),
                "threads": rec.get("threads"),
                # ours records where an ask's time goes: GP fit vs acquisition optimisation
                "fit_median": float(np.median([x["fit_seconds"] for x in parts])) if parts else None,
                "acq_median": float(np.median([x["acq_seconds"] for x in parts])) if parts else None,
            }
        )
    return rows


def bars(summary: dict[str, Any], latency_rows: list[dict]) -> list[dict[str, Any]]:
    """Issue 4's bars, each with the numbers it was judged on. ``met`` is None when not measurable here."""
    ov = summary["overall"]
    cps = summary["checkpoints"]
    t20, t50 = cps[0], cps[-1]
    out = []

    def get(o: str, t: int) -> float | None:
        return ov.get(o, {}).get(t)

    def add(name: str, met: bool | None, detail: str) -> None:
        out.append({"bar": name, "met": met, "detail": detail})

    ours20, ours50 = get(OURS, t20), get(OURS, t50)
    gp20 = get("optuna-gp", t20)
    best50 = max((v for v in (get("tpe", t50), get("optuna-gp", t50)) if v is not None), default=None)
    if ours20 is not None and gp20 is not None:
        add(f"score@{t20} >= GPSampler", ours20 >= gp20, f"{ours20:.1f} vs {gp20:.1f}")
    if ours50 is not None and best50 is not None:
        add(f"score@{t50} >= max(TPE, GPSampler)", ours50 >= best50, f"{ours50:.1f} vs {best50:.1f}")
    misses = [
        p
        for p, r in summary["reach"].items()
        if OURS in r and (r[OURS]["median"] is None or r[OURS]["median"] > 20)
    ]
    add(
        "reach random's final median within 20 trials, every problem",
        not misses,
        "all problems" if not misses else "misses: " + ", ".join(misses),
    )
    ours_lat = [r for r in latency_rows if r["optimizer"] == OURS and r["n"] <= 200]
    if ours_lat:
        worst = max(ours_lat, key=lambda r: r["median"])
        add(
            "suggest median < 0.5 s for n <= 200 (q=1)",
            worst["median"] < 0.5,
            f"worst median {worst['median']:.2f} s at n={worst['n']}",
        )
    for peer, t, need, label in (
        ("optuna-gp", t20, 3.0, f"target: +3 over GPSampler @{t20}, CI > 0"),
        (None, t50, 1.0, f"target: +1 over best peer @{t50}, CI > 0"),
    ):
        if peer is None:
            peers = [o for o in ov if not o.startswith("ours")]
            if not peers:
                continue
            peer = max(peers, key=lambda o: ov[o][t])
        row = next(
            (r for r in summary["paired"] if r["ours"] == OURS and r["peer"] == peer and r["trials"] == t),
            None,
        )
        if row:
            met = row["diff"] >= need and row["lo"] > 0
            add(label, met, f"vs {peer}: {row['diff']:+.1f} [{row['lo']:+.1f}, {row['hi']:+.1f}]")
    if ours50 is not None:
        add(f"target: overall >= 95 @{t50}", ours50 >= 95, f"{ours50:.1f}")
    return out


def _opt_order(o: str) -> tuple[int, str]:
    order = ["ours-q1", "ours-q4", "optuna-gp", "botorch", "tpe", "random"]
    return (order.index(o) if o in order else len(order), o)


def _load_avg(v: Any) -> str:
    return "—" if not v else f"{v[0]:.1f}"


def _fmt(v: float | None, nd: int = 1) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def markdown(
    summary: dict[str, Any],
    latency_rows: list[dict],
    pipeline: dict[str, Any] | None,
    bar_rows: list[dict],
    meta: dict[str, Any],
) -> str:
    opts = summary["optimizers"]
    cps = summary["checkpoints"]
    cp_label = " / ".join(f"@{t}" for t in cps)
    m = meta["machine"]
    L: list[str] = []
    L.append(f"# hpo-sweeps benchmark ({meta['started']})\n")
    L.append(f"- command: `{meta['command']}`")
    L.append(f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; Python {meta['python']}")
    if meta.get("partial"):
        L.append(f"- **partial run: {meta['partial']}**")
    L.append(
        f"- {meta.get('seeds_used', meta['seeds'])} seeds × {len(summary['problems'])} problems × "
        f"{len(opts)} optimizers, "
        f"budget {meta['budget']}, {meta['workers']} worker processes × 1 thread; "
        f"wall {meta.get('wall_seconds', 0) / 60:.1f} min; load average at start / end "
        f"{_load_avg(meta.get('load_average_start'))} / {_load_avg(meta.get('load_average_end'))}"
    )
    L.append("- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v is not None))
    L.append("- optimizers: " + "; ".join(f"**{k}** `{v['args']}`" for k, v in meta["optimizers"].items()))
    L.append("")
    L.append(f"## Score (bayesmark: 100 × (1 − mean normalized regret)) {cp_label}\n")
    L.append("| problem | " + " | ".join(opts) + " |")
    L.append("|---" * (len(opts) + 1) + "|")
    for p in summary["problems"]:
        cells = []
        for o in opts:
            s = summary["scores"][p].get(o)
            cells.append(" / ".join(_fmt(float(np.mean(s[t]))) for t in cps) if s else "—")
        L.append(f"| {p} | " + " | ".join(cells) + " |")
    for label, ov in (("**overall**", summary["overall"]), ("overall, pilot 6", summary["overall_pilot"])):
        if ov:
            L.append(
                f"| {label} | "
                + " | ".join(" / ".join(_fmt(ov[o][t]) for t in cps) if o in ov else "—" for o in opts)
                + " |"
            )
    L.append(
        "\nPilot 6 = branin, hartmann6, svm-breast, dt-wine, rf-breast, linear-breast (the issue's pilot: "
        "random 67.4 / 80.0, TPE 75.4 / 93.8, GPSampler 80.8 / 92.2). Normalisation per problem: "
        "f_best = best true loss seen by anyone, f_rand = median single random evaluation.\n"
    )
    L.append("| problem | f_best | f_rand | known optimum |\n|---|---|---|---|")
    for p, n in summary["normalisation"].items():
        L.append(f"| {p} | {n['f_best']:.6g} | {n['f_rand']:.6g} | {_fmt(n['optimum'], 6)} |")
    L.append("\n## Paired difference of overall score, ours − peer (95 % bootstrap CI over seeds)\n")
    L.append("| ours | peer | trials | diff | CI |\n|---|---|---|---|---|")
    for r in summary["paired"]:
        L.append(
            f"| {r['ours']} | {r['peer']} | {r['trials']} | {r['diff']:+.1f} | "
            f"[{r['lo']:+.1f}, {r['hi']:+.1f}] |"
        )
    budget = cps[-1]
    L.append(f"\n## Trials to reach random search's {budget}-trial median (median over seeds)\n")
    L.append("| problem | target | " + " | ".join(opts) + " |")
    L.append("|---" * (len(opts) + 2) + "|")
    for p, r in summary["reach"].items():
        cells = []
        for o in opts:
            med = r[o]["median"]
            n_hit = sum(h is not None for h in r[o]["per_seed"])
            cells.append(
                f"{_fmt(med, 0) if med is not None else f'>{budget}'} ({n_hit}/{len(r[o]['per_seed'])})"
            )
        L.append(f"| {p} | {r['target']:.4g} | " + " | ".join(cells) + " |")
    L.append("\n(in brackets: seeds that reached it)\n")
    if latency_rows:
        L.append("## Suggest latency: one ask on a study of n completed trials (hartmann6), seconds\n")
        ns = sorted({r["n"] for r in latency_rows})
        lopts = sorted({r["optimizer"] for r in latency_rows}, key=_opt_order)
        L.append("| optimizer | " + " | ".join(f"n={n} median / p95" for n in ns) + " |")
        L.append("|---" * (len(ns) + 1) + "|")
        for o in lopts:
            cells = []
            for n in ns:
                r = next((x for x in latency_rows if x["optimizer"] == o and x["n"] == n), None)
                cells.append(f"{r['median']:.3f} / {r['p95']:.3f}" if r else "—")
            L.append(f"| {o} | " + " | ".join(cells) + " |")
        split = [r for r in latency_rows if r["fit_median"] is not None]
        if split:
            L.append(
                "| ours: GP fit / acquisition (median) | "
                + " | ".join(
                    next(
                        (f"{r['fit_median']:.3f} / {r['acq_median']:.3f}" for r in split if r["n"] == n),
                        "—",
                    )
                    for n in ns
                )
                + " |"
            )
        first = latency_rows[0]
        L.append(
            f"\n{first['repeats']} repeats per cell (fresh study and sampler each, after an untimed "
            f"warm-up), one job at a time, {first['threads']} torch/BLAS thread(s).\n"
        )
    if summary["rounds"]:
        L.append("## Batch mode: overall score after r rounds (a round = one ask of q, then q tells)\n")
        rr = summary["rounds"]
        max_r = max(max(v) for v in rr.values())
        marks = sorted({r for r in (1, 2, 3, 5, 8, 10, 12, 15, 20, 30, 40, max_r) if r <= max_r})
        L.append("| optimizer | " + " | ".join(f"r={r}" for r in marks) + " |")
        L.append("|---" * (len(marks) + 1) + "|")
        for o, v in rr.items():
            L.append(f"| {o} | " + " | ".join(_fmt(v.get(r, v[max(v)])) for r in marks) + " |")
        L.append("\nRound 1 is the Sobol seed design (min(10, max(5, d+1)) trials at once) for both.\n")
    if pipeline:
        L.append("## Pipeline overhead: no-op trials, Airflow DAG run vs plain Python loop\n")
        if "error" in pipeline:
            L.append(f"not measured: {pipeline['error']}\n")
        else:
            pl = pipeline
            L.append("| | seconds | per trial |\n|---|---|---|")
            L.append(
                f"| `airflow dags test` ({pl['dag_complete']} trials) | {pl['dag_run_seconds']:.1f} | "
                f"{pl['dag_seconds_per_trial']:.2f} |"
            )
            L.append(
                f"| plain loop, `run_in_process` ({pl['loop_complete']} trials, process incl. imports) | "
                f"{pl['loop_process_seconds']:.1f} | {pl['loop_seconds_per_trial']:.2f} |"
            )
            L.append(
                f"\nOverhead {pl['overhead_seconds_per_trial']:.2f} s per trial; ratio "
                f"{pl['ratio']:.1f}×. Study span inside the DAG run {pl['dag_study_seconds']:.1f} s, "
                f"the loop alone {pl['loop_seconds']:.1f} s; `airflow db migrate` "
                f"({pl['airflow_db_migrate_seconds']:.0f} s) not counted. Same sweep both ways: "
                f"random sampler, n_init 4, rounds of 4, SQLite Optuna + local MLflow, LocalExecutor.\n"
            )
            if pl.get("note"):
                L.append(f"Note: {pl['note']}.\n")
    L.append("## Bars (issue 4)\n")
    L.append("| bar | met | numbers |\n|---|---|---|")
    for b in bar_rows:
        met = "n/a" if b["met"] is None else ("yes" if b["met"] else "**no**")
        L.append(f"| {b['bar']} | {met} | {b['detail']} |")
    L.append("")
    return "\n".join(L)


def plots(summary: dict[str, Any], latency_rows: list[dict], out: Path) -> list[Path]:
    """convergence.png (median normalized regret per problem), latency.png, rounds.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(fig: Any, name: str, *, xlabel: str, ylabel: str, ax: Any = None) -> None:
        if ax is not None:
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)

    problems = summary["problems"]
    ncol = min(4, len(problems))
    nrow = math.ceil(len(problems) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        for o, curve in summary["curves"][p].items():
            ax.plot(np.arange(1, len(curve) + 1), curve, label=o)
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("trials")
        ax.set_ylabel("median normalized regret")
        ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    save(fig, "convergence.png", xlabel="trials", ylabel="median normalized regret")
    if latency_rows:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for o in sorted({r["optimizer"] for r in latency_rows}):
            rows = [r for r in latency_rows if r["optimizer"] == o]
            ax.plot([r["n"] for r in rows], [r["median"] for r in rows], marker="o", label=f"{o} median")
            ax.plot([r["n"] for r in rows], [r["p95"] for r in rows], ls="--", alpha=0.6, label=f"{o} p95")
        ax.set_xscale("log")
        ax.set_yscale("log")
        save(fig, "latency.png", xlabel="completed trials in the study", ylabel="seconds per ask", ax=ax)
    if summary["rounds"]:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for o, v in summary["rounds"].items():
            ax.plot(list(v), list(v.values()), marker=".", label=o)
        save(fig, "rounds.png", xlabel="rounds", ylabel="overall score", ax=ax)
    return written
