"""Compare search strategies on tabular benchmarks: regret curves, queries to the top, overhead.

A *run* is one study of one strategy with one seed on one data set of a
tabular benchmark, ``budget`` queries long. The search sees only the search
metric (validation accuracy); the test metric is looked up for reporting, for
the incumbent the search itself would pick (best validation so far), never to
choose anything.

Definitions (per run, after query ``t = 1 .. budget``):

- **valid regret**: table optimum of the search metric - best value found so
  far (0 once the table's best architecture is found; non-increasing);
- **test regret**: table optimum of the test metric - test value of the
  incumbent chosen by validation (it may go up when a better-validating
  architecture tests worse);
- **queries to top**: the first ``t`` at which the incumbent reaches the
  table's top ``top_fraction`` (0.5 %) by the search metric, None if never;
- **overhead**: per trial, the wall time of the study's loop iteration (ask,
  storage writes, tell, strategy update) minus the evaluator's ``evaluate()``.

Examples
--------
>>> r = run_one(dataset="cora", strategy="random", seed=0, budget=5)
>>> r.valid_regret.shape, bool((r.valid_regret >= 0).all())
((5,), True)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._checks import check_positive_int
from metanas._progress import CountProgress
from metanas._rng import resolve_seed
from metanas.benchmarks import available_benchmarks, load_benchmark
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.evaluation.base import Evaluator, Result
from metanas.exceptions import unknown
from metanas.spaces.architecture import Architecture
from metanas.storage.rdb import get_storage
from metanas.strategies.base import get_strategy_class
from metanas.study import Study, create_study
from metanas.trial import Trial, TrialState

if TYPE_CHECKING:
    import pandas as pd

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

_logger = logging.getLogger(__name__)

_BENCHMARK_ALIASES = {"nasbenchgraph": "nas-bench-graph", "nbg": "nas-bench-graph"}


# ---------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class RunResult:
    """The outcome of one benchmark run (one strategy, one seed, one data set).

    Attributes
    ----------
    benchmark, dataset, strategy, seed, budget
        What was run.
    valid_regret
        Shape ``(budget,)``: after query ``t`` (index ``t - 1``), the table's
        optimum of the search metric minus the best value found so far.
        Non-increasing, >= 0; NaN until the first trial completes.
    test_regret
        Shape ``(budget,)``: the table's optimum of the test metric minus the
        test value of the incumbent chosen by validation (best search metric
        so far, earliest on ties). >= 0, not necessarily monotone.
    queries_to_top
        The first query count at which the incumbent's search metric reaches
        the table's top-``top_fraction`` threshold; None if it never did.
    overhead_s
        Shape ``(budget,)``: per trial, the wall time of the study's loop
        iteration minus the evaluator's ``evaluate()`` time, in seconds.
    metric, test_metric, top_fraction
        The search metric, the report-only metric and the top fraction used.
    """

    benchmark: str
    dataset: str
    strategy: str
    seed: int
    budget: int
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
            (self.benchmark, self.dataset, self.strategy, self.seed, self.budget)
            == (other.benchmark, other.dataset, other.strategy, other.seed, other.budget)
            and np.array_equal(self.valid_regret, other.valid_regret, equal_nan=True)
            and np.array_equal(self.test_regret, other.test_regret, equal_nan=True)
            and self.queries_to_top == other.queries_to_top
        )


# ---------------------------------------------------------------- validation


def _canonical_benchmark(benchmark: str) -> str:
    known = available_benchmarks()
    key = str(benchmark).lower().replace("_", "-")
    key = _BENCHMARK_ALIASES.get(key.replace("-", ""), key)
    if key not in known:
        raise unknown(
            "benchmark", benchmark, known, "Pass benchmark='nas-bench-graph' (or --benchmark)."
        )
    return key


def _check_dataset(benchmark: str, dataset: str) -> str:
    datasets = available_benchmarks()[benchmark]
    if not isinstance(dataset, str) or dataset.lower() not in datasets:
        raise unknown(
            f"{benchmark} data set", dataset, datasets, "Pass one of these as dataset(s)."
        )
    return dataset.lower()


def _check_strategy(strategy: str) -> str:
    if not isinstance(strategy, str):
        raise TypeError(
            f"A benchmark strategy is given by its registered name (e.g. 'evolution'); got "
            f"{type(strategy).__name__}."
        )
    get_strategy_class(strategy)  # raises UnknownNameError with the known names
    return strategy


def _check_top_fraction(top_fraction: float) -> float:
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


def _check_seeds(seeds: Sequence[int] | int) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        n = check_positive_int(
            "seeds", seeds, 1, " Pass a number of seeds N (seeds 0..N-1) or a list."
        )
        return list(range(n))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be an int N (seeds 0..N-1) or a list of ints; got {seeds!r}.")
    out = [resolve_seed(check_positive_int("each seed", s, 0)) for s in seeds]
    if not out:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=10.")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct; got {out!r}. Repeated seeds repeat runs.")
    return out


def _unique(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = list(values)
    if not out:
        raise ValueError(f"{name} is empty; pass at least one.")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct; got {out!r}.")
    return out


def _check_checkpoints(checkpoints: Sequence[int], budget: int) -> tuple[int, ...]:
    if isinstance(checkpoints, int | np.integer) and not isinstance(checkpoints, bool):
        checkpoints = [int(checkpoints)]
    cps = sorted({check_positive_int("each checkpoint", c, 1) for c in checkpoints})
    dropped = [c for c in cps if c > budget]
    kept = tuple(c for c in cps if c <= budget)
    if dropped:
        if budget not in kept:
            kept = (*kept, budget)
        warnings.warn(
            f"Checkpoints {dropped} exceed the budget of {budget} queries and are dropped; "
            f"regret is reported at {list(kept)}. Raise the budget to report there.",
            UserWarning,
            stacklevel=3,
        )
    return kept


# ---------------------------------------------------------------- one run
_BENCH_CACHE: dict[tuple[str, str], TabularBenchmark] = {}


def _benchmark(benchmark: str, dataset: str) -> TabularBenchmark:
    key = (benchmark, dataset)
    bench = _BENCH_CACHE.get(key)
    if bench is None:
        bench = _BENCH_CACHE[key] = load_benchmark(benchmark, dataset)
    return bench


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
    budget: int = 100,
    metric: str = "valid_accuracy",
    test_metric: str = "test_accuracy",
    storage: str = "sqlite://",
    top_fraction: float = 0.005,
) -> RunResult:
    """Run one strategy with one seed for ``budget`` queries on one tabular data set.

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
    budget
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

    Returns
    -------
    RunResult

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set, strategy or metric.
    ValueError
        ``budget`` < 1, ``top_fraction`` outside (0, 1], a test metric as the
        search metric.
    """
    benchmark = _canonical_benchmark(benchmark)
    dataset = _check_dataset(benchmark, dataset)
    strategy = _check_strategy(strategy)
    seed = resolve_seed(check_positive_int("seed", seed, 0))
    budget = check_positive_int(
        "budget", budget, 1, " Pass the number of queries per run, e.g. 100."
    )
    top_fraction = _check_top_fraction(top_fraction)
    bench = _benchmark(benchmark, dataset)
    if metric not in bench.metrics:
        fix = (
            f"{metric!r} is a test metric, for reporting only: search on a validation metric."
            if metric in bench.test_metrics
            else "Search on one of these."
        )
        raise unknown(f"search metric of {bench.name}", metric, bench.metrics, fix)
    if test_metric not in (*bench.test_metrics, *bench.metrics):
        raise unknown(
            f"test metric of {bench.name}", test_metric, [*bench.test_metrics, *bench.metrics]
        )
    store = get_storage(storage)
    name = f"bench-{benchmark}-{dataset}-{strategy}-seed{seed}-{uuid.uuid4().hex[:12]}"
    study = create_study(
        name=name, storage=store, space=bench.space, strategy=strategy, seed=seed,
        metric=metric, direction=bench.direction(metric), task=bench.task_name,
        task_descriptors=bench.task_descriptors(),
        user_attrs={"benchmark_run": True, "budget": budget},
    )  # fmt: skip
    timed = _TimedEvaluator(bench)
    clock = _LoopClock()
    try:
        clock.start()
        study.optimize(timed, n_trials=budget, callbacks=[clock])
        trials = study.trials
    finally:
        if store.url == "sqlite://":
            store.delete_study(name)
    loop_s = np.diff(np.asarray(clock.stamps))
    overhead = loop_s - np.asarray(timed.evaluate_s)
    valid, test, to_top = _regrets(
        trials, bench, metric, test_metric, bench.threshold(metric, top_fraction)
    )
    return RunResult(
        benchmark=benchmark, dataset=dataset, strategy=strategy, seed=seed, budget=budget,
        valid_regret=valid, test_regret=test, queries_to_top=to_top, overhead_s=overhead,
        metric=metric, test_metric=test_metric, top_fraction=top_fraction,
    )  # fmt: skip


# ---------------------------------------------------------------- comparison
def _fmt_count(x: float, budget: int) -> str:
    return f">{budget}" if not math.isfinite(x) else f"{x:g}"


@dataclass
class Comparison:
    """The runs of a strategy comparison, with summaries, tables and plots.

    Parameters
    ----------
    runs
        The runs (any mix of data sets, strategies and seeds of one benchmark).
    checkpoints
        Query counts at which :meth:`summary` reports regret (those above the
        smallest budget are dropped, and that budget is reported instead).
    """

    runs: list[RunResult]
    checkpoints: tuple[int, ...] = (10, 20, 50, 100)
    _order: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("A Comparison needs at least one run; got none.")
        budget = min(r.budget for r in self.runs)
        cps = sorted({int(c) for c in self.checkpoints})
        kept = tuple(c for c in cps if 1 <= c <= budget)
        if len(kept) < len(cps) and budget not in kept:
            kept = (*kept, budget)
        self.checkpoints = kept
        self._order = {
            "dataset": list(dict.fromkeys(r.dataset for r in self.runs)),
            "strategy": list(dict.fromkeys(r.strategy for r in self.runs)),
        }

    @property
    def datasets(self) -> list[str]:
        return list(self._order["dataset"])

    @property
    def strategies(self) -> list[str]:
        return list(self._order["strategy"])

    @property
    def budget(self) -> int:
        return min(r.budget for r in self.runs)

    def select(self, dataset: str, strategy: str) -> list[RunResult]:
        """The runs of one strategy on one data set, by seed."""
        return sorted(
            (r for r in self.runs if r.dataset == dataset and r.strategy == strategy),
            key=lambda r: r.seed,
        )

    def _groups(self) -> Iterator[tuple[str, str, list[RunResult]]]:
        for d in self.datasets:
            for s in self.strategies:
                runs = self.select(d, s)
                if runs:
                    yield d, s, runs

    def _percent(self) -> bool:
        return all("acc" in r.metric.lower() for r in self.runs)

    def summary(self) -> pd.DataFrame:
        """One row per (data set, strategy) with medians and IQRs over seeds.

        Columns: ``benchmark, dataset, strategy, n_seeds, budget``; for each
        checkpoint ``c``: ``valid_regret@c`` (median), ``valid_regret@c_q25``,
        ``valid_regret@c_q75`` and the same for ``test_regret``;
        ``queries_to_top`` (median as text, ``">budget"`` when the median run
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
                "budget": min(r.budget for r in runs),
            }
            for kind in ("valid", "test"):
                curves = np.vstack([getattr(r, f"{kind}_regret")[: self.budget] for r in runs])
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
        """Does ``a`` beat ``b`` in median valid regret at ``checkpoint`` (default: the budget)?

        One row per data set: both medians, ``a_better`` (strictly lower median),
        and the one-sided Mann-Whitney U p-value that ``a``'s regrets are lower
        (few seeds: read it as a hint, not a verdict).
        """
        import pandas as pd
        from scipy.stats import mannwhitneyu

        for s in (a, b):
            if s not in self.strategies:
                raise unknown("strategy in this comparison", s, self.strategies)
        c = self.budget if checkpoint is None else check_positive_int("checkpoint", checkpoint, 1)
        if c > self.budget:
            raise ValueError(f"checkpoint must be <= the budget {self.budget}; got {c}.")
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

    def to_markdown(self, datasets: Sequence[str] | None = None, *, notes: bool = True) -> str:
        """Readable Markdown tables: one per data set, strategies side by side, best in bold.

        Cells are ``median [25th, 75th percentile]`` over seeds. Regret of an
        accuracy is shown in accuracy points (x 100).

        Parameters
        ----------
        datasets
            The data sets to include (default: all, in run order).
        notes
            End with a line explaining the cells.
        """
        if datasets is None:
            datasets = self.datasets
        elif isinstance(datasets, str):
            datasets = [datasets]
        for d in datasets:
            if d not in self.datasets:
                raise unknown("data set in this comparison", d, self.datasets)
        df = self.summary()
        scale, unit = (100.0, "accuracy points") if self._percent() else (1.0, "")
        strategies = self.strategies
        top = self.runs[0].top_fraction
        out: list[str] = []
        for d in datasets:
            sub: Any = df[df["dataset"] == d].set_index("strategy")
            present = [s for s in strategies if s in sub.index]
            out.append(f"#### {d} ({int(sub['n_seeds'].min())} seeds, budget {self.budget})")
            out.append("")
            out.append("| | " + " | ".join(f"`{s}`" for s in present) + " |")
            out.append("|---|" + "---:|" * len(present))
            for kind, label in (("valid", "valid regret"), ("test", "test regret")):
                for c in self.checkpoints:
                    meds = [float(sub.at[s, f"{kind}_regret@{c}"]) for s in present]
                    cells = []
                    for s, med in zip(present, meds, strict=True):
                        q25 = sub.at[s, f"{kind}_regret@{c}_q25"]
                        q75 = sub.at[s, f"{kind}_regret@{c}_q75"]
                        text = f"{med * scale:.3f} [{q25 * scale:.3f}, {q75 * scale:.3f}]"
                        cells.append(_bold(text, med, meds))
                    out.append(f"| {label} @{c} | " + " | ".join(cells) + " |")
            tops = [float(sub.at[s, "queries_to_top_median"]) for s in present]
            cells = [
                _bold(
                    f"{sub.at[s, 'queries_to_top']} ({sub.at[s, 'n_reached_top']}/"
                    f"{sub.at[s, 'n_seeds']})",
                    t,
                    tops,
                )
                for s, t in zip(present, tops, strict=True)
            ]
            out.append(f"| queries to top {top * 100:g} % | " + " | ".join(cells) + " |")
            ovh = [float(sub.at[s, "overhead_ms"]) for s in present]
            cells = [_bold(f"{o:.2f}", o, ovh) for o in ovh]
            out.append("| overhead ms/trial (median) | " + " | ".join(cells) + " |")
            out.append("")
        if not notes:
            return "\n".join(out)
        note = (
            f"Cells: median [25th, 75th percentile] over seeds; regret in {unit}"
            if unit
            else "Cells: median [25th, 75th percentile] over seeds"
        )
        out.append(
            note + f"; queries to top: median number of queries until the incumbent is in the "
            f"table's top {top * 100:g} % by validation (n reached / n seeds); best in bold "
            "(lower is better everywhere)."
        )
        return "\n".join(out) + "\n"

    def overview_markdown(self, kind: str = "valid", checkpoint: int | None = None) -> str:
        """One Markdown table: data sets x strategies, median ``kind`` regret at ``checkpoint``.

        ``kind`` is ``"valid"`` or ``"test"``; ``checkpoint`` defaults to the
        budget. The best median per data set is bold.
        """
        if kind not in ("valid", "test"):
            raise ValueError(f"kind must be 'valid' or 'test'; got {kind!r}.")
        c = self.budget if checkpoint is None else check_positive_int("checkpoint", checkpoint, 1)
        if c > self.budget:
            raise ValueError(f"checkpoint must be <= the budget {self.budget}; got {c}.")
        scale = 100.0 if self._percent() else 1.0
        strategies = self.strategies
        lines = [
            "| data set | " + " | ".join(f"`{s}`" for s in strategies) + " |",
            "|---|" + "---:|" * len(strategies),
        ]
        for d in self.datasets:
            meds = []
            for s in strategies:
                runs = self.select(d, s)
                vals = [getattr(r, f"{kind}_regret")[c - 1] for r in runs]
                meds.append(float(np.nanmedian(vals)) if runs else math.nan)
            cells = ["-" if math.isnan(v) else _bold(f"{v * scale:.3f}", v, meds) for v in meds]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def plot_curves(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write PNG regret curves: one per data set (valid and test), plus an overview grid.

        Each strategy is drawn as the median over seeds with its 25th-75th
        percentile band, on a log y axis; regret 0 (the table's best found) is
        drawn at the bottom of the axis.

        Returns
        -------
        The paths written: ``regret_<benchmark>_<dataset>.png`` per data set,
        then ``regret_<benchmark>_overview.png``.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if matplotlib.get_backend().lower() != "agg":
            plt.switch_backend("Agg")
        outdir = Path(directory)
        outdir.mkdir(parents=True, exist_ok=True)
        bench = self.runs[0].benchmark
        scale, unit = (100.0, " (accuracy points)") if self._percent() else (1.0, "")
        colours = {s: f"C{i}" for i, s in enumerate(self.strategies)}
        paths: list[Path] = []
        for d in self.datasets:
            fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
            for ax, kind in zip(axes, ("valid", "test"), strict=True):
                self._draw(ax, d, kind, scale, colours)
                ax.set_title(f"{d}: {kind} regret")
                ax.set_xlabel("queries")
                ax.set_ylabel(f"{kind} regret{unit}")
            axes[0].legend(loc="upper right", fontsize=8)
            path = outdir / f"regret_{bench}_{d}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
        n = len(self.datasets)
        ncols = min(3, n)
        nrows = math.ceil(n / ncols)
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), constrained_layout=True,
            squeeze=False,
        )  # fmt: skip
        for ax, d in zip(axes.flat, self.datasets, strict=False):
            self._draw(ax, d, "valid", scale, colours)
            ax.set_title(d)
            ax.set_xlabel("queries")
            ax.set_ylabel(f"valid regret{unit}")
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        fig.suptitle(f"{bench}: validation regret, median and 25-75 % band over seeds")
        path = outdir / f"regret_{bench}_overview.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
        return paths

    def _draw(
        self, ax: Any, dataset: str, kind: str, scale: float, colours: dict[str, str]
    ) -> None:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        x = np.arange(1, self.budget + 1)
        bands = {}
        for s in self.strategies:
            runs = self.select(dataset, s)
            if not runs:
                continue
            curves = np.vstack([getattr(r, f"{kind}_regret")[: self.budget] for r in runs]) * scale
            bands[s] = np.nanpercentile(curves, [25, 50, 75], axis=0)
        positive = np.concatenate([b[b > 0] for b in bands.values()] or [np.array([])])
        floor = float(positive.min()) / 2 if positive.size else 1e-3 * scale
        for s, (q25, med, q75) in bands.items():
            ax.fill_between(
                x, np.maximum(q25, floor), np.maximum(q75, floor), color=colours[s], alpha=0.18,
                linewidth=0,
            )  # fmt: skip
            ax.plot(x, np.maximum(med, floor), color=colours[s], label=s, linewidth=1.6)
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        narrow = hi / max(lo, 1e-300) < 15  # about a decade: label more ticks
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)
        ax.yaxis.set_major_locator(LogLocator(subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        if any((b == 0).any() for b in bands.values()):
            ax.axhline(floor, color="0.5", linestyle=":", linewidth=0.8)
            ax.text(
                x[-1], floor, "regret 0 (table best found)", ha="right", va="bottom", fontsize=7,
                color="0.4",
            )  # fmt: skip
        ax.set_xlim(1, self.budget)
        ax.grid(True, which="major", alpha=0.3)


def _bold(text: str, value: float, values: Sequence[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if len(values) > 1 and finite and value == min(finite) and not all(v == value for v in values):
        return f"**{text}**"
    return text


def run_comparison(
    *,
    benchmark: str = "nas-bench-graph",
    datasets: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int] | int,
    budget: int = 100,
    checkpoints: Sequence[int] = (10, 20, 50, 100),
    n_jobs: int = 1,
    top_fraction: float = 0.005,
    progress: bool = False,
) -> Comparison:
    """Run every (data set, strategy, seed) for ``budget`` queries and collect the results.

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
    budget
        Queries per run.
    checkpoints
        Query counts reported by :meth:`Comparison.summary`; those above
        ``budget`` are dropped with a warning (and ``budget`` is reported
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

    Returns
    -------
    Comparison
        Runs ordered by data set, strategy and seed, as given.

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set or strategy.
    ValueError
        Empty or repeated data sets/strategies/seeds, ``budget`` < 1,
        ``n_jobs`` < 1 (other than -1), bad ``top_fraction``.
    """
    benchmark = _canonical_benchmark(benchmark)
    dsets = [_check_dataset(benchmark, d) for d in _unique("datasets", datasets)]
    strats = [_check_strategy(s) for s in _unique("strategies", strategies)]
    seed_list = _check_seeds(seeds)
    budget = check_positive_int(
        "budget", budget, 1, " Pass the number of queries per run, e.g. 100."
    )
    cps = _check_checkpoints(checkpoints, budget)
    top_fraction = _check_top_fraction(top_fraction)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_jobs = check_positive_int(
        "n_jobs", n_jobs, 1, " Pass 1 for no worker processes, -1 for all CPUs."
    )
    jobs: list[dict[str, Any]] = [
        {"benchmark": benchmark, "dataset": d, "strategy": s, "seed": seed, "budget": budget,
         "top_fraction": top_fraction}
        for d in dsets for s in strats for seed in seed_list
    ]  # fmt: skip
    runs: list[RunResult] = _run_jobs("run_one", jobs, n_jobs, progress)
    _logger.info("Benchmark comparison finished: %d runs", len(runs))
    return Comparison(runs, checkpoints=cps)


# ---------------------------------------------------------------- docs
def write_section(path: str | os.PathLike[str], section: str, markdown: str) -> None:
    """Replace one generated section of a Markdown file, leaving the rest untouched.

    The section is the text between ``<!-- BEGIN {section} -->`` and
    ``<!-- END {section} -->``. A missing section is appended; a missing file
    is created with a ``# Benchmarks`` title.

    Raises
    ------
    ValueError
        A bad section name, or markers that are unpaired, repeated or out of order.
    """
    if not isinstance(section, str) or not section.strip() or "--" in section or "\n" in section:
        raise ValueError(
            f"section must be a one-line name without '--', e.g. 'tabular-strategies'; got "
            f"{section!r}."
        )
    p = Path(path)
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    block = f"{begin}\n{markdown.strip(chr(10))}\n{end}"
    text = p.read_text(encoding="utf-8") if p.exists() else "# Benchmarks\n"
    nb, ne = text.count(begin), text.count(end)
    if nb == 0 and ne == 0:
        new = text.rstrip("\n") + "\n\n" + block + "\n"
    elif nb == 1 and ne == 1 and text.index(begin) < text.index(end):
        i, j = text.index(begin), text.index(end) + len(end)
        new = text[:i] + block + text[j:]
    else:
        raise ValueError(
            f"{str(p)!r} has {nb} {begin!r} and {ne} {end!r} marker(s) (or END before BEGIN); "
            "a section needs exactly one of each, in order. Fix the markers by hand, then "
            "run again."
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def machine_info() -> dict[str, str]:
    """CPU model, cores, OS and versions of Python and the main libraries (for reports)."""
    import platform

    import optuna

    import metanas

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "optuna": optuna.__version__,
        "metanas": metanas.__version__,
    }


# ---------------------------------------------------------------- multi-objective
#: The default objective pair of :func:`run_pareto_comparison`.
PARETO_OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("valid_accuracy", "maximize"),
    ("latency", "minimize"),
)
_REFERENCES = ("worst", "nadir")


@dataclass(frozen=True, eq=False)
class ParetoRun:
    """One multi-objective run: the objective values of every query, in query order.

    Attributes
    ----------
    benchmark, dataset, strategy, seed, budget
        What was run.
    objectives
        ``((metric, "maximize"|"minimize"), ...)``.
    values
        Shape ``(budget, n_objectives)``: the objective values of query ``t``
        (row ``t - 1``); a row of NaN for a failed trial.
    archs
        The architectures queried, in the space's notation.
    """

    benchmark: str
    dataset: str
    strategy: str
    seed: int
    budget: int
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
        from metanas.pareto import hypervolume

        return hypervolume(self.points[self.front], self.reference(kind), self.directions)


def _table_front(
    dataset: str, bench: TabularBenchmark, objectives: tuple[tuple[str, str], ...]
) -> TableFront:
    from metanas.pareto import pareto_front

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
        if m not in bench.metrics:
            fix = (
                f"{m!r} is a test metric, for reporting only: search on validation metrics."
                if m in bench.test_metrics
                else "Search on these."
            )
            raise unknown(f"search metric of {bench.name}", m, bench.metrics, fix)
    return objs


def run_pareto_one(
    *,
    benchmark: str = "nas-bench-graph",
    dataset: str,
    strategy: str,
    seed: int,
    budget: int = 100,
    objectives: Sequence[tuple[str, str]] | str = PARETO_OBJECTIVES,
    storage: str = "sqlite://",
) -> ParetoRun:
    """Run one multi-objective study of ``budget`` queries on one tabular data set.

    The strategy must handle several objectives (``"nsga2"``, ``"random"``).
    See :func:`run_pareto_comparison` for the parameters.
    """
    benchmark = _canonical_benchmark(benchmark)
    dataset = _check_dataset(benchmark, dataset)
    strategy = _check_strategy(strategy)
    seed = resolve_seed(check_positive_int("seed", seed, 0))
    budget = check_positive_int(
        "budget", budget, 1, " Pass the number of queries per run, e.g. 100."
    )
    bench = _benchmark(benchmark, dataset)
    objs = _check_objectives(objectives, bench)
    store = get_storage(storage)
    name = f"pareto-{benchmark}-{dataset}-{strategy}-seed{seed}-{uuid.uuid4().hex[:12]}"
    study = create_study(
        name=name, storage=store, space=bench.space, strategy=strategy, seed=seed,
        metric=[m for m, _ in objs], direction=[d for _, d in objs], task=bench.task_name,
        task_descriptors=bench.task_descriptors(),
        user_attrs={"benchmark_run": True, "budget": budget},
    )  # fmt: skip
    try:
        study.optimize(bench, n_trials=budget)
        trials = study.trials
    finally:
        if store.url == "sqlite://":
            store.delete_study(name)
    values = np.full((len(trials), len(objs)), np.nan)
    for i, t in enumerate(trials):
        if t.state is TrialState.COMPLETE and t.values is not None:
            values[i] = t.values
    return ParetoRun(
        benchmark=benchmark, dataset=dataset, strategy=strategy, seed=seed, budget=budget,
        objectives=objs, values=values, archs=tuple(bench.space.format(t.arch) for t in trials),
    )  # fmt: skip


@dataclass
class ParetoComparison:
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
        budget = self.budget
        cps = sorted({int(c) for c in self.checkpoints if 1 <= int(c) <= budget})
        if budget not in cps:
            cps.append(budget)
        self.checkpoints = tuple(cps)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.runs))

    @property
    def strategies(self) -> list[str]:
        return list(dict.fromkeys(r.strategy for r in self.runs))

    @property
    def budget(self) -> int:
        return min(r.budget for r in self.runs)

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        return self.runs[0].objectives

    def select(self, dataset: str, strategy: str) -> list[ParetoRun]:
        """The runs of one strategy on one data set, by seed."""
        return sorted(
            (r for r in self.runs if r.dataset == dataset and r.strategy == strategy),
            key=lambda r: r.seed,
        )

    def hv_ratio(
        self, run: ParetoRun, n_queries: int | None = None, reference: str | None = None
    ) -> float:
        """The HV ratio of ``run`` after ``n_queries`` (default: all of them)."""
        from metanas.pareto import hypervolume

        table = self.tables[run.dataset]
        kind = reference or self.reference
        ref = table.reference(kind)
        return hypervolume(run.found(n_queries), ref, run.directions) / table.hypervolume(kind)

    def hv_curve(self, run: ParetoRun, reference: str | None = None) -> np.ndarray:
        """Shape ``(budget,)``: the HV ratio after each query (non-decreasing)."""
        return np.array([self.hv_ratio(run, t, reference) for t in range(1, run.budget + 1)])

    def summary(self, reference: str | None = None) -> pd.DataFrame:
        """One row per (data set, strategy): HV ratios over seeds.

        Columns: ``dataset, strategy, n_seeds, budget``; per checkpoint ``c``
        ``hv_ratio@c`` (median), ``hv_ratio@c_q25``, ``hv_ratio@c_q75``,
        ``hv_ratio@c_mean``; ``front_size`` (median number of non-dominated
        points found) and ``true_front_size``.
        """
        import pandas as pd

        from metanas.pareto import pareto_front

        rows = []
        for d in self.datasets:
            for s in self.strategies:
                runs = self.select(d, s)
                if not runs:
                    continue
                row: dict[str, Any] = {
                    "dataset": d, "strategy": s, "n_seeds": len(runs), "budget": self.budget,
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
        c = self.budget if checkpoint is None else check_positive_int("checkpoint", checkpoint, 1)
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

        The best median per data set and checkpoint is bold (higher is better).
        """
        df = self.summary(reference)
        strategies = self.strategies
        head = "| data set | queries | " + " | ".join(f"`{s}`" for s in strategies) + " |"
        lines = [head, "|---|---:|" + "---:|" * len(strategies)]
        for d in self.datasets:
            sub: Any = df[df["dataset"] == d].set_index("strategy")
            for c in self.checkpoints:
                meds = [
                    float(sub.at[s, f"hv_ratio@{c}"]) if s in sub.index else math.nan
                    for s in strategies
                ]
                best = max((m for m in meds if not math.isnan(m)), default=math.nan)
                cells = []
                for s, med in zip(strategies, meds, strict=True):
                    if math.isnan(med):
                        cells.append("-")
                        continue
                    q25, q75 = sub.at[s, f"hv_ratio@{c}_q25"], sub.at[s, f"hv_ratio@{c}_q75"]
                    text = f"{med:.4f} [{q25:.4f}, {q75:.4f}]"
                    bold = med == best and len(set(meds)) > 1
                    cells.append(f"**{text}**" if bold else text)
                lines.append(f"| {d} | {c} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def plot_fronts(
        self,
        directory: str | os.PathLike[str],
        *,
        seed: int | None = None,
        strategies: Sequence[str] | None = None,
    ) -> list[Path]:
        """One PNG per data set: the table (grey), its true front and each strategy's front.

        The x axis is the second objective, the y axis the first (for the
        default objectives: latency on a log axis, validation accuracy). Each
        strategy is drawn for one seed (default: the smallest seed run).

        Returns
        -------
        The paths written: ``pareto_<dataset>.png`` per data set.
        """
        from metanas.pareto import plot_pareto

        if len(self.objectives) != 2:
            raise ValueError(
                f"plot_fronts draws 2 objectives; this comparison has {len(self.objectives)}."
            )
        outdir = Path(directory)
        names = list(strategies) if strategies is not None else self.strategies
        (m0, d0), (m1, d1) = self.objectives
        paths = []
        for d in self.datasets:
            table = self.tables[d]
            sets: dict[str, np.ndarray] = {"table's true front": table.points[table.front][:, ::-1]}
            for s in names:
                runs = self.select(d, s)
                if not runs:
                    continue
                run = next((r for r in runs if r.seed == seed), runs[0])
                sets[f"{s} (seed {run.seed}, {run.budget} queries)"] = run.found()[:, ::-1]
            spread = table.points[:, 1]
            logx = bool(spread.min() > 0 and spread.max() / spread.min() > 20)
            path = plot_pareto(
                sets, outdir / f"pareto_{d}.png", directions=(d1, d0), labels=(m1, m0),
                title=f"{self.runs[0].benchmark}/{d}: {m0} vs {m1}",
                background=table.points[:, ::-1],
                background_label=f"whole table ({len(table.points)} architectures)", logx=logx,
            )  # fmt: skip
            paths.append(path)
        return paths


def run_pareto_comparison(
    *,
    benchmark: str = "nas-bench-graph",
    datasets: Sequence[str],
    strategies: Sequence[str] = ("nsga2", "random"),
    seeds: Sequence[int] | int = 20,
    budget: int = 100,
    objectives: Sequence[tuple[str, str]] | str = PARETO_OBJECTIVES,
    reference: str = "worst",
    checkpoints: Sequence[int] = (10, 20, 50, 100),
    n_jobs: int = 1,
    progress: bool = False,
) -> ParetoComparison:
    """Run multi-objective searches on tabular data sets and measure their hypervolume.

    Every (data set, strategy, seed) is one study of ``budget`` queries with
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
    budget
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

    Returns
    -------
    ParetoComparison

    Raises
    ------
    UnknownNameError
        Unknown benchmark, data set, strategy or metric.
    ValueError
        Fewer than 2 objectives, a single-objective strategy, bad seeds,
        budget or reference.

    Examples
    --------
    >>> cmp = run_pareto_comparison(datasets=["cora"], strategies=["random"], seeds=2,
    ...                             budget=10)
    >>> row = cmp.summary().iloc[0]
    >>> bool(0.0 < row["hv_ratio@10"] <= 1.0)
    True
    """
    benchmark = _canonical_benchmark(benchmark)
    dsets = [_check_dataset(benchmark, d) for d in _unique("datasets", datasets)]
    strats = [_check_strategy(s) for s in _unique("strategies", strategies)]
    for s in strats:
        if not get_strategy_class(s).multi_objective:
            raise ValueError(
                f"Strategy {s!r} optimises one objective; a Pareto comparison needs "
                "multi-objective strategies such as 'nsga2' or 'random'."
            )
    seed_list = _check_seeds(seeds)
    budget = check_positive_int(
        "budget", budget, 1, " Pass the number of queries per run, e.g. 100."
    )
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES!r}; got {reference!r}.")
    tables: dict[str, TableFront] = {}
    objs: tuple[tuple[str, str], ...] = ()
    for d in dsets:
        bench = _benchmark(benchmark, d)
        objs = _check_objectives(objectives, bench)
        tables[d] = _table_front(d, bench, objs)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_jobs = check_positive_int(
        "n_jobs", n_jobs, 1, " Pass 1 for no worker processes, -1 for all CPUs."
    )
    jobs: list[dict[str, Any]] = [
        {"benchmark": benchmark, "dataset": d, "strategy": s, "seed": seed, "budget": budget,
         "objectives": objs}
        for d in dsets for s in strats for seed in seed_list
    ]  # fmt: skip
    runs: list[ParetoRun] = _run_jobs("run_pareto_one", jobs, n_jobs, progress)
    _logger.info("Pareto comparison finished: %d runs", len(runs))
    return ParetoComparison(runs, tables, reference=reference, checkpoints=tuple(checkpoints))


# ---------------------------------------------------------------- workers
def _job(task: tuple[str, dict[str, Any]]) -> Any:
    # Module-level so a spawned worker can import it; it imports the module that
    # registers the strategy, so plug-in strategies work in workers too.
    import importlib

    name, kwargs = task
    importlib.import_module(kwargs.pop("_module"))
    return globals()[name](**kwargs)


def _run_jobs(name: str, jobs: list[dict[str, Any]], n_jobs: int, progress: bool) -> list[Any]:
    """Run ``globals()[name](**job)`` for every job, in order of ``jobs``, serially or in a pool."""
    fn = globals()[name]
    bar = CountProgress(progress, len(jobs), "benchmark runs")
    results: list[Any] = [None] * len(jobs)
    try:
        if n_jobs == 1:
            for i, job in enumerate(jobs):
                results[i] = fn(**job)
                bar.advance()
        else:
            import multiprocessing
            from concurrent.futures import as_completed

            # Slow strategies (TPE) first, so no worker idles at the end.
            order = sorted(range(len(jobs)), key=lambda i: jobs[i]["strategy"] != "tpe")
            with ProcessPoolExecutor(
                max_workers=min(n_jobs, len(jobs)),
                mp_context=multiprocessing.get_context("spawn"),
            ) as pool:
                futures: dict[Future[Any], int] = {}
                for i in order:
                    module = get_strategy_class(jobs[i]["strategy"]).__module__
                    futures[pool.submit(_job, (name, {**jobs[i], "_module": module}))] = i
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.advance()
    finally:
        bar.close()
    return [r for r in results if r is not None]
