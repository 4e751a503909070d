"""Few-shot learners on a fixed backbone: MAML, Reptile, prototypical and matching networks.

All four share one interface (:class:`FewShotLearner`): :meth:`~FewShotLearner.meta_train`
on episodes of the meta-training classes, :meth:`~FewShotLearner.adapt` to one
support set, :meth:`~FewShotLearner.evaluate` on many test episodes. MAML and
Reptile are written with :mod:`torch.func`: the network is a pure function of
a parameter dictionary (``functional_call``), inner-loop gradients come from
``torch.func.grad`` and a meta-batch of tasks is adapted at once with ``vmap``.
Any parameter of the backbone is adapted, so a supernet whose architecture
weights are parameters (MetaNAS) is meta-learned by the same code.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

try:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn
    from torch.func import functional_call, grad, vmap
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError('The few-shot learners need torch: pip install "metanas[torch]".') from exc

from metanas._checks import check_positive_int
from metanas._rng import resolve_seed
from metanas._torch import _UNSET, DEFAULT_THREADS, check_threads, torch_threads
from metanas.exceptions import MetanasError
from metanas.fewshot.backbones import BackboneFactory, make_backbone
from metanas.fewshot.episodes import Episode, EpisodeSampler
from metanas.models.networks import seeded_init

__all__ = [
    "MAML",
    "AdaptedModel",
    "FewShotLearner",
    "MatchingNetwork",
    "NotMetaTrainedError",
    "PrototypicalNetwork",
    "Reptile",
]

Params = dict[str, torch.Tensor]
_EVAL_CHUNK = 50  # episodes adapted together (vmap) during evaluation


class NotMetaTrainedError(MetanasError, RuntimeError):
    """A learner was used before :meth:`FewShotLearner.meta_train` built its network."""


def _check_positive_float(name: str, value: object, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return float(value)  # type: ignore[arg-type]


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95 % confidence interval."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return float(arr.mean()) if arr.size else float("nan"), float("nan")
    return float(arr.mean()), float(1.96 * arr.std(ddof=1) / math.sqrt(arr.size))


class AdaptedModel:
    """A learner adapted to one support set: scores, labels and loss for query examples."""

    def __init__(self, scores: Callable[[torch.Tensor], torch.Tensor], device: torch.device):
        self._scores = scores
        self._device = device

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self._device)

    def logits(self, query_x: np.ndarray) -> np.ndarray:
        """Class scores ``(n, ways)``; their argmax is the prediction."""
        with torch.no_grad():
            return self._scores(self._tensor(query_x)).cpu().numpy()

    def predict(self, query_x: np.ndarray) -> np.ndarray:
        """Episode labels ``0 .. ways - 1``."""
        return np.asarray(self.logits(query_x).argmax(axis=1))

    def loss(self, query_x: np.ndarray, query_y: np.ndarray) -> float:
        """Mean cross-entropy of the query labels."""
        with torch.no_grad():
            s = self._scores(self._tensor(query_x))
            y = torch.as_tensor(np.asarray(query_y, dtype=np.int64), device=self._device)
            return float(F.cross_entropy(s, y))

    def accuracy(self, query_x: np.ndarray, query_y: np.ndarray) -> float:
        return float(np.mean(self.predict(query_x) == np.asarray(query_y)))

    __call__ = logits


class FewShotLearner(abc.ABC):
    """Base class: a backbone meta-trained on episodes and adapted to new ones.

    The network is built on the first :meth:`meta_train` call, from the
    sampler's input shape (and ``ways`` for learners with a classifier head),
    inside a forked torch RNG seeded with ``seed``; episodes come from the
    sampler's own seed. Same seeds, same numbers (on the same device).

    Parameters
    ----------
    backbone
        ``"auto"``, ``"conv"``, ``"mlp"`` (see :func:`make_backbone`) or a
        factory ``(input_shape, n_out) -> nn.Module``.
    hidden
        Width of the built-in backbones.
    meta_lr
        Learning rate of the outer (meta) optimiser.
    seed
        Seed of the initial weights.
    device
        ``"cpu"``, ``"cuda"`` ...; None picks CUDA when available.
    threads
        Torch CPU threads while the learner runs (default 1, which never oversubscribes a
        shared machine; None: leave torch's setting).
    n_threads
        Deprecated alias of ``threads`` (FutureWarning).
    """

    #: Name of the method in :func:`metanas.fewshot.run_fewshot`.
    method: ClassVar[str] = ""
    #: Whether the network ends in a ``ways``-output classifier head.
    _has_head: ClassVar[bool] = False

    @property
    def n_threads(self) -> int | None:
        """Deprecated name of :attr:`threads`."""
        return self.threads

    def __init__(
        self,
        *,
        backbone: str | BackboneFactory = "auto",
        hidden: int = 32,
        meta_lr: float = 1e-3,
        seed: int | None = 0,
        device: str | None = None,
        threads: int | None = DEFAULT_THREADS,
        n_threads: Any = _UNSET,
    ) -> None:
        if not (callable(backbone) or backbone in ("auto", "conv", "mlp")):
            raise ValueError(
                f"backbone must be 'auto', 'conv', 'mlp' or a callable (input_shape, n_out) "
                f"-> nn.Module; got {backbone!r}."
            )
        self.backbone = backbone
        self.hidden = check_positive_int("hidden", hidden)
        self.meta_lr = _check_positive_float("meta_lr", meta_lr)
        self.seed = resolve_seed(seed)
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.threads = check_threads(threads, n_threads, owner=type(self).__name__)
        self.model: nn.Module | None = None
        self.ways: int | None = None
        self.input_shape: tuple[int, ...] | None = None
        self.history: list[float] = []
        self.train_time_s = 0.0
        self._optimizer: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ building
    def _make_model(self, input_shape: tuple[int, ...], ways: int) -> nn.Module:
        n_out = ways if self._has_head else None
        if callable(self.backbone):
            return self.backbone(input_shape, n_out)
        return make_backbone(input_shape, n_out, kind=self.backbone, hidden=self.hidden)

    def _build(self, input_shape: tuple[int, ...], ways: int) -> None:
        with seeded_init(self.seed):
            model = self._make_model(input_shape, ways)
        if not isinstance(model, nn.Module):
            raise TypeError(f"The backbone factory must return an nn.Module; got {type(model)}.")
        self.model = model.to(self.device)
        self.input_shape = tuple(input_shape)
        self.ways = ways
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer | None:
        return torch.optim.Adam(self._net.parameters(), lr=self.meta_lr)

    @property
    def _net(self) -> nn.Module:
        if self.model is None:
            raise NotMetaTrainedError(
                f"This {type(self).__name__} has no network yet; call meta_train(sampler, "
                "n_iterations) first."
            )
        return self.model

    @property
    def n_params(self) -> int:
        """Number of meta-learned parameters."""
        return sum(int(p.numel()) for p in self._net.parameters())

    def _check_episode_shape(self, input_shape: tuple[int, ...], ways: int) -> None:
        if self.input_shape is not None and tuple(input_shape) != self.input_shape:
            raise ValueError(
                f"Examples of shape {tuple(input_shape)} do not fit this learner, meta-trained "
                f"on shape {self.input_shape}."
            )
        if self._has_head and self.ways is not None and ways != self.ways:
            raise ValueError(
                f"{type(self).__name__} was meta-trained for {self.ways}-way episodes; got "
                f"{ways}-way. Use a sampler with ways={self.ways} or meta-train a new learner."
            )

    # ------------------------------------------------------------------ tensors
    def _stack(
        self, episodes: Sequence[Episode]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        def t(arrays: list[np.ndarray], dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.stack(arrays), dtype=dtype, device=self.device)

        return (
            t([e.support_x for e in episodes], torch.float32),
            t([e.support_y for e in episodes], torch.int64),
            t([e.query_x for e in episodes], torch.float32),
            t([e.query_y for e in episodes], torch.int64),
        )

    # ------------------------------------------------------------------ public verbs
    def meta_train(
        self,
        sampler: EpisodeSampler,
        n_iterations: int,
        meta_batch: int = 4,
        *,
        callback: Callable[[int, float], None] | None = None,
    ) -> FewShotLearner:
        """Meta-train on ``n_iterations`` meta-batches of episodes from ``sampler``.

        Parameters
        ----------
        sampler
            Episodes of the meta-training classes.
        n_iterations
            Outer (meta) updates.
        meta_batch
            Episodes per outer update.
        callback
            Called as ``callback(iteration, meta_loss)`` after every update.

        Returns
        -------
        FewShotLearner
            ``self``; the loss of every update is appended to :attr:`history`.
        """
        if not isinstance(sampler, EpisodeSampler):
            raise TypeError(f"sampler must be an EpisodeSampler; got {type(sampler).__name__}.")
        n_iterations = check_positive_int("n_iterations", n_iterations)
        meta_batch = check_positive_int("meta_batch", meta_batch)
        with torch_threads(self.threads):
            if self.model is None:
                self._build(sampler.input_shape, sampler.ways)
            self._check_episode_shape(sampler.input_shape, sampler.ways)
            start = time.perf_counter()
            self._net.train()
            for it in range(n_iterations):
                batch = self._stack(sampler.batch(meta_batch))
                loss = self._meta_step(*batch, progress=it / n_iterations)
                self.history.append(loss)
                if callback is not None:
                    callback(it, loss)
            self.train_time_s += time.perf_counter() - start
        return self

    def adapt(self, support_x: np.ndarray, support_y: np.ndarray) -> AdaptedModel:
        """Adapt to one support set (labels ``0 .. ways - 1``); returns a query predictor."""
        sx = np.asarray(support_x, dtype=np.float32)
        sy = np.asarray(support_y, dtype=np.int64)
        if sx.ndim < 2 or sy.shape != (len(sx),):
            raise ValueError(
                f"support_x must be (n, *input_shape) and support_y (n,); got {sx.shape} and "
                f"{sy.shape}."
            )
        ways = int(sy.max()) + 1 if sy.size else 0
        if sy.size == 0 or sy.min() < 0 or set(np.unique(sy).tolist()) != set(range(ways)):
            raise ValueError(
                f"support_y must use every label 0 .. ways - 1; got {sorted(set(sy.tolist()))}."
            )
        self._check_episode_shape(sx.shape[1:], ways)
        with torch_threads(self.threads), torch.no_grad():
            net = self._net
            net.eval()
            SX = torch.as_tensor(sx[None], device=self.device)
            SY = torch.as_tensor(sy[None], device=self.device)
            scorer = self._adapt_batch(SX, SY, ways)

        def scores(qx: torch.Tensor) -> torch.Tensor:
            with torch_threads(self.threads):
                return scorer(qx[None])[0]

        return AdaptedModel(scores, self.device)

    def evaluate(self, sampler: EpisodeSampler, n_episodes: int = 600) -> tuple[float, float]:
        """Mean query accuracy over ``n_episodes`` episodes and its 95 % CI half-width.

        The episodes are the first ``n_episodes`` of the sampler's stream
        (``sampler.episode(0)``, ...), so every learner evaluated with samplers
        of the same seed sees the same test tasks.
        """
        return mean_ci95(self.episode_accuracies(sampler, n_episodes))

    def episode_accuracies(self, sampler: EpisodeSampler, n_episodes: int = 600) -> np.ndarray:
        """Query accuracy of each of the first ``n_episodes`` episodes of ``sampler``."""
        if not isinstance(sampler, EpisodeSampler):
            raise TypeError(f"sampler must be an EpisodeSampler; got {type(sampler).__name__}.")
        n_episodes = check_positive_int("n_episodes", n_episodes)
        self._check_episode_shape(sampler.input_shape, sampler.ways)
        accs: list[np.ndarray] = []
        with torch_threads(self.threads):
            self._net.eval()
            for lo in range(0, n_episodes, _EVAL_CHUNK):
                eps = [sampler.episode(i) for i in range(lo, min(lo + _EVAL_CHUNK, n_episodes))]
                SX, SY, QX, QY = self._stack(eps)
                with torch.no_grad():
                    scores = self._adapt_batch(SX, SY, sampler.ways)(QX)
                accs.append((scores.argmax(-1) == QY).float().mean(-1).cpu().numpy())
        return np.concatenate(accs).astype(np.float64)

    # ------------------------------------------------------------------ per method
    @abc.abstractmethod
    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        """One outer update on a batch of episodes ``(B, n, ...)``; returns the meta-loss."""

    @abc.abstractmethod
    def _adapt_batch(
        self, SX: torch.Tensor, SY: torch.Tensor, ways: int
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Adapt to a batch of support sets; return ``QX (B, m, ...) -> scores (B, m, ways)``."""

    def __repr__(self) -> str:
        state = "untrained" if self.model is None else f"{len(self.history)} meta-iterations"
        return f"{type(self).__name__}({state}, seed={self.seed}, device={self.device.type})"


# ====================================================================== gradient-based
class _GradientLearner(FewShotLearner):
    """Shared code of MAML and Reptile: SGD inner loops on a parameter dictionary."""

    _has_head = True

    def __init__(
        self,
        *,
        inner_lr: float,
        inner_steps: int,
        test_steps: int | None,
        inner_lrs: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inner_lr = _check_positive_float("inner_lr", inner_lr)
        self.inner_steps = check_positive_int("inner_steps", inner_steps)
        self.test_steps = (
            self.inner_steps
            if test_steps is None
            else check_positive_int("test_steps", test_steps, 0)
        )
        self.inner_lrs = {
            str(k): _check_positive_float(f"inner_lrs[{k!r}]", v, allow_zero=True)
            for k, v in (inner_lrs or {}).items()
        }

    def _lr(self, name: str) -> float:
        """Inner step size of ``name``: its longest prefix in ``inner_lrs``, else inner_lr."""
        best = ""
        for prefix in self.inner_lrs:
            if name.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return self.inner_lrs[best] if best else self.inner_lr

    def _params(self) -> Params:
        return dict(self._net.named_parameters())

    def _loss_fn(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(self._net, params, (x,))
        return F.cross_entropy(out, y)

    def _inner(
        self, params: Params, x: torch.Tensor, y: torch.Tensor, n_steps: int,
        first_order: bool = False,
    ) -> Params:  # fmt: skip
        """``n_steps`` of plain SGD on ``(x, y)`` starting from ``params`` (one task, vmappable)."""
        lrs = {k: self._lr(k) for k in params}
        for _ in range(n_steps):
            g = grad(self._loss_fn)(params, x, y)
            if first_order:
                g = {k: v.detach() for k, v in g.items()}
            params = {k: p - lrs[k] * g[k] for k, p in params.items()}
        return params

    def _adapt_params(self, SX: torch.Tensor, SY: torch.Tensor) -> Params:
        """Parameters adapted to each support set of a batch (leading dimension B)."""
        params = {k: v.detach() for k, v in self._params().items()}
        steps = self.test_steps
        with torch.enable_grad():
            adapted = vmap(lambda x, y: self._inner(params, x, y, steps))(SX, SY)
        return {k: v.detach() for k, v in adapted.items()}

    def _adapt_batch(
        self, SX: torch.Tensor, SY: torch.Tensor, ways: int
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        adapted = self._adapt_params(SX, SY)

        def scores(QX: torch.Tensor) -> torch.Tensor:
            def one(p: Params, q: torch.Tensor) -> torch.Tensor:
                out: torch.Tensor = functional_call(self._net, p, (q,))
                return out

            return vmap(one)(adapted, QX)

        return scores


class MAML(_GradientLearner):
    """Model-Agnostic Meta-Learning (second-order, or first-order with ``first_order=True``).

    The inner loop takes ``inner_steps`` SGD steps on the support set from the
    meta-learned initialisation; the outer loss is the query loss of the
    adapted weights, differentiated through the inner loop (second order) or
    with the inner gradients treated as constants (first order, FOMAML). The
    outer optimiser is Adam with ``meta_lr``.

    Parameters
    ----------
    inner_lr, inner_steps
        SGD step size and steps of the inner loop during meta-training.
    test_steps
        Inner steps when adapting to a new task (default: ``inner_steps``).
    first_order
        Drop second-order terms (FOMAML).
    inner_lrs
        Per-parameter inner step sizes by name prefix, e.g. ``{"alpha": 0.1}``
        (0 keeps a parameter fixed in the inner loop; MetaNAS uses this for
        the architecture weights).
    **kwargs
        See :class:`FewShotLearner`.

    References
    ----------
    C. Finn, P. Abbeel, S. Levine. Model-agnostic meta-learning for fast
    adaptation of deep networks. ICML 2017.
    """

    method = "maml"

    def __init__(
        self,
        *,
        inner_lr: float = 0.05,
        inner_steps: int = 5,
        test_steps: int | None = 10,
        first_order: bool = False,
        inner_lrs: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            inner_lr=inner_lr, inner_steps=inner_steps, test_steps=test_steps,
            inner_lrs=inner_lrs, **kwargs,
        )  # fmt: skip
        self.first_order = bool(first_order)

    def query_losses(self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor,
                     QY: torch.Tensor, n_steps: int | None = None) -> torch.Tensor:  # fmt: skip
        """Query loss ``(B,)`` of each episode after ``n_steps`` inner steps (differentiable)."""
        params = self._params()
        steps = self.inner_steps if n_steps is None else n_steps

        def task_loss(x: torch.Tensor, y: torch.Tensor, qx: torch.Tensor,
                      qy: torch.Tensor) -> torch.Tensor:  # fmt: skip
            adapted = self._inner(params, x, y, steps, first_order=self.first_order)
            return self._loss_fn(adapted, qx, qy)

        out: torch.Tensor = vmap(task_loss)(SX, SY, QX, QY)
        return out

    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        opt = self._optimizer
        assert opt is not None  # built with the model
        loss = self.query_losses(SX, SY, QX, QY).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        return float(loss.detach())


class Reptile(_GradientLearner):
    """Reptile: move the initialisation towards the weights adapted to each task.

    For every task of a meta-batch, ``inner_steps`` full-batch SGD steps on
    all the task's examples (support and query; support only with
    ``use_query=False``) give adapted weights :math:`\\phi_i`; the initialisation moves by
    :math:`\\epsilon (\\bar\\phi - \\theta)` with the outer step
    :math:`\\epsilon` = ``outer_step`` annealed linearly to 0 over
    meta-training. A new task is adapted with ``test_steps`` steps on its
    support set.

    Parameters
    ----------
    inner_lr, inner_steps
        SGD step size and steps on each meta-training task.
    test_steps
        Inner steps when adapting to a new task's support set.
    outer_step
        Initial outer step size :math:`\\epsilon` (annealed linearly to 0).
    use_query
        Train the inner loop on the query examples too during meta-training.
    inner_lrs
        Per-parameter inner step sizes by name prefix (see :class:`MAML`).
    **kwargs
        See :class:`FewShotLearner`.

    References
    ----------
    A. Nichol, J. Achiam, J. Schulman. On first-order meta-learning
    algorithms. arXiv:1803.02999, 2018.
    """

    method = "reptile"

    def __init__(
        self,
        *,
        inner_lr: float = 0.03,
        inner_steps: int = 5,
        test_steps: int | None = 20,
        outer_step: float = 1.0,
        use_query: bool = True,
        inner_lrs: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            inner_lr=inner_lr, inner_steps=inner_steps, test_steps=test_steps,
            inner_lrs=inner_lrs, **kwargs,
        )  # fmt: skip
        self.outer_step = _check_positive_float("outer_step", outer_step)
        self.use_query = bool(use_query)

    def _make_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        X, Y = (
            (torch.cat([SX, QX], dim=1), torch.cat([SY, QY], dim=1)) if self.use_query else (SX, SY)
        )
        params = {k: v.detach() for k, v in self._params().items()}
        steps = self.inner_steps

        def adapt_and_score(x: torch.Tensor, y: torch.Tensor) -> tuple[Params, torch.Tensor]:
            phi = self._inner(params, x, y, steps)
            return phi, self._loss_fn(phi, x, y)

        phi, losses = vmap(adapt_and_score)(X, Y)
        eps = self.outer_step * (1.0 - progress)  # progress: fraction of updates done before
        with torch.no_grad():
            for k, p in self._params().items():
                p.add_(eps * (phi[k].mean(0) - p))
        return float(losses.mean())


# ====================================================================== metric-based
class _MetricLearner(FewShotLearner):
    """Embeds support and query examples; scores come from a comparison of embeddings."""

    def _embed(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, n, *shape) -> (B, n, d)``."""
        B, n = X.shape[:2]
        z: torch.Tensor = self._net(X.reshape(B * n, *X.shape[2:]))
        return z.reshape(B, n, -1)

    @abc.abstractmethod
    def _scores(
        self, S: torch.Tensor, SY: torch.Tensor, Q: torch.Tensor, ways: int
    ) -> torch.Tensor:
        """Scores ``(B, m, ways)`` of query embeddings against support embeddings."""

    def _meta_step(
        self, SX: torch.Tensor, SY: torch.Tensor, QX: torch.Tensor, QY: torch.Tensor, *,
        progress: float,
    ) -> float:  # fmt: skip
        opt = self._optimizer
        assert opt is not None  # built with the model
        ways = int(SY.max()) + 1
        scores = self._scores(self._embed(SX), SY, self._embed(QX), ways)
        loss = F.cross_entropy(scores.reshape(-1, ways), QY.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        return float(loss.detach())

    def _adapt_batch(
        self, SX: torch.Tensor, SY: torch.Tensor, ways: int
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        with torch.no_grad():
            S = self._embed(SX)

        def scores(QX: torch.Tensor) -> torch.Tensor:
            return self._scores(S, SY, self._embed(QX), ways)

        return scores


class PrototypicalNetwork(_MetricLearner):
    """Prototypical networks: class prototypes are mean support embeddings.

    Query scores are negative squared Euclidean distances to the prototypes;
    meta-training minimises the query cross-entropy with Adam.

    References
    ----------
    J. Snell, K. Swersky, R. Zemel. Prototypical networks for few-shot
    learning. NeurIPS 2017.
    """

    method = "protonet"

    def _scores(
        self, S: torch.Tensor, SY: torch.Tensor, Q: torch.Tensor, ways: int
    ) -> torch.Tensor:
        onehot = F.one_hot(SY, ways).to(S.dtype)  # (B, n, ways)
        protos = onehot.transpose(1, 2) @ S / onehot.sum(1).unsqueeze(-1)  # (B, ways, d)
        return -torch.cdist(Q, protos).pow(2)


class MatchingNetwork(_MetricLearner):
    """Matching networks: cosine attention over the support set, without FCE.

    A query's class probabilities are the attention-weighted sum of the
    support labels, the attention a softmax over ``scale`` times the cosine
    similarities of the embeddings. Full-context embeddings (the LSTMs of the
    paper) are left out: support and query examples are embedded
    independently by the backbone.

    Parameters
    ----------
    scale
        Inverse temperature of the attention softmax.
    **kwargs
        See :class:`FewShotLearner`.

    References
    ----------
    O. Vinyals, C. Blundell, T. Lillicrap, K. Kavukcuoglu, D. Wierstra.
    Matching networks for one shot learning. NeurIPS 2016.
    """

    method = "matching"

    def __init__(self, *, scale: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _check_positive_float("scale", scale)

    def _scores(
        self, S: torch.Tensor, SY: torch.Tensor, Q: torch.Tensor, ways: int
    ) -> torch.Tensor:
        sim = F.normalize(Q, dim=-1) @ F.normalize(S, dim=-1).transpose(1, 2)  # (B, m, n)
        attention = torch.softmax(self.scale * sim, dim=-1)
        probs = attention @ F.one_hot(SY, ways).to(S.dtype)  # (B, m, ways)
        return torch.log(probs.clamp_min(1e-8))  # log-probabilities: cross-entropy = NLL
