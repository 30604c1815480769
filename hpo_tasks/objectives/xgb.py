"""XGBoost on sklearn's breast_cancer (shipped with sklearn: no download): 5-fold CV ROC AUC.
``xgboost_rounds`` also boosts on sklearn's digits or wine (multi-class) and scores accuracy or log-loss.

With ``holdout_fraction > 0`` a stratified slice (fixed by ``split_seed``) is held out: the sweep
cross-validates on the rest, and the final-model hook retrains on the rest and scores ROC AUC on the slice,
so champion and challenger are judged on data neither the sweep nor the training saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo_tasks.objectives import with_final_model

DATASETS = ("breast_cancer", "digits", "wine")  # sklearn's shipped data sets: no download
# metric -> (xgboost eval_metric for 2 classes, for more, the sign that turns it into the value: accuracy
# is 1 - error). ``logloss`` is minimised: the sweep's direction must be minimize.
METRICS = {
    "auc": ("auc", None, 1.0),
    "accuracy": ("error", "merror", -1.0),
    "logloss": ("logloss", "mlogloss", 1.0),
}


def _split(
    holdout_fraction: float, split_seed: int, dataset: str = "breast_cancer"
) -> tuple[Any, Any, Any, Any]:
    """``(X_train, y_train, X_holdout, y_holdout)`` of ``dataset``; the holdout is empty when the
    fraction is 0."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset '{dataset}': use one of {', '.join(DATASETS)}")
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
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


def xgboost_rounds(
    params: Mapping[str, Any],
    *,
    seed: int,
    rounds: int = 200,
    report_every: int = 10,
    n_folds: int = 5,
    cv_seed: int = 0,
    n_jobs: int = 1,
    holdout_fraction: float = 0.0,
    split_seed: int = 0,
    dataset: str = "breast_cancer",
    metric: str = "auc",
    report: Callable[[int, float], None] | None = None,
) -> float:
    """Mean ``metric`` over stratified ``n_folds``-fold CV after ``rounds`` boosting rounds, the folds trained
    in lockstep (``xgboost.cv``), so the resource is boosting rounds: with ``report`` (a sweep's pruner),
    an xgboost callback calls ``report(r, mean AUC after r rounds)`` every ``report_every`` rounds and at
    ``rounds``, and a pruned trial stops boosting there. Set ``pruner.max_resource`` to ``rounds``.

    ``params``: as ``xgboost_breast_cancer``'s but without ``n_estimators`` (the resource, ``rounds``).
    By default the same data, folds and split as ``xgboost_breast_cancer``; the value is xgboost's fold
    AUC averaged, which matches sklearn's ``cross_val_score`` of the same classifier to about 1e-3 (not
    bit for bit: xgboost's ``cv`` builds the fold matrices itself).

    ``dataset``: one of ``DATASETS`` (digits: 10 classes, 1797 images of 8 x 8; wine: 3 classes, 178
    rows), multi-class with ``multi:softprob``. ``metric``: ``auc`` (two classes only; maximise),
    ``accuracy`` (1 - xgboost's (m)error; maximise) or ``logloss`` (xgboost's (m)logloss; minimise)."""
    import xgboost as xgb
    from sklearn.model_selection import StratifiedKFold

    if "n_estimators" in params:
        raise ValueError("xgboost_rounds: n_estimators is the resource; set the objective's 'rounds' arg")
    if rounds < 1 or report_every < 1:
        raise ValueError(f"rounds and report_every must be at least 1 (got {rounds}, {report_every})")
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}': use one of {', '.join(METRICS)}")
    X, y, _, _ = _split(holdout_fraction, split_seed, dataset)
    folds = list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cv_seed).split(X, y))
    native = {k: v for k, v in _classifier(params, seed, n_jobs).get_xgb_params().items() if v is not None}
    n_classes = len(set(y.tolist()))
    binary_metric, multi_metric, sign = METRICS[metric]
    if n_classes > 2:
        if multi_metric is None:
            raise ValueError(f"metric '{metric}' needs two classes; '{dataset}' has {n_classes}")
        native.update(objective="multi:softprob", num_class=n_classes)
    name = binary_metric if n_classes <= 2 else multi_metric
    native["eval_metric"] = name
    offset = 1.0 if sign < 0 else 0.0  # accuracy = 1 - error

    def value(mean: float) -> float:
        return offset + sign * mean

    stop: list[BaseException] = []  # the pruner's TrialPruned, raised after boosting stopped

    class _Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            r = epoch + 1
            if report is None or (r % report_every and r != rounds):
                return False
            try:
                report(r, value(float(evals_log["test"][name][-1][0])))  # (mean, std) over the folds
            except BaseException as err:  # noqa: BLE001 - optuna.TrialPruned: stop, re-raise outside
                stop.append(err)
                return True
            return False

    try:
        out = xgb.cv(
            native, xgb.DMatrix(X, label=y), num_boost_round=rounds, folds=folds, callbacks=[_Report()],
            as_pandas=False, seed=seed % 2**31,
        )  # fmt: skip
    except Exception:
        if stop:  # xgboost 3.2's cv fails on a callback's stop without early stopping: the pruning stands
            raise stop[0] from None
        raise
    if stop:
        raise stop[0]
    return value(float(out[f"test-{name}-mean"][-1]))  # type: ignore[index]
