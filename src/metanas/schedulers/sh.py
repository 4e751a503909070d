"""Synchronous successive halving: a cohort trains to a rung, its best 1/eta go on."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from metanas._checks import check_positive_int
from metanas.schedulers.base import Decision, Scheduler, register_scheduler

__all__ = ["SuccessiveHalvingScheduler"]


@register_scheduler("sh")
class SuccessiveHalvingScheduler(Scheduler):
    """Synchronous successive halving (Jamieson & Talwalkar, 2016), promotion type.

    Trials are grouped by number into cohorts of ``n_cohort`` (trials ``0 .. n_cohort - 1``
    are the first cohort, and so on). Each trial trains to the first rung and PAUSEs; when
    every trial of its cohort has reported there, the best ``max(1, n // eta)`` of the ``n``
    at that rung are promoted (:meth:`next_promotion`, best first) and the others stop
    (:meth:`pending_stops`). Promoted trials pause again at the next rung, until
    ``max_budget``. A failed segment stops its trial at once and still counts for its cohort.
    A cohort that never fills (the study ends first) keeps its trials paused: a resumed study
    fills it and goes on.

    Parameters
    ----------
    min_budget, max_budget, eta, seed
        See :class:`~metanas.schedulers.Scheduler`.
    n_cohort
        Trials per cohort; None: ``eta ** (len(rungs) - 1)`` rounded up, so one trial of the
        cohort reaches ``max_budget``.

    References
    ----------
    Jamieson, Talwalkar. "Non-stochastic Best Arm Identification and Hyperparameter
    Optimization." AISTATS 2016.

    Examples
    --------
    >>> sh = SuccessiveHalvingScheduler(max_budget=3, eta=3)
    >>> sh.n_cohort
    3
    >>> [sh.on_result(t, 1, s)[0].value for t, s in enumerate([0.2, 0.9, 0.5])]
    ['pause', 'pause', 'pause']
    >>> sh.next_promotion(), sh.pending_stops()
    ((1, 3.0), [2, 0])
    """

    def __init__(
        self,
        *,
        min_budget: float = 1,
        max_budget: float,
        eta: float = 3,
        seed: int | None = None,
        n_cohort: int | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(
            min_budget=min_budget, max_budget=max_budget, eta=eta, seed=seed, **settings
        )
        if n_cohort is None:
            n_cohort = math.ceil(self.eta ** (len(self.rungs) - 1) - 1e-9)
        self.n_cohort = check_positive_int("n_cohort", n_cohort)
        # (cohort, rung index) -> [(trial, score or None)] in arrival order
        self._results: dict[tuple[int, int], list[tuple[int, float | None]]] = {}
        self._promotions: deque[tuple[int, float]] = deque()
        self._stops: list[int] = []

    def expected(self, rung: int) -> int:
        """Trials of one cohort that reach rung index ``rung``."""
        n = self.n_cohort
        for _ in range(rung):
            n = max(1, int(n // self.eta))
        return n

    def on_result(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        nxt = self._next_rung(budget)
        if nxt is None:
            return Decision.COMPLETE, None
        rung = self._rung_index(budget)
        cohort = trial_number // self.n_cohort
        bucket = self._results.setdefault((cohort, rung), [])
        bucket.append((trial_number, score))
        if len(bucket) == self.expected(rung):
            self._close(bucket, rung, nxt)
        return (Decision.STOP, None) if score is None else (Decision.PAUSE, None)

    def _close(self, bucket: list[tuple[int, float | None]], rung: int, nxt: float) -> None:
        ranked = sorted(
            (i for i, (_, s) in enumerate(bucket) if s is not None),
            key=lambda i: (-(bucket[i][1] or 0.0), i),
        )
        n_up = self.expected(rung + 1)
        for pos, i in enumerate(ranked):
            if pos < n_up:
                self._promotions.append((bucket[i][0], nxt))
            else:
                self._stops.append(bucket[i][0])

    def next_promotion(self) -> tuple[int, float] | None:
        return self._promotions.popleft() if self._promotions else None

    def pending_stops(self) -> list[int]:
        out, self._stops = self._stops, []
        return out
