"""The experience memory: every stored trial of every task, queried for meta-learning.

The storage already keeps every trial of every study, grouped by task.
:class:`ExperienceMemory` reads it back as task histories (one array of metric
values per task), answers "which architectures were best on task T" and builds
the memory of a new task (every other task's history, never its own). Moving a
memory between stores as a file is :mod:`metanas.meta._memory_file`'s job.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metanas.exceptions import MetanasError, UnknownNameError, closest, unknown
from metanas.meta._memory_file import (
    FORMAT_VERSION,
    ON_CONFLICT,
    OnConflict,
    _Reader,
    build_document,
    import_document,
    read_memory_file,
    write_memory_file,
)
from metanas.meta._records import (
    ExportSummary,
    ImportReport,
    PastTask,
    TaskHistory,
    TaskInfo,
    aggregate,
    as_names,
    check_descriptors,
    check_direction,
    check_k,
    check_memory_metrics,
)
from metanas.meta.similarity import prior_ranking
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.storage.rdb import RDBStorage, StudyRecord, TaskRecord, get_storage
from metanas.trial import Trial, TrialState

__all__ = ["ExperienceMemory"]

_logger = logging.getLogger(__name__)


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
        checked = check_descriptors(descriptors)
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
        excluded = as_names(exclude_study, "exclude_study")
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
            d = check_direction(direction)
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
        check_k(k)
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
        excluded = {task} | as_names(exclude, "exclude")
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
                check_direction(direction)
                if direction
                else self._direction(rec.name, metric, records)
            )
            hist = self._history(rec, metric, d, space, mine)
            if len(hist) >= max(1, min_evaluations):
                out[rec.name] = hist
        return out

    def past_tasks(
        self,
        task: str,
        *,
        metric: str,
        direction: str = "maximize",
        space: SearchSpace | None = None,
        metrics: Sequence[str] | Mapping[str, str] | None = None,
        min_evaluations: int = 3,
        max_rows_per_task: int | None = None,
        max_tasks: int | None = None,
        descriptors: Mapping[str, Any] | None = None,
    ) -> list[PastTask]:
        """Every stored task but ``task``, each with the metric a search of ``task`` transfers.

        Tasks are often searched under different metric names (``val_acc``,
        ``valid_accuracy``, one column per condition of a table), and a past
        task's results are transferred on a rank scale, so its own objective
        serves as well as the new one. The metric of each past task is:

        * ``metrics=None``: ``metric`` (the new study's) when the task's trials
          report it, else the first objective of the task's studies (in study
          creation order) that its trials report;
        * ``metrics=[...]`` (a restriction): the first of these names its trials
          report; a task reporting none is skipped;
        * ``metrics={task: metric}`` (an explicit map): the named metric; tasks
          not in the map are skipped.

        Its direction is that of the studies that optimise it; a metric no
        study optimises takes ``direction`` when the user named it (or it is
        ``metric``), and is skipped otherwise.

        Parameters
        ----------
        task
            The task to be searched (never part of its own memory).
        metric, direction
            The new study's first objective.
        space
            Only architectures of this space count (tasks with none are
            marked ``in_space=False``).
        metrics
            Restriction or map of the metrics transferred (see above).
        min_evaluations
            Tasks with fewer distinct architectures are skipped.
        max_rows_per_task
            Read at most about this many trials of each task: its best half (ranked
            in the database by the chosen metric) and a spread of the rest, instead
            of every trial (a memory of millions of trials). Repeats are then averaged
            over the trials read, and ``n_evaluations`` counts their architectures. A
            task with fewer trials is read whole, as without it.
        max_tasks
            Read only until this many tasks are used: the tasks are ranked by the
            similarity of their descriptors to ``descriptors`` (:func:`prior_ranking`;
            ties, and every task when ``descriptors`` is empty, in creation order) and
            read in that order. A memory of a thousand tasks is then read as the few
            tens a search learns from. None: every task.
        descriptors
            The new task's descriptors, for ``max_tasks``.

        Returns
        -------
        list of PastTask
            In task creation order, used and skipped ones (with ``max_tasks``, only the
            tasks read).
        """
        if not isinstance(task, str) or not task:
            raise ValueError(f"task must be a non-empty task name; got {task!r}.")
        d_new = check_direction(direction)
        wanted = check_memory_metrics(metrics)
        if max_tasks is not None and (
            isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 1
        ):
            raise ValueError(f"max_tasks must be an int >= 1 or None; got {max_tasks!r}.")
        others = [r for r in self.storage.list_tasks() if r.name != task]

        def read(batch: list[TaskRecord]) -> list[PastTask]:
            if max_rows_per_task is not None:
                return self._sampled_past_tasks(
                    batch, metric, d_new, space, wanted, min_evaluations, max_rows_per_task
                )
            return self._whole_past_tasks(batch, metric, d_new, space, wanted, min_evaluations)

        if max_tasks is None or len(others) <= max_tasks:
            return read(others)
        by_name = {r.name: r for r in others}
        ranked = prior_ranking(descriptors, {r.name: dict(r.descriptors) for r in others})
        out: list[PastTask] = []
        at = 0
        # Batches of the tasks still missing: a skipped task (another space, too few
        # results) makes room for the next most similar one.
        while at < len(ranked) and (need := max_tasks - sum(e.used for e in out)) > 0:
            out += read([by_name[n] for n in ranked[at : at + need]])
            at += need
        position = {r.name: i for i, r in enumerate(others)}
        return sorted(out, key=lambda e: position[e.task])

    def _whole_past_tasks(
        self,
        others: list[TaskRecord],
        metric: str,
        d_new: str,
        space: SearchSpace | None,
        wanted: tuple[str, ...] | dict[str, str] | None,
        min_evaluations: int,
    ) -> list[PastTask]:
        """:meth:`past_tasks` reading every COMPLETE trial of the tasks ``others``."""
        rows: dict[str, list[tuple[str, Trial]]] = {r.name: [] for r in others}
        for name, study, t in self.storage.task_trials(
            [r.name for r in others], states=[TrialState.COMPLETE]
        ):
            rows[name].append((study, t))
        records = self.storage.list_study_records()
        return [
            self._past_task(rec, rows[rec.name], records, metric, d_new, space, wanted,
                            min_evaluations)
            for rec in others
        ]  # fmt: skip

    def _past_task(
        self,
        rec: TaskRecord,
        mine: Sequence[tuple[str, Trial]],
        records: Sequence[StudyRecord],
        metric: str,
        d_new: str,
        space: SearchSpace | None,
        wanted: tuple[str, ...] | dict[str, str] | None,
        min_evaluations: int,
    ) -> PastTask:
        """One past task from all its COMPLETE trials (see :meth:`past_tasks`)."""
        reported = {k for _s, t in mine for k in t.metrics}
        own = [m for r in records if r.task.name == rec.name for m, _d in r.objectives]
        chosen, why = _choose_metric(rec.name, metric, own, reported, wanted)
        if chosen is None:
            # A task of another space (a store shared by several) is no memory of this one.
            of_space = space is None or any(_valid(space, t.arch) for _s, t in mine[:50])
            return PastTask(rec.name, None, None, 0, False, why, of_space)
        d = self._transfer_direction(rec.name, chosen, records, metric, d_new, wanted)
        if d is None:
            return PastTask(rec.name, chosen, None, 0, False, _NO_DIRECTION.format(chosen))
        hist = self._history(rec, chosen, d, space, mine)
        return _checked(rec.name, chosen, d, why, hist, min_evaluations, bool(mine))

    @classmethod
    def _transfer_direction(
        cls,
        task: str,
        chosen: str,
        records: Sequence[StudyRecord],
        metric: str,
        d_new: str,
        wanted: tuple[str, ...] | dict[str, str] | None,
    ) -> str | None:
        """The direction ``chosen`` is read in (None: unknown, the task is skipped)."""
        d = cls._direction_or_none(task, chosen, records)
        if d is None:
            if wanted is None and chosen != metric:
                return None
            d = d_new
        return d

    def _sampled_past_tasks(
        self,
        others: list[TaskRecord],
        metric: str,
        d_new: str,
        space: SearchSpace | None,
        wanted: tuple[str, ...] | dict[str, str] | None,
        min_evaluations: int,
        max_rows: int,
    ) -> list[PastTask]:
        """:meth:`past_tasks` reading a ranked sample of each task, chosen in SQL."""
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 2:
            raise ValueError(f"max_rows_per_task must be an int >= 2 or None; got {max_rows!r}.")
        names = [r.name for r in others]
        if not names:
            return []
        records = self.storage.list_study_records(names)
        own = {
            rec.name: [m for r in records if r.task.name == rec.name for m, _d in r.objectives]
            for rec in others
        }
        # Which task reports which candidate metric: one indexed EXISTS per task and name,
        # where reading every trial's metrics to learn the names would read them all.
        if isinstance(wanted, dict):
            cands = set(wanted.values())
        elif isinstance(wanted, tuple):
            cands = set(wanted)
        else:
            cands = {metric, *(m for ms in own.values() for m in ms)}
        reporting = {c: self.storage.tasks_reporting(names, c) for c in sorted(cands)}
        plan: dict[str, tuple[str, str, str]] = {}  # task -> (metric, direction, why)
        out: dict[str, PastTask] = {}
        for rec in others:
            reported = {c for c, found in reporting.items() if rec.name in found}
            chosen, why = _choose_metric(rec.name, metric, own[rec.name], reported, wanted)
            d = (
                None if chosen is None
                else self._transfer_direction(rec.name, chosen, records, metric, d_new, wanted)
            )  # fmt: skip
            if chosen is None or d is None:
                # Skipped: read whole, so that the reason names every metric it reports.
                mine = [
                    (s, t)
                    for _n, s, t in self.storage.task_trials(
                        [rec.name], states=[TrialState.COMPLETE]
                    )
                ]
                out[rec.name] = self._past_task(
                    rec, mine, records, metric, d_new, space, wanted, min_evaluations
                )
            else:
                plan[rec.name] = (chosen, d, why)
        groups: dict[tuple[str, str], list[str]] = {}
        for name, (chosen, d, _why) in plan.items():
            groups.setdefault((chosen, d), []).append(name)
        parsed: dict[str, Architecture] = {}  # tasks share architectures: parse each once
        top = max_rows // 2
        by_name = {r.name: r for r in others}
        for (chosen, d), group in groups.items():
            sample = self.storage.task_metric_sample(
                group, chosen, d, top=top, spread=max_rows - top
            )
            for name in group:
                studies: list[str] = []
                pairs = []
                for study, text, v in sample[name]:
                    if study not in studies:
                        studies.append(study)
                    arch = parsed.get(text)
                    if arch is None:
                        arch = parsed[text] = Architecture.from_json(text)
                    pairs.append((arch, v))
                rec = by_name[name]
                hist = aggregate(
                    name, chosen, d, space, pairs, dict(rec.descriptors), tuple(studies)
                )
                out[name] = _checked(
                    name, chosen, d, plan[name][2], hist, min_evaluations, bool(pairs)
                )
        return [out[r.name] for r in others]

    def remember(self, storage: str | RDBStorage, study: str) -> int:
        """Copy a study's finished trials from ``storage`` into this memory (a growing memory).

        A study of that name already in the memory, of the same task, is
        replaced (it is an earlier copy of the same search, now longer); one
        of another task is kept and this study added as ``NAME@<hash>``.

        Returns
        -------
        int
            The number of trials now remembered for the study.
        """
        source = get_storage(storage)
        record = source.get_study(study)
        doc, _ = build_document(source, [record.task.name])
        for t in doc["tasks"]:
            t["studies"] = [s for s in t["studies"] if s["name"] == study]
        parsed = _Reader(Path(f"<study {study}>")).document(doc)
        existing = {r.name: r for r in self.storage.list_study_records()}
        on_conflict: OnConflict = "skip"
        if study in existing:
            if existing[study].task.name == record.task.name:
                self.storage.delete_study(study)
            else:
                on_conflict = "rename"
        report = import_document(parsed, self.storage, on_conflict=on_conflict, path=study)
        return report.n_trials

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
        doc, summary = build_document(self.storage, tasks)
        target = write_memory_file(doc, Path(path))
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
        if on_conflict not in ON_CONFLICT:
            raise ValueError(
                f"on_conflict must be one of {list(ON_CONFLICT)!r}; got {on_conflict!r}."
            )
        parsed = read_memory_file(Path(path))  # all checks first: a bad file creates nothing
        report = import_document(parsed, get_storage(into), on_conflict=on_conflict, path=path)
        n_imported, n_skipped = len(report.imported), len(report.skipped)
        _logger.info("Imported %d stud(ies), skipped %d, from %s", n_imported, n_skipped, path)
        return report

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
        return aggregate(
            record.name, metric, direction, space, pairs, dict(record.descriptors), tuple(studies)
        )


def _valid(space: SearchSpace, arch: Architecture) -> bool:
    try:
        return space.is_valid(arch)
    except (KeyError, ValueError, TypeError):
        return False


def _choose_metric(
    task: str,
    metric: str,
    own: Sequence[str],
    reported: set[str],
    wanted: tuple[str, ...] | dict[str, str] | None,
) -> tuple[str | None, str]:
    """The metric a past task transfers, with why (or None and why it is skipped)."""
    have = sorted(reported)
    if isinstance(wanted, dict):
        if task not in wanted:
            return None, "not named in memory_metrics"
        if wanted[task] not in reported:
            return (
                None,
                f"memory_metrics names {wanted[task]!r}, which its trials never report "
                f"(they report {have})",
            )
        return wanted[task], "named in memory_metrics"
    if isinstance(wanted, tuple):
        for m in wanted:
            if m in reported:
                return m, "first of memory_metrics it reports"
        return None, f"reports none of memory_metrics {list(wanted)} (it reports {have})"
    if metric in reported:
        return metric, "the new study's metric"
    for m in own:
        if m in reported:
            return m, "its own study's objective"
    if not reported:
        return None, "no COMPLETE trial"
    return None, f"its trials report neither {metric!r} nor an objective of its studies ({have})"


def _unknown_metric(metric: str, task: str, seen: Sequence[str]) -> MetanasError:
    return UnknownNameError(
        f"No COMPLETE trial of task {task!r} reports metric {metric!r}.{closest(metric, seen)} "
        f"Its trials report: {list(seen)!r}. Pass one of these as metric=."
    )


_NO_DIRECTION = (
    "no study optimises {!r}, so its direction is unknown; name it in memory_metrics to "
    "transfer it in the new study's direction"
)


def _checked(
    task: str,
    chosen: str,
    d: str,
    why: str,
    hist: TaskHistory,
    min_evaluations: int,
    any_rows: bool,
) -> PastTask:
    """The past task, used or skipped for too few architectures of the space."""
    n = len(hist)
    if n < max(1, min_evaluations):
        in_space = n > 0 or not any_rows
        problem = (
            f"only {n} evaluated architecture(s) of this space in {chosen!r} "
            f"(needs >= {min_evaluations})"
            if in_space else "no evaluated architecture of this space"
        )  # fmt: skip
        return PastTask(task, chosen, d, n, False, problem, in_space)
    return PastTask(task, chosen, d, n, True, why, True, hist)
