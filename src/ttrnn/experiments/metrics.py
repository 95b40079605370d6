"""Final metrics of the experiments, in NumPy (no scikit-learn needed).

Keras' metrics drive the learning curves; the figures in results.json are
computed here from the predictions on the whole test set, the way the 2017
scripts computed them with scikit-learn (accuracy, AUROC, average
precision, MAP over classes, MSE).
"""

import numpy as np


def accuracy(y_true, y_pred, task):
    """Fraction of correct predictions.

    Args:
        y_true: class indices `(n,)` (or 0/1 for binary tasks).
        y_pred: probabilities: `(n, classes)` for multiclass, `(n,)` or
            `(n, 1)` for binary.
        task: `"multiclass"` or `"binary"`.

    Returns:
        A float in [0, 1].
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if task == "binary":
        labels = (y_pred.reshape(-1) >= 0.5).astype(np.int64)
    else:
        labels = np.argmax(y_pred, axis=-1)
    return float(np.mean(labels == y_true))


def auroc(y_true, scores):
    """Area under the ROC curve (the Mann-Whitney statistic, ties halved).

    Args:
        y_true: 0/1 labels `(n,)`.
        scores: scores `(n,)`, larger meaning class 1.

    Returns:
        A float in [0, 1], or NaN when only one class is present.
    """
    y_true = np.asarray(y_true).reshape(-1).astype(bool)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positives, negatives = scores[y_true], scores[~y_true]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    rank_sum = ranks[y_true].sum()
    n_pos, n_neg = len(positives), len(negatives)
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true, scores):
    """Average precision: the mean of the precision at each positive.

    Equal to scikit-learn's `average_precision_score` for untied scores.

    Args:
        y_true: 0/1 labels `(n,)`.
        scores: scores `(n,)`.

    Returns:
        A float in [0, 1], or NaN without positives.
    """
    y_true = np.asarray(y_true).reshape(-1).astype(bool)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not y_true.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = y_true[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(y_true, scores):
    """Mean over classes of the average precision (Hollywood2's MAP).

    Args:
        y_true: multi-hot labels `(n, classes)`.
        scores: scores `(n, classes)`.

    Returns:
        A float: the mean over the classes that have a positive.
    """
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    values = [
        average_precision(y_true[:, c], scores[:, c])
        for c in range(y_true.shape[1])
    ]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def one_vs_rest(y_true, y_pred):
    """Macro AUROC and AUPRC of a multiclass task, the labels one-hot
    (scikit-learn's `roc_auc_score` and `average_precision_score` of the
    one-hot labels, `average="macro"`).

    Args:
        y_true: class indices `(n,)`.
        y_pred: probabilities `(n, classes)`.

    Returns:
        `{"auroc": ..., "auprc": ...}`: each the mean over the classes
        with both positives and negatives in `y_true` (the others have
        no such curve); NaN if there is none.
    """
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred)
    aurocs, auprcs = [], []
    for c in range(y_pred.shape[-1]):
        positives = y_true == c
        if positives.any() and not positives.all():
            aurocs.append(auroc(positives, y_pred[:, c]))
            auprcs.append(average_precision(positives, y_pred[:, c]))
    if not aurocs:
        return {"auroc": float("nan"), "auprc": float("nan")}
    return {"auroc": float(np.mean(aurocs)), "auprc": float(np.mean(auprcs))}


def mse(y_true, y_pred):
    """Mean squared error over every entry."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    return float(np.mean((y_true - y_pred) ** 2))


def evaluate(task, y_true, y_pred):
    """Every metric that applies to a task.

    Args:
        task: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`.
        y_true: the targets.
        y_pred: the model's outputs (probabilities or values).

    Returns:
        A dict of metric name to float: accuracy (classification), auroc
        and auprc (binary; multiclass: `one_vs_rest`), map (multilabel),
        mse (regression).
    """
    if task == "regression":
        return {"mse": mse(y_true, y_pred)}
    if task == "multilabel":
        y_true = np.asarray(y_true)
        exact = np.mean(np.all((np.asarray(y_pred) >= 0.5) == y_true, -1))
        return {
            "map": mean_average_precision(y_true, y_pred),
            "subset_accuracy": float(exact),
        }
    result = {"accuracy": accuracy(y_true, y_pred, task)}
    if task == "multiclass":
        result.update(one_vs_rest(y_true, y_pred))
    if task == "binary":
        scores = np.asarray(y_pred).reshape(-1)
        result["auroc"] = auroc(y_true, scores)
        result["auprc"] = average_precision(y_true, scores)
    return result


def _average_ranks(values):
    """Ranks 1..n of `values`, tied values sharing their average rank."""
    _, inverse, counts = np.unique(
        values, return_inverse=True, return_counts=True
    )
    ends = np.cumsum(counts)
    average = (ends - counts + 1 + ends) / 2.0
    return average[inverse.reshape(-1)]
