"""BOHB-style model-based multi-fidelity search: TPE fitted on the highest well-filled rung."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from metanas._checks import check_positive_int
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, register_strategy
from metanas.strategies.tpe import TPEStrategy

__all__ = ["BOHBStrategy"]


@dataclass
class _Rung:
    """The observations of one budget and the TPE model told them."""

    model: TPEStrategy
    n_ok: int = 0
    told: set[Hashable] = field(default_factory=set)


@register_strategy("bohb")
class BOHBStrategy(TPEStrategy):
    """BOHB's proposal model: TPE on the results of the highest budget that has enough of them.

    Pair it with a scheduler (``create_study(strategy="bohb", scheduler="hyperband")`` or
    ``"asha"``): the study tells the strategy every segment result with its budget
    (:meth:`tell_intermediate`) and each settled trial (:meth:`tell`). A fraction
    ``random_fraction`` of the proposals is drawn at random; the others come from a TPE
    model (Optuna's ``TPESampler``, as the ``tpe`` strategy runs it) fitted on the
    observations of the largest budget with at least ``n_min`` successful results, and at
    random while no budget has that many. Low budgets fill first, so the model starts
    cheap and moves to higher, more faithful budgets as they fill.

    Without budgets (no scheduler: every observation has ``budget=None``) this is exactly
    the ``tpe`` strategy: same seed, same proposals.

    Parameters
    ----------
    n_min
        Successful observations a budget needs before its model is used (None: the number
        of decisions of the space + 1, BOHB's default).
    random_fraction
        Share of proposals drawn at random once budgets are reported (BOHB: 1/3).
    n_startup_trials, multivariate
        Of the TPE model (see :class:`TPEStrategy`); ``n_startup_trials`` applies only
        without budgets, where ``n_min`` plays its part otherwise.

    References
    ----------
    Falkner, S., Klein, A. & Hutter, F. BOHB: Robust and efficient hyperparameter
    optimization at scale. ICML 2018.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_min: int | None = None,
        random_fraction: float = 1 / 3,
        n_startup_trials: int = 10,
        multivariate: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            space, n_startup_trials=n_startup_trials, multivariate=multivariate, seed=seed
        )
        if n_min is not None:
            check_positive_int("n_min", n_min, 1)
        if (
            isinstance(random_fraction, bool)
            or not isinstance(random_fraction, int | float)
            or not 0.0 <= random_fraction <= 1.0
        ):
            raise ValueError(
                f"random_fraction must be a number from 0 to 1; got {random_fraction!r}. "
                "BOHB draws 1/3 of its proposals at random."
            )
        self.n_min = n_min
        self.random_fraction = float(random_fraction)
        self._n_min = n_min if n_min is not None else len(space.decisions) + 1
        self._rungs: dict[float, _Rung] = {}

    def model_budget(self) -> float | None:
        """The budget whose observations the model is fitted on (None: proposals are random).

        The largest budget with at least ``n_min`` successful observations.
        """
        filled = [b for b, rung in self._rungs.items() if rung.n_ok >= self._n_min]
        return max(filled) if filled else None

    def n_observations(self, budget: float) -> int:
        """Successful observations told at ``budget``."""
        rung = self._rungs.get(float(budget))
        return 0 if rung is None else rung.n_ok

    def ask(self) -> Architecture:
        if not self._rungs:
            return super().ask()
        budget = None
        if self._rng.random() >= self.random_fraction:
            budget = self.model_budget()
        if budget is None:
            arch = self.sample_unseen()
        else:
            model = self._rungs[budget].model
            # The model's generator follows this strategy's, which the study reseeds per
            # trial: the proposal depends on (study seed, trial number) and the data only.
            model.reseed(int(self._rng.integers(2**32)))
            arch = model.ask()
        self.mark_seen(arch)
        return arch

    def tell(self, obs: Observation) -> None:
        if obs.budget is None:
            super().tell(obs)
        else:
            self._record(obs, float(obs.budget))

    def tell_intermediate(self, obs: Observation) -> None:
        if obs.budget is None:
            raise ValueError(
                f"tell_intermediate needs the budget the result was measured at; got "
                f"Observation(number={obs.number}, budget=None). Pass Observation(..., "
                "budget=epochs), or call tell() for a result without a budget."
            )
        self._record(obs, float(obs.budget))

    def _record(self, obs: Observation, budget: float) -> None:
        rung = self._rungs.get(budget)
        if rung is None:
            model = TPEStrategy(
                self.space, n_startup_trials=0, multivariate=self.multivariate, seed=0
            )
            rung = self._rungs[budget] = _Rung(model)
        # A settled trial is told again at its last rung: count each result once.
        key: Hashable = obs.number if obs.number >= 0 else self.space.key(obs.arch)
        self.mark_seen(obs.arch)
        if key in rung.told:
            return
        rung.told.add(key)
        rung.model.tell(Observation(arch=obs.arch, score=obs.score, number=obs.number))
        if obs.score is not None:
            rung.n_ok += 1
