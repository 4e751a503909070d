"""The job runner: benchmark runs one after another, or in a pool of spawned processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from metanas._progress import CountProgress
from metanas.storage.rdb import get_storage
from metanas.strategies.base import get_strategy_class
from metanas.study import Study, create_study

if TYPE_CHECKING:
    from metanas.benchmarks.tabular import TabularBenchmark


@contextmanager
def run_study(
    prefix: str,
    bench: TabularBenchmark,
    *,
    storage: str,
    strategy: str,
    seed: int,
    n_trials: int,
    **settings: Any,
) -> Iterator[Study]:
    """A new benchmark-run study of ``bench`` named ``prefix-strategy-seedN-<random>``
    (``settings``: its metric and direction), deleted afterwards when ``storage`` is in memory."""
    store = get_storage(storage)
    name = f"{prefix}-{strategy}-seed{seed}-{uuid.uuid4().hex[:12]}"
    study = create_study(
        name=name, storage=store, space=bench.space, strategy=strategy, seed=seed,
        task=bench.task_name, task_descriptors=bench.task_descriptors(),
        user_attrs={"benchmark_run": True, "n_trials": n_trials}, **settings,
    )  # fmt: skip
    try:
        yield study
    finally:
        if store.url == "sqlite://":
            store.delete_study(name)


def _job(task: tuple[Callable[..., Any], str, dict[str, Any]]) -> Any:
    # Module-level so a spawned worker can unpickle it; it first imports the module that
    # registers the strategy, so plug-in strategies work in workers too.
    import importlib

    fn, module, kwargs = task
    importlib.import_module(module)
    return fn(**kwargs)


def run_jobs(
    fn: Callable[..., Any], jobs: list[dict[str, Any]], n_jobs: int, progress: bool
) -> list[Any]:
    """``fn(**job)`` for every job, in the order of ``jobs``, serially or in ``n_jobs`` processes.

    ``fn`` must be a module-level function (workers import it by name) and every job must
    name its ``strategy``.
    """
    bar = CountProgress(progress, len(jobs), "benchmark runs")
    results: list[Any] = [None] * len(jobs)
    try:
        if n_jobs == 1:
            for i, job in enumerate(jobs):
                results[i] = fn(**job)
                bar.advance()
        else:
            import multiprocessing
            from concurrent.futures import as_completed

            # Slow strategies (TPE) first, so no worker idles at the end.
            order = sorted(range(len(jobs)), key=lambda i: jobs[i]["strategy"] != "tpe")
            with ProcessPoolExecutor(
                max_workers=min(n_jobs, len(jobs)),
                mp_context=multiprocessing.get_context("spawn"),
            ) as pool:
                futures: dict[Future[Any], int] = {}
                for i in order:
                    module = get_strategy_class(jobs[i]["strategy"]).__module__
                    futures[pool.submit(_job, (fn, module, jobs[i]))] = i
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.advance()
    finally:
        bar.close()
    return [r for r in results if r is not None]
