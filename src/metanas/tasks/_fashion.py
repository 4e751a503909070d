"""Fashion-MNIST read offline from the standard IDX files, with cheap variants.

Debian's package ``dataset-fashion-mnist`` installs the four files under
``/usr/share/datasets/fashion-mnist``; a directory given by the user (``path=`` or
``$METANAS_FASHION_MNIST``) works the same, gzip-compressed or not. A small ``.npz`` written by
:func:`save_fashion_subset` holds only the rows some variants need, so a machine without the
package can build exactly the same tasks.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metanas.exceptions import unknown

__all__ = [
    "FASHION_ARGS",
    "FASHION_CLASSES",
    "FASHION_DIR",
    "FASHION_ENV",
    "read_idx",
    "save_fashion_subset",
    "select_classes",
    "stratified_subset",
    "subset_classes",
]

#: Where Debian's ``dataset-fashion-mnist`` puts the files.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Environment variable naming another directory (or ``.npz`` file) of Fashion-MNIST.
FASHION_ENV = "METANAS_FASHION_MNIST"
#: The ten labels, in the order of their codes 0..9.
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
#: Arguments of ``load_task("fashion-mnist", **kw)`` and their defaults.
FASHION_ARGS: dict[str, Any] = {
    "n_train": None,
    "n_test": None,
    "classes": None,
    "downsample": 1,
    "data_seed": 0,
    "path": None,
}
_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_DOWNSAMPLE = (1, 2, 4, 7)
_INSTALL = (
    "Install them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass "
    "path=<a directory holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]> (or set "
    f"${FASHION_ENV} to it)."
)
_IDX_TYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain): the array it holds, with its stored shape.

    Raises
    ------
    ValueError
        The file is not an IDX file (bad magic number or a size that does not match).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9]))
    >>> read_idx(p).tolist()
    [7, 1, 9]
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{str(p)!r} is not an IDX file (its first bytes are {raw[:4]!r}; expected 0, 0, a "
            "type code and the number of dimensions). Pass the original Fashion-MNIST files."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{str(p)!r} holds {len(raw) - header} bytes of data; its header {dims} says "
            f"{expected}. The file is truncated or damaged: copy it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


@dataclass(frozen=True)
class _Source:
    """All labels of both splits, and the images of the rows that ``rows_*`` list."""

    where: str
    y_train: np.ndarray
    y_test: np.ndarray
    x_train: np.ndarray
    x_test: np.ndarray
    rows_train: np.ndarray | None = None  # None: every row is present
    rows_test: np.ndarray | None = None

    def images(self, split: str, index: np.ndarray) -> np.ndarray:
        x = self.x_train if split == "train" else self.x_test
        rows = self.rows_train if split == "train" else self.rows_test
        if rows is None:
            picked: np.ndarray = x[index]
            return picked
        pos = np.searchsorted(rows, index)
        pos = np.minimum(pos, len(rows) - 1)
        if not np.array_equal(rows[pos], index):
            raise ValueError(
                f"The Fashion-MNIST subset file {self.where!r} does not hold all the {split} rows "
                "these arguments select. Make it for these tasks (benchmarks/make_family.py "
                "fashion-npz) or read the full IDX files: " + _INSTALL
            )
        found: np.ndarray = x[pos]
        return found


def _find(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


@functools.lru_cache(maxsize=4)
def _load_source(where: str) -> _Source:
    p = Path(where)
    if p.is_file() and p.suffix == ".npz":
        with np.load(p) as z:
            missing = sorted({"x_train", "y_train", "x_test", "y_test"} - set(z.files))
            if missing:
                raise ValueError(
                    f"{where!r} lacks the array(s) {missing}; write it with "
                    "metanas.tasks._fashion.save_fashion_subset."
                )
            arrays = {k: np.asarray(z[k]) for k in z.files}
        return _Source(
            where,
            arrays["y_train"],
            arrays["y_test"],
            arrays["x_train"],
            arrays["x_test"],
            arrays.get("rows_train"),
            arrays.get("rows_test"),
        )
    found = {key: _find(p, stem) for key, stem in _FILES.items()}
    absent = [_FILES[k] for k, f in found.items() if f is None]
    if absent:
        raise FileNotFoundError(
            f"Fashion-MNIST is not in {where!r} (missing {', '.join(absent)}). {_INSTALL}"
        )
    arrays = {k: read_idx(f) for k, f in found.items() if f is not None}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"The Fashion-MNIST {split} files in {where!r} hold images {x.shape} and labels "
                f"{y.shape}; expected (n, 28, 28) and (n,)."
            )
    return _Source(where, arrays["y_train"], arrays["y_test"], arrays["x_train"], arrays["x_test"])


def _where(path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        return os.fspath(Path(path).expanduser())
    env = os.environ.get(FASHION_ENV)
    if env:
        return os.fspath(Path(env).expanduser())
    if FASHION_DIR.is_dir():
        return os.fspath(FASHION_DIR)
    raise FileNotFoundError(
        f"Fashion-MNIST files were not found in {str(FASHION_DIR)!r}. {_INSTALL}"
    )


def select_classes(
    labels: np.ndarray, classes: Sequence[int] | None, n_classes: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label is in ``classes`` and their labels recoded ``0 .. k-1`` (sorted order).

    Raises
    ------
    ValueError
        ``classes`` has fewer than two distinct classes, or one outside ``0 .. n_classes - 1``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if classes is None:
        return np.arange(len(labels)), labels
    if isinstance(classes, str | bytes) or not isinstance(classes, Sequence | np.ndarray):
        raise TypeError(f"classes must be a sequence of class codes; got {classes!r}.")
    wanted = sorted({int(c) for c in classes})
    bad = [c for c in wanted if not 0 <= c < n_classes]
    if len(wanted) < 2 or bad:
        raise ValueError(
            f"classes of {what} must name at least two of the codes 0..{n_classes - 1}; got "
            f"{list(classes)!r}. Pass e.g. classes=(0, 1, 2)."
        )
    rows = np.flatnonzero(np.isin(labels, wanted))
    recode = np.full(n_classes, -1, dtype=np.int64)
    recode[wanted] = np.arange(len(wanted))
    return rows, recode[labels[rows]]


def subset_classes(
    data: Mapping[str, np.ndarray], classes: Sequence[int], n_classes: int, what: str
) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """``data`` (``x``, ``y``, ``x_test``, ``y_test``) cut to ``classes``, recoded ``0 .. k-1``."""
    out: dict[str, np.ndarray] = {}
    for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
        rows, y = select_classes(data[y_key], classes, n_classes, what)
        out[x_key], out[y_key] = np.asarray(data[x_key])[rows], y
    return out, tuple(sorted({int(c) for c in classes}))


def stratified_subset(labels: np.ndarray, n: int | None, seed: int, what: str) -> np.ndarray:
    """Positions of a seeded, class-stratified subset of ``n`` of ``labels`` (sorted); all if None.

    Each class gets its share of ``n`` (largest remainders round), so the class
    proportions are kept.
    """
    total = len(labels)
    if n is None or n >= total:
        return np.arange(total)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{what} must be an int >= 1 or None; got {n!r}.")
    codes, counts = np.unique(labels, return_counts=True)
    share = counts * (n / total)
    k = np.floor(share).astype(int)
    order = np.argsort(-(share - k), kind="stable")
    k[order[: n - int(k.sum())]] += 1
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(labels == c), size=int(kc), replace=False)
        for c, kc in zip(codes, k, strict=True)
    ]
    return np.sort(np.concatenate(picks))


def _selection(source: _Source, args: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Original row numbers and new labels of both splits for ``args``."""
    out: dict[str, np.ndarray] = {}
    for split, n_key in (("train", "n_train"), ("test", "n_test")):
        labels = source.y_train if split == "train" else source.y_test
        rows, y = select_classes(labels, args["classes"], len(FASHION_CLASSES), "fashion-mnist")
        pick = stratified_subset(y, args[n_key], int(args["data_seed"]), n_key)
        out[f"rows_{split}"] = rows[pick]
        out[f"y_{split}"] = y[pick]
    return out


def _downsample(x: np.ndarray, factor: int) -> np.ndarray:
    n, h, w = x.shape
    out = x.astype(np.float32) / 255.0
    if factor == 1:
        return out
    pooled: np.ndarray = out.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return pooled


def check_fashion_args(kw: Mapping[str, Any]) -> dict[str, Any]:
    """``kw`` over :data:`FASHION_ARGS`, checked (unknown names, downsample factor)."""
    bad = sorted(set(kw) - set(FASHION_ARGS))
    if bad:
        raise unknown(
            "fashion-mnist argument",
            bad[0],
            [*FASHION_ARGS, "valid_size"],
            "Pass only these (the test rows are the official test set).",
        )
    args = {**FASHION_ARGS, **kw}
    if args["downsample"] not in _DOWNSAMPLE:
        raise ValueError(
            f"downsample must be one of {_DOWNSAMPLE} (28x28 pooled to 28/f); got "
            f"{args['downsample']!r}."
        )
    if args["classes"] is not None:
        args["classes"] = tuple(sorted({int(c) for c in args["classes"]}))
    return args


def fashion_arrays(kw: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays (``x``, ``y``, ``x_test``, ``y_test``) of ``load_task("fashion-mnist", **kw)``.

    Returns the arrays (images ``(n, 1, 28/f, 28/f)`` in [0, 1]) and the checked arguments.
    """
    args = check_fashion_args(kw)
    source = _load_source(_where(args["path"]))
    sel = _selection(source, args)
    factor = int(args["downsample"])
    arrays = {
        "x": _downsample(source.images("train", sel["rows_train"]), factor)[:, None],
        "y": sel["y_train"],
        "x_test": _downsample(source.images("test", sel["rows_test"]), factor)[:, None],
        "y_test": sel["y_test"],
    }
    return arrays, args


def save_fashion_subset(
    out: str | os.PathLike[str],
    variants: Sequence[Mapping[str, Any]],
    *,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a small ``.npz`` holding the rows the ``variants`` (``load_task`` kwargs) select.

    ``load_task("fashion-mnist", path=out, **variant)`` then builds each variant
    exactly as from the full files: the file keeps every label (to select the
    same rows) and the images of the selected rows only.
    """
    source = _load_source(_where(path))
    train: set[int] = set()
    test: set[int] = set()
    for variant in variants:
        sel = _selection(source, check_fashion_args({**variant, "path": None}))
        train.update(sel["rows_train"].tolist())
        test.update(sel["rows_test"].tolist())
    rows_train = np.array(sorted(train), dtype=np.int64)
    rows_test = np.array(sorted(test), dtype=np.int64)
    target = Path(out)
    np.savez_compressed(
        target,
        y_train=source.y_train,
        y_test=source.y_test,
        rows_train=rows_train,
        rows_test=rows_test,
        x_train=source.images("train", rows_train),
        x_test=source.images("test", rows_test),
    )
    return target if target.suffix == ".npz" else target.with_suffix(target.suffix + ".npz")
