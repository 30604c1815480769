"""Multi-fidelity: our GP unpruned, with Hyperband and today's stand-ins, with BOHB's rung model
(``pruner.model: rungs``, under Hyperband or successive halving), with the joint (configuration,
resource) model (``joint``), Optuna TPE + Hyperband (BOHB-like), and the one-epoch top-k baseline, on
paired seeds, counted in resource (epochs, boosting rounds, training-data fractions).

    nice -n 19 python -m hpo_tasks.bench.experiments.multi_fidelity --seeds 5 --workers 1

Problems: ``curve`` (``hartmann6_curve``, 9 epochs, minimised, 40 trials), ``xgb_digits``
(``xgboost_rounds`` on sklearn digits, 10 classes, 100 boosting rounds reported every 10, 3-fold CV
log-loss, minimised, 30 trials), ``cnn`` (``cnn_classifier`` on sklearn digits, 8 epochs, validation
accuracy, the ``cnn_digits`` space, 40 trials), ``svm_subset`` (an RBF SVC on sklearn digits, the resource
the fraction of the training set in 27ths, levels 1, 3, 9, 27, validation error, minimised, Fabolas's
log-scale box for C and gamma, 30 trials); ``xgb`` (breast_cancer, CV ROC AUC, 12 trials: every
method's first trial is at the target, docs/results/2026-12-01-multi-fidelity.md) is kept, not run by
default.

Every method gets the resource of the unpruned GP sweep: ``R_total = trials x max_resource``. Trials run
in rounds of ``batch_size`` (4) as a DAG run asks them (the seed design first), one after another within a
round; a method stops asking once it has spent ``R_total``. A pruned trial costs the steps it reported, a
complete one ``max_resource``. Top-k: ``N = R_total / 2 / min_resource`` random configurations trained
for ``min_resource``, then the best ``k = R_total / 2 / (max_resource - min_resource)`` continued to the
end (counted as continued: ``max_resource - min_resource`` more each, what a resuming implementation pays).

An objective that fits afresh per level (``svm_subset``, ``fidelity.spend_rule``: ``sum_of_steps``) is
counted by the sum of the levels it trained: a pruned trial the sum of its levels, a complete pruned-method
trial 1 + 3 + 9 + 27 = 40 (1.48 R), the unpruned GP's trial one fit at R (it runs without ``report``);
top-k's screening one fit at ``min_resource`` and its continuation a fresh fit at R
(``k = R_total / 2 / max_resource``): nothing carries over from a smaller fit.
The best of a run counts COMPLETE (fully trained) trials only.

Figures, per problem: the target = the unpruned GP's median final best less ``tol`` (0.5 points of
accuracy / AUC; 0.05 on Hartmann6, about 1.5 % of its range; 0.01 nats of log-loss); per method the
resource at which a seed's best first reached the target (median over seeds, as a share of R_total;
"-" when fewer than half the seeds reached it), and the median best at R_total / 2 and at R_total.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

# method -> (pruner, pruner.model) for the pruned ones; "gp" is unpruned, "topk" the screening baseline
# method -> (pruner, pruner.model, reduction_factor) for the pruned ones; "gp" is unpruned, "topk" the
# screening baseline
PRUNED = {
    "gp_standin": ("hyperband", "standin", 3),
    "gp_rungs": ("hyperband", "rungs", 3),
    "gp_joint": ("hyperband", "joint", 3),
    "gp_rungs_sh": ("successive_halving", "rungs", 3),  # one bracket, the most aggressive
    "gp_rungs_sh4": ("successive_halving", "rungs", 4),
    "gp_joint_sh": ("successive_halving", "joint", 3),
    "gp_rungs_sh_n3": ("successive_halving", "rungs", 3),  # and a seed round of 3 (budget.n_init)
    "tpe_hb": ("hyperband", "standin", 3),  # the model does not apply to TPE
}
# methods that also stop hopeless trials (``pruner.beat_probability``, hpo_tasks.extrapolation)
BEAT = {"gp_rungs_x": 0.05, "gp_rungs_sh_x": 0.05, "gp_rungs_sh_xr": 0.05, "gp_rungs_xr": 0.05}
PRUNED |= {"gp_rungs_x": PRUNED["gp_rungs"], "gp_rungs_sh_x": PRUNED["gp_rungs_sh"]}
PRUNED |= {  # pruner.model: line (rungs, the trials stopped below the level on the rung-to-level line)
    "gp_rungs_xr": ("hyperband", "line", 3),
    "gp_rungs_sh_xr": ("successive_halving", "line", 3),
    "gp_rungs_sh_r": ("successive_halving", "line", 3),
}
METHODS = (
    "gp", "gp_standin", "gp_rungs", "gp_joint", "gp_rungs_sh", "gp_rungs_sh4", "gp_joint_sh",
    "gp_rungs_sh_n3", "gp_rungs_x", "gp_rungs_sh_x", "gp_rungs_sh_r", "gp_rungs_xr", "gp_rungs_sh_xr",
    "tpe_hb", "topk",
)  # fmt: skip
SEED_ROUND = {"gp_rungs_sh_n3": 3}  # budget.n_init where a method sets it (default: the sweep's rule)


@dataclass(frozen=True)
class Problem:
    name: str
    objective: str
    args: dict[str, Any]
    space: dict[str, Any]
    direction: Literal["minimize", "maximize"]
    max_resource: int
    min_resource: int
    trials: int  # the unpruned sweep's trials: R_total = trials * max_resource
    tol: float
    extra: dict[str, Any] = field(default_factory=dict)


_CNN_SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "hidden": {"type": "int", "low": 32, "high": 512, "power_of_two": True},
    "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
}
# Fabolas's box (Klein et al., AISTATS 2017): C and gamma in [e^-10, e^10], log scale
_SVM_SPACE = {
    "C": {"type": "float", "low": math.exp(-10), "high": math.exp(10), "log": True},
    "gamma": {"type": "float", "low": math.exp(-10), "high": math.exp(10), "log": True},
}
_XGB_SPACE = {
    "learning_rate": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
    "max_depth": {"type": "int", "low": 2, "high": 10},
    "subsample": {"type": "float", "low": 0.5, "high": 1.0},
    "colsample_bytree": {"type": "float", "low": 0.3, "high": 1.0},
    "min_child_weight": {"type": "float", "low": 0.1, "high": 20.0, "log": True},
    "reg_lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
}
PROBLEMS = {
    "curve": Problem(
        "curve", "hartmann6_curve", {"epochs": 9}, {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0}
        for i in range(1, 7)}, "minimize", 9, 1, 40, 0.05,
    ),
    "xgb": Problem(
        "xgb", "xgboost_rounds", {"rounds": 100, "report_every": 10}, _XGB_SPACE, "maximize", 100, 10, 12,
        0.005,
    ),
    "xgb_digits": Problem(
        "xgb_digits", "xgboost_rounds",
        {"rounds": 100, "report_every": 10, "dataset": "digits", "metric": "logloss", "n_folds": 3},
        _XGB_SPACE, "minimize", 100, 10, 30, 0.01,
    ),
    "cnn": Problem(
        "cnn", "cnn_classifier", {"dataset": "digits", "epochs": 8, "batch_size": 64, "device": "cpu"},
        _CNN_SPACE, "maximize", 8, 1, 40, 0.005,
    ),
    "svm_subset": Problem(
        "svm_subset", "svm_subset", {"steps": 27}, _SVM_SPACE, "minimize", 27, 1, 30, 0.002,
    ),  # tol 0.002: one more misclassified image of the 540 held out (1 / 540 = 0.00185)
}  # fmt: skip


def _cfg(p: Problem, method: str, seed: int) -> Any:
    from hpo_tasks.config import parse_sweep

    pruner: dict[str, Any] = {"name": "none"}
    if method in PRUNED:
        name, model, eta = PRUNED[method]
        pruner = {"name": name, "min_resource": p.min_resource, "max_resource": p.max_resource,
                  "reduction_factor": eta, "model": model}  # fmt: skip
        if method in BEAT:
            pruner["beat_probability"] = BEAT[method]
    return parse_sweep(
        {
            "name": f"mf_{p.name}",
            "objective": {"name": p.objective, "args": p.args},
            "direction": p.direction,
            "space": p.space,
            "budget": {"max_trials": 10_000, "batch_size": 4}
            | ({"n_init": SEED_ROUND[method]} if method in SEED_ROUND else {}),
            "sampler": {"name": "tpe" if method == "tpe_hb" else "gp"},
            "pruner": pruner,
            "seed": seed,
        },
        source="multi_fidelity bench",
    )


def _run_trial(
    study: Any,
    trial: Any,
    fn: Callable[..., float],
    p: Problem,
    seed: int,
    *,
    judge: bool,
    steps: int | None = None,
    number: int | None = None,
) -> tuple[str, float | None, int]:
    """Run one asked trial through ``hpo_tasks.pruning.Reporter``; (state, value, resource spent).
    An objective that fits afresh per level gets ``report`` only where the pruner judges (an unpruned or
    continued trial: one fit at R; screening: one fit at ``steps``)."""
    import optuna

    from hpo_tasks import seeds
    from hpo_tasks.fidelity import spend_rule
    from hpo_tasks.pruning import Reporter

    spend = spend_rule(fn)
    rep = Reporter(study, trial._trial_id, max_resource=p.max_resource, judge=judge, spend=spend)
    fresh = spend == "sum_of_steps"
    args = dict(p.args)
    if steps is not None:  # top-k's screening: train to `steps` only
        if fresh:
            args["levels"] = [steps]
        else:
            args["epochs" if "epochs" in args else "rounds"] = steps
    kwargs: dict[str, Any] = {"report": rep} if judge or not fresh else {}
    try:
        number = trial.number if number is None else number  # top-k continues its screened trial's seed
        value = fn(dict(trial.params), seed=seeds.trial_seed(seed, number), **kwargs, **args)
    except optuna.TrialPruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return "PRUNED", None, rep.spent
    except Exception:  # noqa: BLE001 - a diverged configuration is a failed trial
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL", None, rep.spent
    study.tell(trial, value)
    return "COMPLETE", value, rep.spent if fresh and kwargs else steps or p.max_resource


def run(problem: str, method: str, seed: int) -> dict[str, Any]:
    """One study; its trajectory ``[(resource so far, best so far or None), ...]`` per finished trial."""
    import optuna

    from hpo_tasks.objectives import resolve_objective
    from hpo_tasks.record import make_pruner
    from hpo_tasks.samplers import make_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    p = PROBLEMS[problem]
    cfg = _cfg(p, method, seed)
    fn = resolve_objective(p.objective)
    budget = p.trials * p.max_resource
    sign = 1.0 if p.direction == "maximize" else -1.0
    used, best, traj, states = 0, None, [], []

    def note(state: str, value: float | None, spent: int) -> None:
        nonlocal used, best
        used += spent
        if state == "COMPLETE" and value is not None and (best is None or sign * value > sign * best):
            best = value
        traj.append((used, best))
        states.append(state)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "topk":
            from hpo_tasks.space import SearchSpace

            dists = SearchSpace.from_config(cfg).distributions()
            study = optuna.create_study(
                direction=p.direction, sampler=optuna.samplers.RandomSampler(seed=seed)
            )
            from hpo_tasks.fidelity import spend_rule

            # a fresh fit per level: the continuation is a fit at R, nothing carries over from screening
            more = p.max_resource if spend_rule(fn) == "sum_of_steps" else p.max_resource - p.min_resource
            n = budget // 2 // p.min_resource
            k = max(1, budget // 2 // more)
            screened = []
            for _ in range(n):
                t = study.ask(dists)
                state, value, spent = _run_trial(study, t, fn, p, seed, judge=False, steps=p.min_resource)
                used += spent
                traj.append((used, None))
                states.append("SCREEN")
                if value is not None:
                    screened.append((sign * value, t.number, t.params))
            screened.sort(key=lambda e: -e[0])
            for _, number, params in screened[:k]:
                study.enqueue_trial(params)
                t = study.ask(dists)
                state, value, _ = _run_trial(study, t, fn, p, seed, judge=False, number=number)
                note(state, value, more)
        else:
            # one study name per (problem, seed): Hyperband's brackets (a hash of it) are paired too
            study = optuna.create_study(
                study_name=f"mf_{problem}_{seed}",
                direction=p.direction,
                pruner=make_pruner(cfg),
            )
            from hpo_tasks.space import SearchSpace

            dists = SearchSpace.from_config(cfg).distributions()
            while used < budget:
                n = cfg.n_init if not study.trials else cfg.budget.batch_size  # as a DAG run asks
                study.sampler = make_sampler(cfg, n_asked=len(study.trials))
                batch = [study.ask(dists) for _ in range(n)]
                for t in batch:
                    if used >= budget:  # asked, never run: out of resource
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                        continue
                    note(*_run_trial(study, t, fn, p, seed, judge=method != "gp"))
    return {
        "problem": problem,
        "method": method,
        "seed": seed,
        "budget": budget,
        "trajectory": traj,
        "n_trials": len(states),
        "n_pruned": states.count("PRUNED"),
        "n_complete": states.count("COMPLETE"),
    }


def _job(args: tuple[str, str, int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    row = run(*args)
    row["wall_s"] = round(time.perf_counter() - t0, 1)  # under the machine's load: not a timed figure
    return row


def best_at(row: dict[str, Any], resource: float) -> float | None:
    out = None
    for used, best in row["trajectory"]:
        if used <= resource:
            out = best
    return out


def resource_to(row: dict[str, Any], target: float, sign: float) -> float:
    for used, best in row["trajectory"]:
        if best is not None and sign * best >= sign * target:
            return used
    return math.inf


def table(rows: list[dict[str, Any]], tols: dict[str, float] | None = None) -> str:
    out = [
        "| problem | method | seeds | R_total | resource to target (share of R_total) | reached | "
        "best @ R/2 | best @ R | trials | pruned |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in PROBLEMS.items():
        mine = [r for r in rows if r["problem"] == name]
        if not mine:
            continue
        sign = 1.0 if p.direction == "maximize" else -1.0
        gp_best = [b for r in mine if r["method"] == "gp" if (b := best_at(r, r["budget"])) is not None]
        if not gp_best:
            continue
        tol = (tols or {}).get(name, p.tol)
        target = statistics.median(gp_best) - sign * tol
        for m in METHODS:
            rs = sorted((r for r in mine if r["method"] == m), key=lambda r: r["seed"])
            if not rs:
                continue
            budget = rs[0]["budget"]
            reach = sorted(resource_to(r, target, sign) for r in rs)
            med = statistics.median(reach)
            n_reached = sum(math.isfinite(x) for x in reach)
            share = f"{med:.0f} ({med / budget:.2f})" if math.isfinite(med) else "-"

            def med_best(
                frac: float, rs: list[dict[str, Any]] = rs, budget: int = budget, sign: float = sign
            ) -> str:
                at = [best_at(r, frac * budget) for r in rs]
                v = sign * statistics.median([sign * b if b is not None else -math.inf for b in at])
                return f"{v:.4f}" if math.isfinite(v) else "-"

            out.append(
                f"| {name} | {m} | {len(rs)} | {budget} | {share} | {n_reached}/{len(rs)} | "
                f"{med_best(0.5)} | {med_best(1.0)} | {statistics.median(r['n_trials'] for r in rs):.0f} | "
                f"{statistics.median(r['n_pruned'] for r in rs):.0f} |"
            )
        out.append(
            f"| {name} | target | | | {target:.4f} (unpruned GP median best, {tol:g} worse) | | | | | |"
        )
    return "\n".join(out)


def bars(rows: list[dict[str, Any]], method: str = "gp_rungs", tols: dict[str, float] | None = None) -> str:
    """The issue's bars for ``method``, per problem: the unpruned best (within tol) on at most half its
    resource (median over seeds), and a better median best at equal resource (R_total) than TPE +
    Hyperband and top-k."""
    out = []
    for name, p in PROBLEMS.items():
        mine = [r for r in rows if r["problem"] == name]
        sign = 1.0 if p.direction == "maximize" else -1.0
        gp_best = [b for r in mine if r["method"] == "gp" if (b := best_at(r, r["budget"])) is not None]
        by = {m: [r for r in mine if r["method"] == m] for m in METHODS}
        if not gp_best or not by[method]:
            continue
        tol = (tols or {}).get(name, p.tol)
        target = statistics.median(gp_best) - sign * tol
        share = statistics.median(resource_to(r, target, sign) / r["budget"] for r in by[method])

        def med(m: str, sign: float = sign, by: dict[str, list[dict[str, Any]]] = by) -> float:
            vals = [best_at(r, r["budget"]) for r in by[m]]
            if not vals:
                return math.nan
            return sign * statistics.median([sign * v if v is not None else -math.inf for v in vals])

        beat = [m for m in ("tpe_hb", "topk") if by[m] and sign * med(method) > sign * med(m)]
        out.append(
            f"- {name} (tol {tol:g}): {method} reaches the target with {share:.2f} of R_total (bar <= 0.50: "
            f"{'met' if share <= 0.5 else 'not met'}); median best at R_total {med(method):.4f} vs "
            f"tpe_hb {med('tpe_hb'):.4f}, topk {med('topk'):.4f} (bar: beat both: "
            f"{'met' if len(beat) == 2 else 'not met'})"
        )
    return "\n".join(out)


def per_seed(rows: list[dict[str, Any]]) -> str:
    """Per problem and method, each seed's best at R_total (seeds in order; "-": none complete)."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    out = ["| problem | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name in PROBLEMS:
        mine = [r for r in rows if r["problem"] == name]
        if not mine:
            continue
        cells = []
        for m in methods:
            rs = sorted((r for r in mine if r["method"] == m), key=lambda r: r["seed"])
            cells.append(
                ", ".join(f"{b:.4f}" if (b := best_at(r, r["budget"])) is not None else "-" for r in rs)
            )
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="paired seeds 0 .. N-1")
    ap.add_argument("--problems", default="curve,xgb_digits,cnn,svm_subset")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--tol",
        action="append",
        default=[],
        help="problem=tolerance, overriding a problem's (e.g. xgb=0.001)",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="scale every problem's trials (smoke runs)")
    ap.add_argument("--out", default="/tmp/mf_bench/results.jsonl", help="JSON lines; runs there are kept")
    args = ap.parse_args(argv)
    if args.scale != 1.0:
        for k, p in list(PROBLEMS.items()):
            PROBLEMS[k] = replace(p, trials=max(2, round(p.trials * args.scale)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {(r["problem"], r["method"], r["seed"]) for r in rows}
    jobs = [  # seed-major: a run cut short still has every problem and method on its first seeds
        (pr, m, s)
        for s in range(args.seeds)
        for pr in args.problems.split(",")
        for m in args.methods.split(",")
        if (pr, m, s) not in done
    ]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers) as pool, out.open("a") as f:
            for row in pool.imap_unordered(_job, jobs):
                f.write(json.dumps(row) + "\n")
                f.flush()
                rows.append(row)
                print(row["problem"], row["method"], row["seed"], best_at(row, row["budget"]), flush=True)
    else:
        with out.open("a") as f:
            for job in jobs:
                row = _job(job)
                f.write(json.dumps(row) + "\n")
                f.flush()
                rows.append(row)
                print(row["problem"], row["method"], row["seed"], best_at(row, row["budget"]), row["wall_s"],
                      flush=True)  # fmt: skip
    tols = {k: float(v) for k, _, v in (t.partition("=") for t in args.tol)}
    print(table(rows, tols))
    print()
    for m in METHODS:
        if m.startswith("gp_") and any(r["method"] == m for r in rows):
            print(bars(rows, m, tols=tols))
    print()
    print(per_seed(rows))


if __name__ == "__main__":
    main()
