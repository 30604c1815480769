"""Benchmark problems, as data: a search space (the sweep-file schema), a loss to minimise, a known optimum.

Every problem is a minimisation of ``loss(params, seed)``. Noisy variants add Gaussian observation noise
drawn from the evaluation seed; ``true_loss`` is the same point without noise, used for scoring (regret is
measured on what the optimiser's incumbent really achieves, not on a lucky draw).

The model-tuning problems re-implement the classification problems of bayesmark (Uber, the NeurIPS 2020
black-box optimisation challenge; ``bayesmark/sklearn_funcs.py`` and ``bayesmark/data.py``,
https://github.com/uber/bayesmark). Its package no longer imports on current scikit-learn/numpy. Same models,
fixed arguments, search ranges and metric (``nll`` = cross-validated log loss); same data handling (an 80/20
shuffled split with seed 0, CV on the 80 %). Deliberate differences, each to keep thousands of evaluations
cheap or to fit our schema: 3-fold instead of 5-fold CV (bayesmark's own comment: "Using 3 would be
faster"), ``logit``-scaled ranges become linear (our sweep schema has linear and log only), no
generalisation score, ``n_jobs=1``, and a fixed ``random_state`` wherever a model draws random
numbers (liblinear's coordinate descent included), so every loss is a deterministic function of params.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from hpo_tasks.objectives.synthetic import Branin, Hartmann6

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes:
        name: short id used in tables and file names.
        space: the search space in sweep-file form (``{"x1": {"type": "float", ...}}``).
        true_loss: ``params -> loss`` without observation noise (deterministic).
        noise_std: standard deviation of the Gaussian noise added to observed values.
        optimal_value: the known global minimum of ``true_loss``, or None where unknown.
        kind: "synthetic" or "ml".
    """

    name: str
    space: dict[str, dict[str, Any]]
    true_loss: Callable[[Params], float]
    noise_std: float = 0.0
    optimal_value: float | None = None
    kind: str = "synthetic"
    notes: str = ""
    optimal_params: dict[str, float] | None = field(default=None, compare=False)

    @property
    def dim(self) -> int:
        return len(self.space)

    def observe(self, params: Params, *, seed: int) -> tuple[float, float]:
        """``(observed, true)`` loss at ``params``; ``observed`` carries the noise drawn from ``seed``."""
        true = float(self.true_loss(params))
        if not self.noise_std:
            return true, true
        return true + float(np.random.default_rng(seed).normal(0.0, self.noise_std)), true


def _box(bounds: tuple[tuple[float, float], ...]) -> dict[str, dict[str, Any]]:
    return {f"x{i + 1}": {"type": "float", "low": lo, "high": hi} for i, (lo, hi) in enumerate(bounds)}


def _vector(params: Params, dim: int) -> np.ndarray:
    return np.array([float(params[f"x{i + 1}"]) for i in range(dim)])


def levy(x: np.ndarray) -> float:
    """Levy function (Laguna & Marti 2005; BoTorch ``Levy``): global minimum 0 at x = (1, ..., 1)."""
    w = 1.0 + (np.asarray(x, dtype=np.float64) - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * np.sin(math.pi * w[:-1] + 1.0) ** 2))
    tail = (w[-1] - 1.0) ** 2 * (1.0 + math.sin(2.0 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def _synthetic() -> list[Problem]:
    base = [
        ("branin", Branin.bounds, lambda p: float(Branin.evaluate(_vector(p, 2))), Branin.optimal_value, 1.0),
        (
            "hartmann6",
            Hartmann6.bounds,
            lambda p: Hartmann6.evaluate(_vector(p, 6)),
            Hartmann6.optimal_value,
            0.1,
        ),
        ("levy10", ((-10.0, 10.0),) * 10, lambda p: levy(_vector(p, 10)), 0.0, 1.0),
    ]
    out = []
    for name, bounds, fn, opt, noise in base:
        out.append(Problem(name, _box(bounds), fn, 0.0, opt))
        out.append(Problem(f"{name}-noisy", _box(bounds), fn, noise, opt, notes=f"noise sd {noise}"))
    return out


# ---- bayesmark model tuning ------------------------------------------------------------------------

CV_SPLITS = 3


@cache
def _data(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """bayesmark's data handling: robust standardisation, then the 80 % training part of a seed-0 split."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import RobustScaler

    loader = {"breast": load_breast_cancer, "wine": load_wine}[dataset]
    X, y = loader(return_X_y=True)
    X = RobustScaler().fit_transform(X)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, shuffle=True)
    return X_train, y_train


def _cv_loss(make_model: Callable[[], Any], dataset: str, scoring: str) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = _data(dataset)
    folds = StratifiedKFold(n_splits=CV_SPLITS, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(make_model(), X, y, scoring=scoring, cv=folds, n_jobs=1)
    return -float(np.mean(scores))


def _svm(p: Params) -> Any:
    from sklearn.svm import SVC

    return SVC(kernel="rbf", probability=True, random_state=0, **p)


def _linear(p: Params) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="liblinear", fit_intercept=True, random_state=0, **p)


def _dt(p: Params) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_leaf_nodes=None, random_state=0, **p)


def _rf(p: Params) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=10, max_leaf_nodes=None, random_state=0, n_jobs=1, **p)


def _lr_mixed(p: Params) -> Any:
    from sklearn.linear_model import LogisticRegression

    p = dict(p)
    p["class_weight"] = None if p["class_weight"] == "none" else p["class_weight"]
    return LogisticRegression(solver="liblinear", random_state=0, **p)


def _f(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def _i(low: int, high: int) -> dict[str, Any]:
    return {"type": "int", "low": low, "high": high}


SVM_SPACE = {"C": _f(1.0, 1e3, True), "gamma": _f(1e-4, 1e-3, True), "tol": _f(1e-5, 1e-1, True)}
LINEAR_SPACE = {"C": _f(1e-2, 1e2, True), "intercept_scaling": _f(1e-2, 1e2, True)}
DT_SPACE = {
    "max_depth": _i(1, 15),
    "min_samples_split": _f(0.01, 0.99),
    "min_samples_leaf": _f(0.01, 0.49),
    "min_weight_fraction_leaf": _f(0.01, 0.49),
    "max_features": _f(0.01, 0.99),
    "min_impurity_decrease": _f(0.0, 0.5),
}
RF_SPACE = dict(DT_SPACE)
MIXED_SPACE = {
    "C": _f(1e-2, 1e2, True),
    "intercept_scaling": _f(1e-2, 1e2, True),
    "penalty": {"type": "categorical", "choices": ["l1", "l2"]},
    "class_weight": {"type": "categorical", "choices": ["none", "balanced"]},
    "fit_intercept": {"type": "categorical", "choices": [True, False]},
}
XGB_SPACE = {
    "learning_rate": _f(1e-3, 0.3, True),
    "max_depth": _i(3, 12),
    "n_estimators": _i(20, 200),
    "subsample": _f(0.5, 1.0),
    "colsample_bytree": _f(0.5, 1.0),
    "reg_alpha": _f(1e-6, 1.0, True),
    "reg_lambda": _f(1e-6, 1.0, True),
}


def _xgb_auc_loss(p: Params) -> float:
    from hpo_tasks.objectives.xgb import xgboost_breast_cancer

    return 1.0 - xgboost_breast_cancer(p, seed=0, n_folds=CV_SPLITS, n_jobs=1)


def _ml() -> list[Problem]:
    def nll(builder: Callable[[Params], Any], dataset: str) -> Callable[[Params], float]:
        return lambda p: _cv_loss(lambda: builder(p), dataset, "neg_log_loss")

    bm = "bayesmark"
    return [
        Problem("svm-breast-nll", SVM_SPACE, nll(_svm, "breast"), kind="ml", notes=bm),
        Problem("linear-breast-nll", LINEAR_SPACE, nll(_linear, "breast"), kind="ml", notes=bm),
        Problem("dt-wine-nll", DT_SPACE, nll(_dt, "wine"), kind="ml", notes=bm),
        Problem("rf-breast-nll", RF_SPACE, nll(_rf, "breast"), kind="ml", notes=bm),
        Problem("xgb-breast-auc", XGB_SPACE, _xgb_auc_loss, kind="ml", notes="ours: 1 - CV ROC AUC, XGBoost"),
        Problem(
            "lr-mixed-breast-nll",
            MIXED_SPACE,
            nll(_lr_mixed, "breast"),
            kind="ml",
            notes="mixed: 2 log floats + 3 categoricals",
        ),
    ]


PROBLEMS: dict[str, Problem] = {p.name: p for p in _synthetic() + _ml()}
QUICK_PROBLEMS = ("branin", "hartmann6-noisy", "linear-breast-nll", "lr-mixed-breast-nll")
# The problems of the pilot, whose mean score the bars refer to.
PILOT_PROBLEMS = (
    "branin",
    "hartmann6",
    "svm-breast-nll",
    "dt-wine-nll",
    "rf-breast-nll",
    "linear-breast-nll",
)
