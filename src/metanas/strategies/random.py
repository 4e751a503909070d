"""Random search: the baseline every method must beat."""

from __future__ import annotations

from metanas.spaces.architecture import Architecture
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["RandomStrategy"]


@register_strategy("random")
class RandomStrategy(Strategy):
    """Uniform random sampling of valid architectures, without repeats while unseen ones remain.

    References
    ----------
    Li, L. & Talwalkar, A. Random search and reproducibility for neural
    architecture search. UAI 2019.
    """

    multi_objective = True

    def ask(self) -> Architecture:
        arch = self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
