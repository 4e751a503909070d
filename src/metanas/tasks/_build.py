"""Checks, label coding and seeded stratified splits shared by the Task builders."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from metanas._rng import derive_seed
from metanas.exceptions import unknown

__all__ = [
    "MODALITIES",
    "check_fraction",
    "encode_targets",
    "shape_for_modality",
    "split_indices",
]

#: ``tabular``: X of shape (n, features); ``sequence``: (n, channels, length);
#: ``image``: (n, channels, height, width).
MODALITIES = ("tabular", "sequence", "image")


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _label_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating) and math.isnan(float(v)):
        return True
    return isinstance(v, str) and not v.strip()


def _sort_key(v: Any) -> tuple[str, Any]:
    if isinstance(v, bool):
        return ("0bool", int(v))
    if isinstance(v, int | float):
        return ("1number", v)
    return (type(v).__name__, str(v))


def encode_targets(y: Any, what: str = "y") -> tuple[np.ndarray, tuple[Any, ...]]:
    """Labels -> (int64 codes, classes) with classes in sorted order, as Python scalars."""
    arr = np.asarray(y, dtype=object)
    if arr.ndim != 1:
        raise ValueError(
            f"{what} must be a 1-D sequence of labels; got shape {arr.shape}. For one-hot "
            "targets pass y.argmax(axis=1)."
        )
    values = [_scalar(v) for v in arr]
    missing = [i for i, v in enumerate(values) if _label_missing(v)]
    if missing:
        raise ValueError(
            f"{what} has {len(missing)} missing labels (None, NaN or empty), first at position "
            f"{missing[0]}. Drop those rows or fill them with a class before building the task."
        )
    try:
        hash(tuple(values))
    except TypeError as exc:
        raise TypeError(f"{what} labels must be hashable (str, int, float); {exc}.") from exc
    uniq = set(values)
    try:
        classes = tuple(sorted(uniq))
    except TypeError:
        classes = tuple(sorted(uniq, key=_sort_key))
    index = {c: i for i, c in enumerate(classes)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), classes


def check_fraction(name: str, value: float, *, allow_zero: bool = False) -> float:
    interval = "[0, 1)" if allow_zero else "(0, 1)"
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if ok:
        ok = (value >= 0 if allow_zero else value > 0) and value < 1
    if not ok:
        raise ValueError(f"{name} must be a fraction in {interval}; got {value!r}. Pass e.g. 0.2.")
    return float(value)


def check_split_sizes(valid_size: float, test_size: float) -> tuple[float, float]:
    """``(valid_size, test_size)`` checked as fractions whose sum leaves a training split."""
    valid_size = check_fraction("valid_size", valid_size)
    test_size = check_fraction("test_size", test_size, allow_zero=True)
    if test_size + valid_size >= 1:
        raise ValueError(
            f"test_size + valid_size must be < 1; got {test_size} + {valid_size}. "
            "Lower one of them."
        )
    return valid_size, test_size


def check_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise unknown("modality", modality, MODALITIES)
    return modality


def infer_modality(ndim: int) -> str:
    """Modality from the number of dimensions of X (samples included)."""
    if ndim == 2:
        return "tabular"
    if ndim == 3:
        return "sequence"
    if ndim == 4:
        return "image"
    raise ValueError(
        f"X must have 2 (tabular), 3 (sequence: n, channels, length) or 4 (image: n, channels, "
        f"height, width) dimensions; got {ndim}. "
        + ("Reshape a single feature with X.reshape(-1, 1)." if ndim == 1 else "")
    )


def shape_for_modality(shape: tuple[int, ...], modality: str) -> tuple[int, ...]:
    """Shape of one processed sample, given one raw sample's shape and the modality."""
    need = {"tabular": (1,), "sequence": (1, 2), "image": (2, 3)}[modality]
    if len(shape) not in need:
        raise ValueError(
            f"X with samples of shape {shape} cannot be modality {modality!r}: it needs "
            + {
                "tabular": "2-D X (n, features)",
                "sequence": "2-D X (n, length) or 3-D X (n, channels, length)",
                "image": "3-D X (n, height, width) or 4-D X (n, channels, height, width)",
            }[modality]
            + ". Reshape X or pass another modality."
        )
    if modality == "sequence" and len(shape) == 1:
        return (1, *shape)
    if modality == "image" and len(shape) == 2:
        return (1, *shape)
    return shape


def _class_counts_error(
    y: np.ndarray, classes: Sequence[Any], minimum: int, why: str
) -> ValueError | None:
    counts = np.bincount(y, minlength=len(classes))
    low = [(classes[i], int(c)) for i, c in enumerate(counts) if c < minimum]
    if not low:
        return None
    shown = ", ".join(f"{c!r} ({n} sample{'s' if n != 1 else ''})" for c, n in low[:10])
    return ValueError(
        f"Class {shown} has too few samples to stratify: each class needs at least {minimum} "
        f"({why}). Add samples of that class, merge it with another or drop its rows."
    )


def split_indices(
    y: np.ndarray,
    classes: Sequence[Any],
    *,
    test_size: float | None,
    valid_size: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified (train, valid, test) row indices, each sorted.

    ``test_size=None`` or 0 carves only a validation split (the test split is
    given separately, or there is none). The test split has ``ceil(test_size * n)`` rows and the
    validation split ``round(valid_size * n)`` rows, ``n`` the rows of ``y``.
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    k = len(classes)
    if k < 2:
        raise ValueError(
            f"A classification task needs at least 2 classes; y has only {list(classes)!r}. "
            "Check the target column, or add samples of other classes."
        )
    n_splits = 3 if test_size else 2
    err = _class_counts_error(
        y,
        classes,
        n_splits,
        "one for each of the train, validation and test splits"
        if n_splits == 3
        else "one for each of the train and validation splits",
    )
    if err is not None:
        raise err
    idx = np.arange(n)
    test_idx = np.empty(0, dtype=np.int64)
    rest, y_rest = idx, y
    if test_size:
        n_test = math.ceil(test_size * n)
        if n_test < k or n - n_test < 2 * k:
            raise ValueError(
                f"test_size={test_size} gives {n_test} test rows of {n} for {k} classes; the "
                f"test split needs at least one row per class and the rest two. Raise test_size "
                "or add samples."
            )
        rest, test_idx = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
        y_rest = y[rest]
    n_valid = max(round(valid_size * n), k)
    if len(rest) - n_valid < k:
        raise ValueError(
            f"valid_size={valid_size} leaves {len(rest) - n_valid} train rows for {k} classes. "
            "Lower valid_size (or test_size) or add samples."
        )
    train_idx, valid_idx = train_test_split(
        rest, test_size=n_valid, stratify=y_rest, random_state=derive_seed(seed, 1) % 2**31
    )
    return np.sort(train_idx), np.sort(valid_idx), np.sort(test_idx)
