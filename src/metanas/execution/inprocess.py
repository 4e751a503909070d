"""The default executor: each evaluation runs in the study's own process, one at a time."""

from __future__ import annotations

from concurrent.futures import Future

from metanas.evaluation.base import Evaluator, Result
from metanas.execution.base import Executor, register_executor, run_evaluation
from metanas.spaces.architecture import Architecture

__all__ = ["InProcessExecutor"]


@register_executor("inprocess")
class InProcessExecutor(Executor):
    """Evaluates synchronously inside :meth:`submit` and returns a future that is already done.

    An ``Exception`` from the evaluator is set on the future. ``KeyboardInterrupt`` and
    ``SystemExit`` are raised from ``submit`` itself: they stop the caller, not one trial.

    Parameters
    ----------
    evaluator
        What each submission runs.
    n_workers
        Must be 1: evaluations run one after another. For several at once use
        ``executor="local"`` (``n_jobs > 1``).
    """

    def __init__(self, evaluator: Evaluator, *, n_workers: int = 1) -> None:
        super().__init__(evaluator, n_workers=n_workers)
        if self.n_workers != 1:
            raise ValueError(
                f"InProcessExecutor runs one evaluation at a time; got n_workers={n_workers!r}. "
                "Use executor='local' to evaluate several trials at once."
            )

    def submit(
        self, arch: Architecture, budget: float | None, *, resume_from: float | None = None
    ) -> Future[Result]:
        future: Future[Result] = Future()
        try:
            result = run_evaluation(self.evaluator, arch, budget, resume_from)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def close(self, *, wait: bool = True) -> None:
        """Nothing to release: there are no workers."""
