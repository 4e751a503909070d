"""The Pareto harness: multi-objective searches on tabular benchmarks, measured by hypervolume."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
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
from metanas.exceptions import unknown
from metanas.pareto import hypervolume, pareto_front
from metanas.strategies.base import get_strategy_class
from metanas.trial import TrialState

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PARETO_OBJECTIVES",
    "ParetoComparison",
    "ParetoRun",
    "TableFront",
    "run_pareto_comparison",
    "run_pareto_one",
]

_logger = logging.getLogger(__name__)

#: The default objective pair of :func:`run_pareto_comparison`.
PARETO_OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("valid_accuracy", "maximize"),
    ("latency", "minimize"),
)
_REFERENCES = ("worst", "nadir")


@dataclass(frozen=True, eq=False)
class ParetoRun(BudgetAlias):
    """One multi-objective run: the objective values of every query, in query order.

    Attributes
    ----------
    benchmark, dataset, strategy, seed, n_trials
        What was run (``n_trials``: the number of queries).
    objectives
        ``((metric, "maximize"|"minimize"), ...)``.
    values
        Shape ``(n_trials, n_objectives)``: the objective values of query ``t``
        (row ``t - 1``); a row of NaN for a failed trial.
    archs
        The architectures queried, in the space's notation.
    """

    benchmark: str
    dataset: str
    strategy: str
    seed: int
    n_trials: int
    objectives: tuple[tuple[str, str], ...]
    values: np.ndarray
    archs: tuple[str, ...] = ()

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(d for _, d in self.objectives)

    def found(self, n_queries: int | None = None) -> np.ndarray:
        """Objective values of the completed trials among the first ``n_queries`` (all: None)."""
        v = self.values if n_queries is None else self.values[:n_queries]
        out: np.ndarray = v[np.isfinite(v).all(axis=1)]
        return out


@dataclass(frozen=True, eq=False)
class TableFront:
    """A whole table in objective space: its true Pareto front and reference points.

    Attributes
    ----------
    dataset
        The table's data set.
    objectives
        ``((metric, direction), ...)``.
    points
        Shape ``(n_rows, n_objectives)``: every row of the table.
    front
        Indices of the table's Pareto-optimal rows.
    worst
        The worst value of each objective over the whole table (the default
        hypervolume reference point).
    nadir
        The worst value of each objective over the true front (a tighter
        reference that measures only the front's own region).
    """

    dataset: str
    objectives: tuple[tuple[str, str], ...]
    points: np.ndarray
    front: np.ndarray
    worst: np.ndarray
    nadir: np.ndarray

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(d for _, d in self.objectives)

    def reference(self, kind: str = "worst") -> np.ndarray:
        if kind not in _REFERENCES:
            raise ValueError(f"reference must be one of {_REFERENCES!r}; got {kind!r}.")
        out: np.ndarray = self.worst if kind == "worst" else self.nadir
        return out

    def hypervolume(self, kind: str = "worst") -> float:
        """Hypervolume of the table's true front (the largest any search can reach)."""
        return hypervolume(self.points[self.front], self.reference(kind), self.directions)


def _table_front(
    dataset: str, bench: TabularBenchmark, objectives: tuple[tuple[str, str], ...]
) -> TableFront:
    cols = np.column_stack([np.asarray(bench.values(m), dtype=float) for m, _ in objectives])
    finite = np.isfinite(cols).all(axis=1)
    pts = cols[finite]
    signs = np.array([1.0 if d == "maximize" else -1.0 for _, d in objectives])
    front = pareto_front(pts, [d for _, d in objectives])
    worst = signs * (signs * pts).min(axis=0)
    nadir = signs * (signs * pts[front]).min(axis=0)
    return TableFront(dataset, objectives, pts, front, worst, nadir)


def _check_objectives(
    objectives: Sequence[tuple[str, str]] | str, bench: TabularBenchmark
) -> tuple[tuple[str, str], ...]:
    from metanas.study import parse_objectives

    if isinstance(objectives, str):
        objs = parse_objectives(objectives, "maximize")
    else:
        pairs = [tuple(o) for o in objectives]
        if not all(len(p) == 2 for p in pairs):
            raise ValueError(
                f"objectives must be (metric, direction) pairs or a spec such as "
                f"'valid_accuracy:max,latency:min'; got {objectives!r}."
            )
        objs = parse_objectives([str(m) for m, _ in pairs], [str(d) for _, d in pairs])
    if len(objs) < 2:
        raise ValueError(
            f"A Pareto comparison needs at least 2 objectives; got {objs!r}. Use "
            "run_comparison for one objective."
        )
    for m, _ in objs:
        v.check_search_metric(bench, m, plural=True)
    return objs


def run_pareto_one(
    *,
    benchmark: str = "nas-bench-graph",
    dataset: str,
    strategy: str,
    seed: int,
    n_trials: int = 100,
    objectives: Sequence[tuple[str, str]] | str = PARETO_OBJECTIVES,
    storage: str = "sqlite://",
    budget: int | None = None,
) -> ParetoRun:
    """Run one multi-objective study of ``n_trials`` queries on one tabular data set.

    The strategy must handle several objectives (``"nsga2"``, ``"random"``).
    See :func:`run_pareto_comparison` for the parameters.
    """
    benchmark = v.canonical_benchmark(benchmark)
    dataset = v.check_dataset(benchmark, dataset)
    strategy = v.check_strategy(strategy)
    seed = v.check_seed(seed)
    n_trials = v.check_n_trials(n_trials, budget)
    bench = v.cached_benchmark(benchmark, dataset)
    objs = _check_objectives(objectives, bench)
    with run_study(
        f"pareto-{benchmark}-{dataset}", bench, storage=storage, strategy=strategy, seed=seed,
        n_trials=n_trials, metric=[m for m, _ in objs], direction=[d for _, d in objs],
    ) as study:  # fmt: skip
        study.optimize(bench, n_trials=n_trials)
        trials = study.trials
    values = np.full((len(trials), len(objs)), np.nan)
    for i, t in enumerate(trials):
        if t.state is TrialState.COMPLETE and t.values is not None:
            values[i] = t.values
    return ParetoRun(
        benchmark=benchmark, dataset=dataset, strategy=strategy, seed=seed, n_trials=n_trials,
        objectives=objs, values=values, archs=tuple(bench.space.format(t.arch) for t in trials),
    )  # fmt: skip


@dataclass
class ParetoComparison(RunSet[ParetoRun]):
    """Multi-objective runs with their tables' true fronts: hypervolume ratios, tables, plots.

    The **HV ratio** of a run after ``t`` queries is the hypervolume of the
    objective values found so far divided by the hypervolume of the table's
    true Pareto front, both measured from the same reference point: 1 means
    the search found the whole true front. The ratio does not depend on the
    units or the scale of the objectives.

    Parameters
    ----------
    runs
        The runs (any mix of data sets, strategies and seeds).
    tables
        The true front of each data set of the runs, by data set.
    reference
        ``"worst"`` (default): the worst value of each objective in the whole
        table; ``"nadir"``: the worst value of each objective on the true front.
    checkpoints
        Query counts at which :meth:`summary` reports the HV ratio.
    """

    runs: list[ParetoRun]
    tables: dict[str, TableFront]
    reference: str = "worst"
    checkpoints: tuple[int, ...] = (10, 20, 50, 100)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("A ParetoComparison needs at least one run; got none.")
        if self.reference not in _REFERENCES:
            raise ValueError(f"reference must be one of {_REFERENCES!r}; got {self.reference!r}.")
        missing = sorted({r.dataset for r in self.runs} - set(self.tables))
        if missing:
            raise ValueError(f"No true front given for data set(s) {missing}; pass tables=...")
        n_trials = self.n_trials
        cps = sorted({int(c) for c in self.checkpoints if 1 <= int(c) <= n_trials})
        if n_trials not in cps:
            cps.append(n_trials)
        self.checkpoints = tuple(cps)

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        return self.runs[0].objectives

    def hv_ratio(
        self, run: ParetoRun, n_queries: int | None = None, reference: str | None = None
    ) -> float:
        """The HV ratio of ``run`` after ``n_queries`` (default: all of them)."""
        table = self.tables[run.dataset]
        kind = reference or self.reference
        ref = table.reference(kind)
        return hypervolume(run.found(n_queries), ref, run.directions) / table.hypervolume(kind)

    def hv_curve(self, run: ParetoRun, reference: str | None = None) -> np.ndarray:
        """Shape ``(n_trials,)``: the HV ratio after each query (non-decreasing)."""
        return np.array([self.hv_ratio(run, t, reference) for t in range(1, run.n_trials + 1)])

    def summary(self, reference: str | None = None) -> pd.DataFrame:
        """One row per (data set, strategy): HV ratios over seeds.

        Columns: ``dataset, strategy, n_seeds, budget`` (the number of queries);
        per checkpoint ``c``
        ``hv_ratio@c`` (median), ``hv_ratio@c_q25``, ``hv_ratio@c_q75``,
        ``hv_ratio@c_mean``; ``front_size`` (median number of non-dominated
        points found) and ``true_front_size``.
        """
        import pandas as pd

        rows = []
        for d in self.datasets:
            for s in self.strategies:
                runs = self.select(d, s)
                if not runs:
                    continue
                row: dict[str, Any] = {
                    "dataset": d, "strategy": s, "n_seeds": len(runs), "budget": self.n_trials,
                }  # fmt: skip
                for c in self.checkpoints:
                    vals = np.array([self.hv_ratio(r, c, reference) for r in runs])
                    q25, med, q75 = np.percentile(vals, [25, 50, 75])
                    row[f"hv_ratio@{c}"] = float(med)
                    row[f"hv_ratio@{c}_q25"] = float(q25)
                    row[f"hv_ratio@{c}_q75"] = float(q75)
                    row[f"hv_ratio@{c}_mean"] = float(vals.mean())
                sizes = [len(pareto_front(r.found(), r.directions)) for r in runs]
                row["front_size"] = float(np.median(sizes))
                row["true_front_size"] = len(self.tables[d].front)
                rows.append(row)
        return pd.DataFrame(rows)

    def head_to_head(
        self, a: str, b: str, checkpoint: int | None = None, reference: str | None = None
    ) -> pd.DataFrame:
        """Is ``a``'s median HV ratio at ``checkpoint`` >= ``b``'s? One row per data set.

        Columns: ``dataset``, both medians and means, ``a_at_least_b`` (median
        of ``a`` >= median of ``b``), ``p_value`` (one-sided Mann-Whitney U that
        ``a``'s ratios are larger), ``checkpoint``.
        """
        import pandas as pd
        from scipy.stats import mannwhitneyu

        for s in (a, b):
            if s not in self.strategies:
                raise unknown("strategy in this comparison", s, self.strategies)
        c = self.n_trials if checkpoint is None else check_positive_int("checkpoint", checkpoint, 1)
        rows = []
        for d in self.datasets:
            ra = np.array([self.hv_ratio(r, c, reference) for r in self.select(d, a)])
            rb = np.array([self.hv_ratio(r, c, reference) for r in self.select(d, b)])
            if not len(ra) or not len(rb):
                continue
            if np.all(np.r_[ra, rb] == ra[0]):
                p = 1.0
            else:
                p = float(mannwhitneyu(ra, rb, alternative="greater").pvalue)
            rows.append(
                {"dataset": d, f"{a}_median": float(np.median(ra)),
                 f"{b}_median": float(np.median(rb)), f"{a}_mean": float(ra.mean()),
                 f"{b}_mean": float(rb.mean()),
                 "a_at_least_b": bool(np.median(ra) >= np.median(rb)), "p_value": p,
                 "checkpoint": c}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def to_markdown(self, reference: str | None = None) -> str:
        """A Markdown table: data sets x strategies, median [IQR] HV ratio at each checkpoint.

        See :func:`metanas.benchmarking.report.pareto_markdown`.
        """
        return report.pareto_markdown(self, reference)

    def plot_fronts(
        self,
        directory: str | os.PathLike[str],
        *,
        seed: int | None = None,
        strategies: Sequence[str] | None = None,
    ) -> list[Path]:
        """One PNG per data set: the table (grey), its true front and each strategy's front.

        See :func:`metanas.benchmarking.report.plot_pareto_fronts`.
        """
        return report.plot_pareto_fronts(self, directory, seed=seed, strategies=strategies)


def run_pareto_comparison(
    *,
    benchmark: str = "nas-bench-graph",
    datasets: Sequence[str],
    strategies: Sequence[str] = ("nsga2", "random"),
    seeds: Sequence[int] | int = 20,
    n_trials: int = 100,
    objectives: Sequence[tuple[str, str]] | str = PARETO_OBJECTIVES,
    reference: str = "worst",
    checkpoints: Sequence[int] = (10, 20, 50, 100),
    n_jobs: int = 1,
    progress: bool = False,
    budget: int | None = None,
) -> ParetoComparison:
    """Run multi-objective searches on tabular data sets and measure their hypervolume.

    Every (data set, strategy, seed) is one study of ``n_trials`` queries with
    the given objectives (by default validation accuracy, maximised, and
    latency, minimised). The result measures each run by its **HV ratio**: the
    hypervolume of what it found over that of the table's true Pareto front,
    from the same reference point (see :class:`ParetoComparison`).

    Parameters
    ----------
    benchmark
        A built-in tabular benchmark.
    datasets
        Its data sets, e.g. ``["cora", "citeseer"]``.
    strategies
        Registered multi-objective strategies (default ``("nsga2", "random")``).
    seeds
        An int N (seeds ``0 .. N-1``) or a list of distinct seeds.
    n_trials
        Queries per run.
    objectives
        ``((metric, "maximize"|"minimize"), ...)`` or a spec such as
        ``"valid_accuracy:max,latency:min"``; search metrics of the table.
    reference
        The hypervolume reference point: ``"worst"`` (the worst value of each
        objective in the whole table) or ``"nadir"`` (the worst value of each
        objective on the table's true front).
    checkpoints
        Query counts reported by :meth:`ParetoComparison.summary`.
    n_jobs
        Worker processes (``-1``: one per CPU); results equal ``n_jobs=1``.
    progress
        Show a rich progress bar over the runs.
    budget
        Deprecated alias of ``n_trials`` (a FutureWarning).

    Returns
    -------
    ParetoComparison

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set, strategy or metric.
    ValueError
        Fewer than 2 objectives, a single-objective strategy, bad seeds,
        ``n_trials`` or reference.

    Examples
    --------
    >>> cmp = run_pareto_comparison(datasets=["cora"], strategies=["random"], seeds=2,
    ...                             n_trials=10)
    >>> row = cmp.summary().iloc[0]
    >>> bool(0.0 < row["hv_ratio@10"] <= 1.0)
    True
    """
    benchmark = v.canonical_benchmark(benchmark)
    dsets = [v.check_dataset(benchmark, d) for d in v.unique("datasets", datasets)]
    strats = [v.check_strategy(s) for s in v.unique("strategies", strategies)]
    for s in strats:
        if not get_strategy_class(s).multi_objective:
            raise ValueError(
                f"Strategy {s!r} optimises one objective; a Pareto comparison needs "
                "multi-objective strategies such as 'nsga2' or 'random'."
            )
    seed_list = v.check_seeds(seeds)
    n_trials = v.check_n_trials(n_trials, budget)
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES!r}; got {reference!r}.")
    tables: dict[str, TableFront] = {}
    objs: tuple[tuple[str, str], ...] = ()
    for d in dsets:
        bench = v.cached_benchmark(benchmark, d)
        objs = _check_objectives(objectives, bench)
        tables[d] = _table_front(d, bench, objs)
    n_jobs = v.check_n_jobs(n_jobs)
    jobs: list[dict[str, Any]] = [
        {"benchmark": benchmark, "dataset": d, "strategy": s, "seed": seed, "n_trials": n_trials,
         "objectives": objs}
        for d in dsets for s in strats for seed in seed_list
    ]  # fmt: skip
    runs: list[ParetoRun] = run_jobs(run_pareto_one, jobs, n_jobs, progress)
    _logger.info("Pareto comparison finished: %d runs", len(runs))
    return ParetoComparison(runs, tables, reference=reference, checkpoints=tuple(checkpoints))
