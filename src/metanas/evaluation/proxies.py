"""Zero-cost proxies: score an untrained network from one batch, in milliseconds.

Each proxy is computed at initialisation on one mini-batch; a higher value
is meant to predict a higher trained accuracy. Use them to pre-screen
candidates or as features of a performance predictor.

References
----------
Tanaka, H. et al. Pruning neural networks without any data by iteratively
conserving synaptic flow. NeurIPS 2020 (synflow).
Mellor, J. et al. Neural architecture search without training. ICML 2021 (naswot).
Lee, N. et al. SNIP: single-shot network pruning based on connection
sensitivity. ICLR 2019 (snip).
Abdelfattah, M. et al. Zero-cost proxies for lightweight NAS. ICLR 2021
(grad_norm, and the other three as NAS proxies).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._rng import resolve_seed
from metanas.evaluation.base import Evaluator, Result, Status
from metanas.exceptions import unknown
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.spaces.trainable import TrainableSpace, require_trainable

if TYPE_CHECKING:
    import torch
    from torch import nn

    from metanas.tasks import Task

__all__ = ["PROXIES", "ProxyEvaluator", "compute_proxy"]


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights of the convolution and linear layers (the prunable ones)."""
    from torch import nn

    layers = (nn.Conv1d, nn.Conv2d, nn.Linear)
    return [m.weight for m in model.modules() if isinstance(m, layers)]


def _synflow(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """``sum |theta * dR/dtheta|`` with ``R`` the output sum of the linearised network.

    Works on a float64 copy with all parameters replaced by their absolute
    values, in eval mode, on an all-ones input, as in Tanaka et al.; the score
    is returned as ``log`` of the sum (it spans many orders of magnitude).
    """
    import torch

    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    net.zero_grad()
    out = net(torch.ones_like(X[:1], dtype=torch.float64))
    out.sum().backward()
    total = 0.0
    for w in _weights(net):
        if w.grad is not None:
            total += float((w.detach() * w.grad).abs().sum())
    return math.log(total) if total > 0 else float("-inf")


def _grad_weights(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> list[tuple[Any, Any]]:
    from torch.nn import functional

    net = copy.deepcopy(model).train()
    net.zero_grad()
    functional.cross_entropy(net(X), y).backward()  # type: ignore[no-untyped-call]
    return [(w, w.grad) for w in _weights(net) if w.grad is not None]


def _snip(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity: ``sum |w * dL/dw|`` over conv and linear weights."""
    return float(sum(float((w.detach() * g).abs().sum()) for w, g in _grad_weights(model, X, y)))


def _grad_norm(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over conv and linear layers of the L2 norm of the loss gradient."""
    return float(sum(float(g.norm()) for _, g in _grad_weights(model, X, y)))


def _activation_types() -> tuple[type, ...]:
    from torch import nn

    return (nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.ReLU6)


def _naswot(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """log |det K|, ``K[i, j]`` = number of units whose pre-activations agree in sign for i, j.

    Binary codes are the signs (> 0) of the inputs of every activation module
    (ReLU, GELU, SiLU, tanh ...), so networks without ReLUs are scored too;
    a network without any activation module is coded by the input of its last
    linear layer. Mellor et al. (2021), Hamming-kernel form.
    """
    import torch
    from torch import nn

    net = copy.deepcopy(model).train()
    codes: list[torch.Tensor] = []

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: Any) -> None:
        codes.append((inputs[0].detach().reshape(inputs[0].shape[0], -1) > 0).double())

    targets: list[nn.Module] = [m for m in net.modules() if isinstance(m, _activation_types())]
    if not targets:
        linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
        targets.extend(linear[-1:])
    handles = [m.register_forward_hook(hook) for m in targets]
    try:
        with torch.no_grad():
            net(X)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        return float("-inf")
    c = torch.cat(codes, dim=1)
    k = c @ c.T + (1.0 - c) @ (1.0 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) != 0 else float("-inf")


#: ``name -> fn(model, X, y) -> float``.
PROXIES: dict[str, Callable[[Any, Any, Any], float]] = {
    "synflow": _synflow,
    "naswot": _naswot,
    "snip": _snip,
    "grad_norm": _grad_norm,
}


def compute_proxy(
    name: str,
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    seed: int | None = 0,
) -> float:
    """Score the untrained ``model`` with proxy ``name`` on the batch ``(X, y)``.

    The model is not changed (proxies work on a copy). Any randomness
    (dropout) is drawn from a generator seeded with ``seed``, so the same
    inputs give the same value.

    Parameters
    ----------
    name
        ``"synflow"`` (log of the synaptic flow), ``"naswot"``, ``"snip"`` or
        ``"grad_norm"``.
    model
        An untrained network mapping ``X`` to logits.
    X, y
        One batch: inputs ``(n, *input_shape)`` and int class codes ``(n,)``.

    Raises
    ------
    UnknownNameError
        For an unknown proxy name.
    """
    if name not in PROXIES:
        raise unknown("zero-cost proxy", name, PROXIES)
    import torch

    from metanas.models.networks import seeded_init

    device = next(iter(model.parameters())).device
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32) if isinstance(X, np.ndarray) else X)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64) if isinstance(y, np.ndarray) else y)
    with seeded_init(resolve_seed(seed)):
        return PROXIES[name](model, Xt.float().to(device), yt.long().to(device))


class ProxyEvaluator(Evaluator):
    """Score architectures with a zero-cost proxy instead of training them.

    Metrics: ``{proxy: value, "params": ..., "flops": ...}``; ``cost_s`` is the
    wall time. The batch is ``batch_size`` training rows drawn with ``seed``,
    and each network's weights are those :class:`TrainEvaluator` with the same
    seed would start from.

    Parameters
    ----------
    task
        The task whose training rows form the batch.
    space
        A :class:`~metanas.spaces.TrainableSpace`.
    proxy
        One of :data:`PROXIES`.
    batch_size
        Rows in the batch (at most the training set).
    seed
        Seed of the batch, the initial weights and any dropout.
    """

    def __init__(
        self,
        task: Task,
        space: SearchSpace,
        proxy: str = "naswot",
        *,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        if proxy not in PROXIES:
            raise unknown("zero-cost proxy", proxy, PROXIES)
        trainable = require_trainable(space, "ProxyEvaluator")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"batch_size must be an int >= 2; got {batch_size!r}.")
        self.task = task
        self.space: TrainableSpace = trainable
        self.proxy = proxy
        self.batch_size = batch_size
        self.seed = resolve_seed(seed)
        self.task_name = task.name
        rng = np.random.default_rng(self.seed)
        n = min(batch_size, task.n_train)
        rows = np.sort(rng.choice(task.n_train, size=n, replace=False))
        self._X = np.asarray(task.X_train[rows], dtype=np.float32)
        self._y = np.asarray(task.y_train[rows], dtype=np.int64)

    def get_settings(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this evaluator on the same task."""
        return {"proxy": self.proxy, "batch_size": self.batch_size, "seed": self.seed}

    def task_descriptors(self) -> dict[str, Any]:
        describe = getattr(self.task, "descriptors", None)
        return dict(describe()) if callable(describe) else {}

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        from metanas.evaluation.hardware import count_flops, count_params
        from metanas.evaluation.train import arch_seed

        start = time.perf_counter()
        arch = self.space.validate(arch)
        model = self.space.build_model(
            arch,
            self.task.input_shape,
            self.task.n_classes,
            seed=arch_seed(self.seed, self.space, arch),
        )
        value = compute_proxy(self.proxy, model, self._X, self._y, seed=self.seed)
        metrics = {
            self.proxy: value,
            "params": float(count_params(model)),
            "flops": float(count_flops(model, self.task.input_shape)),
        }
        if not math.isfinite(value):
            return Result(
                metrics=metrics,
                cost_s=time.perf_counter() - start,
                status=Status.FAILED,
                reason=f"{self.proxy} is not finite ({value}) for this network",
            )
        return Result(metrics=metrics, cost_s=time.perf_counter() - start)
