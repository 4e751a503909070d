"""Asynchronous successive halving (ASHA), stopping type: workers never wait for a cohort."""

from __future__ import annotations

from typing import Any

from metanas.schedulers.base import Decision, Scheduler, register_scheduler

__all__ = ["ASHAScheduler", "continues_at_rung"]


def continues_at_rung(scores: list[float], index: int, eta: float) -> bool:
    """Whether ``scores[index]`` is in the top ``1/eta`` of ``scores`` (at least the best one).

    ``scores`` are the oriented results recorded at one rung so far, in arrival order; ties go
    to the earlier result. With fewer than ``eta`` results only the best so far continues (as
    Optuna's successive halving pruner does: nothing can be paused and resumed there either).

    Examples
    --------
    >>> continues_at_rung([0.5], 0, 3)
    True
    >>> continues_at_rung([0.5, 0.3], 1, 3)
    False
    >>> continues_at_rung([0.5, 0.3, 0.9, 0.6, 0.4, 0.8], 5, 3)
    True
    """
    score = scores[index]
    rank = sum(1 for i, s in enumerate(scores) if s > score or (s == score and i < index))
    n_top = max(1, int(len(scores) // eta))
    return rank < n_top


class _RungTable:
    """The oriented scores reached at each rung index, in arrival order."""

    def __init__(self) -> None:
        self.scores: dict[int, list[float]] = {}

    def add(self, rung: int, score: float) -> int:
        bucket = self.scores.setdefault(rung, [])
        bucket.append(score)
        return len(bucket) - 1


@register_scheduler("asha")
class ASHAScheduler(Scheduler):
    """Asynchronous successive halving (Li et al., 2020), stopping type.

    A trial starts at the first rung; at rung ``k`` it continues to rung ``k + 1`` iff its
    score is in the top ``1/eta`` of all scores recorded at rung ``k`` so far (itself included;
    with fewer than ``eta`` results, iff it is the best so far), else it stops. A trial never
    waits for others, so every worker stays busy; decisions depend on the order results arrive.

    Parameters
    ----------
    min_budget, max_budget, eta, seed
        See :class:`~metanas.schedulers.Scheduler`; rungs are ``min_budget * eta**k``.

    References
    ----------
    Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht, Talwalkar. "A System for
    Massively Parallel Hyperparameter Tuning." MLSys 2020.

    Examples
    --------
    >>> s = ASHAScheduler(min_budget=1, max_budget=9, eta=3)
    >>> s.on_result(0, 1, 0.5)
    (<Decision.CONTINUE: 'continue'>, 3.0)
    >>> s.on_result(1, 1, 0.2)
    (<Decision.STOP: 'stop'>, None)
    """

    def __init__(
        self,
        *,
        min_budget: float = 1,
        max_budget: float,
        eta: float = 3,
        seed: int | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(
            min_budget=min_budget, max_budget=max_budget, eta=eta, seed=seed, **settings
        )
        self._table = _RungTable()

    def on_result(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        return _asha_decision(self, self._table, budget, score)


def _asha_decision(
    scheduler: Scheduler, table: _RungTable, budget: float, score: float | None
) -> tuple[Decision, float | None]:
    nxt = scheduler._next_rung(budget)
    if nxt is None:
        return Decision.COMPLETE, None
    if score is None:
        return Decision.STOP, None
    rung = scheduler._rung_index(budget)
    index = table.add(rung, score)
    if continues_at_rung(table.scores[rung], index, scheduler.eta):
        return Decision.CONTINUE, nxt
    return Decision.STOP, None
