"""Optuna's TPE sampler behind metanas' ask/tell interface (the peer baseline)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from metanas._checks import check_positive_int
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.spaces.table import TableSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["TPEStrategy"]


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    # Optuna logs every created study and every told trial at INFO; a search
    # of thousands of asks would drown the user's log. Restore on exit.
    logger = logging.getLogger("optuna")
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


@register_strategy("tpe")
class TPEStrategy(Strategy):
    """Optuna's Tree-structured Parzen Estimator, one categorical parameter per decision.

    This wraps ``optuna.samplers.TPESampler`` as Optuna users run it (same
    defaults), so benchmarks compare metanas' strategies against the real
    peer. Proposals that break the space's constraints are told to Optuna as
    failed and re-drawn. Repeated architectures are not filtered: that is how
    Optuna behaves.

    Parameters
    ----------
    n_startup_trials
        Random trials before TPE's model is used (Optuna's default: 10).
    multivariate
        Optuna's multivariate TPE.

    References
    ----------
    Bergstra, J., Bardenet, R., Bengio, Y. & Kégl, B. Algorithms for
    hyper-parameter optimization. NeurIPS 2011.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_startup_trials: int = 10,
        multivariate: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        import optuna

        self.n_startup_trials = check_positive_int("n_startup_trials", n_startup_trials, 0)
        self.multivariate = bool(multivariate)
        self._optuna = optuna
        self._distributions: dict[str, Any] = {
            d.name: optuna.distributions.CategoricalDistribution(list(d.choices))
            for d in space.decisions
        }
        self._sampler_seed = seed
        with _quiet_optuna():
            self._study = optuna.create_study(
                direction="maximize", sampler=self._make_sampler(seed)
            )
        self._pending: dict[Architecture, list[int]] = defaultdict(list)

    def _make_sampler(self, seed: int | None) -> Any:
        return self._optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=self.n_startup_trials, multivariate=self.multivariate
        )

    def reseed(self, seed: int) -> None:
        super().reseed(seed)
        # TPESampler keeps only a random state; a fresh one per ask makes trial
        # n depend on (study seed, n) alone, as for every metanas strategy.
        self._study.sampler = self._make_sampler(seed)

    def ask(self) -> Architecture:
        arch = None
        with _quiet_optuna():
            for _ in range(20):
                trial = self._study.ask(self._distributions)
                arch = Architecture((d.name, trial.params[d.name]) for d in self.space.decisions)
                if self.space.is_valid(arch):
                    self._pending[arch].append(trial.number)
                    self.mark_seen(arch)
                    return arch
                self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        # TPE keeps proposing outside the space (a partial table, tight constraints):
        # move its last proposal to the closest valid architecture instead. The
        # result reaches TPE's history when it is told.
        if arch is not None and isinstance(self.space, TableSpace):
            options = self.space.nearest(arch)
            if options:
                choice = options[int(self._rng.integers(len(options)))]
                self.mark_seen(choice)
                return choice
        choice = self.sample_unseen()
        self.mark_seen(choice)
        return choice

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        optuna = self._optuna
        state = optuna.trial.TrialState.FAIL if obs.score is None else None
        with _quiet_optuna():
            pending = self._pending.get(obs.arch)
            if pending:
                number = pending.pop(0)
                if state is None:
                    self._study.tell(number, float(obs.score))  # type: ignore[arg-type]
                else:
                    self._study.tell(number, state=state)
                return
            self._study.add_trial(
                optuna.trial.create_trial(
                    params=dict(obs.arch),
                    distributions=self._distributions,
                    value=None if obs.score is None else float(obs.score),
                    state=optuna.trial.TrialState.FAIL
                    if obs.score is None
                    else optuna.trial.TrialState.COMPLETE,
                )
            )
