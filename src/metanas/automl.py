"""``NASClassifier``: a scikit-learn estimator whose ``fit`` searches an architecture."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["NASClassifier"]


def _data_name(X: np.ndarray, y: np.ndarray) -> str:
    """A task name from the data's content: refits on the same data share a task in the memory."""
    h = hashlib.sha1()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.asarray(y).astype(str).tobytes())
    return f"arrays-{h.hexdigest()[:12]}"


class NASClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Search a network for ``(X, y)``, retrain the best one and predict with it.

    ``fit`` holds out ``valid_size`` of the rows (stratified, seeded), runs a
    stored study of ``n_trials`` trials (or until ``time_budget_s``) that
    trains each proposed architecture on the rest and scores it on the held-out
    rows, then retrains the best architecture on all rows for the number of
    epochs its early stopping chose. The study is stored like any other
    (``storage``; the default is the user's store), so later searches on similar
    data learn from it.

    Parameters
    ----------
    space
        ``"mlp"``, ``"cnn"`` or ``"nb201"`` (a registered trainable space).
    strategy
        Registered strategy name (``"evolution"``, ``"bo"``, ``"meta"`` ...).
    n_trials, time_budget_s
        Search budget: trials, and/or seconds (the search stops at the first hit).
    max_epochs, patience, batch_size, lr
        Training of each trial (early stopping on validation accuracy).
    valid_size
        Fraction of the rows held out to score architectures.
    modality
        ``"tabular"``, ``"sequence"`` or ``"image"``; inferred from ``X.ndim`` when None.
    max_latency_ms, max_params, max_flops
        Hardware limits; an architecture that breaks one is rejected before training.
    n_jobs
        Trials evaluated at once on a local process pool.
    threads
        Torch CPU threads per trained network, so per worker with ``n_jobs > 1``
        (default 1: a busy core elsewhere cannot slow training down 50x, as torch's
        one-thread-per-core default does; None: torch's own setting). Raise it on an
        idle machine for large networks.
    storage, study_name
        Where the study is stored and its name (generated when None). With
        ``storage=None`` every fit writes its study to ``$METANAS_STORAGE`` or, when
        unset, the per-user SQLite file ``~/.local/share/metanas/metanas.db`` (an INFO
        log line names it); pass ``"sqlite://"`` to keep nothing.
    refit
        Retrain the best architecture on all rows (True) or keep the searched model.
    seed
        Seed of the split, the search and every training.
    progress
        Show a progress bar.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NASClassifier(n_trials=2, max_epochs=2, storage="sqlite://", seed=0)
    >>> clf.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        space: str = "mlp",
        strategy: str = "evolution",
        n_trials: int | None = 20,
        time_budget_s: float | None = None,
        max_epochs: int = 30,
        patience: int = 5,
        batch_size: int = 128,
        lr: float = 3e-3,
        valid_size: float = 0.2,
        modality: str | None = None,
        max_latency_ms: float | None = None,
        max_params: int | None = None,
        max_flops: int | None = None,
        n_jobs: int = 1,
        threads: int | None = 1,
        storage: str | None = None,
        study_name: str | None = None,
        refit: bool = True,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.space = space
        self.strategy = strategy
        self.n_trials = n_trials
        self.time_budget_s = time_budget_s
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.valid_size = valid_size
        self.modality = modality
        self.max_latency_ms = max_latency_ms
        self.max_params = max_params
        self.max_flops = max_flops
        self.n_jobs = n_jobs
        self.threads = threads
        self.storage = storage
        self.study_name = study_name
        self.refit = refit
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> NASClassifier:
        """Search, then retrain the best architecture; returns self."""
        from metanas.evaluation.train import TrainEvaluator
        from metanas.spaces import create_space
        from metanas.study import create_study
        from metanas.tasks import Task

        if self.n_trials is None and self.time_budget_s is None:
            raise ValueError(
                "NASClassifier needs a budget: n_trials=20 or time_budget_s=300 (or both); "
                "got neither."
            )
        common: dict[str, Any] = {
            "test_size": 0.0, "valid_size": self.valid_size, "seed": self.seed,
        }  # fmt: skip
        if hasattr(X, "columns"):  # a DataFrame: categorical columns and missing values handled
            import pandas as pd

            frame = X.copy()
            target = "__target__"
            while target in frame.columns:
                target += "_"
            frame[target] = np.asarray(y)
            name = _data_name(pd.util.hash_pandas_object(X, index=False).to_numpy(), np.asarray(y))
            task = Task.from_dataframe(frame, target=target, name=name, **common)
        else:
            X_arr, y_arr = np.asarray(X), np.asarray(y)
            name = _data_name(X_arr.astype(np.float64, copy=False), y_arr)
            task = Task.from_arrays(X_arr, y_arr, name=name, modality=self.modality, **common)
        space = create_space(self.space)
        evaluator = TrainEvaluator(
            task, space, max_epochs=self.max_epochs, patience=self.patience,
            batch_size=self.batch_size, lr=self.lr, seed=self.seed,
            max_latency_ms=self.max_latency_ms, max_params=self.max_params,
            max_flops=self.max_flops, threads=self.threads, progress=False,
        )  # fmt: skip
        study = create_study(
            name=self.study_name
            or f"nasclassifier-{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}",
            storage=self.storage, space=space, strategy=self.strategy, seed=self.seed,
            metric="valid_accuracy", direction="maximize", task=task.name,
            task_descriptors=task.descriptors(), load_if_exists=self.study_name is not None,
            user_attrs={"evaluator": evaluator.get_settings(), "task_source": dict(task.source)},
        )  # fmt: skip
        study.optimize(
            evaluator, n_trials=self.n_trials, timeout_s=self.time_budget_s, n_jobs=self.n_jobs,
            show_progress=self.progress,
        )  # fmt: skip
        if not study.completed_trials:
            errors = {t.error for t in study.trials if t.error}
            raise RuntimeError(
                f"No architecture of study {study.name!r} could be trained; errors: "
                f"{sorted(errors)[:3]!r}. Loosen the hardware limits or raise the budget."
            )
        best = study.best_trial
        epochs = max(1, int(best.metrics.get("best_epoch", self.max_epochs)))
        model, _ = evaluator.train(
            best.arch, epochs=epochs, on="train+valid" if self.refit else "train"
        )
        self.task_ = task
        self.evaluator_ = evaluator
        self.study_ = study
        self.best_arch_ = best.arch
        self.best_valid_accuracy_ = float(best.metrics["valid_accuracy"])
        self.model_ = model
        self.classes_ = np.asarray(task.classes)
        self.n_features_in_ = int(np.prod(task.input_shape))
        return self

    # -------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This NASClassifier is not fitted yet; call fit(X, y) before predict."
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        self._check_fitted()
        Xt = self.task_.transform(X)
        return np.asarray(self.evaluator_.predict_proba(self.model_, Xt))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (the original labels of ``y``)."""
        proba = self.predict_proba(X)
        return np.asarray(self.task_.decode_labels(np.argmax(proba, axis=1)))
