"""Learning-curve early stopping: ASHA that stops a trial once a model of past tasks' curves
says it will not beat the incumbent."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from metanas.meta.curves import MIN_CURVES, IncumbentCurveModel, LearningCurveModel
from metanas.schedulers.asha import ASHAScheduler
from metanas.schedulers.base import Decision, register_scheduler

__all__ = ["CurveScheduler"]

_logger = logging.getLogger(__name__)

_RULES = ("extrapolate", "incumbent")


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
    rule
        ``"extrapolate"`` (the default): P(final > incumbent's final) from the
        :class:`~metanas.meta.LearningCurveModel`'s extrapolation of the trial's own curve.
        ``"incumbent"``: from an :class:`~metanas.meta.curves.IncumbentCurveModel`, which
        compares the trial's scores with the incumbent's at the same epochs, as past tasks'
        pairs of curves say such differences end (a comparison transfers across tasks better
        than levels do). With this rule the memory also orders promotions:
        :meth:`promote_stopped` resumes the stopped trial most likely to beat the incumbent
        (ASHA's order before any trial is complete).
    with_asha
        With a model, a trial also stops where ASHA's rule stops it, unless the model gives it
        an even chance or better of beating the incumbent (the model then only adds stops to
        ASHA's, and overrules ASHA's stop of a trial it expects to win).

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
        rule: str = "extrapolate",
        with_asha: bool = False,
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
        if not isinstance(with_asha, bool):
            raise TypeError(f"with_asha must be True or False; got {with_asha!r}.")
        if not isinstance(every_epoch, bool):
            raise TypeError(f"every_epoch must be True or False; got {every_epoch!r}.")
        if rule not in _RULES:
            raise ValueError(
                f"rule must be one of {_RULES!r}; got {rule!r}. Pass rule='extrapolate' (the "
                "default) or rule='incumbent'."
            )
        self.threshold = float(threshold)
        self.every_epoch = every_epoch
        self.rule = rule
        self.with_asha = with_asha
        self.model: LearningCurveModel | IncumbentCurveModel | None = None
        self._incumbent_curve: dict[int, float] = {}
        self._p_cache: dict[int, tuple[tuple[int, float | None], float | None]] = {}
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

    def set_memory(
        self, curves: Sequence[Sequence[float]], *, groups: Sequence[object] | None = None
    ) -> None:
        """Fit the curve model on past tasks' complete curves (oriented, one score per epoch).

        ``groups`` names each curve's past task (the ``"incumbent"`` rule pairs curves within a
        task; None: all curves are one task). The ``"extrapolate"`` rule ignores it.

        Curves of another length than ``max_budget`` are left out with a warning (another
        training length: its epochs mean something else), as are curves with a NaN; with fewer
        than :data:`~metanas.meta.MIN_CURVES` left the scheduler stays plain ASHA.
        """
        n_epochs = int(self.max_budget)
        if groups is not None and len(groups) != len(curves):
            raise ValueError(
                f"groups must name the past task of each of the {len(curves)} curves; got "
                f"{len(groups)}. Pass one label per curve, or groups=None."
            )
        kept, kept_groups, other_length = [], [], 0
        for i, c in enumerate(curves):
            arr = np.asarray(c, dtype=float).ravel()
            if arr.size != n_epochs:
                other_length += 1
            elif np.isfinite(arr).all():
                kept.append(arr)
                kept_groups.append(0 if groups is None else groups[i])
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
        if self.rule == "incumbent":
            self.model = IncumbentCurveModel().fit(np.vstack(kept), groups=np.asarray(kept_groups))
        else:
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
                self._incumbent_curve = dict(seen)
            return decision, nxt
        if self.model is None or self._incumbent is None:
            return decision, nxt
        nxt = self._next_rung(budget)
        p = self._prob_above(trial_number)
        if p is None:
            return decision, nxt
        if p < self.threshold or nxt is None:
            return Decision.STOP, None
        if self.with_asha and decision is Decision.STOP and p < 0.5:
            return Decision.STOP, None
        return Decision.CONTINUE, nxt

    def _prob_above(self, trial_number: int) -> float | None:
        """P(trial's final > the incumbent's); None where the model cannot say."""
        seen = self._seen[trial_number]
        epochs = sorted(seen)
        if isinstance(self.model, LearningCurveModel):
            if self._incumbent is None:
                return None
            return self.model.prob_above([seen[e] for e in epochs], self._incumbent, epochs=epochs)
        context = self._incumbent_context()
        if context is None:
            return None
        return self._prob_against(seen, *context)

    def _incumbent_context(self) -> tuple[np.ndarray] | None:
        """The incumbent's curve (NaN where unseen); None before the ``"incumbent"`` rule can
        compare (no such model, or no incumbent yet)."""
        if not isinstance(self.model, IncumbentCurveModel) or self._incumbent is None:
            return None
        inc = self._incumbent_curve
        return (np.array([inc.get(e, np.nan) for e in range(1, int(self.max_budget) + 1)]),)

    def _prob_against(self, seen: dict[int, float], full: np.ndarray) -> float | None:
        epochs = sorted(seen)
        # The incumbent passed every rung a trial can reach, so it has each of these epochs.
        if (
            not isinstance(self.model, IncumbentCurveModel)
            or np.isnan(full[np.array(epochs) - 1]).any()
        ):
            return None
        return self.model.prob_above([seen[e] for e in epochs], epochs, np.nan_to_num(full))

    def promote_stopped(self) -> tuple[int, float] | None:
        """A stopped trial to resume: with the ``"incumbent"`` rule and a model, the one most
        likely to beat the incumbent (ties to the lower trial number); else ASHA's choice."""
        context = self._incumbent_context()
        if context is None:
            return super().promote_stopped()
        best: tuple[float, int, int] | None = None  # (p, rung index, trial)
        for rung, trials in self._table.stopped.items():
            for trial in sorted(trials):
                # A stopped trial's chance changes only with the incumbent or the unit.
                key = (len(self._seen[trial]), self._incumbent)
                cached = self._p_cache.get(trial)
                if cached is not None and cached[0] == key:
                    p = cached[1]
                else:
                    p = self._prob_against(self._seen[trial], *context)
                    self._p_cache[trial] = (key, p)
                if p is None:
                    return super().promote_stopped()
                if best is None or p > best[0]:
                    best = (p, rung, trial)
        if best is None:
            return None
        _p, rung, trial = best
        self._table.take(rung, trial)
        return trial, self.rungs[rung + 1]

    def predict(self, trial_number: int) -> tuple[float, float] | None:
        """The model's (mean, std) of trial ``trial_number``'s final score; None without a
        model or a result of that trial, and with the ``"incumbent"`` rule (its model
        compares, it does not extrapolate)."""
        seen = self._seen.get(trial_number)
        if not isinstance(self.model, LearningCurveModel) or not seen:
            return None
        epochs = sorted(seen)
        return self.model.predict([seen[e] for e in epochs], epochs=epochs)
