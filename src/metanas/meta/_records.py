"""Records of the experience memory: what a task holds, one task's history, export/import reports.

Plain data with checks, no storage access: a :class:`TaskHistory` is what a
strategy or predictor is handed (aligned arrays, Syne Tune style), whether it
was read from a store or built from evaluations in memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace

__all__ = ["ExportSummary", "ImportReport", "PastTask", "TaskHistory", "TaskInfo"]

_logger = logging.getLogger(__name__)

_DIRECTIONS = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}


@dataclass(frozen=True)
class TaskInfo:
    """A task of the memory, with what its studies hold.

    Attributes
    ----------
    name
        The task name (e.g. ``"nas-bench-graph/cora"``).
    descriptors
        Meta-features of the task (``{"n_samples": 1797, ...}``).
    n_studies, n_trials, n_complete
        Studies of the task, and their trials (all states) and COMPLETE ones.
    best
        Best value seen, per metric that some study of the task optimises.
    directions
        ``"maximize"``/``"minimize"`` for each metric of ``best``.
    """

    name: str
    descriptors: Mapping[str, Any]
    n_studies: int
    n_trials: int
    n_complete: int
    best: Mapping[str, float] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "name": self.name,
            "descriptors": dict(self.descriptors),
            "n_studies": self.n_studies,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "best": dict(self.best),
            "directions": dict(self.directions),
        }


@dataclass(frozen=True, eq=False)
class TaskHistory:
    """What one task's evaluations say about one metric: aligned arrays, one row per network.

    Rows are distinct architectures (distinct ``keys``), in the order they were
    first evaluated (studies by creation, trials by number). **Repeats are
    averaged**: an architecture evaluated several times on the task (by several
    studies, or several seeds) has one row whose value is the mean of its
    evaluations, and ``counts`` says how many were averaged.

    Attributes
    ----------
    task : str
        Task name.
    metric : str
        The metric the values are of.
    direction : {"maximize", "minimize"}
        Whether larger or smaller values are better.
    archs : list of Architecture, length n
        One architecture per row (the first encoding evaluated).
    keys : list of Hashable, length n
        ``space.key(arch)`` when the history was read with a space (isomorphic
        encodings share a row), else ``arch.to_string()``. Histories are
        matched across tasks by these keys.
    values : numpy.ndarray, shape (n,), float64
        Mean metric value of each row.
    counts : numpy.ndarray, shape (n,), int64
        Evaluations averaged into each row (>= 1).
    descriptors : Mapping[str, Any]
        The task's descriptors (meta-features).
    studies : tuple of str
        Studies the rows come from.

    Examples
    --------
    >>> from metanas import Architecture
    >>> a, b = Architecture({"x": 1}), Architecture({"x": 2})
    >>> h = TaskHistory.from_evaluations("t", [a, b, a], [0.5, 0.9, 0.7])
    >>> h.values.tolist(), h.counts.tolist()
    ([0.6, 0.9], [2, 1])
    >>> h.best_architectures(1)
    [Architecture(x=2)]
    """

    task: str
    metric: str
    direction: str
    archs: list[Architecture]
    keys: list[Hashable]
    values: np.ndarray
    counts: np.ndarray
    descriptors: Mapping[str, Any] = field(default_factory=dict)
    studies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize'; got {self.direction!r}.")
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        counts = np.asarray(self.counts, dtype=np.int64).reshape(-1)
        n = len(self.archs)
        if len(self.keys) != n or values.shape != (n,) or counts.shape != (n,):
            raise ValueError(
                f"TaskHistory arrays must all have length n = len(archs) = {n}; got "
                f"{len(self.keys)} keys, values of shape {values.shape}, counts of shape "
                f"{counts.shape}."
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "archs", list(self.archs))
        object.__setattr__(self, "keys", list(self.keys))

    def __len__(self) -> int:
        return len(self.archs)

    def __repr__(self) -> str:
        return (
            f"TaskHistory(task={self.task!r}, metric={self.metric!r}, "
            f"direction={self.direction!r}, n={len(self)})"
        )

    @property
    def scores(self) -> np.ndarray:
        """``values`` oriented so that larger is better (negated for ``minimize``), shape (n,)."""
        return self.values if self.direction == "maximize" else -self.values

    @property
    def best_value(self) -> float | None:
        """The best row's value (None for an empty history)."""
        if not len(self):
            return None
        return float(self.values[int(np.argmax(self.scores))])

    def order(self) -> np.ndarray:
        """Row indices from best to worst (ties: first evaluated first), shape (n,)."""
        return np.argsort(-self.scores, kind="stable")

    def best_architectures(self, k: int = 5) -> list[Architecture]:
        """The ``k`` best architectures, best first."""
        return [self.archs[i] for i in self.order()[: check_k(k)]]

    def index(self) -> dict[Hashable, int]:
        """``key -> row``."""
        return {key: i for i, key in enumerate(self.keys)}

    def lookup(self, keys: Iterable[Hashable]) -> np.ndarray:
        """Values of these keys, NaN where the task never evaluated one; shape (len(keys),)."""
        idx = self.index()
        return np.array([self.values[idx[k]] if k in idx else np.nan for k in keys], dtype=float)

    @classmethod
    def from_evaluations(
        cls,
        task: str,
        archs: Sequence[Architecture],
        values: Sequence[float] | np.ndarray,
        *,
        metric: str = "valid_accuracy",
        direction: str = "maximize",
        space: SearchSpace | None = None,
        descriptors: Mapping[str, Any] | None = None,
        studies: Sequence[str] = (),
    ) -> TaskHistory:
        """Build a history from raw evaluations (repeats averaged, non-finite values dropped).

        This is how a running search turns its own evidence into a history
        comparable with the memory's: pass the same ``space`` as the memory
        was read with, so that keys match.
        """
        if len(archs) != len(values):
            raise ValueError(
                f"archs and values must have the same length; got {len(archs)} and {len(values)}."
            )
        return aggregate(
            task, metric, check_direction(direction), space,
            ((a, float(v)) for a, v in zip(archs, values, strict=True)),
            descriptors or {}, tuple(studies),
        )  # fmt: skip


@dataclass(frozen=True)
class PastTask:
    """One stored task as a new search would see it: what it transfers, or why it is skipped.

    Attributes
    ----------
    task
        The past task's name.
    metric
        The metric its history is read in (None when no usable metric was found).
    direction
        ``"maximize"``/``"minimize"`` of ``metric`` (None with it).
    n_evaluations
        Distinct architectures of the search space with a value of ``metric``.
    used
        Whether a search learns from it.
    reason
        Why this metric was chosen, or why the task is skipped.
    in_space
        False when none of its architectures is of the search space (a memory of
        another space, skipped quietly).
    history
        The task's history (None when skipped).
    """

    task: str
    metric: str | None
    direction: str | None
    n_evaluations: int
    used: bool
    reason: str
    in_space: bool = True
    history: TaskHistory | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (without the history)."""
        return {
            "task": self.task, "metric": self.metric, "direction": self.direction,
            "n_evaluations": self.n_evaluations, "used": self.used, "reason": self.reason,
            "in_space": self.in_space,
        }  # fmt: skip


@dataclass(frozen=True)
class ExportSummary:
    """What :meth:`ExperienceMemory.export` wrote."""

    path: str
    version: int
    n_tasks: int
    n_studies: int
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ImportReport:
    """What an import did.

    Attributes
    ----------
    imported
        Studies written, by the name they have in the target storage.
    skipped
        Studies of the file not written because one of that name was already
        there (``on_conflict="skip"``, or an identical renamed copy exists).
    renamed
        ``{name in the file: name in the storage}`` for ``on_conflict="rename"``.
    """

    path: str
    version: int
    n_tasks: int
    imported: list[str]
    skipped: list[str]
    renamed: dict[str, str]
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "version": self.version, "n_tasks": self.n_tasks,
            "imported": list(self.imported), "skipped": list(self.skipped),
            "renamed": dict(self.renamed), "n_trials": self.n_trials,
        }  # fmt: skip


# ====================================================================== checks
def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    return int(k)


def check_direction(direction: str) -> str:
    if not isinstance(direction, str) or direction.lower() not in _DIRECTIONS:
        raise ValueError(f"direction must be 'maximize' or 'minimize'; got {direction!r}.")
    return _DIRECTIONS[direction.lower()]


def as_names(names: str | Iterable[str] | None, what: str) -> set[str]:
    if names is None:
        return set()
    if isinstance(names, str):
        return {names}
    out = set()
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"{what} must be a name or a list of names; got {n!r} in it.")
        out.add(n)
    return out


def check_memory_metrics(
    metrics: Sequence[str] | Mapping[str, str] | None,
) -> tuple[str, ...] | dict[str, str] | None:
    """Validate ``memory_metrics``: None, a list of metric names, or ``{task: metric}``."""
    if metrics is None:
        return None
    fix = (
        "Pass a list of metric names (e.g. ['val_acc', 'valid_accuracy']), a dict "
        "{past task: metric}, or None for each past study's own objective."
    )
    if isinstance(metrics, Mapping):
        out: dict[str, str] = {}
        for k, v in metrics.items():
            if not isinstance(k, str) or not k or not isinstance(v, str) or not v:
                raise ValueError(
                    f"memory_metrics entries must be str -> str; got {k!r}: {v!r}. {fix}"
                )
            out[k] = v
        return out
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise ValueError(f"memory_metrics must be a list or a dict; got {metrics!r}. {fix}")
    names = tuple(metrics)
    if not names or not all(isinstance(m, str) and m for m in names):
        raise ValueError(f"memory_metrics must hold non-empty metric names; got {metrics!r}. {fix}")
    return names


def check_descriptors(descriptors: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(descriptors, Mapping):
        raise TypeError(
            f"descriptors must be a dict of name -> value; got {type(descriptors).__name__}."
        )
    out: dict[str, Any] = {}
    for k, v in descriptors.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"Descriptor names must be non-empty strings; got {k!r}.")
        if isinstance(v, np.generic):
            v = v.item()
        if v is not None and not isinstance(v, bool | int | float | str):
            raise TypeError(
                f"Descriptor {k!r} must be a number, a string, a boolean or None; got "
                f"{type(v).__name__} {v!r}."
            )
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(
                f"Descriptor {k!r} must be finite; got {v!r}. Leave it out (or pass None) "
                "when it is unknown."
            )
        out[k] = v
    return out


def aggregate(
    task: str,
    metric: str,
    direction: str,
    space: SearchSpace | None,
    pairs: Iterable[tuple[Architecture, float]],
    descriptors: Mapping[str, Any],
    studies: tuple[str, ...],
) -> TaskHistory:
    """Group evaluations by key, averaging repeats; non-finite values and foreign archs dropped."""
    rows: dict[Hashable, int] = {}
    archs: list[Architecture] = []
    keys: list[Hashable] = []
    sums: list[float] = []
    counts: list[int] = []
    n_foreign = 0
    for arch, v in pairs:
        if not math.isfinite(v):
            continue
        if space is not None:
            if not space.is_valid(arch):
                n_foreign += 1
                continue
            key: Hashable = space.key(arch)
        else:
            key = arch.to_string()
        i = rows.get(key)
        if i is None:
            rows[key] = len(archs)
            archs.append(arch)
            keys.append(key)
            sums.append(v)
            counts.append(1)
        else:
            sums[i] += v
            counts[i] += 1
    if n_foreign:
        _logger.debug("Task %s: %d evaluation(s) outside the space left out", task, n_foreign)
    c = np.asarray(counts, dtype=np.int64)
    vals = np.asarray(sums, dtype=np.float64) / np.maximum(c, 1)
    return TaskHistory(task, metric, direction, archs, keys, vals, c, dict(descriptors), studies)
