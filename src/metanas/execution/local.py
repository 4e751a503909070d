"""A local process pool: several evaluations at once (``Study.optimize(n_jobs=...)``).

Workers are spawned (a fresh interpreter: no forked torch or CUDA state), receive the evaluator
pickled once when they start, and cap their threads so ``n_workers`` workers share the cores
instead of each taking all of them.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from metanas.evaluation.base import Evaluator, Result
from metanas.exceptions import MetanasError
from metanas.execution.base import (
    Executor,
    check_timeout_s,
    register_executor,
    run_evaluation,
)
from metanas.spaces.architecture import Architecture

__all__ = ["LocalExecutor", "MainGuardError", "resolve_n_jobs"]


class MainGuardError(MetanasError, RuntimeError):
    """Worker processes would re-run the calling script, which starts the search unguarded."""


_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_worker_evaluator: Evaluator | None = None


def resolve_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` checked; ``-1`` means one worker per CPU core."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(
            f"n_jobs must be an int >= 1, or -1 for one worker per core; got {n_jobs!r}."
        )
    return os.cpu_count() or 1 if n_jobs == -1 else n_jobs


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def _unguarded_main_line(frame: FrameType | None) -> tuple[str, int] | None:
    """``(script, line)`` when a script's top level, outside a main guard, led to this call.

    A spawned worker imports the main script before it runs anything, so top-level code
    that starts workers would start them again in every worker. Only a ``.py`` file run as
    the main module is checked (not ``python -c``, a notebook or an interactive session).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or not path.endswith(".py"):
        return None
    top: FrameType | None = None
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            top = frame
        frame = frame.f_back
    if top is None:
        return None
    line = top.f_lineno
    guarded = _main_guard_lines(path)
    if guarded is None or any(first <= line <= last for first, last in guarded):
        return None
    return path, line


@functools.lru_cache(maxsize=8)
def _main_guard_lines(path: str) -> tuple[tuple[int, int], ...] | None:
    """The line ranges of ``path``'s main-guard bodies (None: the file cannot be parsed).

    Read once per process: a script edited while its search runs (a long benchmark, say)
    must not be judged by line numbers of a text that is no longer the one running.
    """
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None  # cannot tell: let the start method speak for itself
    return tuple(
        (node.body[0].lineno, node.body[-1].end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body
    )


def _check_main_guard(n_workers: int) -> None:
    found = _unguarded_main_line(sys._getframe(2))
    if found is None:
        return
    script, line = found
    raise MainGuardError(
        f"n_jobs={n_workers} starts worker processes that re-run {Path(script).name} from the "
        f'top, and its line {line} starts the search outside `if __name__ == "__main__":`: '
        "put the code that runs the search under that guard, or use n_jobs=1."
    )


def _init_worker(payload: bytes, n_threads: int) -> None:
    # Ctrl-C reaches the whole process group: the study (the parent) decides what the
    # interrupted trials become and stops the workers, which must not die on their own
    # mid-trial and break the pool first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def _evaluate(arch: Architecture, budget: float | None, resume_from: float | None = None) -> Result:
    if _worker_evaluator is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker started without an evaluator")
    return run_evaluation(_worker_evaluator, arch, budget, resume_from)


def _serve(conn: Connection, payload: bytes, n_threads: int) -> None:
    """A timed pool's worker: evaluate each ``(arch, budget, resume_from)``, send the outcome."""
    _init_worker(payload, n_threads)
    conn.send(("ready", None))
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", _evaluate(*task))
        except Exception as exc:
            reply = ("error", exc)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


class _Slot:
    """One worker process of a timed pool and the pipe to it."""

    def __init__(self, ctx: Any, payload: bytes, n_threads: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child, payload, n_threads), daemon=True
        )
        self.process.start()
        child.close()
        self.ready = False

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class _TimedPool:
    """Worker processes that can each be killed and replaced: a per-trial timeout.

    ProcessPoolExecutor cannot stop one evaluation: killing its worker breaks the whole
    pool and every evaluation in flight with it. Here each submission waits for an idle
    worker on a thread of its own; an evaluation past ``timeout_s`` has its worker killed
    and a fresh one started in its place, and only its future fails.
    """

    def __init__(
        self, n_workers: int, ctx: Any, payload: bytes, n_threads: int, timeout_s: float
    ) -> None:
        self._start = (ctx, payload, n_threads)
        self.timeout_s = timeout_s
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._slots = [self._new_slot() for _ in range(n_workers)]
        for slot in self._slots:
            self._idle.put(slot)
        self._closed = False
        self._lock = threading.Lock()

    def _new_slot(self) -> _Slot:
        return _Slot(*self._start)

    def submit(
        self, arch: Architecture, budget: float | None, resume_from: float | None
    ) -> Future[Result]:
        future: Future[Result] = Future()
        threading.Thread(
            target=self._run, args=(future, arch, budget, resume_from),
            name="metanas-timed-trial", daemon=True,
        ).start()  # fmt: skip
        return future

    def _run(
        self,
        future: Future[Result],
        arch: Architecture,
        budget: float | None,
        resume_from: float | None,
    ) -> None:
        slot = self._idle.get()
        if self._closed or not future.set_running_or_notify_cancel():
            self._idle.put(slot)
            return
        try:
            if not slot.ready:
                # Starting a worker (an interpreter, imports, the evaluator) is not the
                # trial's time: its clock starts once the worker is ready.
                slot.conn.recv()
                slot.ready = True
            slot.conn.send((arch, budget, resume_from))
            if slot.conn.poll(self.timeout_s):
                kind, value = slot.conn.recv()
                if kind == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(value)
                self._idle.put(slot)
                return
            error: BaseException = TimeoutError(f"timed out after {self.timeout_s:g} s")
        except (EOFError, OSError) as exc:
            error = RuntimeError(f"the worker process evaluating this trial died ({exc!r})")
        slot.kill()
        with self._lock:
            fresh = None if self._closed else self._new_slot()
            if fresh is not None:
                self._slots[self._slots.index(slot)] = fresh
        future.set_exception(error)
        if fresh is not None:
            self._idle.put(fresh)

    def shutdown(self, *, wait: bool) -> None:
        with self._lock:
            self._closed = True
            slots = list(self._slots)
        for slot in slots:
            if wait:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
                slot.process.join(timeout=self.timeout_s + 5)
            slot.kill()


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
        Worker processes; each starts with ``cores // n_workers`` threads (at least one);
        an evaluator that sets its own count (``TrainEvaluator(threads=...)``) uses that.
    mp_context
        The multiprocessing start method; ``"spawn"`` is safe with torch and CUDA.
    trial_timeout_s
        Fail an evaluation that runs longer than this with ``TimeoutError("timed out after
        N s")``, killing its worker process and starting a fresh one in its place (the
        other evaluations go on). None: no limit.
    queue_ahead
        Submissions held beyond ``n_workers`` (see :class:`~metanas.execution.Executor`);
        they wait in the pool, and one starts the moment a worker frees. Its clock for
        ``trial_timeout_s`` starts when a worker takes it.

    Raises
    ------
    TypeError
        When the evaluator cannot be pickled.
    MainGuardError
        When the ``.py`` script run as the main program builds the executor from its top
        level outside ``if __name__ == "__main__":``: spawned workers import that script,
        so they would run the search again (raised before any worker starts).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        *,
        n_workers: int = 1,
        mp_context: str = "spawn",
        trial_timeout_s: float | None = None,
        queue_ahead: int = 1,
    ) -> None:
        super().__init__(evaluator, n_workers=n_workers, queue_ahead=queue_ahead)
        check_timeout_s(trial_timeout_s)
        if mp_context != "fork":
            _check_main_guard(self.n_workers)
        payload = _pickled(evaluator)
        n_threads = max(1, (os.cpu_count() or 1) // self.n_workers)
        self.trial_timeout_s = trial_timeout_s
        self._timed: _TimedPool | None = None
        if trial_timeout_s is not None:
            self._timed = _TimedPool(
                self.n_workers, multiprocessing.get_context(mp_context), payload, n_threads,
                float(trial_timeout_s),
            )  # fmt: skip
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.n_workers, mp_context=multiprocessing.get_context(mp_context),
            initializer=_init_worker, initargs=(payload, n_threads),
        )  # fmt: skip

    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        if self._timed is not None:
            return self._timed.submit(arch, budget, resume_from)
        return self._pool.submit(_evaluate, arch, budget, resume_from)

    def close(self, *, wait: bool = True) -> None:
        if self._timed is not None:
            self._timed.shutdown(wait=wait)
            return
        # The pool has no public way to stop a running evaluation; without it Ctrl-C would
        # wait for every running trial (minutes of training) before the process could exit.
        processes = (
            list((getattr(self._pool, "_processes", None) or {}).values()) if not wait else []
        )
        self._pool.shutdown(wait=wait, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGTERM)
        # Reaped before returning: a caller that cut a trial off at its deadline (optimize's
        # in_flight="cancel") returns with no worker left behind, not even a zombie.
        until = time.monotonic() + 5
        for process in processes:
            while process.exitcode is None and time.monotonic() < until:
                process.join(timeout=0.05)
