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

:meth:`SpaceSuperNet.derive` turns ``alpha`` into an :class:`Architecture` the space
validates; :meth:`SpaceSuperNet.architecture` does the same for a sampled choice.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from metanas._rng import resolve_seed
from metanas.models.networks import ResidualBlock, conv_layout, nb201_macro, seeded_init
from metanas.models.ops import CELL_OPS, CHAIN_OPS, OPS, Projection, conv_out_size
from metanas.models.supernet import MixedOp, NB201MixedCell, SuperNet
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace
from metanas.spaces.nb201 import NB201Space
from metanas.spaces.trainable import CNN_CHANNELS, CNNSpace, TrainableSpace

__all__ = [
    "ChainSuperNet",
    "NB201SuperNet",
    "SpaceSuperNet",
    "build_supernet",
    "default_skeleton",
]


class SpaceSuperNet(SuperNet):
    """A supernet of a search space: its choices are the space's architectures.

    Adds to :class:`~metanas.models.SuperNet` the space, :meth:`derive`, :meth:`architecture`
    and :meth:`choice_of`.
    """

    def __init__(self, space: TrainableSpace) -> None:
        super().__init__()
        self.space = space

    def derive(self) -> Architecture:
        """The discrete architecture of largest ``alpha`` per decision (validated by the space)."""
        return self.architecture(self.derive_indices())

    def architecture(self, choice: Sequence[int]) -> Architecture:
        """The space's architecture of a choice of one candidate index per decision."""
        raise NotImplementedError

    def choice_of(self, arch: Architecture) -> list[int]:
        """The candidate indices of ``arch`` (the inverse of :meth:`architecture`)."""
        raise NotImplementedError


# ------------------------------------------------------------------ NAS-Bench-201
class NB201SuperNet(SpaceSuperNet):
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
        super().__init__(space if space is not None else NB201Space())
        self._init_arch(
            [(e, CELL_OPS) for e in NB201Space.EDGES],
            torch.zeros(len(NB201Space.EDGES), len(CELL_OPS)),
        )
        dims, c_in, size = conv_layout(input_shape)
        self._dims, self._c_in, self._size = dims, c_in, tuple(size)
        self.input_shape = tuple(int(s) for s in input_shape)
        stem, body, head = nb201_macro(
            input_shape, n_classes, lambda c, d: NB201MixedCell(c, d, CELL_OPS),
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
            h = layer(h, weights, choice) if isinstance(layer, NB201MixedCell) else layer(h)
        out: torch.Tensor = self.head(h)
        return out

    def mixed_ops(self) -> list[list[MixedOp]]:
        cells = [m for m in self.body if isinstance(m, NB201MixedCell)]
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


class ChainSuperNet(SpaceSuperNet):
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
    widths
        Also search the width of every convolution block: each convolution
        candidate appears once per width (``"conv3x16"``, ``"conv3x32"``, ...) no
        larger than the block's ``channels_i``, which becomes the block's
        widest choice. A narrower candidate's output is padded with zero
        channels to the block's width in the supernet; the derived network
        has the chosen width. None (default): every block has the
        skeleton's width. Depth is searched in either case where the
        skeleton allows: ``identity`` (the block dropped) is a candidate of
        every stride-1 block whose width does not change.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        space: CNNSpace | None = None,
        skeleton: Mapping[str, Choice] | None = None,
        widths: Sequence[int] | None = None,
    ) -> None:
        space = space if space is not None else CNNSpace()
        super().__init__(space)
        full = default_skeleton(space)
        if skeleton:
            unknown = sorted(set(skeleton) - set(full) - {f"op_{i}" for i in range(1, 13)})
            if unknown:
                raise ValueError(
                    f"skeleton has unknown key(s) {unknown!r}; it may set {sorted(full)!r}."
                )
            full.update({k: v for k, v in skeleton.items() if not k.startswith("op_")})
        if widths is not None:
            bad = [w for w in widths if w not in CNN_CHANNELS]
            if bad or not widths:
                raise ValueError(
                    f"widths must be a non-empty subset of {CNN_CHANNELS!r}; got {widths!r}."
                )
        # Validate the skeleton through the space (with placeholder operations).
        probe = {f"op_{i}": CHAIN_OPS[0] for i in range(1, space.max_blocks + 1)}
        for i in range(1, space.max_blocks + 1):
            full.setdefault(f"channels_{i}", CNN_CHANNELS[0])
            full.setdefault(f"stride_{i}", 1)
        space.validate({**probe, **full})
        self.skeleton: dict[str, Choice] = dict(full)
        self.widths = None if widths is None else tuple(sorted({int(w) for w in widths}))
        #: Per candidate index: (operation, width); width None: the block's own (skeleton) width.
        self.candidates: tuple[tuple[str, int | None], ...] = tuple(
            (name, w)
            for name in CHAIN_OPS
            for w in (
                self.widths if self.widths is not None and _is_conv(name) else (None,)
            )
        )  # fmt: skip
        names = tuple(name if w is None else f"{name}x{w}" for name, w in self.candidates)
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
            c_block = int(full[f"channels_{i}"])
            strided = any(s > 1 for s in stride)
            cands: list[nn.Module] = []
            allowed: list[bool] = []
            for name, width in self.candidates:
                c_out = c_block if width is None else width
                if name == "identity":
                    ok = c_block == channels and not strided
                elif name in ("max_pool", "avg_pool"):
                    ok = c_block == channels
                else:
                    ok = c_out <= c_block
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
                    if c_out < c_block:
                        op = _PadChannels(op, c_block)
                    cands.append(op)
                allowed.append(ok)
            if not any(allowed):  # pragma: no cover - convolutions are always allowed
                raise ValueError(f"Block {i} of the skeleton allows no operation.")
            mixed = MixedOp(cands)
            mixed.set_allowed(allowed)
            blocks.append(mixed)
            masks.append(allowed)
            channels, size = c_block, conv_out_size(size, stride)
        self._init_arch(
            [(f"op_{i}", names) for i in range(1, n_blocks + 1)],
            torch.zeros(n_blocks, len(names)),
            torch.tensor(masks, dtype=torch.bool),
        )
        self.max_blocks = space.max_blocks
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
                h = block(h, weights[d] if weights is not None else None)
        out: torch.Tensor = self.head(h)
        return out

    def mixed_ops(self) -> list[list[MixedOp]]:
        return [[b] for b in self.blocks]  # type: ignore[list-item]

    def architecture(self, choice: Sequence[int]) -> Architecture:
        values: dict[str, Choice] = dict(self.skeleton)
        n_blocks = len(self.decisions)
        for i in range(1, self.max_blocks + 1):
            if i > n_blocks:
                values[f"op_{i}"] = CHAIN_OPS[0]
                continue
            name, width = self.candidates[int(choice[i - 1])]
            values[f"op_{i}"] = name
            if width is not None:
                values[f"channels_{i}"] = width
        return self.space.validate(values)

    def choice_of(self, arch: Architecture) -> list[int]:
        arch = self.space.validate(arch)
        out = []
        for name, _ in self.decisions:
            op = str(arch[name])
            width = (
                int(arch[f"channels_{name.removeprefix('op_')}"])
                if self.widths is not None and _is_conv(op)
                else None
            )
            out.append(self.candidates.index((op, width)))
        return out


def _is_conv(name: str) -> bool:
    return name not in ("identity", "max_pool", "avg_pool")


class _PadChannels(nn.Module):
    """Pads the output of a narrower candidate with zero channels to the block's width."""

    def __init__(self, op: nn.Module, channels: int) -> None:
        super().__init__()
        self.op = op
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.op(x)
        extra = self.channels - y.shape[1]
        return torch.cat([y, y.new_zeros((y.shape[0], extra, *y.shape[2:]))], dim=1)


# ------------------------------------------------------------------ factory
def build_supernet(
    space: SearchSpace,
    input_shape: Sequence[int],
    n_classes: int,
    *,
    seed: int | None = None,
    skeleton: Mapping[str, Choice] | None = None,
    **kw: Any,
) -> SpaceSuperNet:
    """The supernet of ``space`` (``nb201`` or ``cnn``) with initial weights a function of ``seed``.

    ``skeleton`` fixes the non-operation decisions of a ``cnn`` space (see
    :class:`ChainSuperNet`); ``kw`` goes to :class:`NB201SuperNet`
    (``channels``, ``n_cells``) or to :class:`ChainSuperNet` (``widths``). ``alpha`` starts
    at 0 (uniform mixtures).

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
            extra = sorted(set(kw) - {"widths"})
            if extra:
                raise ValueError(
                    f"Unknown supernet setting(s) {extra!r} for the 'cnn' space; it takes widths."
                )
            return ChainSuperNet(input_shape, n_classes, space=space, skeleton=skeleton, **kw)
    raise TypeError(
        f"One-shot search needs a cell or chain space ('nb201' or 'cnn'); got "
        f"{type(space).__name__}. Search other spaces with a black-box strategy."
    )
