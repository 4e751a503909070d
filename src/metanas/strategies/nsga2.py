"""NSGA-II: multi-objective evolution by non-dominated sorting and crowding (Deb et al. 2002)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metanas._checks import check_positive_int
from metanas.pareto import crowding_distance, non_dominated_sort
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["NSGA2Strategy"]

# Draws of a child before giving up on finding an unseen one near the parents.
_CHILD_TRIES = 50


@dataclass(frozen=True)
class _Member:
    """One evaluated architecture of a population, with its NSGA-II ranking."""

    arch: Architecture
    scores: tuple[float, ...]
    rank: int = 0
    crowding: float = math.inf


def _rank(members: list[_Member]) -> list[_Member]:
    """The same members with their non-domination rank and crowding distance set."""
    if not members:
        return []
    points = np.array([m.scores for m in members], dtype=float)
    out: list[_Member | None] = [None] * len(members)
    for rank, front in enumerate(non_dominated_sort(points)):
        dist = crowding_distance(points[front])
        for i, d in zip(front, dist, strict=True):
            m = members[int(i)]
            out[int(i)] = _Member(m.arch, m.scores, rank, float(d))
    return [m for m in out if m is not None]


def _select(members: list[_Member], size: int) -> list[_Member]:
    """NSGA-II environmental selection: whole fronts, then the least crowded of the last one.

    Ties in crowding distance keep the earlier member (older first), so the
    result depends only on the order the members were told.
    """
    if not members:
        return []
    points = np.array([m.scores for m in members], dtype=float)
    chosen: list[_Member] = []
    for rank, front in enumerate(non_dominated_sort(points)):
        dist = crowding_distance(points[front])
        ranked = [
            _Member(members[int(i)].arch, members[int(i)].scores, rank, float(d))
            for i, d in zip(front, dist, strict=True)
        ]
        if len(chosen) + len(ranked) <= size:
            chosen.extend(ranked)
        else:
            by_crowding = sorted(range(len(ranked)), key=lambda k: -ranked[k].crowding)
            keep = sorted(by_crowding[: size - len(chosen)])  # back in told order
            chosen.extend(ranked[k] for k in keep)
        if len(chosen) >= size:
            break
    # Crowding within the survivors' own fronts, as the next tournaments use it.
    return _rank(chosen)


@register_strategy("nsga2")
class NSGA2Strategy(Strategy):
    """NSGA-II: generational multi-objective evolution (Deb et al. 2002).

    The first ``population_size`` successful evaluations are random
    architectures; they are the first parents. Each ask then breeds a child:
    a binary tournament on (non-domination rank, then crowding distance)
    picks a parent; with probability ``crossover_prob`` a uniform crossover
    over the decisions mixes it with a second tournament winner (kept only
    when the result is valid in the space); then :meth:`SearchSpace.mutate`
    changes one decision. A child that was already asked or evaluated is
    bred again; after 50 tries a random unseen architecture is taken instead.

    Once ``population_size`` children have been evaluated successfully (one
    generation), environmental selection keeps the best ``population_size``
    of parents and children together: whole non-dominated fronts first, then
    the least crowded members of the front that does not fit. Failed trials
    take no part in selection.

    Scores are read from ``Observation.scores`` (every objective oriented so
    that larger is better); with a single objective this is a plain
    generational genetic algorithm with elitism. All state is a function of
    the told history, so a resumed study continues exactly.

    Parameters
    ----------
    space
        The search space.
    population_size
        Parents per generation, and children evaluated per generation (N in
        the paper). The default of 10 gives 10 generations in 100 queries;
        on NAS-Bench-Graph (validation accuracy vs latency, 100 queries,
        seeds 100-129) 6-10 reached a higher hypervolume than 20 or 30.
    crossover_prob
        Probability that a child mixes two parents by uniform crossover over
        the decisions (kept only when valid in the space) before it is
        mutated. The default 0 is mutation only: on NAS-Bench-Graph, whose
        operations depend on the wiring decision, crossover 0.5 or 0.9 did not
        raise the hypervolume; try it on spaces of independent decisions.
    seed
        Seed of the strategy's random generator.

    Examples
    --------
    >>> import metanas
    >>> bench = metanas.benchmarks.NasBenchGraph("cora")
    >>> study = metanas.create_study(
    ...     space=bench.space, storage="sqlite://", strategy="nsga2", seed=0,
    ...     metric="valid_accuracy:max,latency:min")
    >>> study.optimize(bench, n_trials=30)
    >>> len(study.best_trials) >= 2
    True

    References
    ----------
    Deb, K., Pratap, A., Agarwal, S. & Meyarivan, T. A fast and elitist
    multiobjective genetic algorithm: NSGA-II. IEEE Transactions on
    Evolutionary Computation 6(2), 2002.
    """

    multi_objective = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 10,
        crossover_prob: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.population_size = check_positive_int("population_size", population_size, 2)
        if (
            isinstance(crossover_prob, bool)
            or not isinstance(crossover_prob, int | float | np.floating | np.integer)
            or not 0.0 <= float(crossover_prob) <= 1.0
        ):
            raise ValueError(
                f"crossover_prob must be a number in [0, 1]; got {crossover_prob!r}. Pass 0 for "
                "mutation only."
            )
        self.crossover_prob = float(crossover_prob)
        self._parents: list[_Member] = []
        self._children: list[_Member] = []
        self._n_objectives: int | None = None
        self._n_generations = 0

    # ------------------------------------------------------------ state
    @property
    def n_generations(self) -> int:
        """Environmental selections done so far (0 while the parents are the random start)."""
        return self._n_generations

    @property
    def parents(self) -> list[tuple[Architecture, tuple[float, ...]]]:
        """The current parents as ``(architecture, oriented scores)`` (empty until the first
        ``population_size`` successful evaluations)."""
        return [(m.arch, m.scores) for m in self._parents]

    # ------------------------------------------------------------ ask
    def ask(self) -> Architecture:
        arch = self._breed() if self._parents else self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def _tournament(self) -> _Member:
        pop = self._parents
        if len(pop) == 1:
            return pop[0]
        i, j = (int(k) for k in self._rng.choice(len(pop), size=2, replace=False))
        a, b = pop[i], pop[j]
        if a.rank != b.rank:
            return a if a.rank < b.rank else b
        if a.crowding != b.crowding:
            return a if a.crowding > b.crowding else b
        return a if self._rng.random() < 0.5 else b

    def _crossover(self, a: Architecture, b: Architecture) -> Architecture:
        names = [d.name for d in self.space.decisions]
        take_b = self._rng.random(len(names)) < 0.5
        child = Architecture((n, b[n] if tb else a[n]) for n, tb in zip(names, take_b, strict=True))
        return child if self.space.is_valid(child) else a

    def _breed(self) -> Architecture:
        for _ in range(_CHILD_TRIES):
            first = self._tournament()
            child = first.arch
            if self.crossover_prob > 0 and self._rng.random() < self.crossover_prob:
                child = self._crossover(child, self._tournament().arch)
            child = self.space.mutate(child, self._rng)
            if not self.is_seen(child):
                return child
        # Every child near the parents is known (small or sparse spaces).
        return self.sample_unseen()

    # ------------------------------------------------------------ tell
    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.failed:
            return
        raw = obs.scores if obs.scores is not None else (obs.score,)
        scores = tuple(float(s) for s in raw if s is not None)
        if not scores or len(scores) != len(raw) or not all(math.isfinite(s) for s in scores):
            return  # no usable objective values: treat as failed
        if self._n_objectives is None:
            self._n_objectives = len(scores)
        elif len(scores) != self._n_objectives:
            raise ValueError(
                f"NSGA2Strategy was told {self._n_objectives} objective(s) so far, then "
                f"{len(scores)} for trial {obs.number}. Tell every trial of a study the same "
                "objectives."
            )
        self._children.append(_Member(obs.arch, scores))
        if len(self._children) < self.population_size:
            return
        if not self._parents:
            self._parents = _rank(self._children)  # the random initial population
        else:
            self._parents = _select(self._parents + self._children, self.population_size)
            self._n_generations += 1
        self._children = []
