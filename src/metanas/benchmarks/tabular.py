"""Tabular benchmarks: architectures measured once, looked up in microseconds."""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from metanas.evaluation.base import Evaluator, Result
from metanas.exceptions import InvalidArchitectureError, MetanasError, UnknownNameError, unknown
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.spaces.table import TableSpace

__all__ = ["ArchitectureNotInTableError", "TabularBenchmark"]

Direction = Literal["maximize", "minimize"]


class ArchitectureNotInTableError(MetanasError, KeyError):
    """The table has no row for an architecture that is valid in its space."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _check_direction(direction: str) -> Direction:
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize'; got {direction!r}.")
    return direction  # type: ignore[return-value]


class TabularBenchmark(Evaluator):
    """A table of measured architectures used as an evaluator.

    Search metrics (``metrics``) are what a study may optimise; test metrics
    are returned as :attr:`Result.test_metrics`, for reporting only.

    Parameters
    ----------
    space
        The space the table's architectures belong to.
    keys
        One identity key (``space.key(arch)``) per row.
    values
        ``{metric: array}`` of search metrics, one value per row.
    test_values
        ``{metric: array}`` of report-only metrics.
    cost
        Seconds each row's evaluation cost (training time), if recorded.
    archs
        One architecture per row, if known (otherwise found by enumeration).
    name
        Task name recorded by studies that use this benchmark.
    minimize
        Metrics where lower is better (latency, params ...).
    """

    #: The data sets a registered benchmark is built from (``cls(dataset)``); a table
    #: brought by a user has none.
    datasets: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        space: SearchSpace,
        keys: Sequence[Hashable],
        values: Mapping[str, np.ndarray],
        *,
        test_values: Mapping[str, np.ndarray] | None = None,
        cost: np.ndarray | None = None,
        archs: Sequence[Architecture] | None = None,
        name: str = "table",
        minimize: Sequence[str] = (),
    ) -> None:
        n = len(keys)
        if n == 0:
            raise ValueError("A tabular benchmark needs at least one row; the table is empty.")
        if not values:
            raise ValueError("A tabular benchmark needs at least one search metric.")
        self.space = space
        self.name = name
        self.task_name = name
        self._keys = list(keys)
        self._index: dict[Hashable, int] = {}
        for i, k in enumerate(self._keys):
            if k in self._index:
                raise ValueError(
                    f"Rows {self._index[k]} and {i} of table {name!r} describe the same "
                    "architecture; keep one row per architecture (average repeated runs first)."
                )
            self._index[k] = i
        self._values = {m: np.asarray(v, dtype=float) for m, v in values.items()}
        self._test = {m: np.asarray(v, dtype=float) for m, v in (test_values or {}).items()}
        for m, v in {**self._values, **self._test}.items():
            if v.shape != (n,):
                raise ValueError(f"Metric {m!r} has {v.shape} values for {n} rows.")
        overlap = set(self._values) & set(self._test)
        if overlap:
            raise ValueError(f"Metric(s) {sorted(overlap)} cannot be both search and test metrics.")
        self._cost = None if cost is None else np.asarray(cost, dtype=float)
        self._archs = list(archs) if archs is not None else None
        self.minimize = tuple(minimize)
        for m in self.minimize:
            if m not in self._values and m not in self._test:
                raise unknown("metric", m, [*self._values, *self._test])

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dataframe(
        cls,
        df: Any,
        *,
        space: SearchSpace,
        arch_column: str = "arch",
        metrics: Sequence[str],
        test_metrics: Sequence[str] = (),
        cost_column: str | None = None,
        name: str = "table",
        minimize: Sequence[str] = (),
        restrict: bool | None = None,
    ) -> TabularBenchmark:
        """Build a benchmark from a pandas DataFrame with one row per architecture.

        The architecture column holds the space's notation (e.g. NAS-Bench-201
        strings) or canonical JSON. Metric columns must be numeric; a missing
        value is kept as NaN (a trial that hits it fails).

        When the table covers only part of ``space`` (or ``restrict=True``), the
        benchmark's :attr:`space` is a :class:`~metanas.spaces.TableSpace` of
        the listed architectures, so searches never propose one the table
        cannot answer.
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_dataframe needs a pandas DataFrame; got {type(df).__name__}.")
        if isinstance(metrics, str):
            metrics = [metrics]
        if isinstance(test_metrics, str):
            test_metrics = [test_metrics]
        if not metrics:
            raise ValueError("Name at least one search metric column: metrics=['valid_accuracy'].")
        columns = [str(c) for c in df.columns]
        fix = f"Columns of table {name!r}: {columns!r}."
        for col in [arch_column, *metrics, *test_metrics, *([cost_column] if cost_column else [])]:
            if col not in df.columns:
                raise unknown("column", col, columns, fix)
        archs: list[Architecture] = []
        for row, text in enumerate(df[arch_column].tolist()):
            try:
                archs.append(space.parse(str(text)))
            except InvalidArchitectureError as exc:
                raise InvalidArchitectureError(
                    f"Row {row} of table {name!r}, column {arch_column!r}: {exc}"
                ) from exc

        def numeric(col: str) -> np.ndarray:
            try:
                out: np.ndarray = pd.to_numeric(df[col], errors="raise").to_numpy(dtype=float)
                return out
            except (ValueError, TypeError) as exc:
                bad = df[col][pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()]
                example = f" (row {bad.index[0]}: {bad.iloc[0]!r})" if len(bad) else ""
                raise ValueError(
                    f"Column {col!r} of table {name!r} must be numeric but holds text{example}. "
                    "Fix or drop those rows."
                ) from exc

        keys = [space.key(a) for a in archs]
        if restrict is None:
            restrict = len(set(keys)) < space.n_unique
        search_space: SearchSpace = TableSpace(space, archs, name) if restrict and archs else space
        return cls(
            search_space,
            keys,
            {m: numeric(m) for m in metrics},
            test_values={m: numeric(m) for m in test_metrics},
            cost=numeric(cost_column) if cost_column else None,
            archs=archs,
            name=name,
            minimize=minimize,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        space: SearchSpace,
        arch_column: str = "arch",
        metrics: Sequence[str],
        test_metrics: Sequence[str] = (),
        cost_column: str | None = None,
        name: str | None = None,
        minimize: Sequence[str] = (),
        restrict: bool | None = None,
    ) -> TabularBenchmark:
        """Read a CSV table of measured architectures (see :meth:`from_dataframe`)."""
        import pandas as pd

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"No CSV file at {str(p)!r}. Check the path.")
        try:
            df = pd.read_csv(p, index_col=False)  # a trailing comma must not shift columns
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"Cannot read CSV {str(p)!r}: {first}. Expected a header row and one "
                "comma-separated row per architecture."
            ) from exc
        bench = cls.from_dataframe(
            df,
            space=space,
            arch_column=arch_column,
            metrics=metrics,
            test_metrics=test_metrics,
            cost_column=cost_column,
            name=name or p.stem,
            minimize=minimize,
            restrict=restrict,
        )
        if isinstance(bench.space, TableSpace):
            # Recorded in the space's config: a study of it can read the architectures again.
            bench.space.source = {"path": str(p.resolve()), "arch_column": arch_column}
        return bench

    # ------------------------------------------------------------ look-ups
    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, rows={len(self)}, metrics={self.metrics})"

    @property
    def metrics(self) -> list[str]:
        """Search metric names."""
        return list(self._values)

    @property
    def test_metrics(self) -> list[str]:
        """Report-only metric names."""
        return list(self._test)

    def direction(self, metric: str) -> Direction:
        self._column(metric)
        return "minimize" if metric in self.minimize else "maximize"

    def _column(self, metric: str) -> np.ndarray:
        if metric in self._values:
            return self._values[metric]
        if metric in self._test:
            return self._test[metric]
        raise unknown(
            "metric",
            metric,
            [*self._values, *self._test],
            f"Table {self.name!r} has no such column.",
        )

    def row(self, arch: Architecture) -> int:
        """Row index of ``arch`` (any encoding of the same network)."""
        try:
            key = self.space.key(arch)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArchitectureError(
                f"{arch!r} is not an architecture of {self.space!r}: {exc}"
            ) from exc
        try:
            return self._index[key]
        except KeyError:
            pass
        try:  # a miss may be an architecture of another space: say so, not "not in table"
            self.space._check_choices(arch)
        except InvalidArchitectureError as exc:
            raise InvalidArchitectureError(
                f"{arch!r} is not an architecture of {self.space!r}: {exc}"
            ) from exc
        raise ArchitectureNotInTableError(
            f"Architecture {self.space.format(arch)} is not in table {self.name!r} "
            f"({len(self)} rows); the table does not cover the whole space."
        )

    def query(self, arch: Architecture, metric: str) -> float:
        """One metric of one architecture."""
        return float(self._column(metric)[self.row(arch)])

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        i = self.row(arch)
        return Result(
            metrics={m: float(v[i]) for m, v in self._values.items()},
            test_metrics={m: float(v[i]) for m, v in self._test.items()},
            cost_s=0.0 if self._cost is None else float(self._cost[i]),
        )

    def values(self, metric: str) -> np.ndarray:
        """All rows' values of ``metric`` (read-only view)."""
        col = self._column(metric).view()
        col.flags.writeable = False
        return col

    def optimum(self, metric: str, direction: str | None = None) -> float:
        """Best value of ``metric`` in the whole table (NaN rows ignored)."""
        col = self._column(metric)
        d = _check_direction(direction) if direction else self.direction(metric)
        return float(np.nanmax(col) if d == "maximize" else np.nanmin(col))

    def regret(self, value: float, metric: str, direction: str | None = None) -> float:
        """Distance from ``value`` to the table's optimum of ``metric`` (>= 0)."""
        d = _check_direction(direction) if direction else self.direction(metric)
        best = self.optimum(metric, d)
        return float(best - value) if d == "maximize" else float(value - best)

    def threshold(
        self, metric: str, top_fraction: float = 0.005, direction: str | None = None
    ) -> float:
        """The value that puts an architecture in the best ``top_fraction`` of the table."""
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1]; got {top_fraction}.")
        col = self._column(metric)
        col = col[~np.isnan(col)]
        d = _check_direction(direction) if direction else self.direction(metric)
        k = max(1, math.ceil(top_fraction * len(col)))
        ordered = np.sort(col)
        return float(ordered[-k] if d == "maximize" else ordered[k - 1])

    def architecture(self, row: int) -> Architecture:
        """An architecture of row ``row``."""
        return self._architectures()[row]

    def best_architecture(self, metric: str, direction: str | None = None) -> Architecture:
        col = self._column(metric)
        d = _check_direction(direction) if direction else self.direction(metric)
        i = int(np.nanargmax(col) if d == "maximize" else np.nanargmin(col))
        return self.architecture(i)

    def _architectures(self) -> list[Architecture]:
        if self._archs is None:
            found: dict[int, Architecture] = {}
            for arch in self.space.enumerate():
                i = self._index.get(self.space.key(arch))
                if i is not None and i not in found:
                    found[i] = arch
            missing = len(self) - len(found)
            if missing:
                raise UnknownNameError(
                    f"{missing} row(s) of table {self.name!r} match no architecture of the space."
                )
            self._archs = [found[i] for i in range(len(self))]
        return self._archs

    def to_dataframe(self) -> Any:
        """The table as a pandas DataFrame (space notation in column ``arch``)."""
        import pandas as pd

        data: dict[str, Any] = {"arch": [self.space.format(a) for a in self._architectures()]}
        data.update({m: v for m, v in self._values.items()})
        data.update({m: v for m, v in self._test.items()})
        if self._cost is not None:
            data["cost_s"] = self._cost
        return pd.DataFrame(data)
