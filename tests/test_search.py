"""metanas.search: the search modes of ``metanas search``, called from Python."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import metanas
from metanas.search import (
    DEFAULT_SEED,
    build_benchmark,
    parse_objectives_spec,
    prepare_search,
    run_search,
    search_summary,
)
from metanas.spaces import NB201Space


def test_benchmark_search_is_the_documented_api_call(db_url: str) -> None:
    summary = run_search(
        dataset="cora", strategy="evolution", n_trials=12, storage=db_url, study_name="s"
    )
    bench = metanas.benchmarks.NasBenchGraph("cora")
    api = metanas.create_study(
        name="api", storage=db_url, space=bench.space, strategy="evolution", seed=0,
        metric="valid_accuracy", direction="maximize", task="nas-bench-graph/cora",
    )  # fmt: skip
    api.optimize(bench, n_trials=12)
    stored = metanas.load_study("s", storage=db_url)
    assert [t.arch for t in stored.trials] == [t.arch for t in api.trials]
    assert (summary["n_trials"], summary["n_new_trials"], summary["resumed"]) == (12, 12, False)
    assert summary["task"] == "nas-bench-graph/cora"
    assert summary["regret"] == pytest.approx(summary["optimum"] - summary["best"]["value"])
    assert summary["budget"] == 12  # the JSON key metanas search --json has always printed


def test_default_name_and_resume_runs_only_the_rest(db_url: str) -> None:
    first = prepare_search(dataset="cora", n_trials=5, storage=db_url)
    assert first.study.name == f"cora-random-s{DEFAULT_SEED}"
    assert (first.resumed, first.n_new) == (False, 5)
    first.run()
    again = prepare_search(dataset="cora", n_trials=8, storage=db_url)
    assert (again.resumed, again.n_new) == (True, 3)
    assert again.run()["n_trials"] == 8
    latency = prepare_search(dataset="cora", metric="latency", n_trials=1, storage=db_url)
    assert latency.study.name == "cora-random-s0-latency"
    assert latency.study.objectives == (("latency", "minimize"),)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"strategy": "tpe"}, "created with --strategy evolution, not tpe"),
        ({"seed": 3}, "created with --seed 0, not 3"),
        ({"metric": "latency"}, "optimises valid_accuracy:max, not latency:min"),
        ({"settings": {"population_size": 7}}, "strategy setting population_size=20, not 7"),
        ({"dataset": "citeseer"}, "searches task 'nas-bench-graph/cora'"),
    ],
)
def test_resume_refuses_a_changed_argument(
    db_url: str, changed: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "dataset": "cora", "strategy": "evolution", "seed": 0, "n_trials": 3,
        "storage": db_url, "study_name": "fixed", "settings": {"population_size": 20},
    }  # fmt: skip
    run_search(**args)
    with pytest.raises(ValueError, match=message):
        prepare_search(**{**args, **changed})
    assert metanas.load_study("fixed", storage=db_url).n_finished == 3


def test_resume_refuses_another_space(db_url: str) -> None:
    args: dict[str, object] = {
        "data": "iris", "space": "mlp", "epochs": 1, "storage": db_url, "study_name": "t",
    }  # fmt: skip
    assert not prepare_search(**args).resumed  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differs from the one study 't' was created with"):
        prepare_search(**{**args, "space": "cnn"})  # type: ignore[arg-type]


def test_table_mode_reads_the_csv_and_takes_the_file_stem(tmp_path: Path) -> None:
    table = tmp_path / "mine.csv"
    space = NB201Space()
    archs = [a for _, a in zip(range(5), space.enumerate(), strict=False)]
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "acc", "lat"])
        for i, a in enumerate(archs):
            w.writerow([space.format(a), i, 10 - i])
    bench, stem = build_benchmark(table=table, space="nb201", metric="lat", minimize=["lat"])
    assert stem == "mine"
    assert bench.direction("lat") == "minimize"
    assert bench.optimum("lat", "minimize") == 6
    with pytest.raises(ValueError, match="--table needs --space"):
        build_benchmark(table=table)
    with pytest.raises(ValueError, match="--space only goes with --table"):
        build_benchmark(dataset="cora", space="nb201")


def test_data_mode_builds_a_training_evaluator_without_a_benchmark(db_url: str) -> None:
    from metanas.evaluation.train import TrainEvaluator

    run = prepare_search(data="iris", space="mlp", epochs=1, n_trials=1, storage=db_url)
    assert isinstance(run.evaluator, TrainEvaluator)
    assert run.benchmark is None
    assert run.task is not None
    assert run.task.name == "iris"
    assert run.study.name == "iris-mlp-random-s0"
    assert run.study.user_attrs["evaluator"]["max_epochs"] == 1
    assert run.study.task_descriptors == dict(run.evaluator.task_descriptors())
    with pytest.raises(ValueError, match="cannot be trained"):
        prepare_search(data="iris", space="nas-bench-graph", storage="sqlite://")
    with pytest.raises(ValueError, match="--table searches a benchmark table"):
        prepare_search(data="iris", table="x.csv", storage="sqlite://")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "cora", "epochs": 3}, "--epochs goes with --data"),
        ({"dataset": "cora", "timeout_s": 60.0}, "--timeout-min goes with --data"),
        ({"dataset": "cora", "strategy": "evolutoin"}, "Did you mean 'evolution'?"),
        ({"dataset": "cora", "metric": "test_accuracy"}, "reserved for reporting"),
        ({"dataset": "cora", "objectives": "a,a"}, "names 'a' twice"),
        ({}, "Say what to search"),
    ],
)
def test_bad_arguments_fail_before_any_trial(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_search(storage="sqlite://", **kwargs)  # type: ignore[arg-type]


def test_parse_objectives_spec() -> None:
    assert parse_objectives_spec(None) is None
    assert parse_objectives_spec("a:max, b:min ,c") == [
        ("a", "maximize"), ("b", "minimize"), ("c", None),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="replaces --metric"):
        parse_objectives_spec("a", metric="b")
    with pytest.raises(ValueError, match="Cannot read objective 'a:up'"):
        parse_objectives_spec("a:up")


def test_two_objectives_summarise_the_pareto_front(db_url: str) -> None:
    summary = run_search(
        dataset="cora", strategy="nsga2", objectives="valid_accuracy:max,latency:min",
        n_trials=12, storage=db_url,
    )  # fmt: skip
    assert summary["best"] is None
    front = summary["pareto_front"]
    assert front
    accs = [t["metrics"]["valid_accuracy"] for t in front]
    assert accs == sorted(accs, reverse=True)


def test_summary_of_a_study_without_a_benchmark_has_no_regret(db_url: str) -> None:
    run = prepare_search(dataset="cora", n_trials=3, storage=db_url)
    run.run()
    s = search_summary(run.study, None, db_url, 3, False, 3, 0.5)
    assert (s["optimum"], s["regret"], s["wall_time_s"]) == (None, None, 0.5)
    assert s["best"]["arch"] == run.study.space.format(run.study.best_trial.arch)


def test_training_resume_keeps_or_refuses_what_a_trial_measures(db_url: str) -> None:
    args: dict[str, object] = {
        "data": "iris", "space": "mlp", "epochs": 2, "storage": db_url, "study_name": "t",
    }  # fmt: skip
    assert not prepare_search(**args).resumed  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"created with --epochs 2, not --epochs 3; .*new --study name"
    ):
        prepare_search(**{**args, "epochs": 3})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="created without --max-params, not --max-params 1000"):
        prepare_search(**{**args, "max_params": 1000})  # type: ignore[arg-type]
    # Left out, the stored settings are reused; threads may change (speed, not results).
    again = prepare_search(data="iris", space="mlp", storage=db_url, study_name="t", threads=2)
    assert again.resumed
    assert (again.evaluator.max_epochs, again.evaluator.threads) == (2, 2)


def test_training_resume_reads_settings_stored_with_n_threads(db_url: str) -> None:
    first = prepare_search(data="iris", space="mlp", epochs=2, storage=db_url, study_name="old")
    old = {**first.study.user_attrs["evaluator"], "n_threads": None}
    del old["threads"]
    first.study.set_user_attr("evaluator", old)  # as stored before threads= existed
    again = prepare_search(data="iris", space="mlp", storage=db_url, study_name="old")
    assert (again.evaluator.max_epochs, again.evaluator.threads) == (2, 1)


def test_resume_without_seed_uses_the_stored_seed_for_splits(db_url: str) -> None:
    first = prepare_search(data="iris", epochs=1, seed=5, storage=db_url, study_name="s5")
    again = prepare_search(data="iris", storage=db_url, study_name="s5")
    assert again.task is not None
    assert first.task is not None
    assert np.array_equal(again.task.y_valid, first.task.y_valid)
    assert again.evaluator.seed == 5


def test_threads_default_one_and_checked_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    import metanas.tasks

    run = prepare_search(data="iris", epochs=1, n_trials=1, storage="sqlite://")
    assert run.evaluator.threads == 1
    assert run.study.user_attrs["evaluator"]["threads"] == 1

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded data before checking the cheap arguments")

    monkeypatch.setattr(metanas.tasks, "load_task", no_loading)
    for bad, message in (
        ({"n_jobs": 0}, r"n_jobs must be -1 \(one per core\) or an int >= 1; got 0"),
        ({"threads": 0}, "threads must be an int >= 1"),
        ({"n_trials": 0}, "n_trials must be an int >= 1; got 0"),
    ):
        with pytest.raises(ValueError, match=message):
            prepare_search(data="iris", storage="sqlite://", **bad)  # type: ignore[arg-type]


def test_cuda_without_a_gpu_is_refused_before_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import metanas.tasks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(metanas.tasks, "load_task", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match=r"device 'cuda' needs a CUDA GPU"):
        prepare_search(data="iris", device="cuda", storage="sqlite://")


def test_encoding_goes_with_a_csv_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--encoding is for a CSV --data file"):
        prepare_search(data="iris", encoding="latin-1", storage="sqlite://")
    with pytest.raises(ValueError, match="--encoding goes with --data"):
        prepare_search(dataset="cora", encoding="latin-1", storage="sqlite://")
    path = tmp_path / "cafe.csv"
    rows = "".join(f"{i},caf\xe9{i % 2},{'xy'[i % 2]}\n" for i in range(30))
    path.write_bytes(("a,b,label\n" + rows).encode("latin-1"))
    run = prepare_search(
        data=str(path), target="label", encoding="latin-1", epochs=1, storage="sqlite://"
    )
    assert run.study.user_attrs["task_source"]["read_csv"] == {"encoding": "latin-1"}
