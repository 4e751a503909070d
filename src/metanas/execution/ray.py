"""Evaluations as Ray tasks: a local Ray cluster, or any cluster this process can reach.

Each submission is one Ray remote task with the resources of one trial (CPUs, GPUs), so the
cluster's scheduler places trials on whichever node has room; the study stays the only
writer of the storage. Ray is an optional dependency, imported when the executor is built:
``pip install "metanas[ray]"``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import wait as wait_futures
from typing import Any

from metanas.evaluation.base import Evaluator, Result
from metanas.execution.base import (
    Executor,
    check_timeout_s,
    register_executor,
    run_evaluation,
)
from metanas.spaces.architecture import Architecture

__all__ = ["RayExecutor"]

_logger = logging.getLogger(__name__)

#: Object store of a local cluster this executor starts: evaluators and results are small,
#: and Ray's default (30 % of the machine's memory) would take a shared machine's memory.
_LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2

# Evaluators a Ray worker process has unpickled, by object id: a worker reused for many
# trials unpickles the evaluator (a training task's data, a benchmark table) once.
_worker_evaluators: dict[str, Evaluator] = {}
_WORKER_CACHE_SIZE = 4

# The Ray remote function of _evaluate_on_worker, made once per process: Ray exports a remote
# function to the cluster (pickled, stored in its control store) at its first call, so one
# made per executor would pay that round trip in every study; options() shares the export.
_REMOTE: list[Any] = []


def _require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            'executor="ray" needs Ray; install it with pip install "metanas[ray]" (or pip '
            "install ray), or use executor='local' for a process pool on this machine."
        ) from exc
    return ray


def _evaluate_on_worker(
    holder: list[Any], arch: Architecture, budget: float | None, resume_from: float | None
) -> Result:
    """The Ray task: evaluate ``arch`` with the evaluator stored once in the object store.

    The evaluator's reference comes inside a list so that Ray passes the reference itself,
    not the value: the worker fetches and unpickles it only the first time it sees it.
    """
    import ray

    ref = holder[0]
    key = ref.hex()
    evaluator = _worker_evaluators.get(key)
    if evaluator is None:
        evaluator = ray.get(ref)
        while len(_worker_evaluators) >= _WORKER_CACHE_SIZE:
            _worker_evaluators.pop(next(iter(_worker_evaluators)))
        _worker_evaluators[key] = evaluator
    return run_evaluation(evaluator, arch, budget, resume_from)


def _resolve(
    future: Future[Result], *, result: Any = None, error: BaseException | None = None
) -> bool:
    """Settle ``future`` unless the task's end and its timeout raced and the other won."""
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        return False
    return True


def _check_amount(name: str, value: object, *, minimum: float, integer: bool = False) -> float:
    what = "an int" if integer else "a number"
    error = ValueError(f"{name} must be {what} >= {minimum:g}; got {value!r}.")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error
    if (integer and not isinstance(value, int)) or not value >= minimum:
        raise error
    return float(value)


@register_executor("ray")
class RayExecutor(Executor):
    """Evaluates each submission as a Ray remote task, ``n_workers`` at a time.

    Builds on the Ray runtime of this process: when Ray is not initialised yet, the
    executor calls ``ray.init`` itself (and shuts it down in :meth:`close`); an already
    initialised Ray (a script's own ``ray.init``) is used as it is and left running.

    Parameters
    ----------
    evaluator
        Sent once to the cluster's object store (pickled with cloudpickle, so lambdas and
        closures work); each worker process unpickles it the first time it runs a trial.
        Classes the evaluator uses must be importable on every node.
    n_workers
        Trials running at once: the executor hands Ray at most this many tasks, so a cluster
        with more room still runs ``n_workers``.
    address
        The cluster to join: ``"auto"`` (the cluster started on this machine with ``ray
        start``), ``"ray://host:10001"`` (Ray Client) or ``"host:6379"``. None: the address
        in ``$RAY_ADDRESS`` if set, else a new local cluster with at least
        ``n_workers * num_cpus_per_trial`` CPUs, a 256 MiB object store and no dashboard.
    num_cpus_per_trial, num_gpus_per_trial
        Resources each trial's task reserves; Ray caps a task's threads
        (``OMP_NUM_THREADS``) to its CPUs. Fractions share a device between trials.
    trial_timeout_s
        Fail a trial still unfinished this many seconds after it started waiting for a
        worker of its own with ``TimeoutError("timed out after N s")``: from its submission
        to Ray (waiting there for free resources counts), or, for one queued ahead behind
        this executor's own ``n_workers`` trials, from the end of one of those. Its task is
        cancelled with ``force=True``, which kills the worker process running it. None: no
        limit.
    max_retries
        Times Ray runs a task again when its worker process or node dies (not when the
        evaluator raises, nor after a timeout). 0: such a trial fails at once.
    queue_ahead
        Submissions accepted beyond ``n_workers`` (see :class:`~metanas.execution.Executor`).
        Where the cluster fits no more than ``n_workers`` trials at once (its CPUs, GPUs
        divided by a trial's, read when the executor is built), they go to Ray at once and
        Ray starts one on the worker that frees, with no round trip through this process.
        On a larger cluster only ``n_workers`` tasks go to Ray; the others wait here, their
        futures pending (the study may cancel them), and a thread of this executor sends
        the next the moment a task ends, before the study has stored its result.
    ray_init_kwargs
        More keyword arguments for ``ray.init`` (``runtime_env``, ``num_cpus``,
        ``object_store_memory`` ...), overriding the defaults above; used only when this
        executor initialises Ray.

    Raises
    ------
    ImportError
        When Ray is not installed (``pip install "metanas[ray]"``).
    ValueError
        When a resource, the timeout or ``max_retries`` is out of range.

    Examples
    --------
    >>> from metanas import FunctionEvaluator, SearchSpace
    >>> from metanas.execution import RayExecutor
    >>> space = SearchSpace({"width": [8, 16]})
    >>> with RayExecutor(FunctionEvaluator(lambda a: a["width"] / 16), n_workers=2) as ex:
    ...     ex.submit(space.validate({"width": 8}), budget=None).result().metrics
    ... # doctest: +SKIP
    {'value': 0.5}
    """

    def __init__(
        self,
        evaluator: Evaluator,
        *,
        n_workers: int = 1,
        address: str | None = None,
        num_cpus_per_trial: float = 1,
        num_gpus_per_trial: float = 0,
        trial_timeout_s: float | None = None,
        max_retries: int = 0,
        queue_ahead: int = 1,
        ray_init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(evaluator, n_workers=n_workers, queue_ahead=queue_ahead)
        self.num_cpus_per_trial = _check_amount("num_cpus_per_trial", num_cpus_per_trial, minimum=0)
        self.num_gpus_per_trial = _check_amount("num_gpus_per_trial", num_gpus_per_trial, minimum=0)
        check_timeout_s(trial_timeout_s)
        self.trial_timeout_s = None if trial_timeout_s is None else float(trial_timeout_s)
        self.max_retries = int(_check_amount("max_retries", max_retries, minimum=0, integer=True))
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(
                f"address must be 'auto', a Ray address such as 'ray://head:10001' or "
                f"'head:6379', or None for a local cluster; got {address!r}."
            )
        self.address = address
        ray = _require_ray()
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(**self._init_kwargs(address, ray_init_kwargs))
            self._owns_ray = True
        elif address is not None:
            _logger.info("Ray is already initialised in this process: address=%r unused.", address)
        self._evaluator_ref = ray.put(evaluator)
        # Inside a list, Ray passes the reference itself, not the evaluator (see
        # _evaluate_on_worker); one list serves every trial.
        self._holder = [self._evaluator_ref]
        if not _REMOTE:
            _REMOTE.append(ray.remote(_evaluate_on_worker))
        self._task = _REMOTE[0].options(
            num_cpus=self.num_cpus_per_trial,
            num_gpus=self.num_gpus_per_trial,
            max_retries=self.max_retries,
            name="metanas-trial",
        )
        # How many tasks Ray may hold at once. Where the cluster fits no more than n_workers
        # trials side by side, Ray itself keeps the rest queued and starts one on the worker
        # that frees (the driver is not in that path); elsewhere only n_workers go to Ray
        # and the rest wait here, sent by this executor's thread as a task ends.
        self._limit = self.n_workers + (self.queue_ahead if self._cluster_bounds() else 0)
        # Tasks on Ray whose timeout clock runs (at most n_workers: the running ones, as far
        # as this process can tell), and those queued on Ray behind them, clock not started.
        self._clocked: set[Future[Result]] = set()
        self._unclocked: deque[tuple[Future[Result], Any]] = deque()
        self._timers: dict[Future[Result], threading.Timer] = {}
        self._lock = threading.Lock()
        self._in_flight: dict[Future[Result], Any] = {}
        # Submissions not yet handed to Ray, in order, and those holding one of the
        # n_workers slots (running on Ray or waiting there for resources).
        self._held: deque[tuple[Future[Result], tuple[Any, ...]]] = deque()
        self._slots: set[Future[Result]] = set()
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._closed = False
        # Ray's completion callbacks must not submit tasks themselves (they run on Ray's
        # own threads); they wake this thread, which does.
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="metanas-ray-dispatch", daemon=True
        )
        self._dispatcher.start()

    def _cluster_bounds(self) -> bool:
        """Whether the cluster's resources let at most ``n_workers`` trials run at once.

        Read once, when the executor is built: a cluster that an autoscaler grows later may
        then run up to ``n_workers + queue_ahead`` trials at once.
        """
        if self.queue_ahead == 0:
            return False
        total = self._ray.cluster_resources()
        fits = [
            math.floor(total.get(name, 0.0) / need + 1e-9)
            for name, need in (("CPU", self.num_cpus_per_trial), ("GPU", self.num_gpus_per_trial))
            if need > 0
        ]
        return bool(fits) and min(fits) <= self.n_workers

    def _init_kwargs(self, address: str | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        address = address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {
            "address": address,
            "include_dashboard": False,
            "logging_level": logging.WARNING,
        }
        if address is None:
            # n_workers trials must run at once even on a machine with fewer cores, as
            # n_jobs does on the local pool.
            kwargs["num_cpus"] = max(
                os.cpu_count() or 1, math.ceil(self.n_workers * self.num_cpus_per_trial)
            )
            kwargs["object_store_memory"] = _LOCAL_OBJECT_STORE_BYTES
        kwargs.update(extra or {})
        return kwargs

    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        if self._closed:
            raise RuntimeError("This RayExecutor is closed; build a new one to submit trials.")
        future: Future[Result] = Future()
        with self._lock:
            self._held.append((future, (arch, budget, resume_from)))
        self._dispatch()
        return future

    def _dispatch_loop(self) -> None:
        while self._wake.get():
            self._dispatch()

    def _dispatch(self) -> None:
        """Hand held submissions to Ray while fewer than ``n_workers`` hold a slot."""
        while True:
            with self._lock:
                if not self._held or len(self._slots) >= self._limit:
                    return
                future, args = self._held.popleft()
                # A held future the study cancelled (it stopped) never reaches Ray.
                if not future.set_running_or_notify_cancel():
                    continue
                self._slots.add(future)
            try:
                self._launch(future, *args)
            except BaseException as exc:  # Ray gone (shut down under us): fail this trial
                self._release(future)
                _resolve(future, error=exc)

    def _release(self, future: Future[Result]) -> None:
        start: tuple[Future[Result], Any] | None = None
        with self._lock:
            if future not in self._slots:
                return
            self._slots.discard(future)
            if future in self._clocked:
                self._clocked.discard(future)
                while self._unclocked and start is None:
                    queued = self._unclocked.popleft()
                    if queued[0] in self._slots:
                        start = queued
                        self._clocked.add(queued[0])
            wake = bool(self._held)
        if start is not None:
            self._start_clock(*start)
        if wake:
            self._wake.put(True)

    def _start_clock(self, future: Future[Result], ref: Any) -> None:
        timer = threading.Timer(self.trial_timeout_s or 0.0, self._time_out, args=(future, ref))
        timer.daemon = True
        with self._lock:
            if future not in self._slots:  # ended meanwhile
                return
            self._timers[future] = timer
        timer.start()

    def _launch(
        self,
        future: Future[Result],
        arch: Architecture,
        budget: float | None,
        resume_from: float | None,
    ) -> None:
        ref = self._task.remote(self._holder, arch, budget, resume_from)
        clock = False
        with self._lock:
            self._in_flight[future] = ref
            if self.trial_timeout_s is not None:
                # A task queued ahead on Ray waits behind this executor's own trials: its
                # clock starts when one of those ends, not now.
                clock = len(self._clocked) < self.n_workers
                if clock:
                    self._clocked.add(future)
                else:
                    self._unclocked.append((future, ref))
        if clock:
            self._start_clock(future, ref)
        ref.future().add_done_callback(
            lambda done: self._settle(future, done)  # Ray's callback thread
        )

    def _settle(self, future: Future[Result], done: Future[Any]) -> None:
        with self._lock:
            self._in_flight.pop(future, None)
            timer = self._timers.pop(future, None)
        if timer is not None:
            timer.cancel()
        self._release(future)
        exc = done.exception()
        if exc is None:
            _resolve(future, result=done.result())
            return
        # A RayTaskError wraps the evaluator's own exception (and Ray's traceback text):
        # the trial's stored error reads as it would on the other executors.
        cause = getattr(exc, "cause", None)
        _resolve(future, error=cause if isinstance(cause, BaseException) else exc)

    def _time_out(self, future: Future[Result], ref: Any) -> None:
        with self._lock:
            self._in_flight.pop(future, None)
            self._timers.pop(future, None)
        self._release(future)  # its worker is killed below: the slot is free
        if _resolve(future, error=TimeoutError(f"timed out after {self.trial_timeout_s:g} s")):
            with contextlib.suppress(Exception):  # finished meanwhile, or gone: nothing to stop
                self._ray.cancel(ref, force=True)

    def close(self, *, wait: bool = True) -> None:
        """Wait for (``wait=False``: cancel) the trials submitted; stop a Ray it started."""
        self._closed = True
        if wait:
            # Held submissions go to Ray as slots free, so waiting covers them too.
            with self._lock:
                submitted = [f for f, _args in self._held] + list(self._slots)
            wait_futures(submitted)
        else:
            with self._lock:
                held = [f for f, _args in self._held]
                self._held.clear()
                pending = dict(self._in_flight)
            for future in held:
                _resolve(future, error=RuntimeError("cancelled: the executor was closed"))
            for future, ref in pending.items():
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref, force=True)
                _resolve(future, error=RuntimeError("cancelled: the executor was closed"))
        self._wake.put(False)
        if self._owns_ray:
            self._owns_ray = False
            self._ray.shutdown()

    def __repr__(self) -> str:
        where = self.address or "local"
        return (
            f"RayExecutor({type(self.evaluator).__name__}, n_workers={self.n_workers}, "
            f"address={where!r})"
        )
