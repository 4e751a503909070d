"""Tabular benchmarks: NAS-Bench-Graph, the task family and tables users bring."""

from __future__ import annotations

from metanas.benchmarks.base import (
    BENCHMARKS,
    available_benchmarks,
    load_benchmark,
    register_benchmark,
)
from metanas.benchmarks.family import FAMILY_TASKS, TaskFamily
from metanas.benchmarks.nasbenchgraph import NBG_DATASETS, NasBenchGraph
from metanas.benchmarks.tabular import ArchitectureNotInTableError, TabularBenchmark

__all__ = [
    "BENCHMARKS",
    "FAMILY_TASKS",
    "NBG_DATASETS",
    "ArchitectureNotInTableError",
    "NasBenchGraph",
    "TabularBenchmark",
    "TaskFamily",
    "available_benchmarks",
    "load_benchmark",
    "register_benchmark",
]
