"""An RBF SVM trained on nested subsets of its training data: the resource is the fraction of the training
set (the Fabolas set-up, Klein et al., AISTATS 2017), on sklearn's shipped data sets (no download).

Notation:
    R        ``steps``: the training set is counted in R equal steps; step s is the fraction s / R
    L        ``levels``: the steps a reporting trial trains at, ascending, ending at R; default the
             geometric ladder 1, 3, 9, ..., R (the rungs of a Hyperband / successive-halving pruner with
             ``min_resource: 1``, ``reduction_factor: 3`` and ``max_resource: R``)
    n        training rows; the subset at step s is the first ceil(n s / R) rows of one fixed order

Data: a stratified validation split (``validation_fraction``, fixed by ``split_seed``); features
standardised with the training split's mean and scale (one fixed transform, whatever the subset); the
training rows in one order fixed by ``split_seed``, shuffled within each class and interleaved by rank, so
every prefix is close to stratified and the subsets are nested (a level's rows include every lower level's).

Why it trains at ``levels`` and not at every step: an SVC is fitted afresh per level (a fitted SVC cannot be
grown by more rows), so a trial's cost is the sum of the levels it trained (``hpo_tasks.fidelity``:
``sum_of_steps``). Training at every step would make a full trial cost (R + 1) / 2 fits on the whole set;
the geometric ladder costs at most 1.5 (reduction factor 3), and a pruner can only stop a trial at its
rungs, so a level that is not a rung buys nothing. Set ``levels`` to the pruner's rungs (``hpo validate``
refuses levels that miss a rung of a Hyperband / successive-halving pruner, and ``pruner.max_resource``
other than ``steps``). Without ``report`` (no pruner) it fits once, at the last level: R by default, the
whole training set.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpo_tasks.config.subset import DATASETS, check_args, default_levels
from hpo_tasks.fidelity import fresh_fit_per_step

__all__ = ["DATASETS", "check_args", "default_levels", "svm_subset"]


@functools.lru_cache(maxsize=4)
def _data(dataset: str, validation_fraction: float, split_seed: int) -> tuple[Any, Any, Any, Any]:
    """``(X_train, y_train, X_val, y_val)``, standardised, the training rows in the nested order (built
    once per process and arguments; read only)."""
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(
        X, y, test_size=validation_fraction, stratify=y, random_state=split_seed
    )
    scaler = StandardScaler().fit(X_tr)
    rng = np.random.default_rng(split_seed)
    key = np.empty(len(y_tr))  # (n,) a row's rank within its class, as a fraction: interleaves the classes
    for c in np.unique(y_tr):
        idx = np.flatnonzero(y_tr == c)
        key[idx] = (rng.permutation(len(idx)) + rng.random(len(idx))) / len(idx)
    order = np.argsort(key, kind="stable")  # (n,)
    return scaler.transform(X_tr)[order], y_tr[order], scaler.transform(X_va), y_va


@fresh_fit_per_step
def svm_subset(
    params: Mapping[str, Any],
    *,
    seed: int,
    steps: int = 27,
    levels: Sequence[int] | None = None,
    validation_fraction: float = 0.3,
    split_seed: int = 0,
    dataset: str = "digits",
    report: Callable[[int, float], None] | None = None,
) -> float:
    """Validation error rate (minimise) of ``sklearn.svm.SVC(kernel="rbf", C=..., gamma=...)`` trained on
    the fraction ``levels[-1] / steps`` of the training set (see the module doc).

    ``params``: ``C`` and ``gamma`` (search both on a log scale); any other key is passed to ``SVC``.
    With ``report`` (a sweep's pruner), a fresh SVC is fitted at each of ``levels`` in turn on the
    nested subset of ``ceil(n * s / steps)`` rows, and ``report(s, validation error)`` follows each fit;
    the pruner's ``optuna.TrialPruned`` propagates, so a pruned trial trains no higher level. Set
    ``pruner.max_resource`` to ``steps``. Without ``report``: one fit, at the last level. ``seed`` is
    accepted and unused: SVC's fit is deterministic (no probability estimates)."""
    from sklearn.svm import SVC

    del seed
    lv = check_args(
        steps=steps, levels=levels, validation_fraction=validation_fraction, dataset=dataset, full=False
    )
    X, y, X_val, y_val = _data(dataset, float(validation_fraction), int(split_seed))
    value = math.nan
    for s in lv if report is not None else lv[-1:]:
        rows = math.ceil(len(y) * s / steps)
        model = SVC(kernel="rbf", **dict(params)).fit(X[:rows], y[:rows])
        value = float((model.predict(X_val) != y_val).mean())
        if report is not None:
            report(s, value)
    return value
