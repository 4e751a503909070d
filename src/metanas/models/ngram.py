"""A fastText-style network: hashed character n-gram embeddings, averaged, then a small MLP.

Inputs are the code sequences of :meth:`metanas.tasks.Task.from_texts` (``(n, 1, L)`` or
``(n, L)``, 0 for padding, codes rounded and clipped into the vocabulary as in
:mod:`metanas.models.sequence`). The network forms every n-gram of ``min_n`` .. ``max_n``
codes of a text (with a begin and an end marker around it when ``boundary`` is set, as
fastText's ``<`` and ``>``), hashes each into one of ``buckets`` rows of an embedding table,
averages the rows and classifies the average. The hashing is part of the forward pass, so the
tasks' tensors stay the plain code sequences every sequence space reads.

References
----------
Bojanowski, Grave, Joulin, Mikolov. "Enriching Word Vectors with Subword Information", TACL 2017.
Joulin, Grave, Bojanowski, Mikolov. "Bag of Tricks for Efficient Text Classification", EACL 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metanas.models.ops import make_activation
from metanas.models.sequence import _length

__all__ = ["HashedNgramNet", "ngram_ids"]

#: A prime below 2**31: the rolling hash stays exact in int64 for any vocabulary below 2**32.
_PRIME = 2_147_483_647


def ngram_ids(
    codes: torch.Tensor,
    *,
    vocab_size: int,
    min_n: int,
    max_n: int,
    buckets: int,
    boundary: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hashed n-gram ids ``(n, m)`` of integer ``codes`` ``(n, L)`` and their validity mask.

    A text is its codes up to its length (the number of non-zero codes); with ``boundary`` the
    code ``vocab_size`` is put before it and ``vocab_size + 1`` after it. The n-gram of order
    ``k`` starting at position ``i`` is valid when it ends inside the (marked) text; its id is
    a rolling hash of ``k`` and its codes modulo a prime, then modulo ``buckets``. Every row
    has at least one valid n-gram of order ``min_n`` when the text (with markers) is that long;
    a row with none pools to zeros.
    """
    n, length = codes.shape
    lens = (codes > 0).sum(1)
    if boundary:
        seq = torch.zeros(n, length + 2, dtype=torch.long, device=codes.device)
        seq[:, 0] = vocab_size
        seq[:, 1 : length + 1] = codes
        seq[torch.arange(n, device=codes.device), lens + 1] = vocab_size + 1
        last = lens + 1  # index of the final code of the marked text
    else:
        seq = codes
        last = lens - 1
    total = seq.shape[1]
    base = vocab_size + 2
    ids: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    for k in range(min_n, max_n + 1):
        m = total - k + 1
        if m < 1:
            continue
        h = torch.full((n, m), k, dtype=torch.long, device=codes.device)
        for j in range(k):
            h = (h * base + seq[:, j : j + m]) % _PRIME
        start = torch.arange(m, device=codes.device)
        masks.append(start[None, :] + (k - 1) <= last[:, None])
        ids.append(h % buckets)
    if not ids:
        empty = torch.zeros(n, 1, dtype=torch.long, device=codes.device)
        return empty, torch.zeros(n, 1, dtype=torch.bool, device=codes.device)
    return torch.cat(ids, 1), torch.cat(masks, 1)


class HashedNgramNet(nn.Module):
    """Mean of hashed n-gram embeddings, dropout, an optional hidden layer, a linear classifier.

    ``hidden=0`` is fastText's linear classifier over the averaged embeddings; ``hidden > 0``
    adds one ``Linear -> activation -> dropout`` layer of that width.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        vocab_size: int,
        min_n: int,
        max_n: int,
        buckets: int,
        embed_dim: int,
        hidden: int,
        dropout: float,
        boundary: bool,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        _length(input_shape)
        if not 1 <= int(min_n) <= int(max_n):
            raise ValueError(
                f"min_n and max_n must satisfy 1 <= min_n <= max_n; got min_n={min_n}, "
                f"max_n={max_n}."
            )
        self.vocab_size = int(vocab_size)
        self.min_n, self.max_n = int(min_n), int(max_n)
        self.buckets = int(buckets)
        self.boundary = bool(boundary)
        self.embed = nn.Embedding(self.buckets, int(embed_dim))
        # fastText's input initialisation: small uniform rows, so the average starts near zero.
        nn.init.uniform_(self.embed.weight, -1.0 / int(embed_dim), 1.0 / int(embed_dim))
        layers: list[nn.Module] = [nn.Dropout(float(dropout))]
        width = int(embed_dim)
        if int(hidden) > 0:
            layers += [
                nn.Linear(width, int(hidden)),
                make_activation(activation),
                nn.Dropout(float(dropout)),
            ]
            width = int(hidden)
        layers.append(nn.Linear(width, int(n_classes)))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = x.reshape(x.shape[0], -1).round().long().clamp(0, self.vocab_size - 1)
        ids, mask = ngram_ids(
            codes,
            vocab_size=self.vocab_size,
            min_n=self.min_n,
            max_n=self.max_n,
            buckets=self.buckets,
            boundary=self.boundary,
        )
        keep = mask.unsqueeze(-1).to(self.embed.weight.dtype)
        pooled = (self.embed(ids) * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        out: torch.Tensor = self.head(pooled)
        return out
