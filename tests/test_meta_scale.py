"""meta: the new task's own model is mixed on the past models' scale (issue #14, cora at 50).

On NAS-Bench-Graph cora, ``meta`` trailed cold ``bo`` at 50 queries because the past models
(each calibrated to span N(0, 1) over the space) were mixed with the new task's GP on its raw
copula scale, whose mean is shrunk towards 0 away from its results: at equal weights, the past
models' preferences decided the ask.
"""

from __future__ import annotations

import numpy as np
import pytest

import metanas
from metanas.meta import TaskHistory
from metanas.strategies import Observation
from metanas.strategies.meta import TARGET, MetaStrategy

SPACE = metanas.SearchSpace({"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4], "c": [0, 1, 2, 3]})
W = {"a": [0.0, 0.3, 0.1, 0.9, 0.5], "b": [0.2, 0.0, 0.8, 0.4, 0.6], "c": [0.1, 0.7, 0.0, 0.3]}
ARCHS = list(SPACE.enumerate())


def _value(arch: metanas.Architecture) -> float:
    return sum(W[k][arch[k]] for k in W) + 0.2 * (arch["a"] == arch["b"])


VALUES = np.array([_value(a) for a in ARCHS])
#: The new task's 10 worst architectures.
WORST = np.argsort(VALUES, kind="stable")[:10]


def _misleading_at_the_top() -> dict[str, TaskHistory]:
    """A past task that ranks the bulk exactly like the new one, with its 10 worst on top."""
    past = VALUES.copy()
    past[WORST] = VALUES.max() + 1.0 + 0.01 * np.arange(len(WORST))
    return {"misleading": TaskHistory.from_evaluations("misleading", ARCHS, past, space=SPACE)}


def _tell(meta: MetaStrategy, indices: np.ndarray) -> None:
    for number, i in enumerate(indices):
        score = float(VALUES[i])
        meta.tell(Observation(arch=ARCHS[i], score=score, scores=(score,), number=number))


def test_at_equal_weights_the_new_tasks_model_is_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the weights held at 1/2 each (the weight learning is not under test), the asks
    after 8 results must not follow the misleading past task to the new task's worst
    architectures; mixed on its raw scale, the new task's model lost 1 to 3 of 3 asks to it
    on every seed (6 of these 9 asks)."""
    monkeypatch.setattr(MetaStrategy, "_task_weights", lambda self, z, loo, y: np.full(2, 0.5))
    past = _misleading_at_the_top()
    bad = {SPACE.key(ARCHS[i]) for i in WORST}
    others = np.setdiff1d(np.arange(len(ARCHS)), WORST)
    lost = []
    for seed in range(3):
        meta = MetaStrategy(SPACE, n_warm=0, seed=seed)
        meta.set_memory(past, task="new")
        _tell(meta, np.random.default_rng(seed).choice(others, 8, replace=False))
        asks = []
        for number in range(8, 11):
            arch = meta.ask()
            asks.append(arch)
            score = _value(arch)
            meta.tell(Observation(arch=arch, score=score, scores=(score,), number=number))
        assert meta.weights == {"misleading": 0.5, TARGET: 0.5}
        lost.append(sum(SPACE.key(a) in bad for a in asks))
    assert sum(lost) <= 1, lost


def test_every_model_scores_on_one_scale() -> None:
    """model_scores: each past task and the new task's own model span about N(0, 1) over the
    space (the shared scale); the new task's model ranks its told results as its GP does."""
    meta = MetaStrategy(SPACE, n_warm=0, seed=0)
    meta.set_memory(_misleading_at_the_top(), task="new")
    assert set(meta.model_scores(ARCHS[:3])) == {"misleading"}  # no target model before 2
    told = np.random.default_rng(0).choice(len(ARCHS), 12, replace=False)
    _tell(meta, told)
    scores = meta.model_scores(ARCHS)
    assert set(scores) == {"misleading", TARGET}
    for name, z in scores.items():
        assert z.shape == (len(ARCHS),)
        assert 0.6 < float(np.std(z)) < 1.6, (name, float(np.std(z)))
    # The new task's own model: its best-scored architecture is among the task's top 10.
    assert VALUES[int(np.argmax(scores[TARGET]))] >= np.sort(VALUES)[-10]
    assert {k: v.shape for k, v in meta.model_scores([]).items()} == {
        "misleading": (0,),
        TARGET: (0,),
    }


def test_model_scores_needs_a_memory() -> None:
    with pytest.raises(RuntimeError, match=r"call set_memory\(past\) first"):
        MetaStrategy(SPACE, seed=0).model_scores(ARCHS[:2])
