"""MetaNAS: meta-learn a DARTS architecture together with the weights (Reptile outer loop)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from metanas.fewshot.episodes import EpisodeSampler
from metanas.fewshot.learners import (
    Reptile,
    _check_positive_float,
    _check_positive_int,
    _threads,
)
from metanas.fewshot.supernet import OPERATIONS, SuperNet, supernet_factory

__all__ = ["MetaNAS"]


class MetaNAS(Reptile):
    """MetaNAS: Reptile over a DARTS supernet, architecture weights included.

    The backbone is a :class:`~metanas.fewshot.supernet.SuperNet`; its
    architecture weights ``alphas`` are adapted in the inner loop (step size
    ``alpha_inner_lr``) and meta-learned in the outer loop, exactly like the
    network weights. Adapting to a new task therefore adapts its architecture
    too: :meth:`adapted_genotypes` reports the discretised architecture of
    each test task, :meth:`genotype` the meta-learned one. Left out of this
    version: the soft-pruning temperature schedule of the paper (the mixed
    operations stay continuous when evaluating) and second-order MAML as outer
    loop (use ``MAML(backbone=supernet_factory())`` for that).

    Parameters
    ----------
    hidden, n_cells, n_nodes, ops
        Supernet shape (see :class:`~metanas.fewshot.supernet.SuperNet`).
    alpha_inner_lr
        Inner step size of the architecture weights (default: ``inner_lr``).
    **kwargs
        See :class:`~metanas.fewshot.Reptile` and :class:`~metanas.fewshot.FewShotLearner`.

    References
    ----------
    T. Elsken, B. Staffler, J. H. Metzen, F. Hutter. Meta-learning of neural
    architectures for few-shot learning. CVPR 2020.
    """

    method = "metanas"

    def __init__(
        self,
        *,
        hidden: int = 16,
        n_cells: int = 3,
        n_nodes: int = 2,
        ops: Sequence[str] = OPERATIONS,
        alpha_inner_lr: float | None = None,
        **kwargs: Any,
    ) -> None:
        if "backbone" in kwargs:
            raise TypeError("MetaNAS builds its own supernet backbone; do not pass backbone.")
        self.n_cells = _check_positive_int("n_cells", n_cells)
        self.n_nodes = _check_positive_int("n_nodes", n_nodes)
        self.ops = tuple(ops)
        factory = supernet_factory(hidden=hidden, n_cells=n_cells, n_nodes=n_nodes, ops=self.ops)
        super().__init__(backbone=factory, hidden=hidden, **kwargs)
        self.alpha_inner_lr = (
            self.inner_lr
            if alpha_inner_lr is None
            else _check_positive_float("alpha_inner_lr", alpha_inner_lr, allow_zero=True)
        )
        self.inner_lrs = {**self.inner_lrs, "alphas": self.alpha_inner_lr}

    @property
    def supernet(self) -> SuperNet:
        net = self._net
        if not isinstance(net, SuperNet):  # pragma: no cover - built by the factory above
            raise TypeError(f"Expected a SuperNet backbone; got {type(net).__name__}.")
        return net

    def genotype(self) -> tuple[tuple[str, ...], ...]:
        """The meta-learned architecture: the strongest non-zero operation of every edge."""
        return self.supernet.genotype()

    def adapted_genotypes(
        self, sampler: EpisodeSampler, n_episodes: int = 10
    ) -> list[tuple[tuple[str, ...], ...]]:
        """The architecture adapted to each of the first ``n_episodes`` episodes of ``sampler``."""
        n_episodes = _check_positive_int("n_episodes", n_episodes)
        return [self.supernet.genotype(a) for a in self._adapted_alphas(sampler, n_episodes)]

    def alpha_drift(self, sampler: EpisodeSampler, n_episodes: int = 10) -> float:
        """Mean absolute change of the architecture weights when adapting to an episode."""
        alphas = self._adapted_alphas(sampler, _check_positive_int("n_episodes", n_episodes))
        return float(np.abs((alphas - self.supernet.alphas.detach()).cpu().numpy()).mean())

    def _adapted_alphas(self, sampler: EpisodeSampler, n_episodes: int) -> torch.Tensor:
        self._check_episode_shape(sampler.input_shape, sampler.ways)
        with _threads(self.n_threads), torch.no_grad():
            self._net.eval()
            SX, SY, _, _ = self._stack([sampler.episode(i) for i in range(n_episodes)])
            return self._adapt_params(SX, SY)["alphas"]
