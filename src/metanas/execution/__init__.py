"""Where evaluations run: ``Executor.submit(arch, budget) -> Future[Result]``.

Built-in executors: ``"inprocess"`` (the default, one evaluation at a time in this process),
``"local"`` (a process pool, what ``n_jobs > 1`` builds) and ``"ray"`` (Ray tasks on a local
or remote cluster; ``pip install "metanas[ray]"``). List them with
``metanas._registry.available("executor")``; add one with :func:`register_executor`.
"""

from __future__ import annotations

from metanas.execution.base import (
    Executor,
    create_executor,
    get_executor_class,
    register_executor,
)
from metanas.execution.inprocess import InProcessExecutor
from metanas.execution.local import LocalExecutor, MainGuardError, resolve_n_jobs
from metanas.execution.ray import RayExecutor

__all__ = [
    "Executor",
    "InProcessExecutor",
    "LocalExecutor",
    "MainGuardError",
    "RayExecutor",
    "create_executor",
    "get_executor_class",
    "register_executor",
    "resolve_n_jobs",
]
