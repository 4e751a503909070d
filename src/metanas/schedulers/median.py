"""Median stopping: stop a trial whose score is below the median of the others' at its epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from metanas._checks import check_positive_int
from metanas.schedulers.base import Decision, Scheduler, register_scheduler

__all__ = ["MedianScheduler"]


@register_scheduler("median")
class MedianScheduler(Scheduler):
    """The median stopping rule (Golovin et al., 2017; Optuna's ``MedianPruner``).

    Rungs are every whole epoch from ``min_budget`` to ``max_budget``. At each rung a trial
    stops when its score is below the median of the scores other trials reached at that rung,
    once at least ``n_startup`` others are there; otherwise it continues one epoch. ``eta`` is
    not used.

    Parameters
    ----------
    min_budget, max_budget, seed
        See :class:`~metanas.schedulers.Scheduler`.
    n_startup
        Other trials' scores needed at a rung before anything is stopped there.

    References
    ----------
    Golovin, Solnik, Moitra, Kochanski, Karro, Sculley. "Google Vizier: A Service for
    Black-Box Optimization." KDD 2017.

    Examples
    --------
    >>> m = MedianScheduler(min_budget=1, max_budget=3, n_startup=1)
    >>> m.rungs
    (1.0, 2.0, 3.0)
    >>> m.on_result(0, 1, 0.8), m.on_result(1, 1, 0.5)
    ((<Decision.CONTINUE: 'continue'>, 2.0), (<Decision.STOP: 'stop'>, None))
    """

    def __init__(
        self,
        *,
        min_budget: float = 1,
        max_budget: float,
        eta: float = 3,
        seed: int | None = None,
        n_startup: int = 3,
        **settings: Any,
    ) -> None:
        super().__init__(
            min_budget=min_budget, max_budget=max_budget, eta=eta, seed=seed, **settings
        )
        self.n_startup = check_positive_int("n_startup", n_startup, minimum=0)
        self._scores: dict[int, list[float]] = {}

    @property
    def rungs(self) -> tuple[float, ...]:
        out: list[float] = []
        b = self.min_budget
        while b < self.max_budget * (1 - 1e-9):
            out.append(b)
            b += 1.0
        out.append(self.max_budget)
        return tuple(out)

    def on_result(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        nxt = self._next_rung(budget)
        if nxt is None:
            return Decision.COMPLETE, None
        if score is None:
            return Decision.STOP, None
        others = self._scores.setdefault(self._rung_index(budget), [])
        stop = bool(others) and len(others) >= self.n_startup and score < float(np.median(others))
        others.append(score)
        return (Decision.STOP, None) if stop else (Decision.CONTINUE, nxt)
