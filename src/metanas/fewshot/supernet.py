"""A DARTS-style searchable backbone: mixed operations weighted by architecture parameters.

:class:`SuperNet` stacks ``n_cells`` cells, each a small DAG whose every edge
is a :class:`MixedOp`, the softmax-weighted sum of candidate operations (the
continuous relaxation of DARTS). The architecture weights are one ordinary
parameter, ``alphas`` (shape ``(n_cells, n_edges, n_ops)``), so
any learner that adapts the module's parameters (MAML, Reptile) adapts the
architecture too; that is MetaNAS. :meth:`SuperNet.genotype` discretises it.
The operations work on sequences ``(channels, length)`` and images
``(channels, height, width)`` and can be reused outside few-shot learning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from metanas.models.ops import OPS, conv_block

__all__ = ["OPERATIONS", "Cell", "MixedOp", "SuperNet", "make_operation", "supernet_factory"]

#: Candidate operations of a :class:`MixedOp` (``zero`` cuts the edge).
OPERATIONS = ("zero", "skip", "conv3", "conv5", "dilconv3", "maxpool3", "avgpool3")


def make_operation(name: str, channels: int, *, two_d: bool) -> nn.Module:
    """The candidate operation ``name`` (one of :data:`OPERATIONS`), shape-preserving.

    Built from :data:`metanas.models.OPS`, the operation table of the trainable
    spaces and the one-shot supernets. The convolutions are pre-activation
    (ReLU, convolution, norm) with GroupNorm rather than batch norm: in
    few-shot learning a batch is one task's handful of examples, too few for
    batch statistics.
    """
    if name not in _FROM_TABLE:
        from metanas.exceptions import unknown

        raise unknown("operation", name, _FROM_TABLE)
    table_name, kernel, dilation = _FROM_TABLE[name]
    dims = 2 if two_d else 1
    if kernel == 0:
        return OPS[table_name](channels, channels, 1, dims, norm="group")
    return conv_block(
        channels, channels, 1, dims, kernel=kernel, dilation=dilation, norm="group", pre_act=True
    )


#: Few-shot operation name -> (the operation table's name, kernel, dilation); kernel 0: not a
#: convolution (taken from the table as it is).
_FROM_TABLE: dict[str, tuple[str, int, int]] = {
    "zero": ("none", 0, 1),
    "skip": ("identity", 0, 1),
    "conv3": ("conv3", 3, 1),
    "conv5": ("conv5", 5, 1),
    "dilconv3": ("dil_conv3", 3, 2),
    "maxpool3": ("max_pool", 0, 1),
    "avgpool3": ("avg_pool", 0, 1),
}


class MixedOp(nn.Module):
    """``sum_i w_i op_i(x)`` over the candidate operations, for given weights ``w``."""

    def __init__(self, channels: int, ops: Sequence[str], *, two_d: bool) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_operation(o, channels, two_d=two_d) for o in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(
            (w * op(x) for w, op in zip(weights, self.ops, strict=True)), torch.zeros_like(x)
        )


class Cell(nn.Module):
    """A DAG of ``n_nodes`` nodes; node ``j`` sums mixed ops from the input and nodes ``< j``.

    The cell's output is the mean of its nodes. Edges are numbered in order
    (node 1: input; node 2: input, node 1; ...), ``n_nodes (n_nodes + 1) / 2`` in all.
    """

    def __init__(self, channels: int, ops: Sequence[str], n_nodes: int, *, two_d: bool) -> None:
        super().__init__()
        self.n_nodes = n_nodes
        n_edges = n_nodes * (n_nodes + 1) // 2
        self.edges = nn.ModuleList(MixedOp(channels, ops, two_d=two_d) for _ in range(n_edges))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [x]
        k = 0
        for _ in range(self.n_nodes):
            node = torch.zeros_like(x)
            for s in states:
                node = node + self.edges[k](s, weights[k])
                k += 1
            states.append(node)
        return torch.stack(states[1:]).mean(0)


class SuperNet(nn.Module):
    """Stem conv, ``n_cells`` cells each followed by max-pool 2, then a linear head.

    Parameters
    ----------
    input_shape
        ``(channels, length)`` or ``(channels, height, width)``.
    n_out
        Outputs (classes); None for an embedding network.
    hidden
        Channels of every cell.
    n_cells, n_nodes
        Cells (each halves the resolution) and nodes per cell.
    ops
        Candidate operations (default: all of :data:`OPERATIONS`).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        n_out: int | None,
        *,
        hidden: int = 16,
        n_cells: int = 3,
        n_nodes: int = 2,
        ops: Sequence[str] = OPERATIONS,
    ) -> None:
        super().__init__()
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"SuperNet needs inputs (channels, length) or (channels, height, width); got "
                f"input_shape {input_shape}."
            )
        two_d = len(input_shape) == 3
        conv, pool = (nn.Conv2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.MaxPool1d)
        most = max(1, int(math.log2(max(min(input_shape[1:]), 2))) - 1)
        n_cells = min(n_cells, most)
        self.op_names = tuple(ops)
        self.stem = nn.Sequential(
            conv(input_shape[0], hidden, 3, padding=1), nn.GroupNorm(math.gcd(hidden, 4), hidden)
        )
        self.cells = nn.ModuleList(
            Cell(hidden, self.op_names, n_nodes, two_d=two_d) for _ in range(n_cells)
        )
        self.pool = pool(2)
        n_edges = n_nodes * (n_nodes + 1) // 2
        #: Architecture weights: logits over the operations of every edge of every cell.
        self.alphas = nn.Parameter(1e-3 * torch.randn(n_cells, n_edges, len(self.op_names)))
        spatial = [d // 2**n_cells for d in input_shape[1:]]
        self.out_features = hidden * math.prod(spatial)
        self.head = nn.Linear(self.out_features, n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor, alphas: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (or embeddings) of ``x``, with architecture weights ``alphas`` (default:
        the net's own; MetaNAS passes task-adapted ones)."""
        weights = F.softmax(self.alphas if alphas is None else alphas, dim=-1)
        z = self.stem(x)
        for i, cell in enumerate(self.cells):
            z = self.pool(cell(z, weights[i]))
        z = z.flatten(1)
        out: torch.Tensor = self.head(z) if self.head is not None else z
        return out

    def genotype(self, alphas: torch.Tensor | None = None) -> tuple[tuple[str, ...], ...]:
        """Per cell, the strongest non-zero operation of every edge (of ``alphas``, default:
        the net's own)."""
        a = (self.alphas if alphas is None else alphas).detach().cpu().clone()
        names = list(self.op_names)
        if "zero" in names and len(names) > 1:
            a[..., names.index("zero")] = -math.inf
        return tuple(tuple(names[int(i)] for i in cell) for cell in a.argmax(-1))


def supernet_factory(**kwargs: object) -> Callable[[tuple[int, ...], int | None], nn.Module]:
    """A backbone factory for the few-shot learners: ``(input_shape, n_out) -> SuperNet``."""

    def make(input_shape: tuple[int, ...], n_out: int | None) -> nn.Module:
        return SuperNet(input_shape, n_out, **kwargs)  # type: ignore[arg-type]

    return make
