"""The parent run's plots, as PNG files: convergence (best so far, seed phase marked), parallel
coordinates, parameter importance, and slice and contour plots of the two most important parameters.

Rendered with matplotlib's Agg backend (no display, no browser), Optuna's matplotlib visualisations for
all but the convergence plot. A plot that cannot be drawn (too few trials, one parameter) is left out with
a reason, never failing the sweep.

Every figure is laid out by matplotlib's constrained layout at MLflow's artifact-view size (at least 7 x 4.8
inches at 100 dpi): titles carrying a study name are wrapped to the figure's width, colour bars take their
own column next to the panels they belong to, parallel-coordinate axis names are slanted away from the
neighbouring axis. ``tests/unit/test_plots.py`` measures it (no title outside the figure, no colour bar on
a panel, no colliding labels).

Replicate trials (``replicate:``, the best configurations re-run with new seeds after the search) are no
search progress: the convergence plot draws them apart (grey crosses, after the search, outside the best
so far) and the Optuna plots see the search trials only, so a repeated configuration does not weigh
several times in the importance, slice and contour plots.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import optuna
from optuna.trial import TrialState

from hpo_tasks.record import is_replicate, search_trials

log = logging.getLogger(__name__)

MIN_SIZE_IN = (7.0, 4.8)  # width, height: what MLflow's artifact view shows without scrolling
DPI = 100


def titled(study_name: str, what: str, *, width_in: float = MIN_SIZE_IN[0], fontsize: float = 12) -> str:
    """``"<study name>: <what>"``, broken into lines that fit ``width_in`` inches (study names run long:
    ``sweep:scheduled__2026-12-01T02:00:00+00:00``)."""
    import textwrap

    chars = max(20, int(0.85 * width_in * 72 / (0.6 * fontsize)))  # a character ~0.6 em; 15 % margin
    return textwrap.fill(f"{study_name}: {what}", width=chars, break_on_hyphens=False)


def _figure_of(ax: Any) -> Any:
    """Optuna returns an Axes or an array of them; either way, their figure."""
    import numpy as np

    first = np.asarray(ax, dtype=object).ravel()[0]
    return first.figure


def top_params(study: optuna.Study, k: int = 2) -> list[str]:
    """The ``k`` most important parameters (fANOVA), falling back to space order on failure."""
    try:
        importance = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as err:
        log.info("parameter importance unavailable: %s", err)
        complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        return list(complete[0].params)[:k] if complete else []
    return list(importance)[:k]


def convergence(study: optuna.Study, *, n_init: int, path: Path) -> Path:
    """Each trial's value and the best value so far, by trial number, seed trials shaded."""
    import matplotlib.pyplot as plt

    fig = convergence_figure(study, n_init=n_init)
    fig.savefig(path)
    plt.close(fig)
    return path


def convergence_figure(study: optuna.Study, *, n_init: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done = sorted(
        (
            t
            for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE and t.value is not None
        ),
        key=lambda t: t.number,
    )
    search = search_trials(done)
    xs = [t.number for t in search]
    ys = [cast(float, t.value) for t in search]
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max(best[-1], y) if maximize else min(best[-1], y)))
    fig, ax = plt.subplots(figsize=MIN_SIZE_IN, dpi=DPI, layout="constrained")
    ax.axvspan(-0.5, n_init - 0.5, color="0.9", label=f"seed phase ({n_init} Sobol trials)")
    ax.scatter(xs, ys, s=14, color="tab:blue", label="trial value")
    ax.step(xs, best, where="post", color="tab:red", label="best so far")
    reps = [t for t in done if is_replicate(t)]
    if reps:
        ax.scatter(
            [t.number for t in reps],
            [cast(float, t.value) for t in reps],
            s=18,
            marker="x",
            color="0.45",
            label="replicates of the best (not searched)",
        )
    ax.set_xlabel("trial number")
    ax.set_ylabel("objective value")
    ax.set_title(titled(study.study_name, f"convergence ({'max' if maximize else 'min'}imise)"))
    ax.legend(loc="best", fontsize=8)
    return fig


def search_view(study: optuna.Study) -> optuna.Study:
    """``study`` itself when it holds no replicate trial, else an in-memory copy of its search trials."""
    trials = study.get_trials(deepcopy=False)
    search = search_trials(trials)
    if len(search) == len(trials):
        return study
    view = optuna.create_study(
        study_name=study.study_name, directions=study.directions, storage=optuna.storages.InMemoryStorage()
    )
    view.add_trials(search)
    return view


def render_all(study: optuna.Study, *, n_init: int, out_dir: Path) -> dict[str, str]:
    """Write every plot that can be drawn into ``out_dir``: ``{file name: "ok" | reason left out}``."""
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    for name, fig in draw_all(study, n_init=n_init):
        if isinstance(fig, str):
            out[name] = fig
            continue
        try:
            fig.savefig(out_dir / name, dpi=DPI)
            out[name] = "ok"
        except (ValueError, RuntimeError, IndexError) as err:  # never fail the sweep over a plot
            log.info("plot %s left out: %s", name, err)
            out[name] = f"left out: {err}"
        finally:
            plt.close(fig)
    return out


def draw_all(study: optuna.Study, *, n_init: int) -> Iterator[tuple[str, Any]]:
    """``(file name, figure)`` for each plot that can be drawn, ``(file name, reason)`` for the others."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    n_complete = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    if n_complete == 0:
        yield "convergence.png", "no completed trial"
        return
    yield "convergence.png", convergence_figure(study, n_init=n_init)
    study = search_view(study)
    top = top_params(study)
    plots: list[tuple[str, Any]] = [
        ("parallel_coordinates.png", lambda: ovm.plot_parallel_coordinate(study)),
        ("param_importance.png", lambda: ovm.plot_param_importances(study)),
        ("slice_top2.png", lambda: ovm.plot_slice(study, params=top)),
    ]
    if len(top) >= 2:
        plots.append(("contour_top2.png", lambda: ovm.plot_contour(study, params=top)))
    else:
        yield "contour_top2.png", "needs two parameters"
    for name, draw in plots:
        try:
            # Constrained layout from the start: a colour bar made with ``colorbar(ax=panels)`` then gets
            # its own column (tight_layout afterwards moved the panels under it).
            with warnings.catch_warnings(), plt.rc_context({"figure.constrained_layout.use": True}):
                warnings.simplefilter("ignore")  # Optuna marks these plots experimental
                fig = _figure_of(draw())
                _fit(fig, parallel=name.startswith("parallel"))
        except (ValueError, RuntimeError, IndexError) as err:
            log.info("plot %s left out: %s", name, err)
            yield name, f"left out: {err}"
            continue
        yield name, fig


def _fit(fig: Any, *, parallel: bool) -> None:
    """Grow an Optuna figure to at least ``MIN_SIZE_IN``; slant parallel-coordinate axis names."""
    width, height = fig.get_size_inches()
    if parallel:
        ax = fig.axes[0]  # the first dimension's axes; the others are its twins, then the colour bar
        labels = ax.get_xticklabels()
        width = max(width, 1.3 * len(labels) + 1.5)  # room for each axis' tick labels and the colour bar
        for label in labels:  # anchored at its axis and slanted left: clear of the neighbouring names
            label.set(rotation=40, ha="right", rotation_mode="anchor", fontsize=9)
    fig.set_size_inches(max(width, MIN_SIZE_IN[0]), max(height, MIN_SIZE_IN[1]))


def render_pareto(
    study: optuna.Study, cfg: Any, *, reference_point: dict[str, float] | None, out_dir: Path
) -> dict[str, str]:
    """A multi-objective sweep's plots: ``pareto_front.png`` (the first two objectives: the Pareto set
    joined as a staircase, dominated feasible trials, infeasible ones, the reference point) and
    ``hypervolume.png`` (hypervolume after each finished trial, seed phase shaded)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from hpo_tasks import outcomes

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    if not done:
        return {"pareto_front.png": "no completed trial", "hypervolume.png": "no completed trial"}
    names = [o.metric for o in cfg.objectives]
    front = outcomes.pareto_trials(trials, cfg)
    on_front = {t.number for t in front}
    fig, ax = plt.subplots(figsize=(MIN_SIZE_IN[0], 5), dpi=DPI, layout="constrained")
    infeasible = [t for t in done if not outcomes.is_feasible(t)]
    rest = [t for t in done if outcomes.is_feasible(t) and t.number not in on_front]
    if infeasible:
        xy = np.array([t.values[:2] for t in infeasible])  # (n, 2)
        ax.scatter(
            xy[:, 0], xy[:, 1], marker="x", color="tab:red", s=20, label=f"infeasible ({len(infeasible)})"
        )
    if rest:
        xy = np.array([t.values[:2] for t in rest])  # (n, 2)
        ax.scatter(xy[:, 0], xy[:, 1], color="0.6", s=16, label=f"dominated ({len(rest)})")
    if front:
        pts = np.array(sorted(t.values[:2] for t in front))
        ax.step(pts[:, 0], pts[:, 1], where="post" if cfg.objectives[1].direction == "minimize" else "pre",
                color="tab:blue", lw=1, alpha=0.6)  # fmt: skip
        ax.scatter(pts[:, 0], pts[:, 1], color="tab:blue", s=30, label=f"Pareto set ({len(front)})")
    if reference_point:
        ax.scatter([reference_point[names[0]]], [reference_point[names[1]]], marker="*", s=120,
                   color="black", label="reference point")  # fmt: skip
    ax.set_xlabel(f"{names[0]} ({cfg.objectives[0].direction})")
    ax.set_ylabel(f"{names[1]} ({cfg.objectives[1].direction})")
    more = f" (first two of {len(names)} objectives)" if len(names) > 2 else ""
    ax.set_title(titled(study.study_name, f"Pareto front{more}"))
    ax.legend(loc="best", fontsize=8)
    fig.savefig(out_dir / "pareto_front.png")
    plt.close(fig)
    out = {"pareto_front.png": "ok"}
    if not reference_point:
        out["hypervolume.png"] = "no reference point (no feasible trial)"
        return out
    hv = outcomes.hypervolume_history(trials, cfg, reference_point)
    finished = sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number)
    xs, ys, last = [], [], 0.0
    for t, v in zip(finished, hv, strict=True):
        last = v if v is not None else last
        xs.append(t.number)
        ys.append(last)
    fig, ax = plt.subplots(figsize=MIN_SIZE_IN, dpi=DPI, layout="constrained")
    ax.axvspan(-0.5, cfg.n_init - 0.5, color="0.9", label=f"seed phase ({cfg.n_init} trials)")
    ax.step(xs, ys, where="post", color="tab:red", label="hypervolume")
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume")
    ax.set_title(titled(study.study_name, "hypervolume"))
    ax.legend(loc="best", fontsize=8)
    fig.savefig(out_dir / "hypervolume.png")
    plt.close(fig)
    out["hypervolume.png"] = "ok"
    return out
