"""Store a finished one-shot or few-shot run as a study: one COMPLETE trial and its records.

A run is not a search to go on: the study's strategy is the method's real name (``"darts"``,
``"maml"``) and its user attribute ``"stored_run"`` (``{"kind": ..., "method": ...}``) makes
:func:`metanas.study.load_study` open it read-only, so ``optimize()`` explains what to run
instead. Written through the storage API only (no strategy, no study loop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from metanas._json import jsonable
from metanas.trial import TrialState

if TYPE_CHECKING:
    from metanas.spaces.architecture import Architecture
    from metanas.spaces.base import SearchSpace
    from metanas.storage.rdb import RDBStorage

__all__ = ["STORED_RUN_KEY", "stored_run_hint", "store_run"]

#: The study user attribute that marks a stored run.
STORED_RUN_KEY = "stored_run"

_VERBS = {"oneshot": ("one-shot", "metanas oneshot"), "fewshot": ("few-shot", "metanas fewshot")}


def stored_run_hint(name: str, run: Mapping[str, Any]) -> str:
    """The message for a study made by a run: what made it and what to run instead."""
    label, command = _VERBS.get(str(run.get("kind")), ("stored", "metanas"))
    return (
        f"Study {name!r} was made by {label} method {run.get('method')!r}; it holds the run's "
        f"result, not a search to go on. Run `{command} ...` again instead (with another "
        "--study name)."
    )


def store_run(
    *,
    storage: str | RDBStorage | None,
    name: str,
    kind: str,
    method: str,
    task: str,
    task_descriptors: Mapping[str, Any],
    space: SearchSpace,
    arch: Architecture,
    settings: Mapping[str, Any],
    seed: int,
    objective: tuple[str, str],
    metrics: Mapping[str, float],
    test_metrics: Mapping[str, float] | None = None,
    cost_s: float | None = None,
    user_attrs: Mapping[str, Any] | None = None,
) -> str:
    """Create study ``name`` with strategy ``method`` and ``arch`` as its one finished trial.

    The trial is COMPLETE when the objective metric is a finite number, FAILED otherwise.
    Returns the study's name.

    Raises
    ------
    DuplicatedStudyError
        A study called ``name`` exists already.
    """
    from metanas.storage.rdb import get_storage

    store = get_storage(storage)
    task_record = store.get_or_create_task(task, jsonable(dict(task_descriptors)))
    attrs = {
        **jsonable(dict(user_attrs or {})),
        STORED_RUN_KEY: {"kind": kind, "method": method},
    }
    record = store.create_study(
        name=name, task=task_record, space=space.to_config(), strategy=method,
        strategy_settings=jsonable(dict(settings)), objectives=[objective], seed=seed,
        user_attrs=attrs,
    )  # fmt: skip
    trial = store.add_trial(record.id, arch, state=TrialState.RUNNING, seed=seed)
    value = metrics.get(objective[0])
    ok = isinstance(value, int | float) and math.isfinite(float(value))
    store.finish_trial(
        trial,
        TrialState.COMPLETE if ok else TrialState.FAILED,
        metrics=metrics,
        test_metrics=test_metrics,
        values=[float(value)] if ok and value is not None else None,
        cost_s=cost_s,
        error=None if ok else f"objective {objective[0]!r} is {value!r} (not a finite number)",
    )
    return record.name
