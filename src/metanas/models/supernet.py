"""The one supernet of metanas: mixed operations weighted by architecture parameters.

Every architecture decision of a supernet is a :class:`MixedOp` over candidate operations, and
:class:`SuperNet` holds the architecture parameters ``alphas`` (one row of logits per decision),
a mask of the candidates allowed per decision, and the derivation of the strongest candidates.
A supernet runs in one of two modes:

* **relaxed** (DARTS): each decision's output is ``sum_k softmax(alpha)_k * op_k(x)``, so
  ``alphas`` get gradients;
* **sampled** (ENAS): ``forward(x, choice=[k_1, k_2, ...])`` runs only the chosen candidate of
  each decision, one discrete sub-network sharing its weights with all the others.

One-shot search (:mod:`metanas.oneshot`) builds the supernets of the ``nb201`` and ``cnn``
spaces on these parts; few-shot MetaNAS (:mod:`metanas.fewshot`) meta-learns a
:class:`CellSuperNet`, whose ``alphas`` are an ordinary parameter that MAML-style learners adapt
per task.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from metanas.models.networks import NB201_PAIRS
from metanas.models.ops import OPS, conv_block

__all__ = [
    "FEWSHOT_OPS",
    "CellSuperNet",
    "DartsCell",
    "MixedOp",
    "NB201MixedCell",
    "SuperNet",
    "cell_supernet_factory",
    "fewshot_operation",
]


class MixedOp(nn.Module):
    """The candidates of one decision: a weighted sum of all, or the one chosen.

    ``forward(x, weights)`` returns ``sum_k weights[k] * ops[k](x)`` over the allowed
    candidates; ``forward(x, index=k)`` returns ``ops[k](x)``. The input shape of the last call
    is kept in :attr:`input_shape` (the latency table measures each candidate at it).
    """

    def __init__(self, ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)
        self.allowed = [True] * len(self.ops)
        self.input_shape: tuple[int, ...] | None = None

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None = None, index: int | None = None
    ) -> torch.Tensor:
        self.input_shape = tuple(int(s) for s in x.shape[1:])
        if index is not None:
            out: torch.Tensor = self.ops[index](x)
            return out
        if weights is None:
            raise ValueError("MixedOp needs weights= (relaxed mode) or index= (sampled mode).")
        if len(weights) != len(self.ops):
            raise ValueError(f"MixedOp needs {len(self.ops)} weights; got {len(weights)}.")
        total: torch.Tensor | None = None
        for k, op in enumerate(self.ops):
            if not self.allowed[k]:
                continue
            y = weights[k] * op(x)
            total = y if total is None else total + y
        if total is None:
            raise ValueError("MixedOp has no allowed candidate.")
        return total

    def set_allowed(self, allowed: Sequence[bool]) -> None:
        """Mark candidates as masked out of the decision (never run in relaxed mode)."""
        if len(allowed) != len(self.ops):
            raise ValueError(f"allowed needs {len(self.ops)} entries; got {len(allowed)}.")
        self.allowed = [bool(a) for a in allowed]


class SuperNet(nn.Module):
    """Decisions, architecture parameters, the candidate mask and derivation.

    A subclass builds its network, calling :meth:`_init_arch` where its ``alphas`` belong in
    the parameter order, and implements :meth:`_forward` and :meth:`mixed_ops`.

    Attributes
    ----------
    decisions
        ``((decision name, candidate operation names), ...)`` in order.
    alphas
        Architecture parameters: ``(n_decisions, n_candidates)`` logits, or any shape whose
        rows, flattened, are the decisions in order (a :class:`CellSuperNet`'s are
        ``(n_cells, n_edges, n_candidates)``).
    mask
        Boolean buffer of the shape of ``alphas``: the candidates allowed per decision.
    """

    decisions: tuple[tuple[str, tuple[str, ...]], ...]
    mask: torch.Tensor
    alphas: nn.Parameter
    input_shape: tuple[int, ...]
    #: Softmax temperature of the relaxed mode: below 1 sharpens the mixture towards the
    #: strongest candidate (MetaNAS's soft pruning anneals it); 1 is plain DARTS.
    temperature: float = 1.0

    def _init_arch(
        self,
        decisions: Sequence[tuple[str, Sequence[str]]],
        alphas: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> None:
        """Register ``decisions``, the ``mask`` buffer (default: all allowed) and ``alphas``."""
        self.decisions = tuple((name, tuple(ops)) for name, ops in decisions)
        n_ops = alphas.shape[-1]
        if alphas.numel() != len(self.decisions) * n_ops:
            raise ValueError(
                f"alphas of shape {tuple(alphas.shape)} do not hold {len(self.decisions)} "
                f"decisions of {n_ops} candidates."
            )
        if mask is None:
            mask = torch.ones(alphas.shape, dtype=torch.bool)
        self.register_buffer("mask", mask.to(torch.bool).reshape(alphas.shape))
        self.alphas = nn.Parameter(alphas)

    # ------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (``[alphas]``)."""
        return [self.alphas]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter except ``alphas`` (the shared operation weights)."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def probabilities(self, alphas: torch.Tensor | None = None) -> torch.Tensor:
        """``softmax(alpha / temperature)`` per decision over the allowed candidates (0 for
        masked ones)."""
        a = self.alphas if alphas is None else alphas
        return torch.softmax(a.masked_fill(~self.mask, float("-inf")) / self.temperature, dim=-1)

    # ------------------------------------------------------------ forward
    def forward(
        self,
        x: torch.Tensor,
        choice: Sequence[int] | None = None,
        *,
        alphas: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of the relaxed network, or of sub-network ``choice`` (an index per decision).

        ``alphas`` replaces the net's own architecture parameters in the relaxed mode (MetaNAS
        passes task-adapted ones).
        """
        if choice is not None:
            if len(choice) != len(self.decisions):
                raise ValueError(
                    f"choice needs one index per decision ({len(self.decisions)}); got "
                    f"{len(choice)}."
                )
            return self._forward(x, None, [int(c) for c in choice])
        return self._forward(x, self.probabilities(alphas), None)

    def _forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def mixed_ops(self) -> list[list[MixedOp]]:
        """Per decision, the mixed operations it controls (several when cells share alphas)."""
        raise NotImplementedError

    # ------------------------------------------------------------ derivation
    def derivable(self) -> torch.Tensor:
        """Boolean mask of the candidates a derivation may pick (the allowed ones)."""
        return self.mask.clone()

    def derive_indices(self, alphas: torch.Tensor | None = None) -> list[int]:
        """Per decision (flattened, in order), the derivable candidate of largest ``alpha``."""
        a = (self.alphas if alphas is None else alphas).detach()
        with torch.no_grad():
            a = a.masked_fill(~self.derivable().to(a.device), float("-inf"))
            return [int(i) for i in a.reshape(-1, a.shape[-1]).argmax(dim=1)]

    def alphas_dict(self, alphas: torch.Tensor | None = None) -> dict[str, dict[str, float]]:
        """``{decision: {candidate: alpha}}`` of the allowed candidates (JSON-able)."""
        a = (self.alphas if alphas is None else alphas).detach().cpu()
        rows = a.reshape(-1, a.shape[-1]).tolist()
        m = self.mask.cpu().reshape(-1, a.shape[-1]).tolist()
        return {
            name: {op: float(rows[d][k]) for k, op in enumerate(ops) if m[d][k]}
            for d, (name, ops) in enumerate(self.decisions)
        }

    def weights_dict(self) -> dict[str, dict[str, float]]:
        """``{decision: {candidate: softmax weight}}`` of the allowed candidates (JSON-able)."""
        return self.alphas_dict(self.probabilities())


# ------------------------------------------------------------------ NAS-Bench-201 cell
class NB201MixedCell(nn.Module):
    """The NAS-Bench-201 cell with each of its 6 edges a mixed operation over ``CELL_OPS``."""

    def __init__(self, channels: int, dims: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedOp([OPS[o](channels, channels, 1, dims) for o in ops]) for _ in NB201_PAIRS
        )

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        nodes = [x]
        k = 0
        for j in (1, 2, 3):
            total: torch.Tensor | None = None
            for _ in range(j):
                i = NB201_PAIRS[k][1]
                edge = self.edges[k]
                if choice is not None:
                    y = edge(nodes[i], index=choice[k])
                else:
                    y = edge(nodes[i], weights[k] if weights is not None else None)
                total = y if total is None else total + y
                k += 1
            if total is None:  # pragma: no cover - every node has an incoming edge
                raise RuntimeError("A cell node has no incoming edge.")
            nodes.append(total)
        return nodes[3]


# ------------------------------------------------------------------ few-shot cells
#: Candidate operations of a :class:`CellSuperNet` (``zero`` cuts the edge).
FEWSHOT_OPS = ("zero", "skip", "conv3", "conv5", "dilconv3", "maxpool3", "avgpool3")

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


def fewshot_operation(name: str, channels: int, *, two_d: bool) -> nn.Module:
    """The candidate operation ``name`` (one of :data:`FEWSHOT_OPS`), shape-preserving.

    Built from :data:`metanas.models.OPS`. The convolutions are pre-activation (ReLU,
    convolution, norm) with GroupNorm rather than batch norm: in few-shot learning a batch is
    one task's handful of examples, too few for batch statistics.
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


class DartsCell(nn.Module):
    """A DAG of ``n_nodes`` nodes; node ``j`` sums mixed ops from the input and nodes ``< j``.

    The cell's output is the mean of its nodes. Edges are numbered in order
    (node 1: input; node 2: input, node 1; ...), ``n_nodes (n_nodes + 1) / 2`` in all.
    """

    def __init__(self, channels: int, ops: Sequence[str], n_nodes: int, *, two_d: bool) -> None:
        super().__init__()
        self.n_nodes = n_nodes
        n_edges = n_nodes * (n_nodes + 1) // 2
        self.edges = nn.ModuleList(
            MixedOp([fewshot_operation(o, channels, two_d=two_d) for o in ops])
            for _ in range(n_edges)
        )

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: Sequence[int] | None = None
    ) -> torch.Tensor:
        """The cell's output with edge weights ``weights`` or edge candidates ``choice``."""
        states = [x]
        k = 0
        for _ in range(self.n_nodes):
            node = torch.zeros_like(x)
            for s in states:
                if choice is not None:
                    node = node + self.edges[k](s, index=choice[k])
                else:
                    node = node + self.edges[k](s, weights[k] if weights is not None else None)
                k += 1
            states.append(node)
        return torch.stack(states[1:]).mean(0)


class CellSuperNet(SuperNet):
    """Stem conv, ``n_cells`` DARTS cells each followed by max-pool 2, then a linear head.

    Each cell has its own architecture weights: ``alphas`` has shape ``(n_cells, n_edges,
    n_ops)``, an ordinary parameter, so a learner that adapts the module's parameters (MAML,
    Reptile) adapts the architecture too; that is MetaNAS.

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
        Candidate operations (default: all of :data:`FEWSHOT_OPS`).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        n_out: int | None,
        *,
        hidden: int = 16,
        n_cells: int = 3,
        n_nodes: int = 2,
        ops: Sequence[str] = FEWSHOT_OPS,
    ) -> None:
        super().__init__()
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"CellSuperNet needs inputs (channels, length) or (channels, height, width); "
                f"got input_shape {input_shape}."
            )
        two_d = len(input_shape) == 3
        conv, pool = (nn.Conv2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.MaxPool1d)
        most = max(1, int(math.log2(max(min(input_shape[1:]), 2))) - 1)
        n_cells = min(n_cells, most)
        self.op_names = tuple(ops)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.stem = nn.Sequential(
            conv(input_shape[0], hidden, 3, padding=1), nn.GroupNorm(math.gcd(hidden, 4), hidden)
        )
        self.cells = nn.ModuleList(
            DartsCell(hidden, self.op_names, n_nodes, two_d=two_d) for _ in range(n_cells)
        )
        self.pool = pool(2)
        n_edges = n_nodes * (n_nodes + 1) // 2
        self._init_arch(
            [(f"cell{c}.edge{e}", self.op_names) for c in range(n_cells) for e in range(n_edges)],
            1e-3 * torch.randn(n_cells, n_edges, len(self.op_names)),
        )
        spatial = [d // 2**n_cells for d in input_shape[1:]]
        self.out_features = hidden * math.prod(spatial)
        self.head = nn.Linear(self.out_features, n_out) if n_out is not None else None

    def _forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        """Scores (or embeddings) of ``x``."""
        n_edges = self.alphas.shape[1]
        z = self.stem(x)
        for i, cell in enumerate(self.cells):
            if choice is not None:
                z = self.pool(cell(z, None, choice[i * n_edges : (i + 1) * n_edges]))
            else:
                z = self.pool(cell(z, weights[i] if weights is not None else None))
        z = z.flatten(1)
        out: torch.Tensor = self.head(z) if self.head is not None else z
        return out

    def mixed_ops(self) -> list[list[MixedOp]]:
        return [list(cell.edges) for cell in self.cells]  # type: ignore[arg-type]

    def derivable(self) -> torch.Tensor:
        allowed = self.mask.clone()
        if "zero" in self.op_names and len(self.op_names) > 1:
            allowed[..., self.op_names.index("zero")] = False
        return allowed

    def genotype(self, alphas: torch.Tensor | None = None) -> tuple[tuple[str, ...], ...]:
        """Per cell, the strongest non-zero operation of every edge (of ``alphas``, default:
        the net's own)."""
        idx = self.derive_indices(alphas)
        n_edges = self.alphas.shape[1]
        return tuple(
            tuple(self.op_names[k] for k in idx[c * n_edges : (c + 1) * n_edges])
            for c in range(self.alphas.shape[0])
        )


def cell_supernet_factory(**kwargs: object) -> Callable[[tuple[int, ...], int | None], nn.Module]:
    """A backbone factory for the few-shot learners: ``(input_shape, n_out) -> CellSuperNet``."""

    def make(input_shape: tuple[int, ...], n_out: int | None) -> nn.Module:
        return CellSuperNet(input_shape, n_out, **kwargs)  # type: ignore[arg-type]

    return make
