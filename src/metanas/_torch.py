"""PyTorch is an optional extra: one place that imports it or says how to install it.

It also holds the thread policy of everything that trains (:data:`DEFAULT_THREADS`):
each evaluation runs with one torch intra-op thread unless ``threads=`` (CLI
``--threads``) says otherwise, and every worker of ``n_jobs > 1`` gets its own. Torch's
own default, one thread per core, makes training up to 50x slower as soon as another
process keeps one core busy (each step waits for the slowest thread); the small networks
of a search gain little from a second thread even on an idle machine
(``benchmarks/threads.py``, docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "DEFAULT_THREADS",
    "THREADS_HELP",
    "check_device",
    "check_threads",
    "require_torch",
    "torch_threads",
]

#: torch intra-op threads per evaluation (per worker with ``n_jobs > 1``) unless told otherwise.
DEFAULT_THREADS = 1
#: What ``threads=`` means, for docstrings and ``--threads`` help.
THREADS_HELP = (
    "Torch CPU threads per trained network (per worker with --n-jobs); default 1, which "
    "never oversubscribes a shared machine. Raise it on an idle machine with big networks."
)

_UNSET: Any = object()


def check_threads(
    threads: int | None, n_threads: Any = _UNSET, *, owner: str, allow_none: bool = True
) -> int | None:
    """``threads`` checked (an int >= 1, or None: leave torch's setting), or the value of
    the deprecated ``n_threads=`` of ``owner`` (a FutureWarning) when that was passed.

    Raises
    ------
    ValueError
        A count that is not an int >= 1 (or None where ``allow_none``), or both spellings.
    """
    if n_threads is not _UNSET:
        if threads != DEFAULT_THREADS:
            raise ValueError(
                f"{owner} got threads={threads!r} and its old spelling n_threads={n_threads!r}; "
                "pass only threads=."
            )
        warnings.warn(
            f"{owner}(n_threads=...) is deprecated; pass threads=... (the same meaning).",
            FutureWarning,
            stacklevel=3,
        )
        threads = n_threads
    if threads is None and allow_none:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        none = " or None (torch's own setting)" if allow_none else ""
        raise ValueError(
            f"threads must be an int >= 1{none}; got {threads!r}. Pass threads=1 (the default) "
            "or the cores this job may use."
        )
    return threads


def require_torch(purpose: str) -> Any:
    """Import and return ``torch``; without it, an ImportError naming ``purpose`` and the fix."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'{purpose} needs PyTorch; install it with pip install "metanas[torch]".'
        ) from exc
    return torch


def check_device(device: str) -> None:
    """Fail once, before any training, when ``device`` names a GPU this torch cannot use.

    ``"auto"`` and ``"cpu"`` always pass; ``"cuda"``/``"cuda:N"`` need
    ``torch.cuda.is_available()`` (a CUDA build of torch and a visible GPU) and GPU ``N``.

    Raises
    ------
    ValueError
        The device cannot be used here; the message says why and what to pass instead.
    """
    if not str(device).startswith("cuda"):
        return
    torch = require_torch("Training on a GPU")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no visible GPU"
        raise ValueError(
            f"device {device!r} needs a CUDA GPU, but this torch ({torch.__version__}) has "
            f"{build}. Pass --device cpu (device='cpu') or auto, or install a CUDA build of torch."
        )
    _, _, index = str(device).partition(":")
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ValueError(
            f"device {device!r} names no GPU of this machine; it has "
            f"{torch.cuda.device_count()} (cuda:0 .. cuda:{torch.cuda.device_count() - 1})."
        )


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the caller's count.

    None, or the count already in force, leaves torch untouched.
    """
    if n is None:
        yield
        return
    torch = require_torch("Setting torch's thread count")
    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
