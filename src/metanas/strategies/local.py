"""Local search (White, Nolen, Savani & Zela, UAI 2021)."""

from __future__ import annotations

from metanas._checks import check_positive_int
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["LocalSearchStrategy"]


@register_strategy("local")
class LocalSearchStrategy(Strategy):
    """First-improvement hill climbing over single-decision neighbours, with random restarts.

    ``n_initial`` random architectures are evaluated, the best becomes the
    centre; unseen neighbours of the centre are evaluated in random order and
    the first one that beats the centre becomes the new centre. When every
    neighbour has been seen without improvement the centre is a local optimum
    and the search restarts from ``n_initial`` new random architectures.

    The state is a function of the told history only, so a resumed study
    continues exactly.

    References
    ----------
    White, C., Nolen, S. & Savani, Y. Exploring the loss landscape in neural
    architecture search. UAI 2021.
    """

    def __init__(self, space: SearchSpace, *, n_initial: int = 10, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self.n_initial = check_positive_int("n_initial", n_initial, 1)
        self._centre: tuple[Architecture, float] | None = None
        self._pool: list[tuple[Architecture, float]] = []
        self.n_restarts = 0

    def _open_neighbours(self, arch: Architecture) -> list[Architecture]:
        return [n for n in self.space.neighbours(arch) if not self.is_seen(n)]

    def ask(self) -> Architecture:
        if self._centre is not None:
            options = self._open_neighbours(self._centre[0])
            if options:
                arch = options[int(self._rng.integers(len(options)))]
                self.mark_seen(arch)
                return arch
        arch = self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.score is None:
            if self._centre is not None and not self._open_neighbours(self._centre[0]):
                self._restart()
            return
        score = float(obs.score)
        if self._centre is None:
            self._pool.append((obs.arch, score))
            if len(self._pool) >= self.n_initial:
                self._centre = max(self._pool, key=lambda m: m[1])
                self._pool = []
        elif score > self._centre[1]:
            self._centre = (obs.arch, score)
        if self._centre is not None and not self._open_neighbours(self._centre[0]):
            self._restart()

    def _restart(self) -> None:
        self._centre = None
        self._pool = []
        self.n_restarts += 1
