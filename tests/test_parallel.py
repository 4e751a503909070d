"""Study.optimize(n_jobs=...): a local process pool, reproducible whatever the timing."""

from __future__ import annotations

import time

import pytest

import metanas
from metanas import Architecture, SearchSpace

SPACE = SearchSpace({"a": list(range(6)), "b": list(range(6)), "c": ["x", "y", "z"]})


def slow_score(arch: Architecture) -> dict[str, float]:
    # Sleeps that differ by architecture make workers finish out of order.
    time.sleep(0.002 * ((arch["a"] * 7 + arch["b"]) % 5))
    if arch["c"] == "z" and arch["a"] == 5:
        raise RuntimeError("boom")
    return {"score": float(arch["a"] + 2 * arch["b"]) + (arch["c"] == "y")}


def _run(n_jobs: int, seed: int = 3) -> metanas.Study:
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="evolution", seed=seed, metric="score",
        strategy_settings={"population_size": 6, "sample_size": 3},
    )  # fmt: skip
    study.optimize(slow_score, n_trials=24, n_jobs=n_jobs)
    return study


@pytest.mark.slow
def test_parallel_study_is_reproducible_and_stores_every_trial() -> None:
    a, b = _run(2), _run(2)
    archs_a = [t.arch for t in a.trials]
    assert len(archs_a) == 24
    assert archs_a == [t.arch for t in b.trials]
    assert all(t.state.finished for t in a.trials)
    failed = [t.number for t in a.trials if t.state is metanas.TrialState.FAILED]
    # Exactly the architectures slow_score raises on failed, and there were some: a worker's
    # exception reached the study, was stored and the search went on.
    assert failed == [t.number for t in a.trials if t.arch["c"] == "z" and t.arch["a"] == 5]
    assert failed
    assert {a.trials[n].error for n in failed} == {"RuntimeError: boom"}
    assert [t.number for t in a.trials] == list(range(24))
    # Resuming replays the tells in trial order: the same strategy state.
    again = metanas.load_study(a.name, storage=a.storage)
    assert [t.arch for t in again.trials] == archs_a
    assert again.ask().arch == b.ask().arch


def test_parallel_rejects_unpicklable_evaluator() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    with pytest.raises(TypeError, match="cannot be pickled"):
        study.optimize(lambda arch: 1.0, n_trials=2, n_jobs=2)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_n_jobs(bad: object) -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    with pytest.raises(ValueError, match="n_jobs must be"):
        study.optimize(slow_score, n_trials=2, n_jobs=bad)  # type: ignore[arg-type]
