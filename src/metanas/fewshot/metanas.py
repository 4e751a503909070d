"""MetaNAS: meta-learn a DARTS architecture together with the weights of a few-shot learner.

:class:`MetaNAS` (``method="metanas"``) embeds with the supernet of metanas,
:class:`~metanas.models.CellSuperNet`, under a prototypical head. The network weights and the
meta-architecture are meta-learned across tasks; on every task, the architecture weights are
adapted to the support set by a few SGD steps on a leave-one-out prototypical loss, and the
adapted network classifies the queries by their distance to the class prototypes. The outer
update is first-order MAML for the architecture and the query loss for the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from metanas._checks import check_positive_int
from metanas._torch import torch_threads
from metanas.fewshot.episodes import EpisodeSampler
from metanas.fewshot.learners import PrototypicalNetwork, Reptile, _check_positive_float
from metanas.models.supernet import CellSuperNet, cell_supernet_factory

__all__ = ["DEFAULT_OPS", "MetaNAS", "MetaNASReptile", "support_loss"]

Params = dict[str, torch.Tensor]

#: Candidate operations of :class:`MetaNAS` by default.
DEFAULT_OPS = ("skip", "conv3", "conv5", "dilconv3")


def support_loss(z: torch.Tensor, y: torch.Tensor, ways: int) -> torch.Tensor:
    """Prototypical loss of a support set on itself, ``z (n, d)``, labels ``y (n,)``.

    Each example is scored against the class prototypes (mean embeddings);
    with more than one shot per class its own class's prototype leaves it out
    (leave-one-out), so the loss measures how well the prototypes of the
    other examples classify it. With one shot the example is its own
    prototype and the loss only pushes the classes apart.
    """
    onehot = F.one_hot(y, ways).to(z.dtype)  # (n, ways)
    counts = onehot.sum(0)
    sums = onehot.T @ z
    dist = torch.cdist(z, sums / counts[:, None].clamp_min(1.0)).pow(2)  # (n, ways)
    if bool((counts > 1).all()):
        own = (sums[y] - z) / (counts[y] - 1.0)[:, None]
        dist = dist * (1.0 - onehot) + onehot * (z - own).pow(2).sum(-1, keepdim=True)
    return F.cross_entropy(-dist, y)


class _SuperNetMixin:
    """Genotype reports of a learner whose network is a :class:`CellSuperNet`."""

    _net: nn.Module

    @property
    def supernet(self) -> CellSuperNet:
        net = self._net
        if not isinstance(net, CellSuperNet):  # pragma: no cover - built by the learner
            raise TypeError(f"Expected a CellSuperNet backbone; got {type(net).__name__}.")
        return net

    def genotype(self) -> tuple[tuple[str, ...], ...]:
        """The meta-learned architecture: the strongest non-zero operation of every edge."""
        return self.supernet.genotype()

    def adapted_genotypes(
        self, sampler: EpisodeSampler, n_episodes: int = 10
    ) -> list[tuple[tuple[str, ...], ...]]:
        """The architecture adapted to each of the first ``n_episodes`` episodes of ``sampler``."""
        n_episodes = check_positive_int("n_episodes", n_episodes)
        return [self.supernet.genotype(a) for a in self._adapted_alphas(sampler, n_episodes)]

    def alpha_drift(self, sampler: EpisodeSampler, n_episodes: int = 10) -> float:
        """Mean absolute change of the architecture weights when adapting to an episode."""
        alphas = self._adapted_alphas(sampler, check_positive_int("n_episodes", n_episodes))
        return float(np.abs((alphas - self.supernet.alphas.detach()).cpu().numpy()).mean())

    def _adapted_alphas(self, sampler: EpisodeSampler, n_episodes: int) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover


class MetaNAS(_SuperNetMixin, PrototypicalNetwork):
    """MetaNAS with a prototypical head: meta-learned weights and architecture, adapted per task.

    The embedding network is a :class:`~metanas.models.CellSuperNet`
    (no head). For every task of a meta-batch, ``inner_steps`` SGD steps of
    size ``alpha_inner_lr`` adapt the architecture weights to the support set
    (:func:`support_loss`); the support and query examples are then embedded
    with the adapted architecture and the query examples are classified by
    their squared distance to the class prototypes. The query loss updates the
    network weights (Adam, ``meta_lr``) and, first-order MAML style, the
    meta-architecture (Adam, ``alpha_meta_lr``; second order with
    ``first_order=False``). A new task is adapted the same way with
    ``test_steps`` steps: :meth:`adapted_genotypes` reports its architecture,
    :meth:`genotype` the meta-learned one. The mixed operations stay
    continuous when evaluating (no soft pruning).

    Parameters
    ----------
    hidden, n_cells, n_nodes, ops
        Supernet shape (see :class:`~metanas.models.CellSuperNet`).
    alpha_inner_lr, inner_steps, test_steps
        Inner loop on the architecture weights: step size, steps while
        meta-training, and steps on a new task (default: ``inner_steps``).
    alpha_meta_lr
        Outer learning rate of the architecture weights.
    first_order
        Treat the inner gradients as constants in the outer update.
    **kwargs
        See :class:`~metanas.fewshot.FewShotLearner` (``meta_lr``, ``seed`` ...).

    References
    ----------
    T. Elsken, B. Staffler, J. H. Metzen, F. Hutter. Meta-learning of neural
    architectures for few-shot learning. CVPR 2020.
    J. Snell, K. Swersky, R. Zemel. Prototypical networks for few-shot
    learning. NeurIPS 2017.
    """

    method = "metanas"

    def __init__(
        self,
        *,
        hidden: int = 32,
        n_cells: int = 3,
        n_nodes: int = 1,
        ops: Sequence[str] = DEFAULT_OPS,
        alpha_inner_lr: float = 1.0,
        inner_steps: int = 3,
        test_steps: int | None = None,
        alpha_meta_lr: float = 3e-3,
        first_order: bool = True,
        **kwargs: Any,
    ) -> None:
        if "backbone" in kwargs:
            raise TypeError("MetaNAS builds its own supernet backbone; do not pass backbone.")
        super().__init__(hidden=hidden, **kwargs)
        self.n_cells = check_positive_int("n_cells", n_cells)
        self.n_nodes = check_positive_int("n_nodes", n_nodes)
        self.ops = tuple(ops)
        self.backbone = cell_supernet_factory(
            hidden=self.hidden, n_cells=self.n_cells, n_nodes=self.n_nodes, ops=self.ops
        )
        self.alpha_inner_lr = _check_positive_float(
            "alpha_inner_lr", alpha_inner_lr, allow_zero=True
        )
        self.inner_steps = check_positive_int("inner_steps", inner_steps, 0)
        self.test_steps = (
            self.inner_steps
            if test_steps is None
            else check_positive_int("test_steps", test_steps, 0)
        )
        self.alpha_meta_lr = _check_positive_float("alpha_meta_lr", alpha_meta_lr, allow_zero=True)
        self.first_order = bool(first_order)

    def _make_optimizer(self) -> torch.optim.Optimizer | None:
        net = self.supernet
        weights = [p for name, p in net.named_parameters() if name != "alphas"]
        groups: list[dict[str, Any]] = [
            {"params": weights},
            {"params": [net.alphas], "lr": self.alpha_meta_lr},
        ]
        return torch.optim.Adam(groups, lr=self.meta_lr)

    def _adapt_task_alphas(
        self, sx: torch.Tensor, sy: torch.Tensor, ways: int, n_steps: int, *,
        create_graph: bool = False,
    ) -> torch.Tensor:  # fmt: skip
        """Architecture weights adapted to one support set (first order: a straight-through
        function of the meta-architecture)."""
        net = self.supernet
        meta = net.alphas
        if n_steps == 0 or self.alpha_inner_lr == 0.0:
            return meta
        a = meta if create_graph else meta.detach().requires_grad_(True)
        with torch.enable_grad():
            for _ in range(n_steps):
                (g,) = torch.autograd.grad(
                    support_loss(net(sx, alphas=a), sy, ways), a, create_graph=create_graph
                )
                a = a - self.alpha_inner_lr * g
                if not create_graph:
                    a = a.detach().requires_grad_(True)
        return a if create_graph else meta + (a - meta).detach()

    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        opt = self._optimizer
        assert opt is not None  # built with the model
        net = self.supernet
        ways = int(SY.max()) + 1
        n_tasks, n_support = SX.shape[:2]
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for b in range(n_tasks):
            alphas = self._adapt_task_alphas(
                SX[b], SY[b], ways, self.inner_steps, create_graph=not self.first_order
            )
            z = net(torch.cat([SX[b], QX[b]]), alphas=alphas)
            scores = self._scores(z[None, :n_support], SY[b : b + 1], z[None, n_support:], ways)
            loss = F.cross_entropy(scores[0], QY[b]) / n_tasks
            loss.backward()  # type: ignore[no-untyped-call]
            total += float(loss.detach())
        opt.step()
        return total

    def _task_alphas(self, SX: torch.Tensor, SY: torch.Tensor, ways: int) -> list[torch.Tensor]:
        return [
            self._adapt_task_alphas(SX[b], SY[b], ways, self.test_steps).detach()
            for b in range(SX.shape[0])
        ]

    def _adapt_batch(
        self, SX: torch.Tensor, SY: torch.Tensor, ways: int
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        net = self.supernet
        alphas = self._task_alphas(SX, SY, ways)
        with torch.no_grad():
            S = torch.stack([net(SX[b], alphas=a) for b, a in enumerate(alphas)])

        def scores(QX: torch.Tensor) -> torch.Tensor:
            Q = torch.stack([net(QX[b], alphas=a) for b, a in enumerate(alphas)])
            return self._scores(S, SY, Q, ways)

        return scores

    def _adapted_alphas(self, sampler: EpisodeSampler, n_episodes: int) -> torch.Tensor:
        self._check_episode_shape(sampler.input_shape, sampler.ways)
        with torch_threads(self.n_threads):
            self._net.eval()
            SX, SY, _, _ = self._stack([sampler.episode(i) for i in range(n_episodes)])
            return torch.stack(self._task_alphas(SX, SY, sampler.ways))


class MetaNASReptile(_SuperNetMixin, Reptile):
    """MetaNAS as in the paper: weights and architecture adapted per task, Reptile meta-update.

    The network is a :class:`~metanas.models.CellSuperNet` with a ``ways``-output head. On
    every task, ``inner_steps`` SGD steps on the cross-entropy adapt all parameters, the
    operation weights with step ``inner_lr`` and the architecture weights with
    ``alpha_inner_lr``; the meta-update is Reptile's (both move towards the adapted values).
    A new task is adapted the same way with ``test_steps`` steps on its support set, then the
    architecture is *discretised* (the strongest operation of every edge, the others get no
    weight) and ``discrete_steps`` more steps fine-tune the operation weights of the
    discrete network on the support set before the queries are classified.

    *Soft pruning*, as in the paper: the softmax temperature of the architecture weights is
    annealed linearly from ``temperature[0]`` at the first meta-update to ``temperature[1]``
    at the last, and a new task is adapted at ``temperature[1]``. The mixture is then close
    to its strongest operation before it is discretised, so discretising changes the adapted
    network less. ``temperature=(1.0, 1.0)`` turns it off.

    Parameters
    ----------
    hidden, n_cells, n_nodes, ops
        Supernet shape (see :class:`~metanas.models.CellSuperNet`).
    inner_lr, alpha_inner_lr
        Inner step sizes of the operation weights and of the architecture weights.
    inner_steps, test_steps, discrete_steps
        Inner steps while meta-training, on a new task's support set, and after discretising.
    temperature
        ``(start, end)`` of the linear softmax-temperature schedule (the paper's 1.0 to 0.1).
    **kwargs
        See :class:`~metanas.fewshot.Reptile` (``outer_step``, ``use_query``, ``seed`` ...).

    References
    ----------
    T. Elsken, B. Staffler, J. H. Metzen, F. Hutter. Meta-learning of neural
    architectures for few-shot learning. CVPR 2020.
    """

    method = "metanas-reptile"

    def __init__(
        self,
        *,
        hidden: int = 16,
        n_cells: int = 3,
        n_nodes: int = 1,
        ops: Sequence[str] = DEFAULT_OPS,
        inner_lr: float = 0.03,
        alpha_inner_lr: float = 0.3,
        inner_steps: int = 5,
        test_steps: int | None = 20,
        discrete_steps: int = 10,
        temperature: tuple[float, float] = (1.0, 0.1),
        **kwargs: Any,
    ) -> None:
        if "backbone" in kwargs:
            raise TypeError("MetaNASReptile builds its own supernet; do not pass backbone.")
        if not isinstance(temperature, tuple | list) or len(temperature) != 2:
            raise ValueError(
                f"temperature must be a pair (start, end), e.g. (1.0, 0.1); got {temperature!r}."
            )
        self.temperature = (
            _check_positive_float("temperature[0]", temperature[0]),
            _check_positive_float("temperature[1]", temperature[1]),
        )
        self.alpha_inner_lr = _check_positive_float(
            "alpha_inner_lr", alpha_inner_lr, allow_zero=True
        )
        super().__init__(
            hidden=hidden, inner_lr=inner_lr, inner_steps=inner_steps, test_steps=test_steps,
            inner_lrs={"alphas": self.alpha_inner_lr}, **kwargs,
        )  # fmt: skip
        self.n_cells = check_positive_int("n_cells", n_cells)
        self.n_nodes = check_positive_int("n_nodes", n_nodes)
        self.ops = tuple(ops)
        self.discrete_steps = check_positive_int("discrete_steps", discrete_steps, 0)
        self.backbone = cell_supernet_factory(
            hidden=self.hidden, n_cells=self.n_cells, n_nodes=self.n_nodes, ops=self.ops
        )

    # vmap over the supernet falls back to slow per-sample loops (grouped convolutions), so
    # this learner adapts one task at a time with plain autograd.
    def _sgd(
        self, params: Params, x: torch.Tensor, y: torch.Tensor, n_steps: int, *,
        arch: bool = True,
    ) -> Params:  # fmt: skip
        """``n_steps`` SGD steps on ``(x, y)`` (the architecture too when ``arch``)."""
        names = [k for k in params if arch or k != "alphas"]
        params = {k: v.detach().requires_grad_(k in names) for k, v in params.items()}
        with torch.enable_grad():
            for _ in range(n_steps):
                loss = self._loss_fn(params, x, y)
                grads = torch.autograd.grad(loss, [params[k] for k in names])
                for k, g in zip(names, grads, strict=True):
                    params[k] = (params[k] - self._lr(k) * g).detach().requires_grad_(True)
        return {k: v.detach() for k, v in params.items()}

    def _discrete(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> Params:
        """Discretise the adapted architecture of one task, then fine-tune its weights."""
        a = params["alphas"]
        # a logit gap of 1e4 gives the strongest operation all the softmax weight
        hard = torch.where(a == a.amax(-1, keepdim=True), 0.0, -1e4)
        return self._sgd({**params, "alphas": hard}, x, y, self.discrete_steps, arch=False)

    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        X, Y = (
            (torch.cat([SX, QX], dim=1), torch.cat([SY, QY], dim=1)) if self.use_query else (SX, SY)
        )
        start, end = self.temperature
        self.supernet.temperature = start + (end - start) * progress
        theta = {k: v.detach() for k, v in self._params().items()}
        phis = [self._sgd(theta, X[b], Y[b], self.inner_steps) for b in range(X.shape[0])]
        with torch.no_grad():
            losses = [float(self._loss_fn(phi, X[b], Y[b])) for b, phi in enumerate(phis)]
        eps = self.outer_step * (1.0 - progress)
        with torch.no_grad():
            for k, p in self._params().items():
                p.add_(eps * (torch.stack([phi[k] for phi in phis]).mean(0) - p))
        return float(np.mean(losses))

    def _new_task_params(self) -> Params:
        """The meta-learned parameters to adapt a new task from, the supernet at the end of
        the temperature schedule (where meta-training left it)."""
        self.supernet.temperature = self.temperature[1]
        return {k: v.detach() for k, v in self._params().items()}

    def _adapt_batch(
        self, SX: torch.Tensor, SY: torch.Tensor, ways: int
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        theta = self._new_task_params()
        adapted = [
            self._discrete(self._sgd(theta, SX[b], SY[b], self.test_steps), SX[b], SY[b])
            for b in range(SX.shape[0])
        ]

        def scores(QX: torch.Tensor) -> torch.Tensor:
            outs = [
                torch.func.functional_call(self._net, p, (QX[b],)) for b, p in enumerate(adapted)
            ]
            return torch.stack(outs)

        return scores

    def _adapted_alphas(self, sampler: EpisodeSampler, n_episodes: int) -> torch.Tensor:
        self._check_episode_shape(sampler.input_shape, sampler.ways)
        with torch_threads(self.threads):
            SX, SY, _, _ = self._stack([sampler.episode(i) for i in range(n_episodes)])
            theta = self._new_task_params()
            return torch.stack(
                [self._sgd(theta, SX[b], SY[b], self.test_steps)["alphas"] for b in range(len(SX))]
            )
