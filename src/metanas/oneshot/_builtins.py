"""The built-in one-shot methods, registered as factories so that listing them imports no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metanas.oneshot.base import OneShotSearch, register_oneshot

if TYPE_CHECKING:
    from metanas.oneshot.supernet import SpaceSuperNet
    from metanas.tasks import Task


@register_oneshot("darts")
def _darts(supernet: SpaceSuperNet, task: Task, **settings: Any) -> OneShotSearch:
    """DARTS, first order (Liu et al., 2019)."""
    from metanas.oneshot.darts import DartsSearch

    return DartsSearch(supernet, task, **{"order": 1, **settings})


@register_oneshot("darts2")
def _darts2(supernet: SpaceSuperNet, task: Task, **settings: Any) -> OneShotSearch:
    """DARTS with the unrolled second-order architecture gradient."""
    from metanas.oneshot.darts import DartsSearch

    return DartsSearch(supernet, task, **{"order": 2, **settings})


@register_oneshot("enas")
def _enas(supernet: SpaceSuperNet, task: Task, **settings: Any) -> OneShotSearch:
    """ENAS weight sharing with an LSTM controller (Pham et al., 2018)."""
    from metanas.oneshot.enas import EnasSearch

    return EnasSearch(supernet, task, **settings)
