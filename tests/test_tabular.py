"""Tabular benchmarks: user CSV tables and NAS-Bench-Graph."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nas_bench_graph import light_read

import metanas
from conftest import nb201_cells
from metanas import InvalidArchitectureError, UnknownNameError
from metanas._registry import available
from metanas.benchmarks import (
    BENCHMARKS,
    FAMILY_TASKS,
    NBG_DATASETS,
    ArchitectureNotInTableError,
    NasBenchGraph,
    TabularBenchmark,
    available_benchmarks,
    load_benchmark,
    register_benchmark,
)
from metanas.spaces import NasBenchGraphSpace, NB201Space
from metanas.spaces.nb201 import NB201_OPS

N_ROWS = 40


def _nb201_rows(n: int = N_ROWS) -> pd.DataFrame:
    """``n`` distinct NAS-Bench-201 cells with synthetic metrics (row i has acc 0.5 + i/100)."""
    archs = nb201_cells(n)
    return pd.DataFrame(
        {
            "arch": archs,
            "acc": [0.5 + i / 100 for i in range(n)],
            "test_acc": [0.4 + i / 100 for i in range(n)],
            "latency_ms": [10.0 - i / 10 for i in range(n)],
            "train_time": [100.0 + i for i in range(n)],
        }
    )


@pytest.fixture
def nb201_csv(tmp_path: Path) -> Path:
    path = tmp_path / "nb201.csv"
    _nb201_rows().to_csv(path, index=False)
    return path


@pytest.fixture
def table(nb201_csv: Path) -> TabularBenchmark:
    return TabularBenchmark.from_csv(
        nb201_csv,
        space=NB201Space(),
        arch_column="arch",
        metrics=["acc", "latency_ms"],
        test_metrics=["test_acc"],
        cost_column="train_time",
        minimize=["latency_ms"],
    )


# ==================================================================== user tables


def test_from_csv_reads_every_row(table: TabularBenchmark) -> None:
    assert len(table) == N_ROWS
    assert table.name == "nb201"  # the file's stem
    assert table.task_name == "nb201"
    assert table.metrics == ["acc", "latency_ms"]
    assert table.test_metrics == ["test_acc"]
    assert repr(table) == "TabularBenchmark('nb201', rows=40, metrics=['acc', 'latency_ms'])"


def test_the_api_contract_call(nb201_csv: Path) -> None:
    table = TabularBenchmark.from_csv(
        nb201_csv, space=NB201Space(), arch_column="arch", metrics=["acc"]
    )
    assert table.metrics == ["acc"]
    assert table.test_metrics == []


def test_lookups_return_the_row_values(table: TabularBenchmark) -> None:
    rows = _nb201_rows()
    space = table.space
    for i in (0, 7, N_ROWS - 1):
        arch = space.parse(rows["arch"][i])
        assert table.row(arch) == i
        assert table.query(arch, "acc") == pytest.approx(0.5 + i / 100)
        assert table.query(arch, "test_acc") == pytest.approx(0.4 + i / 100)
        result = table.evaluate(arch)
        assert result.ok
        assert result.metrics == pytest.approx({"acc": 0.5 + i / 100, "latency_ms": 10.0 - i / 10})
        assert result.test_metrics == pytest.approx({"test_acc": 0.4 + i / 100})
        assert result.cost_s == pytest.approx(100.0 + i)
        assert table.architecture(i) == arch


def test_test_metrics_never_appear_in_search_metrics(table: TabularBenchmark) -> None:
    arch = table.architecture(3)
    assert "test_acc" not in table.evaluate(arch).metrics
    assert "test_acc" not in table.metrics


def test_optimum_regret_threshold_and_direction(table: TabularBenchmark) -> None:
    assert table.direction("acc") == "maximize"
    assert table.direction("latency_ms") == "minimize"
    assert table.optimum("acc") == pytest.approx(0.5 + 39 / 100)
    assert table.optimum("latency_ms") == pytest.approx(10.0 - 3.9)
    assert table.optimum("acc", "minimize") == pytest.approx(0.5)
    assert table.regret(0.8, "acc") == pytest.approx(0.09)
    assert table.regret(7.0, "latency_ms") == pytest.approx(0.9)
    assert table.regret(table.optimum("acc"), "acc") == 0.0
    # Top 10% of 40 rows = 4 rows: the 4th best value.
    assert table.threshold("acc", 0.1) == pytest.approx(0.5 + 36 / 100)
    assert table.threshold("latency_ms", 0.1) == pytest.approx(10.0 - 3.6)
    assert table.threshold("acc", 0.001) == pytest.approx(table.optimum("acc"))
    assert table.best_architecture("acc") == table.architecture(N_ROWS - 1)
    assert table.best_architecture("latency_ms") == table.architecture(N_ROWS - 1)


def test_bad_direction_and_fraction(table: TabularBenchmark) -> None:
    with pytest.raises(ValueError, match=r"direction must be 'maximize' or 'minimize'; got 'up'"):
        table.optimum("acc", "up")
    with pytest.raises(ValueError, match=r"top_fraction must be in \(0, 1\]; got 0"):
        table.threshold("acc", 0)


def test_unknown_metric_suggests_close_name(table: TabularBenchmark) -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'accc'\. Did you mean 'acc'\?"):
        table.query(table.architecture(0), "accc")


def test_values_are_read_only(table: TabularBenchmark) -> None:
    vals = table.values("acc")
    assert vals.shape == (N_ROWS,)
    with pytest.raises(ValueError, match="read-only"):
        vals[0] = 1.0
    assert table.optimum("acc") == pytest.approx(0.89)


def test_to_dataframe_round_trip(table: TabularBenchmark, tmp_path: Path) -> None:
    df = table.to_dataframe()
    assert list(df.columns) == ["arch", "acc", "latency_ms", "test_acc", "cost_s"]
    assert df["arch"].tolist() == _nb201_rows()["arch"].tolist()
    back = TabularBenchmark.from_dataframe(
        df, space=NB201Space(), metrics=["acc"], test_metrics="test_acc", cost_column="cost_s"
    )
    assert back.query(back.architecture(5), "acc") == table.query(table.architecture(5), "acc")


def test_from_dataframe_accepts_json_architectures() -> None:
    space = NB201Space()
    rows = _nb201_rows(5)
    rows["arch"] = [space.parse(t).to_json() for t in rows["arch"]]
    table = TabularBenchmark.from_dataframe(rows, space=space, metrics="acc")
    assert table.query(space.parse(_nb201_rows(5)["arch"][2]), "acc") == pytest.approx(0.52)


def test_arch_not_in_table(table: TabularBenchmark) -> None:
    space = NB201Space()
    listed = set(_nb201_rows()["arch"])
    missing = next(
        a for a in (f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|" for op in NB201_OPS)
        if a not in listed
    )  # fmt: skip
    with pytest.raises(
        ArchitectureNotInTableError,
        match=re.escape(f"Architecture {missing} is not in table 'nb201' (40 rows)"),
    ):
        table.evaluate(space.parse(missing))
    with pytest.raises(KeyError):  # also a KeyError, for dict-like use
        table.row(space.parse(missing))


def test_arch_of_another_space_is_rejected(table: TabularBenchmark) -> None:
    nbg = NasBenchGraphSpace().parse("0123|gcn,gin,fc,cheb")
    with pytest.raises(
        InvalidArchitectureError,
        match=r"is not an architecture of .*NB201Space.*lacks decision\(s\) \['1<-0'",
    ):
        table.evaluate(nbg)
    with pytest.raises(InvalidArchitectureError, match=r"is not an architecture of NasBenchGraph"):
        NasBenchGraph("proteins").evaluate(nbg)  # gin is not in the proteins op set


def test_missing_values_become_nan_and_fail_trials(tmp_path: Path, study_name: str) -> None:
    rows = _nb201_rows(6)
    rows.loc[2, "acc"] = None
    path = tmp_path / "holes.csv"
    rows.to_csv(path, index=False)
    table = TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])
    assert math.isnan(table.query(table.architecture(2), "acc"))
    assert table.optimum("acc") == pytest.approx(0.55)
    study = metanas.create_study(
        name=study_name, storage="sqlite://", space=table.space, metric="acc", seed=0
    )
    study.enqueue(table.architecture(2))
    study.enqueue(table.architecture(3))
    study.optimize(table, n_trials=2)
    assert [t.state.value for t in study.trials] == ["failed", "complete"]
    assert study.trials[0].error == "objective 'acc' is nan (not a finite number)"


# ---------------------------------------------------------------- errors


def test_unknown_column_suggests_close_name(nb201_csv: Path) -> None:
    with pytest.raises(
        UnknownNameError,
        match=r"Unknown column 'accuracy'\..*Columns of table 'nb201': "
        r"\['arch', 'acc', 'test_acc', 'latency_ms', 'train_time'\]",
    ):
        TabularBenchmark.from_csv(nb201_csv, space=NB201Space(), metrics=["accuracy"])
    with pytest.raises(UnknownNameError, match=r"Unknown column 'archs'\. Did you mean 'arch'\?"):
        TabularBenchmark.from_csv(
            nb201_csv, space=NB201Space(), arch_column="archs", metrics=["acc"]
        )
    with pytest.raises(UnknownNameError, match=r"Unknown column 'test_ac'\. Did you mean"):
        TabularBenchmark.from_csv(
            nb201_csv, space=NB201Space(), metrics=["acc"], test_metrics=["test_ac"]
        )
    with pytest.raises(UnknownNameError, match=r"Unknown column 'train_tim'\. Did you mean"):
        TabularBenchmark.from_csv(
            nb201_csv, space=NB201Space(), metrics=["acc"], cost_column="train_tim"
        )


def test_malformed_arch_string_names_the_row(tmp_path: Path) -> None:
    rows = _nb201_rows(6)
    rows.loc[4, "arch"] = "|nor_conv_3x3~0|+|none~0|none~1|"
    path = tmp_path / "bad_arch.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(
        InvalidArchitectureError,
        match=r"Row 4 of table 'bad_arch', column 'arch': Cannot read NAS-Bench-201 "
        r"architecture .*expected 3 nodes",
    ):
        TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])


def test_bad_operation_in_a_row_suggests_the_op(tmp_path: Path) -> None:
    rows = _nb201_rows(3)
    rows.loc[1, "arch"] = "|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(InvalidArchitectureError, match=r"Row 1 .*Did you mean 'nor_conv_3x3'\?"):
        TabularBenchmark.from_dataframe(rows, space=NB201Space(), metrics=["acc"], name="t")


def test_non_numeric_metric_column_names_the_column(tmp_path: Path) -> None:
    rows = _nb201_rows(5).astype({"acc": object})
    rows.loc[3, "acc"] = "n/a?"
    path = tmp_path / "text.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(
        ValueError,
        match=r"Column 'acc' of table 'text' must be numeric but holds text "
        r"\(row 3: 'n/a\?'\)\. Fix or drop those rows\.",
    ):
        TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])


def test_malformed_csv(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    good = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    path.write_text(f"arch,acc\n{good},0.5\n{good},0.6,0.7,extra\n")
    with pytest.raises(ValueError, match=r"Cannot read CSV '.*broken\.csv': .*Expected a header"):
        TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])


def test_empty_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"Cannot read CSV '.*empty\.csv'"):
        TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("arch,acc\n")
    with pytest.raises(ValueError, match=r"needs at least one row; the table is empty"):
        TabularBenchmark.from_csv(path, space=NB201Space(), metrics=["acc"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No CSV file at '.*nope\.csv'\. Check the path"):
        TabularBenchmark.from_csv(tmp_path / "nope.csv", space=NB201Space(), metrics=["acc"])


def test_duplicate_architecture_rows(tmp_path: Path) -> None:
    rows = _nb201_rows(6)
    rows.loc[5, "arch"] = rows.loc[1, "arch"]
    with pytest.raises(
        ValueError, match=r"Rows 1 and 5 of table 'dup' describe the same architecture"
    ):
        TabularBenchmark.from_dataframe(rows, space=NB201Space(), metrics=["acc"], name="dup")


def test_isomorphic_duplicates_are_caught_too() -> None:
    rows = pd.DataFrame(
        {"arch": ["0000|gcn,gat,sage,fc", "0000|fc,sage,gat,gcn"], "acc": [0.1, 0.2]}
    )
    with pytest.raises(ValueError, match=r"Rows 0 and 1 .*describe the same architecture"):
        TabularBenchmark.from_dataframe(rows, space=NasBenchGraphSpace(), metrics=["acc"])


def test_other_construction_errors() -> None:
    rows = _nb201_rows(3)
    with pytest.raises(ValueError, match=r"Name at least one search metric column"):
        TabularBenchmark.from_dataframe(rows, space=NB201Space(), metrics=[])
    with pytest.raises(ValueError, match=r"\['acc'\] cannot be both search and test metrics"):
        TabularBenchmark.from_dataframe(
            rows, space=NB201Space(), metrics=["acc"], test_metrics=["acc"]
        )
    with pytest.raises(TypeError, match=r"from_dataframe needs a pandas DataFrame; got dict"):
        TabularBenchmark.from_dataframe({"arch": []}, space=NB201Space(), metrics=["acc"])
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'latency'"):
        TabularBenchmark.from_dataframe(
            rows, space=NB201Space(), metrics=["acc"], minimize=["latency"]
        )


# ==================================================================== NAS-Bench-Graph


def test_nas_bench_graph_cora_matches_the_raw_table(cora: NasBenchGraph) -> None:
    raw = light_read("cora")
    assert len(cora) == len(raw) == 26206
    assert cora.name == cora.task_name == "nas-bench-graph/cora"
    assert cora.metrics == ["valid_accuracy", "latency", "params"]
    assert cora.test_metrics == ["test_accuracy"]
    assert cora.optimum("valid_accuracy") == max(float(v["valid_perf"]) for v in raw.values())
    assert cora.optimum("test_accuracy") == max(float(v["perf"]) for v in raw.values())
    assert cora.optimum("latency") == min(float(v["latency"]) for v in raw.values())
    assert cora.direction("latency") == "minimize"
    assert cora.direction("params") == "minimize"
    assert cora.task_descriptors() == {
        "benchmark": "nas-bench-graph", "dataset": "cora", "n_nodes": 2708, "n_edges": 5278,
        "n_features": 1433, "n_classes": 7, "homophily": 0.81, "avg_degree": 3.9, "n_ops": 9,
    }  # fmt: skip


def test_nas_bench_graph_lookup_equals_the_raw_entry(cora: NasBenchGraph) -> None:
    raw = light_read("cora")
    space = cora.space
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        entry = raw[space.key(arch)]
        result = cora.evaluate(arch)
        assert result.metrics == {
            "valid_accuracy": float(entry["valid_perf"]),
            "latency": float(entry["latency"]),
            "params": float(entry["para"]),
        }
        assert result.test_metrics == {"test_accuracy": float(entry["perf"])}
        assert "test_accuracy" not in result.metrics


@pytest.mark.slow  # lists the 59,040 encodings once to map rows back to architectures
def test_nas_bench_graph_best_architecture(cora: NasBenchGraph) -> None:
    best = cora.best_architecture("valid_accuracy")
    assert cora.space.is_valid(best)
    assert cora.query(best, "valid_accuracy") == cora.optimum("valid_accuracy")
    assert cora.regret(cora.query(best, "valid_accuracy"), "valid_accuracy") == 0.0


def test_nas_bench_graph_proteins_uses_the_reduced_op_set() -> None:
    bench = NasBenchGraph("proteins")
    assert bench.space.proteins
    assert bench.space == NasBenchGraphSpace(proteins=True)
    assert len(bench) == len(light_read("proteins")) == 2021
    assert bench.space.decision("op1").choices == ("gcn", "sage", "arma", "fc", "skip")
    arch = bench.space.parse("0123|gcn,sage,arma,fc")
    assert 0.0 < bench.evaluate(arch).metrics["valid_accuracy"] < 1.0


def test_nas_bench_graph_data_set_names() -> None:
    assert NBG_DATASETS == (
        "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
    )  # fmt: skip
    assert NasBenchGraph("CiteSeer").dataset == "citeseer"
    with pytest.raises(
        UnknownNameError,
        match=r"Unknown NAS-Bench-Graph data set 'coraa'\. Did you mean 'cora'\?",
    ):
        NasBenchGraph("coraa")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'pubmed'\?"):
        NasBenchGraph("pubmd")


def test_load_benchmark() -> None:
    assert set(available_benchmarks()) == {"nas-bench-graph", "task-family"}
    assert load_benchmark("nas_bench_graph", "cora").name == "nas-bench-graph/cora"
    assert load_benchmark("nbg", "cora").dataset == "cora"
    with pytest.raises(UnknownNameError, match=r"Unknown benchmark 'nas-bench-201'.*from_csv"):
        load_benchmark("nas-bench-201", "cifar10")


def test_benchmark_registry_names_and_aliases() -> None:
    assert available("benchmark") == ["nas-bench-graph", "task-family"]
    assert available_benchmarks() == {
        "nas-bench-graph": NBG_DATASETS,
        "task-family": tuple(FAMILY_TASKS),
    }
    for spelling in ("nas-bench-graph", "NAS_Bench_Graph", "nasbenchgraph", "NBG", "n-b-g"):
        assert BENCHMARKS.canonical(spelling) == "nas-bench-graph"
        assert BENCHMARKS.get(spelling) is NasBenchGraph
    assert "nbg" in BENCHMARKS
    assert "nb301" not in BENCHMARKS
    with pytest.raises(
        UnknownNameError, match=r"Unknown benchmark 'nas-bench-grph'.*nas-bench-graph"
    ):
        BENCHMARKS.canonical("nas-bench-grph")


def test_register_benchmark_checks_the_class_and_its_aliases() -> None:
    with pytest.raises(TypeError, match="needs a TabularBenchmark subclass; got <class 'dict'>"):
        register_benchmark("not-a-table")(dict)  # type: ignore[arg-type]

    class NoDataSets(TabularBenchmark):
        pass

    with pytest.raises(TypeError, match="NoDataSets needs a class attribute datasets"):
        register_benchmark("no-data-sets", aliases=("nds",))(NoDataSets)
    assert "nds" not in BENCHMARKS  # a refused class leaves no alias behind
    with pytest.raises(ValueError, match="alias 'NBG' already names 'nas-bench-graph'"):
        register_benchmark("another-graph-table", aliases=("NBG",))
    assert available("benchmark") == ["nas-bench-graph", "task-family"]
