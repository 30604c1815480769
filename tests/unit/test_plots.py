"""The parent run's plots at the size MLflow shows them, for a study with a long (real-looking) name:
nothing drawn outside the figure, no colour bar over another panel, no two labels on top of each other.
PNGs land in ``test-artifacts/plots/`` (git-ignored) for a look by eye."""

from __future__ import annotations

import itertools
from typing import Any

import optuna
import pytest

from hpo_tasks import plots
from tests.conftest import REPO

OUT = REPO / "test-artifacts" / "plots"
LONG_NAME = "xgb_breast_cancer_nightly_production:scheduled__2026-12-01T02:00:00.123456+00:00"


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=LONG_NAME, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )

    def objective(t: optuna.Trial) -> float:
        lr = t.suggest_float("learning_rate", 1e-3, 0.3, log=True)
        depth = t.suggest_int("max_depth", 3, 12)
        n = t.suggest_int("n_estimators", 50, 500)
        sub = t.suggest_float("subsample", 0.5, 1.0)
        col = t.suggest_float("colsample_bytree", 0.5, 1.0)
        return 0.9 - abs(lr - 0.05) - 0.002 * depth + n / 5000 + 0.05 * sub + 0.02 * col

    study.optimize(objective, n_trials=20)
    OUT.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, fig in plots.draw_all(study, n_init=6):
        assert not isinstance(fig, str), f"{name} left out: {fig}"
        fig.savefig(OUT / name, dpi=plots.DPI)  # lays the figure out, as for MLflow
        out[name] = fig
    return out


NAMES = ["convergence.png", "parallel_coordinates.png", "param_importance.png", "slice_top2.png"]
NAMES += ["contour_top2.png"]


def _texts(fig: Any) -> list[Any]:
    """Every non-empty text the figure draws: titles, axis labels, visible tick labels in view."""
    from matplotlib.text import Text

    out = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                inside = lo - 1e-9 <= tick.get_loc() <= hi + 1e-9
                if axis.get_visible() and inside and tick.label1.get_visible() and tick.label1.get_text():
                    ticks.add(tick.label1)
    labels = {
        t for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels(which="both")
    }
    return [t for t in out if t not in labels] + list(ticks)


def _tick_labels(fig: Any) -> list[Any]:
    texts = _texts(fig)
    labels = {t for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels()}
    return [t for t in texts if t in labels]


@pytest.mark.parametrize("name", NAMES)
def test_every_text_lies_inside_the_figure(figures: dict[str, Any], name: str) -> None:
    fig = figures[name]
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    outside = [
        t.get_text()
        for t in _texts(fig)
        if (box := t.get_window_extent(renderer)).x0 < frame.x0 - 1
        or box.x1 > frame.x1 + 1
        or box.y0 < frame.y0 - 1
        or box.y1 > frame.y1 + 1
    ]
    assert outside == [], f"{name}: clipped at the figure's edge: {outside}"


def test_the_convergence_title_names_the_study_in_full(figures: dict[str, Any]) -> None:
    title = figures["convergence.png"].axes[0].get_title()
    assert title.replace("\n", "").startswith(LONG_NAME)


@pytest.mark.parametrize("name", ["slice_top2.png", "parallel_coordinates.png", "contour_top2.png"])
def test_a_colour_bar_covers_no_panel(figures: dict[str, Any], name: str) -> None:
    fig = figures[name]
    renderer = fig.canvas.get_renderer()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert bars, f"{name} has no colour bar"
    for bar, panel in itertools.product(bars, panels):
        assert not bar.get_window_extent(renderer).overlaps(panel.get_window_extent(renderer)), (
            f"{name}: the colour bar lies over a panel"
        )


@pytest.mark.parametrize("name", NAMES)
def test_no_two_tick_labels_overlap(figures: dict[str, Any], name: str) -> None:
    fig = figures[name]
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _tick_labels(fig)]
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert clashes == [], f"{name}: colliding labels {clashes[:5]}"


def test_render_all_writes_every_plot(tmp_path: Any, figures: dict[str, Any]) -> None:
    study = optuna.create_study(study_name=LONG_NAME, sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2 + t.suggest_float("y", -1, 1) ** 2, 12)
    made = plots.render_all(study, n_init=4, out_dir=tmp_path)
    assert made == dict.fromkeys(NAMES, "ok")
    assert all((tmp_path / n).stat().st_size > 0 for n in NAMES)
