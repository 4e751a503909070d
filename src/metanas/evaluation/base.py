"""Evaluators turn an architecture into measured metrics."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from metanas.spaces.architecture import Architecture

__all__ = ["Evaluator", "FunctionEvaluator", "Result", "Status", "as_evaluator"]


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    """What an evaluation measured.

    Parameters
    ----------
    metrics
        Metrics a search may use (validation accuracy, latency, params ...).
    test_metrics
        Metrics for reporting only (test accuracy). They are stored with the
        trial but never shown to a strategy, so a search cannot tune to the
        test split.
    cost_s
        Seconds the evaluation cost (wall time, or the table's recorded
        training time for a look-up).
    status, reason
        ``FAILED`` with a reason marks the trial failed; the study goes on.
    curve
        Per-epoch measurements, one mapping per epoch (``epoch``,
        ``valid_accuracy``, ``test_accuracy``, ``train_time_s``), when the
        evaluator records them (``TrainEvaluator(record_curve=True)``). A study
        stores it as the trial's intermediate values (steps = epochs), read back
        with :meth:`Study.intermediate_values`.
    """

    metrics: Mapping[str, float] = field(default_factory=dict)
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    cost_s: float = 0.0
    status: Status = Status.OK
    reason: str | None = None
    curve: tuple[Mapping[str, float], ...] = ()

    @classmethod
    def failed(cls, reason: str, cost_s: float = 0.0) -> Result:
        """A failed evaluation with its reason."""
        return cls(status=Status.FAILED, reason=reason, cost_s=cost_s)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


class Evaluator(abc.ABC):
    """Measures an architecture. One method to implement: :meth:`evaluate`.

    An evaluator that raises, or returns a NaN objective, makes that trial
    FAILED; the study records the reason and goes on.
    """

    #: Name of the task this evaluator measures on; a study records it.
    task_name: str | None = None
    #: True when ``evaluate(arch, budget=e, resume_from=e_prev)`` continues the run of ``arch``
    #: stopped after ``e_prev`` epochs (from a checkpoint) instead of training from scratch; it
    #: then charges only this call's time in ``cost_s`` and returns the whole curve 1..e. A
    #: scheduled study passes ``resume_from`` only to evaluators that set this.
    supports_resume: ClassVar[bool] = False

    @abc.abstractmethod
    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        """Measure ``arch``; ``budget`` is an optional fidelity (epochs, seconds)."""

    def task_descriptors(self) -> dict[str, Any]:
        """Descriptors of the task (meta-features) stored with a study; empty by default."""
        return {}


class FunctionEvaluator(Evaluator):
    """Wrap ``fn(arch) -> float | dict | Result`` as an evaluator.

    A float becomes the metric named ``metric``; a dict is the metrics dict.
    """

    def __init__(self, fn: Callable[[Architecture], Any], metric: str = "value") -> None:
        if not callable(fn):
            raise TypeError(f"FunctionEvaluator needs a callable; got {fn!r}.")
        self.fn = fn
        self.metric = metric
        # A function's name does not say which task it measures: leave the task to the study.
        self.task_name = None

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        start = time.perf_counter()
        out = self.fn(arch)
        cost = time.perf_counter() - start
        if isinstance(out, Result):
            return out
        if isinstance(out, Mapping):
            return Result(metrics={str(k): float(v) for k, v in out.items()}, cost_s=cost)
        if isinstance(out, int | float) and not isinstance(out, bool):
            return Result(metrics={self.metric: float(out)}, cost_s=cost)
        raise TypeError(
            f"The objective function returned {type(out).__name__} {out!r}; return a float, "
            "a dict of metrics or a metanas.Result."
        )


def as_evaluator(obj: Evaluator | Callable[[Architecture], Any], metric: str) -> Evaluator:
    """Accept an Evaluator or a plain function."""
    if isinstance(obj, Evaluator):
        return obj
    if callable(obj):
        return FunctionEvaluator(obj, metric=metric)
    raise TypeError(
        f"optimize() needs an Evaluator (such as a benchmark) or a function arch -> metrics; "
        f"got {type(obj).__name__}."
    )
