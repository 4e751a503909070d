"""The executor interface: where evaluations run, behind ``submit(arch, budget) -> Future``.

An executor holds one evaluator and runs it on the architectures it is given; it never asks,
stores or tells. The study owns that loop (:meth:`metanas.Study.optimize`): it keeps up to
:attr:`Executor.n_workers` submissions in flight, stores each result as its future finishes and
tells the strategy in trial order. A multi-fidelity scheduler chooses ``budget`` per submission;
a scheduled study keeps :attr:`Executor.queue_ahead` more submitted, which wait in the
executor (never more than ``n_workers`` run at once) so that a worker that frees starts its
next segment without waiting for the study. A new backend (a Ray cluster, a job queue) is one
subclass registered by name.
"""

from __future__ import annotations

import abc
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from metanas._checks import check_positive_int
from metanas._registry import Registry
from metanas.evaluation.base import Evaluator, Result
from metanas.spaces.architecture import Architecture

__all__ = [
    "Executor",
    "create_executor",
    "get_executor_class",
    "register_executor",
    "run_evaluation",
]


class Executor(abc.ABC):
    """Runs one evaluator on submitted architectures; each submission returns a future.

    Two methods to implement: :meth:`submit` and :meth:`close`. A registered executor is
    built as ``cls(evaluator, n_workers=n)``, so its constructor takes those two arguments
    (and may take more as keywords with defaults).

    Parameters
    ----------
    evaluator
        What each submission runs: ``evaluator.evaluate(arch, budget=budget)``.
    n_workers
        Evaluations the executor runs at once; the study keeps this many in flight.
    queue_ahead
        Submissions beyond ``n_workers`` the executor accepts and holds until a worker frees
        (0: none). A scheduled study keeps ``n_workers + queue_ahead`` segments submitted, so
        a worker finishing one segment finds the next already waiting instead of idling while
        the study stores the result and the scheduler decides. An executor whose ``submit``
        runs the evaluation before returning (in-process) leaves it at 0.

    Examples
    --------
    >>> from metanas import FunctionEvaluator, SearchSpace
    >>> from metanas.execution import InProcessExecutor
    >>> space = SearchSpace({"width": [8, 16]})
    >>> with InProcessExecutor(FunctionEvaluator(lambda a: a["width"] / 16)) as ex:
    ...     future = ex.submit(space.validate({"width": 8}), budget=None)
    ...     future.result().metrics
    {'value': 0.5}
    """

    registered_name: str | None = None

    def __init__(self, evaluator: Evaluator, *, n_workers: int = 1, queue_ahead: int = 0) -> None:
        if not isinstance(evaluator, Evaluator):
            raise TypeError(
                f"{type(self).__name__} needs a metanas Evaluator; got "
                f"{type(evaluator).__name__}. Wrap a function with "
                "metanas.FunctionEvaluator(fn, metric=...)."
            )
        self._evaluator = evaluator
        self._n_workers = check_positive_int("n_workers", n_workers)
        self._queue_ahead = check_positive_int(
            "queue_ahead", queue_ahead, minimum=0,
            fix=" It counts the submissions held beyond n_workers; 0 holds none.",
        )  # fmt: skip

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator every submission runs."""
        return self._evaluator

    @property
    def n_workers(self) -> int:
        """How many evaluations run at once."""
        return self._n_workers

    @property
    def queue_ahead(self) -> int:
        """Submissions held beyond :attr:`n_workers`, waiting for a worker to free."""
        return self._queue_ahead

    @abc.abstractmethod
    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        """Start evaluating ``arch`` at fidelity ``budget``; return the future of its Result.

        ``resume_from`` (a scheduled study, an evaluator with ``supports_resume``) continues
        the run of ``arch`` stopped at that budget; it reaches the evaluator only when not
        None, so evaluators without the keyword keep working. An exception raised by the
        evaluator is set on the future, not raised here; the future's result is whatever the
        evaluator returned (the study checks it is a Result).
        """

    @abc.abstractmethod
    def close(self, *, wait: bool = True) -> None:
        """Release the workers; ``wait=False`` cancels what has not started and returns at once."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # After an error (Ctrl-C) do not wait for evaluations nobody will read.
        self.close(wait=exc_type is None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({type(self._evaluator).__name__}, n_workers={self._n_workers})"
        )


def check_timeout_s(trial_timeout_s: object) -> float | None:
    """``trial_timeout_s`` if it is a number of seconds > 0 or None; else a ValueError."""
    if trial_timeout_s is not None and (
        isinstance(trial_timeout_s, bool)
        or not isinstance(trial_timeout_s, int | float)
        or not trial_timeout_s > 0
    ):
        raise ValueError(
            f"trial_timeout_s must be a number of seconds > 0, or None for no limit; got "
            f"{trial_timeout_s!r}."
        )
    return trial_timeout_s


def run_evaluation(
    evaluator: Evaluator, arch: Architecture, budget: float | None, resume_from: float | None
) -> Result:
    """``evaluator.evaluate(arch, budget=...)``, with ``resume_from`` only when it is not None."""
    if resume_from is None:
        return evaluator.evaluate(arch, budget=budget)
    # Only evaluators with supports_resume get this keyword (the study checks that).
    return evaluator.evaluate(arch, budget=budget, resume_from=resume_from)  # type: ignore[call-arg]


def _check_executor(obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Executor)):
        raise TypeError(
            f"register_executor decorates a subclass of metanas.execution.Executor; got {obj!r}."
        )


_EXECUTORS: Registry[type[Executor]] = Registry(
    "executor",
    builtins="metanas.execution",
    check=_check_executor,
    fix="Pass one of these, or register your own with @metanas.execution.register_executor.",
)

#: Decorator: ``@register_executor("name")`` on an :class:`Executor` subclass.
register_executor = _EXECUTORS.register


def get_executor_class(name: str) -> type[Executor]:
    """The executor class registered as ``name``; an unknown name raises ``UnknownNameError``."""
    return _EXECUTORS.get(name)


def create_executor(name: str, evaluator: Evaluator, *, n_workers: int = 1) -> Executor:
    """Build the executor registered as ``name`` for ``evaluator`` with ``n_workers`` workers.

    Examples
    --------
    >>> from metanas import FunctionEvaluator
    >>> create_executor("inprocess", FunctionEvaluator(lambda a: 1.0))
    InProcessExecutor(FunctionEvaluator, n_workers=1)
    """
    return get_executor_class(name)(evaluator, n_workers=n_workers)
