"""torch networks for token sequences: embedding, then convolutions, recurrent cells or attention.

Inputs are the code sequences of :meth:`metanas.tasks.Task.from_texts`: shape ``(n, 1, L)`` or
``(n, L)``, float codes (rounded back to integers and clipped into the vocabulary, so any
float batch, such as the latency probe's random one, is a valid input), 0 for padding. Every
network masks the padding in its pooling head; the recurrent one packs the sequences by length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metanas.models.ops import make_activation

__all__ = [
    "SEQ_POOLS",
    "SeqAttnNet",
    "SeqCNNNet",
    "SeqRNNNet",
    "TokenInput",
    "masked_pool",
]

#: Pooling heads: masked mean, masked max, both concatenated, or the last step (RNN only).
SEQ_POOLS = ("mean", "max", "meanmax", "last")


def _length(input_shape: Sequence[int]) -> int:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 1 or (len(shape) == 2 and shape[0] == 1):
        if shape[-1] < 1:
            raise ValueError(f"input_shape must have a positive length; got {shape!r}.")
        return shape[-1]
    raise ValueError(
        f"Sequence models take code sequences of shape (L,) or (1, L); got input_shape "
        f"{shape!r}. Build the task with Task.from_texts (or a text task of load_task)."
    )


class TokenInput(nn.Module):
    """Codes ``(n, 1, L)`` or ``(n, L)`` -> (embeddings ``(n, L, d)``, padding mask ``(n, L)``).

    The mask is True at padding (code 0); the first position always counts as a token so an
    all-padding row still pools to a finite vector.
    """

    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.embed = nn.Embedding(self.vocab_size, int(embed_dim), padding_idx=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = x.reshape(x.shape[0], -1).round().long().clamp(0, self.vocab_size - 1)
        pad = codes == 0
        pad[:, 0] = False
        return self.embed(codes), pad


def masked_pool(h: torch.Tensor, pad: torch.Tensor, pool: str) -> torch.Tensor:
    """Pool ``h`` ``(n, L, d)`` over the non-padding steps: ``mean``, ``max`` or ``meanmax``."""
    keep = (~pad).unsqueeze(-1).to(h.dtype)
    mean = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
    if pool == "mean":
        return mean
    big = torch.finfo(h.dtype).max
    mx = h.masked_fill(pad.unsqueeze(-1), -big).amax(1)
    if pool == "max":
        return mx
    return torch.cat([mean, mx], dim=1)


def _pooled_width(width: int, pool: str) -> int:
    return 2 * width if pool == "meanmax" else width


class SeqCNNNet(nn.Module):
    """Embedding, a stack of 1-D convolutions (``Conv -> norm -> act -> dropout``), pooling, linear.

    Layer ``i`` (from 0) has dilation ``dilation ** i`` (1, 2, 4 ... for 2: a WaveNet-like
    receptive field) and "same" padding; with ``residual`` the layers after the first add their
    input.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        vocab_size: int,
        embed_dim: int,
        n_layers: int,
        width: int,
        kernel: int,
        dilation: int,
        residual: bool,
        dropout: float,
        pool: str,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        _length(input_shape)
        self.inp = TokenInput(vocab_size, embed_dim)
        self.residual = bool(residual)
        self.pool = pool
        layers = []
        c_in = int(embed_dim)
        for i in range(int(n_layers)):
            d = int(dilation) ** i
            layers.append(
                nn.Sequential(
                    nn.Conv1d(c_in, int(width), int(kernel), dilation=d, padding=d * (kernel // 2)),
                    nn.BatchNorm1d(int(width)),
                    make_activation(activation),
                    nn.Dropout(float(dropout)),
                )
            )
            c_in = int(width)
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(_pooled_width(int(width), pool), int(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, pad = self.inp(x)
        h = e.transpose(1, 2)
        keep = (~pad).unsqueeze(1).to(h.dtype)
        for i, layer in enumerate(self.layers):
            # Zero the padding before each convolution so a short text reads the same whatever
            # the padded length.
            out = layer(h * keep)
            h = h + out if self.residual and i > 0 else out
        out_pooled: torch.Tensor = self.head(masked_pool(h.transpose(1, 2), pad, self.pool))
        return out_pooled


class SeqRNNNet(nn.Module):
    """Embedding, a GRU or LSTM (packed by length, optionally bidirectional), pooling, linear.

    ``pool="last"`` reads the final state of each direction (the forward one at the text's last
    token, the backward one at its first).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        vocab_size: int,
        embed_dim: int,
        cell: str,
        width: int,
        n_layers: int,
        bidirectional: bool,
        dropout: float,
        pool: str,
    ) -> None:
        super().__init__()
        _length(input_shape)
        self.inp = TokenInput(vocab_size, embed_dim)
        kind = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = kind(
            int(embed_dim),
            int(width),
            num_layers=int(n_layers),
            batch_first=True,
            bidirectional=bool(bidirectional),
            dropout=float(dropout) if n_layers > 1 else 0.0,
        )
        self.pool = pool
        self.drop = nn.Dropout(float(dropout))
        out = int(width) * (2 if bidirectional else 1)
        self.head = nn.Linear(_pooled_width(out, pool), int(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, pad = self.inp(x)
        lengths = (~pad).sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.drop(e), lengths, batch_first=True, enforce_sorted=False
        )
        seq, state = self.rnn(packed)
        if self.pool == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            n_dir = 2 if self.rnn.bidirectional else 1
            pooled = h_n[-n_dir:].transpose(0, 1).reshape(e.shape[0], -1)
        else:
            h, _ = nn.utils.rnn.pad_packed_sequence(seq, batch_first=True, total_length=e.shape[1])
            pooled = masked_pool(h, pad, self.pool)
        out: torch.Tensor = self.head(self.drop(pooled))
        return out


class _AttnBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, each with a residual; padding keys masked.

    Written out (not ``nn.TransformerEncoderLayer``) so that inference takes no fused fast
    path: torch's FLOP counter sees every product (it counts none inside the fused kernel).
    """

    def __init__(self, width: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}.")
        self.heads = int(heads)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, ff_mult * width),
            nn.GELU(),
            nn.Linear(ff_mult * width, width),
        )
        self.drop = nn.Dropout(float(dropout))

    def forward(self, h: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        n, length, width = h.shape
        q, k, v = (
            self.qkv(self.norm1(h))
            .reshape(n, length, 3, self.heads, width // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        allowed = (~pad)[:, None, None, :]
        att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        h = h + self.drop(self.proj(att.transpose(1, 2).reshape(n, length, width)))
        out: torch.Tensor = h + self.drop(self.ff(self.norm2(h)))
        return out


class SeqAttnNet(nn.Module):
    """Embedding plus learned positions, pre-norm self-attention blocks, pooling, linear."""

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        vocab_size: int,
        width: int,
        heads: int,
        n_layers: int,
        ff_mult: int,
        dropout: float,
        pool: str,
    ) -> None:
        super().__init__()
        length = _length(input_shape)
        self.inp = TokenInput(vocab_size, width)
        self.pos = nn.Parameter(torch.zeros(1, length, int(width)))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(
            _AttnBlock(int(width), int(heads), int(ff_mult), float(dropout))
            for _ in range(int(n_layers))
        )
        self.norm = nn.LayerNorm(int(width))
        self.pool = pool
        self.head = nn.Linear(_pooled_width(int(width), pool), int(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, pad = self.inp(x)
        h = e + self.pos[:, : e.shape[1]]
        for block in self.blocks:
            h = block(h, pad)
        out: torch.Tensor = self.head(masked_pool(self.norm(h), pad, self.pool))
        return out
