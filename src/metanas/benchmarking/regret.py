"""The regret harness: single-objective searches on tabular benchmarks, summarised over seeds.

A *run* is one study of one strategy with one seed on one data set of a
tabular benchmark, ``n_trials`` queries long. The search sees only the search
metric (validation accuracy); the test metric is looked up for reporting, for
the incumbent the search itself would pick (best validation so far), never to
choose anything.

Definitions (per run, after query ``t = 1 .. n_trials``):

- **valid regret**: table optimum of the search metric - best value found so
  far (0 once the table's best architecture is found; non-increasing);
- **test regret**: table optimum of the test metric - test value of the
  incumbent chosen by validation (it may go up when a better-validating
  architecture tests worse);
- **queries to top**: the first ``t`` at which the incumbent reaches the
  table's top ``top_fraction`` (0.5 %) by the search metric, None if never;
- **overhead**: per trial, the wall time of the study's loop iteration (ask,
  storage writes, tell, strategy update) minus the evaluator's ``evaluate()``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._checks import check_positive_int
from metanas.benchmarking import _validate as v
from metanas.benchmarking import report
from metanas.benchmarking._runner import run_jobs, run_study
from metanas.benchmarking._runs import BudgetAlias, RunSet
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.evaluation.base import Evaluator, Result
from metanas.exceptions import unknown
from metanas.spaces.architecture import Architecture
from metanas.study import Study
from metanas.trial import Trial, TrialState

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Comparison", "RunResult", "run_comparison", "run_one"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RunResult(BudgetAlias):
    """The outcome of one benchmark run (one strategy, one seed, one data set).

    Attributes
    ----------
    benchmark, dataset, strategy, seed, n_trials
        What was run (``n_trials``: the number of queries).
    valid_regret
        Shape ``(n_trials,)``: after query ``t`` (index ``t - 1``), the table's
        optimum of the search metric minus the best value found so far.
        Non-increasing, >= 0; NaN until the first trial completes.
    test_regret
        Shape ``(n_trials,)``: the table's optimum of the test metric minus the
        test value of the incumbent chosen by validation (best search metric
        so far, earliest on ties). >= 0, not necessarily monotone.
    queries_to_top
        The first query count at which the incumbent's search metric reaches
        the table's top-``top_fraction`` threshold; None if it never did.
    overhead_s
        Shape ``(n_trials,)``: per trial, the wall time of the study's loop
        iteration minus the evaluator's ``evaluate()`` time, in seconds.
    metric, test_metric, top_fraction
        The search metric, the report-only metric and the top fraction used.
    """

    benchmark: str
    dataset: str
    strategy: str
    seed: int
    n_trials: int
    valid_regret: np.ndarray
    test_regret: np.ndarray
    queries_to_top: int | None
    overhead_s: np.ndarray
    metric: str = "valid_accuracy"
    test_metric: str = "test_accuracy"
    top_fraction: float = 0.005

    def same_search(self, other: RunResult) -> bool:
        """True when ``other`` searched identically (same regrets; overhead timings aside)."""
        return (
            (self.benchmark, self.dataset, self.strategy, self.seed, self.n_trials)
            == (other.benchmark, other.dataset, other.strategy, other.seed, other.n_trials)
            and np.array_equal(self.valid_regret, other.valid_regret, equal_nan=True)
            and np.array_equal(self.test_regret, other.test_regret, equal_nan=True)
            and self.queries_to_top == other.queries_to_top
        )


class _TimedEvaluator(Evaluator):
    """Wraps an evaluator and records each ``evaluate()`` wall time."""

    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner
        self.task_name = inner.task_name
        self.evaluate_s: list[float] = []

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        start = time.perf_counter()
        try:
            return self.inner.evaluate(arch, budget=budget)
        finally:
            self.evaluate_s.append(time.perf_counter() - start)

    def task_descriptors(self) -> dict[str, Any]:
        return self.inner.task_descriptors()


class _LoopClock:
    """A study callback stamping the end of every loop iteration."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def start(self) -> None:
        self.stamps = [time.perf_counter()]

    def __call__(self, study: Study, trial: Trial) -> None:
        self.stamps.append(time.perf_counter())


def _regrets(
    trials: Sequence[Trial],
    bench: TabularBenchmark,
    metric: str,
    test_metric: str,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Valid regret, test regret and queries-to-top from trials in query order."""
    sign = 1.0 if bench.direction(metric) == "maximize" else -1.0
    tsign = 1.0 if bench.direction(test_metric) == "maximize" else -1.0
    v_opt = bench.optimum(metric)
    t_opt = bench.optimum(test_metric)
    n = len(trials)
    valid = np.full(n, np.nan)
    test = np.full(n, np.nan)
    best: float | None = None  # oriented: larger is better
    best_test = math.nan
    to_top: int | None = None
    for i, t in enumerate(trials):
        value = t.metrics.get(metric) if t.state is TrialState.COMPLETE else None
        if value is not None and math.isfinite(value) and (best is None or sign * value > best):
            best = sign * value
            if test_metric in t.test_metrics:
                best_test = t.test_metrics[test_metric]
            elif test_metric in t.metrics:
                best_test = t.metrics[test_metric]
            else:
                best_test = bench.query(t.arch, test_metric)
        if best is not None:
            valid[i] = sign * v_opt - best
            test[i] = tsign * (t_opt - best_test)
            if to_top is None and best >= sign * threshold:
                to_top = i + 1
    # Rounding in "optimum - value" can leave -1e-17 for the optimum itself.
    return np.maximum(valid, 0.0), np.maximum(test, 0.0), to_top


def run_one(
    *,
    benchmark: str = "nas-bench-graph",
    dataset: str,
    strategy: str,
    seed: int,
    n_trials: int = 100,
    metric: str = "valid_accuracy",
    test_metric: str = "test_accuracy",
    storage: str = "sqlite://",
    top_fraction: float = 0.005,
    budget: int | None = None,
) -> RunResult:
    """Run one strategy with one seed for ``n_trials`` queries on one tabular data set.

    Parameters
    ----------
    benchmark
        A built-in tabular benchmark (see
        :func:`metanas.benchmarks.available_benchmarks`).
    dataset
        One of the benchmark's data sets, e.g. ``"cora"``.
    strategy
        A registered strategy name: ``"random"``, ``"evolution"``, ``"local"``,
        ``"tpe"`` ...
    seed
        Seed of the study; the same seed gives the same queries.
    n_trials
        Number of queries (trials).
    metric
        The search metric (a validation metric of the table). Its direction
        is the table's (``maximize`` for accuracies).
    test_metric
        The report-only metric, looked up for the incumbent chosen by
        ``metric``.
    storage
        Where the study is stored; the default is in memory (the study is
        deleted afterwards). Pass ``"sqlite:///file.db"`` to include real
        file writes in the overhead.
    top_fraction
        The "top" for :attr:`RunResult.queries_to_top`: 0.005 is the best
        0.5 % of the table by ``metric``.
    budget
        Deprecated alias of ``n_trials`` (a FutureWarning).

    Returns
    -------
    RunResult

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set, strategy or metric.
    ValueError
        ``n_trials`` < 1, ``top_fraction`` outside (0, 1], a test metric as the
        search metric.
    """
    benchmark = v.canonical_benchmark(benchmark)
    dataset = v.check_dataset(benchmark, dataset)
    strategy = v.check_strategy(strategy)
    seed = v.check_seed(seed)
    n_trials = v.check_n_trials(n_trials, budget)
    top_fraction = v.check_top_fraction(top_fraction)
    bench = v.cached_benchmark(benchmark, dataset)
    v.check_search_metric(bench, metric)
    if test_metric not in (*bench.test_metrics, *bench.metrics):
        raise unknown(
            f"test metric of {bench.name}", test_metric, [*bench.test_metrics, *bench.metrics]
        )
    timed = _TimedEvaluator(bench)
    clock = _LoopClock()
    with run_study(
        f"bench-{benchmark}-{dataset}", bench, storage=storage, strategy=strategy, seed=seed,
        n_trials=n_trials, metric=metric, direction=bench.direction(metric),
    ) as study:  # fmt: skip
        clock.start()
        study.optimize(timed, n_trials=n_trials, callbacks=[clock])
        trials = study.trials
    loop_s = np.diff(np.asarray(clock.stamps))
    overhead = loop_s - np.asarray(timed.evaluate_s)
    valid, test, to_top = _regrets(
        trials, bench, metric, test_metric, bench.threshold(metric, top_fraction)
    )
    return RunResult(
        benchmark=benchmark, dataset=dataset, strategy=strategy, seed=seed, n_trials=n_trials,
        valid_regret=valid, test_regret=test, queries_to_top=to_top, overhead_s=overhead,
        metric=metric, test_metric=test_metric, top_fraction=top_fraction,
    )  # fmt: skip


def _fmt_count(x: float, n_trials: int) -> str:
    return f">{n_trials}" if not math.isfinite(x) else f"{x:g}"


@dataclass
class Comparison(RunSet[RunResult]):
    """The runs of a strategy comparison, with summaries, tables and plots.

    Parameters
    ----------
    runs
        The runs (any mix of data sets, strategies and seeds of one benchmark).
    checkpoints
        Query counts at which :meth:`summary` reports regret (those above the
        smallest ``n_trials`` are dropped, and that count is reported instead).
    """

    runs: list[RunResult]
    checkpoints: tuple[int, ...] = (10, 20, 50, 100)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("A Comparison needs at least one run; got none.")
        n_trials = self.n_trials
        cps = sorted({int(c) for c in self.checkpoints})
        kept = tuple(c for c in cps if 1 <= c <= n_trials)
        if len(kept) < len(cps) and n_trials not in kept:
            kept = (*kept, n_trials)
        self.checkpoints = kept

    def _groups(self) -> Iterator[tuple[str, str, list[RunResult]]]:
        for d in self.datasets:
            for s in self.strategies:
                runs = self.select(d, s)
                if runs:
                    yield d, s, runs

    def summary(self) -> pd.DataFrame:
        """One row per (data set, strategy) with medians and IQRs over seeds.

        Columns: ``benchmark, dataset, strategy, n_seeds, budget`` (the number of
        queries, a column name kept for the CLI's JSON output); for each
        checkpoint ``c``: ``valid_regret@c`` (median), ``valid_regret@c_q25``,
        ``valid_regret@c_q75`` and the same for ``test_regret``;
        ``queries_to_top`` (median as text, ``">n_trials"`` when the median run
        never reached the top), ``queries_to_top_median`` (a number, ``inf``
        for never), ``n_reached_top``; ``overhead_ms`` (median over all trials
        of all seeds) and ``overhead_ms_p90``.
        """
        import pandas as pd

        rows = []
        for d, s, runs in self._groups():
            row: dict[str, Any] = {
                "benchmark": runs[0].benchmark,
                "dataset": d,
                "strategy": s,
                "n_seeds": len(runs),
                "budget": min(r.n_trials for r in runs),
            }
            for kind in ("valid", "test"):
                curves = np.vstack([getattr(r, f"{kind}_regret")[: self.n_trials] for r in runs])
                for c in self.checkpoints:
                    col = curves[:, c - 1]
                    q25, med, q75 = np.nanpercentile(col, [25, 50, 75])
                    row[f"{kind}_regret@{c}"] = float(med)
                    row[f"{kind}_regret@{c}_q25"] = float(q25)
                    row[f"{kind}_regret@{c}_q75"] = float(q75)
            tops = np.array(
                [math.inf if r.queries_to_top is None else r.queries_to_top for r in runs]
            )
            med_top = float(np.median(tops))
            row["queries_to_top"] = _fmt_count(med_top, row["budget"])
            row["queries_to_top_median"] = med_top
            row["n_reached_top"] = int(np.isfinite(tops).sum())
            overhead = np.concatenate([r.overhead_s for r in runs]) * 1e3
            row["overhead_ms"] = float(np.median(overhead))
            row["overhead_ms_p90"] = float(np.percentile(overhead, 90))
            rows.append(row)
        return pd.DataFrame(rows)

    def head_to_head(self, a: str, b: str, checkpoint: int | None = None) -> pd.DataFrame:
        """Does ``a`` beat ``b`` in median valid regret at ``checkpoint`` (default: n_trials)?

        One row per data set: both medians, ``a_better`` (strictly lower median),
        and the one-sided Mann-Whitney U p-value that ``a``'s regrets are lower
        (few seeds: read it as a hint, not a verdict).
        """
        import pandas as pd
        from scipy.stats import mannwhitneyu

        for s in (a, b):
            if s not in self.strategies:
                raise unknown("strategy in this comparison", s, self.strategies)
        c = self.checkpoint(checkpoint)
        rows = []
        for d in self.datasets:
            ra = np.array([r.valid_regret[c - 1] for r in self.select(d, a)])
            rb = np.array([r.valid_regret[c - 1] for r in self.select(d, b)])
            if not len(ra) or not len(rb):
                continue
            ma, mb = float(np.median(ra)), float(np.median(rb))
            if np.all(np.r_[ra, rb] == ra[0]):
                p = 1.0  # all values identical: no evidence either way
            else:
                p = float(mannwhitneyu(ra, rb, alternative="less").pvalue)
            rows.append(
                {"dataset": d, f"{a}_median": ma, f"{b}_median": mb, "a_better": ma < mb,
                 "tie": ma == mb, "p_value": p, "checkpoint": c}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def checkpoint(self, checkpoint: int | None = None) -> int:
        """``checkpoint`` checked against :attr:`n_trials`; None means ``n_trials``."""
        if checkpoint is None:
            return self.n_trials
        c = check_positive_int("checkpoint", checkpoint, 1)
        if c > self.n_trials:
            raise ValueError(
                f"checkpoint must be <= n_trials ({self.n_trials}); got {c}. Pass a smaller one."
            )
        return c

    def to_markdown(self, datasets: Sequence[str] | None = None, *, notes: bool = True) -> str:
        """Readable Markdown tables: one per data set, strategies side by side, best in bold.

        See :func:`metanas.benchmarking.report.regret_markdown`.
        """
        return report.regret_markdown(self, datasets, notes=notes)

    def overview_markdown(self, kind: str = "valid", checkpoint: int | None = None) -> str:
        """One Markdown table: data sets x strategies, median ``kind`` regret at ``checkpoint``.

        See :func:`metanas.benchmarking.report.regret_overview_markdown`.
        """
        return report.regret_overview_markdown(self, kind, checkpoint)

    def plot_curves(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write PNG regret curves: one per data set (valid and test), plus an overview grid.

        See :func:`metanas.benchmarking.report.plot_regret_curves`.
        """
        return report.plot_regret_curves(self, directory)


def run_comparison(
    *,
    benchmark: str = "nas-bench-graph",
    datasets: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int] | int,
    n_trials: int = 100,
    checkpoints: Sequence[int] = (10, 20, 50, 100),
    n_jobs: int = 1,
    top_fraction: float = 0.005,
    progress: bool = False,
    budget: int | None = None,
) -> Comparison:
    """Run every (data set, strategy, seed) for ``n_trials`` queries and collect the results.

    Parameters
    ----------
    benchmark
        A built-in tabular benchmark.
    datasets
        Its data sets to search, e.g. ``["cora", "citeseer"]``.
    strategies
        Registered strategy names, e.g. ``["random", "evolution", "local", "tpe"]``.
        With ``n_jobs > 1`` a strategy must be registered on import of an
        importable module (worker processes are spawned).
    seeds
        An int N (seeds ``0 .. N-1``) or a list of distinct seeds.
    n_trials
        Queries per run.
    checkpoints
        Query counts reported by :meth:`Comparison.summary`; those above
        ``n_trials`` are dropped with a warning (and ``n_trials`` is reported
        instead).
    n_jobs
        Worker processes (``-1``: one per CPU). Results are identical to
        ``n_jobs=1``: every run depends only on its own seed (overhead
        timings aside). Workers are spawned, so a script calling this must
        guard its entry point with ``if __name__ == "__main__":``.
    top_fraction
        The top used for queries-to-top.
    progress
        Show a rich progress bar over the runs.
    budget
        Deprecated alias of ``n_trials`` (a FutureWarning).

    Returns
    -------
    Comparison
        Runs ordered by data set, strategy and seed, as given.

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set or strategy.
    ValueError
        Empty or repeated data sets/strategies/seeds, ``n_trials`` < 1,
        ``n_jobs`` < 1 (other than -1), bad ``top_fraction``.
    """
    benchmark = v.canonical_benchmark(benchmark)
    dsets = [v.check_dataset(benchmark, d) for d in v.unique("datasets", datasets)]
    strats = [v.check_strategy(s) for s in v.unique("strategies", strategies)]
    seed_list = v.check_seeds(seeds)
    n_trials = v.check_n_trials(n_trials, budget)
    cps = v.check_checkpoints(checkpoints, n_trials)
    top_fraction = v.check_top_fraction(top_fraction)
    n_jobs = v.check_n_jobs(n_jobs)
    jobs: list[dict[str, Any]] = [
        {"benchmark": benchmark, "dataset": d, "strategy": s, "seed": seed, "n_trials": n_trials,
         "top_fraction": top_fraction}
        for d in dsets for s in strats for seed in seed_list
    ]  # fmt: skip
    runs: list[RunResult] = run_jobs(run_one, jobs, n_jobs, progress)
    _logger.info("Benchmark comparison finished: %d runs", len(runs))
    return Comparison(runs, checkpoints=cps)
