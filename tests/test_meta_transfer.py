"""meta v2: the memory on every ask, metric-name transfer, growing memory (issue #14)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import metanas
import metanas.strategies.meta  # registers "meta" until the package imports it
from conftest import drive, table_history
from metanas.benchmarks import NasBenchGraph
from metanas.meta import ExperienceMemory, TaskHistory
from metanas.storage.rdb import RDBStorage
from metanas.strategies import create_strategy
from metanas.strategies.meta import TARGET, MetaStrategy

SPACE = metanas.SearchSpace({"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4], "c": [0, 1, 2, 3]})
W = {"a": [0.0, 0.3, 0.1, 0.9, 0.5], "b": [0.2, 0.0, 0.8, 0.4, 0.6], "c": [0.1, 0.7, 0.0, 0.3]}


def _value(arch: metanas.Architecture, sign: float = 1.0) -> float:
    """A task with one optimum (a=3, b=2, c=1) among the 100 architectures, and interactions."""
    v = sum(W[k][arch[k]] for k in W) + 0.2 * (arch["a"] == arch["b"])
    return sign * v


OPTIMUM = max(SPACE.enumerate(), key=_value)


def _past_study(url: str, task: str, metric: str, *, n: int = 100, sign: float = 1.0) -> None:
    study = metanas.create_study(
        name=f"past-{task}-{metric}", storage=url, space=SPACE, strategy="random", seed=1,
        task=task, metric=metric,
    )  # fmt: skip
    study.optimize(lambda a: _value(a, sign), n_trials=n)


def _new_study(storage: str, memory: str | None, **settings: object) -> metanas.Study:
    return metanas.create_study(
        name="new", storage=storage, space=SPACE, strategy="meta", seed=3, task="new-task",
        metric="valid_accuracy", memory=memory, strategy_settings=settings or None,
    )  # fmt: skip


def test_optimum_under_another_task_name_is_found_within_5_queries(tmp_path: Path) -> None:
    """(a) The memory holds the same task, searched under another task name and metric."""
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "same-task-other-name", "val_acc")
    for seed in range(3):
        study = metanas.create_study(
            name=f"new-{seed}", storage=f"sqlite:///{tmp_path / 'runs.db'}", space=SPACE,
            strategy="meta", seed=seed, task="new-task", memory=memory,
        )  # fmt: skip
        study.optimize(_value, n_trials=5)
        assert OPTIMUM in [t.arch for t in study.trials], seed
    assert study.strategy.past_tasks == ["same-task-other-name"]


def test_other_metric_names_are_transferred_in_their_own_direction(tmp_path: Path) -> None:
    """(b) Each past study's own first objective, its direction respected."""
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "up", "val_acc")
    # A task whose studies minimised an error: its best is the same optimum.
    study = metanas.create_study(
        name="down", storage=memory, space=SPACE, strategy="random", seed=2, task="down",
        metric="error", direction="minimize",
    )  # fmt: skip
    study.optimize(lambda a: 2.0 - _value(a), n_trials=100)
    entries = ExperienceMemory(memory).past_tasks("new-task", metric="valid_accuracy", space=SPACE)
    assert [(e.task, e.metric, e.direction, e.used) for e in entries] == [
        ("up", "val_acc", "maximize", True),
        ("down", "error", "minimize", True),
    ]
    new = _new_study(f"sqlite:///{tmp_path / 'runs.db'}", memory, n_warm=1)
    assert new.strategy.past_tasks == ["up", "down"]
    assert new.strategy.ask() == OPTIMUM


def test_restricted_metrics_skip_a_memory_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """(b) ``memory_metrics`` restricts; a skipped task of this space is a WARNING naming it."""
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "cond-1", "acc_cond1")
    _past_study(memory, "cond-2", "acc_cond2")
    _past_study(memory, "tiny", "acc_cond1", n=2)
    runs = f"sqlite:///{tmp_path / 'runs.db'}"
    with caplog.at_level(logging.WARNING, logger="metanas.study"):
        study = _new_study(runs, memory, memory_metrics=["acc_cond2"])
    assert study.strategy.past_tasks == ["cond-2"]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = "\n".join(r.getMessage() for r in warned)
    assert "Study new: past task cond-1 of the experience memory is skipped" in text
    assert "reports none of memory_metrics ['acc_cond2']" in text
    assert "past task tiny" in text
    # A map names each past task's metric; unnamed tasks are skipped.
    entries = ExperienceMemory(memory).past_tasks(
        "new-task",
        metric="valid_accuracy",
        space=SPACE,
        metrics={"cond-1": "acc_cond1", "tiny": "acc_cond1"},
    )
    assert [(e.task, e.used) for e in entries] == [
        ("cond-1", True), ("cond-2", False), ("tiny", False),
    ]  # fmt: skip
    assert entries[1].reason == "not named in memory_metrics"
    assert "only 2 evaluated architecture(s)" in entries[2].reason
    with pytest.raises(ValueError, match=r"memory_metrics must be a list or a dict; got 'acc'"):
        _new_study(runs, memory, memory_metrics="acc")


def test_no_random_phase_with_a_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """(d) Asks 1..10 come from the portfolio or the model, never from a random draw."""
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(40)]
    past = {"p": TaskHistory.from_evaluations("p", archs, [_value(a) for a in archs], space=SPACE)}
    for n_warm in (0, 3):
        meta = MetaStrategy(SPACE, n_warm=n_warm, seed=0)
        meta.set_memory(past, task="new")

        def no_random(*_a: object, **_k: object) -> metanas.Architecture:
            raise AssertionError("a uniform random draw was asked for")

        monkeypatch.setattr(meta, "sample_unseen", no_random)
        sources = []
        for number in range(10):
            drive(meta, _Eval(), 1, seed=0, start=number)
            sources.append(meta.last_source)
        assert sources == ["portfolio"] * n_warm + ["model"] * (10 - n_warm)
        assert abs(sum(meta.weights.values()) - 1.0) < 1e-9
        assert TARGET in meta.weights


class _Eval(metanas.Evaluator):
    metric = "valid_accuracy"

    def evaluate(self, arch: metanas.Architecture, *, budget: float | None = None) -> object:
        return metanas.Result(metrics={"valid_accuracy": _value(arch)})


def test_same_seed_same_asks(tmp_path: Path) -> None:
    """(e) Determinism through a study with a memory."""
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "related", "valid_accuracy", n=30)
    runs = f"sqlite:///{tmp_path / 'runs.db'}"
    asks = []
    for name in ("one", "two"):
        study = metanas.create_study(
            name=name, storage=runs, space=SPACE, strategy="meta", seed=5, task="new-task",
            memory=memory, strategy_settings={"n_warm": 2, "remember": False},
        )  # fmt: skip
        study.optimize(lambda a: _value(a, -1.0), n_trials=12)
        asks.append([t.arch for t in study.trials])
    assert asks[0] == asks[1]
    assert len(set(asks[0])) == 12


def test_a_finished_search_joins_a_separate_memory(tmp_path: Path) -> None:
    """Growing memory: optimize() adds the study to its memory, replacing an earlier copy."""
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "first", "valid_accuracy", n=20)
    runs = f"sqlite:///{tmp_path / 'runs.db'}"
    study = _new_study(runs, memory)
    study.optimize(_value, n_trials=6)
    mem = ExperienceMemory(memory)
    assert mem.task_names() == ["first", "new-task"]
    assert len(mem.history("new-task", space=SPACE)) == 6
    study.optimize(_value, n_trials=3)
    assert len(ExperienceMemory(memory).history("new-task", space=SPACE)) == 9
    assert [r.name for r in RDBStorage(memory).list_study_records()].count("new") == 1
    # The next search of another task learns from it.
    nxt = metanas.create_study(
        name="next", storage=runs, space=SPACE, strategy="meta", seed=0, task="third",
        memory=memory, strategy_settings={"remember": False},
    )  # fmt: skip
    assert nxt.strategy.past_tasks == ["first", "new-task"]
    nxt.optimize(_value, n_trials=2)
    assert "third" not in ExperienceMemory(memory).task_names()


def test_remember_false_and_the_own_store_add_nothing(tmp_path: Path) -> None:
    memory = f"sqlite:///{tmp_path / 'memory.db'}"
    _past_study(memory, "first", "valid_accuracy", n=20)
    study = _new_study(f"sqlite:///{tmp_path / 'runs.db'}", memory, remember=False)
    study.optimize(_value, n_trials=4)
    assert ExperienceMemory(memory).task_names() == ["first"]
    own = metanas.create_study(
        name="own", storage=memory, space=SPACE, strategy="meta", seed=0, task="own-task"
    )
    own.optimize(_value, n_trials=4)
    assert [r.name for r in RDBStorage(memory).list_study_records()].count("own") == 1


def test_removed_settings_warn_and_unknown_ones_fail() -> None:
    with pytest.warns(FutureWarning, match=r"gate_margin=0\.1 no longer exists .* own model"):
        meta = MetaStrategy(SPACE, gate_margin=0.1, seed=0)
    assert "gate_margin" not in meta.get_settings()
    with pytest.raises(ValueError, match=r"no setting 'n_boostrap'\. Did you mean 'n_bootstrap'"):
        create_strategy("meta", SPACE, n_boostrap=3)


def test_a_reversed_memory_loses_its_weight(nbg_space: metanas.SearchSpace) -> None:
    """The new task's own model wins the ranking-loss bootstrap against a reversed past task;
    a twin of the task keeps most of the weight while it can rank the results (once they are
    all near the top, which a 120-architecture memory cannot order, it too loses it)."""
    bench = NasBenchGraph("photo")
    h = table_history("photo", 120, 4, space=nbg_space, descriptors=False)
    weights = {}
    for name, values in (("reversed", -np.asarray(h.values)), ("twin", np.asarray(h.values))):
        past = TaskHistory.from_evaluations(name, h.archs, values, space=nbg_space)
        meta = MetaStrategy(nbg_space, n_warm=0, seed=0)
        meta.set_memory({name: past}, task="nas-bench-graph/photo")
        seen = []
        for number in range(22):
            drive(meta, bench, 1, seed=0, start=number)
            if (number >= 14) if name == "reversed" else (3 <= number < 11):
                seen.append(meta.weights[name])
        weights[name] = float(np.mean(seen))
    assert weights["reversed"] < 0.1, weights
    assert weights["twin"] > 0.5, weights


@pytest.mark.slow
def test_a_reversed_memory_costs_little_against_bo(nbg_space: metanas.SearchSpace) -> None:
    """(c) Stated margin: with past tasks whose results are reversed, meta's median regret at 40
    queries over 2 data sets x 3 seeds is at most 0.5 accuracy points above cold bo's."""
    regret: dict[str, list[float]] = {"meta": [], "bo": []}
    for d in ("cora", "computers"):
        bench = NasBenchGraph(d)
        past = {}
        for i, other in enumerate(("citeseer", "photo")):
            h = table_history(other, 100, i, space=nbg_space, descriptors=False)
            past[f"reversed-{other}"] = TaskHistory.from_evaluations(
                f"reversed-{other}", h.archs, -np.asarray(h.values), space=nbg_space
            )
        for seed in range(3):
            meta = MetaStrategy(nbg_space, seed=seed)
            meta.set_memory(past, task=f"nas-bench-graph/{d}")
            for name, strategy in (
                ("meta", meta),
                ("bo", create_strategy("bo", nbg_space, seed=seed)),
            ):
                scores = [s for _, s in drive(strategy, bench, 40, seed=seed) if s is not None]
                regret[name].append(bench.regret(max(scores), "valid_accuracy"))
    assert np.median(regret["meta"]) <= np.median(regret["bo"]) + 0.005, regret
