"""From raw traces to the tables: scores at checkpoints, paired differences, trials to reach random's
median, suggest latency, batch mode against rounds, the bars of issue 4 (``targets.yaml``) and the PNGs.
``report_md`` writes the Markdown."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpo_tasks.bench import scoring
from hpo_tasks.bench.problems import PILOT_PROBLEMS, PROBLEMS


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


def targets() -> dict[str, Any]:
    """Issue 4's bars and the pilot figures, from ``targets.yaml`` next to this module."""
    import yaml

    return yaml.safe_load((Path(__file__).parent / "targets.yaml").read_text())


def bars(summary: dict[str, Any], latency_rows: list[dict]) -> list[dict[str, Any]]:
    """Issue 4's bars (``targets.yaml``), each with the numbers it was judged on; a bar whose numbers
    this run lacks is left out."""
    spec = targets()
    ours = spec["ours"]
    cps = summary["checkpoints"]
    out = []
    for bar in spec["bars"]:
        t = cps[0] if bar.get("checkpoint") == "first" else cps[-1]
        label = bar["label"].format(t=t, value=bar.get("value"))
        judged = _JUDGES[bar["kind"]](bar, t=t, ours=ours, summary=summary, latency_rows=latency_rows)
        if judged is not None:
            met, detail = judged
            out.append({"bar": label, "met": met, "detail": detail})
    return out


def _score(summary: dict[str, Any], o: str, t: int) -> float | None:
    return summary["overall"].get(o, {}).get(t)


def _score_at_least(bar: dict, *, t: int, ours: str, summary: dict, **_: Any) -> tuple[bool, str] | None:
    mine = _score(summary, ours, t)
    theirs = max((v for p in bar["peers"] if (v := _score(summary, p, t)) is not None), default=None)
    if mine is None or theirs is None:
        return None
    return mine >= theirs, f"{mine:.1f} vs {theirs:.1f}"


def _reach_within(bar: dict, *, ours: str, summary: dict, **_: Any) -> tuple[bool, str]:
    n = bar["trials"]
    misses = [
        p
        for p, r in summary["reach"].items()
        if ours in r and (r[ours]["median"] is None or r[ours]["median"] > n)
    ]
    return not misses, "all problems" if not misses else "misses: " + ", ".join(misses)


def _latency_below(bar: dict, *, ours: str, latency_rows: list[dict], **_: Any) -> tuple[bool, str] | None:
    rows = [r for r in latency_rows if r["optimizer"] == ours and r["n"] <= bar["max_n"]]
    if not rows:
        return None
    worst = max(rows, key=lambda r: r["median"])
    return worst["median"] < bar["seconds"], f"worst median {worst['median']:.2f} s at n={worst['n']}"


def _paired_gain(bar: dict, *, t: int, ours: str, summary: dict, **_: Any) -> tuple[bool, str] | None:
    peer = bar["peer"]
    if peer == "best":
        peers = [o for o in summary["overall"] if not o.startswith("ours")]
        if not peers:
            return None
        peer = max(peers, key=lambda o: summary["overall"][o][t])
    row = next(
        (r for r in summary["paired"] if r["ours"] == ours and r["peer"] == peer and r["trials"] == t), None
    )
    if not row:
        return None
    met = row["diff"] >= bar["value"] and row["lo"] > 0
    return met, f"vs {peer}: {row['diff']:+.1f} [{row['lo']:+.1f}, {row['hi']:+.1f}]"


def _overall_at_least(bar: dict, *, t: int, ours: str, summary: dict, **_: Any) -> tuple[bool, str] | None:
    mine = _score(summary, ours, t)
    return None if mine is None else (mine >= bar["value"], f"{mine:.1f}")


_JUDGES: dict[str, Callable[..., tuple[bool, str] | None]] = {
    "score_at_least": _score_at_least,
    "reach_within": _reach_within,
    "latency_below": _latency_below,
    "paired_gain": _paired_gain,
    "overall_at_least": _overall_at_least,
}


def _opt_order(o: str) -> tuple[int, str]:
    order = ["ours-q1", "ours-q4", "optuna-gp", "botorch", "tpe", "random"]
    return (order.index(o) if o in order else len(order), o)


def _fmt(v: float | None, nd: int = 1) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


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
