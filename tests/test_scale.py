"""Scale: a large experience memory read as a ranked sample, the meta strategy's lazy pool.

Small, fast versions of benchmarks/scale.py's first measurement (a 1,000,000-trial memory):
what the sampled read keeps, that it equals the full read where a task is small, and that
the meta strategy's asks do not change when its candidate pool is built late.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metanas
from metanas.meta import ExperienceMemory
from metanas.storage import RDBStorage
from metanas.strategies.base import Observation
from metanas.strategies.meta import MetaStrategy

SPACE = metanas.SearchSpace({"a": list(range(5)), "b": list(range(5)), "c": list(range(5))})


def _value(arch: metanas.Architecture, sign: float) -> float:
    return sign * (arch["a"] + 0.5 * arch["b"] - 0.25 * arch["c"])


def _memory(path: Path, sizes: dict[str, tuple[int, float, str]]) -> str:
    """A store with one random-search study per task: ``{task: (trials, sign, direction)}``."""
    url = f"sqlite:///{path}"
    for i, (task, (n, sign, direction)) in enumerate(sizes.items()):
        study = metanas.create_study(
            space=SPACE, storage=url, name=f"{task}-s", task=task, seed=i,
            metric=f"acc:{direction[:3]}", strategy="random",
        )  # fmt: skip
        study.optimize(lambda a, s=sign: _value(a, s), n_trials=n)
    return url


def test_sampled_read_equals_the_full_read_for_tasks_below_the_cap(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"up": (20, 1.0, "maximize"), "down": (15, -1.0, "minimize")})
    memory = ExperienceMemory(url)
    full = memory.past_tasks("new", metric="acc", space=SPACE)
    sampled = memory.past_tasks("new", metric="acc", space=SPACE, max_rows_per_task=100)
    assert [p.to_dict() for p in sampled] == [p.to_dict() for p in full]
    for a, b in zip(full, sampled, strict=True):
        assert a.history is not None
        assert b.history is not None
        assert a.history.keys == b.history.keys
        np.testing.assert_array_equal(a.history.values, b.history.values)
        assert (a.history.direction, a.history.studies) == (b.history.direction, b.history.studies)


def test_sampled_read_keeps_the_best_half_and_a_spread_of_the_rest(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"big": (120, -1.0, "minimize")})
    memory = ExperienceMemory(url)
    (full,) = memory.past_tasks("new", metric="acc", space=SPACE)
    (part,) = memory.past_tasks("new", metric="acc", space=SPACE, max_rows_per_task=20)
    assert full.history is not None
    assert part.history is not None
    assert full.used
    assert part.used
    assert part.direction == "minimize"
    # 10 best (ranked in SQL, smallest first), then about 10 of the other 110 spread over them.
    assert len(part.history) == part.n_evaluations == 20
    assert part.history.best_architectures(10) == full.history.best_architectures(10)
    ranks = {full.history.keys[j]: i for i, j in enumerate(full.history.order())}
    rest = sorted(ranks[k] for k in part.history.keys if ranks[k] >= 10)
    assert rest[0] <= 20
    assert rest[-1] >= 100


def test_sampled_read_reports_a_skipped_task_as_the_full_read_does(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"up": (12, 1.0, "maximize")})
    memory = ExperienceMemory(url)
    full = memory.past_tasks("new", metric="loss", space=SPACE, metrics=["loss", "err"])
    sampled = memory.past_tasks(
        "new", metric="loss", space=SPACE, metrics=["loss", "err"], max_rows_per_task=50
    )
    assert [p.to_dict() for p in sampled] == [p.to_dict() for p in full]
    assert not sampled[0].used
    assert "reports none of memory_metrics" in sampled[0].reason
    with pytest.raises(ValueError, match="max_rows_per_task must be an int >= 2"):
        memory.past_tasks("new", metric="acc", max_rows_per_task=1)


def test_storage_sample_of_a_small_task_is_every_trial_in_evaluation_order(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"t": (30, 1.0, "maximize")})
    store = RDBStorage(url)
    assert store.tasks_reporting(["t", "nope"], "acc") == {"t"}
    assert store.tasks_reporting(["t"], "loss") == set()
    rows = store.task_metric_sample(["t"], "acc", "maximize", top=30, spread=1)["t"]
    every = [(t.arch.to_string(), t.metrics["acc"]) for t in store.get_trials(1)]
    assert [(metanas.Architecture.from_json(a).to_string(), v) for _s, a, v in rows] == every


def test_meta_strategy_asks_the_same_with_its_pool_built_late(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"up": (40, 1.0, "maximize"), "mid": (40, 0.5, "maximize")})
    past = ExperienceMemory(url).memory_for("new", metric="acc", space=SPACE)

    def asks(eager: bool) -> list[str]:
        s = MetaStrategy(SPACE, seed=3, n_warm=2)
        s.set_memory(past, task="new")
        assert s._pool_stale  # the pool waits for the first model-based ask
        if eager:
            s._pool_stale = False
            s._build_pool()
        out = []
        for i in range(8):
            arch = s.ask()
            out.append(arch.to_string())
            s.tell(Observation(arch, _value(arch, 1.0), number=i))
        return out

    assert asks(eager=False) == asks(eager=True)


def test_a_meta_study_reads_at_most_its_rows_per_task(tmp_path: Path) -> None:
    url = _memory(tmp_path / "m.db", {"big": (120, 1.0, "maximize")})
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", task="new", metric="acc", strategy="meta", memory=url,
        strategy_settings={"max_past_points": 10, "n_past_best": 3},
    )  # fmt: skip
    strategy = study.strategy
    assert isinstance(strategy, MetaStrategy)
    assert strategy.memory_rows_per_task == 10
    (model,) = strategy._past
    assert model.n <= 11  # 5 best + about 5 spread, of 120 trials
