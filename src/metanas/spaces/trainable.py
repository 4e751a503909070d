"""Trainable spaces: architectures that build ``torch.nn`` models (MLP, CNN chain).

Every trainable space is a :class:`TrainableSpace`: it has ``build_model(arch, input_shape,
n_classes, *, seed=None) -> torch.nn.Module``; the model takes a batch of shape
``(n, *input_shape)`` and returns ``(n, n_classes)`` logits. torch is imported only when a
model is built.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._rng import resolve_seed
from metanas.exceptions import InvalidArchitectureError
from metanas.models._names import CHAIN_OPS
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace, register_space

if TYPE_CHECKING:
    from torch import nn

__all__ = ["CNN_CHANNELS", "CNN_OPS", "CNNSpace", "MLPSpace", "MLP_WIDTHS", "TrainableSpace"]

MLP_WIDTHS = (32, 64, 128, 256, 512)
MLP_ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
MLP_DROPOUTS = (0.0, 0.1, 0.3)
MLP_NORMS = ("none", "batch", "layer")

#: The chain's operations (named in :mod:`metanas.models._names`, built by ``metanas.models.OPS``).
CNN_OPS = CHAIN_OPS
CNN_CHANNELS = (16, 32, 64, 128)
CNN_STRIDES = (1, 2)
CNN_ACTIVATIONS = ("relu", "gelu", "silu")
CNN_NORMS = ("batch", "none")
CNN_HEADS = ("avg", "max", "flatten")
_POOLS = ("max_pool", "avg_pool")


def _check_count(name: str, value: object, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= int(value) <= high)
    ):
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}.")
    return int(value)


class TrainableSpace(SearchSpace, abc.ABC):
    """A space whose architectures build trainable ``torch.nn`` models.

    The training, proxy and hardware evaluators, :func:`metanas.export.load_model` and one-shot
    search take any space of this kind: subclass it and implement :meth:`build_model` to make a
    new space trainable.

    Examples
    --------
    >>> from metanas.spaces import NasBenchGraphSpace, NB201Space, TrainableSpace
    >>> isinstance(NB201Space(), TrainableSpace)
    True
    >>> isinstance(NasBenchGraphSpace(), TrainableSpace)
    False
    """

    @abc.abstractmethod
    def build_model(
        self,
        arch: Architecture | Mapping[str, Choice] | str,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        seed: int | None = None,
    ) -> nn.Module:
        """The untrained network of ``arch``: ``(n, *input_shape)`` in, ``(n, n_classes)`` out.

        Initial weights (and dropout) are a function of ``seed`` only.
        """


def require_trainable(space: SearchSpace, user: str) -> TrainableSpace:
    """``space`` as a :class:`TrainableSpace`; a ``TypeError`` naming ``user`` otherwise."""
    if not isinstance(space, TrainableSpace):
        raise TypeError(
            f"{user} needs a trainable space (a TrainableSpace, with build_model), such as "
            f"'mlp', 'cnn' or 'nb201'; got {type(space).__name__}."
        )
    return space


class _KeyedSpace(SearchSpace):
    """A space whose :meth:`key` canonicalises inactive decisions; mutations change the key."""

    def key(self, arch: Architecture) -> Architecture:
        return self._canonical(arch)

    def _canonical(self, arch: Architecture) -> Architecture:
        raise NotImplementedError

    def canonicalize(self, arch: Architecture | dict[str, Choice] | str) -> Architecture:
        """``arch`` with its inactive decisions set to their first choice (the :meth:`key`)."""
        return self._canonical(self.validate(arch))

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Like :meth:`SearchSpace.mutate`, but the child is a different network (another key)."""
        key = self.key(arch)
        child = super().mutate(arch, rng)
        for _ in range(100):
            if self.key(child) != key:
                return child
            child = super().mutate(child, rng)
        return child


@register_space("mlp")
class MLPSpace(_KeyedSpace, TrainableSpace):
    """Multi-layer perceptrons: depth, a width per layer, activation, dropout, normalisation.

    Inputs of any shape are flattened. Decisions ``width_i`` with
    ``i > n_layers`` are inactive: :meth:`key` ignores them.

    Parameters
    ----------
    max_layers
        Largest number of hidden layers (1 to 8).

    Examples
    --------
    >>> space = MLPSpace(max_layers=2)
    >>> a = space.validate({"n_layers": 1, "width_1": 64, "width_2": 32, "activation": "relu",
    ...                     "dropout": 0.0, "norm": "none"})
    >>> space.key(a) == space.key(a.replace(width_2=512))
    True
    """

    def __init__(self, max_layers: int = 4) -> None:
        self.max_layers = _check_count("max_layers", max_layers, 1, 8)
        decisions: dict[str, Sequence[Choice]] = {"n_layers": list(range(1, self.max_layers + 1))}
        for i in range(1, self.max_layers + 1):
            decisions[f"width_{i}"] = list(MLP_WIDTHS)
        decisions["activation"] = list(MLP_ACTIVATIONS)
        decisions["dropout"] = list(MLP_DROPOUTS)
        decisions["norm"] = list(MLP_NORMS)
        super().__init__(decisions)

    def _canonical(self, arch: Architecture) -> Architecture:
        n = int(arch["n_layers"])
        return arch.replace(
            **{f"width_{i}": MLP_WIDTHS[0] for i in range(n + 1, self.max_layers + 1)}
        )

    def format(self, arch: Architecture) -> str:
        """``256-128 | gelu, dropout 0.1, batch-norm``: active widths, then the global choices.

        :meth:`parse` reads it back (inactive widths take their canonical value).
        """
        n = int(arch["n_layers"])
        widths = "-".join(str(arch[f"width_{i}"]) for i in range(1, n + 1))
        return f"{widths} | {arch['activation']}, dropout {arch['dropout']}, {arch['norm']}-norm"

    def _parse_notation(self, text: str) -> Architecture:
        example = "256-128 | gelu, dropout 0.1, batch-norm"
        left, sep, right = text.partition("|")
        parts = [p.strip() for p in right.split(",")]
        try:
            widths = [int(w) for w in left.strip().split("-")]
            if not sep or len(parts) != 3 or not parts[1].startswith("dropout "):
                raise ValueError
            dropout = float(parts[1].removeprefix("dropout ").strip())
        except ValueError:
            raise InvalidArchitectureError(
                f"Cannot read MLP architecture {text!r}; write it like {example!r}."
            ) from None
        if not 1 <= len(widths) <= self.max_layers:
            raise InvalidArchitectureError(
                f"MLP architecture {text!r} has {len(widths)} layers; this space allows 1 to "
                f"{self.max_layers}."
            )
        choices: dict[str, Choice] = {"n_layers": len(widths)}
        for i in range(1, self.max_layers + 1):
            choices[f"width_{i}"] = widths[i - 1] if i <= len(widths) else MLP_WIDTHS[0]
        choices.update(activation=parts[0], dropout=dropout, norm=parts[2].removesuffix("-norm"))
        return Architecture(choices)

    @property
    def n_unique(self) -> int:
        """Distinct networks: one per depth and active widths, times the global choices."""
        n_global = len(MLP_ACTIVATIONS) * len(MLP_DROPOUTS) * len(MLP_NORMS)
        widths = sum(len(MLP_WIDTHS) ** n for n in range(1, self.max_layers + 1))
        return int(widths * n_global)

    def _settings(self) -> dict[str, Any]:
        return {"max_layers": self.max_layers}

    def build_model(
        self,
        arch: Architecture | Mapping[str, Choice] | str,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        seed: int | None = None,
    ) -> nn.Module:
        """The MLP of ``arch`` for samples of ``input_shape``; weights a function of ``seed``."""
        from metanas.models import build_mlp, seeded_init

        arch = self.validate(arch)
        n = int(arch["n_layers"])
        with seeded_init(resolve_seed(seed)):
            return build_mlp(
                input_shape,
                n_classes,
                [int(arch[f"width_{i}"]) for i in range(1, n + 1)],
                activation=str(arch["activation"]),
                dropout=float(arch["dropout"]),
                norm=str(arch["norm"]),
            )


@register_space("cnn")
class CNNSpace(_KeyedSpace, TrainableSpace):
    """A macro CNN: a chain of up to ``max_blocks`` blocks, then a global head.

    Per block ``i``: ``op_i`` (conv3, conv5, conv7, dil_conv3 with dilation 2,
    sep_conv5 depthwise-separable, max_pool, avg_pool, identity),
    ``channels_i`` (16, 32, 64, 128) and ``stride_i`` (1, 2). Global:
    ``activation``, ``norm`` (batch or none), ``residual`` skip connections
    (a 1x1 projection where shapes differ) and ``head`` (global average or
    max pooling, or flatten). Convolutions are 1-D for sequences ``(C, L)``,
    2-D for images ``(C, H, W)``; tabular rows ``(F,)`` are 1-channel
    sequences. Convolutions keep the length at stride 1 and give
    ``ceil(L / 2)`` at stride 2; a dimension already of size 1 is never
    strided.

    Inactive decisions do not make distinct networks, and :meth:`key` maps
    them to one canonical architecture: blocks past ``n_blocks`` and identity
    blocks are dropped (the remaining blocks move up), pooling blocks keep
    their input channels (``channels_i`` is ignored).

    Parameters
    ----------
    max_blocks
        Largest number of blocks in the chain (1 to 12).
    stem_channels
        Channels of a fixed ``conv3 -> norm -> act`` stem before the chain
        (0: no stem). The stem gives pooling and strided first blocks
        features to work on; on MNIST-1D it lifts the typical random network
        a lot for little cost.
    """

    def __init__(self, max_blocks: int = 4, stem_channels: int = 32) -> None:
        self.max_blocks = _check_count("max_blocks", max_blocks, 1, 12)
        self.stem_channels = _check_count("stem_channels", stem_channels, 0, 1024)
        decisions: dict[str, Sequence[Choice]] = {"n_blocks": list(range(1, self.max_blocks + 1))}
        for i in range(1, self.max_blocks + 1):
            decisions[f"op_{i}"] = list(CNN_OPS)
            decisions[f"channels_{i}"] = list(CNN_CHANNELS)
            decisions[f"stride_{i}"] = list(CNN_STRIDES)
        decisions["activation"] = list(CNN_ACTIVATIONS)
        decisions["norm"] = list(CNN_NORMS)
        decisions["residual"] = [False, True]
        decisions["head"] = list(CNN_HEADS)
        super().__init__(decisions)

    def _active_blocks(self, arch: Architecture) -> list[tuple[str, int, int]]:
        out = []
        for i in range(1, int(arch["n_blocks"]) + 1):
            op = str(arch[f"op_{i}"])
            if op == "identity":
                continue
            ch = CNN_CHANNELS[0] if op in _POOLS else int(arch[f"channels_{i}"])
            out.append((op, ch, int(arch[f"stride_{i}"])))
        return out

    def _chain_choices(self, blocks: list[tuple[str, int, int]]) -> dict[str, Choice]:
        """The chain decisions of ``blocks`` (op, channels, stride), unused blocks canonical."""
        out: dict[str, Choice] = {"n_blocks": max(1, len(blocks))}
        for i in range(1, self.max_blocks + 1):
            op, ch, st = (
                blocks[i - 1]
                if i <= len(blocks)
                else (("identity" if i == 1 else CNN_OPS[0]), CNN_CHANNELS[0], CNN_STRIDES[0])
            )
            out.update({f"op_{i}": op, f"channels_{i}": ch, f"stride_{i}": st})
        return out

    def _canonical(self, arch: Architecture) -> Architecture:
        return arch.replace(**self._chain_choices(self._active_blocks(arch)))

    def format(self, arch: Architecture) -> str:
        """``conv3x32 > max_pool/2 > conv5x64/2 | gelu, batch-norm, residual, avg-head``.

        Active blocks (``/2``: stride 2; pooling keeps its channels), then the
        global choices; ``stem`` when the chain is empty. :meth:`parse` reads it back.
        """
        blocks = [
            (op if op in _POOLS else f"{op}x{ch}") + ("/2" if st == 2 else "")
            for op, ch, st in self._active_blocks(arch)
        ]
        res = "residual" if arch["residual"] else "plain"
        return (
            f"{' > '.join(blocks) or 'stem'} | {arch['activation']}, {arch['norm']}-norm, "
            f"{res}, {arch['head']}-head"
        )

    def _parse_notation(self, text: str) -> Architecture:
        example = "conv3x32 > max_pool/2 > conv5x64/2 | gelu, batch-norm, residual, avg-head"
        bad = InvalidArchitectureError(
            f"Cannot read CNN architecture {text!r}; write it like {example!r}."
        )
        left, sep, right = text.partition("|")
        parts = [p.strip() for p in right.split(",")]
        if not sep or len(parts) != 4 or parts[2] not in ("residual", "plain"):
            raise bad
        blocks: list[tuple[str, int, int]] = []
        for raw in [] if left.strip() == "stem" else left.split(">"):
            item = raw.strip()
            stride = 2 if item.endswith("/2") else 1
            item = item.removesuffix("/2")
            if item in _POOLS:
                blocks.append((item, CNN_CHANNELS[0], stride))
                continue
            op, x, ch = item.rpartition("x")
            if not x or not ch.isdigit():
                raise bad
            blocks.append((op, int(ch), stride))
        if len(blocks) > self.max_blocks:
            raise InvalidArchitectureError(
                f"CNN architecture {text!r} has {len(blocks)} blocks; this space allows at most "
                f"{self.max_blocks}."
            )
        choices = self._chain_choices(blocks)
        choices.update(
            activation=parts[0], norm=parts[1].removesuffix("-norm"),
            residual=parts[2] == "residual", head=parts[3].removesuffix("-head"),
        )  # fmt: skip
        return Architecture(choices)

    @property
    def n_unique(self) -> int:
        """Distinct networks: chains of 0 to ``max_blocks`` non-identity blocks x global choices."""
        n_convs = len(CNN_OPS) - len(_POOLS) - 1
        per_block = n_convs * len(CNN_CHANNELS) * len(CNN_STRIDES) + len(_POOLS) * len(CNN_STRIDES)
        n_global = len(CNN_ACTIVATIONS) * len(CNN_NORMS) * 2 * len(CNN_HEADS)
        return int(n_global * sum(per_block**k for k in range(self.max_blocks + 1)))

    def _settings(self) -> dict[str, Any]:
        return {"max_blocks": self.max_blocks, "stem_channels": self.stem_channels}

    def build_model(
        self,
        arch: Architecture | Mapping[str, Choice] | str,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        seed: int | None = None,
    ) -> nn.Module:
        """The CNN of ``arch`` for samples of ``input_shape``; weights a function of ``seed``."""
        from metanas.models import BlockSpec, build_chain_cnn, seeded_init

        arch = self.validate(arch)
        blocks = [BlockSpec(op, ch, st) for op, ch, st in self._active_blocks(arch)]
        with seeded_init(resolve_seed(seed)):
            return build_chain_cnn(
                input_shape,
                n_classes,
                blocks,
                activation=str(arch["activation"]),
                norm=str(arch["norm"]),
                residual=bool(arch["residual"]),
                head=str(arch["head"]),
                stem_channels=self.stem_channels,
            )
