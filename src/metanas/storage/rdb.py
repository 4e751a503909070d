"""SQLAlchemy storage: a SQLite file by default, any SQLAlchemy URL (PostgreSQL) accepted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from metanas.exceptions import (
    DuplicatedStudyError,
    StorageError,
    StudyNotFoundError,
    closest,
)
from metanas.spaces.architecture import Architecture
from metanas.storage import _models as m
from metanas.storage._retry import DEFAULT_RETRY, RetryPolicy, retry_transient_errors
from metanas.trial import Trial, TrialState

__all__ = [
    "RDBStorage",
    "SchedulerEvent",
    "StudyRecord",
    "StepValues",
    "StudySummary",
    "TaskRecord",
    "check_name",
    "default_storage_url",
    "display_url",
    "get_storage",
]

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")

HEAD_REVISION = "0003"


def default_storage_url() -> str:
    """``$METANAS_STORAGE``, else a SQLite file in the user's data directory.

    One store per user is the default on purpose: every search lands in the
    same experience memory, which is what lets the next search start warm.
    """
    env = os.environ.get("METANAS_STORAGE")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return f"sqlite:///{os.path.join(base, 'metanas', 'metanas.db')}"


def _normalise_url(url: str) -> str:
    if url in (":memory:", "memory", "sqlite://", "sqlite:///:memory:"):
        return "sqlite://"
    if "://" not in url:
        # 'sqlite:/b.db' or 'sqlite:b.db' mean the file b.db: suggest that, not 'sqlite:///sqlite:/b.db'.
        path = url.split(":", 1)[1].lstrip("/") if url.startswith("sqlite:") else url
        raise ValueError(
            f"storage must be an SQLAlchemy URL such as 'sqlite:///runs.db' or "
            f"'postgresql+psycopg://user@host/db'; got {display_url(url)!r}. For a file, write "
            f"'sqlite:///{path or 'runs.db'}'."
        )
    return url


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print or log.

    Examples
    --------
    >>> display_url("postgresql+psycopg://ann:secret@db.example/nas")
    'postgresql+psycopg://ann:***@db.example/nas'
    """
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        # Not parseable as a URL: still hide what looks like user:password@.
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(url))


#: Longest study or task name accepted (the columns hold 255 characters).
MAX_NAME_LENGTH = 200


def check_name(name: object, what: str = "study") -> str:
    """``name`` if it is a usable study (or task) name, else a ValueError naming the fix.

    A name is 1 to 200 printable characters without surrounding blanks. Names are
    shown on terminals and used for folders (``metanas export``), so control characters
    (terminal escape codes) are refused, and so is anything that reads as a path leaving
    the current folder: a leading ``/``, ``\\`` or ``~``, or a ``.``/``..`` segment.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A {what} name must be a non-empty string; got {name!r}.")
    fix = f"Choose a {what} name of letters, digits and '-_./:' such as 'cora-rea'."
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"A {what} name may have at most {MAX_NAME_LENGTH} characters; got {len(name)} "
            f"({name[:40]!r}...). {fix}"
        )
    if name != name.strip():
        raise ValueError(f"A {what} name may not start or end with blanks; got {name!r}. {fix}")
    bad = [c for c in name if not c.isprintable()]
    if bad:
        raise ValueError(
            f"A {what} name may not hold control characters (such as terminal escape codes); "
            f"got {name!r}. {fix}"
        )
    segments = re.split(r"[/\\]", name)
    if name[0] in "/\\~" or any(seg in (".", "..") for seg in segments):
        raise ValueError(
            f"A {what} name may not read as a path outside the current folder (a leading "
            f"'/', '\\' or '~', or a '.' or '..' part); got {name!r}. {fix}"
        )
    return name


def _merged(attrs: Mapping[str, Any], updates: Mapping[str, Any] | None) -> dict[str, Any]:
    """``attrs`` with ``updates`` merged in; a key updated to None is removed."""
    out = dict(attrs)
    for key, value in (updates or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class TaskRecord:
    id: int
    name: str
    descriptors: Mapping[str, Any]


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    task: TaskRecord
    space: Mapping[str, Any]
    strategy: str
    strategy_settings: Mapping[str, Any]
    objectives: tuple[tuple[str, str], ...]
    seed: int
    user_attrs: Mapping[str, Any]
    created_at: dt.datetime
    #: Registered name of the study's multi-fidelity scheduler (None: every trial at full budget).
    scheduler: str | None = None
    scheduler_settings: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SchedulerEvent:
    """One stored decision of a study's scheduler (``metanas_scheduler_events``).

    ``kind`` is ``"result"`` (a segment of trial ``number`` reached ``budget`` with the
    oriented ``score``; ``decision`` is what the scheduler answered), ``"promote"`` (a paused
    trial was sent on to ``next_budget``) or ``"stop"`` (a paused trial was stopped). ``cost_s``
    is the segment's cost. Events are in the order they were made.
    """

    number: int
    kind: str
    budget: float
    score: float | None
    decision: str
    next_budget: float | None = None
    cost_s: float | None = None


@dataclass(frozen=True)
class StudySummary:
    name: str
    task: str
    strategy: str
    objectives: tuple[tuple[str, str], ...]
    n_trials: int
    n_complete: int
    n_failed: int
    best_value: float | None
    created_at: dt.datetime


# Statements run once per trial, built once (parameters bound at execution).
_NEXT_NUMBER = sa.select(sa.func.coalesce(sa.func.max(m.trials.c.number), -1) + 1).where(
    m.trials.c.study_id == sa.bindparam("sid")
)
# Taken before reading the next number: writers of one study take numbers one after another.
# Without it, PostgreSQL workers on an instant evaluator collided on nearly every trial
# (3,613 unique-key retries for 1,000 trials from 4 processes), and 20 retries could run out.
# On SQLite the statement has no FOR clause: writers there collide and retry as before. NO KEY
# UPDATE still lets trials of the study be inserted (their foreign key takes KEY SHARE).
_LOCK_STUDY = (
    sa.select(m.studies.c.id)
    .where(m.studies.c.id == sa.bindparam("sid"))
    .with_for_update(key_share=True)
)
_INSERT_TRIAL = m.trials.insert()
_FINISH_TRIAL = m.trials.update().where(m.trials.c.id == sa.bindparam("trial_id"))
_INSERT_VALUES = m.trial_values.insert()

#: One intermediate result as stored: ``(step, {metric: value}, elapsed_s)``.
StepValues = tuple[int, dict[str, float], float | None]

#: PostgreSQL advisory lock (per database) held while the schema is checked and migrated.
_MIGRATION_LOCK = int.from_bytes(b"metanas", "big")
_ENGINES: dict[str, Engine] = {}
_ANNOUNCED: set[str] = set()  # default stores already named in the log
_ENGINES_LOCK = threading.Lock()


def _make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        if url == "sqlite://":
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            path = sa.engine.make_url(url).database
            if path:
                folder = Path(path).expanduser().parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"Cannot open storage {display_url(url)!r}: cannot create the folder "
                        f"{str(folder)!r} ({exc.strerror}). Check the path, and that you may "
                        "write there."
                    ) from exc
            # Many workers may write one file: wait for the lock instead of
            # failing with "database is locked".
            kwargs["connect_args"] = {"timeout": 60.0}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **kwargs)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        hint = ' pip install "metanas[postgres]"' if "postgres" in url else ""
        # The driver's message can repeat the URL: show neither it nor the password.
        detail = str(exc).replace(url, display_url(url))
        raise StorageError(f"Cannot open storage {display_url(url)!r}: {detail}.{hint}") from exc

    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if url != "sqlite://":
                # WAL: readers never block the writer, and a killed process
                # loses nothing already committed. NORMAL sync is durable
                # against process crashes (power loss may drop the last commits).
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def get_storage(storage: str | RDBStorage | None = None) -> RDBStorage:
    """A storage object for a URL (None: :func:`default_storage_url`)."""
    if isinstance(storage, RDBStorage):
        return storage
    if storage is None:
        storage = default_storage_url()
        if storage not in _ANNOUNCED:
            # Nothing was asked for, yet a file is written: say which, once per process.
            _ANNOUNCED.add(storage)
            _logger.info(
                "No storage given: studies are stored in %s (the default store; pass storage= "
                "or set METANAS_STORAGE to choose another).",
                display_url(storage),
            )
    if not isinstance(storage, str):
        raise TypeError(
            f"storage must be a URL string or RDBStorage; got {type(storage).__name__}."
        )
    return RDBStorage(storage)


@retry_transient_errors
class RDBStorage:
    """The store of tasks, studies and trials.

    Every write is its own committed transaction, so a crash or a kill loses
    no finished trial. Engines are shared per URL within a process.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///runs.db``, ``sqlite://`` (in memory),
        ``postgresql+psycopg://user:pw@host/db``.

    Notes
    -----
    Each public method that fails on a lost or refused database connection is run again
    with exponential backoff (:class:`~metanas.storage.RetryPolicy`, set per
    instance as ``retry_policy``), then raises :class:`~metanas.exceptions.StorageError`.
    """

    #: Backoff and deadline of the retries after a lost database connection.
    retry_policy: RetryPolicy = DEFAULT_RETRY

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        with _ENGINES_LOCK:
            engine = _ENGINES.get(self.url)
            if engine is None:
                engine = _make_engine(self.url)
                self._upgrade(engine)
                _ENGINES[self.url] = engine
        self.engine = engine

    def __repr__(self) -> str:
        return f"RDBStorage({self.engine.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------ schema
    @staticmethod
    def _upgrade(engine: Engine) -> None:
        # Several processes may open a new database at once: the losers of the race to create
        # the tables see "already exists"; they wait a moment and read the version again.
        for attempt in range(10):
            try:
                RDBStorage._upgrade_once(engine)
                return
            except (OperationalError, ProgrammingError) as exc:
                if "already exists" not in str(exc.orig).lower() or attempt == 9:
                    if isinstance(exc, OperationalError):
                        raise StorageError(
                            "Cannot open storage "
                            f"{engine.url.render_as_string(hide_password=True)!r}: {exc.orig}. "
                            "Check the path or server, and that you may write there."
                        ) from exc
                    raise StorageError(f"Cannot prepare the metanas schema: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))
            except SQLAlchemyError as exc:
                raise StorageError(f"Cannot prepare the metanas schema: {exc}") from exc

    @staticmethod
    def _upgrade_once(engine: Engine) -> None:
        from alembic.runtime.migration import MigrationContext

        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Processes opening a new database at once migrate it one after another (held
                # to the commit). Racing, the losers failed on PostgreSQL's catalogue ("duplicate
                # key ... pg_type_typname_nsp_index"), which _upgrade's retry does not recognise.
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            current = MigrationContext.configure(conn).get_current_revision()
            if current == HEAD_REVISION:
                return
            if current is None:
                _refuse_foreign_database(conn, engine)
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(Path(__file__).with_name("_migrations")))
            cfg.attributes["connection"] = conn
            _logger.info("Upgrading metanas schema from %s to %s", current, HEAD_REVISION)
            command.upgrade(cfg, "head")

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One committed transaction; rolled back and re-raised as StorageError on failure."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (IntegrityError, DuplicatedStudyError, StudyNotFoundError):
            raise
        except OperationalError as exc:
            raise StorageError(f"Storage write failed: {exc.orig}") from exc

    def _retry(self, fn: Callable[[], _T], attempts: int = 20, study_id: int | None = None) -> _T:
        # Two writers may take the same trial number at once: the loser retries. A study
        # deleted meanwhile also violates a constraint, and retrying cannot mend that.
        for i in range(attempts):
            try:
                return fn()
            except IntegrityError:
                if study_id is not None:
                    self._check_study_exists(study_id)
                if i == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_study_exists(self, study_id: int) -> None:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(m.studies.c.name).where(m.studies.c.id == study_id)
            ).first()
        if found is None:
            raise StudyNotFoundError(
                f"The study being searched (id {study_id}) was deleted from {self!r} while the "
                "search ran, so nothing more can be stored in it. Start a new study (or "
                "re-create it under its name) and search again."
            )

    # ------------------------------------------------------------ tasks
    def get_or_create_task(
        self, name: str, descriptors: Mapping[str, Any] | None = None
    ) -> TaskRecord:
        """The task called ``name``, created if new; given descriptors are merged in."""
        check_name(name, "task")

        def run() -> TaskRecord:
            with self._tx() as conn:
                row = conn.execute(sa.select(m.tasks).where(m.tasks.c.name == name)).first()
                if row is None:
                    desc = dict(descriptors or {})
                    res = conn.execute(
                        m.tasks.insert().values(name=name, descriptors=desc, created_at=_now())
                    )
                    return TaskRecord(_pk(res), name, desc)
                desc = dict(row.descriptors or {})
                if descriptors and any(desc.get(k) != v for k, v in descriptors.items()):
                    desc.update(descriptors)
                    conn.execute(
                        m.tasks.update().where(m.tasks.c.id == row.id).values(descriptors=desc)
                    )
                return TaskRecord(int(row.id), name, desc)

        return self._retry(run)

    def list_tasks(self) -> list[TaskRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.tasks).order_by(m.tasks.c.id)).all()
        return [TaskRecord(int(r.id), r.name, dict(r.descriptors or {})) for r in rows]

    # ------------------------------------------------------------ studies
    def create_study(
        self,
        *,
        name: str,
        task: TaskRecord,
        space: Mapping[str, Any],
        strategy: str,
        strategy_settings: Mapping[str, Any],
        objectives: Sequence[tuple[str, str]],
        seed: int,
        user_attrs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_settings: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        check_name(name)
        now = _now()
        try:
            with self._tx() as conn:
                res = conn.execute(
                    m.studies.insert().values(
                        name=name,
                        task_id=task.id,
                        space=dict(space),
                        strategy=strategy,
                        strategy_settings=dict(strategy_settings),
                        objectives=[list(o) for o in objectives],
                        seed=seed,
                        user_attrs=dict(user_attrs or {}),
                        created_at=now,
                        scheduler=scheduler,
                        scheduler_settings=None
                        if scheduler_settings is None
                        else dict(scheduler_settings),
                    )
                )
        except IntegrityError as exc:
            raise DuplicatedStudyError(
                f"A study named {name!r} already exists in {self!r}. Load it with "
                f"metanas.load_study({name!r}, storage=...), pass load_if_exists=True, "
                "or choose another name."
            ) from exc
        return StudyRecord(
            _pk(res), name, task, dict(space), strategy,
            dict(strategy_settings), tuple(tuple(o) for o in objectives), seed,  # type: ignore[misc]
            dict(user_attrs or {}), now, scheduler,
            None if scheduler_settings is None else dict(scheduler_settings),
        )  # fmt: skip

    def get_study(self, name: str) -> StudyRecord:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(m.studies, m.tasks.c.name.label("task_name"), m.tasks.c.descriptors)
                .join(m.tasks, m.tasks.c.id == m.studies.c.task_id)
                .where(m.studies.c.name == name)
            ).first()
            if row is None:
                names = [r[0] for r in conn.execute(sa.select(m.studies.c.name)).all()]
        if row is None:
            shown = ", ".join(repr(n) for n in names[:20]) or "none"
            raise StudyNotFoundError(
                f"No study named {name!r} in {self!r}.{closest(name, names)} Studies there: "
                f"{shown}. Create it with metanas.create_study(name={name!r}, ...)."
            )
        return _study_from_row(row)

    def list_studies(self) -> list[StudySummary]:
        t = m.trials
        counts = (
            sa.select(
                t.c.study_id,
                sa.func.count().label("n"),
                sa.func.sum(sa.case((t.c.state == TrialState.COMPLETE.value, 1), else_=0)).label(
                    "n_complete"
                ),
                sa.func.sum(sa.case((t.c.state == TrialState.FAILED.value, 1), else_=0)).label(
                    "n_failed"
                ),
                sa.func.max(t.c.value).label("vmax"),
                sa.func.min(t.c.value).label("vmin"),
            )
            .group_by(t.c.study_id)
            .subquery()
        )
        q = (
            sa.select(
                m.studies.c.name,
                m.studies.c.strategy,
                m.studies.c.objectives,
                m.studies.c.created_at,
                m.tasks.c.name.label("task"),
                counts.c.n,
                counts.c.n_complete,
                counts.c.n_failed,
                counts.c.vmax,
                counts.c.vmin,
            )
            .join(m.tasks, m.tasks.c.id == m.studies.c.task_id)
            .outerjoin(counts, counts.c.study_id == m.studies.c.id)
            .order_by(m.studies.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            objectives = tuple((str(a), str(b)) for a, b in r.objectives)
            best = r.vmax if objectives and objectives[0][1] == "maximize" else r.vmin
            out.append(
                StudySummary(
                    r.name,
                    r.task,
                    r.strategy,
                    objectives,
                    int(r.n or 0),
                    int(r.n_complete or 0),
                    int(r.n_failed or 0),
                    None if best is None else float(best),
                    r.created_at,
                )
            )
        return out

    def delete_study(self, name: str) -> None:
        record = self.get_study(name)
        with self._tx() as conn:
            # Explicit, not left to ON DELETE CASCADE: SQLite enforces that only per connection.
            ids = sa.select(m.trials.c.id).where(m.trials.c.study_id == record.id)
            conn.execute(m.trial_values.delete().where(m.trial_values.c.trial_id.in_(ids)))
            conn.execute(m.trials.delete().where(m.trials.c.study_id == record.id))
            conn.execute(m.studies.delete().where(m.studies.c.id == record.id))

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(m.studies.c.user_attrs).where(m.studies.c.id == study_id)
            ).first()
            attrs = dict(row.user_attrs or {}) if row else {}
            attrs[key] = value
            conn.execute(
                m.studies.update().where(m.studies.c.id == study_id).values(user_attrs=attrs)
            )

    # ------------------------------------------------------------ trials
    def add_trial(
        self,
        study_id: int,
        arch: Architecture,
        *,
        state: TrialState = TrialState.RUNNING,
        seed: int | None = None,
        worker: str | None = None,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Insert a trial with the next free number (safe under concurrent writers)."""
        trial = self._insert_trial(
            study_id, arch, limit=None, state=state, seed=seed, worker=worker,
            user_attrs=user_attrs,
        )  # fmt: skip
        if trial is None:  # pragma: no cover - no limit, so always inserted
            raise AssertionError("a trial without a limit is always inserted")
        return trial

    def add_trial_below(
        self,
        study_id: int,
        arch: Architecture,
        limit: int,
        *,
        state: TrialState = TrialState.RUNNING,
        seed: int | None = None,
        worker: str | None = None,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial | None:
        """Like :meth:`add_trial`, but only while the next number is below ``limit``.

        Returns None once the study holds trials ``0 .. limit - 1``. Exact under concurrent
        writers: the number is checked in the transaction that inserts it, and numbers are
        unique per study, so no two workers can both take the last one.
        """
        return self._insert_trial(
            study_id, arch, limit=limit, state=state, seed=seed, worker=worker,
            user_attrs=user_attrs,
        )  # fmt: skip

    def _insert_trial(
        self,
        study_id: int,
        arch: Architecture,
        *,
        limit: int | None,
        state: TrialState,
        seed: int | None,
        worker: str | None,
        user_attrs: Mapping[str, Any] | None,
    ) -> Trial | None:
        text = arch.to_string()
        attrs = dict(user_attrs or {})

        def run() -> Trial | None:
            now = _now() if state is TrialState.RUNNING else None
            with self._tx() as conn:
                # Constant statements with bound parameters: SQLAlchemy compiles
                # them once, instead of building and hashing literals per trial.
                conn.execute(_LOCK_STUDY, {"sid": study_id})
                number = conn.execute(_NEXT_NUMBER, {"sid": study_id}).scalar_one()
                if limit is not None and number >= limit:
                    return None
                res = conn.execute(
                    _INSERT_TRIAL,
                    {
                        "study_id": study_id,
                        "number": number,
                        "state": state.value,
                        "arch": text,
                        "metrics": {},
                        "test_metrics": {},
                        "seed": seed,
                        "worker": worker,
                        "user_attrs": attrs,
                        "started_at": now,
                        "heartbeat_at": now,
                    },
                )
            return Trial(
                number=int(number), state=state, arch=arch, seed=seed, worker=worker,
                started_at=now, id=_pk(res), user_attrs=attrs,
            )  # fmt: skip

        return self._retry(run, study_id=study_id)

    def _start_waiting(
        self, trial_id: int | None, worker: str | None, attrs: Mapping[str, Any], **values: Any
    ) -> dt.datetime | None:
        """Move trial ``trial_id`` from WAITING to RUNNING on ``worker``; its start time, or
        None when it was not WAITING (another process took it first)."""
        now = _now()
        with self._tx() as conn:
            res = conn.execute(
                m.trials.update()
                .where(m.trials.c.id == trial_id, m.trials.c.state == TrialState.WAITING.value)
                .values(
                    state=TrialState.RUNNING.value,
                    worker=worker,
                    started_at=now,
                    heartbeat_at=now,
                    user_attrs=dict(attrs),
                    **values,
                )
            )
        return now if res.rowcount == 1 else None

    def claim_waiting_trial(
        self,
        study_id: int,
        *,
        seed: int | Callable[[int], int | None] | None,
        worker: str | None,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial | None:
        """Atomically move the oldest WAITING trial to RUNNING; None when there is none.

        ``seed`` is the seed to store, or a function of the claimed trial's number that
        returns it (the caller cannot know which trial it will get). ``user_attrs`` are
        merged into the trial's own; a key given as None is removed.
        """
        for _ in range(20):
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(m.trials)
                    .where(
                        m.trials.c.study_id == study_id,
                        m.trials.c.state == TrialState.WAITING.value,
                    )
                    .order_by(m.trials.c.number)
                    .limit(1)
                ).first()
            if row is None:
                return None
            the_seed = seed(int(row.number)) if callable(seed) else seed
            attrs = _merged(row.user_attrs or {}, user_attrs)
            now = self._start_waiting(int(row.id), worker, attrs, seed=the_seed)
            if now is not None:
                return Trial(
                    number=int(row.number), state=TrialState.RUNNING,
                    arch=Architecture.from_json(row.arch), seed=the_seed, worker=worker,
                    started_at=now, id=int(row.id), user_attrs=attrs,
                )  # fmt: skip
        return None

    def finish_trial(
        self,
        trial: Trial,
        state: TrialState,
        *,
        metrics: Mapping[str, float] | None = None,
        test_metrics: Mapping[str, float] | None = None,
        values: Sequence[float] | None = None,
        cost_s: float | None = None,
        error: str | None = None,
        intermediate: Sequence[StepValues] | None = None,
    ) -> Trial:
        """Record the outcome of a RUNNING trial, committed before returning.

        ``intermediate`` (a result's learning curve) replaces the trial's intermediate
        values in the same transaction: the trial and its curve are stored together or
        not at all. None (or empty) keeps the steps reported while it ran.
        """
        if not state.finished:
            raise ValueError(f"finish_trial needs COMPLETE or FAILED; got {state}.")
        now = _now()
        mets = {k: _json_float(v) for k, v in (metrics or {}).items()}
        tmets = {k: _json_float(v) for k, v in (test_metrics or {}).items()}
        vals = None if values is None else [float(v) for v in values]
        steps = [_step_row(trial, s, v, e) for s, v, e in intermediate or ()]
        with self._tx() as conn:
            res = conn.execute(
                _FINISH_TRIAL,
                {
                    "trial_id": trial.id,
                    "state": state.value,
                    "metrics": mets,
                    "test_metrics": tmets,
                    "value": None if vals is None else vals[0],
                    "values": vals,
                    "cost_s": cost_s,
                    "error": error,
                    "finished_at": now,
                    "heartbeat_at": now,
                },
            )
            if steps and res.rowcount == 1:
                conn.execute(m.trial_values.delete().where(m.trial_values.c.trial_id == trial.id))
                conn.execute(_INSERT_VALUES, steps)
        if res.rowcount == 0:
            raise StudyNotFoundError(
                f"Trial {trial.number} could not be stored: it (or its study) was deleted from "
                f"{self!r} while it ran. Start a new study and search again."
            )
        return Trial(
            number=trial.number, state=state, arch=trial.arch,
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            test_metrics={k: float(v) for k, v in (test_metrics or {}).items()},
            values=None if vals is None else tuple(vals), cost_s=cost_s,
            seed=trial.seed, error=error, worker=trial.worker, started_at=trial.started_at,
            finished_at=now, id=trial.id, user_attrs=trial.user_attrs,
        )  # fmt: skip

    def report_values(
        self,
        trial: Trial,
        step: int,
        values: Mapping[str, float],
        elapsed_s: float | None = None,
    ) -> None:
        """Store the intermediate ``values`` of ``trial`` at ``step``, committed at once.

        Each call is its own transaction, so a crash keeps every step reported before it.
        Reporting a step again replaces it. NaN and infinite values are stored as null and
        read back as NaN.

        Raises
        ------
        StudyNotFoundError
            The trial (or its study) was deleted.
        """
        row = _step_row(trial, step, values, elapsed_s)

        def run() -> None:
            with self._tx() as conn:
                # Delete-then-insert is the one upsert SQLite and PostgreSQL share.
                conn.execute(
                    m.trial_values.delete().where(
                        m.trial_values.c.trial_id == trial.id, m.trial_values.c.step == row["step"]
                    )
                )
                conn.execute(_INSERT_VALUES, row)

        try:
            self._retry(run, attempts=5)
        except IntegrityError as exc:
            raise StudyNotFoundError(
                f"Step {row['step']} of trial {trial.number} could not be stored: the trial (or "
                f"its study) is not in {self!r}. Report steps of a trial from study.ask()."
            ) from exc

    def get_values(
        self, study_id: int, numbers: Sequence[int] | None = None
    ) -> dict[int, list[StepValues]]:
        """The intermediate values of a study's trials (of ``numbers`` only, if given).

        Returns ``{trial_number: [(step, {metric: value}, elapsed_s), ...]}`` in step
        order, read in one query; trials without values are left out.
        """
        v, t = m.trial_values, m.trials
        q = (
            sa.select(t.c.number, v.c.step, v.c["values"], v.c.elapsed_s)
            .join(t, t.c.id == v.c.trial_id)
            .where(t.c.study_id == study_id)
            .order_by(t.c.number, v.c.step)
        )
        if numbers is not None:
            q = q.where(t.c.number.in_([int(n) for n in numbers]))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out: dict[int, list[StepValues]] = {}
        for r in rows:
            vals = {str(k): math.nan if x is None else float(x) for k, x in (r[2] or {}).items()}
            out.setdefault(int(r.number), []).append(
                (int(r.step), vals, None if r.elapsed_s is None else float(r.elapsed_s))
            )
        return out

    def store_segment(
        self,
        trial: Trial,
        state: TrialState,
        event: SchedulerEvent,
        *,
        metrics: Mapping[str, float] | None = None,
        test_metrics: Mapping[str, float] | None = None,
        values: Sequence[float] | None = None,
        cost_s: float | None = None,
        budget: float | None = None,
        error: str | None = None,
        intermediate: Sequence[StepValues] | None = None,
    ) -> Trial:
        """Store one scheduled segment of ``trial`` and its scheduler event in one transaction.

        The trial row takes the segment's metrics, ``budget`` and ``cost_s`` (the sum over its
        segments so far) and ``state``: RUNNING while the scheduler keeps it going or paused,
        or a finished state. ``intermediate`` (the curve up to ``budget``) replaces the stored
        steps. A kill between two segments therefore loses nothing that finished.
        """
        now = _now()
        vals = None if values is None else [float(v) for v in values]
        steps = [_step_row(trial, s, v, e) for s, v, e in intermediate or ()]
        row = {
            "state": state.value,
            "metrics": {k: _json_float(v) for k, v in (metrics or {}).items()},
            "test_metrics": {k: _json_float(v) for k, v in (test_metrics or {}).items()},
            "value": None if vals is None else vals[0],
            "values": vals,
            "cost_s": cost_s,
            "budget": budget,
            "error": error,
            "heartbeat_at": now,
        }
        if state.finished:
            row["finished_at"] = now
        with self._tx() as conn:
            res = conn.execute(m.trials.update().where(m.trials.c.id == trial.id).values(**row))
            if res.rowcount == 1:
                if steps:
                    conn.execute(
                        m.trial_values.delete().where(m.trial_values.c.trial_id == trial.id)
                    )
                    conn.execute(_INSERT_VALUES, steps)
                conn.execute(self._event_insert(trial, event, now))
        if res.rowcount == 0:
            raise StudyNotFoundError(
                f"Trial {trial.number} could not be stored: it (or its study) was deleted from "
                f"{self!r} while it ran. Start a new study and search again."
            )
        return dataclasses.replace(
            trial, state=state, metrics={k: float(v) for k, v in (metrics or {}).items()},
            test_metrics={k: float(v) for k, v in (test_metrics or {}).items()},
            values=None if vals is None else tuple(vals), cost_s=cost_s, budget=budget,
            error=error, finished_at=now if state.finished else None,
        )  # fmt: skip

    def add_event(self, trial: Trial, event: SchedulerEvent) -> None:
        """Store a scheduler event that changes no trial data (a promotion)."""
        with self._tx() as conn:
            conn.execute(self._event_insert(trial, event, _now()))

    @staticmethod
    def _event_insert(trial: Trial, event: SchedulerEvent, now: dt.datetime) -> Any:
        if trial.id is None:
            raise ValueError(f"Trial {trial.number} has no storage id; store it first.")
        return m.scheduler_events.insert().values(
            study_id=sa.select(m.trials.c.study_id)
            .where(m.trials.c.id == trial.id)
            .scalar_subquery(),
            trial_id=trial.id, number=trial.number, kind=event.kind,
            budget=float(event.budget),
            score=None if event.score is None else _json_float(event.score),
            decision=event.decision, next_budget=event.next_budget, cost_s=event.cost_s,
            created_at=now,
        )  # fmt: skip

    def get_events(self, study_id: int) -> list[SchedulerEvent]:
        """The scheduler events of a study, in the order they were made."""
        e = m.scheduler_events
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(e).where(e.c.study_id == study_id).order_by(e.c.id)).all()
        return [
            SchedulerEvent(
                number=int(r.number),
                kind=str(r.kind),
                budget=float(r.budget),
                score=None if r.score is None else float(r.score),
                decision=str(r.decision),
                next_budget=None if r.next_budget is None else float(r.next_budget),
                cost_s=None if r.cost_s is None else float(r.cost_s),
            )
            for r in rows
        ]

    def heartbeat(self, trial_ids: Sequence[int]) -> None:
        """Mark the RUNNING trials ``trial_ids`` alive now, in one statement."""
        if not trial_ids:
            return
        with self._tx() as conn:
            conn.execute(
                m.trials.update()
                .where(
                    m.trials.c.id.in_([int(i) for i in trial_ids]),
                    m.trials.c.state == TrialState.RUNNING.value,
                )
                .values(heartbeat_at=_now())
            )

    def running_trials(self, study_id: int) -> list[tuple[Trial, dt.datetime | None]]:
        """The study's RUNNING trials with the time each was last marked alive (UTC)."""
        q = sa.select(m.trials).where(
            m.trials.c.study_id == study_id, m.trials.c.state == TrialState.RUNNING.value
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(m.trials.c.number)).all()
        return [(_trial_from_row(r), r.heartbeat_at) for r in rows]

    def recover_trial(
        self,
        trial: Trial,
        heartbeat_at: dt.datetime | None,
        *,
        max_retries: int,
        reason: str,
    ) -> TrialState | None:
        """Settle a RUNNING trial whose worker died: WAITING again, or FAILED past the limit.

        Counts the death in the trial's ``user_attrs["attempts"]``; once that exceeds
        ``max_retries`` the trial is FAILED with an error naming ``reason``. Atomic: only a
        trial still RUNNING on the same worker with the same ``heartbeat_at`` changes, so
        of several processes recovering it at once exactly one does. Returns the new state,
        or None when another process (or its living worker) got there first.
        """
        attrs = dict(trial.user_attrs)
        attempts = int(attrs.get("attempts", 0)) + 1
        attrs["attempts"] = attempts
        values: dict[str, Any] = {"user_attrs": attrs}
        if attempts > max_retries:
            state = TrialState.FAILED
            now = _now()
            values.update(
                state=state.value,
                finished_at=now,
                heartbeat_at=now,
                error=(
                    f"worker died: {reason}; given up after {attempts} attempt(s) "
                    f"(max_retries={max_retries})"
                ),
            )
        else:
            state = TrialState.WAITING
            values.update(state=state.value, worker=None, started_at=None)
        t = m.trials.c
        same_beat = (
            t.heartbeat_at.is_(None) if heartbeat_at is None else t.heartbeat_at == heartbeat_at
        )
        same_worker = t.worker.is_(None) if trial.worker is None else t.worker == trial.worker
        with self._tx() as conn:
            res = conn.execute(
                m.trials.update()
                .where(
                    t.id == trial.id, t.state == TrialState.RUNNING.value, same_worker, same_beat
                )
                .values(**values)
            )
        return state if res.rowcount == 1 else None

    def resume_trial(
        self, trial: Trial, *, worker: str | None, user_attrs: Mapping[str, Any] | None = None
    ) -> Trial | None:
        """Move the WAITING ``trial`` (an open scheduled trial given back) to RUNNING on
        ``worker``; None when another process took it first. ``user_attrs`` are merged in
        (a key given as None is removed)."""
        attrs = _merged(trial.user_attrs, user_attrs)
        now = self._start_waiting(trial.id, worker, attrs)
        if now is None:
            return None
        return dataclasses.replace(
            trial, state=TrialState.RUNNING, worker=worker, started_at=now, user_attrs=attrs
        )

    def requeue_trial(self, trial: Trial) -> bool:
        """Move a RUNNING trial back to WAITING (its worker died); True if it was moved."""
        with self._tx() as conn:
            res = conn.execute(
                m.trials.update()
                .where(m.trials.c.id == trial.id, m.trials.c.state == TrialState.RUNNING.value)
                .values(state=TrialState.WAITING.value, worker=None, started_at=None)
            )
        return bool(res.rowcount == 1)

    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[Trial]:
        q = sa.select(m.trials).where(m.trials.c.study_id == study_id)
        if states is not None:
            q = q.where(m.trials.c.state.in_([s.value for s in states]))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(m.trials.c.number)).all()
        return [_trial_from_row(r) for r in rows]

    def get_trial_summaries(self, study_id: int) -> list[Trial]:
        """The trials of a study without their metrics, test metrics and user attributes.

        For views of large studies: :meth:`get_trials` decodes five JSON columns per trial
        (1.5 s for 10,000 trials on a busy 2-core machine); this decodes two. The trials carry
        number, state, architecture, objective values (a stored null as NaN), cost, budget and
        id; the other fields keep their defaults.
        """
        t = m.trials.c
        q = (
            sa.select(t.number, t.state, t.arch, t["values"], t.cost_s, t.budget, t.id)
            .where(t.study_id == study_id)
            .order_by(t.number)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            Trial(
                number=int(r[0]), state=TrialState(r[1]), arch=Architecture.from_json(r[2]),
                values=None if r[3] is None else tuple(
                    math.nan if v is None else float(v) for v in r[3]
                ),
                cost_s=r[4], budget=None if r[5] is None else float(r[5]), id=int(r[6]),
            )
            for r in rows
        ]  # fmt: skip

    def all_trials(self) -> list[tuple[str, str, Trial]]:
        """Every trial of every study as ``(task, study, trial)``: the experience memory."""
        q = (
            sa.select(m.trials, m.studies.c.name.label("study_name"), m.tasks.c.name.label("task"))
            .join(m.studies, m.studies.c.id == m.trials.c.study_id)
            .join(m.tasks, m.tasks.c.id == m.studies.c.task_id)
            .order_by(m.trials.c.study_id, m.trials.c.number)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [(r.task, r.study_name, _trial_from_row(r)) for r in rows]

    # ------------------------------------------------------------ experience memory
    def task_trials(
        self,
        tasks: Sequence[str] | None = None,
        *,
        states: Sequence[TrialState] | None = None,
    ) -> list[tuple[str, str, Trial]]:
        """Like :meth:`all_trials`, restricted to some tasks and trial states (filtered in SQL)."""
        q = (
            sa.select(m.trials, m.studies.c.name.label("study_name"), m.tasks.c.name.label("task"))
            .join(m.studies, m.studies.c.id == m.trials.c.study_id)
            .join(m.tasks, m.tasks.c.id == m.studies.c.task_id)
            .order_by(m.trials.c.study_id, m.trials.c.number)
        )
        if tasks is not None:
            q = q.where(m.tasks.c.name.in_(list(tasks)))
        if states is not None:
            q = q.where(m.trials.c.state.in_([s.value for s in states]))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [(r.task, r.study_name, _trial_from_row(r)) for r in rows]

    def tasks_reporting(self, tasks: Sequence[str], metric: str) -> set[str]:
        """Those of ``tasks`` with a COMPLETE trial that reports ``metric`` (non-null).

        One EXISTS per task that stops at its first such trial (an index walk of the
        task's studies), not a scan of every trial's metrics.
        """
        t, st = m.trials, m.studies
        found = (
            sa.select(sa.literal(1))
            .select_from(t.join(st, st.c.id == t.c.study_id))
            .where(
                st.c.task_id == m.tasks.c.id,
                t.c.state == TrialState.COMPLETE.value,
                t.c.metrics[metric].as_float().is_not(None),
            )
            .exists()
        )
        q = sa.select(m.tasks.c.name).where(m.tasks.c.name.in_(list(tasks)), found)
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    def task_metric_sample(
        self, tasks: Sequence[str], metric: str, direction: str, *, top: int, spread: int
    ) -> dict[str, list[tuple[str, str, float]]]:
        """Per task, ``(study, arch JSON, value)`` of its best COMPLETE trials and a spread.

        Trials reporting a non-null ``metric`` are ranked per task in SQL (best first in
        ``direction``; ties: studies by creation, trials by number); the ``top`` best are
        kept, then about ``spread`` evenly spaced over the rest. So a memory of millions of
        trials is read as a few hundred rows per task. Rows come back in evaluation order.
        """
        t, st = m.trials, m.studies
        v = t.c.metrics[metric].as_float()
        order = (v.desc() if direction == "maximize" else v.asc(), t.c.study_id, t.c.number)
        # The stride comes from each task's COMPLETE count, read from the (study, state) index
        # without touching the metrics: a second window over a million rows costs a sort.
        done = t.c.state == TrialState.COMPLETE.value
        # Only these tasks' studies: a few of a large memory's tasks are read without
        # touching the other tasks' trials.
        ids = (
            sa.select(st.c.id)
            .join(m.tasks, m.tasks.c.id == st.c.task_id)
            .where(m.tasks.c.name.in_(list(tasks)))
        )
        counts = (
            sa.select(st.c.task_id, sa.func.count().label("n"))
            .select_from(t.join(st, st.c.id == t.c.study_id))
            .where(done, t.c.study_id.in_(ids))
            .group_by(st.c.task_id)
            .subquery()
        )
        ranked = (
            sa.select(
                m.tasks.c.name.label("task"),
                st.c.name.label("study"),
                t.c.study_id,
                t.c.number,
                t.c.arch,
                v.label("v"),
                sa.func.row_number().over(partition_by=st.c.task_id, order_by=order).label("rn"),
                counts.c.n,
            )
            .select_from(
                t.join(st, st.c.id == t.c.study_id)
                .join(m.tasks, m.tasks.c.id == st.c.task_id)
                .join(counts, counts.c.task_id == st.c.task_id)
            )
            .where(
                t.c.study_id.in_(ids),
                done,
                v.is_not(None),
            )
            .subquery()
        )
        r = ranked.c
        stride = sa.case((r.n - top > spread, (r.n - top) // spread), else_=1)
        q = (
            sa.select(r.task, r.study, r.arch, r.v)
            .where(sa.or_(r.rn <= top, (r.rn - (top + 1)).self_group().op("%")(stride) == 0))
            .order_by(r.study_id, r.number)
        )
        out: dict[str, list[tuple[str, str, float]]] = {name: [] for name in tasks}
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                out[row.task].append((row.study, row.arch, float(row.v)))
        return out

    def list_study_records(self, tasks: Sequence[str] | None = None) -> list[StudyRecord]:
        """Full records of every study (of some tasks), in creation order."""
        q = (
            sa.select(m.studies, m.tasks.c.name.label("task_name"), m.tasks.c.descriptors)
            .join(m.tasks, m.tasks.c.id == m.studies.c.task_id)
            .order_by(m.studies.c.id)
        )
        if tasks is not None:
            q = q.where(m.tasks.c.name.in_(list(tasks)))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [_study_from_row(r) for r in rows]

    def set_task_descriptors(self, name: str, descriptors: Mapping[str, Any]) -> TaskRecord:
        """Replace the descriptors of the existing task ``name`` (no merge)."""
        with self._tx() as conn:
            row = conn.execute(sa.select(m.tasks).where(m.tasks.c.name == name)).first()
            if row is None:
                raise StorageError(
                    f"No task named {name!r} in {self!r}; create it with "
                    "get_or_create_task() first."
                )
            desc = dict(descriptors)
            conn.execute(m.tasks.update().where(m.tasks.c.id == row.id).values(descriptors=desc))
        return TaskRecord(int(row.id), name, desc)

    def import_study(
        self,
        *,
        name: str,
        task: TaskRecord,
        space: Mapping[str, Any],
        strategy: str,
        strategy_settings: Mapping[str, Any],
        objectives: Sequence[tuple[str, str]],
        seed: int,
        user_attrs: Mapping[str, Any] | None,
        created_at: dt.datetime | None,
        trials: Sequence[Trial],
    ) -> StudyRecord:
        """Create a study together with its finished trials, in one transaction.

        Trials keep their numbers, states, metrics, seeds and timestamps. Either
        the whole study is written or nothing is (no half-imported study).

        Raises
        ------
        DuplicatedStudyError
            A study named ``name`` already exists.
        """
        check_name(name)
        created = created_at or _now()
        rows = [
            {
                "number": t.number,
                "state": t.state.value,
                "arch": t.arch.to_string(),
                "metrics": {k: _json_float(v) for k, v in t.metrics.items()},
                "test_metrics": {k: _json_float(v) for k, v in t.test_metrics.items()},
                "value": None if not t.values else float(t.values[0]),
                "values": None if t.values is None else [float(v) for v in t.values],
                "cost_s": t.cost_s,
                "seed": t.seed,
                "error": t.error,
                "worker": t.worker,
                "user_attrs": dict(t.user_attrs),
                "started_at": t.started_at,
                "finished_at": t.finished_at,
                "heartbeat_at": t.finished_at,
            }
            for t in trials
        ]
        try:
            with self._tx() as conn:
                res = conn.execute(
                    m.studies.insert().values(
                        name=name, task_id=task.id, space=dict(space), strategy=strategy,
                        strategy_settings=dict(strategy_settings),
                        objectives=[list(o) for o in objectives], seed=seed,
                        user_attrs=dict(user_attrs or {}), created_at=created,
                    )
                )  # fmt: skip
                study_id = _pk(res)
                if rows:
                    conn.execute(_INSERT_TRIAL, [{"study_id": study_id, **r} for r in rows])
        except IntegrityError as exc:
            raise DuplicatedStudyError(
                f"A study named {name!r} already exists in {self!r}, or two of its trials share "
                "a number. Import under another name, or delete the stored study first."
            ) from exc
        return StudyRecord(
            study_id, name, task, dict(space), strategy, dict(strategy_settings),
            tuple((str(a), str(b)) for a, b in objectives), seed, dict(user_attrs or {}),
            created,
        )  # fmt: skip


def _refuse_foreign_database(conn: Connection, engine: Engine) -> None:
    """Refuse to add metanas tables to a database that holds another application's tables."""
    names = set(sa.inspect(conn).get_table_names())
    ours = {t.name for t in m.metadata.tables.values()} | {"alembic_version"}
    foreign = sorted(names - ours)
    if foreign and not names & ours:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise StorageError(
            f"Storage {engine.url.render_as_string(hide_password=True)!r} holds tables of "
            f"another application ({shown}) and no metanas tables; metanas will not add its "
            "tables there. Give metanas a database of its own, e.g. 'sqlite:///metanas.db'."
        )


def _pk(res: Any) -> int:
    key = res.inserted_primary_key
    if key is None:  # pragma: no cover - every table has an integer key
        raise StorageError("The database returned no primary key for an insert.")
    return int(key[0])


def _step_row(
    trial: Trial, step: int, values: Mapping[str, float], elapsed_s: float | None
) -> dict[str, Any]:
    """A row of ``metanas_trial_values``, checked (a ValueError names the bad part)."""
    if trial.id is None:
        raise ValueError(
            f"Trial {trial.number} has no storage id; report steps of a trial from study.ask()."
        )
    if isinstance(step, bool) or not isinstance(step, int | float) or step != int(step) or step < 0:
        raise ValueError(f"step must be an int >= 0 (an epoch, say); got {step!r}.")
    if not isinstance(values, Mapping):
        raise TypeError(
            f"values must be a mapping of metric name to number such as "
            f"{{'valid_accuracy': 0.9}}; got {type(values).__name__}."
        )
    vals: dict[str, float | None] = {}
    for k, x in values.items():
        try:
            if isinstance(x, bool | str):
                raise TypeError
            vals[str(k)] = _json_float(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"values[{k!r}] must be a number; got {x!r}.") from exc
    elapsed = None if elapsed_s is None else _json_float(elapsed_s)
    return {"trial_id": trial.id, "step": int(step), "values": vals, "elapsed_s": elapsed}


def _json_float(v: float) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def _study_from_row(r: Any) -> StudyRecord:
    """A study row joined with its task's name (``task_name``) and descriptors."""
    return StudyRecord(
        int(r.id),
        r.name,
        TaskRecord(int(r.task_id), r.task_name, dict(r.descriptors or {})),
        dict(r.space),
        r.strategy,
        dict(r.strategy_settings or {}),
        tuple((str(a), str(b)) for a, b in r.objectives),
        int(r.seed),
        dict(r.user_attrs or {}),
        r.created_at,
        r._mapping.get("scheduler"),
        None if r._mapping.get("scheduler_settings") is None else dict(r.scheduler_settings),
    )


def _trial_from_row(r: Any) -> Trial:
    return Trial(
        number=int(r.number),
        state=TrialState(r.state),
        arch=Architecture.from_json(r.arch),
        metrics={k: (math.nan if v is None else float(v)) for k, v in (r.metrics or {}).items()},
        test_metrics={
            k: (math.nan if v is None else float(v)) for k, v in (r.test_metrics or {}).items()
        },
        values=None
        if r._mapping["values"] is None
        else tuple(float(v) for v in r._mapping["values"]),
        cost_s=r.cost_s,
        seed=None if r.seed is None else int(r.seed),
        error=r.error,
        worker=r.worker,
        started_at=r.started_at,
        finished_at=r.finished_at,
        id=int(r.id),
        user_attrs=dict(r.user_attrs or {}),
        budget=None if r._mapping.get("budget") is None else float(r.budget),
    )
