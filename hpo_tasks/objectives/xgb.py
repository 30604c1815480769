"""XGBoost on sklearn's breast_cancer (shipped with sklearn: no download): 5-fold CV ROC AUC."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def xgboost_breast_cancer(
    params: Mapping[str, Any], *, seed: int, n_folds: int = 5, cv_seed: int = 0, n_jobs: int = 1
) -> float:
    """Mean ROC AUC of an ``XGBClassifier`` over stratified ``n_folds``-fold CV (higher is better).

    ``params`` are XGBClassifier keyword arguments (learning_rate, max_depth, n_estimators, subsample,
    colsample_bytree, reg_alpha, reg_lambda, ...). The booster's randomness follows the trial ``seed``;
    the folds follow ``cv_seed`` so every trial is scored on the same splits.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from xgboost import XGBClassifier

    X, y = load_breast_cancer(return_X_y=True)
    model = XGBClassifier(
        **dict(params), random_state=seed % 2**31, n_jobs=n_jobs, tree_method="hist", verbosity=0
    )
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cv_seed)
    return float(cross_val_score(model, X, y, cv=folds, scoring="roc_auc").mean())
