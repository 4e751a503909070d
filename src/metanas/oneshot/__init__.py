"""One-shot architecture search: DARTS, ENAS weight sharing, ProxylessNAS-style latency.

:func:`run_oneshot` searches a supernet of a trainable space (``"nb201"`` or
``"cnn"``), derives a discrete architecture, retrains it with
:class:`~metanas.evaluation.TrainEvaluator` and stores it as a study (so
``metanas export`` works on it). The building blocks (supernets, the searches,
the latency table) import torch and are loaded on first access.

Examples
--------
>>> from metanas._registry import available
>>> available("oneshot")
['darts', 'darts2', 'enas']

New methods subclass :class:`OneShotSearch` (search, then derive) and register with
:func:`register_oneshot`.
"""

from __future__ import annotations

from typing import Any

from metanas.models._lazy import lazy_attr
from metanas.oneshot.base import ONESHOT, OneShotSearch, make_oneshot, register_oneshot
from metanas.oneshot.run import METHODS, OneShotResult, run_oneshot

__all__ = [
    "METHODS",
    "ONESHOT",
    "OneShotSearch",
    "SpaceSuperNet",
    "make_oneshot",
    "register_oneshot",
    "ChainSuperNet",
    "Controller",
    "DartsSearch",
    "EnasSearch",
    "LatencyTable",
    "NB201SuperNet",
    "OneShotResult",
    "build_supernet",
    "default_skeleton",
    "latency_penalty",
    "measure_latency_table",
    "run_oneshot",
]

_LAZY = {
    "ChainSuperNet": "supernet",
    "NB201SuperNet": "supernet",
    "SpaceSuperNet": "supernet",
    "build_supernet": "supernet",
    "default_skeleton": "supernet",
    "DartsSearch": "darts",
    "Controller": "enas",
    "EnasSearch": "enas",
    "LatencyTable": "latency",
    "latency_penalty": "latency",
    "measure_latency_table": "latency",
}


def __getattr__(name: str) -> Any:
    return lazy_attr(__name__, _LAZY, name)
