"""Failed trials and our GP: Branin whose objective raises for x1 > 2.5 (a third of the box, two of its
three minima; the feasible optimum is 0.397887 at (-pi, 12.275)).

    python -m hpo_tasks.bench.experiments.failing_region --seeds 5 --trials 30

Ask/tell rounds as a DAG run drives them (the seed design of ``n_init`` trials in one round, then rounds
of ``budget.batch_size``, 4 by default), with ``GPBatchSampler`` built as ``make_sampler`` builds it for a
sweep file with ``sampler: {name: gp}``, once without the feasibility model (``model_failures=False``:
failed trials ignored, as before) and once with it, on paired seeds. Printed per seed and as medians: the
share of trials after the 5th completed one that failed (``after5``), the share of the GP's own
suggestions that failed (``gp``: seed-design trials left out), and the best value found.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from typing import Any

FAIL_ABOVE = 2.5  # x1 > FAIL_ABOVE raises
SPACE = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0},
    "x2": {"type": "float", "low": 0.0, "high": 15.0},
}


def objective(params: dict[str, Any]) -> float:
    """Branin, raising where ``x1 > FAIL_ABOVE``."""
    from hpo_tasks.objectives.synthetic import branin

    if params["x1"] > FAIL_ABOVE:
        raise RuntimeError(f"crashed at x1={params['x1']:.3f}")
    return branin(params, seed=0)


def run(seed: int, trials: int, *, model_failures: bool) -> dict[str, Any]:
    """One study of ``trials`` trials: failed share after the 5th completed trial, best value."""
    import optuna
    from optuna.trial import TrialState

    from hpo_tasks.bench.optimizers import sweep_config
    from hpo_tasks.gp.sampler import GPBatchSampler
    from hpo_tasks.record import suggest_info
    from hpo_tasks.space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cfg = sweep_config(SPACE, budget=trials, seed=seed)
    space = SearchSpace.from_config(cfg)
    sc = cfg.sampler
    sampler = GPBatchSampler(
        space,
        n_init=cfg.n_init,
        seed=cfg.seed,
        acquisition=sc.acquisition,
        beta=sc.beta,
        init_design=sc.init_design,
        device=sc.device,
        trust_region=cfg.uses_trust_region,
        batch_size=cfg.budget.batch_size,
        noise=sc.noise,
        noise_std=sc.noise_std,
        model_failures=model_failures,
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = space.distributions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(study.trials) < trials:
            n = cfg.n_init if not study.trials else cfg.budget.batch_size
            batch = [study.ask(dists) for _ in range(min(n, trials - len(study.trials)))]
            for t in batch:
                try:
                    study.tell(t, objective(t.params))
                except RuntimeError:
                    study.tell(t, state=TrialState.FAIL)
    states = [t.state for t in sorted(study.trials, key=lambda t: t.number)]
    done = [i for i, s in enumerate(states) if s == TrialState.COMPLETE]
    after = states[done[4] + 1 :] if len(done) >= 5 else []
    failed_share = sum(s == TrialState.FAIL for s in after) / len(after) if after else float("nan")
    gp = [t.state for t in study.trials if suggest_info(t).get("phase") == "gp"]
    gp_share = sum(s == TrialState.FAIL for s in gp) / len(gp) if gp else float("nan")
    best = min((t.value for t in study.trials if t.value is not None), default=float("nan"))
    return {"seed": seed, "failed_share": failed_share, "gp_failed_share": gp_share, "best": best}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="paired seeds 0 .. N-1")
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args(argv)
    rows = {v: [run(s, args.trials, model_failures=v) for s in range(args.seeds)] for v in (False, True)}
    keys = ("failed_share", "gp_failed_share", "best")
    print("seed  after5 off  after5 on  gp off  gp on  best off  best on")

    def line(label: str, off: dict[str, float], on: dict[str, float]) -> str:
        cells = [f"{off[k]:.3f}  {on[k]:.3f}" for k in keys]
        return f"{label:>4}  " + "  ".join(cells)

    for off, on in zip(rows[False], rows[True], strict=True):
        print(line(str(off["seed"]), off, on))
    med = {v: {k: statistics.median(r[k] for r in rows[v]) for k in keys} for v in rows}
    print(line("med", med[False], med[True]))


if __name__ == "__main__":
    main()
