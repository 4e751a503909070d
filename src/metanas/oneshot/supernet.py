"""Supernets of the trainable spaces: every architecture decision becomes a mixed operation.

A supernet holds every candidate operation of every decision at once and
runs in one of two modes:

* **relaxed** (DARTS): each decision's output is ``sum_k softmax(alpha)_k *
  op_k(x)``, so the architecture parameters ``alpha`` get gradients;
* **sampled** (ENAS): ``forward(x, choice=[k_1, k_2, ...])`` runs only the
  chosen operation of each decision, i.e. one discrete sub-network whose
  weights are shared with all the others.

Two spaces are covered:

* ``nb201``: the NAS-Bench-201 macro network of
  :meth:`~metanas.spaces.NB201Space.build_model` (stem, 3 stages, residual
  reductions, head) whose 6 cell edges are mixed operations over
  :data:`~metanas.models.ops.CELL_OPS`; as in DARTS, one ``alpha`` row per
  edge is shared by every cell;
* ``cnn``: the chain of :class:`~metanas.spaces.CNNSpace` with a fixed
  *skeleton* (number of blocks, channels and stride per block, activation,
  norm, residual, head) and a mixed operation over
  :data:`~metanas.models.ops.CHAIN_OPS` per block. A candidate that cannot
  produce the block's output shape (a pooling block where the channels
  change, an identity block that would drop a stride or change the channels)
  is masked out of that block.

:meth:`SuperNet.derive` turns ``alpha`` into an :class:`Architecture` the space
validates; :meth:`SuperNet.architecture` does the same for a sampled choice.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from metanas._rng import resolve_seed
from metanas.models.networks import (
    NB201_PAIRS,
    ResidualBlock,
    conv_layout,
    nb201_macro,
    seeded_init,
)
from metanas.models.ops import CELL_OPS, CHAIN_OPS, OPS, Projection, conv_out_size
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace
from metanas.spaces.nb201 import NB201Space
from metanas.spaces.trainable import CNN_CHANNELS, CNNSpace

__all__ = [
    "ChainSuperNet",
    "MixedOp",
    "NB201SuperNet",
    "SuperNet",
    "build_supernet",
    "default_skeleton",
]


class MixedOp(nn.Module):
    """The candidates of one decision: a weighted sum of all, or the one chosen.

    ``forward(x, weights=w)`` returns ``sum_k w[k] * ops[k](x)`` (candidates of
    weight exactly 0 are skipped); ``forward(x, index=k)`` returns
    ``ops[k](x)``. The input shape of the last call is kept in
    :attr:`input_shape` (the latency table measures each candidate at it).
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
    """Common part of the supernets: decisions, ``alpha``, the mask, derivation.

    Attributes
    ----------
    space
        The space whose architectures the supernet contains.
    decisions
        ``((decision name, candidate operation names), ...)`` in order.
    alphas
        Architecture parameters, shape ``(n_decisions, n_candidates)``.
    mask
        Boolean buffer of the same shape: the candidates allowed per decision.
    """

    decisions: tuple[tuple[str, tuple[str, ...]], ...]
    mask: torch.Tensor
    input_shape: tuple[int, ...]

    def __init__(
        self,
        space: SearchSpace,
        decisions: Sequence[tuple[str, Sequence[str]]],
        mask: Sequence[Sequence[bool]],
    ) -> None:
        super().__init__()
        self.space = space
        self.decisions = tuple((name, tuple(ops)) for name, ops in decisions)
        n_ops = len(self.decisions[0][1])
        self.register_buffer("mask", torch.tensor([list(m) for m in mask], dtype=torch.bool))
        self.alphas = nn.Parameter(torch.zeros(len(self.decisions), n_ops))

    # ------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (``[alphas]``)."""
        return [self.alphas]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter except ``alphas`` (the shared operation weights)."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def probabilities(self, alphas: torch.Tensor | None = None) -> torch.Tensor:
        """``softmax(alpha)`` per decision over the allowed candidates (0 for masked ones)."""
        a = self.alphas if alphas is None else alphas
        return torch.softmax(a.masked_fill(~self.mask, float("-inf")), dim=-1)

    # ------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, choice: Sequence[int] | None = None) -> torch.Tensor:
        """Logits of the relaxed network, or of sub-network ``choice`` (an index per decision)."""
        if choice is not None:
            if len(choice) != len(self.decisions):
                raise ValueError(
                    f"choice needs one index per decision ({len(self.decisions)}); got "
                    f"{len(choice)}."
                )
            return self._forward(x, None, [int(c) for c in choice])
        return self._forward(x, self.probabilities(), None)

    def _forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def mixed_ops(self) -> list[list[MixedOp]]:
        """Per decision, the mixed operations it controls (several when cells share alphas)."""
        raise NotImplementedError

    # ------------------------------------------------------------ derivation
    def derivable(self) -> torch.Tensor:
        """Boolean mask of the candidates :meth:`derive` may pick (the allowed ones)."""
        return self.mask.clone()

    def derive_indices(self) -> list[int]:
        """Per decision, the allowed candidate of largest ``alpha``."""
        with torch.no_grad():
            a = self.alphas.masked_fill(~self.derivable(), float("-inf"))
            return [int(i) for i in a.argmax(dim=1)]

    def derive(self) -> Architecture:
        """The discrete architecture of largest ``alpha`` per decision (validated by the space)."""
        return self.architecture(self.derive_indices())

    def architecture(self, choice: Sequence[int]) -> Architecture:
        """The space's architecture of a choice of one candidate index per decision."""
        raise NotImplementedError

    def choice_of(self, arch: Architecture) -> list[int]:
        """The candidate indices of ``arch`` (the inverse of :meth:`architecture`)."""
        raise NotImplementedError

    def alphas_dict(self) -> dict[str, dict[str, float]]:
        """``{decision: {candidate: alpha}}`` of the allowed candidates (JSON-able)."""
        a = self.alphas.detach().cpu().tolist()
        m = self.mask.cpu().tolist()
        return {
            name: {op: float(a[d][k]) for k, op in enumerate(ops) if m[d][k]}
            for d, (name, ops) in enumerate(self.decisions)
        }


# ------------------------------------------------------------------ NAS-Bench-201
class _MixedCell(nn.Module):
    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedOp([OPS[o](channels, channels, 1, dims) for o in CELL_OPS]) for _ in range(6)
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
                    assert weights is not None  # internal: set by SuperNet.forward
                    y = edge(nodes[i], weights=weights[k])
                total = y if total is None else total + y
                k += 1
            assert total is not None
            nodes.append(total)
        return nodes[3]


class NB201SuperNet(SuperNet):
    """The NAS-Bench-201 network with every cell edge a mixed operation over ``CELL_OPS``.

    Same macro structure as :meth:`NB201Space.build_model` (``channels``,
    ``n_cells`` per stage, 3 stages). :meth:`derive` never picks ``none``
    (as in DARTS, which excludes the zero operation when discretising).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        space: NB201Space | None = None,
        channels: int = 16,
        n_cells: int = 1,
        n_stages: int = 3,
    ) -> None:
        space = space if space is not None else NB201Space()
        super().__init__(
            space,
            [(e, CELL_OPS) for e in NB201Space.EDGES],
            [[True] * len(CELL_OPS) for _ in NB201Space.EDGES],
        )
        dims, c_in, size = conv_layout(input_shape)
        self._dims, self._c_in, self._size = dims, c_in, tuple(size)
        self.input_shape = tuple(int(s) for s in input_shape)
        stem, body, head = nb201_macro(
            input_shape, n_classes, _MixedCell,
            channels=channels, n_cells=n_cells, n_stages=n_stages,
        )  # fmt: skip
        self.stem = nn.Sequential(*stem)
        self.body = nn.ModuleList(body)
        self.head = nn.Sequential(*head)

    def _forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        h = self.stem(x.reshape(x.shape[0], self._c_in, *self._size))
        for layer in self.body:
            h = layer(h, weights, choice) if isinstance(layer, _MixedCell) else layer(h)
        out: torch.Tensor = self.head(h)
        return out

    def mixed_ops(self) -> list[list[MixedOp]]:
        cells = [m for m in self.body if isinstance(m, _MixedCell)]
        return [[c.edges[k] for c in cells] for k in range(6)]  # type: ignore[misc]

    def derivable(self) -> torch.Tensor:
        allowed = self.mask.clone()
        allowed[:, CELL_OPS.index("none")] = False
        return allowed

    def architecture(self, choice: Sequence[int]) -> Architecture:
        arch = Architecture(
            (e, CELL_OPS[int(k)]) for e, k in zip(NB201Space.EDGES, choice, strict=True)
        )
        return self.space.validate(arch)

    def choice_of(self, arch: Architecture) -> list[int]:
        arch = self.space.validate(arch)
        return [CELL_OPS.index(str(arch[e])) for e in NB201Space.EDGES]


# ------------------------------------------------------------------ CNN chain
def default_skeleton(space: CNNSpace) -> dict[str, Choice]:
    """The fixed part of a :class:`ChainSuperNet` when none is given.

    All ``max_blocks`` blocks, every block at the stem's channels (32 for the
    default stem; 32 when there is no stem), strides alternating 1, 2, 1, 2,
    ...; ReLU, batch norm, residual connections and a global-average head.
    On MNIST-1D a chain of this shape with good operations reaches about 98 %
    test accuracy.
    """
    c = space.stem_channels if space.stem_channels in CNN_CHANNELS else 32
    out: dict[str, Choice] = {"n_blocks": space.max_blocks}
    for i in range(1, space.max_blocks + 1):
        out[f"channels_{i}"] = c
        out[f"stride_{i}"] = 1 if i % 2 else 2
    out.update({"activation": "relu", "norm": "batch", "residual": True, "head": "avg"})
    return out


class ChainSuperNet(SuperNet):
    """The CNN chain of :class:`CNNSpace` with a mixed operation over ``CHAIN_OPS`` per block.

    Parameters
    ----------
    input_shape, n_classes
        The task's sample shape and number of classes.
    space
        The :class:`CNNSpace` (its ``max_blocks`` and ``stem_channels``).
    skeleton
        Values of the non-operation decisions (``n_blocks``, ``channels_i``,
        ``stride_i``, ``activation``, ``norm``, ``residual``, ``head``);
        missing ones come from :func:`default_skeleton`. Only blocks
        ``1 .. n_blocks`` get a decision.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        space: CNNSpace | None = None,
        skeleton: Mapping[str, Choice] | None = None,
    ) -> None:
        space = space if space is not None else CNNSpace()
        full = default_skeleton(space)
        if skeleton:
            unknown = sorted(set(skeleton) - set(full) - {f"op_{i}" for i in range(1, 13)})
            if unknown:
                raise ValueError(
                    f"skeleton has unknown key(s) {unknown!r}; it may set {sorted(full)!r}."
                )
            full.update({k: v for k, v in skeleton.items() if not k.startswith("op_")})
        # Validate the skeleton through the space (with placeholder operations).
        probe = {f"op_{i}": CHAIN_OPS[0] for i in range(1, space.max_blocks + 1)}
        for i in range(1, space.max_blocks + 1):
            full.setdefault(f"channels_{i}", CNN_CHANNELS[0])
            full.setdefault(f"stride_{i}", 1)
        space.validate({**probe, **full})
        self.skeleton: dict[str, Choice] = dict(full)
        n_blocks = int(full["n_blocks"])
        act, norm = str(full["activation"]), str(full["norm"])
        residual = bool(full["residual"])
        dims, channels, size = conv_layout(input_shape)
        self._dims, self._c_in, self._size = dims, channels, size
        stem: nn.Module = nn.Identity()
        if space.stem_channels > 0:
            stem = OPS["conv3"](channels, space.stem_channels, 1, dims, act=act, norm=norm)
            channels = space.stem_channels
        blocks: list[MixedOp] = []
        masks: list[list[bool]] = []
        for i in range(1, n_blocks + 1):
            stride = tuple(int(full[f"stride_{i}"]) if n > 1 else 1 for n in size)
            c_out = int(full[f"channels_{i}"])
            strided = any(s > 1 for s in stride)
            cands: list[nn.Module] = []
            allowed: list[bool] = []
            for name in CHAIN_OPS:
                if name == "identity":
                    ok = c_out == channels and not strided
                elif name in ("max_pool", "avg_pool"):
                    ok = c_out == channels
                else:
                    ok = True
                if name == "identity" or not ok:
                    # identity is a no-op block; a masked candidate never runs.
                    cands.append(nn.Identity())
                else:
                    op = OPS[name](channels, c_out, stride, dims, act=act, norm=norm)
                    if residual:
                        shortcut: nn.Module = (
                            Projection(channels, c_out, stride, dims, norm)
                            if c_out != channels or strided
                            else nn.Identity()
                        )
                        op = ResidualBlock(op, shortcut)
                    cands.append(op)
                allowed.append(ok)
            if not any(allowed):  # pragma: no cover - convolutions are always allowed
                raise ValueError(f"Block {i} of the skeleton allows no operation.")
            mixed = MixedOp(cands)
            mixed.set_allowed(allowed)
            blocks.append(mixed)
            masks.append(allowed)
            channels, size = c_out, conv_out_size(size, stride)
        super().__init__(space, [(f"op_{i}", CHAIN_OPS) for i in range(1, n_blocks + 1)], masks)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        head = str(full["head"])
        if head in ("avg", "max"):
            if head == "avg":
                pool: nn.Module = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
            else:
                pool = nn.AdaptiveMaxPool1d(1) if dims == 1 else nn.AdaptiveMaxPool2d(1)
            self.head = nn.Sequential(pool, nn.Flatten(), nn.Linear(channels, n_classes))
        else:
            n_feat = channels
            for n in size:
                n_feat *= n
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(n_feat, n_classes))

    def _forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: list[int] | None
    ) -> torch.Tensor:
        h = self.stem(x.reshape(x.shape[0], self._c_in, *self._size))
        for d, block in enumerate(self.blocks):
            if choice is not None:
                h = block(h, index=choice[d])
            else:
                assert weights is not None  # internal: set by SuperNet.forward
                h = block(h, weights=weights[d])
        out: torch.Tensor = self.head(h)
        return out

    def mixed_ops(self) -> list[list[MixedOp]]:
        return [[b] for b in self.blocks]  # type: ignore[list-item]

    def architecture(self, choice: Sequence[int]) -> Architecture:
        values: dict[str, Choice] = dict(self.skeleton)
        n_blocks = len(self.decisions)
        for i in range(1, self.space.max_blocks + 1):  # type: ignore[attr-defined]
            values[f"op_{i}"] = CHAIN_OPS[int(choice[i - 1])] if i <= n_blocks else CHAIN_OPS[0]
        return self.space.validate(values)

    def choice_of(self, arch: Architecture) -> list[int]:
        arch = self.space.validate(arch)
        return [CHAIN_OPS.index(str(arch[name])) for name, _ in self.decisions]


# ------------------------------------------------------------------ factory
def build_supernet(
    space: SearchSpace,
    input_shape: Sequence[int],
    n_classes: int,
    *,
    seed: int | None = None,
    skeleton: Mapping[str, Choice] | None = None,
    **kw: Any,
) -> SuperNet:
    """The supernet of ``space`` (``nb201`` or ``cnn``) with initial weights a function of ``seed``.

    ``skeleton`` fixes the non-operation decisions of a ``cnn`` space (see
    :class:`ChainSuperNet`); ``kw`` goes to :class:`NB201SuperNet`
    (``channels``, ``n_cells``). ``alpha`` starts at 0 (uniform mixtures).

    Raises
    ------
    TypeError
        For a space without a supernet (``mlp`` and tables).
    """
    with seeded_init(resolve_seed(seed)):
        if isinstance(space, NB201Space):
            if skeleton:
                raise ValueError("skeleton= applies to the 'cnn' space only; nb201 has none.")
            return NB201SuperNet(input_shape, n_classes, space=space, **kw)
        if isinstance(space, CNNSpace):
            if kw:
                raise ValueError(f"Unknown supernet setting(s) {sorted(kw)!r} for the 'cnn' space.")
            return ChainSuperNet(input_shape, n_classes, space=space, skeleton=skeleton)
    raise TypeError(
        f"One-shot search needs a cell or chain space ('nb201' or 'cnn'); got "
        f"{type(space).__name__}. Search other spaces with a black-box strategy."
    )
