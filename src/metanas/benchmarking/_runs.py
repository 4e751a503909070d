"""What the regret and the Pareto comparison share: a list of runs over data sets, strategies
and seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from metanas.benchmarking import _validate as v

__all__ = ["BudgetAlias", "RunSet"]


class _Run(Protocol):
    @property
    def dataset(self) -> str: ...
    @property
    def strategy(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def n_trials(self) -> int: ...


R = TypeVar("R", bound=_Run)


class BudgetAlias:
    """Mixin: ``budget``, the deprecated name of an ``n_trials`` attribute (a FutureWarning)."""

    if TYPE_CHECKING:  # a dataclass field or a property of the class that mixes this in

        @property
        def n_trials(self) -> int: ...

    @property
    def budget(self) -> int:
        """Deprecated name of :attr:`n_trials`."""
        v.deprecated_budget()
        return self.n_trials


class RunSet(BudgetAlias, Generic[R]):
    """Mixin of a comparison dataclass with a ``runs`` field: the runs by data set and strategy."""

    runs: list[R]

    @property
    def datasets(self) -> list[str]:
        """The data sets of the runs, in the order they first appear."""
        return list(dict.fromkeys(r.dataset for r in self.runs))

    @property
    def strategies(self) -> list[str]:
        """The strategies of the runs, in the order they first appear."""
        return list(dict.fromkeys(r.strategy for r in self.runs))

    @property
    def n_trials(self) -> int:
        """The smallest number of queries of the runs (curves are compared up to it)."""
        return min(r.n_trials for r in self.runs)

    def select(self, dataset: str, strategy: str) -> list[R]:
        """The runs of one strategy on one data set, by seed."""
        return sorted(
            (r for r in self.runs if r.dataset == dataset and r.strategy == strategy),
            key=lambda r: r.seed,
        )
