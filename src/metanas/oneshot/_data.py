"""Seeded mini-batches of a task's splits for the one-shot searches (torch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from metanas.tasks import Task


class SplitBatches:
    """Shuffled mini-batches of one split, drawn forever, reshuffled after each pass.

    Batches of one sample are dropped (batch norm needs two).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        if len(X) < 2:
            raise ValueError(
                f"A one-shot search needs at least 2 samples per split; got {len(X)}. "
                "Give the task more data or a larger validation split."
            )
        self.X = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
        self.batch_size = min(batch_size, len(self.X))
        self.generator = generator
        self.device = device
        self._it: Iterator[torch.Tensor] = iter(())

    def __len__(self) -> int:
        """Batches per pass."""
        return max(1, len(self.X) // self.batch_size)

    def _epoch(self) -> Iterator[torch.Tensor]:
        perm = torch.randperm(len(self.X), generator=self.generator).to(self.device)
        for idx in torch.split(perm, self.batch_size):
            if len(idx) >= 2:
                yield idx

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch ``(X, y)``."""
        idx = next(self._it, None)
        if idx is None:
            self._it = self._epoch()
            idx = next(self._it)
        return self.X[idx], self.y[idx]


def task_batches(
    task: Task, *, batch_size: int, seed: int, device: torch.device
) -> tuple[SplitBatches, SplitBatches]:
    """Train and validation batches of ``task`` with independent seeded generators."""
    from metanas._rng import derive_seed

    train = SplitBatches(
        task.X_train, task.y_train, batch_size=batch_size,
        generator=torch.Generator().manual_seed(derive_seed(seed, 1)), device=device,
    )  # fmt: skip
    valid = SplitBatches(
        task.X_valid, task.y_valid, batch_size=batch_size,
        generator=torch.Generator().manual_seed(derive_seed(seed, 2)), device=device,
    )  # fmt: skip
    return train, valid


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose argmax is the label."""
    return float((logits.argmax(dim=1) == y).float().mean().item())
