"""Schedulers: how much budget each trial gets (successive halving, ASHA, Hyperband, median)."""

from metanas.schedulers.asha import ASHAScheduler
from metanas.schedulers.base import (
    Decision,
    Scheduler,
    available_schedulers,
    create_scheduler,
    geometric_rungs,
    get_scheduler_class,
    register_scheduler,
)
from metanas.schedulers.curve import CurveScheduler
from metanas.schedulers.hyperband import HyperbandScheduler
from metanas.schedulers.median import MedianScheduler
from metanas.schedulers.sh import SuccessiveHalvingScheduler

__all__ = [
    "ASHAScheduler",
    "CurveScheduler",
    "Decision",
    "HyperbandScheduler",
    "MedianScheduler",
    "Scheduler",
    "SuccessiveHalvingScheduler",
    "available_schedulers",
    "create_scheduler",
    "geometric_rungs",
    "get_scheduler_class",
    "register_scheduler",
]
