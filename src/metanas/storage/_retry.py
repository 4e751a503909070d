"""Retry storage calls that failed on a dropped or refused database connection.

A PostgreSQL server restarted, a failover, a proxy closing idle connections, a network blip:
the connection a worker holds dies, or the next one cannot be opened for a while. The
engine's ``pool_pre_ping`` replaces dead connections found idle in the pool; what fails in
the middle of a call (or while the server is away) is retried here, the whole storage call
again, with exponential backoff up to a total deadline, and only then raised as a
:class:`~metanas.exceptions.StorageError` that says what happened.

Only connection-level failures are retried: an integrity error, a missing table or a
read-only SQLite file would fail the same way again.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from metanas.exceptions import StorageError

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "is_transient", "retry_transient_errors"]

_logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=type)

# SQLite has no connection to lose: of its operational errors only lock contention passes.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy")


@dataclass(frozen=True)
class RetryPolicy:
    """How long a storage call keeps trying after its database connection failed.

    Attempt ``k`` (from 1) that fails waits ``min(cap_s, base_s * 2 ** (k - 1))`` seconds
    before the next one; no attempt starts later than ``deadline_s`` after the first.

    Parameters
    ----------
    deadline_s
        Longest time from the first attempt to the last one's start; 0 disables retries.
    base_s
        Wait after the first failure.
    cap_s
        Longest wait between two attempts.

    Examples
    --------
    >>> [RetryPolicy(base_s=0.1, cap_s=1.0).wait_s(k) for k in (1, 2, 3, 4, 5, 6)]
    [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    """

    deadline_s: float = 60.0
    base_s: float = 0.1
    cap_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("deadline_s", "base_s", "cap_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(
                    f"RetryPolicy {name} must be a number of seconds >= 0; got {value!r}."
                )

    def wait_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


#: The policy of every :class:`~metanas.storage.RDBStorage` unless its ``retry_policy`` is set.
DEFAULT_RETRY = RetryPolicy()


def is_transient(exc: BaseException, dialect: str | None = None) -> bool:
    """True when ``exc`` (or what it was raised from) is a lost or refused connection.

    ``dialect`` is the engine's (``"sqlite"``, ``"postgresql"``): SQLite's operational
    errors are its file's, not a connection's, so there only lock contention counts.

    Examples
    --------
    >>> from sqlalchemy.exc import OperationalError
    >>> is_transient(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    True
    >>> is_transient(OperationalError("SELECT 1", {}, Exception("no such table: x")), "sqlite")
    False
    >>> is_transient(ValueError("bad"))
    False
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            if isinstance(current, OperationalError | InterfaceError):
                if dialect != "sqlite":
                    return True
                text = str(current.orig).lower()
                return any(s in text for s in _SQLITE_TRANSIENT)
            return False
        current = current.__cause__
    return False


_depth = threading.local()


def _call(
    storage: Any, method: str, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> _R:
    policy: RetryPolicy = getattr(storage, "retry_policy", DEFAULT_RETRY)
    engine = getattr(storage, "engine", None)
    dialect = None if engine is None else engine.dialect.name
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc, dialect):
                raise
            wait = policy.wait_s(attempt)
            elapsed = time.monotonic() - start
            cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
            detail = getattr(cause, "orig", None) or cause
            if elapsed + wait > policy.deadline_s:
                raise StorageError(
                    f"Lost the connection to storage {storage!r} and could not restore it: "
                    f"{method}() failed {attempt} time(s) over {elapsed:.1f} s (retry deadline "
                    f"{policy.deadline_s:g} s); last error: {detail}. Check that the database "
                    "server is running and reachable, then run the same command again: "
                    "finished trials are stored."
                ) from exc
            _logger.warning(
                "Storage %r: %s() lost its database connection (%s); attempt %d failed, "
                "retrying in %.2f s (giving up %.0f s after the first attempt).",
                storage, method, detail, attempt, wait, policy.deadline_s,
            )  # fmt: skip
            time.sleep(wait)


def _retrying(name: str, fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # A storage method calling another must not multiply the retries (and the
        # deadline): only the outermost call of this thread retries, the whole of it.
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        try:
            if depth:
                return fn(*args, **kwargs)
            return _call(args[0], name, fn, *args, **kwargs)
        finally:
            _depth.n = depth

    return wrapper


def retry_transient_errors(cls: _C) -> _C:
    """Class decorator: every public method of ``cls`` retries lost connections.

    A method is retried as a whole, so each must be safe to run again after a failure:
    one transaction, or reads and conditional writes. The instance's ``retry_policy``
    (else :data:`DEFAULT_RETRY`) sets the backoff; its ``engine`` tells the dialect.
    A commit whose acknowledgement is lost with the connection cannot be told from one
    that failed: its retry may apply the write twice (see docs/distributed.md).
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        setattr(cls, name, _retrying(name, member))
    return cls
