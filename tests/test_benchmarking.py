"""The benchmark runner: regret curves, queries-to-top, parallel runs, docs sections."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from metanas.benchmarking import (
    Comparison,
    RunResult,
    run_comparison,
    run_one,
    write_section,
)
from metanas.benchmarks import NasBenchGraph
from metanas.exceptions import UnknownNameError
from metanas.storage import RDBStorage


def _fake(
    strategy: str,
    seed: int,
    valid: list[float],
    *,
    dataset: str = "cora",
    top: int | None = None,
    overhead_ms: float = 1.0,
) -> RunResult:
    n = len(valid)
    return RunResult(
        benchmark="nas-bench-graph", dataset=dataset, strategy=strategy, seed=seed, n_trials=n,
        valid_regret=np.array(valid), test_regret=np.array(valid) * 2, queries_to_top=top,
        overhead_s=np.full(n, overhead_ms / 1e3),
    )  # fmt: skip


# ---------------------------------------------------------------- one run
@pytest.mark.parametrize("strategy", ["random", "evolution", "local", "tpe"])
def test_run_one_regret_curves_are_non_increasing_and_non_negative(strategy: str) -> None:
    r = run_one(dataset="cora", strategy=strategy, seed=1, n_trials=25)
    assert (r.dataset, r.strategy, r.seed, r.n_trials) == ("cora", strategy, 1, 25)
    for arr in (r.valid_regret, r.test_regret, r.overhead_s):
        assert arr.shape == (25,)
    assert np.all(r.valid_regret >= 0)
    assert np.all(r.test_regret >= 0)
    assert np.all(np.diff(r.valid_regret) <= 0)
    assert np.all(r.overhead_s > 0)


def test_regrets_match_a_manual_computation_from_the_table(
    cora: NasBenchGraph, db_url: str
) -> None:
    r = run_one(dataset="cora", strategy="evolution", seed=3, n_trials=30, storage=db_url)
    # A file storage keeps the study: read its trials back and recompute by hand.
    store = RDBStorage(db_url)
    (summary,) = store.list_studies()
    trials = store.get_trials(store.get_study(summary.name).id)
    assert len(trials) == 30
    valid = [cora.query(t.arch, "valid_accuracy") for t in trials]
    test = [cora.query(t.arch, "test_accuracy") for t in trials]
    v_opt = float(cora.values("valid_accuracy").max())
    t_opt = float(cora.values("test_accuracy").max())
    for k in range(1, 31):
        inc = int(np.argmax(valid[:k]))  # first maximum: earliest on ties
        assert r.valid_regret[k - 1] == pytest.approx(v_opt - valid[inc], abs=1e-12)
        # Test regret is that of the architecture chosen by validation, not the best test seen.
        assert r.test_regret[k - 1] == pytest.approx(t_opt - test[inc], abs=1e-12)
    # The check discriminates: the best *test* accuracy seen would give other numbers.
    assert any(r.test_regret[k - 1] > t_opt - max(test[:k]) + 1e-12 for k in range(1, 31))


def test_queries_to_top_is_consistent_with_the_valid_curve(cora: NasBenchGraph) -> None:
    top_fraction = 0.1  # reachable in a few queries
    threshold = cora.threshold("valid_accuracy", top_fraction)
    v_opt = cora.optimum("valid_accuracy")
    for seed in range(3):
        r = run_one(
            dataset="cora", strategy="random", seed=seed, n_trials=40, top_fraction=top_fraction
        )
        best = v_opt - r.valid_regret
        reached = np.flatnonzero(best >= threshold - 1e-12)
        expected = int(reached[0]) + 1 if reached.size else None
        assert r.queries_to_top == expected
        assert r.top_fraction == top_fraction
    never = run_one(dataset="cora", strategy="random", seed=0, n_trials=2, top_fraction=1e-4)
    assert never.queries_to_top is None


def test_same_seed_same_search_and_in_memory_study_is_removed() -> None:
    a = run_one(dataset="citeseer", strategy="local", seed=5, n_trials=15)
    b = run_one(dataset="citeseer", strategy="local", seed=5, n_trials=15)
    c = run_one(dataset="citeseer", strategy="local", seed=6, n_trials=15)
    assert a.same_search(b)
    assert not a.same_search(c)
    names = [s.name for s in RDBStorage("sqlite://").list_studies()]
    assert not [n for n in names if n.startswith("bench-nas-bench-graph-citeseer-local")]


def test_budget_is_a_deprecated_alias_of_n_trials() -> None:
    with pytest.warns(FutureWarning, match="pass n_trials|use n_trials"):
        r = run_one(dataset="cora", strategy="random", seed=0, budget=4)
    assert r.n_trials == 4
    assert r.same_search(run_one(dataset="cora", strategy="random", seed=0, n_trials=4))
    with pytest.warns(FutureWarning, match="use n_trials"):
        assert r.budget == 4
    with pytest.warns(FutureWarning), pytest.raises(TypeError, match="pass n_trials only"):
        run_one(dataset="cora", strategy="random", seed=0, n_trials=5, budget=4)
    with pytest.warns(FutureWarning):
        comp = run_comparison(
            datasets=["cora"], strategies=["random"], seeds=1, budget=3, checkpoints=[3]
        )
    assert comp.n_trials == 3
    with pytest.warns(FutureWarning):
        assert comp.budget == 3


def test_run_one_accepts_aliases_and_case() -> None:
    r = run_one(benchmark="NAS_Bench_Graph", dataset="Cora", strategy="random", seed=0, n_trials=3)
    assert (r.benchmark, r.dataset) == ("nas-bench-graph", "cora")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategy": "evolutoin"}, UnknownNameError, "Unknown strategy 'evolutoin'.*evolution"),
        ({"dataset": "coro"}, UnknownNameError, "data set 'coro'.*Did you mean 'cora'"),
        ({"benchmark": "nb301"}, UnknownNameError, "Unknown benchmark 'nb301'"),
        ({"n_trials": 0}, ValueError, "n_trials must be an int >= 1; got 0"),
        ({"n_trials": 2.5}, ValueError, "n_trials must be an int >= 1; got 2.5"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0; got -1"),
        ({"top_fraction": 0.0}, ValueError, r"top_fraction must be a number in \(0, 1\]"),
        ({"metric": "test_accuracy"}, UnknownNameError, "test metric, for reporting only"),
        ({"metric": "valid_acc"}, UnknownNameError, "Did you mean 'valid_accuracy'"),
        ({"test_metric": "tst"}, UnknownNameError, "Unknown test metric"),
    ],
)
def test_run_one_rejects_bad_input(kwargs: dict[str, object], error: type, match: str) -> None:
    args: dict[str, object] = {"dataset": "cora", "strategy": "random", "seed": 0, "n_trials": 3}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        run_one(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategies": ["random", "annealing"]}, UnknownNameError, "strategy 'annealing'"),
        ({"datasets": ["cora", "mnist"]}, UnknownNameError, "data set 'mnist'"),
        ({"datasets": []}, ValueError, "datasets is empty"),
        ({"strategies": ["random", "random"]}, ValueError, "strategies must be distinct"),
        ({"seeds": 0}, ValueError, "seeds must be an int >= 1; got 0"),
        ({"seeds": [1, 1]}, ValueError, "seeds must be distinct"),
        ({"seeds": []}, ValueError, "seeds is empty"),
        ({"seeds": "3"}, TypeError, "seeds must be an int N"),
        ({"n_trials": -5}, ValueError, "n_trials must be an int >= 1"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be an int >= 1; got 0"),
        ({"checkpoints": [0]}, ValueError, "each checkpoint must be an int >= 1"),
    ],
)
def test_run_comparison_rejects_bad_input(
    kwargs: dict[str, object], error: type, match: str
) -> None:
    args: dict[str, object] = {
        "datasets": ["cora"], "strategies": ["random"], "seeds": 1, "n_trials": 2,
        "checkpoints": [1],
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(error, match=match):
        run_comparison(**args)  # type: ignore[arg-type]


def test_checkpoints_above_n_trials_are_dropped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match=r"Checkpoints \[50, 100\] exceed the budget of 12"):
        comp = run_comparison(
            datasets=["cora"], strategies=["random"], seeds=2, n_trials=12,
            checkpoints=(5, 50, 100),
        )  # fmt: skip
    assert comp.checkpoints == (5, 12)
    assert "valid_regret@12" in comp.summary().columns
    assert "valid_regret@50" not in comp.summary().columns


# ---------------------------------------------------------------- comparisons
def test_comparison_is_ordered_and_summarised_per_dataset_and_strategy() -> None:
    comp = run_comparison(
        datasets=["cora", "proteins"], strategies=["random", "tpe"], seeds=[4, 2], n_trials=10,
        checkpoints=(5, 10),
    )  # fmt: skip
    keys = [(r.dataset, r.strategy, r.seed) for r in comp.runs]
    assert keys == [  # data set, strategy, seed: in the order given
        (d, s, seed) for d in ("cora", "proteins") for s in ("random", "tpe") for seed in (4, 2)
    ]
    df = comp.summary()
    assert list(df["dataset"]) == ["cora", "cora", "proteins", "proteins"]
    assert list(df["strategy"]) == ["random", "tpe", "random", "tpe"]
    row = df.iloc[0]
    runs = comp.select("cora", "random")
    assert row["valid_regret@10"] == pytest.approx(np.median([r.valid_regret[9] for r in runs]))
    assert row["test_regret@5"] == pytest.approx(np.median([r.test_regret[4] for r in runs]))
    assert row["n_seeds"] == 2


@pytest.mark.slow
def test_n_jobs_2_gives_the_same_results_as_n_jobs_1() -> None:
    kwargs: dict[str, object] = {
        "datasets": ["cora", "photo"], "strategies": ["evolution", "tpe"], "seeds": 2,
        "n_trials": 15, "checkpoints": (5, 15),
    }  # fmt: skip
    serial = run_comparison(n_jobs=1, **kwargs)  # type: ignore[arg-type]
    parallel = run_comparison(n_jobs=2, **kwargs)  # type: ignore[arg-type]
    assert len(serial.runs) == len(parallel.runs) == 8
    for a, b in zip(serial.runs, parallel.runs, strict=True):
        assert a.same_search(b), (a.dataset, a.strategy, a.seed)
    cols = [c for c in serial.summary().columns if not c.startswith("overhead")]
    assert serial.summary()[cols].equals(parallel.summary()[cols])


def test_summary_statistics_and_queries_to_top_on_known_runs() -> None:
    runs = [
        _fake("random", 0, [0.4, 0.3, 0.3, 0.1], top=3),
        _fake("random", 1, [0.5, 0.5, 0.2, 0.2], top=None),
        _fake("random", 2, [0.6, 0.4, 0.2, 0.0], top=None),
        _fake("evolution", 0, [0.4, 0.1, 0.0, 0.0], top=2, overhead_ms=0.5),
        _fake("evolution", 1, [0.4, 0.2, 0.1, 0.0], top=4, overhead_ms=0.5),
        _fake("evolution", 2, [0.4, 0.2, 0.1, 0.0], top=3, overhead_ms=0.5),
    ]
    comp = Comparison(runs, checkpoints=(2, 4, 10))
    assert comp.checkpoints == (2, 4)  # 10 > budget: dropped
    df = comp.summary().set_index("strategy")
    assert df.at["random", "valid_regret@4"] == pytest.approx(0.1)
    assert df.at["random", "valid_regret@4_q25"] == pytest.approx(0.05)
    assert df.at["random", "valid_regret@4_q75"] == pytest.approx(0.15)
    assert df.at["random", "test_regret@2"] == pytest.approx(0.8)
    # Two of three random runs never reached the top: the median run did not either.
    assert df.at["random", "queries_to_top"] == ">4"
    assert math.isinf(df.at["random", "queries_to_top_median"])
    assert df.at["random", "n_reached_top"] == 1
    assert df.at["evolution", "queries_to_top"] == "3"
    assert df.at["evolution", "overhead_ms"] == pytest.approx(0.5)
    md = comp.to_markdown()
    assert "| valid regret @2 | 40.000 [35.000, 45.000] | **20.000 [15.000, 20.000]** |" in md
    assert "| queries to top 0.5 % | >4 (1/3) | **3 (3/3)** |" in md
    assert "regret in accuracy points" in md
    overview = comp.overview_markdown()
    assert "| cora | 10.000 | **0.000** |" in overview


@pytest.mark.slow  # the first import of scipy.stats takes about a second
def test_head_to_head_compares_medians_per_dataset() -> None:
    runs = [_fake("random", k, [0.5, 0.3 + k / 100]) for k in range(4)]
    runs += [_fake("evolution", k, [0.5, 0.1 + k / 100]) for k in range(4)]
    comp = Comparison(runs, checkpoints=(2,))
    h2h = comp.head_to_head("evolution", "random")
    assert list(h2h["dataset"]) == ["cora"]
    assert h2h.loc[0, "evolution_median"] == pytest.approx(0.115)
    assert h2h.loc[0, "random_median"] == pytest.approx(0.315)
    assert bool(h2h.loc[0, "a_better"])
    assert h2h.loc[0, "p_value"] < 0.05
    reverse = comp.head_to_head("random", "evolution", checkpoint=1)
    assert bool(reverse.loc[0, "tie"])
    assert reverse.loc[0, "p_value"] == 1.0
    with pytest.raises(UnknownNameError, match="Unknown strategy in this comparison 'tpe'"):
        comp.head_to_head("tpe", "random")


def test_ties_are_not_bolded() -> None:
    runs = [_fake("random", 0, [0.2, 0.1]), _fake("evolution", 0, [0.2, 0.1])]
    md = Comparison(runs, checkpoints=(2,)).to_markdown()
    assert "**" not in md.split("queries to top")[0]


def test_comparison_needs_runs() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        Comparison([])


@pytest.mark.slow
def test_plot_curves_writes_one_png_per_dataset_and_an_overview(tmp_path: Path) -> None:
    runs = [
        _fake(s, seed, [0.3, 0.2, 0.0 if s == "evolution" else 0.1], dataset=d)
        for d in ("cora", "photo")
        for s in ("random", "evolution")
        for seed in range(2)
    ]
    paths = Comparison(runs).plot_curves(tmp_path / "img")
    assert [p.name for p in paths] == [
        "regret_nas-bench-graph_cora.png",
        "regret_nas-bench-graph_photo.png",
        "regret_nas-bench-graph_overview.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 5_000


# ---------------------------------------------------------------- docs sections
def test_write_section_creates_appends_and_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "benchmarks.md"
    write_section(path, "alpha", "first alpha")
    assert (
        path.read_text()
        == "# Benchmarks\n\n<!-- BEGIN alpha -->\nfirst alpha\n<!-- END alpha -->\n"
    )
    write_section(path, "beta", "beta body\n")
    text = path.read_text()
    path.write_text(text + "\nHand-written closing words.\n")
    write_section(path, "alpha", "second alpha\nwith two lines")
    assert path.read_text() == (
        "# Benchmarks\n\n<!-- BEGIN alpha -->\nsecond alpha\nwith two lines\n<!-- END alpha -->"
        "\n\n<!-- BEGIN beta -->\nbeta body\n<!-- END beta -->\n\nHand-written closing words.\n"
    )
    write_section(path, "beta", "")
    assert "<!-- BEGIN beta -->\n\n<!-- END beta -->" in path.read_text()
    assert "second alpha\nwith two lines" in path.read_text()


def test_write_section_refuses_broken_markers_and_bad_names(tmp_path: Path) -> None:
    path = tmp_path / "b.md"
    path.write_text("# B\n<!-- BEGIN x -->\nno end\n")
    with pytest.raises(ValueError, match="exactly one of each"):
        write_section(path, "x", "body")
    assert path.read_text() == "# B\n<!-- BEGIN x -->\nno end\n"
    path.write_text("<!-- END y -->\n<!-- BEGIN y -->\n")
    with pytest.raises(ValueError, match="END before BEGIN"):
        write_section(path, "y", "body")
    with pytest.raises(ValueError, match="section must be a one-line name"):
        write_section(path, "a -- b", "body")
    assert not list(tmp_path.glob(".b.md.*"))  # no temporary file left behind


# ---------------------------------------------------------------- the scripts
def _script(name: str) -> object:
    import importlib.util
    import sys

    root = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", root / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(root))
    return module


@pytest.mark.slow
def test_scripts_write_their_own_sections(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    tabular = _script("tabular_strategies")
    overhead = _script("overhead")
    args = ["--seeds", "2", "--n-trials", "12", "--datasets", "cora", "--strategies", "random",
            "--checkpoints", "5,12", "--n-jobs", "1", "--quiet", "--output", str(out),
            "--img-dir", str(tmp_path / "img")]  # fmt: skip
    assert tabular.main(args) == 0  # type: ignore[attr-defined]
    overhead_args = ["--trials", "15", "--repeats", "1", "--strategies", "random"]
    overhead_args += ["--no-memory", "--output", str(out)]
    rc = overhead.main(overhead_args)  # type: ignore[attr-defined]
    text = out.read_text()
    # Timings on a shared machine decide pass or fail; the exit code must say which.
    overhead_section = text.split("<!-- BEGIN overhead -->")[1]
    assert "| `random` |" in overhead_section
    assert rc == (1 if "**FAIL**" in overhead_section else 0)
    assert text.startswith("# Benchmarks\n")
    assert text.count("<!-- BEGIN tabular-strategies -->") == 1
    assert text.count("<!-- BEGIN overhead -->") == 1
    assert "`tpe`" in text  # the peer baseline is always compared
    assert "| valid regret @12 |" in text
    assert "Does evolution beat random" not in text  # evolution was not run
    assert "| `random` |" in text
    assert (tmp_path / "img" / "regret_nas-bench-graph_cora.png").is_file()
