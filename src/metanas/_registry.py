"""One registry style for every plug-in kind: a decorator with a name, listed by ``available``.

Each plug-in kind (strategy, space, benchmark, one-shot method, few-shot method, ...) owns one
:class:`Registry`. A registry names the module whose import registers the built-in plug-ins,
so ``available("oneshot")`` lists DARTS and ENAS without this module importing torch, and the
layers stay one-way: this module imports nothing of metanas but the error helpers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from metanas.exceptions import unknown

__all__ = ["Registry", "available", "registry"]

T = TypeVar("T")

_KINDS: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """Plug-ins of one kind by name.

    Parameters
    ----------
    kind
        The kind's name, as :func:`available` takes it (``"strategy"``).
    label
        How an error names one of them (``"strategy"``, ``"one-shot method"``).
    builtins
        Module imported on first look-up; importing it registers the built-in plug-ins.
    check
        Called with each registered object; raises ``TypeError`` for a wrong one.
    fix
        Appended to the unknown-name error: how to add one.
    """

    def __init__(
        self,
        kind: str,
        *,
        label: str | None = None,
        builtins: str | None = None,
        check: Callable[[Any], None] | None = None,
        fix: str = "",
    ) -> None:
        if kind in _KINDS:
            raise ValueError(f"A registry of kind {kind!r} exists already.")
        self.kind = kind
        self.label = label or kind
        self._builtins = builtins
        self._loaded = builtins is None
        self._check = check
        self._fix = fix
        self._items: dict[str, T] = {}
        _KINDS[kind] = self

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make the decorated class or factory available as ``name``.

        A class gets ``registered_name`` set to ``name``. Registering another object under a
        taken name raises ``ValueError``; re-registering the same class (a module reloaded)
        replaces it.
        """
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(
                f"A {self.label} name must be a non-empty string without surrounding blanks; "
                f"got {name!r}."
            )

        def deco(obj: T) -> T:
            if self._check is not None:
                self._check(obj)
            old = self._items.get(name)
            if old is not None and old is not obj and _qualname(old) != _qualname(obj):
                raise ValueError(f"A {self.label} is already registered as {name!r}: {old!r}.")
            self._items[name] = obj
            if isinstance(obj, type):
                obj.registered_name = name  # type: ignore[attr-defined]
            return obj

        return deco

    def get(self, name: str) -> T:
        """The plug-in registered as ``name``; an unknown name raises ``UnknownNameError``."""
        self._load()
        if not isinstance(name, str) or name not in self._items:
            raise unknown(self.label, name, self._items, self._fix)
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        if not self._loaded:
            # Set first: the built-ins module registers through this registry while importing.
            self._loaded = True
            if self._builtins is not None:
                importlib.import_module(self._builtins)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._items)} registered)"


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def registry(kind: str) -> Registry[Any]:
    """The registry of one plug-in kind."""
    _load_kinds()
    if kind not in _KINDS:
        raise unknown("plug-in kind", kind, _KINDS)
    return _KINDS[kind]


def available(kind: str | None = None) -> list[str] | dict[str, list[str]]:
    """Registered plug-in names of one kind, or of every kind when ``kind`` is None.

    Examples
    --------
    >>> "evolution" in available("strategy")
    True
    >>> "strategy" in available()
    True
    """
    if kind is None:
        _load_kinds()
        return {k: r.names() for k, r in sorted(_KINDS.items())}
    return registry(kind).names()


# Modules that create the registries; imported on first use so every kind is known.
_KIND_MODULES = (
    "metanas.strategies.base",
    "metanas.spaces.base",
    "metanas.benchmarks",
    "metanas.oneshot",
    "metanas.fewshot",
    "metanas.execution.base",
    "metanas.schedulers.base",
    "metanas.evaluation.augment",
)


def _load_kinds() -> None:
    for module in _KIND_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # a kind whose registry module cannot load yet
            if exc.name is not None and exc.name.startswith("metanas"):
                raise
