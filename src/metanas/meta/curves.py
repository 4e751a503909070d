"""Learning-curve meta-learning: predict a partial curve's final value from past tasks' curves.

:class:`LearningCurveModel` is fitted on complete learning curves of past tasks
(oriented scores per epoch: larger is better) and predicts, from the first
epochs of a new curve, the value at the last epoch with an uncertainty.

It works on values *relative to the partial curve*: the target is the gain
still to come, ``final - last observed value``, and the features are shapes,
not levels (the recent slope, the mean slope since the first observed epoch,
and how far the last value sits from the recent trend). So a past task that
ends at 60 % accuracy informs a new task that ends at 90 %, as long as the
curves are measured in the same units (an accuracy in [0, 1] is not an
accuracy in percent).

For each set of observed epochs (``1..k`` for a whole partial curve, or the
rungs a scheduler saw) one small model is fitted, on demand, and kept:

* the mean: a ridge regression of the gain on the features;
* the spread: residuals of that regression measured by ``n_folds``-fold
  cross-validation (never in-sample), a second ridge regression of their log
  magnitude on the features' magnitudes (a steep curve is less certain than a
  flat one), and the residuals standardised by it. The predictive standard
  deviation is that scale times a factor that makes the central 90 % interval
  hold 90 % of the standardised cross-validation residuals;
  :meth:`LearningCurveModel.prob_above` uses their empirical distribution, so
  its tails are not assumed Gaussian.

:func:`memory_curves` reads the complete curves of past studies out of a
storage, oriented, for the model (the ``curve`` scheduler's memory).

References
----------
Domhan, T., Springenberg, J. T. & Hutter, F. Speeding up automatic
hyperparameter optimization of deep neural networks by extrapolation of
learning curves. IJCAI 2015.

Baker, B., Gupta, O., Raskar, R. & Naik, N. Accelerating neural architecture
search using performance prediction. ICLR Workshops 2018.

Swersky, K., Snoek, J. & Adams, R. P. Freeze-thaw Bayesian optimization.
arXiv:1406.3896, 2014.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metanas._checks import check_positive_int
from metanas.meta._records import check_direction
from metanas.meta.predictor import NotFittedError
from metanas.storage.rdb import RDBStorage, get_storage

__all__ = ["MIN_CURVES", "IncumbentCurveModel", "LearningCurveModel", "memory_curves"]

_logger = logging.getLogger(__name__)

#: A model needs at least this many past curves (its spread is cross-validated).
MIN_CURVES = 10
#: z of a central 90 % interval of a normal distribution.
_Z90 = 1.6448536269514722
#: Ridge penalty on standardised features: a guard against collinear features, not a prior.
_RIDGE = 1.0


@dataclass(frozen=True)
class _EpochModel:
    """The fitted model of one set of observed epochs."""

    # Mean: gain = intercept + ((x - x_mean) / x_std) @ coef.
    x_mean: np.ndarray
    x_std: np.ndarray
    coef: np.ndarray
    intercept: float
    # Scale: log(scale) = clip(s_intercept + ((|x| - a_mean) / a_std) @ s_coef).
    a_mean: np.ndarray
    a_std: np.ndarray
    s_coef: np.ndarray
    s_intercept: float
    log_scale_range: tuple[float, float]
    # Cross-validation residuals / scale, sorted.
    z: np.ndarray
    sd_factor: float

    def mean(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.intercept + ((x - self.x_mean) / self.x_std) @ self.coef
        return out

    def scale(self, x: np.ndarray) -> np.ndarray:
        lin = self.s_intercept + ((np.abs(x) - self.a_mean) / self.a_std) @ self.s_coef
        out: np.ndarray = np.exp(np.clip(lin, *self.log_scale_range))
        return out


class LearningCurveModel:
    """Predicts the final value of a learning curve from its first epochs.

    Fitted on complete curves of past tasks; see the module's documentation
    for the model. Deterministic: no randomness is involved.

    Parameters
    ----------
    window
        The recent slope is the least-squares slope over the observed epochs
        among the last ``window`` (at least the last two observed points).
    n_folds
        Folds of the cross-validation that measures the residual spread.

    Examples
    --------
    >>> import numpy as np
    >>> from metanas.meta import LearningCurveModel
    >>> t = np.arange(1, 11)
    >>> past = [0.5 + g * (1 - 0.8 ** t) + 0.01 * np.sin(i * t) for i, g in
    ...         enumerate(np.linspace(0.1, 0.4, 30))]
    >>> model = LearningCurveModel().fit(past)
    >>> mean, std = model.predict([0.62, 0.66, 0.70])   # a new task, another level
    >>> bool(0.70 < mean < 0.90), bool(std > 0)
    (True, True)
    >>> model.predict(past[0])                          # a complete curve: its last value
    (0.5892..., 0.0)
    """

    def __init__(self, *, window: int = 3, n_folds: int = 5) -> None:
        self.window = window
        self.n_folds = n_folds
        self._curves: np.ndarray | None = None
        self._models: dict[tuple[int, ...], _EpochModel] = {}

    def __repr__(self) -> str:
        fitted = (
            f"{self.n_curves} curves of {self.n_epochs} epochs" if self.fitted else "not fitted"
        )
        return f"LearningCurveModel(window={self.window}, n_folds={self.n_folds}; {fitted})"

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` was called with enough curves."""
        return self._curves is not None

    @property
    def n_epochs(self) -> int:
        """Length of the curves the model was fitted on (its final epoch)."""
        return int(self._fitted_curves().shape[1])

    @property
    def n_curves(self) -> int:
        """Number of past curves the model was fitted on."""
        return int(self._fitted_curves().shape[0])

    def fit(self, curves: Sequence[Sequence[float]] | np.ndarray) -> LearningCurveModel:
        """Fit on complete past curves.

        Parameters
        ----------
        curves
            ``(n_curves, n_epochs)`` oriented scores (larger is better) per
            epoch 1..n_epochs, finite, ``n_curves >= MIN_CURVES`` and
            ``n_epochs >= 2``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            The curves have unequal lengths, hold a NaN or infinite value, are
            too few or too short.
        """
        check_positive_int("window", self.window, 2, " Pass window=3 (the default).")
        check_positive_int("n_folds", self.n_folds, 2, " Pass n_folds=5 (the default).")
        try:
            arr = np.asarray(curves, dtype=float)
        except ValueError as exc:
            raise ValueError(
                "curves must all have the same length (one score per epoch 1..n_epochs); "
                f"got lengths {sorted({len(c) for c in curves})}. Keep the curves of one "
                "training length, e.g. memory_curves(..., max_budget=n_epochs)."
            ) from exc
        if arr.ndim != 2:
            raise ValueError(
                f"curves must be a 2-D array (n_curves, n_epochs); got shape {arr.shape}."
            )
        if arr.shape[0] < MIN_CURVES or arr.shape[1] < 2:
            raise ValueError(
                f"curves must hold at least {MIN_CURVES} curves of at least 2 epochs; got "
                f"{arr.shape[0]} of {arr.shape[1] if arr.ndim == 2 else 0}. Give more past "
                "curves, or search without a curve model (plain ASHA)."
            )
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            raise ValueError(
                f"curves must be finite; curve {int(bad[0])} holds a NaN or infinite value "
                f"({bad.size} such curves). Leave out failed trainings' curves."
            )
        self._curves = arr
        self._models = {}
        return self

    def predict(
        self, partial: Sequence[float] | np.ndarray, epochs: Sequence[int] | None = None
    ) -> tuple[float, float]:
        """Predictive mean and standard deviation of the final value.

        Parameters
        ----------
        partial
            The observed oriented scores, in epoch order.
        epochs
            The epochs (1-based, increasing, at most :attr:`n_epochs`) of
            ``partial``; default ``1..len(partial)``. A scheduler that saw only
            its rungs passes the rungs' epochs.

        Returns
        -------
        (mean, std)
            With the last epoch observed, ``(last value, 0.0)``.

        Raises
        ------
        NotFittedError
            :meth:`fit` was not called.
        ValueError
            ``partial`` is empty, not finite, or does not match ``epochs``.
        """
        values, eps = self._check_partial(partial, epochs)
        if eps[-1] == self.n_epochs:
            return float(values[-1]), 0.0
        model = self._model(eps)
        x = _features(values[None, :], np.asarray(eps, dtype=float), self.window)
        mean = float(values[-1] + model.mean(x)[0])
        return mean, float(model.scale(x)[0] * model.sd_factor)

    def prob_above(
        self,
        partial: Sequence[float] | np.ndarray,
        value: float,
        epochs: Sequence[int] | None = None,
    ) -> float:
        """Probability that the curve's final value exceeds ``value``.

        From the empirical distribution of the standardised cross-validation
        residuals (smoothed by one pseudo-count on each side, so it is never
        exactly 0 or 1), not from a normal tail. See :meth:`predict` for the
        parameters; with the last epoch observed it is 1.0 or 0.0.
        """
        values, eps = self._check_partial(partial, epochs)
        if not math.isfinite(value):
            raise ValueError(f"value must be a finite number; got {value!r}.")
        if eps[-1] == self.n_epochs:
            return 1.0 if values[-1] > value else 0.0
        model = self._model(eps)
        x = _features(values[None, :], np.asarray(eps, dtype=float), self.window)
        mean = values[-1] + model.mean(x)[0]
        t = (value - mean) / model.scale(x)[0]
        n_above = model.z.size - int(np.searchsorted(model.z, t, side="right"))
        return (n_above + 1.0) / (model.z.size + 2.0)

    # ------------------------------------------------------------------ internals
    def _fitted_curves(self) -> np.ndarray:
        if self._curves is None:
            raise NotFittedError(
                "This LearningCurveModel is not fitted yet: call fit(curves) first with past "
                "tasks' complete curves, e.g. fit(memory_curves(storage, exclude_task=task, "
                "max_budget=n_epochs))."
            )
        return self._curves

    def _check_partial(
        self, partial: Sequence[float] | np.ndarray, epochs: Sequence[int] | None
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        n = self.n_epochs
        values = np.asarray(partial, dtype=float).ravel()
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError(
                f"partial must hold at least one finite score; got {list(values)!r}. Pass the "
                "scores of the epochs observed so far."
            )
        eps = tuple(range(1, values.size + 1)) if epochs is None else tuple(int(e) for e in epochs)
        if (
            len(eps) != values.size
            or eps[0] < 1
            or eps[-1] > n
            or any(b <= a for a, b in itertools.pairwise(eps))
        ):
            raise ValueError(
                f"epochs must be {values.size} increasing epochs in 1..{n} (one per score of "
                f"partial); got {list(eps)!r}. Pass epochs=None for epochs 1..{values.size}."
            )
        return values, eps

    def _model(self, eps: tuple[int, ...]) -> _EpochModel:
        model = self._models.get(eps)
        if model is None:
            curves = self._fitted_curves()
            idx = np.asarray(eps) - 1
            x = _features(curves[:, idx], np.asarray(eps, dtype=float), self.window)
            y = curves[:, -1] - curves[:, idx[-1]]
            model = _fit_epoch_model(x, y, self.n_folds)
            self._models[eps] = model
        return model


def _features(values: np.ndarray, eps: np.ndarray, window: int) -> np.ndarray:
    """Shape features of partial curves (rows of ``values`` observed at epochs ``eps``).

    Columns: the least-squares slope over the recent window, the mean slope
    since the first observed epoch, and the last value's deviation from the
    recent trend line (zero with two points in the window). One observed epoch
    has no shape: zero columns.
    """
    n, m = values.shape
    if m == 1:
        return np.zeros((n, 0))
    recent = np.flatnonzero(eps > eps[-1] - window)
    if recent.size < 2:
        recent = np.arange(m - 2, m)
    e = eps[recent] - eps[recent].mean()
    w = values[:, recent]
    slope = (w - w.mean(axis=1, keepdims=True)) @ e / float(e @ e)
    trend_last = w.mean(axis=1) + slope * e[-1]
    mean_slope = (values[:, -1] - values[:, 0]) / (eps[-1] - eps[0])
    return np.column_stack([slope, mean_slope, values[:, -1] - trend_last])


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    std = x.std(axis=0)
    # A constant column (e.g. a zero trend deviation) carries nothing: divide by 1, it stays 0.
    return mean, np.where(std > 1e-12, std, 1.0)


def _ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Ridge regression on standardised ``x``: (x_mean, x_std, coef, intercept)."""
    mean, std = _standardise(x)
    xs = (x - mean) / std
    intercept = float(y.mean())
    coef = np.linalg.solve(xs.T @ xs + _RIDGE * np.eye(xs.shape[1]), xs.T @ (y - intercept))
    return mean, std, coef, intercept


def _fit_epoch_model(x: np.ndarray, y: np.ndarray, n_folds: int) -> _EpochModel:
    n = y.size
    folds = np.arange(n) % min(n_folds, n)
    resid = np.empty(n)
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        mu, sd, coef, b = _ridge(x[train], y[train])
        resid[test] = y[test] - (b + ((x[test] - mu) / sd) @ coef)
    x_mean, x_std, coef, intercept = _ridge(x, y)
    # Residuals exactly 0 (a table's accuracies are multiples of 1/n_valid) must not give
    # log(0): a floor far below the typical residual.
    floor = 1e-3 * float(np.median(np.abs(resid))) + 1e-12
    log_r = np.log(np.abs(resid) + floor)
    a = np.abs(x)
    a_mean, a_std, s_coef, s_intercept = _ridge(a, log_r)
    lin = s_intercept + ((a - a_mean) / a_std) @ s_coef
    # The scale is never extrapolated past what the past curves showed.
    log_range = (float(lin.min()), float(lin.max()))
    z = np.sort(resid / np.exp(lin))
    sd_factor = float(np.quantile(np.abs(z), 0.9)) / _Z90
    return _EpochModel(
        x_mean=x_mean, x_std=x_std, coef=coef, intercept=intercept,
        a_mean=a_mean, a_std=a_std, s_coef=s_coef, s_intercept=s_intercept,
        log_scale_range=log_range, z=z, sd_factor=max(sd_factor, 1e-12),
    )  # fmt: skip


class IncumbentCurveModel:
    """The probability that a partial curve ends above the incumbent's, learnt from past tasks.

    A comparison, not an extrapolation: the features are the differences between the
    trial's and the incumbent's scores at the same observed epochs (the last one, and its
    change since the first and since the one before), so a past task whose accuracies sit at
    another level still says how such differences end; the scores must be in the same units
    (an accuracy in [0, 1] is not one in percent). The training pairs come from each past
    task on its own: every curve against each of the task's top ``top_fraction`` curves by
    final score (an incumbent is one of the good architectures once a few trials have
    finished); the label is whether the curve's final score is the larger. One ridge-penalised
    logistic regression is fitted per set of observed epochs, on demand, and kept.
    Deterministic: no randomness is involved.

    Parameters
    ----------
    top_fraction
        The fraction of each past task's curves (by final score) that play the incumbent.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1, 10)
    >>> rng = np.random.default_rng(0)
    >>> tasks = [lv + rng.normal(0, 0.05, (40, 1)) - 0.3 * t ** -rng.uniform(0.5, 1.5, (40, 1))
    ...          for lv in (0.6, 0.7, 0.8)]
    >>> model = IncumbentCurveModel().fit(np.vstack(tasks), groups=np.repeat([0, 1, 2], 40))
    >>> inc = tasks[0][0]
    >>> model.prob_above(inc[:3] - 0.2, [1, 2, 3], inc) < 0.05
    True
    >>> model.prob_above(inc[:3] + 0.2, [1, 2, 3], inc) > 0.95
    True
    """

    def __init__(self, *, top_fraction: float = 0.2) -> None:
        self.top_fraction = top_fraction
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self._models: dict[tuple[int, ...], np.ndarray] = {}
        self._n_epochs = 0

    def __repr__(self) -> str:
        return (
            f"IncumbentCurveModel(top_fraction={self.top_fraction}; "
            f"{len(self._pairs)} past task(s))"
        )

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` was called."""
        return bool(self._pairs)

    def fit(
        self,
        curves: Sequence[Sequence[float]] | np.ndarray,
        groups: Sequence[object] | np.ndarray | None = None,
    ) -> IncumbentCurveModel:
        """Fit on complete past curves, grouped by the task they come from.

        Parameters
        ----------
        curves
            ``(n_curves, n_epochs)`` finite oriented scores per epoch 1..n_epochs, at least
            :data:`MIN_CURVES` of them.
        groups
            The past task of each curve; None: one task (pairs across tasks then mix levels,
            and the model is less sure of itself than it could be).

        Returns
        -------
        self
        """
        if not 0 < self.top_fraction <= 1:
            raise ValueError(
                f"top_fraction must be in (0, 1]; got {self.top_fraction!r}. Pass 0.2 (the "
                "default)."
            )
        arr = LearningCurveModel().fit(curves)._fitted_curves()
        labels = np.zeros(arr.shape[0]) if groups is None else np.asarray(groups)
        if labels.shape != (arr.shape[0],):
            raise ValueError(
                f"groups must name the task of each of the {arr.shape[0]} curves; got "
                f"{labels.size} labels."
            )
        pairs = []
        for g in dict.fromkeys(labels.tolist()):
            c = arr[labels == g]
            k = max(1, math.ceil(self.top_fraction * c.shape[0]))
            pairs.append((c, c[np.argsort(-c[:, -1], kind="stable")[:k]]))
        self._pairs, self._models, self._n_epochs = pairs, {}, int(arr.shape[1])
        return self

    def prob_above(
        self,
        partial: Sequence[float] | np.ndarray,
        epochs: Sequence[int],
        incumbent: Sequence[float] | np.ndarray,
    ) -> float:
        """Probability that the curve ends above the incumbent's final score.

        Parameters
        ----------
        partial
            The trial's oriented scores at ``epochs``.
        epochs
            The observed epochs (1-based, increasing, below the last epoch).
        incumbent
            The incumbent's complete curve (one score per epoch 1..n_epochs; only the
            observed epochs and the last are read).
        """
        if not self._pairs:
            raise NotFittedError(
                "This IncumbentCurveModel is not fitted yet: call fit(curves, groups) first."
            )
        eps = tuple(int(e) for e in epochs)
        values = np.asarray(partial, dtype=float)
        inc = np.asarray(incumbent, dtype=float)
        if (
            not eps
            or values.shape != (len(eps),)
            or inc.shape != (self._n_epochs,)
            or eps[0] < 1
            or eps[-1] >= self._n_epochs
            or any(b <= a for a, b in itertools.pairwise(eps))
        ):
            raise ValueError(
                f"partial must hold one score per epoch of epochs (increasing, below "
                f"{self._n_epochs}) and incumbent {self._n_epochs} scores; got {len(values)} "
                f"scores, epochs {list(eps)!r}, an incumbent of {inc.size}."
            )
        w = self._model(eps)
        x = _pair_features((values - inc[np.asarray(eps) - 1])[None, :])
        return float(_sigmoid(x @ w)[0])

    def _model(self, eps: tuple[int, ...]) -> np.ndarray:
        w = self._models.get(eps)
        if w is None:
            idx = np.asarray(eps) - 1
            xs, ys = [], []
            for c, top in self._pairs:
                # Every curve against every top curve (itself included: a tie, label 0).
                d = c[:, None, idx] - top[None, :, idx]
                xs.append(_pair_features(d.reshape(-1, len(eps))))
                ys.append((c[:, None, -1] > top[None, :, -1]).ravel().astype(float))
            w = _logistic(np.vstack(xs), np.concatenate(ys))
            self._models[eps] = w
        return w


def _pair_features(d: np.ndarray) -> np.ndarray:
    """Intercept, the last difference, the change since the first and since the one before."""
    last = d[:, -1]
    first = d[:, 0]
    prev = d[:, -2] if d.shape[1] > 1 else first
    return np.column_stack([np.ones(len(d)), last, last - first, last - prev])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def _logistic(x: np.ndarray, y: np.ndarray, n_iter: int = 30) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton's method (the intercept unpenalised);
    the penalty acts on standardised columns, the weights returned are for ``x`` as given."""
    scale = x.std(axis=0)
    scale[0] = 1.0
    scale = np.where(scale > 1e-12, scale, 1.0)
    x = x / scale
    w = np.zeros(x.shape[1])
    penalty = _RIDGE * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(n_iter):
        p = _sigmoid(x @ w)
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p) + 1e-9)[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    out: np.ndarray = w / scale
    return out


def memory_curves(
    storage: str | RDBStorage | None,
    *,
    exclude_task: str | None,
    max_budget: int,
    metric: str = "valid_accuracy",
    direction: str = "maximize",
) -> list[np.ndarray]:
    """The complete learning curves stored by past studies, oriented, for a curve model.

    Reads every study's intermediate values (:meth:`RDBStorage.get_values`:
    what :meth:`Study.tell` stored of :attr:`Result.curve`, or what a trial
    reported) and keeps the curves of ``metric`` that hold exactly the steps
    ``1..max_budget`` with finite values: a pruned trial's partial curve, a
    failed training's NaN and a training of another length are left out.

    Parameters
    ----------
    storage
        SQLAlchemy URL, :class:`~metanas.RDBStorage`, or None for the default store.
    exclude_task
        The task being searched: its own studies' curves are not past tasks'.
        None keeps every task.
    max_budget
        The number of epochs of a complete curve.
    metric
        The intermediate value to read.
    direction
        ``"maximize"`` keeps values as they are, ``"minimize"`` negates them
        (the model takes larger-is-better scores).

    Returns
    -------
    list of numpy.ndarray
        One array of ``max_budget`` scores per curve, in study then trial order.
    """
    check_positive_int(
        "max_budget", max_budget, 2, " Pass the epochs of a full training, e.g. max_budget=27."
    )
    sign = 1.0 if check_direction(direction) == "maximize" else -1.0
    store = get_storage(storage)
    steps = list(range(1, max_budget + 1))
    out: list[np.ndarray] = []
    n_studies = 0
    for record in store.list_study_records():
        if exclude_task is not None and record.task.name == exclude_task:
            continue
        n_studies += 1
        for _number, points in store.get_values(record.id).items():
            if [p[0] for p in points] != steps:
                continue
            curve = np.array([p[1].get(metric, math.nan) for p in points], dtype=float)
            if np.isfinite(curve).all():
                out.append(sign * curve)
    _logger.debug(
        "memory_curves: %d complete %r curves of %d steps in %d studies",
        len(out), metric, max_budget, n_studies,
    )  # fmt: skip
    return out
