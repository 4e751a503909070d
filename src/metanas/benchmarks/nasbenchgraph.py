"""NAS-Bench-Graph, read from the tables shipped in the PyPI package ``nas-bench-graph``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from metanas.benchmarks.base import register_benchmark
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.exceptions import unknown
from metanas.spaces.nasbenchgraph import NasBenchGraphSpace

__all__ = ["NBG_DATASETS", "NBG_GRAPH_STATS", "NasBenchGraph"]

#: The data sets of NAS-Bench-Graph; the first 8 use the full operation set.
NBG_DATASETS = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)  # fmt: skip

#: Published statistics of the graphs behind NAS-Bench-Graph, a constant table (nothing is
#: downloaded): nodes, undirected edges, node features, classes (proteins: binary tasks), and
#: edge homophily (the share of edges joining nodes of one class; None for the multi-label
#: proteins graph). Sources: nodes, edges, features and classes as listed in Table 1 of Qin et
#: al. (NAS-Bench-Graph, NeurIPS 2022), which follow PyTorch Geometric's Planetoid, Coauthor and
#: Amazon data sets (Shchur et al., "Pitfalls of graph neural network evaluation", 2018) and the
#: OGB tables (Hu et al., "Open Graph Benchmark", NeurIPS 2020); edge homophily as reported by
#: Zhu et al. ("Beyond homophily in graph neural networks", NeurIPS 2020: Cora 0.81, CiteSeer
#: 0.74, PubMed 0.80) and Lim et al. ("Large scale learning on non-homophilous graphs",
#: NeurIPS 2021: arxiv 0.66), and, for the Coauthor and Amazon graphs, by Zheng et al. ("Graph
#: neural networks for graphs with heterophily: a survey", 2022: CS 0.81, Physics 0.93, Photo
#: 0.83, Computers 0.78). Rounded to two decimals; they are descriptors, not measurements.
_STAT_NAMES = ("n_nodes", "n_edges", "n_features", "n_classes", "homophily")
_STATS: dict[str, tuple[int, int, int, int, float | None]] = {
    "cora": (2708, 5278, 1433, 7, 0.81),
    "citeseer": (3327, 4552, 3703, 6, 0.74),
    "pubmed": (19717, 44324, 500, 3, 0.80),
    "cs": (18333, 81894, 6805, 15, 0.81),
    "physics": (34493, 247962, 8415, 5, 0.93),
    "photo": (7650, 119081, 745, 8, 0.83),
    "computers": (13752, 245861, 767, 10, 0.78),
    "arxiv": (169343, 1166243, 128, 40, 0.66),
    "proteins": (132534, 39561252, 8, 112, None),
}
NBG_GRAPH_STATS: dict[str, dict[str, int | float | None]] = {
    d: dict(zip(_STAT_NAMES, row, strict=True)) for d, row in _STATS.items()
}


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


@register_benchmark("nas-bench-graph", aliases=("nasbenchgraph", "nbg"))
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

    datasets: ClassVar[tuple[str, ...]] = NBG_DATASETS

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
        """Names and numeric meta-features of the data set's graph (see :data:`NBG_GRAPH_STATS`).

        Numeric: ``n_nodes``, ``n_edges``, ``n_features``, ``n_classes``,
        ``avg_degree`` (2 edges / nodes) and ``homophily`` (absent for proteins);
        ``n_ops`` is the size of the operation set (9, or 5 for proteins).

        Examples
        --------
        >>> d = NasBenchGraph("cora").task_descriptors()
        >>> d["n_nodes"], d["n_classes"], d["avg_degree"]
        (2708, 7, 3.9)
        """
        stats = NBG_GRAPH_STATS[self.dataset]
        out: dict[str, Any] = {"benchmark": "nas-bench-graph", "dataset": self.dataset}
        out.update({k: v for k, v in stats.items() if v is not None})
        out["avg_degree"] = round(
            2.0 * float(stats["n_edges"] or 0) / float(stats["n_nodes"] or 1), 2
        )
        out["n_ops"] = len(self.space.decisions[1].choices)
        return out
