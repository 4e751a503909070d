"""Trials: immutable records of one architecture's evaluation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from metanas.spaces.architecture import Architecture

__all__ = ["Trial", "TrialState"]


class TrialState(StrEnum):
    """Life cycle of a trial: WAITING (enqueued) -> RUNNING -> COMPLETE, PRUNED or FAILED.

    PRUNED: a scheduler stopped the trial below the full budget; its metrics are those of
    the last budget it reached (:attr:`Trial.budget`).
    """

    WAITING = "waiting"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)


@dataclass(frozen=True)
class Trial:
    """One evaluation of one architecture, as stored.

    ``values`` are the raw values of the study's objective metrics (None
    unless COMPLETE or PRUNED); ``metrics`` the search metrics, ``test_metrics``
    the report-only ones. ``budget`` is the fidelity (epochs) they were measured
    at in a scheduled study (None without a scheduler); ``cost_s`` then sums
    the trial's segments.
    """

    number: int
    state: TrialState
    arch: Architecture
    metrics: Mapping[str, float] = field(default_factory=dict)
    test_metrics: Mapping[str, float] = field(default_factory=dict)
    values: tuple[float, ...] | None = None
    cost_s: float | None = None
    seed: int | None = None
    error: str | None = None
    worker: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    id: int | None = None
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    budget: float | None = None

    @property
    def value(self) -> float | None:
        """The first objective's value (None unless COMPLETE)."""
        return None if self.values is None else self.values[0]

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
