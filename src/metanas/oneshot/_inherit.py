"""Validation accuracy of a supernet's sub-networks with inherited weights (torch).

A sub-network of a DARTS supernet was trained inside the mixture, so its batch-norm running
statistics describe the mixture, not the sub-network alone. As in single-path one-shot NAS
(Guo et al., 2020), the statistics are recomputed for each candidate on training batches before
it is scored on the whole validation split; the supernet itself is left untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from metanas.oneshot.supernet import SpaceSuperNet
    from metanas.tasks import Task

__all__ = ["inherited_accuracy"]

#: Training samples each candidate's batch-norm statistics are recomputed on.
_CALIBRATION_SAMPLES = 1024
_BATCH = 256


def inherited_accuracy(
    supernet: SpaceSuperNet,
    task: Task,
    choices: Sequence[Sequence[int]],
    *,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Validation accuracy of each sub-network ``choice`` with the supernet's weights.

    Each candidate gets its own copy of the supernet whose batch-norm statistics are
    recomputed on the first ``_CALIBRATION_SAMPLES`` training rows (sampled mode, no
    gradients); it is then scored on all of ``task.X_valid`` in eval mode.
    """
    dev = torch.device(device)
    x_cal = torch.as_tensor(
        np.asarray(task.X_train[:_CALIBRATION_SAMPLES], dtype=np.float32), device=dev
    )
    x_val = torch.as_tensor(np.asarray(task.X_valid, dtype=np.float32), device=dev)
    y_val = torch.as_tensor(np.asarray(task.y_valid, dtype=np.int64), device=dev)
    out = []
    for choice in choices:
        net = copy.deepcopy(supernet)
        idx = [int(k) for k in choice]
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        with torch.no_grad():
            net.train()
            for xb in torch.split(x_cal, _BATCH):
                if len(xb) >= 2:
                    net(xb, idx)
            net.eval()
            correct = sum(
                int((net(xb, idx).argmax(dim=1) == yb).sum().item())
                for xb, yb in zip(
                    torch.split(x_val, _BATCH), torch.split(y_val, _BATCH), strict=True
                )
            )
        out.append(correct / max(1, len(y_val)))
    return out
