"""The memory's predictor, zero-shot suggestions and ``metanas suggest``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import metanas
from conftest import table_history
from metanas.benchmarks import NasBenchGraph
from metanas.benchmarks.nasbenchgraph import NBG_GRAPH_STATS
from metanas.cli import app
from metanas.meta import (
    PORTFOLIO_NOISE,
    NotFittedError,
    TaskHistory,
    TransferPredictor,
    descriptor_similarity,
    greedy_portfolio,
    rank_correlation,
    suggest,
)
from metanas.spaces import NasBenchGraphSpace

runner = CliRunner()


def _task(dataset: str) -> str:
    return f"nas-bench-graph/{dataset}"


@pytest.fixture(scope="module")
def past() -> dict[str, TaskHistory]:
    return {_task(d): table_history(d, 100, i) for i, d in enumerate(("cs", "physics", "photo"))}


@pytest.fixture(scope="module")
def memory_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with short random searches of cora, citeseer and photo (descriptors stored)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('pred') / 'experience.db'}"
    for d in ("cora", "citeseer", "photo"):
        bench = NasBenchGraph(d)
        study = metanas.create_study(
            name=f"mem-{d}", storage=url, space=bench.space, strategy="random", seed=0,
            task=_task(d), task_descriptors=bench.task_descriptors(),
        )  # fmt: skip
        study.optimize(bench, n_trials=30)
    return url


# ================================================================= descriptors


def test_nas_bench_graph_descriptors_are_numeric_and_tell_data_sets_apart() -> None:
    cora = NasBenchGraph("cora").task_descriptors()
    assert cora["n_nodes"] == 2708
    assert cora["n_classes"] == 7
    assert cora["homophily"] == 0.81
    assert cora["avg_degree"] == pytest.approx(2 * 5278 / 2708, abs=0.01)
    assert "homophily" not in NasBenchGraph("proteins").task_descriptors()
    assert set(NBG_GRAPH_STATS) == set(metanas.benchmarks.NBG_DATASETS)
    others = {d: NasBenchGraph(d).task_descriptors() for d in ("citeseer", "arxiv")}
    sims = descriptor_similarity(cora, others)
    # Two small citation graphs are closer than a small one and a 169k-node one.
    assert sims["citeseer"].value > sims["arxiv"].value + 0.2


# ================================================================= the predictor


def test_predictor_learns_a_task_from_its_results() -> None:
    """Fitted on 150 results of cs, it ranks 300 unseen cs architectures well."""
    train, test = table_history("cs", 150, 0), table_history("cs", 300, 1)
    model = TransferPredictor(NasBenchGraphSpace()).fit({train.task: train})
    rho = rank_correlation(model.predict(test.archs), test.values, "spearman")
    assert rho > 0.6


def test_predictor_transfers_to_an_unseen_task(past: dict[str, TaskHistory]) -> None:
    """Trained on cs, physics, photo only, it ranks citeseer better than chance (rho ~0.35)."""
    model = TransferPredictor(NasBenchGraphSpace()).fit(past)
    target = table_history("citeseer", 300, 5)
    pred = model.predict(target.archs, NasBenchGraph("citeseer").task_descriptors())
    assert rank_correlation(pred, target.values, "spearman") > 0.25
    assert model.bandwidth_ in (*model.cv_scores_, math.inf)
    assert sum(model.task_weights({"n_nodes": 3327}).values()) == pytest.approx(1.0)


def test_predictor_errors() -> None:
    space = NasBenchGraphSpace()
    with pytest.raises(NotFittedError, match=r"call fit\(memory\) first"):
        TransferPredictor(space).predict([space.sample(np.random.default_rng(0))])
    with pytest.raises(ValueError, match=r"bandwidth must be a number > 0"):
        TransferPredictor(space, bandwidth=0)
    with pytest.raises(TypeError, match=r"memory must be a dict \{task: TaskHistory\}"):
        TransferPredictor(space).fit([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"k must be an int >= 1; got 0"):
        TransferPredictor(space).fit({}).suggest({}, 0)


# ================================================================= suggest


def test_suggest_is_deterministic_diverse_and_better_than_the_median(
    past: dict[str, TaskHistory],
) -> None:
    space = NasBenchGraphSpace()
    desc = NasBenchGraph("computers").task_descriptors()
    a = suggest(past, space, _task("computers"), descriptors=desc, k=5)
    b = suggest(past, space, _task("computers"), descriptors=desc, k=5)
    assert [s.arch for s in a] == [s.arch for s in b]
    assert len({space.key(s.arch) for s in a}) == 5
    assert set(a[0].per_task) == set(past)
    # Each is predicted at least as good as a median past architecture on the mixture.
    assert all(s.score > 0 for s in a)
    bench = NasBenchGraph("computers")
    median = float(np.median(bench.values("valid_accuracy")))
    assert max(bench.query(s.arch, "valid_accuracy") for s in a) > median


def test_suggest_builds_its_portfolio_with_the_given_noise(past: dict[str, TaskHistory]) -> None:
    """suggest(noise=...) is greedy_portfolio on the predictor's per-task means and weights."""
    space = NasBenchGraphSpace()
    desc = NasBenchGraph("computers").task_descriptors()
    model = TransferPredictor(space).fit(past)
    pool = model.candidates(seed=0)
    mu = model.predict_tasks(pool)[0]
    w = np.array(list(model.task_weights(desc).values()))
    for noise in (0.0, 1.0, 3.0):
        picks = model.suggest(desc, 5, candidates=pool, noise=noise)
        expected = greedy_portfolio(mu, w, 5, noise=noise)
        assert [space.key(s.arch) for s in picks] == [space.key(pool[i]) for i in expected]
    # The default is the documented one.
    assert [s.arch for s in model.suggest(desc, 5, candidates=pool)] == [
        s.arch for s in model.suggest(desc, 5, candidates=pool, noise=PORTFOLIO_NOISE)
    ]


def test_suggest_never_learns_from_the_task_itself(past: dict[str, TaskHistory]) -> None:
    space = NasBenchGraphSpace()
    own = table_history("cs", 100, 9, name=_task("computers"))
    picks = suggest({**past, _task("computers"): own}, space, _task("computers"), k=3)
    assert _task("computers") not in picks[0].per_task
    assert [p.arch for p in picks] == [
        p.arch for p in suggest(past, space, _task("computers"), k=3, descriptors=own.descriptors)
    ]


def test_suggest_from_a_store_excludes_the_task_and_uses_its_descriptors(memory_url: str) -> None:
    space = NasBenchGraphSpace()
    picks = suggest(memory_url, space, _task("cora"), k=4)
    assert set(picks[0].per_task) == {_task("citeseer"), _task("photo")}
    with pytest.raises(ValueError, match=r"No descriptors for task 'new/task'.*descriptors="):
        suggest(memory_url, space, "new/task")
    fresh = suggest(memory_url, space, "new/task", descriptors={"n_nodes": 3000}, k=2)
    assert len(fresh) == 2
    assert set(fresh[0].per_task) == {
        _task("cora"),
        _task("citeseer"),
        _task("photo"),
    }


def test_suggest_with_an_empty_memory_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"The memory has no task other than 'x'"):
        suggest(
            f"sqlite:///{tmp_path / 'empty.db'}", NasBenchGraphSpace(), "x", descriptors={"a": 1}
        )


# ================================================================= CLI


def test_cli_suggest_prints_k_architectures(memory_url: str) -> None:
    res = runner.invoke(
        app,
        ["suggest", "--task", _task("cora"), "--k", "3", "--storage", memory_url, "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["task"] == _task("cora")
    assert len(out["suggestions"]) == 3
    space = NasBenchGraphSpace()
    for s in out["suggestions"]:
        space.parse(s["arch"])  # the space's notation
        assert _task("cora") not in s["per_task"]
    table = runner.invoke(
        app,
        ["suggest", "-t", "my-graph", "-b", "nas-bench-graph", "-d", "computers", "-k", "2",
         "--memory", memory_url],
    )  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "Zero-shot suggestions for my-graph" in table.stdout


def test_cli_suggest_takes_the_portfolio_noise(memory_url: str) -> None:
    desc = NasBenchGraph("computers").task_descriptors()
    space = NasBenchGraphSpace()
    base = ["suggest", "-t", "my-graph", "-b", "nas-bench-graph", "-d", "computers", "-k", "4",
            "--memory", memory_url, "--json"]  # fmt: skip
    for noise, extra in ((0.0, ["--noise", "0"]), (PORTFOLIO_NOISE, [])):
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 0, res.output
        got = [s["arch"] for s in json.loads(res.stdout)["suggestions"]]
        api = suggest(memory_url, space, "my-graph", descriptors=desc, k=4, noise=noise)
        assert got == [space.format(s.arch) for s in api]
    bad = runner.invoke(app, [*base, "--noise", "-1"])
    assert bad.exit_code == 2
    assert "Error: noise must be a finite number >= 0" in bad.output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--task", "unknown/task"], r"Error: No descriptors for task 'unknown/task'"),
        (
            ["--task", "t", "--memory", "sqlite:////no/such/dir/m.db"],
            r"Error: Memory .* does not exist",
        ),
        (["--task", "t", "-b", "nas-bench-graph"], r"Error: --benchmark needs --dataset"),
    ],
)
def test_cli_suggest_errors_exit_2_with_one_line(
    memory_url: str, args: list[str], match: str
) -> None:
    res = runner.invoke(app, ["suggest", "--storage", memory_url, *args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert pytest.importorskip("re").search(match, lines[0])
