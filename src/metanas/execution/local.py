"""A local process pool for evaluating several trials at once (``Study.optimize(n_jobs=...)``).

Trials are stored the moment they finish (a crash loses no finished trial)
but the strategy is told in trial-number order, and trial ``k`` is asked
only after trials ``0 .. k - n_jobs`` were told. The strategy therefore sees
the same sequence of tells and asks whatever the workers' timing, and a
parallel study is as reproducible as a serial one with the same ``n_jobs``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from metanas.evaluation.base import Evaluator, Result

if TYPE_CHECKING:
    from metanas.study import Study
    from metanas.trial import Trial

__all__ = ["resolve_n_jobs", "run_parallel"]

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_worker_evaluator: Evaluator | None = None


def resolve_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` checked; ``-1`` means one worker per CPU core."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(
            f"n_jobs must be an int >= 1, or -1 for one worker per core; got {n_jobs!r}."
        )
    return os.cpu_count() or 1 if n_jobs == -1 else n_jobs


def _init_worker(payload: bytes, n_threads: int) -> None:
    # Threads are capped before the evaluator is unpickled (which may import
    # torch): n_jobs workers x all cores each would oversubscribe the machine.
    for var in _THREAD_ENV:
        os.environ[var] = str(n_threads)
    global _worker_evaluator
    _worker_evaluator = pickle.loads(payload)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n_threads)


def _evaluate(arch: Any, budget: float | None) -> Result:
    if _worker_evaluator is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker started without an evaluator")
    return _worker_evaluator.evaluate(arch, budget=budget)


def _pickled(ev: Evaluator) -> bytes:
    try:
        return pickle.dumps(ev)
    except Exception as exc:
        raise TypeError(
            f"n_jobs > 1 sends the evaluator to worker processes, but {type(ev).__name__} "
            f"cannot be pickled ({exc}). Use an Evaluator object or a module-level function "
            "(not a lambda or a closure), or n_jobs=1."
        ) from exc


def run_parallel(
    study: Study,
    ev: Evaluator,
    *,
    n_jobs: int,
    n_trials: int | None,
    timeout: float | None,
    budget: float | None,
    catch: tuple[type[BaseException], ...],
    on_finished: Callable[[Trial], None],
    mp_context: str = "spawn",
) -> int:
    """Run trials of ``study`` on ``n_jobs`` worker processes; returns the number finished."""
    payload = _pickled(ev)
    n_threads = max(1, (os.cpu_count() or 1) // n_jobs)
    ctx = multiprocessing.get_context(mp_context)
    start = time.monotonic()
    pending: deque[tuple[Trial, Future[Result]]] = deque()
    stored: dict[int, Trial] = {}  # trial number -> stored, not yet told to the strategy
    done = 0

    def may_start() -> bool:
        if study._stop:
            return False
        if n_trials is not None and done + len(pending) >= n_trials:
            return False
        return timeout is None or time.monotonic() - start < timeout

    def store(trial: Trial, fut: Future[Result]) -> None:
        exc = fut.exception()
        if exc is None:
            result = fut.result()
            if not isinstance(result, Result):
                stored[trial.number] = study._tell(
                    trial, None, inform_strategy=False,
                    error=f"{type(ev).__name__}.evaluate returned {type(result).__name__}; "
                    "it must return a metanas.Result.",
                )  # fmt: skip
            else:
                stored[trial.number] = study._tell(trial, result, error=None, inform_strategy=False)
        elif isinstance(exc, catch):
            stored[trial.number] = study._tell(
                trial, None, error=f"{type(exc).__name__}: {exc}", inform_strategy=False
            )
        else:
            raise exc

    with ProcessPoolExecutor(
        max_workers=n_jobs, mp_context=ctx, initializer=_init_worker,
        initargs=(payload, n_threads),
    ) as pool:  # fmt: skip
        try:
            while True:
                while len(pending) < n_jobs and may_start():
                    trial = study.ask()
                    pending.append((trial, pool.submit(_evaluate, trial.arch, budget)))
                if not pending:
                    break
                oldest_trial = pending[0][0]
                while oldest_trial.number not in stored:
                    futures = [f for t, f in pending if t.number not in stored]
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for t, f in pending:
                        if f in finished and t.number not in stored:
                            store(t, f)
                pending.popleft()
                told = stored.pop(oldest_trial.number)
                study.strategy.tell(study._observation(told))
                done += 1
                on_finished(told)
        except BaseException:
            for t, f in pending:
                if t.number in stored:
                    study.strategy.tell(study._observation(stored.pop(t.number)))
                else:
                    f.cancel()
                    # A trial whose result was stored just before the error is no longer RUNNING.
                    with contextlib.suppress(ValueError):
                        study._tell(t, None, error="interrupted", inform_strategy=True)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return done
