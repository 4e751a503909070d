"""A memory of more past tasks than the meta strategy learns from (issue #16's scale target)."""

from __future__ import annotations

from pathlib import Path

import pytest

import metanas
import metanas.strategies.meta  # registers "meta" until the package imports it
from metanas.meta import (
    ExperienceMemory,
    TaskHistory,
    descriptor_similarity,
    prior_ranking,
    prior_task_weights,
)
from metanas.strategies.meta import MetaStrategy

SPACE = metanas.SearchSpace({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]})
OTHER = metanas.SearchSpace({"z": [0, 1, 2, 3, 4, 5]})


def _store(url: str, task: str, n: float, space: metanas.SearchSpace) -> None:
    study = metanas.create_study(
        name=f"{task}-search", storage=url, space=space, strategy="random", seed=0, task=task,
        metric="acc", task_descriptors={"n": n},
    )  # fmt: skip
    study.optimize(lambda a: float(sum(a.values())) * n, n_trials=8)


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Tasks t10..t40 of SPACE (descriptor n = 10..40), and one of another space (n = 39)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('mem') / 'memory.db'}"
    for n in (10, 20, 30):
        _store(url, f"t{n}", n, SPACE)
    _store(url, "other-space", 39, OTHER)
    _store(url, "t40", 40, SPACE)
    return url


def test_prior_weights_sharpen_with_the_power() -> None:
    """power 1: proportional to the similarity; larger: the closest task takes more."""
    # As in the task family: one close relative, and seven tasks that share only one of its
    # descriptors (similarity 0.25 each from the coverage alone).
    new = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    others = {"near": dict(new), **{f"far{i}": {"a": 1.0} for i in range(7)}}
    sims = descriptor_similarity(new, others)
    assert (sims["near"].value, sims["far0"].value) == pytest.approx((1.0, 0.25))
    w1 = prior_task_weights(new, others, power=1)
    assert w1 == pytest.approx({k: s.value / 2.75 for k, s in sims.items()})
    w3 = prior_task_weights(new, others, power=3)
    assert w3["near"] == pytest.approx(1 / (1 + 7 / 64))
    # Seven loosely similar tasks outweigh the close one at power 1, not at power 3.
    assert w1["near"] < sum(v for k, v in w1.items() if k != "near")
    assert w3["near"] > sum(v for k, v in w3.items() if k != "near")
    assert w3["far0"] == pytest.approx(w3["far6"])
    # The ranking does not depend on the power.
    assert prior_ranking(new, others)[0] == "near"
    # No descriptors: equal weights whatever the power.
    assert prior_task_weights(None, others, power=5) == {k: 1 / 8 for k in others}
    for bad in (0, -1.0, float("nan"), True, "3"):
        with pytest.raises(ValueError, match="power must be a finite number > 0"):
            prior_task_weights(new, others, power=bad)  # type: ignore[arg-type]


def test_prior_ranking_is_by_similarity_then_memory_order() -> None:
    others = {"a": {"n": 1.0}, "b": {"n": 90.0}, "c": {"n": 100.0}, "d": {"n": 1.0}}
    assert prior_ranking({"n": 100.0}, others) == ["c", "b", "a", "d"]
    assert prior_ranking(None, others) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("max_rows", [None, 20])
def test_past_tasks_reads_only_the_most_similar(memory: str, max_rows: int | None) -> None:
    read = ExperienceMemory(memory).past_tasks(
        "new", metric="acc", space=SPACE, max_tasks=2, descriptors={"n": 38},
        max_rows_per_task=max_rows,
    )  # fmt: skip
    # The most similar (n = 39) is of another space: read, skipped, and replaced by the
    # next most similar; t10 and t20 are never read.
    assert [(e.task, e.used) for e in read] == [
        ("t30", True), ("other-space", False), ("t40", True),
    ]  # fmt: skip
    every = ExperienceMemory(memory).past_tasks("new", metric="acc", space=SPACE)
    assert [e.task for e in every] == ["t10", "t20", "t30", "other-space", "t40"]
    with pytest.raises(ValueError, match="max_tasks must be an int >= 1"):
        ExperienceMemory(memory).past_tasks("new", metric="acc", max_tasks=0)


def test_a_meta_study_learns_from_its_max_past_tasks_most_similar(
    memory: str, tmp_path: Path
) -> None:
    study = metanas.create_study(
        name="new-search", storage=f"sqlite:///{tmp_path / 'new.db'}", space=SPACE, strategy="meta",
        strategy_settings={"max_past_tasks": 2}, memory=memory, task="new", metric="acc",
        task_descriptors={"n": 12}, seed=0,
    )  # fmt: skip
    assert isinstance(study.strategy, MetaStrategy)
    assert study.strategy.past_tasks == ["t10", "t20"]
    whole = metanas.create_study(
        name="whole", storage=f"sqlite:///{tmp_path / 'new.db'}", space=SPACE,
        strategy="meta", memory=memory, task="new", metric="acc", seed=0,
    )  # fmt: skip
    assert whole.strategy.past_tasks == ["t10", "t20", "t30", "t40"]


def test_set_memory_keeps_the_most_similar_usable_tasks() -> None:
    archs = list(SPACE.enumerate())
    past = {
        f"t{n}": TaskHistory.from_evaluations(
            f"t{n}", archs, [a["a"] * n + a["b"] for a in archs], space=SPACE,
            descriptors={"n": n},
        )
        for n in (10, 20, 30, 40)
    }  # fmt: skip
    # Two architectures only: not usable, so it takes no place among the kept.
    past["t29"] = TaskHistory.from_evaluations(
        "t29", archs[:2], [0.0, 1.0], space=SPACE, descriptors={"n": 29}
    )
    meta = MetaStrategy(SPACE, max_past_tasks=2, seed=0)
    meta.set_memory(past, descriptors={"n": 33})
    assert meta.past_tasks == ["t30", "t40"]
    every = MetaStrategy(SPACE, seed=0)
    every.set_memory(past, descriptors={"n": 33})
    assert every.past_tasks == ["t10", "t20", "t30", "t40"]
    with pytest.raises(ValueError, match="max_past_tasks"):
        MetaStrategy(SPACE, max_past_tasks=0)
    # The portfolio starts from the kept tasks' best: a=3, b=3 for both.
    assert meta.ask() == SPACE.validate({"a": 3, "b": 3})
