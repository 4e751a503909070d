"""Compare search strategies on tabular benchmarks: regret curves, queries to the top, overhead.

One package, one module per concern:

- :mod:`~metanas.benchmarking.regret`: the regret harness (:func:`run_one`,
  :func:`run_comparison`, :class:`Comparison`); its definitions of regret,
  queries to top and overhead;
- :mod:`~metanas.benchmarking.multi_objective`: the Pareto harness
  (:func:`run_pareto_one`, :func:`run_pareto_comparison`, hypervolume ratios);
- :mod:`~metanas.benchmarking.report`: Markdown tables, plots and the
  generated sections of ``docs/benchmarks.md`` (:func:`write_section`,
  :func:`machine_info`);
- ``_runner`` (the process pool) and ``_validate`` (checks of the arguments).

The Pareto geometry itself (fronts, hypervolume) is :mod:`metanas.pareto`, below the
strategies that use it.

Examples
--------
>>> r = run_one(dataset="cora", strategy="random", seed=0, n_trials=5)
>>> r.valid_regret.shape, bool((r.valid_regret >= 0).all())
((5,), True)
"""

from __future__ import annotations

from metanas.benchmarking.multi_objective import (
    PARETO_OBJECTIVES,
    ParetoComparison,
    ParetoRun,
    TableFront,
    run_pareto_comparison,
    run_pareto_one,
)
from metanas.benchmarking.regret import Comparison, RunResult, run_comparison, run_one
from metanas.benchmarking.report import machine_info, write_section

__all__ = [
    "PARETO_OBJECTIVES",
    "Comparison",
    "ParetoComparison",
    "ParetoRun",
    "RunResult",
    "TableFront",
    "machine_info",
    "run_comparison",
    "run_one",
    "run_pareto_comparison",
    "run_pareto_one",
    "write_section",
]
