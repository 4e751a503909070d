"""Task similarity: rank correlations, descriptor and response similarity, rank_tasks."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import metanas
from metanas.benchmarks import NasBenchGraph
from metanas.meta import (
    ExperienceMemory,
    SimilarityIndex,
    TaskHistory,
    descriptor_similarity,
    rank_correlation,
    rank_tasks,
    response_similarity,
    task_similarities,
)
from metanas.spaces import NasBenchGraphSpace

N_SHARED = 200


# ==================================================================== rank correlation


@pytest.mark.parametrize("n", [2, 5, 40, 300, 2000])
def test_rank_correlation_matches_scipy_with_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.integers(0, 10, size=n).astype(float)  # many ties
    y = x + rng.normal(scale=3.0, size=n)
    y[: n // 3] = np.round(y[: n // 3])
    assert rank_correlation(x, y, "spearman") == pytest.approx(stats.spearmanr(x, y).statistic)
    assert rank_correlation(x, y, "kendall") == pytest.approx(stats.kendalltau(x, y).statistic)


def test_rank_correlation_is_undefined_without_variation() -> None:
    assert math.isnan(rank_correlation([1.0], [2.0]))
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3], "spearman"))
    assert math.isnan(rank_correlation([1, 2, 3], [5, 5, 5], "kendall"))
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == -1.0
    with pytest.raises(ValueError, match=r"same length; got 3 and 2"):
        rank_correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"method must be 'kendall' or 'spearman'; got 'pearson'"):
        rank_correlation([1, 2], [1, 2], "pearson")  # type: ignore[arg-type]


# ==================================================================== real tables


@pytest.fixture(scope="module")
def shared_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, list[metanas.Architecture]]:
    """The same 200 distinct networks evaluated on cora and on citeseer, one study each."""
    space = NasBenchGraphSpace()
    rng = np.random.default_rng(7)
    archs: dict[int, metanas.Architecture] = {}
    while len(archs) < N_SHARED:
        a = space.sample(rng)
        archs.setdefault(space.key(a), a)
    url = f"sqlite:///{tmp_path_factory.mktemp('similarity') / 'shared.db'}"
    for ds in ("cora", "citeseer"):
        bench = NasBenchGraph(ds)
        study = metanas.create_study(
            name=f"{ds}-shared", storage=url, space=bench.space, strategy="random", seed=0,
            task=f"nas-bench-graph/{ds}",
        )  # fmt: skip
        for a in archs.values():
            study.enqueue(a)
        study.optimize(bench, n_trials=N_SHARED)
    return url, list(archs.values())


@pytest.mark.slow
def test_response_similarity_on_real_tables_matches_scipy(
    shared_store: tuple[str, list[metanas.Architecture]], nbg_space: NasBenchGraphSpace
) -> None:
    url, archs = shared_store
    memory = ExperienceMemory(url)
    cora = memory.history("nas-bench-graph/cora", space=nbg_space)
    citeseer_memory = memory.memory_for("nas-bench-graph/citeseer", space=nbg_space)
    assert list(citeseer_memory) == ["nas-bench-graph/cora"]
    citeseer = memory.history("nas-bench-graph/citeseer", space=nbg_space)
    cora_table, citeseer_table = NasBenchGraph("cora"), NasBenchGraph("citeseer")
    x = [cora_table.query(a, "valid_accuracy") for a in archs]
    y = [citeseer_table.query(a, "valid_accuracy") for a in archs]
    rho = stats.spearmanr(x, y).statistic
    tau = stats.kendalltau(x, y).statistic
    assert 0.0 < tau < rho < 1.0  # loosely related data sets

    sim = response_similarity(citeseer, cora, correlation="spearman", prior_n=10)
    assert (sim.task, sim.n_common, sim.method) == ("nas-bench-graph/cora", N_SHARED, "response")
    assert sim.raw == pytest.approx(rho, abs=1e-12)
    assert sim.value == pytest.approx(rho * N_SHARED / (N_SHARED + 10))
    sim = response_similarity(citeseer, cora)  # kendall by default
    assert sim.raw == pytest.approx(tau, abs=1e-12)
    # symmetric in its evidence
    assert response_similarity(cora, citeseer).raw == pytest.approx(tau, abs=1e-12)
    # through rank_tasks on the memory of citeseer
    ((task, value),) = rank_tasks(citeseer, citeseer_memory, method="response")
    assert task == "nas-bench-graph/cora"
    assert value == pytest.approx(tau * N_SHARED / (N_SHARED + 10))


@pytest.mark.slow
def test_response_similarity_on_a_subset_of_evidence(
    shared_store: tuple[str, list[metanas.Architecture]], nbg_space: NasBenchGraphSpace
) -> None:
    """The online case: the new task has evaluated 30 of the memory's architectures."""
    url, archs = shared_store
    memory = ExperienceMemory(url).memory_for("nas-bench-graph/citeseer", space=nbg_space)
    citeseer = NasBenchGraph("citeseer")
    first = archs[:30]
    values = [citeseer.query(a, "valid_accuracy") for a in first]
    evidence = TaskHistory.from_evaluations(
        "nas-bench-graph/citeseer", first, values, space=nbg_space
    )
    cora = NasBenchGraph("cora")
    rho = stats.spearmanr([cora.query(a, "valid_accuracy") for a in first], values).statistic
    (sim,) = SimilarityIndex(memory).response(evidence, correlation="spearman")
    assert sim.n_common == 30
    assert sim.raw == pytest.approx(rho)


# ==================================================================== response similarity


def _archs(n: int) -> list[metanas.Architecture]:
    return [metanas.Architecture({"x": i}) for i in range(n)]


def test_shrinkage_toward_zero_for_few_common_architectures() -> None:
    archs = _archs(50)
    past = TaskHistory.from_evaluations("past", archs, np.arange(50.0))
    values = []
    for n in (1, 2, 3, 5, 10, 50):
        new = TaskHistory.from_evaluations("new", archs[:n], np.arange(float(n)))
        sim = response_similarity(new, past, prior_n=10)
        assert sim.n_common == n
        values.append(sim.value)
    assert values[:2] == [0.0, 0.0]  # fewer than 3 common: no evidence
    assert values[2:] == pytest.approx([3 / 13, 5 / 15, 10 / 20, 50 / 60])
    no_shrink = response_similarity(
        TaskHistory.from_evaluations("new", archs[:5], np.arange(5.0)), past, prior_n=0
    )
    assert no_shrink.value == 1.0
    disjoint = TaskHistory.from_evaluations("new", _archs(60)[50:], np.arange(10.0))
    sim = response_similarity(disjoint, past)
    assert (sim.n_common, sim.value) == (0, 0.0)
    assert math.isnan(sim.raw)


def test_scores_are_oriented_by_direction() -> None:
    archs = _archs(10)
    acc = TaskHistory.from_evaluations("acc", archs, np.arange(10.0), direction="maximize")
    err = TaskHistory.from_evaluations("err", archs, -np.arange(10.0), direction="minimize")
    assert response_similarity(acc, err).raw == 1.0


def test_index_matches_pairwise_and_accepts_keys_and_scores() -> None:
    rng = np.random.default_rng(0)
    archs = _archs(80)
    memory = {
        f"t{i}": TaskHistory.from_evaluations(
            f"t{i}", archs[i * 5 : i * 5 + 60], rng.normal(size=60)
        )
        for i in range(5)
    }
    new = TaskHistory.from_evaluations("new", archs[::2], rng.normal(size=40))
    index = SimilarityIndex(memory)
    for sim, name in zip(index.response(new), memory, strict=True):
        pair = response_similarity(new, memory[name])
        assert (sim.task, sim.value, sim.n_common) == (name, pair.value, pair.n_common)
    same = index.response(keys=new.keys, scores=new.scores)
    assert same == index.response(new)
    assert index.scores_for(["nope", new.keys[0]]).shape == (5, 2)
    assert np.isnan(index.scores_for(["nope"])).all()
    with pytest.raises(ValueError, match=r"keys= and scores="):
        index.response()
    with pytest.raises(ValueError, match=r"keys and scores must have the same length; got 2 and 1"):
        index.response(keys=["a", "b"], scores=[1.0])
    with pytest.raises(TypeError, match=r"memory\['x'\] must be a TaskHistory; got dict"):
        SimilarityIndex({"x": {}})  # type: ignore[dict-item]


def test_online_response_similarity_is_cheap() -> None:
    """8 past tasks of 100 evaluations each; the new task's evidence grows to 100 points."""
    rng = np.random.default_rng(1)
    archs = _archs(400)
    memory = {
        f"t{i}": TaskHistory.from_evaluations(
            f"t{i}", [archs[j] for j in rng.choice(400, size=100, replace=False)],
            rng.normal(size=100),
        )
        for i in range(8)
    }  # fmt: skip
    index = SimilarityIndex(memory)
    keys = [a.to_string() for a in archs[:100]]
    scores = rng.normal(size=100)
    start = time.perf_counter()
    for n in range(1, 101):
        index.response(keys=keys[:n], scores=scores[:n])
    per_call = (time.perf_counter() - start) / 100
    assert per_call < 0.01, f"{per_call * 1e3:.2f} ms per update"


# ==================================================================== descriptors


def test_equal_descriptors_rank_first() -> None:
    others = {
        "far": {"n_samples": 60000, "n_features": 784, "n_classes": 10, "modality": "image"},
        "twin": {"n_samples": 1797, "n_features": 64, "n_classes": 10, "modality": "image"},
        "near": {"n_samples": 1500, "n_features": 30, "n_classes": 2, "modality": "image"},
        "text": {"n_samples": 2000, "n_features": 64, "n_classes": 10, "modality": "text"},
    }
    target = {"n_samples": 1797, "n_features": 64, "n_classes": 10, "modality": "image"}
    ranked = rank_tasks(target, {k: _hist(k, v) for k, v in others.items()}, method="descriptor")
    assert ranked[0] == ("twin", 1.0)
    assert [t for t, _ in ranked][-1] == "far"
    assert all(0.0 <= s <= 1.0 for _, s in ranked)
    sims = descriptor_similarity(target, others)
    assert sims["twin"].n_common == 4
    assert sims["near"].value < 1.0


def _hist(name: str, desc: dict[str, object]) -> TaskHistory:
    return TaskHistory.from_evaluations(name, [], [], descriptors=desc)


def test_missing_descriptors_and_identifiers() -> None:
    target = {"n": 100, "dataset": "new", "kind": "graph"}
    others = {
        "a": {"n": 100, "dataset": "a", "kind": "graph"},
        "b": {"n": 100, "dataset": "b"},  # kind unknown: compared on n only, half covered
        "c": {"dataset": "c"},  # nothing informative in common
        "d": {"n": 100, "dataset": "d", "kind": "graph", "extra": 3.0},
    }
    sims = descriptor_similarity(target, others)
    assert sims["a"].value == 1.0  # the data set's name, different for every task, is ignored
    assert sims["b"].value == pytest.approx(0.5)
    assert sims["b"].n_common == 1
    assert (sims["c"].value, sims["c"].n_common) == (0.0, 0)
    assert sims["d"].value == pytest.approx(2 / 3)
    named = descriptor_similarity(target, others, keys=["dataset"])
    assert named["a"].value == pytest.approx(math.exp(-0.5))


def test_wide_ranges_are_compared_on_a_log_scale() -> None:
    sims = descriptor_similarity(
        {"n": 1_000}, {"x10": {"n": 10_000}, "x100": {"n": 100_000}, "same": {"n": 1_000}}
    )
    assert sims["same"].value == 1.0 > sims["x10"].value > sims["x100"].value
    with pytest.raises(ValueError, match=r"bandwidth must be a number > 0; got 0"):
        descriptor_similarity({"n": 1}, {"a": {"n": 2}}, bandwidth=0)


# ==================================================================== rank_tasks


def test_auto_trusts_descriptors_first_and_evidence_as_it_grows() -> None:
    archs = _archs(60)
    x = np.arange(60.0)
    memory = {
        # looks like the new task, but ranks architectures the other way round
        "lookalike": TaskHistory.from_evaluations("lookalike", archs, -x, descriptors={"n": 10}),
        "useful": TaskHistory.from_evaluations("useful", archs, x, descriptors={"n": 5000}),
    }
    desc = {"n": 10}
    assert [t for t, _ in rank_tasks(desc, memory)] == ["lookalike", "useful"]
    few = TaskHistory.from_evaluations("new", archs[:2], x[:2], descriptors=desc)
    assert [t for t, _ in rank_tasks(few, memory)] == ["lookalike", "useful"]
    many = TaskHistory.from_evaluations("new", archs[:30], x[:30], descriptors=desc)
    ranked = task_similarities(many, memory)
    assert [s.task for s in ranked] == ["useful", "lookalike"]
    assert ranked[1].value < 0
    assert ranked[0].method == "auto"
    assert ranked[0].n_common == 30
    prior = descriptor_similarity(desc, {"useful": {"n": 5000}, "lookalike": {"n": 10}})
    w = 30 / (30 + 10)  # n / (n + prior_n)
    assert ranked[0].value == pytest.approx(w * 1.0 + (1 - w) * prior["useful"].value)
    assert ranked[1].value == pytest.approx(w * -1.0 + (1 - w) * prior["lookalike"].value)


def test_rank_tasks_errors_and_ties() -> None:
    memory = {
        "b": TaskHistory.from_evaluations("b", _archs(3), [1, 2, 3]),
        "a": TaskHistory.from_evaluations("a", _archs(3), [1, 2, 3]),
    }
    assert rank_tasks({}, memory) == [("a", 0.0), ("b", 0.0)]
    with pytest.raises(ValueError, match=r"method='response' needs the new task's evaluations"):
        rank_tasks({"n": 1}, memory, method="response")
    with pytest.raises(
        ValueError, match=r"method must be one of \['descriptor', 'response', 'auto'\]"
    ):
        rank_tasks({}, memory, method="both")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"target must be a TaskHistory .* or a dict"):
        rank_tasks([1, 2], memory)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"prior_n must be a number >= 0; got -1"):
        rank_tasks(memory["a"], memory, method="response", prior_n=-1)


def test_rank_tasks_on_a_stored_memory(tmp_path: Path, nbg_space: NasBenchGraphSpace) -> None:
    """Descriptors set on stored tasks reach rank_tasks through memory_for."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    mem = ExperienceMemory(url)
    for ds in ("cora", "citeseer", "pubmed"):
        bench = NasBenchGraph(ds)
        study = metanas.create_study(
            name=ds, storage=url, space=bench.space, seed=0, task=f"nas-bench-graph/{ds}"
        )
        study.optimize(bench, n_trials=3)
    mem.set_descriptors("nas-bench-graph/cora", {"n_nodes": 2708, "n_features": 1433})
    mem.set_descriptors("nas-bench-graph/citeseer", {"n_nodes": 3327, "n_features": 3703})
    mem.set_descriptors("nas-bench-graph/pubmed", {"n_nodes": 19717, "n_features": 500})
    memory = mem.memory_for("nas-bench-graph/photo", space=nbg_space)
    ranked = rank_tasks({"n_nodes": 3000, "n_features": 2000}, memory, method="descriptor")
    assert [t for t, _ in ranked][-1] == "nas-bench-graph/pubmed"
