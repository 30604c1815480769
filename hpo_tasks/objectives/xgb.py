"""XGBoost on sklearn's breast_cancer (shipped with sklearn: no download): 5-fold CV ROC AUC.

With ``holdout_fraction > 0`` a stratified slice (fixed by ``split_seed``) is held out: the sweep
cross-validates on the rest, and the final-model hook retrains on the rest and scores ROC AUC on the slice,
so champion and challenger are judged on data neither the sweep nor the training saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo_tasks.objectives import with_final_model


def _split(holdout_fraction: float, split_seed: int) -> tuple[Any, Any, Any, Any]:
    """``(X_train, y_train, X_holdout, y_holdout)``; the holdout is empty when the fraction is 0."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    if holdout_fraction <= 0:
        return X, y, X[:0], y[:0]
    X_tr, X_ho, y_tr, y_ho = train_test_split(
        X, y, test_size=holdout_fraction, stratify=y, random_state=split_seed
    )
    return X_tr, y_tr, X_ho, y_ho


def _classifier(params: Mapping[str, Any], seed: int, n_jobs: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        **dict(params), random_state=seed % 2**31, n_jobs=n_jobs, tree_method="hist", verbosity=0
    )


class BreastCancerFinal:
    """Final-model hook: retrain on everything but the holdout, score ROC AUC on the holdout."""

    def fit(
        self,
        params: Mapping[str, Any],
        *,
        seed: int,
        holdout_fraction: float = 0.2,
        split_seed: int = 0,
        n_jobs: int = 1,
        **_: Any,
    ) -> Any:
        X, y, _, _ = _split(holdout_fraction or 0.2, split_seed)
        return _classifier(params, seed, n_jobs).fit(X, y)

    def evaluate(self, model: Any, *, holdout_fraction: float = 0.2, split_seed: int = 0, **_: Any) -> float:
        from sklearn.metrics import roc_auc_score

        _, _, X, y = _split(holdout_fraction or 0.2, split_seed)
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))


@with_final_model(BreastCancerFinal())
def xgboost_breast_cancer(
    params: Mapping[str, Any],
    *,
    seed: int,
    n_folds: int = 5,
    cv_seed: int = 0,
    n_jobs: int = 1,
    holdout_fraction: float = 0.0,
    split_seed: int = 0,
) -> float:
    """Mean ROC AUC of an ``XGBClassifier`` over stratified ``n_folds``-fold CV (higher is better).

    ``params`` are XGBClassifier keyword arguments (learning_rate, max_depth, n_estimators, subsample,
    colsample_bytree, reg_alpha, reg_lambda, ...). The booster's randomness follows the trial ``seed``;
    the folds follow ``cv_seed`` so every trial is scored on the same splits. CV runs on the data outside
    the holdout (see the module doc).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y, _, _ = _split(holdout_fraction, split_seed)
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cv_seed)
    model = _classifier(params, seed, n_jobs)
    return float(cross_val_score(model, X, y, cv=folds, scoring="roc_auc").mean())
