"""Few-shot data: class-split data sets and a seeded N-way K-shot episode sampler.

Everything here is numpy only; the learners (:mod:`metanas.fewshot.learners`)
need torch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metanas._checks import check_positive_int
from metanas._rng import resolve_seed
from metanas.exceptions import unknown
from metanas.tasks.builtin import MNIST1D_ARGS
from metanas.tasks.builtin import _mnist1d as _mnist1d_arrays

__all__ = [
    "BUILTIN_DATASETS",
    "ClassSplit",
    "Episode",
    "EpisodeSampler",
    "FewShotDataset",
    "fewshot_dataset",
    "split_classes",
]

#: Names :func:`fewshot_dataset` understands.
BUILTIN_DATASETS = ("mnist1d", "digits", "glyphs")


@dataclass(frozen=True, eq=False)
class FewShotDataset:
    """Labelled examples for few-shot learning.

    ``X`` is float32 of shape ``(n, *input_shape)``: ``(n, features)`` for
    tabular data, ``(n, 1, length)`` for sequences, ``(n, 1, height, width)``
    for images; ``y`` holds the original integer labels (int64).
    ``class_groups`` (optional) maps every label to a split unit: :func:`split_classes`
    keeps the classes of one unit together (near-duplicate glyphs of several fonts).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    modality: str = "tabular"
    class_groups: Mapping[int, int] | None = None

    @property
    def classes(self) -> tuple[int, ...]:
        """The distinct labels, sorted."""
        return tuple(int(c) for c in np.unique(self.y))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X.shape[1:])

    def subset(self, classes: Sequence[int], name: str | None = None) -> FewShotDataset:
        """The examples whose label is in ``classes`` (labels kept as they are)."""
        mask = np.isin(self.y, np.asarray(list(classes), dtype=np.int64))
        groups = (
            None
            if self.class_groups is None
            else {int(c): self.class_groups[int(c)] for c in classes}
        )
        return FewShotDataset(name or self.name, self.X[mask], self.y[mask], self.modality, groups)


@dataclass(frozen=True, eq=False)
class ClassSplit:
    """Meta-train, meta-validation and meta-test data of one data set.

    ``train`` and ``test`` have disjoint classes. ``valid`` has its own classes
    when the split was asked for validation classes; otherwise it holds
    held-out *examples* of the training classes (``valid_disjoint`` is then
    False), which is the only option when a data set has few classes (10 for
    MNIST-1D and digits: 5 classes meta-train, 5 classes meta-test for 5-way).
    """

    train: FewShotDataset
    valid: FewShotDataset
    test: FewShotDataset
    train_classes: tuple[int, ...]
    valid_classes: tuple[int, ...]
    test_classes: tuple[int, ...]
    valid_disjoint: bool


@dataclass(frozen=True, eq=False)
class Episode:
    """One N-way K-shot task. Unpacks as ``(support_x, support_y, query_x, query_y)``.

    Labels are relabelled ``0 .. ways - 1``; ``classes[j]`` is the original
    label of episode label ``j``.
    """

    support_x: np.ndarray
    support_y: np.ndarray
    query_x: np.ndarray
    query_y: np.ndarray
    classes: tuple[int, ...]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.support_x, self.support_y, self.query_x, self.query_y))


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X_arr = np.asarray(X, dtype=np.float32)
    y_arr = np.asarray(y)
    if X_arr.ndim < 2:
        raise ValueError(
            f"X must have shape (n_samples, *input_shape); got shape {X_arr.shape}. "
            "Reshape a 1-D feature vector to (n, 1)."
        )
    if y_arr.ndim != 1 or len(y_arr) != len(X_arr):
        raise ValueError(
            f"y must be 1-D with one label per row of X; got shape {y_arr.shape} for X of "
            f"shape {X_arr.shape}."
        )
    if not np.issubdtype(y_arr.dtype, np.integer):
        if np.issubdtype(y_arr.dtype, np.floating) and np.all(y_arr == np.round(y_arr)):
            y_arr = y_arr.astype(np.int64)
        else:
            raise TypeError(
                f"y must hold integer class labels; got dtype {y_arr.dtype}. Encode the "
                "labels as integers first (e.g. with np.unique(y, return_inverse=True))."
            )
    if not np.all(np.isfinite(X_arr)):
        raise ValueError("X contains NaN or infinite values; impute or drop them first.")
    return X_arr, y_arr.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _mnist1d(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generated once per (n_samples, seed) and process; the arrays are read-only."""
    try:
        import mnist1d.data  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'The mnist1d data set needs the mnist1d package: pip install "metanas[torch]" '
            "or pip install mnist1d."
        ) from exc
    # The generator of the mnist1d task, sharing its cache: the package defaults but these two.
    args = {**MNIST1D_ARGS, "num_samples": int(n_samples), "data_seed": int(seed)}
    data = _mnist1d_arrays(tuple(sorted(args.items())))
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    X = np.ascontiguousarray(X[:, None, :])
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def fewshot_dataset(
    data: str | FewShotDataset | tuple[Any, Any],
    *,
    n_samples: int = 10_000,
    seed: int = 0,
    modality: str | None = None,
    image_size: int = 28,
) -> FewShotDataset:
    """A :class:`FewShotDataset` from a built-in name or labelled arrays.

    Parameters
    ----------
    data
        ``"mnist1d"`` (10 classes, sequences of shape (1, 40), generated
        offline with ``mnist1d.data.make_dataset``), ``"digits"`` (scikit-learn's
        8x8 digits, 10 classes, ~180 images each, scaled to [0, 1], shape
        (1, 8, 8)), ``"glyphs"`` (725 Omniglot-like glyph classes of 15 Hershey fonts,
        20 drawings each, shape (1, image_size, image_size); see
        :mod:`metanas.fewshot.glyphs`), an ``(X, y)`` pair of arrays with integer labels,
        or a :class:`FewShotDataset` (returned as is).
    n_samples
        Number of MNIST-1D examples to generate (1,000 per class by default).
    seed
        Seed of the MNIST-1D generator (the glyph drawings have a fixed seed, 0).
    image_size
        Side of the glyph images in pixels (>= 8).
    modality
        For arrays: ``"tabular"``, ``"sequence"`` or ``"image"``; by default
        inferred from the number of dimensions of ``X`` (2, 3, 4).

    Raises
    ------
    UnknownNameError
        An unknown data-set name.
    ValueError, TypeError
        Arrays of the wrong shape or non-integer labels.

    Examples
    --------
    >>> ds = fewshot_dataset("digits")
    >>> ds.input_shape, len(ds.classes)
    ((1, 8, 8), 10)
    """
    if isinstance(data, FewShotDataset):
        return data
    if isinstance(data, str):
        key = data.lower().replace("-", "").replace("_", "")
        if key == "mnist1d":
            if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 100:
                raise ValueError(f"n_samples must be an int >= 100 for mnist1d; got {n_samples!r}.")
            X, y = _mnist1d(n_samples, seed)
            return FewShotDataset("mnist1d", X, y, "sequence")
        if key == "digits":
            from sklearn.datasets import load_digits

            bunch = load_digits()
            X = (np.asarray(bunch.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
            return FewShotDataset("digits", X, np.asarray(bunch.target, dtype=np.int64), "image")
        if key == "glyphs":
            from metanas.fewshot.glyphs import glyph_arrays

            size = check_positive_int("image_size", image_size, 8)
            g = glyph_arrays(size)
            groups = dict(enumerate(g.units))
            return FewShotDataset(f"glyphs{size}", g.X, g.y, "image", groups)
        raise unknown("data set", data, BUILTIN_DATASETS, "Or pass an (X, y) pair of arrays.")
    if isinstance(data, tuple) and len(data) == 2:
        X, y = _check_xy(*data)
        inferred = {2: "tabular", 3: "sequence", 4: "image"}.get(X.ndim)
        mod = modality or inferred
        if mod not in ("tabular", "sequence", "image"):
            raise ValueError(
                f"Cannot infer the modality of X with shape {X.shape}; pass "
                "modality='tabular', 'sequence' or 'image' and X of shape (n, features), "
                "(n, channels, length) or (n, channels, height, width)."
            )
        return FewShotDataset("arrays", X, y, mod)
    raise TypeError(
        f"data must be 'mnist1d', 'digits', an (X, y) tuple or a FewShotDataset; got "
        f"{type(data).__name__}."
    )


def _check_labels(name: str, given: Sequence[int], classes: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(c) for c in given)
    missing = sorted(set(out) - set(classes))
    if missing:
        raise ValueError(
            f"{name} {missing} are not labels of the data set; its labels are {list(classes)}."
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a label twice: {list(out)}.")
    return out


def _shuffled(
    free: list[int], groups: Mapping[int, int] | None, rng: np.random.Generator
) -> list[int]:
    """The classes in random order; with groups, the classes of a group stay adjacent."""
    if groups is None:
        return [free[i] for i in rng.permutation(len(free))]
    members: dict[int, list[int]] = {}
    for c in free:
        members.setdefault(groups[c], []).append(c)
    keys = sorted(members)
    return [c for i in rng.permutation(len(keys)) for c in members[keys[i]]]


def _take(order: list[int], n: int, groups: Mapping[int, int] | None) -> int:
    """How many of ``order`` to take for ``n`` classes without cutting a group."""
    n = min(n, len(order))
    if groups is None or n == 0:
        return n
    while n < len(order) and groups[order[n]] == groups[order[n - 1]]:
        n += 1
    return n


def split_classes(
    data: FewShotDataset | tuple[Any, Any],
    *,
    train_classes: Sequence[int] | None = None,
    valid_classes: Sequence[int] | None = None,
    test_classes: Sequence[int] | None = None,
    test_fraction: float = 0.5,
    valid_fraction: float = 0.0,
    valid_examples: float = 0.2,
    seed: int | None = 0,
) -> ClassSplit:
    """Split a data set into meta-train, meta-validation and meta-test classes.

    Classes not given explicitly are drawn at random (seeded): first the test
    classes (``round(test_fraction * n_classes)``, at least 1), then the
    validation classes (``round(valid_fraction * n_classes)``); the rest are
    training classes. When the data set has ``class_groups``, whole groups are drawn
    until a part has at least its share of classes, so no group spans two parts.
    With no validation classes, meta-validation uses a random ``valid_examples``
    fraction of every training class's examples, which meta-training then does not see.

    Parameters
    ----------
    data
        A :class:`FewShotDataset` or an ``(X, y)`` pair.
    train_classes, valid_classes, test_classes
        Explicit label lists; they must be disjoint.
    test_fraction, valid_fraction
        Fractions of the classes to hold out when the lists are not given.
    valid_examples
        Fraction of each training class's examples held out for validation
        when there are no validation classes (0 leaves ``valid`` empty).
    seed
        Seed of the random class and example choice.

    Raises
    ------
    ValueError
        Overlapping or unknown class lists, fractions outside [0, 1), or no
        class left for meta-training.

    Examples
    --------
    >>> split = split_classes(fewshot_dataset("digits"), seed=0)
    >>> len(split.train_classes), len(split.test_classes), split.valid_disjoint
    (5, 5, False)
    >>> set(split.train_classes) & set(split.test_classes)
    set()
    """
    ds = fewshot_dataset(data) if isinstance(data, tuple) else data
    if not isinstance(ds, FewShotDataset):
        raise TypeError(f"data must be a FewShotDataset or an (X, y) tuple; got {type(data)}.")
    for name, frac in (
        ("test_fraction", test_fraction),
        ("valid_fraction", valid_fraction),
        ("valid_examples", valid_examples),
    ):
        if not 0.0 <= float(frac) < 1.0:
            raise ValueError(f"{name} must be in [0, 1); got {frac}.")
    classes = ds.classes
    rng = np.random.default_rng(resolve_seed(seed))
    test = _check_labels("test_classes", test_classes, classes) if test_classes else None
    valid = _check_labels("valid_classes", valid_classes, classes) if valid_classes else None
    train = _check_labels("train_classes", train_classes, classes) if train_classes else None
    given = [c for part in (train, valid, test) if part for c in part]
    if len(set(given)) != len(given):
        raise ValueError(
            "train_classes, valid_classes and test_classes must be disjoint; "
            f"got {train}, {valid}, {test}."
        )
    free = [c for c in classes if c not in set(given)]
    order = _shuffled(free, ds.class_groups, rng)
    if test is None:
        n_test = _take(order, max(1, round(test_fraction * len(classes))), ds.class_groups)
        test, order = tuple(sorted(order[:n_test])), order[n_test:]
    if valid is None:
        n_valid = _take(order, round(valid_fraction * len(classes)), ds.class_groups)
        valid, order = tuple(sorted(order[:n_valid])), order[n_valid:]
    if train is None:
        train = tuple(sorted(order))
    if not train or not test:
        raise ValueError(
            f"No class left for meta-{'training' if not train else 'testing'}: the data set "
            f"has {len(classes)} classes ({list(classes)}). Lower test_fraction / "
            "valid_fraction or pass the class lists."
        )
    test_ds = ds.subset(test, f"{ds.name} (meta-test)")
    if valid:
        return ClassSplit(
            ds.subset(train, f"{ds.name} (meta-train)"),
            ds.subset(valid, f"{ds.name} (meta-valid)"),
            test_ds, train, valid, test, valid_disjoint=True,
        )  # fmt: skip
    train_idx: list[np.ndarray] = []
    valid_idx: list[np.ndarray] = []
    for c in train:
        idx = np.flatnonzero(ds.y == c)
        idx = idx[rng.permutation(len(idx))]
        n_valid = round(valid_examples * len(idx))
        valid_idx.append(idx[:n_valid])
        train_idx.append(idx[n_valid:])
    tr = np.sort(np.concatenate(train_idx))
    va = np.sort(np.concatenate(valid_idx))
    return ClassSplit(
        FewShotDataset(f"{ds.name} (meta-train)", ds.X[tr], ds.y[tr], ds.modality),
        FewShotDataset(f"{ds.name} (meta-valid)", ds.X[va], ds.y[va], ds.modality),
        test_ds, train, train if len(va) else (), test, valid_disjoint=False,
    )  # fmt: skip


class EpisodeSampler:
    """Seeded N-way K-shot episodes drawn from labelled examples.

    Episode ``i`` depends only on the seed and ``i``: :meth:`episode` returns
    it directly, :meth:`sample` returns the next one and iteration yields them
    in order from 0, so two samplers with the same seed give the same stream.
    Each episode draws ``ways`` distinct classes, then ``shots + queries``
    distinct examples of each; labels are relabelled ``0 .. ways - 1`` in the
    order the classes were drawn.

    Parameters
    ----------
    X, y
        Examples ``(n, *input_shape)`` and their integer labels, or a
        :class:`FewShotDataset` as ``X`` with ``y`` left out.
    ways, shots, queries
        Classes per episode, support examples and query examples per class.
    seed
        Seed of the stream (None: fresh entropy).

    Raises
    ------
    ValueError
        ``ways`` larger than the number of classes, or ``shots + queries``
        larger than the examples of some class.

    Examples
    --------
    >>> split = split_classes(fewshot_dataset("digits"), seed=0)
    >>> sampler = EpisodeSampler(split.test, ways=5, shots=1, queries=3, seed=0)
    >>> sx, sy, qx, qy = sampler.sample()
    >>> sx.shape, sy.tolist(), qy.tolist()[:6]
    ((5, 1, 8, 8), [0, 1, 2, 3, 4], [0, 0, 0, 1, 1, 1])
    """

    def __init__(
        self,
        X: np.ndarray | FewShotDataset,
        y: np.ndarray | None = None,
        *,
        ways: int,
        shots: int,
        queries: int = 15,
        seed: int | None = 0,
    ) -> None:
        if isinstance(X, FewShotDataset):
            if y is not None:
                raise TypeError("Pass either a FewShotDataset or X and y, not both.")
            ds = X
            X, y = ds.X, ds.y
        if y is None:
            raise TypeError("y is required when X is an array.")
        self.X, self.y = _check_xy(X, y)
        self.ways = check_positive_int("ways", ways, 1)
        self.shots = check_positive_int("shots", shots, 1)
        self.queries = check_positive_int("queries", queries, 1)
        self.seed = resolve_seed(seed)
        labels, counts = np.unique(self.y, return_counts=True)
        if self.ways > len(labels):
            raise ValueError(
                f"ways={self.ways} but only {len(labels)} classes are available "
                f"({labels.tolist()}). Use ways <= {len(labels)} or give this split more classes."
            )
        need = self.shots + self.queries
        small = [(int(c), int(n)) for c, n in zip(labels, counts, strict=True) if n < need]
        if small:
            c, n = min(small, key=lambda t: t[1])
            raise ValueError(
                f"shots + queries = {need} examples per class are needed, but class {c} has "
                f"only {n}{' (and others are short too)' if len(small) > 1 else ''}. Lower "
                "shots or queries."
            )
        self.classes = tuple(int(c) for c in labels)
        self._index = {int(c): np.flatnonzero(self.y == c) for c in labels}
        self._next = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X.shape[1:])

    def episode(self, i: int) -> Episode:
        """Episode number ``i`` of the stream (independent of any other call)."""
        rng = np.random.default_rng([self.seed, int(i)])
        chosen = rng.choice(len(self.classes), size=self.ways, replace=False)
        n = self.shots + self.queries
        sup: list[np.ndarray] = []
        qry: list[np.ndarray] = []
        for j in chosen:
            idx = self._index[self.classes[int(j)]]
            pick = idx[rng.choice(len(idx), size=n, replace=False)]
            sup.append(pick[: self.shots])
            qry.append(pick[self.shots :])
        s_idx, q_idx = np.concatenate(sup), np.concatenate(qry)
        labels = np.arange(self.ways, dtype=np.int64)
        return Episode(
            self.X[s_idx],
            np.repeat(labels, self.shots),
            self.X[q_idx],
            np.repeat(labels, self.queries),
            tuple(self.classes[int(j)] for j in chosen),
        )

    def sample(self) -> Episode:
        """The next episode of the stream."""
        ep = self.episode(self._next)
        self._next += 1
        return ep

    def reset(self) -> None:
        """Restart the stream at episode 0."""
        self._next = 0

    def batch(self, n: int) -> list[Episode]:
        """The next ``n`` episodes."""
        return [self.sample() for _ in range(check_positive_int("n", n, 1))]

    def __iter__(self) -> Iterator[Episode]:
        i = 0
        while True:
            yield self.episode(i)
            i += 1

    def __repr__(self) -> str:
        return (
            f"EpisodeSampler(ways={self.ways}, shots={self.shots}, queries={self.queries}, "
            f"classes={len(self.classes)}, seed={self.seed})"
        )
