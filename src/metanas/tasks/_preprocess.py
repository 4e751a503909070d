"""Fitted preprocessing: the column pipeline of tables and the standardisation of every task.

Everything here is fitted on the train split only and then applied, unchanged,
to the validation and test splits and to new raw rows (``Task.transform``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metanas.exceptions import closest

__all__ = ["ColumnPipeline", "Preprocessor", "Standardiser", "is_missing"]


def is_missing(values: pd.Series) -> np.ndarray:
    """Boolean mask of missing cells: None, NaN, NaT and empty / blank strings."""
    mask = values.isna().to_numpy(dtype=bool)
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        blank = values.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
        mask = mask | blank
    return mask


def _is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


@dataclass(frozen=True)
class Standardiser:
    """Subtract the train mean and divide by the train standard deviation.

    Statistics are per feature for tabular data (``axis=0``) and per channel
    for sequences and images (over the sample and spatial axes); a constant
    feature or channel gets a scale of 1.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, modality: str) -> Standardiser:
        x = np.asarray(X, dtype=np.float64)
        axes = (0,) if modality == "tabular" else (0, *range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        std = x.std(axis=axes, keepdims=True)
        scale = np.where(std > 1e-12, std, 1.0)
        return cls(mean=mean[0], scale=scale[0])

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True)
class ColumnPipeline:
    """Impute, drop constant columns and one-hot encode the columns of a table.

    Attributes
    ----------
    columns
        The feature columns of the source table, in order.
    numeric
        ``{column: train median}`` of the kept numeric columns.
    categorical
        ``{column: most frequent train value}`` of the kept categorical columns
        (as strings).
    dropped
        Columns constant on the train split, dropped.
    encoder
        The fitted ``OneHotEncoder`` (``handle_unknown="ignore"``) of the
        categorical columns, or None when there are none.
    n_missing, n_missing_columns
        Missing cells imputed (in the kept columns of every split), and in how
        many columns.
    n_raw_missing, n_cells
        Missing cells and all cells of the source feature columns.
    """

    columns: tuple[str, ...]
    numeric: dict[str, float]
    categorical: dict[str, str]
    dropped: tuple[str, ...]
    encoder: Any = None
    n_missing: int = 0
    n_missing_columns: int = 0
    n_raw_missing: int = 0
    n_cells: int = 0

    @classmethod
    def fit(cls, frame: pd.DataFrame, train_rows: np.ndarray) -> ColumnPipeline:
        """Fit on ``frame.iloc[train_rows]``; the missing counts cover the whole frame."""
        from sklearn.preprocessing import OneHotEncoder

        train = frame.iloc[train_rows]
        numeric: dict[str, float] = {}
        categorical: dict[str, str] = {}
        dropped: list[str] = []
        n_missing = 0
        missing_cols = 0
        n_raw_missing = 0
        for col in frame.columns:
            name = str(col)
            values = train[col]
            present = values[~is_missing(values)]
            n_col_missing = int(is_missing(frame[col]).sum())
            n_raw_missing += n_col_missing
            if present.map(str).nunique() <= 1:  # constant (or empty) on the train split
                dropped.append(name)
                continue
            if _is_categorical(values):
                categorical[name] = str(present.map(str).value_counts().sort_index().idxmax())
            else:
                numeric[name] = float(np.median(present.to_numpy(dtype=np.float64)))
            n_missing += n_col_missing
            missing_cols += n_col_missing > 0
        encoder = None
        if categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            pipeline = cls(tuple(map(str, frame.columns)), numeric, categorical, tuple(dropped))
            encoder.fit(pipeline._categorical_block(train))
        return cls(
            columns=tuple(str(c) for c in frame.columns),
            numeric=numeric,
            categorical=categorical,
            dropped=tuple(dropped),
            encoder=encoder,
            n_missing=n_missing,
            n_missing_columns=missing_cols,
            n_raw_missing=n_raw_missing,
            n_cells=int(frame.shape[0] * frame.shape[1]),
        )

    @property
    def n_features(self) -> int:
        n_onehot = 0 if self.encoder is None else sum(len(c) for c in self.encoder.categories_)
        return len(self.numeric) + n_onehot

    def _categorical_block(self, frame: pd.DataFrame) -> np.ndarray:
        block = np.empty((len(frame), len(self.categorical)), dtype=object)
        for j, (col, fill) in enumerate(self.categorical.items()):
            values = frame[col]
            missing = is_missing(values)
            as_str = values.map(str).to_numpy(dtype=object)
            as_str[missing] = fill
            block[:, j] = as_str
        return block

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The numeric columns (imputed) followed by the one-hot features, float64."""
        by_name = {str(c): c for c in frame.columns}
        needed = [*self.numeric, *self.categorical]
        absent = [c for c in needed if c not in by_name]
        if absent:
            hint = closest(absent[0], list(by_name))
            raise ValueError(
                f"Missing feature column(s) {absent!r}.{hint} The task was built with columns "
                f"{needed!r}; pass a table that has them (extra columns are ignored)."
            )
        parts: list[np.ndarray] = []
        if self.numeric:
            num = np.empty((len(frame), len(self.numeric)), dtype=np.float64)
            for j, (col, median) in enumerate(self.numeric.items()):
                values = pd.to_numeric(frame[by_name[col]], errors="coerce")
                arr = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
                arr[~np.isfinite(arr)] = median
                num[:, j] = arr
            parts.append(num)
        if self.encoder is not None:
            renamed = frame.rename(columns={v: k for k, v in by_name.items()})
            parts.append(np.asarray(self.encoder.transform(self._categorical_block(renamed))))
        if not parts:
            return np.empty((len(frame), 0), dtype=np.float64)
        return np.hstack(parts)

    def report(self) -> tuple[str, ...]:
        """One line for imputation and encoding, one for dropped columns (only when done)."""
        lines: list[str] = []
        parts: list[str] = []
        if self.n_missing:
            s = "" if self.n_missing_columns == 1 else "s"
            parts.append(
                f"imputed {self.n_missing} missing values in {self.n_missing_columns} column{s} "
                "(median for numeric, most frequent for categorical)"
            )
        if self.categorical and self.encoder is not None:
            n_onehot = self.n_features - len(self.numeric)
            s = "" if len(self.categorical) == 1 else "s"
            parts.append(
                f"one-hot encoded {len(self.categorical)} categorical column{s} "
                f"into {n_onehot} features"
            )
        if parts:
            lines.append("; ".join(parts))
        if self.dropped:
            s = "" if len(self.dropped) == 1 else "s"
            lines.append(f"dropped {len(self.dropped)} constant column{s}: {list(self.dropped)!r}")
        return tuple(lines)


@dataclass(frozen=True)
class Preprocessor:
    """Turns raw inputs into a task's float32 features, exactly as its splits were made.

    Attributes
    ----------
    modality
        The task's modality.
    raw_shape
        Shape of one raw sample given to the task builder (arrays), or
        ``(n_columns,)`` for tables.
    standardiser
        Train-split standardisation.
    columns
        The fitted column pipeline of a table, or None for arrays.
    """

    modality: str
    raw_shape: tuple[int, ...]
    standardiser: Standardiser
    columns: ColumnPipeline | None = None
    feature_shape: tuple[int, ...] = field(default=())

    @property
    def n_categorical(self) -> int:
        return 0 if self.columns is None else len(self.columns.categorical)

    @property
    def n_source_columns(self) -> int:
        return 0 if self.columns is None else len(self.columns.columns)

    @property
    def missing_fraction(self) -> float:
        if self.columns is None or not self.columns.n_cells:
            return 0.0
        return self.columns.n_raw_missing / self.columns.n_cells

    def transform(self, X_raw: Any) -> np.ndarray:
        """Raw rows (a DataFrame or an array) -> float32 features of ``feature_shape``."""
        if self.columns is not None:
            frame = self._as_frame(X_raw)
            return self.standardiser.transform(self.columns.transform(frame))
        X = to_numeric_array(X_raw, "X")
        if X.shape[1:] != self.raw_shape:
            if X.shape[1:] == self.feature_shape:
                return self.standardiser.transform(X)
            alt = "" if self.feature_shape == self.raw_shape else f" or {self.feature_shape}"
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}; the task expects {self.raw_shape}{alt}. "
                "Pass rows shaped like the data the task was built from."
            )
        return self.standardiser.transform(X.reshape((X.shape[0], *self.feature_shape)))

    def _as_frame(self, X_raw: Any) -> pd.DataFrame:
        if self.columns is None:  # pragma: no cover - only called for tables
            raise TypeError("This task was not built from a table.")
        if isinstance(X_raw, pd.DataFrame):
            return X_raw
        if isinstance(X_raw, pd.Series):
            return X_raw.to_frame().T
        arr = np.asarray(X_raw, dtype=object)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != len(self.columns.columns):
            raise ValueError(
                f"X has shape {arr.shape}; this task was built from a table with "
                f"{len(self.columns.columns)} feature columns {list(self.columns.columns)!r}. "
                "Pass a DataFrame with those columns, or a 2-D array with one column each, "
                "in that order."
            )
        frame = pd.DataFrame(arr, columns=list(self.columns.columns))
        return frame.infer_objects()


def to_numeric_array(X: Any, what: str) -> np.ndarray:
    """``X`` as a float64 array; non-numeric or non-finite input gives a clear ValueError."""
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} could not be read as an array: {exc}.") from exc
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{what} must be numeric; got an array of dtype {arr.dtype} ({exc}). For tables "
                "with text or categorical columns use Task.from_dataframe or Task.from_csv, "
                "which encode them."
            ) from exc
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{what} has {n_bad} missing or infinite values (NaN/inf). Impute them first, or "
            "build the task with Task.from_dataframe(pd.DataFrame(X), ...), which imputes."
        )
    return arr
