"""The parent run's plots, as PNG files: convergence (best so far, seed phase marked), parallel
coordinates, parameter importance, and slice and contour plots of the two most important parameters.

Rendered with matplotlib's Agg backend (no display, no browser), Optuna's matplotlib visualisations for
all but the convergence plot. A plot that cannot be drawn (too few trials, one parameter) is left out with
a reason, never failing the sweep.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done = sorted(
        (t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE),
        key=lambda t: t.number,
    )
    xs = [t.number for t in done]
    ys = [float(t.value) for t in done if t.value is not None]
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max(best[-1], y) if maximize else min(best[-1], y)))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.axvspan(-0.5, n_init - 0.5, color="0.9", label=f"seed phase ({n_init} Sobol trials)")
    ax.scatter(xs, ys, s=14, color="tab:blue", label="trial value")
    ax.step(xs, best, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel("objective value")
    ax.set_title(f"{study.study_name}: convergence ({'max' if maximize else 'min'}imise)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render_all(study: optuna.Study, *, n_init: int, out_dir: Path) -> dict[str, str]:
    """Write every plot that can be drawn into ``out_dir``: ``{file name: "ok" | reason left out}``."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out: dict[str, str] = {}
    n_complete = sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    if n_complete == 0:
        return {"convergence.png": "no completed trial"}
    convergence(study, n_init=n_init, path=out_dir / "convergence.png")
    out["convergence.png"] = "ok"
    top = top_params(study)
    plots: list[tuple[str, Any]] = [
        ("parallel_coordinates.png", lambda: ovm.plot_parallel_coordinate(study)),
        ("param_importance.png", lambda: ovm.plot_param_importances(study)),
        ("slice_top2.png", lambda: ovm.plot_slice(study, params=top)),
    ]
    if len(top) >= 2:
        plots.append(("contour_top2.png", lambda: ovm.plot_contour(study, params=top)))
    else:
        out["contour_top2.png"] = "needs two parameters"
    for name, draw in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks these plots experimental
                fig = _figure_of(draw())
                fig.set_size_inches(max(fig.get_size_inches()[0], 7), max(fig.get_size_inches()[1], 4))
                fig.tight_layout()
            fig.savefig(out_dir / name, dpi=100)
            plt.close(fig)
            out[name] = "ok"
        except (ValueError, RuntimeError, IndexError) as err:
            log.info("plot %s left out: %s", name, err)
            out[name] = f"left out: {err}"
    return out
