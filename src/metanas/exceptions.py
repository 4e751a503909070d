"""Errors raised by metanas.

Every message names the problem and the fix, so a user reading one line of a
traceback knows what to change.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DuplicatedStudyError",
    "InvalidArchitectureError",
    "MetanasError",
    "StorageError",
    "StudyNotFoundError",
    "UnknownNameError",
    "closest",
]


class MetanasError(Exception):
    """Base class of every error metanas raises on purpose."""


class InvalidArchitectureError(MetanasError, ValueError):
    """An architecture does not belong to the search space it is used with."""


class UnknownNameError(MetanasError, ValueError):
    """A name (strategy, data set, column, space ...) is not one metanas knows."""


class StorageError(MetanasError):
    """The storage backend could not be opened or written."""


class StudyNotFoundError(MetanasError, KeyError):
    """No study of that name exists in the storage."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicatedStudyError(MetanasError):
    """A study of that name already exists and ``load_if_exists`` was not set."""


def closest(name: str, options: Iterable[str]) -> str:
    """Return a ``did you mean ...?`` hint for ``name`` among ``options`` (or "")."""
    matches = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def unknown(kind: str, name: object, options: Iterable[str], fix: str = "") -> UnknownNameError:
    """Build the standard error for an unknown ``kind`` called ``name``."""
    opts = sorted(str(o) for o in options)
    hint = closest(str(name), opts)
    shown = ", ".join(repr(o) for o in opts[:30]) + (" ..." if len(opts) > 30 else "")
    plural = f"{kind[:-1]}ies" if kind.endswith("y") else f"{kind}s"
    msg = f"Unknown {kind} {name!r}.{hint} Known {plural}: {shown}."
    if fix:
        msg += f" {fix}"
    return UnknownNameError(msg)
