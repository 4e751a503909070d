"""A local process pool: several evaluations at once (``Study.optimize(n_jobs=...)``).

Workers are spawned (a fresh interpreter: no forked torch or CUDA state), receive the evaluator
pickled once when they start, and cap their threads so ``n_workers`` workers share the cores
instead of each taking all of them.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import Future, ProcessPoolExecutor

from metanas.evaluation.base import Evaluator, Result
from metanas.execution.base import Executor, register_executor
from metanas.spaces.architecture import Architecture

__all__ = ["LocalExecutor", "resolve_n_jobs"]

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
    # torch): n_workers workers x all cores each would oversubscribe the machine.
    for var in _THREAD_ENV:
        os.environ[var] = str(n_threads)
    global _worker_evaluator
    _worker_evaluator = pickle.loads(payload)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n_threads)


def _evaluate(arch: Architecture, budget: float | None) -> Result:
    if _worker_evaluator is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker started without an evaluator")
    return _worker_evaluator.evaluate(arch, budget=budget)


def _pickled(ev: Evaluator) -> bytes:
    try:
        return pickle.dumps(ev)
    except Exception as exc:
        raise TypeError(
            f"n_jobs > 1 (the local executor) sends the evaluator to worker processes, but "
            f"{type(ev).__name__} cannot be pickled ({exc}). Use an Evaluator object or a "
            "module-level function (not a lambda or a closure), or n_jobs=1."
        ) from exc


@register_executor("local")
class LocalExecutor(Executor):
    """Evaluates on ``n_workers`` spawned worker processes of this machine.

    Parameters
    ----------
    evaluator
        Must be picklable (an Evaluator object or a module-level function); it is sent to
        each worker once, when the worker starts.
    n_workers
        Worker processes; each gets ``cores // n_workers`` threads (at least one).
    mp_context
        The multiprocessing start method; ``"spawn"`` is safe with torch and CUDA.

    Raises
    ------
    TypeError
        When the evaluator cannot be pickled.
    """

    def __init__(
        self, evaluator: Evaluator, *, n_workers: int = 1, mp_context: str = "spawn"
    ) -> None:
        super().__init__(evaluator, n_workers=n_workers)
        payload = _pickled(evaluator)
        n_threads = max(1, (os.cpu_count() or 1) // self.n_workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self.n_workers, mp_context=multiprocessing.get_context(mp_context),
            initializer=_init_worker, initargs=(payload, n_threads),
        )  # fmt: skip

    def submit(self, arch: Architecture, budget: float | None) -> Future[Result]:
        return self._pool.submit(_evaluate, arch, budget)

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
