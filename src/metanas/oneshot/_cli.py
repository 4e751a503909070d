"""``metanas search --strategy darts|darts2|enas --data ...``: the CLI side of one-shot search."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ONESHOT_STRATEGIES", "search_oneshot"]

#: ``--strategy`` values that run a one-shot search (method of :func:`run_oneshot`).
ONESHOT_STRATEGIES = ("darts", "darts2", "enas")
_ONESHOT_SPACES = ("nb201", "cnn")
_DEFAULT_EPOCHS = 6


def search_oneshot(
    *,
    data: str,
    strategy: str,
    space: str | None = None,
    target: str | None = None,
    epochs: int | None = None,
    retrain_epochs: int | None = None,
    seed: int | None = None,
    max_latency_ms: float | None = None,
    url: str | None = None,
    study_name: str | None = None,
    device: str = "cpu",
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a one-shot search on ``data`` and return the CLI's search summary.

    The summary has the keys of the other ``metanas search`` summaries
    (``study``, ``best`` with ``arch``, ``metrics`` and ``test_metrics``,
    ``wall_time_s``, ...) plus ``oneshot``: method, search and retraining
    seconds, measured latency, the limit and whether it is met, the final
    architecture parameters. ``settings`` (``--strategy-setting``) go to the
    search (:class:`~metanas.oneshot.DartsSearch` / ``EnasSearch``).

    Raises
    ------
    ValueError
        An unknown strategy, or a space without a supernet.
    """
    from metanas.cli import _DEFAULT_SEED, _search_summary
    from metanas.oneshot.run import run_oneshot
    from metanas.study import load_study
    from metanas.tasks import load_task

    if strategy not in ONESHOT_STRATEGIES:
        raise ValueError(
            f"--strategy {strategy!r} is not a one-shot method; use one of "
            f"{list(ONESHOT_STRATEGIES)!r}."
        )
    space = space or "cnn"
    if space not in _ONESHOT_SPACES:
        raise ValueError(
            f"--strategy {strategy} searches a supernet of --space nb201 or cnn; got {space!r}. "
            "Search other spaces with a black-box strategy such as evolution."
        )
    the_seed = _DEFAULT_SEED if seed is None else seed
    task = load_task(data, target=target, seed=the_seed)
    start = time.perf_counter()
    result = run_oneshot(
        task, space, strategy, epochs=epochs or _DEFAULT_EPOCHS, seed=the_seed,
        max_latency_ms=max_latency_ms, storage=url, study_name=study_name,
        retrain_epochs=retrain_epochs, search_settings=settings, device=device,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    study = load_study(result.study_name, storage=url)
    from metanas.storage.rdb import default_storage_url

    summary = _search_summary(study, None, url or default_storage_url(), 1, False, 1, wall_s)
    summary["strategy"] = strategy
    summary["data"] = task.summary()
    summary["hardware"] = study.user_attrs.get("hardware")
    summary["oneshot"] = {
        "method": result.method,
        "arch": result.arch_string,
        "search_s": result.search_s,
        "retrain_s": result.retrain_s,
        "latency_ms": result.latency_ms,
        "estimated_latency_ms": result.estimated_latency_ms,
        "max_latency_ms": result.max_latency_ms,
        "meets_limit": result.meets_limit,
        "latency_weight": result.latency_weight,
        "alphas": result.alphas,
    }
    return summary
