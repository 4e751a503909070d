"""Run the Examples sections of the library's docstrings."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from collections.abc import Iterator

import pytest

import metanas
from metanas.strategies import base as strategies_base

# Modules whose examples must keep existing: a refactor that drops them fails here.
REQUIRED = {
    "metanas._rng",
    "metanas.benchmarking",
    "metanas.benchmarking.multi_objective",
    "metanas.benchmarks.base",
    "metanas.benchmarks.nasbenchgraph",
    "metanas.pareto",
    "metanas.spaces.architecture",
    "metanas.spaces.base",
    "metanas.spaces.nasbenchgraph",
    "metanas.spaces.nb201",
    "metanas.strategies.base",
    "metanas.study",
}
EXCLUDED_PREFIXES = ("metanas.storage._migrations",)


def _module_names() -> list[str]:
    names = ["metanas"]
    for info in pkgutil.walk_packages(metanas.__path__, prefix="metanas."):
        if not info.name.startswith(EXCLUDED_PREFIXES):
            names.append(info.name)
    return sorted(names)


def _has_examples(name: str) -> bool:
    try:
        module = importlib.import_module(name)
    except ImportError:  # an optional extra is missing: its module is tested where it is installed
        return False
    finder = doctest.DocTestFinder(exclude_empty=True)
    return any(t.examples for t in finder.find(module, name))


MODULES = [n for n in _module_names() if _has_examples(n)]


def test_required_modules_have_examples() -> None:
    assert set(MODULES) >= REQUIRED


@pytest.fixture(autouse=True)
def _restore_strategy_registry() -> Iterator[None]:
    # strategies.base's example registers a strategy; keep the registry as it was.
    saved = dict(strategies_base.STRATEGIES._items)
    yield
    strategies_base.STRATEGIES._items.clear()
    strategies_base.STRATEGIES._items.update(saved)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=True,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
