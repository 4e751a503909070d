"""Tabular benchmarks: NAS-Bench-Graph and tables users bring."""

from __future__ import annotations

from typing import Any

from metanas.benchmarks.nasbenchgraph import NBG_DATASETS, NasBenchGraph
from metanas.benchmarks.tabular import ArchitectureNotInTableError, TabularBenchmark
from metanas.exceptions import unknown

__all__ = [
    "NBG_DATASETS",
    "ArchitectureNotInTableError",
    "NasBenchGraph",
    "TabularBenchmark",
    "available_benchmarks",
    "load_benchmark",
]

_BENCHMARKS = {"nas-bench-graph": NBG_DATASETS}


def available_benchmarks() -> dict[str, tuple[str, ...]]:
    """Built-in benchmarks and their data sets."""
    return dict(_BENCHMARKS)


def load_benchmark(name: str, dataset: str, **kwargs: Any) -> TabularBenchmark:
    """A built-in benchmark by name, e.g. ``load_benchmark("nas-bench-graph", "cora")``."""
    key = name.lower().replace("_", "-")
    if key in ("nas-bench-graph", "nasbenchgraph", "nbg"):
        return NasBenchGraph(dataset, **kwargs)
    raise unknown(
        "benchmark", name, _BENCHMARKS, "Or bring a table: TabularBenchmark.from_csv(...)."
    )
