"""Meta-features of a task: simple statistics and landmarkers of its train split."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from metanas._rng import derive_seed, make_rng

if TYPE_CHECKING:
    from metanas.tasks.task import Task

__all__ = ["META_FEATURES", "compute_meta_features"]

#: Rows of the train (and validation) split the landmarkers and PCA use at most.
MAX_ROWS = 2000

META_FEATURES = (
    "log_n_samples",
    "log_n_features",
    "n_classes",
    "log_features_per_sample",
    "class_entropy",
    "class_balance",
    "mean_abs_skew",
    "mean_kurtosis",
    "frac_categorical",
    "frac_missing",
    "pca_frac_95",
    "landmark_logreg",
    "landmark_1nn",
    "landmark_stump",
    "landmark_naive_bayes",
)


def _subsample(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= MAX_ROWS:
        return x, y
    rows = np.sort(rng.choice(len(y), size=MAX_ROWS, replace=False))
    return x[rows], y[rows]


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def _pca_fraction(x: np.ndarray) -> float:
    centred = x - x.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    var = sv**2
    total = var.sum()
    if total <= 0:
        return 0.0
    n_95 = int(np.searchsorted(np.cumsum(var) / total, 0.95) + 1)
    return min(n_95, len(var)) / len(var)


def _landmarkers(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, seed: int
) -> dict[str, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    models = {
        "landmark_logreg": LogisticRegression(max_iter=200),
        "landmark_1nn": KNeighborsClassifier(n_neighbors=1),
        "landmark_stump": DecisionTreeClassifier(max_depth=1, random_state=seed % 2**31),
        "landmark_naive_bayes": GaussianNB(),
    }
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for key, model in models.items():
            model.fit(x, y)
            out[key] = float(np.mean(model.predict(xv) == yv))
    return out


def compute_meta_features(task: Task) -> dict[str, float]:
    """The meta-features of ``task`` (see :meth:`Task.meta_features`)."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: these problems are small, and threads only contend (10x slower
    # on a loaded 2-core machine).
    with threadpool_limits(limits=1):
        return _compute(task)


def _compute(task: Task) -> dict[str, float]:
    from scipy.stats import kurtosis, skew

    x = task.X_train.reshape(task.n_train, -1).astype(np.float64)
    y = task.y_train
    n, d = x.shape
    k = task.n_classes
    counts = np.bincount(y, minlength=k).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log(p)).sum() / math.log(k)) if k > 1 else 0.0
    rng = make_rng(derive_seed(task.seed, 7))
    xs, ys = _subsample(x, y, rng)
    xv, yv = _subsample(
        task.X_valid.reshape(task.n_valid, -1).astype(np.float64), task.y_valid, rng
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        sk = skew(x, axis=0)
        ku = kurtosis(x, axis=0)
    pre = task.preprocessor
    n_source = pre.n_source_columns if pre is not None else 0
    out = {
        "log_n_samples": math.log(n),
        "log_n_features": math.log(d),
        "n_classes": float(k),
        "log_features_per_sample": math.log(d / n),
        "class_entropy": entropy,
        "class_balance": float(counts.min() / counts.max()),
        "mean_abs_skew": _finite_mean(np.abs(sk)),
        "mean_kurtosis": _finite_mean(ku),
        "frac_categorical": (pre.n_categorical / n_source) if pre is not None and n_source else 0.0,
        "frac_missing": pre.missing_fraction if pre is not None else 0.0,
        "pca_frac_95": _pca_fraction(xs),
        **_landmarkers(xs, ys, xv, yv, derive_seed(task.seed, 8)),
    }
    return {key: float(out[key]) for key in META_FEATURES}
