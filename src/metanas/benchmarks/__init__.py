"""Tabular benchmarks: NAS-Bench-Graph and tables users bring."""

from __future__ import annotations

from metanas.benchmarks.base import (
    BENCHMARKS,
    available_benchmarks,
    load_benchmark,
    register_benchmark,
)
from metanas.benchmarks.nasbenchgraph import NBG_DATASETS, NasBenchGraph
from metanas.benchmarks.tabular import ArchitectureNotInTableError, TabularBenchmark

__all__ = [
    "BENCHMARKS",
    "NBG_DATASETS",
    "ArchitectureNotInTableError",
    "NasBenchGraph",
    "TabularBenchmark",
    "available_benchmarks",
    "load_benchmark",
    "register_benchmark",
]
