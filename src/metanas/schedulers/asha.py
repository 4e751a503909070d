"""Asynchronous successive halving (ASHA): workers never wait for a cohort; a stopped trial is
promoted later when the strategy has nothing new to offer."""

from __future__ import annotations

from typing import Any

from metanas.schedulers.base import Decision, Scheduler, register_scheduler

__all__ = ["ASHAScheduler", "continues_at_rung", "promote_stopped"]


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
    """The oriented scores reached at each rung index, in arrival order, and by whom.

    ``stopped[rung]`` holds the trials stopped at that rung that no promotion took yet: the
    candidates of :func:`promote_stopped`.
    """

    def __init__(self) -> None:
        self.scores: dict[int, list[float]] = {}
        self.trials: dict[int, list[int]] = {}
        self.stopped: dict[int, set[int]] = {}

    def add(self, rung: int, score: float, trial: int = -1) -> int:
        bucket = self.scores.setdefault(rung, [])
        bucket.append(score)
        self.trials.setdefault(rung, []).append(trial)
        return len(bucket) - 1

    def ranked(self, rung: int) -> list[tuple[float, int]]:
        """``(score, trial)`` at ``rung``, best first (ties to the earlier result)."""
        scores = self.scores.get(rung, [])
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [(scores[i], self.trials[rung][i]) for i in order]

    def take(self, rung: int, trial: int) -> tuple[int, int]:
        self.stopped[rung].discard(trial)
        return rung, trial


def promote_stopped(scheduler: Scheduler, tables: list[_RungTable]) -> tuple[int, float] | None:
    """The stopped trial to promote now, and its next budget (None: every stop was promoted).

    First, as asynchronous successive halving promotes (Li et al., 2020, Algorithm 2), a
    trial in the top ``max(1, n // eta)`` of the ``n`` results of its rung, highest rung
    first: with more results at a rung, trials that arrived early and were stopped by the
    best-so-far rule are in its top ``1/eta`` now. When no such trial is left, the best stopped
    trial of the lowest rung that has one: a strategy that offers nothing new would otherwise
    leave a trial that is poor at low fidelity and best at ``max_budget`` untrained for good.
    Each table is one bracket (its own ranking); the choice commits (the trial leaves
    ``stopped``).
    """
    rungs = scheduler.rungs
    for rung in reversed(range(len(rungs) - 1)):
        for table in tables:
            ranked = table.ranked(rung)
            n_top = max(1, int(len(ranked) // scheduler.eta))
            for _, trial in ranked[:n_top]:
                if trial in table.stopped.get(rung, ()):
                    table.take(rung, trial)
                    return trial, rungs[rung + 1]
    for rung in range(len(rungs) - 1):
        best: tuple[float, _RungTable, int] | None = None
        for table in tables:
            left = table.stopped.get(rung, set())
            top = next(((s, t) for s, t in table.ranked(rung) if t in left), None)
            if top is not None and (best is None or top[0] > best[0]):
                best = (top[0], table, top[1])
        if best is not None:
            best[1].take(rung, best[2])
            return best[2], rungs[rung + 1]
    return None


@register_scheduler("asha")
class ASHAScheduler(Scheduler):
    """Asynchronous successive halving (Li et al., 2020).

    A trial starts at the first rung; at rung ``k`` it continues to rung ``k + 1`` iff its
    score is in the top ``1/eta`` of all scores recorded at rung ``k`` so far (itself included;
    with fewer than ``eta`` results, iff it is the best so far), else it stops. A trial never
    waits for others, so every worker stays busy; decisions depend on the order results arrive.

    A stopped trial is not given up for good: when the strategy re-proposes an architecture
    the study already holds (a small space exhausted), the study asks :meth:`promote_stopped`
    instead, which promotes as the paper's ASHA does, a stopped trial now in the top ``1/eta``
    of its rung (highest rung first), and when none is, the best stopped trial of the lowest
    rung (:func:`promote_stopped`). The trial resumes from the budget it reached.

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
        decision, nxt = self._decide(trial_number, budget, score)
        _note_stop(self, self._table, trial_number, budget, score, decision)
        return decision, nxt

    def _decide(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        """The decision itself (subclasses replace the rule; the stop is noted for them)."""
        return _asha_decision(self, self._table, trial_number, budget, score)

    def promote_stopped(self) -> tuple[int, float] | None:
        """A stopped trial to train on, by :func:`promote_stopped`'s rule."""
        return promote_stopped(self, [self._table])


def _note_stop(
    scheduler: Scheduler,
    table: _RungTable,
    trial_number: int,
    budget: float,
    score: float | None,
    decision: Decision,
) -> None:
    # A failed segment is never promoted: there is nothing to resume.
    if decision is Decision.STOP and score is not None:
        table.stopped.setdefault(scheduler._rung_index(budget), set()).add(trial_number)


def _asha_decision(
    scheduler: Scheduler,
    table: _RungTable,
    trial_number: int,
    budget: float,
    score: float | None,
) -> tuple[Decision, float | None]:
    nxt = scheduler._next_rung(budget)
    if nxt is None:
        return Decision.COMPLETE, None
    if score is None:
        return Decision.STOP, None
    rung = scheduler._rung_index(budget)
    index = table.add(rung, score, trial_number)
    if continues_at_rung(table.scores[rung], index, scheduler.eta):
        return Decision.CONTINUE, nxt
    return Decision.STOP, None
