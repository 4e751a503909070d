"""NAS-Bench-Graph, read from the tables shipped in the PyPI package ``nas-bench-graph``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from metanas.benchmarks.tabular import TabularBenchmark
from metanas.exceptions import unknown
from metanas.spaces.nasbenchgraph import NasBenchGraphSpace

__all__ = ["NBG_DATASETS", "NasBenchGraph"]

#: The data sets of NAS-Bench-Graph; the first 8 use the full operation set.
NBG_DATASETS = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)  # fmt: skip


@lru_cache(maxsize=16)
def _load(dataset: str) -> tuple[list[int], dict[str, np.ndarray]]:
    try:
        from nas_bench_graph import light_read
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ImportError(
            "NAS-Bench-Graph needs the package nas-bench-graph: pip install nas-bench-graph"
        ) from exc
    table = light_read(dataset)
    keys = sorted(int(k) for k in table)
    cols = {
        name: np.array([float(table[k][src]) for k in keys])
        for name, src in (
            ("valid_accuracy", "valid_perf"),
            ("test_accuracy", "perf"),
            ("latency", "latency"),
            ("params", "para"),
        )
    }
    return keys, cols


class NasBenchGraph(TabularBenchmark):
    """One data set of NAS-Bench-Graph as a look-up evaluator.

    Search metrics: ``valid_accuracy``, ``latency`` (seconds per inference, as
    measured by the benchmark's authors) and ``params`` (millions). Test
    metric, for reporting only: ``test_accuracy``.

    Parameters
    ----------
    dataset
        One of ``cora, citeseer, pubmed, cs, physics, photo, computers, arxiv,
        proteins`` (proteins has the reduced operation set).

    Examples
    --------
    >>> bench = NasBenchGraph("cora")
    >>> len(bench)
    26206
    >>> arch = bench.space.parse("0123|gcn,gin,fc,cheb")
    >>> 0.0 < bench.evaluate(arch).metrics["valid_accuracy"] < 1.0
    True

    References
    ----------
    Qin, Y., Zhang, Z., Wang, X., Zhang, Z. & Zhu, W. NAS-Bench-Graph:
    Benchmarking graph neural architecture search. NeurIPS 2022 Datasets and
    Benchmarks.
    """

    def __init__(self, dataset: str) -> None:
        if not isinstance(dataset, str) or dataset.lower() not in NBG_DATASETS:
            raise unknown(
                "NAS-Bench-Graph data set", dataset, NBG_DATASETS,
                "Pass one of these to NasBenchGraph(...) or --dataset.",
            )  # fmt: skip
        self.dataset = dataset.lower()
        keys, cols = _load(self.dataset)
        super().__init__(
            NasBenchGraphSpace(proteins=self.dataset == "proteins"),
            keys,
            {m: cols[m] for m in ("valid_accuracy", "latency", "params")},
            test_values={"test_accuracy": cols["test_accuracy"]},
            name=f"nas-bench-graph/{self.dataset}",
            minimize=("latency", "params"),
        )

    def task_descriptors(self) -> dict[str, Any]:
        return {"benchmark": "nas-bench-graph", "dataset": self.dataset}
