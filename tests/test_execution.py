"""Executors: the submit(arch, budget) -> Future[Result] contract; the study's loop on them."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

import metanas
from metanas import Architecture, Result, SearchSpace, Study, Trial, TrialState
from metanas._registry import available
from metanas.evaluation import Evaluator
from metanas.exceptions import UnknownNameError
from metanas.execution import (
    Executor,
    InProcessExecutor,
    LocalExecutor,
    create_executor,
    register_executor,
)

SPACE = SearchSpace({"a": list(range(6)), "b": list(range(6)), "c": ["x", "y", "z"]})


class Scored(Evaluator):
    """Deterministic, picklable, uses the budget; raises on ``c == "z"`` with ``a == 5``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        # Delays that differ by architecture make concurrent evaluations finish out of order.
        time.sleep(self.delay_s * ((arch["a"] * 7 + arch["b"]) % 5))
        if arch["c"] == "z" and arch["a"] == 5:
            raise RuntimeError(f"boom at {arch['a']},{arch['b']}")
        score = float(arch["a"] + 2 * arch["b"]) + (arch["c"] == "y") + (budget or 0.0)
        return Result(metrics={"score": score}, cost_s=budget or 0.0)


ARCHS = [
    SPACE.validate({"a": a, "b": b, "c": c}) for a, b, c in [(0, 1, "x"), (3, 2, "y"), (5, 5, "x")]
]
BOOM = SPACE.validate({"a": 5, "b": 2, "c": "z"})


def _workers(name: str) -> int:
    return 1 if name == "inprocess" else 2


# ==================================================================== the contract, per executor


def test_the_builtin_executors_are_registered() -> None:
    assert {"inprocess", "local"} <= set(available("executor"))
    assert InProcessExecutor.registered_name == "inprocess"
    assert LocalExecutor.registered_name == "local"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[pytest.mark.slow] if name in ("local", "ray") else [])
        for name in available("executor")
    ],
)
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    """Each registered executor, built by name (one pool per module: workers start slowly)."""
    name = request.param
    if name == "ray":
        ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "metanas[ray]"')
        # Ray's workers cannot import this test module: its evaluator travels by value.
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with create_executor(name, Scored(), n_workers=_workers(name)) as ex:
        assert isinstance(ex, Executor)
        assert ex.n_workers == _workers(name)
        yield ex


def test_submit_returns_futures_of_the_in_process_results(executor: Executor) -> None:
    futures = [executor.submit(arch, budget) for arch in ARCHS for budget in (None, 2.0)]
    assert all(isinstance(f, Future) for f in futures)
    results = [f.result(timeout=60) for f in futures]
    expected = InProcessExecutor(Scored())
    assert results == [expected.submit(arch, b).result() for arch in ARCHS for b in (None, 2.0)]
    assert [r.metrics["score"] for r in results] == [2.0, 4.0, 8.0, 10.0, 15.0, 17.0]
    assert [r.cost_s for r in results] == [0.0, 2.0] * 3


def test_an_evaluator_exception_surfaces_on_the_future(executor: Executor) -> None:
    bad = executor.submit(BOOM, None)
    good = executor.submit(ARCHS[0], None)
    with pytest.raises(RuntimeError, match="boom at 5,2"):
        bad.result(timeout=60)
    assert isinstance(bad.exception(), RuntimeError)
    # One failed evaluation does not break the executor.
    assert good.result(timeout=60).metrics == {"score": 2.0}


def test_in_process_runs_inside_submit_and_lets_ctrl_c_through() -> None:
    calls: list[str] = []

    class Recording(Evaluator):
        def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
            calls.append(threading.current_thread().name)
            if arch["a"] == 5:
                raise KeyboardInterrupt
            return Result(metrics={"score": 1.0})

    ex = InProcessExecutor(Recording())
    assert ex.submit(ARCHS[0], None).done()
    assert calls == [threading.current_thread().name]
    with pytest.raises(KeyboardInterrupt):
        ex.submit(ARCHS[2], None)


def test_executor_construction_errors() -> None:
    with pytest.raises(ValueError, match=r"InProcessExecutor runs one evaluation at a time; got "):
        InProcessExecutor(Scored(), n_workers=2)
    with pytest.raises(ValueError, match=r"n_workers must be an int >= 1; got 0"):
        create_executor("local", Scored(), n_workers=0)
    with pytest.raises(TypeError, match=r"needs a metanas Evaluator; got function"):
        InProcessExecutor(lambda a: 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"but _Unpicklable cannot be pickled \(no pickling here\)"):
        LocalExecutor(_Unpicklable(), n_workers=2)
    with pytest.raises(UnknownNameError, match=r"Unknown executor 'lcoal'\. Did you mean 'local'"):
        create_executor("lcoal", Scored())
    with pytest.raises(TypeError, match=r"decorates a subclass of metanas\.execution\.Executor"):
        register_executor("not-an-executor")(Scored)  # type: ignore[arg-type]


class _Unpicklable(Scored):
    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("no pickling here")


# ==================================================================== the study's loop


class ThreadExecutor(Executor):
    """Concurrent evaluations on threads: the parallel loop without process start-up costs."""

    def __init__(self, evaluator: Evaluator, *, n_workers: int = 1) -> None:
        super().__init__(evaluator, n_workers=n_workers)
        self._pool = ThreadPoolExecutor(max_workers=n_workers)
        self.submitted: list[tuple[Architecture, float | None]] = []

    def submit(self, arch: Architecture, budget: float | None) -> Future[Result]:
        self.submitted.append((arch, budget))
        return self._pool.submit(self.evaluator.evaluate, arch, budget=budget)

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _study(seed: int = 3) -> Study:
    return metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="evolution", seed=seed, metric="score",
        strategy_settings={"population_size": 6, "sample_size": 3},
    )  # fmt: skip


def _search(n_workers: int, n_trials: int = 24) -> tuple[Study, list[int]]:
    study, told = _study(), []
    with ThreadExecutor(Scored(delay_s=0.002), n_workers=n_workers) as ex:
        study.optimize(
            executor=ex, n_trials=n_trials, budget=1.0,
            callbacks=[lambda s, t: told.append(t.number)],
        )  # fmt: skip
        assert [b for _, b in ex.submitted] == [1.0] * n_trials
    return study, told


def test_a_concurrent_executor_gives_the_same_trials_whatever_the_timing() -> None:
    a, told = _search(3)
    b, _ = _search(3)
    assert [t.arch for t in a.trials] == [t.arch for t in b.trials]
    assert len(a.trials) == 24
    assert told == list(range(24))  # callbacks (and the strategy) in trial order
    failed = [t.number for t in a.trials if t.state is TrialState.FAILED]
    assert failed == [t.number for t in a.trials if t.arch["c"] == "z" and t.arch["a"] == 5]
    assert failed  # the failures this test means to exercise did happen
    assert [a.trials[n].error for n in failed] == [
        f"RuntimeError: boom at 5,{a.trials[n].arch['b']}" for n in failed
    ]
    # A reload replays the tells in trial order: the same next proposal.
    again = metanas.load_study(a.name, storage=a.storage)
    assert again.ask().arch == b.ask().arch


def test_one_worker_on_any_executor_equals_the_default_serial_loop() -> None:
    serial = _study()
    serial.optimize(Scored(), n_trials=15, budget=1.0)
    threaded, _ = _search(1, n_trials=15)
    assert [(t.arch, t.state, t.values) for t in threaded.trials] == [
        (t.arch, t.state, t.values) for t in serial.trials
    ]


def test_stop_lets_the_trials_in_flight_finish() -> None:
    study = _study()

    def stop_at_first(s: Study, t: Trial) -> None:
        s.stop()

    with ThreadExecutor(Scored(delay_s=0.002), n_workers=3) as ex:
        study.optimize(executor=ex, n_trials=20, callbacks=[stop_at_first])
    # Three were in flight when trial 0 was told: all three stored, no fourth started.
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state.finished for t in study.trials)


class Scripted(Executor):
    """Futures by submission index: ``"ctrl-c"``/``"error"`` raise, ``"hang"`` never finishes."""

    def __init__(self, evaluator: Evaluator, *, n_workers: int, script: dict[int, str]) -> None:
        super().__init__(evaluator, n_workers=n_workers)
        self.script = script
        self.futures: list[Future[Result]] = []

    def submit(self, arch: Architecture, budget: float | None) -> Future[Result]:
        future: Future[Result] = Future()
        what = self.script.get(len(self.futures))
        if what == "ctrl-c":
            future.set_exception(KeyboardInterrupt())
        elif what == "error":
            future.set_exception(RuntimeError("scripted error"))
        elif what != "hang":
            future.set_result(self.evaluator.evaluate(arch, budget=budget))
        self.futures.append(future)
        return future

    def close(self, *, wait: bool = True) -> None:
        """Nothing to release."""


def _told(study: Study) -> list[int]:
    told: list[int] = []
    tell = study.strategy.tell

    def spy(obs: metanas.Observation) -> None:
        told.append(obs.number)
        tell(obs)

    study.strategy.tell = spy  # type: ignore[method-assign]
    return told


def test_ctrl_c_in_an_evaluation_requeues_every_trial_in_flight() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    told = _told(study)
    ex = Scripted(Scored(), n_workers=2, script={2: "ctrl-c", 3: "hang"})
    with pytest.raises(KeyboardInterrupt):
        study.optimize(executor=ex, n_trials=10)
    assert [(t.number, t.state, t.error) for t in study.trials] == [
        (0, TrialState.COMPLETE, None),
        (1, TrialState.COMPLETE, None),
        (2, TrialState.WAITING, None),
        (3, TrialState.WAITING, None),
    ]
    assert ex.futures[3].cancelled()
    assert told == [0, 1]
    archs = [t.arch for t in study.trials]
    # The queue runs first, in number order, with the architectures it holds.
    study.optimize(executor=Scripted(Scored(), n_workers=2, script={}), n_trials=3)
    assert [t.arch for t in study.trials][:4] == archs
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert told == [0, 1, 2, 3, 4]


def test_an_uncaught_evaluator_error_fails_its_trial_and_requeues_the_others() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    # Trial 0 raises an error not in catch while trial 1 is in flight (it never finishes).
    ex = Scripted(Scored(), n_workers=2, script={0: "error", 1: "hang"})
    with pytest.raises(RuntimeError, match="scripted error"):
        study.optimize(executor=ex, n_trials=5, catch=())
    assert [(t.number, t.state, t.error) for t in study.trials] == [
        (0, TrialState.FAILED, "interrupted"),
        (1, TrialState.WAITING, None),
    ]


def test_ctrl_c_in_a_callback_keeps_the_stored_trials() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    told = _told(study)
    ex = Scripted(Scored(), n_workers=3, script={2: "hang"})

    def ctrl_c(s: Study, t: Trial) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(executor=ex, n_trials=10, callbacks=[ctrl_c])
    # Trial 1 finished before the interrupt: stored COMPLETE and told; trial 2 was cut off.
    assert [(t.number, t.state, t.error) for t in study.trials] == [
        (0, TrialState.COMPLETE, None),
        (1, TrialState.COMPLETE, None),
        (2, TrialState.WAITING, None),
    ]
    assert ex.futures[2].cancelled()
    assert told == [0, 1]


def test_optimize_executor_arguments() -> None:
    study = _study()
    with pytest.raises(ValueError, match=r"executor holding another one \(Scored\)"):
        study.optimize(lambda a: 1.0, n_trials=1, executor=InProcessExecutor(Scored()))
    with pytest.raises(ValueError, match=r"n_jobs=2 cannot resize the given executor"):
        study.optimize(n_trials=1, n_jobs=2, executor=InProcessExecutor(Scored()))
    with pytest.raises(TypeError, match=r"optimize\(\) needs an evaluator"):
        study.optimize(n_trials=1)
    with pytest.raises(TypeError, match=r"executor must be a registered executor name"):
        study.optimize(Scored(), n_trials=1, executor=3)  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match=r"Unknown executor 'dask'"):
        study.optimize(Scored(), n_trials=1, executor="dask")
    with pytest.raises(ValueError, match=r"InProcessExecutor runs one evaluation at a time"):
        study.optimize(Scored(), n_trials=1, n_jobs=2, executor="inprocess")
    assert study.trials == []
    # By name, with the evaluator given to optimize; the executor instance is the caller's.
    study.optimize(Scored(), n_trials=2, executor="inprocess")
    ex = InProcessExecutor(Scored())
    study.optimize(executor=ex, n_trials=2)
    study.optimize(ex.evaluator, executor=ex, n_trials=1)
    assert [t.number for t in study.trials] == list(range(5))
    assert all(t.state.finished for t in study.trials)
