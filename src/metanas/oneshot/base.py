"""The one-shot method interface (search, then derive) and its registry.

A one-shot method trains a supernet (:class:`~metanas.oneshot.SpaceSuperNet`) on a task and
derives one discrete architecture from it. :func:`~metanas.oneshot.run_oneshot` looks methods up
by name in :data:`ONESHOT`; ``available("oneshot")`` lists them. This module imports no torch:
the built-in entries are small factories that import their method on first call, so the CLI can
list them at start-up.

Examples
--------
>>> from metanas._registry import available
>>> available("oneshot")
['darts', 'darts2', 'enas']
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from metanas._registry import Registry

if TYPE_CHECKING:
    from metanas.oneshot.latency import LatencyTable
    from metanas.oneshot.supernet import SpaceSuperNet
    from metanas.spaces.architecture import Architecture
    from metanas.tasks import Task

__all__ = ["ONESHOT", "OneShotSearch", "make_oneshot", "register_oneshot"]


class OneShotSearch(abc.ABC):
    """A one-shot method: :meth:`fit` searches the supernet, :meth:`derive` picks the network.

    Subclasses implement :meth:`_search_epoch`, :meth:`derive` and :meth:`get_settings`;
    :meth:`fit` keeps :attr:`history` (one row per epoch) and :attr:`arch_history` (the
    architecture weights per decision after each epoch, see :meth:`arch_weights`).

    Attributes
    ----------
    supernet, task
        What is searched, and on which task.
    latency, max_latency_ms, latency_weight, latency_target_ms
        The latency table, limit, penalty weight and the table estimate a derivation aims at
        (the limit unless a caller lowered it).
    """

    #: Latency penalty weight when none is given.
    default_latency_weight: ClassVar[float] = 0.05

    supernet: SpaceSuperNet
    task: Task
    latency: LatencyTable | None
    max_latency_ms: float | None
    latency_weight: float
    latency_target_ms: float | None

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.arch_history: list[dict[str, dict[str, float]]] = []

    def fit(self, epochs: int) -> list[dict[str, float]]:
        """Search for ``epochs`` epochs; returns (and appends to :attr:`history`) one row each."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an int >= 1; got {epochs!r}.")
        rows = []
        for epoch in range(epochs):
            row = {"epoch": float(len(self.history) + 1), **self._search_epoch(epoch, epochs)}
            self.history.append(row)
            self.arch_history.append(self.arch_weights())
            rows.append(row)
        return rows

    @abc.abstractmethod
    def _search_epoch(self, epoch: int, n_epochs: int) -> dict[str, float]:
        """Search one epoch (``epoch`` of ``n_epochs`` in this :meth:`fit`); its metrics."""

    @abc.abstractmethod
    def derive(self) -> Architecture:
        """The discrete architecture the search settles on (validated by the space)."""

    @abc.abstractmethod
    def get_settings(self) -> dict[str, Any]:
        """The search settings (JSON-able), for the study's records."""

    def arch_weights(self) -> dict[str, dict[str, float]]:
        """``{decision: {operation: weight}}``: the probability of each allowed candidate."""
        return self.supernet.weights_dict()

    def alphas(self) -> dict[str, dict[str, float]]:
        """``{decision: {operation: value}}``: the method's own architecture parameters."""
        return self.supernet.alphas_dict()


def _check_method(obj: object) -> None:
    if not callable(obj):
        raise TypeError(
            f"register_oneshot needs a OneShotSearch subclass or a factory "
            f"(supernet, task, **settings) -> OneShotSearch; got {obj!r}."
        )


ONESHOT: Registry[Callable[..., OneShotSearch]] = Registry(
    "oneshot",
    label="one-shot method",
    builtins="metanas.oneshot._builtins",
    check=_check_method,
    fix="Register one with @metanas.oneshot.register_oneshot(name).",
)


def register_oneshot(
    name: str,
) -> Callable[[Callable[..., OneShotSearch]], Callable[..., OneShotSearch]]:
    """Decorator: make a one-shot method available to :func:`run_oneshot` as ``name``.

    The decorated object is a :class:`OneShotSearch` subclass or a factory called as
    ``factory(supernet, task, **settings)``.
    """
    return ONESHOT.register(name)


def make_oneshot(name: str, supernet: SpaceSuperNet, task: Task, **settings: Any) -> OneShotSearch:
    """The one-shot method ``name`` on ``supernet`` and ``task`` (``settings`` to its class)."""
    search = ONESHOT.get(name)(supernet, task, **settings)
    if not isinstance(search, OneShotSearch):
        raise TypeError(
            f"One-shot method {name!r} made a {type(search).__name__}, not a OneShotSearch."
        )
    return search
