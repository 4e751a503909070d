"""Regularised (aging) evolution (Real et al., AAAI 2019)."""

from __future__ import annotations

from collections import deque

from metanas._checks import check_positive_int
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["EvolutionStrategy"]


@register_strategy("evolution")
class EvolutionStrategy(Strategy):
    """Regularised evolution: tournament selection, mutate the winner, drop the oldest.

    The first ``population_size`` architectures are random. Afterwards each
    ask draws ``sample_size`` members of the population, mutates the best one
    (one decision changed) and proposes the child; every told result joins the
    population and pushes out the *oldest* member, not the worst, which keeps
    the search from settling on lucky evaluations.

    Parameters
    ----------
    space
        The search space.
    population_size
        Members kept alive (P in the paper).
    sample_size
        Tournament size (S in the paper); must not exceed ``population_size``.
    seed
        Seed of the strategy's random generator.

    References
    ----------
    Real, E., Aggarwal, A., Huang, Y. & Le, Q. V. Regularized evolution for
    image classifier architecture search. AAAI 2019.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        sample_size: int = 5,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.population_size = check_positive_int("population_size", population_size, 2)
        self.sample_size = check_positive_int("sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(
                f"sample_size must be <= population_size; got sample_size={sample_size}, "
                f"population_size={population_size}. Lower sample_size or raise population_size."
            )
        # (architecture, score, trial number): the number lets a trial told again replace
        # its entry instead of joining the population twice.
        self._population: deque[tuple[Architecture, float, int]] = deque(
            maxlen=self.population_size
        )
        self._n_ok = 0

    def ask(self) -> Architecture:
        if self._n_ok < self.population_size:
            arch = self.sample_unseen()
        else:
            members = list(self._population)
            picks = self._rng.choice(len(members), size=self.sample_size, replace=False)
            parent = max((members[int(i)] for i in picks), key=lambda m: m[1])[0]
            arch = self.space.mutate(parent, self._rng)
            for _ in range(50):
                if not self.is_seen(arch):
                    break
                arch = self.space.mutate(parent if self._rng.random() < 0.5 else arch, self._rng)
            else:
                # Every nearby architecture is known (small or sparse spaces): a
                # random unseen one beats paying for a repeat.
                arch = self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.score is None:
            return
        if obs.number >= 0:
            # A scheduler promoted a stopped trial and it settled again, at a higher budget:
            # its newer result replaces the one it was stopped with, where it still ages.
            for i, (_, _, number) in enumerate(self._population):
                if number == obs.number:
                    self._population[i] = (obs.arch, float(obs.score), obs.number)
                    return
        self._population.append((obs.arch, float(obs.score), obs.number))
        self._n_ok += 1
