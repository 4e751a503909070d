"""optimize(timeout_s=..., in_flight="cancel"): a wall-time limit that ends the search."""

from __future__ import annotations

import os
import time
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

import metanas
from metanas import Architecture, Result, SearchSpace, TrialState
from metanas.evaluation import Evaluator
from metanas.execution import LocalExecutor
from test_study_scheduled import CurveEvaluator

SPACE = SearchSpace({"a": list(range(8)), "slow": [False, True]})


class Sleepy(Evaluator):
    """Scores ``a``; an architecture with ``slow`` sleeps ``slow_s`` first."""

    def __init__(self, slow_s: float) -> None:
        self.slow_s = slow_s

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        if arch["slow"]:
            time.sleep(self.slow_s)
        return Result(metrics={"score": float(arch["a"])})


def _study(enqueue: list[dict[str, object]]) -> metanas.Study:
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="random", seed=0, metric="score"
    )
    for arch in enqueue:
        study.enqueue(arch)
    return study


def _children() -> set[int]:
    """This process's child processes, zombies included (Linux's /proc)."""
    me = str(os.getpid())
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def torch_loaded() -> None:
    # A pool worker imports torch when it starts (to cap its threads): a forked one finds it
    # loaded instead of spending seconds on it. The suite's other tests load it anyway.
    pytest.importorskip("torch")


@needs_proc
@pytest.mark.usefixtures("torch_loaded")
def test_cancel_returns_at_the_deadline_and_requeues_the_running_trial() -> None:
    study = _study([{"a": 1, "slow": False}, {"a": 2, "slow": False}, {"a": 3, "slow": True}])
    before = _children()
    # fork, and a worker started before the clock runs: the first two trials finish well
    # inside the limit even on a loaded machine (a worker's start imports torch).
    pool = LocalExecutor(Sleepy(60.0), n_workers=1, mp_context="fork")
    pool.submit(study.trials[0].arch, None).result()
    start = time.monotonic()
    study.optimize(executor=pool, n_trials=3, timeout_s=0.5, in_flight="cancel")
    elapsed = time.monotonic() - start
    # Not the 60 s the slow trial would take; the margin is for a loaded CI machine.
    assert 0.5 <= elapsed < 15
    assert _children() <= before  # the worker was killed and reaped
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE, TrialState.COMPLETE, TrialState.WAITING,
    ]  # fmt: skip
    assert study.trials[2].arch == SPACE.validate({"a": 3, "slow": True})
    # The executor given in was closed: its worker was the only way to stop the trial.
    with pytest.raises(RuntimeError):
        pool.submit(study.trials[0].arch, None)
    # The next optimize runs the cut-off trial first, with its number and architecture.
    study.optimize(Sleepy(0.0), n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert study.trials[2].arch == SPACE.validate({"a": 3, "slow": True})
    assert study.trials[2].value == 3.0


@needs_proc
def test_cancel_with_one_job_runs_on_a_process_pool_and_leaves_no_worker() -> None:
    study = _study([{"a": 5, "slow": True}])
    # Spawning starts multiprocessing's resource tracker, a helper that lives on by design.
    resource_tracker.ensure_running()
    before = _children()
    start = time.monotonic()
    study.optimize(Sleepy(60.0), n_trials=1, timeout_s=0.3, in_flight="cancel")
    # Returned at the limit: the evaluation did not run in this process, which could not
    # have been stopped; and its worker (spawned) is gone.
    assert time.monotonic() - start < 15
    assert _children() <= before
    assert [t.state for t in study.trials] == [TrialState.WAITING]


def test_finish_lets_the_running_trial_end() -> None:
    study = _study([{"a": 4, "slow": True}, {"a": 6, "slow": False}])
    start = time.monotonic()
    study.optimize(Sleepy(0.4), n_trials=2, timeout_s=0.1)
    assert time.monotonic() - start >= 0.4
    # Today's behaviour: the trial running at the deadline finishes; no new one starts.
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.WAITING]
    assert study.trials[0].value == 4.0


def test_in_flight_is_checked() -> None:
    study = _study([])
    with pytest.raises(ValueError, match=r"in_flight must be 'finish' .* or 'cancel' .*'stop'"):
        study.optimize(Sleepy(0.0), n_trials=1, in_flight="stop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"executor='inprocess' evaluates in this process"):
        study.optimize(
            Sleepy(0.0), n_trials=1, timeout_s=1.0, in_flight="cancel", executor="inprocess"
        )
    assert study.trials == []


class SlowRung(CurveEvaluator):
    """The scheduled tests' curves; the segment of ``w == 39`` at budget 3 takes a minute."""

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        if arch["w"] == 39 and budget == 3:
            time.sleep(60)
        return super().evaluate(arch, budget=budget, resume_from=resume_from)


@pytest.mark.usefixtures("torch_loaded")
def test_a_cut_segment_loses_only_itself_and_resumes_from_its_last_rung() -> None:
    study = metanas.create_study(
        space=SearchSpace({"w": list(range(40))}), storage="sqlite://", seed=5,
        scheduler="asha", scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
    )  # fmt: skip
    study.enqueue({"w": 39})
    pool = LocalExecutor(SlowRung(), n_workers=1, mp_context="fork")
    pool.submit(study.space.validate({"w": 0}), 1.0).result()  # the worker's start is not timed
    start = time.monotonic()
    study.optimize(executor=pool, n_trials=1, timeout_s=0.5, in_flight="cancel")
    assert time.monotonic() - start < 15  # the cut segment sleeps 60 s
    # Its first rung is stored; the second was cut off and is not.
    t = study.trials[0]
    assert (t.state, t.budget) == (TrialState.RUNNING, 1.0)
    results = [
        (e.budget, e.decision)
        for e in study.storage.get_events(study._record.id)
        if e.kind == "result"
    ]
    assert results == [(1.0, "continue")]
    ev = CurveEvaluator()
    study.optimize(ev, n_trials=0)
    assert ev.calls[:2] == [(39, 3.0, 1.0), (39, 9.0, 3.0)]
    assert study.trials[0].state is TrialState.COMPLETE
