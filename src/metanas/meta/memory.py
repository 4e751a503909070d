"""The experience memory: every stored trial of every task, queried for meta-learning.

The storage already keeps every trial of every study, grouped by task. This
module reads it back as *task histories* (one array of metric values per task,
Syne Tune style), answers "which architectures were best on task T", builds
the memory of a new task (every other task's history, never its own), and
moves a memory between stores as a versioned JSON file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import math
import os
import secrets
import warnings
import zlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from metanas.exceptions import DuplicatedStudyError, MetanasError, closest
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.storage.rdb import RDBStorage, StudyRecord, TaskRecord, get_storage
from metanas.trial import Trial, TrialState

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ExperienceMemory",
    "ExportSummary",
    "ImportReport",
    "MemoryFileError",
    "TaskHistory",
    "TaskInfo",
]

_logger = logging.getLogger(__name__)

#: Value of the ``"format"`` key of a memory file.
FORMAT = "metanas-memory"
#: Version of the memory file format this metanas writes (and the newest it reads).
FORMAT_VERSION = 1

_DIRECTIONS = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}
_FINISHED = (TrialState.COMPLETE, TrialState.FAILED)
OnConflict = Literal["skip", "rename", "error"]
_ON_CONFLICT = ("skip", "rename", "error")
_FILE_FIX = "Import a file written by `metanas memory export` (ExperienceMemory.export), unchanged."


class MemoryFileError(MetanasError, ValueError):
    """A memory file cannot be read, or cannot be written."""


# ====================================================================== records
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
        return [self.archs[i] for i in self.order()[: _check_k(k)]]

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
        return _aggregate(
            task, metric, _check_direction(direction), space,
            ((a, float(v)) for a, v in zip(archs, values, strict=True)),
            descriptors or {}, tuple(studies),
        )  # fmt: skip


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


# ====================================================================== the memory
class ExperienceMemory:
    """Every stored trial of every task, read as task histories.

    The memory is a view of a storage: it caches nothing, so it always sees
    the trials other processes have committed.

    Parameters
    ----------
    storage
        SQLAlchemy URL, :class:`~metanas.RDBStorage`, or None for
        ``$METANAS_STORAGE`` / the user's store.

    Examples
    --------
    >>> import metanas
    >>> from metanas.meta import ExperienceMemory
    >>> space = metanas.SearchSpace({"x": [0, 1, 2, 3]})
    >>> for task, sign in (("doc/up", 1), ("doc/down", -1)):
    ...     study = metanas.create_study(
    ...         space=space, storage="sqlite://", name=f"{task}-study", task=task, seed=0,
    ...         metric="acc", strategy="random", load_if_exists=True)
    ...     _ = study.optimize(lambda a, s=sign: s * a["x"], n_trials=4)
    >>> memory = ExperienceMemory("sqlite://")
    >>> memory.best_architectures("doc/up", k=1, metric="acc")
    [Architecture(x=3)]
    >>> others = memory.memory_for("doc/up", metric="acc")
    >>> "doc/down" in others, "doc/up" in others
    (True, False)
    >>> others["doc/down"].best_architectures(1)
    [Architecture(x=0)]
    """

    def __init__(self, storage: str | RDBStorage | None = None) -> None:
        self.storage = get_storage(storage)

    def __repr__(self) -> str:
        return f"ExperienceMemory({self.storage!r})"

    # ------------------------------------------------------------------ tasks
    def task_names(self) -> list[str]:
        """Names of the stored tasks, in creation order."""
        return [t.name for t in self.storage.list_tasks()]

    def tasks(self) -> list[TaskInfo]:
        """Every task with its descriptors, study and trial counts and best values.

        ``best`` holds, per metric some study of the task optimises, the best
        value among the task's COMPLETE trials (in that metric's direction).
        """
        records = self.storage.list_study_records()
        by_task: dict[str, list[StudyRecord]] = {}
        for r in records:
            by_task.setdefault(r.task.name, []).append(r)
        counts: dict[str, list[int]] = {}
        best: dict[str, dict[str, float]] = {}
        directions = {name: self._objective_directions(rs) for name, rs in by_task.items()}
        for task, _study, t in self.storage.all_trials():
            c = counts.setdefault(task, [0, 0])
            c[0] += 1
            if t.state is not TrialState.COMPLETE:
                continue
            c[1] += 1
            for metric, direction in directions.get(task, {}).items():
                v = t.metrics.get(metric)
                if v is None or not math.isfinite(v):
                    continue
                cur = best.setdefault(task, {}).get(metric)
                if cur is None or (v > cur if direction == "maximize" else v < cur):
                    best[task][metric] = float(v)
        out = []
        for rec in self.storage.list_tasks():
            n_trials, n_complete = counts.get(rec.name, [0, 0])
            dirs = directions.get(rec.name, {})
            found = best.get(rec.name, {})
            out.append(
                TaskInfo(
                    name=rec.name,
                    descriptors=dict(rec.descriptors),
                    n_studies=len(by_task.get(rec.name, [])),
                    n_trials=n_trials,
                    n_complete=n_complete,
                    best={m: found[m] for m in dirs if m in found},
                    directions={m: d for m, d in dirs.items() if m in found},
                )
            )
        return out

    def descriptors(self, task: str) -> dict[str, Any]:
        """The stored descriptors of ``task``."""
        return dict(self._task_record(task).descriptors)

    def set_descriptors(
        self, task: str, descriptors: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Store meta-features of a task (e.g. the size of a tabular data set).

        Parameters
        ----------
        task
            An existing task's name.
        descriptors
            ``{name: value}``; values are numbers, strings, booleans or None
            (None removes a descriptor when merging).
        replace
            Replace all the task's descriptors instead of merging these in.

        Returns
        -------
        The task's descriptors after the change.

        Raises
        ------
        UnknownNameError
            No task of that name is stored.
        TypeError, ValueError
            A descriptor is not a finite number, a string, a boolean or None.
        """
        current = self._task_record(task)
        checked = _check_descriptors(descriptors)
        desc = {} if replace else dict(current.descriptors)
        for k, v in checked.items():
            if v is None and not replace:
                desc.pop(k, None)
            else:
                desc[k] = v
        return dict(self.storage.set_task_descriptors(task, desc).descriptors)

    # ------------------------------------------------------------------ histories
    def history(
        self,
        task: str,
        metric: str = "valid_accuracy",
        *,
        direction: str | None = None,
        space: SearchSpace | None = None,
        exclude_study: str | Sequence[str] | None = None,
    ) -> TaskHistory:
        """The COMPLETE trials of ``task`` that report ``metric``, as aligned arrays.

        Parameters
        ----------
        task
            A stored task's name.
        metric
            A search metric (``Result.metrics``); test metrics are never read.
        direction
            ``"maximize"``/``"minimize"``; default: the direction of the task's
            studies that optimise ``metric`` (else of any study in the store).
        space
            When given, rows are keyed by ``space.key(arch)`` (isomorphic
            encodings merged) and architectures outside the space are left out.
        exclude_study
            Study name(s) whose trials are left out (e.g. the running study).

        Returns
        -------
        TaskHistory
            Repeats of an architecture averaged; empty when the task has no
            COMPLETE trial yet (its direction is then ``"maximize"`` unless
            given or known from a study).

        Raises
        ------
        UnknownNameError
            No such task, or its COMPLETE trials never report ``metric``.
        ValueError
            ``direction`` is not given and cannot be found.
        """
        record = self._task_record(task)
        excluded = _as_names(exclude_study, "exclude_study")
        rows = [
            (s, t)
            for _task, s, t in self.storage.task_trials([task], states=[TrialState.COMPLETE])
            if s not in excluded
        ]
        if rows and not any(metric in t.metrics for _s, t in rows):
            seen = sorted({k for _s, t in rows for k in t.metrics})
            raise _unknown_metric(metric, task, seen)
        records = self.storage.list_study_records()
        if direction:
            d = _check_direction(direction)
        elif rows:
            d = self._direction(task, metric, records)
        else:  # nothing to orient: an empty history
            d = self._direction_or_none(task, metric, records) or "maximize"
        return self._history(record, metric, d, space, rows)

    def best_architectures(
        self,
        task: str,
        k: int = 5,
        *,
        metric: str = "valid_accuracy",
        direction: str | None = None,
        space: SearchSpace | None = None,
    ) -> list[Architecture]:
        """The ``k`` best distinct architectures of ``task`` by ``metric`` (mean over repeats).

        See :meth:`history` for the parameters.
        """
        _check_k(k)
        return self.history(task, metric, direction=direction, space=space).best_architectures(k)

    def memory_for(
        self,
        task: str,
        *,
        exclude: str | Sequence[str] = (),
        metric: str = "valid_accuracy",
        direction: str | None = None,
        space: SearchSpace | None = None,
        min_evaluations: int = 1,
    ) -> dict[str, TaskHistory]:
        """The histories of every task but ``task``: what a search of ``task`` may learn from.

        ``task`` itself is always left out (it need not be stored yet), so a
        search never "transfers" from its own results.

        Parameters
        ----------
        task
            The task to be searched.
        exclude
            More task names to leave out.
        metric, direction, space
            As in :meth:`history`. With a ``space``, only architectures of that
            space are kept: a store holding searches of several spaces gives
            the tasks of this one.
        min_evaluations
            Tasks with fewer distinct architectures are left out.

        Returns
        -------
        dict
            ``{task name: TaskHistory}`` in task creation order; tasks without
            any COMPLETE trial reporting ``metric`` are left out.
        """
        if not isinstance(task, str) or not task:
            raise ValueError(f"task must be a non-empty task name; got {task!r}.")
        if isinstance(min_evaluations, bool) or not isinstance(min_evaluations, int):
            raise TypeError(f"min_evaluations must be an int; got {min_evaluations!r}.")
        excluded = {task} | _as_names(exclude, "exclude")
        others = [r for r in self.storage.list_tasks() if r.name not in excluded]
        if not others:
            return {}
        rows: dict[str, list[tuple[str, Trial]]] = {r.name: [] for r in others}
        for name, study, t in self.storage.task_trials(
            [r.name for r in others], states=[TrialState.COMPLETE]
        ):
            rows[name].append((study, t))
        records = self.storage.list_study_records()
        out: dict[str, TaskHistory] = {}
        for rec in others:
            mine = [(s, t) for s, t in rows[rec.name] if metric in t.metrics]
            if not mine:
                continue
            d = (
                _check_direction(direction)
                if direction
                else self._direction(rec.name, metric, records)
            )
            hist = self._history(rec, metric, d, space, mine)
            if len(hist) >= max(1, min_evaluations):
                out[rec.name] = hist
        return out

    # ------------------------------------------------------------------ export / import
    def export(
        self, path: str | os.PathLike[str], *, tasks: Sequence[str] | None = None
    ) -> ExportSummary:
        """Write the memory (or some tasks of it) to a versioned JSON file.

        The file holds each task's name and descriptors and, for each of its
        studies, the study's settings and its finished (COMPLETE and FAILED)
        trials. It is gzip-compressed when ``path`` ends in ``.gz``. See
        ``docs/memory.md`` for the format.

        Raises
        ------
        UnknownNameError
            A name in ``tasks`` is not a stored task.
        MemoryFileError
            The file cannot be written.
        """
        doc, summary = self._document(tasks)
        target = Path(path)
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"), sort_keys=False)
        data = text.encode("utf-8")
        if target.name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write to a temporary file, then rename: a crash never leaves half a file.
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            try:
                with open(tmp, "xb") as fh:
                    fh.write(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MemoryFileError(
                f"Cannot write memory file {str(target)!r}: {exc.strerror or exc}. Check the "
                "path, and that you may write there."
            ) from exc
        _logger.info("Exported %d task(s) to %s", summary[0], target)
        return ExportSummary(str(target), FORMAT_VERSION, *summary)

    @classmethod
    def import_file(
        cls,
        path: str | os.PathLike[str],
        into: str | RDBStorage | None = None,
        *,
        on_conflict: OnConflict = "skip",
    ) -> ImportReport:
        """Add the tasks, studies and trials of a memory file to a storage.

        The whole file is checked before anything is written, and each study
        is written in one transaction, so a bad file changes nothing and an
        interrupted import leaves no half study.

        Parameters
        ----------
        path
            A file written by :meth:`export` (gzip or plain JSON).
        into
            The storage to add to (URL, RDBStorage, None for the default).
        on_conflict
            What to do with a study whose name is already in the storage:
            ``"skip"`` (default) keeps the stored one, so importing a file twice
            adds nothing the second time; ``"rename"`` imports it as
            ``NAME@<8 hex digits of the study's content>``, which is idempotent
            too (the same content gets the same name and is then skipped);
            ``"error"`` raises :class:`~metanas.DuplicatedStudyError`.
            Task descriptors from the file fill in the keys a stored task
            lacks; stored values are kept.

        Raises
        ------
        MemoryFileError
            The file is missing, not JSON, of another format or of a newer
            version, or has a missing or mistyped field (the message names it).
        DuplicatedStudyError
            With ``on_conflict="error"``, a study name is taken.
        """
        if on_conflict not in _ON_CONFLICT:
            raise ValueError(
                f"on_conflict must be one of {list(_ON_CONFLICT)!r}; got {on_conflict!r}."
            )
        parsed = _read_file(Path(path))  # all checks first: a bad file creates nothing
        store = get_storage(into)
        existing = {r.name: r for r in store.list_study_records()}
        imported: list[str] = []
        skipped: list[str] = []
        renamed: dict[str, str] = {}
        n_trials = 0
        for ptask in parsed.tasks:
            task_record = _merge_task(store, ptask.name, ptask.descriptors)
            for st in ptask.studies:
                name = st.name
                if name in existing:
                    if on_conflict == "error":
                        raise DuplicatedStudyError(
                            f"Study {name!r} of memory file {str(path)!r} already exists in "
                            f"{store!r}. Import with on_conflict='skip' (keep the stored one) "
                            "or 'rename' (add a renamed copy)."
                        )
                    if on_conflict == "skip":
                        other = existing[name].task.name
                        if other != ptask.name:
                            warnings.warn(
                                f"Study {name!r} of the file (task {ptask.name!r}) was skipped: "
                                f"a study of that name already holds task {other!r}. Import "
                                "with on_conflict='rename' to add it under a new name.",
                                UserWarning,
                                stacklevel=2,
                            )
                        skipped.append(name)
                        continue
                    name = f"{st.name}@{st.digest}"
                    if name in existing:
                        skipped.append(st.name)
                        continue
                try:
                    rec = store.import_study(
                        name=name, task=task_record, space=st.space, strategy=st.strategy,
                        strategy_settings=st.strategy_settings, objectives=st.objectives,
                        seed=st.seed, user_attrs=st.user_attrs, created_at=st.created_at,
                        trials=st.trials,
                    )  # fmt: skip
                except DuplicatedStudyError:
                    # Another process imported the same study meanwhile.
                    if on_conflict == "error":
                        raise
                    skipped.append(st.name)
                    continue
                existing[name] = rec
                imported.append(name)
                if name != st.name:
                    renamed[st.name] = name
                n_trials += len(st.trials)
        _logger.info(
            "Imported %d stud(ies), skipped %d, from %s", len(imported), len(skipped), path
        )
        return ImportReport(
            str(path), parsed.version, len(parsed.tasks), imported, skipped, renamed, n_trials
        )

    def import_(
        self, path: str | os.PathLike[str], *, on_conflict: OnConflict = "skip"
    ) -> ImportReport:
        """Import a memory file into this memory's storage (see :meth:`import_file`)."""
        return type(self).import_file(path, into=self.storage, on_conflict=on_conflict)

    # ------------------------------------------------------------------ internals
    def _task_record(self, task: str) -> TaskRecord:
        if not isinstance(task, str) or not task:
            raise ValueError(f"task must be a non-empty task name; got {task!r}.")
        records = self.storage.list_tasks()
        for r in records:
            if r.name == task:
                return r
        names = [r.name for r in records]
        from metanas.exceptions import unknown

        raise unknown(
            "task", task, names,
            f"Tasks are created by searches: metanas.create_study(task={task!r}, ...). "
            "See them with `metanas memory list`.",
        )  # fmt: skip

    @staticmethod
    def _objective_directions(records: Sequence[StudyRecord]) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in records:
            for m, d in r.objectives:
                out.setdefault(m, d)
        return out

    @staticmethod
    def _direction(task: str, metric: str, records: Sequence[StudyRecord]) -> str:
        """The direction of ``metric``: from the task's studies, else from any study."""
        for scope in (
            [r for r in records if r.task.name == task],
            [r for r in records if r.task.name != task],
        ):
            found = {d for r in scope for m, d in r.objectives if m == metric}
            if len(found) == 1:
                return found.pop()
            if len(found) > 1:
                raise ValueError(
                    f"Studies disagree on the direction of {metric!r} (both maximize and "
                    f"minimize); pass direction='maximize' or 'minimize'."
                )
        raise ValueError(
            f"No stored study optimises {metric!r}, so its direction is unknown; pass "
            "direction='maximize' or 'minimize'."
        )

    @classmethod
    def _direction_or_none(
        cls, task: str, metric: str, records: Sequence[StudyRecord]
    ) -> str | None:
        try:
            return cls._direction(task, metric, records)
        except ValueError:
            return None

    @staticmethod
    def _history(
        record: TaskRecord,
        metric: str,
        direction: str,
        space: SearchSpace | None,
        rows: Sequence[tuple[str, Trial]],
    ) -> TaskHistory:
        studies: list[str] = []
        pairs = []
        for s, t in rows:
            v = t.metrics.get(metric)
            if v is None:
                continue
            if s not in studies:
                studies.append(s)
            pairs.append((t.arch, float(v)))
        return _aggregate(
            record.name, metric, direction, space, pairs, dict(record.descriptors), tuple(studies)
        )

    def _document(self, tasks: Sequence[str] | None) -> tuple[dict[str, Any], tuple[int, ...]]:
        stored = self.storage.list_tasks()
        names = [r.name for r in stored]
        if tasks is not None:
            wanted = _as_names(tasks, "tasks")
            from metanas.exceptions import unknown

            for t in sorted(wanted - set(names)):
                raise unknown("task", t, names, "See the stored tasks with `metanas memory list`.")
            stored = [r for r in stored if r.name in wanted]
        task_names = [r.name for r in stored]
        records = self.storage.list_study_records(task_names)
        trials: dict[str, list[Trial]] = {}
        for _task, study, trial in self.storage.task_trials(task_names, states=_FINISHED):
            trials.setdefault(study, []).append(trial)
        out_tasks = []
        n_trials = 0
        for rec in stored:
            studies = []
            for r in records:
                if r.task.name != rec.name:
                    continue
                ts = trials.get(r.name, [])
                n_trials += len(ts)
                studies.append(_study_to_json(r, ts))
            out_tasks.append(
                {"name": rec.name, "descriptors": _jsonable(rec.descriptors), "studies": studies}
            )
        import metanas

        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "metanas_version": metanas.__version__,
            "exported_at": _iso(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
            "tasks": out_tasks,
        }
        return doc, (len(out_tasks), len(records), n_trials)


# ====================================================================== helpers
def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    return int(k)


def _check_direction(direction: str) -> str:
    if not isinstance(direction, str) or direction.lower() not in _DIRECTIONS:
        raise ValueError(f"direction must be 'maximize' or 'minimize'; got {direction!r}.")
    return _DIRECTIONS[direction.lower()]


def _as_names(names: str | Iterable[str] | None, what: str) -> set[str]:
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


def _unknown_metric(metric: str, task: str, seen: Sequence[str]) -> MetanasError:
    from metanas.exceptions import UnknownNameError

    return UnknownNameError(
        f"No COMPLETE trial of task {task!r} reports metric {metric!r}.{closest(metric, seen)} "
        f"Its trials report: {list(seen)!r}. Pass one of these as metric=."
    )


def _check_descriptors(descriptors: Mapping[str, Any]) -> dict[str, Any]:
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


def _aggregate(
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


def _merge_task(store: RDBStorage, name: str, descriptors: Mapping[str, Any]) -> TaskRecord:
    """Get or create a task; file descriptors fill in missing keys, stored ones are kept."""
    record = store.get_or_create_task(name)
    merged = {**dict(descriptors), **dict(record.descriptors)}
    if merged != dict(record.descriptors):
        record = store.set_task_descriptors(name, merged)
    return record


# ---------------------------------------------------------------------- JSON writing
def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _jsonable(obj: Any) -> Any:
    """Plain JSON (non-finite floats -> None, numpy scalars -> Python)."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _trial_to_json(t: Trial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.value,
        "arch": t.arch.to_string(),
        "metrics": {k: _num(v) for k, v in t.metrics.items()},
        "test_metrics": {k: _num(v) for k, v in t.test_metrics.items()},
        "values": None if t.values is None else [_num(v) for v in t.values],
        "cost_s": _num(t.cost_s),
        "seed": t.seed,
        "error": t.error,
        "started_at": _iso(t.started_at),
        "finished_at": _iso(t.finished_at),
        "user_attrs": _jsonable(dict(t.user_attrs)),
    }


def _study_to_json(r: StudyRecord, trials: Sequence[Trial]) -> dict[str, Any]:
    return {
        "name": r.name,
        "space": _jsonable(dict(r.space)),
        "strategy": r.strategy,
        "strategy_settings": _jsonable(dict(r.strategy_settings)),
        "objectives": [list(o) for o in r.objectives],
        "seed": r.seed,
        "user_attrs": _jsonable(dict(r.user_attrs)),
        "created_at": _iso(r.created_at),
        "trials": [_trial_to_json(t) for t in trials],
    }


# ---------------------------------------------------------------------- file reading
@dataclass
class _Study:
    name: str
    space: dict[str, Any]
    strategy: str
    strategy_settings: dict[str, Any]
    objectives: tuple[tuple[str, str], ...]
    seed: int
    user_attrs: dict[str, Any]
    created_at: dt.datetime | None
    trials: list[Trial]
    digest: str


@dataclass
class _Task:
    name: str
    descriptors: dict[str, Any]
    studies: list[_Study]


@dataclass
class _Parsed:
    version: int
    tasks: list[_Task]


class _Reader:
    """Checks a decoded memory document field by field; errors name the field's path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> MemoryFileError:
        at = f" at {where}" if where else ""
        return MemoryFileError(
            f"Cannot import memory file {str(self.path)!r}{at}: {problem}. {_FILE_FIX}"
        )

    def get(self, obj: Mapping[str, Any], key: str, where: str, kinds: Any, what: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"the key {key!r} is missing ({what} expected)")
        return self.typed(obj[key], f"{where}.{key}" if where else key, kinds, what)

    def opt(self, obj: Mapping[str, Any], key: str, where: str, kinds: Any, what: str) -> Any:
        value = obj.get(key)
        if value is None:
            return None
        return self.typed(value, f"{where}.{key}", kinds, what)

    def typed(self, value: Any, where: str, kinds: Any, what: str) -> Any:
        bad_bool = isinstance(value, bool) and bool not in _as_tuple(kinds)
        if bad_bool or not isinstance(value, kinds):
            raise self.fail(where, f"expected {what}, got {_json_type(value)} {_short(value)}")
        return value

    def number(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        self.typed(value, where, (int, float), "a number or null")
        return float(value)

    def time(self, obj: Mapping[str, Any], key: str, where: str) -> dt.datetime | None:
        text = self.opt(obj, key, where, str, "an ISO 8601 date-time or null")
        if text is None:
            return None
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.fail(f"{where}.{key}", f"{text!r} is not an ISO 8601 date-time") from exc

    # -------------------------------------------------------------- the document
    def document(self, doc: Any) -> _Parsed:
        if not isinstance(doc, dict):
            raise self.fail("", f"expected a JSON object at the top, got {_json_type(doc)}")
        fmt = doc.get("format")
        if fmt != FORMAT:
            raise self.fail(
                "", f"this is not a metanas memory file ('format' is {_short(fmt)}, not {FORMAT!r})"
            )
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.fail("version", f"expected an int >= 1, got {_short(version)}")
        if version > FORMAT_VERSION:
            raise MemoryFileError(
                f"Cannot import memory file {str(self.path)!r}: it has format version {version}, "
                f"newer than this metanas reads (up to {FORMAT_VERSION}). Upgrade metanas "
                "(pip install -U metanas), or export the memory again with this version."
            )
        tasks = self.get(doc, "tasks", "", list, "a list of tasks")
        out: list[_Task] = []
        names: set[str] = set()
        study_names: set[str] = set()
        for i, raw in enumerate(tasks):
            task = self.task(raw, f"tasks[{i}]")
            if task.name in names:
                raise self.fail(f"tasks[{i}].name", f"task {task.name!r} appears twice")
            names.add(task.name)
            for j, st in enumerate(task.studies):
                if st.name in study_names:
                    raise self.fail(
                        f"tasks[{i}].studies[{j}].name", f"study {st.name!r} appears twice"
                    )
                study_names.add(st.name)
            out.append(task)
        return _Parsed(version, out)

    def task(self, raw: Any, where: str) -> _Task:
        self.typed(raw, where, dict, "a task object")
        name = self.get(raw, "name", where, str, "a task name")
        if not name.strip():
            raise self.fail(f"{where}.name", "a task name must not be empty")
        desc = self.get(raw, "descriptors", where, dict, "an object of descriptors")
        try:
            descriptors = _check_descriptors(desc)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"{where}.descriptors", str(exc).rstrip(".")) from exc
        studies = self.get(raw, "studies", where, list, "a list of studies")
        return _Task(
            name,
            descriptors,
            [self.study(s, f"{where}.studies[{j}]", name) for j, s in enumerate(studies)],
        )

    def study(self, raw: Any, where: str, task: str) -> _Study:
        self.typed(raw, where, dict, "a study object")
        name = self.get(raw, "name", where, str, "a study name")
        if not name.strip():
            raise self.fail(f"{where}.name", "a study name must not be empty")
        space = self.get(raw, "space", where, dict, "the space's config object")
        strategy = self.get(raw, "strategy", where, str, "a strategy name")
        settings = self.opt(raw, "strategy_settings", where, dict, "an object") or {}
        objs = self.get(raw, "objectives", where, list, "a list of [metric, direction] pairs")
        objectives: list[tuple[str, str]] = []
        for k, o in enumerate(objs):
            ok = (
                isinstance(o, list)
                and len(o) == 2
                and isinstance(o[0], str)
                and o[1] in ("maximize", "minimize")
            )
            if not ok:
                raise self.fail(
                    f"{where}.objectives[{k}]",
                    f"expected [metric, 'maximize' or 'minimize'], got {_short(o)}",
                )
            objectives.append((o[0], o[1]))
        if not objectives:
            raise self.fail(f"{where}.objectives", "a study needs at least one objective")
        seed = self.get(raw, "seed", where, int, "an int seed")
        attrs = self.opt(raw, "user_attrs", where, dict, "an object") or {}
        created = self.time(raw, "created_at", where)
        trials_raw = self.get(raw, "trials", where, list, "a list of trials")
        trials = [
            self.trial(t, f"{where}.trials[{k}]", len(objectives)) for k, t in enumerate(trials_raw)
        ]
        numbers = [t.number for t in trials]
        if len(set(numbers)) != len(numbers):
            raise self.fail(f"{where}.trials", "two trials share a number")
        digest_src = json.dumps(
            {"task": task, "study": raw}, sort_keys=True, separators=(",", ":"), default=str
        )
        digest = hashlib.sha256(digest_src.encode("utf-8")).hexdigest()[:8]
        return _Study(
            name, dict(space), strategy, dict(settings), tuple(objectives), int(seed),
            dict(attrs), created, trials, digest,
        )  # fmt: skip

    def trial(self, raw: Any, where: str, n_objectives: int) -> Trial:
        self.typed(raw, where, dict, "a trial object")
        number = self.get(raw, "number", where, int, "an int trial number")
        state_text = self.get(raw, "state", where, str, "'complete' or 'failed'")
        if state_text not in ("complete", "failed"):
            raise self.fail(
                f"{where}.state", f"expected 'complete' or 'failed', got {state_text!r}"
            )
        state = TrialState(state_text)
        arch_raw = self.get(raw, "arch", where, (str, dict), "the architecture's canonical JSON")
        try:
            arch = Architecture.from_json(arch_raw)
        except MetanasError as exc:
            raise self.fail(f"{where}.arch", str(exc).rstrip(".")) from exc
        metrics = self.metrics(raw, "metrics", where)
        test_metrics = self.metrics(raw, "test_metrics", where)
        vals = self.opt(raw, "values", where, list, "a list of numbers or null")
        values = None
        if vals is not None:
            values = tuple(
                math.nan if (f := self.number(v, f"{where}.values[{k}]")) is None else f
                for k, v in enumerate(vals)
            )
        if state is TrialState.COMPLETE and (
            values is None or len(values) != n_objectives or not all(map(math.isfinite, values))
        ):
            raise self.fail(
                f"{where}.values",
                f"a complete trial needs {n_objectives} finite objective value(s), got "
                f"{_short(vals)}",
            )
        seed = self.opt(raw, "seed", where, int, "an int or null")
        error = self.opt(raw, "error", where, str, "a string or null")
        attrs = self.opt(raw, "user_attrs", where, dict, "an object") or {}
        return Trial(
            number=number, state=state, arch=arch, metrics=metrics, test_metrics=test_metrics,
            values=values, cost_s=self.number(raw.get("cost_s"), f"{where}.cost_s"), seed=seed,
            error=error, started_at=self.time(raw, "started_at", where),
            finished_at=self.time(raw, "finished_at", where), user_attrs=dict(attrs),
        )  # fmt: skip

    def metrics(self, raw: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
        obj = self.opt(raw, key, where, dict, "an object of metric -> number") or {}
        out = {}
        for k, v in obj.items():
            f = self.number(v, f"{where}.{key}.{k}")
            out[k] = math.nan if f is None else f
        return out


def _as_tuple(kinds: Any) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_file(path: Path) -> _Parsed:
    reader = _Reader(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MemoryFileError(
            f"Cannot import memory file {str(path)!r}: no such file. Check the path."
        ) from exc
    except OSError as exc:
        raise MemoryFileError(
            f"Cannot import memory file {str(path)!r}: {exc.strerror or exc}. Check the path, "
            "and that you may read it."
        ) from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise reader.fail("", f"the gzip data is damaged ({exc})") from exc
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise reader.fail("", "not JSON text (not UTF-8)") from exc
    except json.JSONDecodeError as exc:
        raise reader.fail(
            "", f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    return reader.document(doc)
