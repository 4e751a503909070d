"""The architecture value: an immutable mapping from decision name to choice."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from metanas.exceptions import InvalidArchitectureError

__all__ = ["Architecture", "Choice"]

Choice: TypeAlias = str | int | float | bool
_CHOICE_TYPES = (str, int, float, bool)


class Architecture(Mapping[str, Choice]):
    """An immutable, hashable architecture: ``decision name -> choice``.

    Two architectures are equal when they make the same choices, whatever the
    order the decisions were given in. The canonical string is compact JSON with
    sorted keys, so it is stable across runs and machines and parses back.

    Parameters
    ----------
    choices
        A mapping or an iterable of ``(name, choice)`` pairs. Choices are
        ``str``, ``int``, ``float`` or ``bool``.

    Examples
    --------
    >>> a = Architecture({"depth": 2, "act": "relu"})
    >>> a.to_string()
    '{"act":"relu","depth":2}'
    >>> Architecture.from_json(a.to_string()) == a
    True
    >>> a["depth"]
    2
    """

    __slots__ = ("_hash", "_items", "_string")

    def __init__(self, choices: Mapping[str, Choice] | Iterable[tuple[str, Choice]]) -> None:
        items = dict(choices)
        for name, value in items.items():
            if not isinstance(name, str) or not name:
                raise InvalidArchitectureError(
                    f"Decision names must be non-empty strings; got {name!r}."
                )
            if not isinstance(value, _CHOICE_TYPES):
                raise InvalidArchitectureError(
                    f"Decision {name!r} has a choice of type {type(value).__name__} ({value!r}); "
                    "choices must be str, int, float or bool."
                )
        self._items: dict[str, Choice] = items
        self._string = json.dumps(items, sort_keys=True, separators=(",", ":"))
        self._hash = hash(self._string)

    def __getitem__(self, name: str) -> Choice:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Architecture):
            return self._string == other._string
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._items.items())
        return f"Architecture({inner})"

    def __str__(self) -> str:
        return self._string

    def __reduce__(self) -> tuple[Any, ...]:
        return (Architecture, (self._items,))

    def replace(self, **changes: Choice) -> Architecture:
        """A copy with some choices changed (decision order kept)."""
        items = dict(self._items)
        items.update(changes)
        return Architecture(items)

    def to_string(self) -> str:
        """Canonical string form: compact JSON with sorted keys."""
        return self._string

    def to_dict(self) -> dict[str, Choice]:
        """A plain dict copy, in decision order."""
        return dict(self._items)

    def to_json(self) -> str:
        """JSON text; ``Architecture.from_json`` reads it back."""
        return self._string

    @classmethod
    def from_json(cls, text: str | Mapping[str, Choice]) -> Architecture:
        """Read an architecture written by :meth:`to_json` (or a dict of choices)."""
        if isinstance(text, Mapping):
            return cls(text)
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidArchitectureError(
                f"Cannot read an architecture from {text!r}: not JSON ({exc}). "
                'Expected an object such as {"depth": 2, "act": "relu"}.'
            ) from exc
        if not isinstance(data, dict):
            raise InvalidArchitectureError(
                f"Cannot read an architecture from {text!r}: expected a JSON object of "
                "decision -> choice."
            )
        return cls(data)
