"""torch networks built from architectures: MLP, CNN chain, NAS-Bench-201 cell network.

The spaces in :mod:`metanas.spaces` call these builders; they take plain
arguments (not an Architecture) so supernets and tests can use them directly.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from metanas.models.ops import OPS, Projection, conv_out_size, make_activation, make_norm

__all__ = [
    "NB201_PAIRS",
    "BlockSpec",
    "ChainNet",
    "NB201Cell",
    "NB201Net",
    "NB201Reduction",
    "Reshape",
    "ResidualBlock",
    "build_chain_cnn",
    "build_mlp",
    "build_nb201",
    "conv_layout",
    "deterministic_cuda",
    "nb201_macro",
    "seeded_init",
]


#: The NAS-Bench-201 cell's edges as (to node, from node), in the order of its notation.
NB201_PAIRS = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class Reshape(nn.Module):
    """Reshape each sample to ``shape`` (batch dimension kept)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def conv_layout(input_shape: Sequence[int]) -> tuple[int, int, tuple[int, ...]]:
    """How a task's sample shape is fed to convolutions: ``(dims, channels, spatial size)``.

    ``(F,)`` (tabular) is a 1-channel sequence of length F; ``(C, L)`` a
    sequence; ``(C, H, W)`` an image.
    """
    shape = tuple(int(s) for s in input_shape)
    if any(s < 1 for s in shape):
        raise ValueError(f"input_shape must have positive sizes; got {shape!r}.")
    if len(shape) == 1:
        return 1, 1, shape
    if len(shape) == 2:
        return 1, shape[0], shape[1:]
    if len(shape) == 3:
        return 2, shape[0], shape[1:]
    raise ValueError(
        f"input_shape {shape!r} is not (features,), (channels, length) or "
        "(channels, height, width); reshape the data to one of these."
    )


_DETERMINISTIC_LOCK = threading.Lock()
_deterministic_users = 0
_deterministic_saved: tuple[bool, bool, bool, bool] | None = None
_NONDETERMINISTIC_OP = r".*does not have a deterministic implementation.*"


@contextlib.contextmanager
def deterministic_cuda() -> Iterator[None]:
    """Scope in which torch picks deterministic CUDA kernels; the previous choice is restored.

    On a GPU, the same seed does not give the same training by itself: cuDNN benchmarks and
    picks convolution algorithms per run, and some backward kernels (an embedding's, for
    one) add with atomics in whatever order the threads finish. Inside this scope
    ``torch.use_deterministic_algorithms`` (``warn_only``: an operation torch has no
    deterministic CUDA kernel for still runs, nondeterministically, without a warning per
    batch) and ``cudnn.deterministic`` are on and ``cudnn.benchmark`` off. cuBLAS needs
    ``CUBLAS_WORKSPACE_CONFIG`` before its first use in the process: it is set to
    ``:4096:8`` unless already set. Nested and concurrent scopes (threads) share one
    setting, restored when the last one ends.
    """
    global _deterministic_users, _deterministic_saved
    import os
    import warnings

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with _DETERMINISTIC_LOCK:
        if _deterministic_users == 0:
            _deterministic_saved = (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark,
            )
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        _deterministic_users += 1
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NONDETERMINISTIC_OP, category=UserWarning)
            yield
    finally:
        with _DETERMINISTIC_LOCK:
            _deterministic_users -= 1
            if _deterministic_users == 0 and _deterministic_saved is not None:
                enabled, warn_only, cudnn_det, cudnn_bench = _deterministic_saved
                torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
                torch.backends.cudnn.deterministic = cudnn_det
                torch.backends.cudnn.benchmark = cudnn_bench
                _deterministic_saved = None


@contextlib.contextmanager
def seeded_init(seed: int, *, devices: Sequence[torch.device] = ()) -> Iterator[None]:
    """Scope in which torch's global generator is seeded, restored afterwards.

    Module constructors (and dropout) draw from the global generator; inside
    this scope they are a function of ``seed`` only and leave no trace outside.
    The CPU generator is always restored; pass the CUDA ``devices`` a block
    draws on to restore theirs too: the block then also runs in
    :func:`deterministic_cuda`, so that a training on a GPU repeats as one on the CPU does.
    """
    cuda = any(torch.device(d).type == "cuda" for d in devices)
    with (
        torch.random.fork_rng(devices=list(devices)),
        deterministic_cuda() if cuda else contextlib.nullcontext(),
    ):
        torch.manual_seed(int(seed))
        yield


# --------------------------------------------------------------------------- MLP
def build_mlp(
    input_shape: Sequence[int],
    n_classes: int,
    widths: Sequence[int],
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    norm: str = "none",
) -> nn.Sequential:
    """Flatten, then ``Linear -> norm -> act -> dropout`` per hidden width, then a linear head."""
    n_in = 1
    for s in input_shape:
        n_in *= int(s)
    layers: list[nn.Module] = [nn.Flatten()]
    for w in widths:
        layers.append(nn.Linear(n_in, int(w), bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(int(w)))
        elif norm == "layer":
            layers.append(nn.LayerNorm(int(w)))
        elif norm != "none":
            raise ValueError(f"Unknown norm {norm!r}; choose 'none', 'batch' or 'layer'.")
        layers.append(make_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(float(dropout)))
        n_in = int(w)
    layers.append(nn.Linear(n_in, int(n_classes)))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- CNN
@dataclass(frozen=True)
class BlockSpec:
    """One block of a CNN chain: operation, output channels, stride."""

    op: str
    channels: int
    stride: int


class ResidualBlock(nn.Module):
    """``op(x) + shortcut(x)``; the shortcut is a 1x1 projection where shapes differ."""

    def __init__(self, op: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.op = op
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x) + self.shortcut(x)
        return out


class ChainNet(nn.Sequential):
    """A CNN chain (reshape, blocks, head) as an ``nn.Sequential``."""


def build_chain_cnn(
    input_shape: Sequence[int],
    n_classes: int,
    blocks: Sequence[BlockSpec],
    *,
    activation: str = "relu",
    norm: str = "batch",
    residual: bool = False,
    head: str = "avg",
    stem_channels: int = 0,
) -> ChainNet:
    """A chain of operations from :data:`~metanas.models.ops.OPS`, then a head.

    Pooling and identity blocks keep their input's channels (their
    ``channels`` is ignored); identity blocks are no-ops. A stride of 2 halves
    every spatial dimension longer than 1 (``ceil(L / 2)``); a dimension that
    is already 1 keeps stride 1, so no dimension ever drops below 1.
    With ``residual``, every block other than identity adds its input
    (through a 1x1 strided projection when the shape changes).
    ``head``: ``"avg"`` or ``"max"`` global pooling, or ``"flatten"`` (all
    positions into the linear layer). ``stem_channels > 0`` puts a fixed
    ``conv3 -> norm -> act`` stem with that many channels before the chain.
    """
    dims, channels, size = conv_layout(input_shape)
    layers: list[nn.Module] = [Reshape((channels, *size))]
    if stem_channels > 0:
        layers.append(OPS["conv3"](channels, stem_channels, 1, dims, act=activation, norm=norm))
        channels = stem_channels
    for b in blocks:
        if b.op not in OPS:
            raise ValueError(f"Unknown operation {b.op!r}; operations: {sorted(OPS)!r}.")
        if b.op == "identity":
            continue
        stride = tuple(b.stride if n > 1 else 1 for n in size)
        c_out = channels if b.op in ("max_pool", "avg_pool") else int(b.channels)
        op = OPS[b.op](channels, c_out, stride, dims, act=activation, norm=norm)
        if residual:
            same = c_out == channels and all(s == 1 for s in stride)
            shortcut: nn.Module = (
                nn.Identity() if same else Projection(channels, c_out, stride, dims, norm)
            )
            op = ResidualBlock(op, shortcut)
        layers.append(op)
        channels, size = c_out, conv_out_size(size, stride)
    if head in ("avg", "max"):
        if head == "avg":
            pool: nn.Module = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        else:
            pool = nn.AdaptiveMaxPool1d(1) if dims == 1 else nn.AdaptiveMaxPool2d(1)
        layers += [pool, nn.Flatten(), nn.Linear(channels, int(n_classes))]
    elif head == "flatten":
        n_feat = channels
        for n in size:
            n_feat *= n
        layers += [nn.Flatten(), nn.Linear(n_feat, int(n_classes))]
    else:
        raise ValueError(f"Unknown head {head!r}; choose 'avg', 'max' or 'flatten'.")
    return ChainNet(*layers)


# ------------------------------------------------------------------ NAS-Bench-201
class NB201Cell(nn.Module):
    """The NAS-Bench-201 cell: node ``j`` sums ``op_{j<-i}(node_i)`` over ``i < j``.

    The cell's output is node 3.
    """

    def __init__(self, ops: Sequence[str], channels: int, dims: int) -> None:
        super().__init__()
        if len(ops) != 6:
            raise ValueError(f"A NAS-Bench-201 cell has 6 edges; got {len(ops)} operations.")
        self.edges = nn.ModuleList(OPS[o](channels, channels, 1, dims) for o in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for j in (1, 2, 3):
            total = None
            for _ in range(j):
                i = NB201_PAIRS[k][1]
                y = self.edges[k](nodes[i])
                total = y if total is None else total + y
                k += 1
            assert total is not None
            nodes.append(total)
        return nodes[3]


class NB201Reduction(nn.Module):
    """The residual reduction block between stages (ReLU-conv-BN twice, projected shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, ...], dims: int) -> None:
        super().__init__()
        self.a = OPS["nor_conv_3x3"](c_in, c_out, stride, dims)
        self.b = OPS["nor_conv_3x3"](c_out, c_out, 1, dims)
        self.shortcut = Projection(c_in, c_out, stride, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.b(self.a(x)) + self.shortcut(x)
        return out


class NB201Net(nn.Sequential):
    """The NAS-Bench-201 macro network as an ``nn.Sequential``."""


def build_nb201(
    input_shape: Sequence[int],
    n_classes: int,
    ops: Sequence[str],
    *,
    channels: int = 16,
    n_cells: int = 1,
    n_stages: int = 3,
) -> NB201Net:
    """Stem conv, ``n_stages`` stages of ``n_cells`` cells (channels doubling), reductions, head.

    As in Dong & Yang (2020): 3x3 conv + BN stem; a residual reduction block
    (stride 2, channels x2) between stages; BN + ReLU, global average pooling
    and a linear classifier at the end. Dimensions of size 1 are not strided.
    """
    if channels < 1 or n_cells < 1 or n_stages < 1:
        raise ValueError(
            f"channels, n_cells and n_stages must be >= 1; got {channels}, {n_cells}, {n_stages}."
        )
    _, c_in, size = conv_layout(input_shape)
    stem, body, head = nb201_macro(
        input_shape, n_classes, lambda c, dims: NB201Cell(ops, c, dims),
        channels=channels, n_cells=n_cells, n_stages=n_stages,
    )  # fmt: skip
    return NB201Net(Reshape((c_in, *size)), *stem, *body, *head)


def nb201_macro(
    input_shape: Sequence[int],
    n_classes: int,
    cell: Callable[[int, int], nn.Module],
    *,
    channels: int,
    n_cells: int,
    n_stages: int,
) -> tuple[list[nn.Module], list[nn.Module], list[nn.Module]]:
    """The NAS-Bench-201 macro skeleton around ``cell(channels, dims)``: (stem, body, head).

    Stem: conv 3 + BN to ``channels``. Body: ``n_stages`` stages of ``n_cells``
    cells with a residual reduction (stride 2, channels x2; dimensions of size
    1 are not strided) between stages. Head: BN, ReLU, global average pooling,
    linear. The modules are created in this order, so a seeded build is
    reproducible. Shared by :func:`build_nb201` and the one-shot supernet.
    """
    dims, c_in, size = conv_layout(input_shape)
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    stem: list[nn.Module] = [
        conv(c_in, channels, 3, padding=1, bias=False),
        make_norm("batch", channels, dims),
    ]
    body: list[nn.Module] = []
    c = channels
    for stage in range(n_stages):
        if stage > 0:
            stride = tuple(2 if n > 1 else 1 for n in size)
            body.append(NB201Reduction(c, 2 * c, stride, dims))
            c, size = 2 * c, conv_out_size(size, stride)
        body += [cell(c, dims) for _ in range(n_cells)]
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    head: list[nn.Module] = [
        make_norm("batch", c, dims),
        nn.ReLU(),
        pool,
        nn.Flatten(),
        nn.Linear(c, int(n_classes)),
    ]
    return stem, body, head
