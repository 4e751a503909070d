"""Learning-curve early stopping: ASHA that stops a trial once a model of past tasks' curves
says it will not beat the incumbent."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from metanas.meta.curves import MIN_CURVES, LearningCurveModel
from metanas.schedulers.asha import ASHAScheduler
from metanas.schedulers.base import Decision, register_scheduler

__all__ = ["CurveScheduler"]

_logger = logging.getLogger(__name__)


@register_scheduler("curve")
class CurveScheduler(ASHAScheduler):
    """ASHA whose rung decisions come from a learning-curve model fitted on past tasks.

    :meth:`set_memory` fits a :class:`~metanas.meta.LearningCurveModel` on past tasks'
    complete curves (``max_budget`` epochs each). At each rung a trial's scores so far (at the
    rungs it passed) are the partial curve; once some trial has reached ``max_budget`` (the
    incumbent is the best such final score), the trial STOPs when the model's probability that
    its final score exceeds the incumbent's is below ``threshold``, and CONTINUEs otherwise.
    Before any trial is complete, or without a model (no memory, or fewer than
    :data:`~metanas.meta.MIN_CURVES` curves of the right length), the decision is ASHA's.
    Stopping type: :meth:`next_promotion` is always None. Deterministic: the model has no
    randomness, so the same memory and the same results give the same decisions.

    Parameters
    ----------
    min_budget, max_budget, eta, seed
        See :class:`~metanas.schedulers.Scheduler`; budgets are whole epochs here (the curves
        have one score per epoch).
    threshold
        Stop when P(final > incumbent's final) is below this (in (0, 1)).
    every_epoch
        Decide after every epoch from ``min_budget`` on instead of at ASHA's geometric rungs
        (each epoch is then a segment; cheap where the evaluator resumes from a checkpoint).
        Without a model, ASHA's rule then applies at every epoch.

    References
    ----------
    Domhan, Springenberg, Hutter. "Speeding up automatic hyperparameter optimization of deep
    neural networks by extrapolation of learning curves." IJCAI 2015.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1, 10)
    >>> past = [0.5 + g * (1 - 0.6 ** t) for g in np.linspace(0.1, 0.4, 20)]
    >>> s = CurveScheduler(max_budget=9, eta=3)
    >>> s.set_memory(past)
    >>> [s.on_result(0, b, v)[0].value for b, v in ((1, 0.60), (3, 0.75), (9, 0.85))]
    ['continue', 'continue', 'complete']
    >>> s.on_result(1, 1, 0.52)    # will end far below 0.85
    (<Decision.STOP: 'stop'>, None)
    """

    uses_memory = True

    def __init__(
        self,
        *,
        min_budget: float = 1,
        max_budget: float,
        eta: float = 3,
        threshold: float = 0.05,
        every_epoch: bool = False,
        seed: int | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(
            min_budget=min_budget, max_budget=max_budget, eta=eta, seed=seed, **settings
        )
        for name in ("min_budget", "max_budget"):
            if not float(getattr(self, name)).is_integer():
                raise ValueError(
                    f"{name} of the curve scheduler must be a whole number of epochs (its model "
                    f"reads one score per epoch); got {getattr(self, name)!r}."
                )
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold < 1
        ):
            raise ValueError(
                f"threshold must be a probability in (0, 1), e.g. 0.05; got {threshold!r}."
            )
        if not isinstance(every_epoch, bool):
            raise TypeError(f"every_epoch must be True or False; got {every_epoch!r}.")
        self.threshold = float(threshold)
        self.every_epoch = every_epoch
        self.model: LearningCurveModel | None = None
        self._seen: dict[int, dict[int, float]] = {}
        self._incumbent: float | None = None

    @property
    def rungs(self) -> tuple[float, ...]:
        """ASHA's rungs, or every epoch from ``min_budget`` with ``every_epoch``."""
        if self.every_epoch:
            return tuple(float(e) for e in range(int(self.min_budget), int(self.max_budget) + 1))
        return super().rungs

    @property
    def incumbent(self) -> float | None:
        """The best score among the trials that reached ``max_budget``; None before any."""
        return self._incumbent

    def set_memory(self, curves: Sequence[Sequence[float]]) -> None:
        """Fit the curve model on past tasks' complete curves (oriented, one score per epoch).

        Curves of another length than ``max_budget`` are left out with a warning (another
        training length: its epochs mean something else), as are curves with a NaN; with fewer
        than :data:`~metanas.meta.MIN_CURVES` left the scheduler stays plain ASHA.
        """
        n_epochs = int(self.max_budget)
        kept, other_length = [], 0
        for c in curves:
            arr = np.asarray(c, dtype=float).ravel()
            if arr.size != n_epochs:
                other_length += 1
            elif np.isfinite(arr).all():
                kept.append(arr)
        if other_length:
            warnings.warn(
                f"CurveScheduler.set_memory: {other_length} of {len(curves)} curves do not have "
                f"max_budget={n_epochs} epochs and are left out. Pass complete curves of "
                f"trainings of {n_epochs} epochs, e.g. memory_curves(..., max_budget={n_epochs}).",
                stacklevel=2,
            )
        if len(kept) < MIN_CURVES:
            _logger.info(
                "Curve scheduler: %d complete curves in the memory (fewer than %d); plain ASHA.",
                len(kept), MIN_CURVES,
            )  # fmt: skip
            self.model = None
            return
        self.model = LearningCurveModel().fit(np.vstack(kept))

    def _decide(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        # ASHA's rung table sees every result, so it is current whenever its rule is needed.
        decision, nxt = super()._decide(trial_number, budget, score)
        if score is None:
            return decision, nxt
        epoch = round(budget)
        seen = self._seen.setdefault(trial_number, {})
        seen[epoch] = float(score)
        if decision is Decision.COMPLETE:
            if self._incumbent is None or score > self._incumbent:
                self._incumbent = float(score)
            return decision, nxt
        if self.model is None or self._incumbent is None:
            return decision, nxt
        nxt = self._next_rung(budget)
        epochs = sorted(seen)
        p = self.model.prob_above([seen[e] for e in epochs], self._incumbent, epochs=epochs)
        if p < self.threshold or nxt is None:
            return Decision.STOP, None
        return Decision.CONTINUE, nxt

    def predict(self, trial_number: int) -> tuple[float, float] | None:
        """The model's (mean, std) of trial ``trial_number``'s final score; None without a
        model or a result of that trial."""
        seen = self._seen.get(trial_number)
        if self.model is None or not seen:
            return None
        epochs = sorted(seen)
        return self.model.predict([seen[e] for e in epochs], epochs=epochs)
