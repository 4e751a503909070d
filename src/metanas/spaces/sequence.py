"""Trainable spaces for token sequences (text): 1-D convolutions, recurrent cells, attention,
and hashed character n-gram bags (fastText-style).

The models read the code sequences of :meth:`metanas.tasks.Task.from_texts` (shape ``(1, L)``,
0 for padding, codes below ``vocab_size``) and embed them; they are ordinary
:class:`~metanas.spaces.trainable.TrainableSpace` s, so every strategy, the experience memory,
the schedulers and the training, proxy and hardware evaluators take them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metanas._rng import resolve_seed
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import register_space
from metanas.spaces.trainable import TrainableSpace, _check_count, _KeyedSpace

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SeqAttnSpace", "SeqCNNSpace", "SeqNgramSpace", "SeqRNNSpace"]

#: Codes of the text tasks: 0 pads, bytes are 1 .. 256 (characters use at most as many).
DEFAULT_VOCAB = 257
_DROPOUTS = (0.0, 0.1, 0.3)


class _SequenceSpace(_KeyedSpace, TrainableSpace):
    """Shared settings (``vocab_size``) and the model scope of the sequence spaces."""

    def __init__(self, decisions: Mapping[str, Sequence[Choice]], vocab_size: int) -> None:
        self.vocab_size = _check_count("vocab_size", vocab_size, 2, 10_000_000)
        super().__init__(decisions)

    def _canonical(self, arch: Architecture) -> Architecture:
        return arch

    def _settings(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size}

    def build_model(
        self,
        arch: Architecture | Mapping[str, Choice] | str,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        seed: int | None = None,
    ) -> nn.Module:
        """The network of ``arch`` for code sequences of ``input_shape`` (``(1, L)`` or ``(L,)``).

        Initial weights (and dropout masks drawn while building) are a function of ``seed``.
        """
        from metanas.models import seeded_init

        arch = self.validate(arch)
        with seeded_init(resolve_seed(seed)):
            return self._build(arch, input_shape, n_classes)

    def _build(self, arch: Architecture, input_shape: Sequence[int], n_classes: int) -> nn.Module:
        raise NotImplementedError


@register_space("seq-cnn")
class SeqCNNSpace(_SequenceSpace):
    """Embedding, a stack of 1-D convolutions, a pooling head.

    Decisions: ``embed_dim`` (16, 32, 64), ``n_layers`` (1 to ``max_layers``),
    ``width`` (32, 64, 128 channels), ``kernel`` (3, 5, 7), ``dilation`` (1 or 2:
    layer ``i`` dilates by ``dilation ** i``), ``residual``, ``dropout``,
    ``activation`` and ``pool`` (masked mean, max or both). With one layer,
    ``dilation`` and ``residual`` are inactive (:meth:`key` ignores them).

    Parameters
    ----------
    max_layers
        Deepest stack (1 to 8).
    vocab_size
        Codes the embedding knows (257: bytes plus padding).

    Examples
    --------
    >>> space = SeqCNNSpace()
    >>> a = space.validate({"embed_dim": 32, "n_layers": 1, "width": 64, "kernel": 3,
    ...                     "dilation": 2, "residual": True, "dropout": 0.0,
    ...                     "activation": "relu", "pool": "max"})
    >>> space.key(a) == space.key(a.replace(dilation=1, residual=False))
    True
    """

    def __init__(self, max_layers: int = 4, vocab_size: int = DEFAULT_VOCAB) -> None:
        self.max_layers = _check_count("max_layers", max_layers, 1, 8)
        super().__init__(
            {
                "embed_dim": [16, 32, 64],
                "n_layers": list(range(1, self.max_layers + 1)),
                "width": [32, 64, 128],
                "kernel": [3, 5, 7],
                "dilation": [1, 2],
                "residual": [False, True],
                "dropout": list(_DROPOUTS),
                "activation": ["relu", "gelu"],
                "pool": ["mean", "max", "meanmax"],
            },
            vocab_size,
        )

    def _canonical(self, arch: Architecture) -> Architecture:
        if int(arch["n_layers"]) == 1:
            return arch.replace(dilation=1, residual=False)
        return arch

    def _settings(self) -> dict[str, Any]:
        return {"max_layers": self.max_layers, "vocab_size": self.vocab_size}

    def _build(self, arch: Architecture, input_shape: Sequence[int], n_classes: int) -> nn.Module:
        from metanas.models.sequence import SeqCNNNet

        return SeqCNNNet(
            input_shape,
            n_classes,
            vocab_size=self.vocab_size,
            embed_dim=int(arch["embed_dim"]),
            n_layers=int(arch["n_layers"]),
            width=int(arch["width"]),
            kernel=int(arch["kernel"]),
            dilation=int(arch["dilation"]),
            residual=bool(arch["residual"]),
            dropout=float(arch["dropout"]),
            pool=str(arch["pool"]),
            activation=str(arch["activation"]),
        )


@register_space("seq-rnn")
class SeqRNNSpace(_SequenceSpace):
    """Embedding, a recurrent network (GRU or LSTM), a pooling head.

    Decisions: ``embed_dim`` (16, 32, 64), ``cell`` (gru, lstm), ``width``
    (hidden units 32, 64, 128), ``n_layers`` (1 to ``max_layers``),
    ``bidirectional``, ``dropout`` and ``pool`` (masked mean, max, both, or the
    final states).

    Parameters
    ----------
    max_layers
        Deepest stack (1 to 4).
    vocab_size
        Codes the embedding knows.
    """

    def __init__(self, max_layers: int = 2, vocab_size: int = DEFAULT_VOCAB) -> None:
        self.max_layers = _check_count("max_layers", max_layers, 1, 4)
        super().__init__(
            {
                "embed_dim": [16, 32, 64],
                "cell": ["gru", "lstm"],
                "width": [32, 64, 128],
                "n_layers": list(range(1, self.max_layers + 1)),
                "bidirectional": [False, True],
                "dropout": list(_DROPOUTS),
                "pool": ["mean", "max", "meanmax", "last"],
            },
            vocab_size,
        )

    def _settings(self) -> dict[str, Any]:
        return {"max_layers": self.max_layers, "vocab_size": self.vocab_size}

    def _build(self, arch: Architecture, input_shape: Sequence[int], n_classes: int) -> nn.Module:
        from metanas.models.sequence import SeqRNNNet

        return SeqRNNNet(
            input_shape,
            n_classes,
            vocab_size=self.vocab_size,
            embed_dim=int(arch["embed_dim"]),
            cell=str(arch["cell"]),
            width=int(arch["width"]),
            n_layers=int(arch["n_layers"]),
            bidirectional=bool(arch["bidirectional"]),
            dropout=float(arch["dropout"]),
            pool=str(arch["pool"]),
        )


@register_space("seq-attn")
class SeqAttnSpace(_SequenceSpace):
    """Embedding with learned positions, small pre-norm self-attention layers, a pooling head.

    Decisions: ``width`` (model width 32, 64, 128), ``heads`` (1, 2, 4),
    ``n_layers`` (1 to ``max_layers``), ``ff_mult`` (feed-forward width 2x or
    4x), ``dropout`` and ``pool`` (masked mean, max or both).

    Parameters
    ----------
    max_layers
        Deepest stack (1 to 6).
    vocab_size
        Codes the embedding knows.
    """

    def __init__(self, max_layers: int = 3, vocab_size: int = DEFAULT_VOCAB) -> None:
        self.max_layers = _check_count("max_layers", max_layers, 1, 6)
        super().__init__(
            {
                "width": [32, 64, 128],
                "heads": [1, 2, 4],
                "n_layers": list(range(1, self.max_layers + 1)),
                "ff_mult": [2, 4],
                "dropout": list(_DROPOUTS),
                "pool": ["mean", "max", "meanmax"],
            },
            vocab_size,
        )

    def _settings(self) -> dict[str, Any]:
        return {"max_layers": self.max_layers, "vocab_size": self.vocab_size}

    def _build(self, arch: Architecture, input_shape: Sequence[int], n_classes: int) -> nn.Module:
        from metanas.models.sequence import SeqAttnNet

        return SeqAttnNet(
            input_shape,
            n_classes,
            vocab_size=self.vocab_size,
            width=int(arch["width"]),
            heads=int(arch["heads"]),
            n_layers=int(arch["n_layers"]),
            ff_mult=int(arch["ff_mult"]),
            dropout=float(arch["dropout"]),
            pool=str(arch["pool"]),
        )


@register_space("seq-ngram")
class SeqNgramSpace(_SequenceSpace):
    """Hashed character n-gram embeddings, averaged, then a linear or one-hidden-layer head.

    The fastText text classifier as a space: every n-gram of ``min_n`` .. ``max_n`` codes of a
    text (with begin and end markers when ``boundary``) is hashed into one of ``buckets`` rows
    of an embedding table of width ``embed_dim``; the rows are averaged, dropped out
    (``dropout``) and classified by a linear layer, or first by a hidden layer of ``hidden``
    units (0: none). Bags of character n-grams are the usual strong model for short strings
    such as single words, where a convolution stack sees too little context to pool over.

    Decisions: ``min_n`` (1, 2), ``max_n`` (2 to ``max_order``), ``buckets`` (4096, 16384,
    65536), ``embed_dim`` (32, 64, 128), ``hidden`` (0, 128, 256), ``dropout`` and
    ``boundary``. Every choice is active in every architecture.

    Parameters
    ----------
    max_order
        Longest n-gram on offer (2 to 6).
    vocab_size
        Codes the inputs hold (257: bytes plus padding); the markers hash as the two codes
        after them.

    References
    ----------
    Joulin, Grave, Bojanowski, Mikolov. "Bag of Tricks for Efficient Text Classification",
    EACL 2017.

    Examples
    --------
    >>> space = SeqNgramSpace()
    >>> a = space.validate({"min_n": 1, "max_n": 4, "buckets": 16384, "embed_dim": 64,
    ...                     "hidden": 0, "dropout": 0.1, "boundary": True})
    >>> space.validate(space.format(a)) == a
    True
    >>> space.n_raw
    1296
    """

    def __init__(self, max_order: int = 5, vocab_size: int = DEFAULT_VOCAB) -> None:
        self.max_order = _check_count("max_order", max_order, 2, 6)
        super().__init__(
            {
                "min_n": [1, 2],
                "max_n": list(range(2, self.max_order + 1)),
                "buckets": [4096, 16384, 65536],
                "embed_dim": [32, 64, 128],
                "hidden": [0, 128, 256],
                "dropout": list(_DROPOUTS),
                "boundary": [True, False],
            },
            vocab_size,
        )

    def _settings(self) -> dict[str, Any]:
        return {"max_order": self.max_order, "vocab_size": self.vocab_size}

    def _build(self, arch: Architecture, input_shape: Sequence[int], n_classes: int) -> nn.Module:
        from metanas.models.ngram import HashedNgramNet

        return HashedNgramNet(
            input_shape,
            n_classes,
            vocab_size=self.vocab_size,
            min_n=int(arch["min_n"]),
            max_n=int(arch["max_n"]),
            buckets=int(arch["buckets"]),
            embed_dim=int(arch["embed_dim"]),
            hidden=int(arch["hidden"]),
            dropout=float(arch["dropout"]),
            boundary=bool(arch["boundary"]),
        )
