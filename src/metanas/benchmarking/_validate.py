"""Checks shared by the regret and the Pareto harness: names, seeds, counts, checkpoints."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from metanas._checks import check_positive_int
from metanas._rng import resolve_seed
from metanas.benchmarks import BENCHMARKS, available_benchmarks, load_benchmark
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.strategies.base import get_strategy_class

_N_TRIALS_FIX = " Pass the number of queries per run, e.g. 100."


def canonical_benchmark(benchmark: str) -> str:
    """The registered name of ``benchmark`` (an alias or another spelling accepted)."""
    return BENCHMARKS.canonical(benchmark, "Pass benchmark='nas-bench-graph' (or --benchmark).")


def check_dataset(benchmark: str, dataset: str) -> str:
    from metanas.exceptions import unknown

    datasets = available_benchmarks()[benchmark]
    if not isinstance(dataset, str) or dataset.lower() not in datasets:
        raise unknown(
            f"{benchmark} data set", dataset, datasets, "Pass one of these as dataset(s)."
        )
    return dataset.lower()


def check_strategy(strategy: str) -> str:
    if not isinstance(strategy, str):
        raise TypeError(
            f"A benchmark strategy is given by its registered name (e.g. 'evolution'); got "
            f"{type(strategy).__name__}."
        )
    get_strategy_class(strategy)  # raises UnknownNameError with the known names
    return strategy


def check_top_fraction(top_fraction: float) -> float:
    if (
        isinstance(top_fraction, bool)
        or not isinstance(top_fraction, int | float)
        or not 0.0 < float(top_fraction) <= 1.0
    ):
        raise ValueError(
            f"top_fraction must be a number in (0, 1]; got {top_fraction!r}. Pass 0.005 for "
            "the top 0.5 %."
        )
    return float(top_fraction)


def check_seed(seed: int, name: str = "seed") -> int:
    """A benchmark seed: given, never drawn (a run must be repeatable from its report)."""
    return resolve_seed(check_positive_int(name, seed, 0))


def check_seeds(seeds: Sequence[int] | int) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        n = check_positive_int(
            "seeds", seeds, 1, " Pass a number of seeds N (seeds 0..N-1) or a list."
        )
        return list(range(n))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be an int N (seeds 0..N-1) or a list of ints; got {seeds!r}.")
    out = [check_seed(s, "each seed") for s in seeds]
    if not out:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=10.")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct; got {out!r}. Repeated seeds repeat runs.")
    return out


def deprecated_budget(stacklevel: int = 3) -> None:
    """Warn that ``budget`` (as a number of queries) is now ``n_trials``."""
    warnings.warn(
        "budget (the number of queries per run) is deprecated and will be removed; use "
        "n_trials instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )


def check_n_trials(n_trials: int, budget: int | None, default: int = 100) -> int:
    """``n_trials`` checked; ``budget``, its old name, still accepted with a FutureWarning.

    ``budget`` is to mean fidelity only (epochs, data fraction), never a trial count.
    """
    if budget is not None:
        deprecated_budget(stacklevel=4)
        if n_trials != default and n_trials != budget:
            raise TypeError(
                f"Got n_trials={n_trials!r} and its deprecated alias budget={budget!r}; pass "
                "n_trials only."
            )
        n_trials = budget
    return check_positive_int("n_trials", n_trials, 1, _N_TRIALS_FIX)


def check_n_jobs(n_jobs: int) -> int:
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    return check_positive_int(
        "n_jobs", n_jobs, 1, " Pass 1 for no worker processes, -1 for all CPUs."
    )


def unique(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = list(values)
    if not out:
        raise ValueError(f"{name} is empty; pass at least one.")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct; got {out!r}.")
    return out


def check_checkpoints(checkpoints: Sequence[int], n_trials: int) -> tuple[int, ...]:
    if isinstance(checkpoints, int | np.integer) and not isinstance(checkpoints, bool):
        checkpoints = [int(checkpoints)]
    cps = sorted({check_positive_int("each checkpoint", c, 1) for c in checkpoints})
    dropped = [c for c in cps if c > n_trials]
    kept = tuple(c for c in cps if c <= n_trials)
    if dropped:
        if n_trials not in kept:
            kept = (*kept, n_trials)
        warnings.warn(
            f"Checkpoints {dropped} exceed the budget of {n_trials} queries and are dropped; "
            f"regret is reported at {list(kept)}. Raise n_trials to report there.",
            UserWarning,
            stacklevel=3,
        )
    return kept


def check_search_metric(bench: TabularBenchmark, metric: str, plural: bool = False) -> None:
    """An unknown search metric, or a test metric used for search, raises UnknownNameError."""
    from metanas.exceptions import unknown

    if metric not in bench.metrics:
        fix = (
            f"{metric!r} is a test metric, for reporting only: search on "
            f"{'validation metrics' if plural else 'a validation metric'}."
            if metric in bench.test_metrics
            else f"Search on {'these' if plural else 'one of these'}."
        )
        raise unknown(f"search metric of {bench.name}", metric, bench.metrics, fix)


_BENCH_CACHE: dict[tuple[str, str], TabularBenchmark] = {}


def cached_benchmark(benchmark: str, dataset: str) -> TabularBenchmark:
    """One loaded table per (benchmark, data set) and process: runs share it."""
    key = (benchmark, dataset)
    bench = _BENCH_CACHE.get(key)
    if bench is None:
        bench = _BENCH_CACHE[key] = load_benchmark(benchmark, dataset)
    return bench
