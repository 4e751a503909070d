"""Schedulers: how much budget each trial gets (successive halving, ASHA, Hyperband, median)."""

from metanas.schedulers.base import (
    Decision,
    Scheduler,
    available_schedulers,
    create_scheduler,
    geometric_rungs,
    get_scheduler_class,
    register_scheduler,
)

__all__ = [
    "Decision",
    "Scheduler",
    "available_schedulers",
    "create_scheduler",
    "geometric_rungs",
    "get_scheduler_class",
    "register_scheduler",
]
