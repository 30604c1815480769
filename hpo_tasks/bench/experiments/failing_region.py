"""Failed trials and our GP: Branin whose objective raises on part of its box, GP without and with the
feasibility model (``GPBatchSampler(model_failures=...)``) on paired seeds.

    python -m hpo_tasks.bench.experiments.failing_region --seeds 5 --trials 30 --fail-above 2.5

``--fail-above A``: the objective raises for ``x1 > A``. Branin's ``x1`` spans [-5, 10]: ``2.5`` fails on
half of the box, two of its three minima (the region of FIELD_NOTES' baseline, which calls it "a third");
``5.0`` fails on a third of it, one minimum. The feasible optimum is 0.397887 at (-pi, 12.275) either way.

Ask/tell rounds as a DAG run drives them (the seed design of ``n_init`` trials in one round, then rounds
of ``budget.batch_size``, 4 by default), with ``GPBatchSampler`` built as ``make_sampler`` builds it for a
sweep file with ``sampler: {name: gp}``. Headline: the share of the GP phase's suggestions (trials the
sampler tagged ``phase: gp``, i.e. after the seed design) that failed, per seed and as the median, off
and on, with their ratio (the bar: on / off <= 1/3); also the best value found and, for comparison with
FIELD_NOTES' ``hpo run`` figures, the share of trials after the 5th completed one that failed
(``after5``, which counts seed-design trials too).
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from typing import Any

FAIL_ABOVE = 2.5  # default: x1 > FAIL_ABOVE raises
SPACE = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0},
    "x2": {"type": "float", "low": 0.0, "high": 15.0},
}
KEYS = ("gp_failed_share", "best", "failed_share", "n_gp")


def objective(params: dict[str, Any], *, fail_above: float = FAIL_ABOVE) -> float:
    """Branin, raising where ``x1 > fail_above``."""
    from hpo_tasks.objectives.synthetic import branin

    if params["x1"] > fail_above:
        raise RuntimeError(f"crashed at x1={params['x1']:.3f}")
    return branin(params, seed=0)


def run(seed: int, trials: int, *, model_failures: bool, fail_above: float = FAIL_ABOVE) -> dict[str, Any]:
    """One study of ``trials`` trials: GP-phase failed share, best value, failed share after the 5th
    completed trial."""
    import optuna
    from optuna.trial import TrialState

    from hpo_tasks.bench.optimizers import sweep_config
    from hpo_tasks.record import suggest_info
    from hpo_tasks.samplers import make_sampler
    from hpo_tasks.space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cfg = sweep_config(SPACE, budget=trials, seed=seed)
    space = SearchSpace.from_config(cfg)
    sampler = make_sampler(cfg, n_asked=0, gp_options={"model_failures": model_failures})
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = space.distributions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(study.trials) < trials:
            n = cfg.n_init if not study.trials else cfg.budget.batch_size
            batch = [study.ask(dists) for _ in range(min(n, trials - len(study.trials)))]
            for t in batch:
                try:
                    study.tell(t, objective(t.params, fail_above=fail_above))
                except RuntimeError:
                    study.tell(t, state=TrialState.FAIL)
    states = [t.state for t in sorted(study.trials, key=lambda t: t.number)]
    done = [i for i, s in enumerate(states) if s == TrialState.COMPLETE]
    after = states[done[4] + 1 :] if len(done) >= 5 else []
    failed_share = sum(s == TrialState.FAIL for s in after) / len(after) if after else float("nan")
    gp = [t.state for t in study.trials if suggest_info(t).get("phase") == "gp"]
    gp_share = sum(s == TrialState.FAIL for s in gp) / len(gp) if gp else float("nan")
    best = min((t.value for t in study.trials if t.value is not None), default=float("nan"))
    return {
        "seed": seed,
        "gp_failed_share": gp_share,
        "best": best,
        "failed_share": failed_share,
        "n_gp": len(gp),
    }


def table(rows: dict[bool, list[dict[str, Any]]]) -> str:
    """Markdown: per seed and median, off / on, and the ratio of the medians."""
    out = [
        "| seed | GP-phase failed, off | on | best, off | on | after5 failed, off | on | GP trials, off | on"
        " |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def line(label: str, off: dict[str, float], on: dict[str, float]) -> str:
        return f"| {label} | " + " | ".join(f"{off[k]:.3g} | {on[k]:.3g}" for k in KEYS) + " |"

    for off, on in zip(rows[False], rows[True], strict=True):
        out.append(line(str(off["seed"]), off, on))
    med = {v: {k: statistics.median(r[k] for r in rows[v]) for k in KEYS} for v in rows}
    out.append(line("**median**", med[False], med[True]))
    off, on = med[False]["gp_failed_share"], med[True]["gp_failed_share"]
    ratio = on / off if off else float("nan")
    out.append("")
    out.append(
        f"GP-phase failed share, median: off {off:.3f}, on {on:.3f}, ratio {ratio:.2f} (bar <= 0.33); "
    )
    out.append(f"median best: off {med[False]['best']:.3f}, on {med[True]['best']:.3f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="paired seeds 0 .. N-1")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--fail-above", type=float, default=FAIL_ABOVE, help="the objective raises for x1 > this")
    args = ap.parse_args(argv)
    rows = {
        v: [run(s, args.trials, model_failures=v, fail_above=args.fail_above) for s in range(args.seeds)]
        for v in (False, True)
    }
    print(f"Branin failing for x1 > {args.fail_above}, {args.trials} trials, seeds 0-{args.seeds - 1}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
