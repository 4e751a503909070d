"""Hyperband: several ASHA brackets that start at different budgets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metanas._rng import derive_seed, make_rng, resolve_seed
from metanas.schedulers.asha import _asha_decision, _note_stop, _RungTable, promote_stopped
from metanas.schedulers.base import Decision, Scheduler, register_scheduler

__all__ = ["HyperbandScheduler"]


@register_scheduler("hyperband")
class HyperbandScheduler(Scheduler):
    """Hyperband (Li et al., 2018), asynchronous: brackets of ASHA with different first rungs.

    Bracket ``b`` (``0 <= b < len(rungs)``) starts its trials at ``rungs[b]`` and runs ASHA on
    ``rungs[b:]`` among its own trials only. Bracket 0 is the most aggressive (many cheap
    starts), the last one trains every trial to ``max_budget``. A trial's bracket is drawn with
    the probabilities of Hyperband's trial counts, ``n_b ~ ceil(B / (B - b) * eta**(B - 1 - b))``
    with ``B = len(rungs)``, from a generator seeded by ``(seed, trial_number)``: the same
    trial gets the same bracket in a resumed study (as Syne Tune's asynchronous Hyperband).

    Parameters
    ----------
    min_budget, max_budget, eta, seed
        See :class:`~metanas.schedulers.Scheduler`.

    References
    ----------
    Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar. "Hyperband: A Novel Bandit-Based Approach
    to Hyperparameter Optimization." JMLR 18(185), 2018.

    Examples
    --------
    >>> hb = HyperbandScheduler(max_budget=9, eta=3, seed=0)
    >>> hb.rungs, hb.bracket_budgets()
    ((1.0, 3.0, 9.0), (1.0, 3.0, 9.0))
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
        # Brackets must not change with a resume: an unseeded scheduler fixes its seed now.
        self._bracket_seed = resolve_seed(seed)
        n = len(self.rungs)
        counts = np.array(
            [math.ceil(n / (n - b) * self.eta ** (n - 1 - b)) for b in range(n)], dtype=float
        )
        self._probs = counts / counts.sum()
        self._tables = [_RungTable() for _ in range(n)]

    def bracket_budgets(self) -> tuple[float, ...]:
        """The first budget of each bracket (``rungs[b]`` for bracket ``b``)."""
        return self.rungs

    def bracket(self, trial_number: int) -> int:
        """The bracket of trial ``trial_number`` (a seeded draw; the same on every call)."""
        rng = make_rng(derive_seed(self._bracket_seed, trial_number))
        return int(rng.choice(len(self._probs), p=self._probs))

    def first_budget(self, trial_number: int) -> float:
        return self.rungs[self.bracket(trial_number)]

    def on_result(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        table = self._tables[self.bracket(trial_number)]
        decision, nxt = _asha_decision(self, table, trial_number, budget, score)
        _note_stop(self, table, trial_number, budget, score, decision)
        return decision, nxt

    def promote_stopped(self) -> tuple[int, float] | None:
        """A stopped trial to train on (:func:`~metanas.schedulers.asha.promote_stopped`):
        ASHA's top ``1/eta`` rule within each bracket, then the best stopped trial of the
        lowest rung over all brackets."""
        return promote_stopped(self, self._tables)
