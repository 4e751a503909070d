"""The benchmark registry: built-in tabular benchmarks by name, with their data sets.

A benchmark is a :class:`~metanas.benchmarks.tabular.TabularBenchmark` subclass built from one
data set name (``cls(dataset)``) whose class attribute ``datasets`` lists them. It is made
available by :func:`register_benchmark`, once, with the other spellings it answers to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metanas._registry import Registry
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.exceptions import unknown

__all__ = [
    "BENCHMARKS",
    "available_benchmarks",
    "load_benchmark",
    "register_benchmark",
]

_FIX = "Or bring a table: TabularBenchmark.from_csv(...)."


def _check(obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, TabularBenchmark)):
        raise TypeError(f"register_benchmark needs a TabularBenchmark subclass; got {obj!r}.")
    if not isinstance(obj.datasets, tuple) or not obj.datasets:
        raise TypeError(
            f"{obj.__name__} needs a class attribute datasets: a non-empty tuple of the data "
            "set names it is built from (cls(dataset))."
        )


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


class BenchmarkRegistry(Registry[type[TabularBenchmark]]):
    """Benchmarks by name; an alias, the case and ``_`` for ``-`` resolve to the name."""

    def __init__(self) -> None:
        super().__init__("benchmark", builtins="metanas.benchmarks", check=_check, fix=_FIX)
        self._aliases: dict[str, str] = {}

    def register_as(
        self, name: str, aliases: Sequence[str] = ()
    ) -> Callable[[type[TabularBenchmark]], type[TabularBenchmark]]:
        """Decorator: register under ``name`` and answer to ``aliases`` too."""
        # Compared without dashes, so 'nasbenchgraph' and 'nas-bench-graph' both resolve.
        keys = [_key(alias).replace("-", "") for alias in aliases]
        for alias, key in zip(aliases, keys, strict=True):
            other = self._aliases.get(key, name)
            if other != name:
                raise ValueError(f"The benchmark alias {alias!r} already names {other!r}.")
        register = self.register(name)

        def deco(cls: type[TabularBenchmark]) -> type[TabularBenchmark]:
            out = register(cls)
            self._aliases.update(dict.fromkeys(keys, name))
            return out

        return deco

    def canonical(self, name: str, fix: str = _FIX) -> str:
        """The registered name that ``name`` (any case, ``_`` or ``-``, or an alias) means."""
        self._load()
        if isinstance(name, str):
            key = _key(name)
            if key in self._items:
                return key
            key = self._aliases.get(key.replace("-", ""), key)
            if key in self._items:
                return key
        raise unknown(self.label, name, self._items, fix)

    def get(self, name: str) -> type[TabularBenchmark]:
        return self._items[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        try:
            self.canonical(name)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            return False
        return True


#: The benchmark registry (``available("benchmark")`` lists its names).
BENCHMARKS = BenchmarkRegistry()


def register_benchmark(
    name: str, *, aliases: Sequence[str] = ()
) -> Callable[[type[TabularBenchmark]], type[TabularBenchmark]]:
    """Class decorator: make a tabular benchmark available by ``name`` (and ``aliases``).

    The class needs a ``datasets`` tuple and is built as ``cls(dataset)``.

    Examples
    --------
    >>> available_benchmarks()["nas-bench-graph"][:3]
    ('cora', 'citeseer', 'pubmed')
    >>> BENCHMARKS.canonical("NBG")
    'nas-bench-graph'
    """
    return BENCHMARKS.register_as(name, aliases)


def available_benchmarks() -> dict[str, tuple[str, ...]]:
    """Built-in benchmarks and their data sets."""
    return {name: tuple(BENCHMARKS.get(name).datasets) for name in BENCHMARKS.names()}


def load_benchmark(name: str, dataset: str, **kwargs: Any) -> TabularBenchmark:
    """A built-in benchmark by name, e.g. ``load_benchmark("nas-bench-graph", "cora")``."""
    # register_benchmark's contract: a registered class is built from one data set name.
    factory: Callable[..., TabularBenchmark] = BENCHMARKS.get(name)
    return factory(dataset, **kwargs)
