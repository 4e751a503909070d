"""A scheduled study keeps ``n_workers + queue_ahead`` segments submitted (the executors' queue).

A worker that finishes a segment must find the next one already waiting in its executor,
not wait for the study to store the result, ask the scheduler and submit: that wait is the
idle time of ASHA on many workers. The executors here run on threads, so the checks are
about the loop, not process start-up.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

import metanas
from metanas import Architecture, Result, SearchSpace, Study, TrialState
from metanas.evaluation import Evaluator
from metanas.execution import Executor, InProcessExecutor, LocalExecutor

SPACE = SearchSpace({"w": list(range(40))})
ASHA = {"min_budget": 1, "max_budget": 9, "eta": 3}


class Curves(Evaluator):
    """A score per architecture and budget; counts how many evaluations run at once."""

    supports_resume = True

    def __init__(self, delay_s: float = 0.005) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[int, float, float | None]] = []
        self.running = 0
        self.peak_running = 0
        self._lock = threading.Lock()

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        with self._lock:
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
            self.calls.append((arch["w"], float(budget or 0.0), resume_from))
        time.sleep(self.delay_s)
        with self._lock:
            self.running -= 1
        score = (arch["w"] % 7) / 7 + (budget or 0.0) / 100
        return Result(metrics={"score": score}, cost_s=budget or 0.0)


class Pool(Executor):
    """``n_workers`` threads; submissions beyond them wait in the pool's queue."""

    def __init__(self, evaluator: Evaluator, *, n_workers: int = 1, queue_ahead: int = 0) -> None:
        super().__init__(evaluator, n_workers=n_workers, queue_ahead=queue_ahead)
        self._pool = ThreadPoolExecutor(max_workers=n_workers)
        self.outstanding: list[Future[Result]] = []
        self.peak_outstanding = 0

    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        self.outstanding = [f for f in self.outstanding if not f.done()]
        future = self._pool.submit(
            self.evaluator.evaluate,  # type: ignore[call-arg]
            arch, budget=budget, resume_from=resume_from,
        )  # fmt: skip
        self.outstanding.append(future)
        self.peak_outstanding = max(self.peak_outstanding, len(self.outstanding))
        return future

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _study(seed: int = 0) -> Study:
    return metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="random", seed=seed, metric="score",
        scheduler="asha", scheduler_settings=ASHA,
    )  # fmt: skip


def _events(study: Study) -> list[tuple[int, str, float, float | None]]:
    return [
        (e.number, e.kind, e.budget, e.next_budget)
        for e in study.storage.get_events(study._record.id)
    ]


@pytest.mark.parametrize(("n_workers", "queue_ahead"), [(1, 1), (2, 1), (2, 2), (2, 0)])
def test_the_study_keeps_workers_plus_queue_ahead_segments_submitted(
    n_workers: int, queue_ahead: int
) -> None:
    # Segments long enough that a burst of submissions finishes before the first ends.
    study, ev = _study(), Curves(delay_s=0.04)
    with Pool(ev, n_workers=n_workers, queue_ahead=queue_ahead) as ex:
        study.optimize(executor=ex, n_trials=9)
    # The next segment was waiting while the workers were busy, yet no more ran at once.
    assert ex.peak_outstanding == n_workers + queue_ahead
    assert ev.peak_running <= n_workers
    # Every trial settled; no segment ran twice; each stored result is one evaluation.
    assert len(study.trials) == 9
    assert all(t.state.finished for t in study.trials)
    segments = [(w, b) for w, b, _r in ev.calls]
    assert len(set(segments)) == len(segments)
    results = [e for e in _events(study) if e[1] == "result"]
    assert len(results) == len(ev.calls)
    # A stored promotion is the segment that ran next for its trial, at that budget.
    for number, kind, budget, next_budget in _events(study):
        if kind == "promote":
            later = [b for n, k, b, _ in results if n == number and b > budget]
            assert later[:1] == [next_budget]


def test_queue_ahead_never_starts_more_trials_than_the_study_allows() -> None:
    study, ev = _study(), Curves(delay_s=0.0)
    with Pool(ev, n_workers=2, queue_ahead=3) as ex:
        study.optimize(executor=ex, max_total_trials=4)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert {w for w, _b, _r in ev.calls} == {t.arch["w"] for t in study.trials}


class Holding(Executor):
    """One worker thread; a submission waits for it until :attr:`release` is set (or 5 s)."""

    def __init__(self, evaluator: Evaluator, *, queue_ahead: int = 1) -> None:
        super().__init__(evaluator, n_workers=1, queue_ahead=queue_ahead)
        self.release = threading.Event()
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        future: Future[Result] = Future()
        self._items.put((future, arch, budget, resume_from))
        return future

    def _work(self) -> None:
        first = True
        while (item := self._items.get()) is not None:
            future, arch, budget, resume_from = item
            if not first:
                self.release.wait(timeout=5)
            first = False
            if not future.set_running_or_notify_cancel():
                continue  # withdrawn by the study
            ev: Any = self.evaluator
            future.set_result(ev.evaluate(arch, budget=budget, resume_from=resume_from))

    def close(self, *, wait: bool = True) -> None:
        self.release.set()
        self._items.put(None)
        self._thread.join(timeout=10)


class Stopping(Curves):
    """Stops ``study`` from inside its evaluation: the study sees the stop with its result."""

    def __init__(self, study: Study) -> None:
        super().__init__(delay_s=0.0)
        self.study = study

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        self.study.stop()
        return super().evaluate(arch, budget=budget, resume_from=resume_from)


def test_stop_withdraws_the_segment_held_ahead_and_the_next_run_evaluates_it() -> None:
    study = _study()
    stopping, ev = Stopping(study), Curves(delay_s=0.0)
    with Holding(stopping) as ex:
        study.optimize(executor=ex, n_trials=10)
    # Trial 1's first segment was queued behind trial 0's; the stop withdrew it unrun, and
    # it went back to the queue (WAITING) as an interrupted first segment does.
    assert [w for w, _b, _r in stopping.calls] == [study.trials[0].arch["w"]]
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.WAITING]
    with Holding(ev) as ex:
        ex.release.set()
        study.optimize(executor=ex, n_trials=4)
    segments = [(w, b) for w, b, _r in stopping.calls + ev.calls]
    assert len(set(segments)) == len(segments)  # nothing evaluated twice
    assert (study.trials[1].arch["w"], 1.0) in segments
    # The withdrawn trial keeps its number and is the first of the 4 asked next, as a
    # trial requeued by an interrupt is.
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]


def test_queue_ahead_is_checked_and_defaults_by_executor() -> None:
    with pytest.raises(ValueError, match=r"queue_ahead must be an int >= 0; got -1\. It counts"):
        Pool(Curves(), n_workers=2, queue_ahead=-1)
    assert InProcessExecutor(Curves()).queue_ahead == 0  # submit runs the evaluation itself
    with LocalExecutor(Picklable(), n_workers=2, mp_context="fork") as pool:
        assert pool.queue_ahead == 1


class Picklable(Evaluator):
    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        return Result(metrics={"score": 1.0})
