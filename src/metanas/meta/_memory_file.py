"""The memory file format: a versioned (optionally gzipped) JSON document of tasks, studies, trials.

:func:`build_document` and :func:`write_memory_file` write what
``ExperienceMemory.export`` promises; :func:`read_memory_file` checks a whole
file field by field before :func:`import_document` writes anything. The
format is described in ``docs/memory.md``.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from metanas._json import jsonable
from metanas._registry import registry
from metanas._version import __version__
from metanas.exceptions import DuplicatedStudyError, MetanasError, unknown
from metanas.meta._records import ImportReport, as_names, check_descriptors
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace, space_from_config
from metanas.storage.rdb import RDBStorage, StudyRecord, TaskRecord, check_name
from metanas.trial import Trial, TrialState

__all__ = ["FORMAT", "FORMAT_VERSION", "MemoryFileError"]

_logger = logging.getLogger(__name__)

#: Value of the ``"format"`` key of a memory file.
FORMAT = "metanas-memory"
#: Version of the memory file format this metanas writes (and the newest it reads).
FORMAT_VERSION = 1

_FINISHED = (TrialState.COMPLETE, TrialState.FAILED)
OnConflict = Literal["skip", "rename", "error"]
ON_CONFLICT = ("skip", "rename", "error")
_FILE_FIX = "Import a file written by `metanas memory export` (ExperienceMemory.export), unchanged."
# Seeds and trial numbers are stored as 64-bit integers; numpy seeds must be >= 0.
_MAX_INT = 2**63 - 1


class MemoryFileError(MetanasError, ValueError):
    """A memory file cannot be read, or cannot be written."""


# ---------------------------------------------------------------------- writing
def build_document(
    storage: RDBStorage, tasks: Sequence[str] | None
) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """The file document of ``tasks`` (all when None), and its (tasks, studies, trials) counts."""
    stored = storage.list_tasks()
    names = [r.name for r in stored]
    if tasks is not None:
        wanted = as_names(tasks, "tasks")
        for t in sorted(wanted - set(names)):
            raise unknown("task", t, names, "See the stored tasks with `metanas memory list`.")
        stored = [r for r in stored if r.name in wanted]
    task_names = [r.name for r in stored]
    records = storage.list_study_records(task_names)
    trials: dict[str, list[Trial]] = {}
    for _task, study, trial in storage.task_trials(task_names, states=_FINISHED):
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
            {"name": rec.name, "descriptors": jsonable(rec.descriptors), "studies": studies}
        )
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "metanas_version": __version__,
        "exported_at": _iso(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        "tasks": out_tasks,
    }
    return doc, (len(out_tasks), len(records), n_trials)


def write_memory_file(doc: Mapping[str, Any], target: Path) -> Path:
    """Write ``doc`` as JSON to ``target`` (gzip when it ends in ``.gz``), atomically."""
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
    return target


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


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
        "user_attrs": jsonable(dict(t.user_attrs)),
    }


def _study_to_json(r: StudyRecord, trials: Sequence[Trial]) -> dict[str, Any]:
    return {
        "name": r.name,
        "space": jsonable(dict(r.space)),
        "strategy": r.strategy,
        "strategy_settings": jsonable(dict(r.strategy_settings)),
        "objectives": [list(o) for o in r.objectives],
        "seed": r.seed,
        "user_attrs": jsonable(dict(r.user_attrs)),
        "created_at": _iso(r.created_at),
        "trials": [_trial_to_json(t) for t in trials],
    }


def import_document(
    parsed: ParsedFile, store: RDBStorage, *, on_conflict: OnConflict, path: str | os.PathLike[str]
) -> ImportReport:
    """Write the tasks, studies and trials of a checked file into ``store``, a study at a time.

    Every name is decided (and conflicts raised) before the first write, so an
    error leaves the store as it was.
    """
    existing = {r.name: r for r in store.list_study_records()}
    skipped: list[str] = []
    plan: list[tuple[_Task, list[tuple[str, _Study]]]] = []
    for ptask in parsed.tasks:
        todo: list[tuple[str, _Study]] = []
        for st in ptask.studies:
            name = st.name
            if name in existing:
                if on_conflict == "error":
                    raise DuplicatedStudyError(
                        f"Study {name!r} of memory file {str(path)!r} already exists in "
                        f"{store!r}. Import with on_conflict='skip' (keep the stored one) "
                        "or 'rename' (add a renamed copy). Nothing was imported."
                    )
                if on_conflict == "skip":
                    other = existing[name].task.name
                    if other != ptask.name:
                        warnings.warn(
                            f"Study {name!r} of the file (task {ptask.name!r}) was skipped: "
                            f"a study of that name already holds task {other!r}. Import "
                            "with on_conflict='rename' to add it under a new name.",
                            UserWarning,
                            stacklevel=3,
                        )
                    skipped.append(name)
                    continue
                name = st.renamed
                if name in existing:
                    skipped.append(st.name)
                    continue
            todo.append((name, st))
        plan.append((ptask, todo))
    imported: list[str] = []
    renamed: dict[str, str] = {}
    n_trials = 0
    for ptask, todo in plan:
        task_record = _merge_task(store, ptask.name, ptask.descriptors)
        for name, st in todo:
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
    return ImportReport(
        str(path), parsed.version, len(parsed.tasks), imported, skipped, renamed, n_trials
    )


def _merge_task(store: RDBStorage, name: str, descriptors: Mapping[str, Any]) -> TaskRecord:
    """Get or create a task; file descriptors fill in missing keys, stored ones are kept."""
    record = store.get_or_create_task(name)
    merged = {**dict(descriptors), **dict(record.descriptors)}
    if merged != dict(record.descriptors):
        record = store.set_task_descriptors(name, merged)
    return record


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

    @property
    def renamed(self) -> str:
        """The name ``on_conflict="rename"`` gives it (checked by the reader)."""
        return f"{self.name}@{self.digest}"


@dataclass
class _Task:
    name: str
    descriptors: dict[str, Any]
    studies: list[_Study]


@dataclass
class ParsedFile:
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
    def document(self, doc: Any) -> ParsedFile:
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
        return ParsedFile(version, out)

    def task(self, raw: Any, where: str) -> _Task:
        self.typed(raw, where, dict, "a task object")
        name = self.name(raw, where, "task")
        desc = self.get(raw, "descriptors", where, dict, "an object of descriptors")
        try:
            descriptors = check_descriptors(desc)
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
        name = self.name(raw, where, "study")
        space = self.get(raw, "space", where, dict, "the space's config object")
        check_space = self.space(space, f"{where}.space", name)
        strategy = self.get(raw, "strategy", where, str, "a strategy name")
        attrs = self.opt(raw, "user_attrs", where, dict, "an object") or {}
        # A stored one-shot/few-shot run is opened without its strategy.
        if not isinstance(attrs.get("stored_run"), dict) and strategy not in registry("strategy"):
            raise self.fail(
                f"{where}.strategy",
                f"study {name!r} was searched with the strategy {strategy!r}, which this metanas "
                "does not have (register the plug-in before importing, or fix the name)",
            )
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
        seed = self.count(raw, "seed", where, "an int seed")
        created = self.time(raw, "created_at", where)
        trials_raw = self.get(raw, "trials", where, list, "a list of trials")
        trials = [
            self.trial(t, f"{where}.trials[{k}]", len(objectives)) for k, t in enumerate(trials_raw)
        ]
        numbers: set[int] = set()
        for k, t in enumerate(trials):
            if t.number in numbers:
                raise self.fail(
                    f"{where}.trials[{k}].number",
                    f"study {name!r} has two trials numbered {t.number}",
                )
            numbers.add(t.number)
            if check_space is not None:
                try:
                    check_space.validate(t.arch)
                except MetanasError as exc:
                    raise self.fail(
                        f"{where}.trials[{k}].arch",
                        f"trial {t.number} of study {name!r} has an architecture that is not of "
                        f"the study's space ({str(exc).rstrip('.')})",
                    ) from exc
        digest_src = json.dumps(
            {"task": task, "study": raw}, sort_keys=True, separators=(",", ":"), default=str
        )
        digest = hashlib.sha256(digest_src.encode("utf-8")).hexdigest()[:8]
        out = _Study(
            name, dict(space), strategy, dict(settings), tuple(objectives), int(seed),
            dict(attrs), created, trials, digest,
        )  # fmt: skip
        try:
            check_name(out.renamed)
        except ValueError as exc:
            # A name that fits may not fit with the '@digest' a conflict adds: refuse it now.
            raise self.fail(f"{where}.name", str(exc).rstrip(".")) from exc
        return out

    def name(self, raw: Mapping[str, Any], where: str, what: str) -> str:
        name: str = self.get(raw, "name", where, str, f"a {what} name")
        try:
            return check_name(name, what)
        except ValueError as exc:
            raise self.fail(f"{where}.name", str(exc).rstrip(".")) from exc

    def count(self, raw: Mapping[str, Any], key: str, where: str, what: str) -> int:
        value: int = self.get(raw, key, where, int, what)
        if not 0 <= value <= _MAX_INT:
            raise self.fail(f"{where}.{key}", f"expected an int from 0 to 2**63-1, got {value}")
        return value

    def space(self, config: Mapping[str, Any], where: str, study: str) -> SearchSpace | None:
        """The space to check the trials against: the study's (a table's base space)."""
        if config.get("type") == "table":
            # The table's rows are not stored; its architectures are of its base space.
            base = config.get("base")
            if not isinstance(base, dict):
                raise self.fail(where, "a table space needs its 'base' space config object")
            config = base
        try:
            return space_from_config(config)
        except Exception as exc:  # a malformed config may fail anywhere in a space's constructor
            detail = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            raise self.fail(
                where,
                f"the space of study {study!r} cannot be rebuilt ({detail.rstrip('.')}); "
                "register a plug-in space before importing",
            ) from exc

    def trial(self, raw: Any, where: str, n_objectives: int) -> Trial:
        self.typed(raw, where, dict, "a trial object")
        number = self.count(raw, "number", where, "an int trial number")
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
        seed = None if raw.get("seed") is None else self.count(raw, "seed", where, "an int or null")
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


def read_memory_file(path: Path) -> ParsedFile:
    """Read and check a whole memory file; MemoryFileError names the first bad field."""
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
    except RecursionError as exc:
        raise reader.fail("", "JSON nested too deeply") from exc
    return reader.document(doc)
