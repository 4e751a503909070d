"""The strategy interface (ask/tell) and the registry of strategies by name."""

from __future__ import annotations

import abc
import inspect
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from metanas._registry import Registry
from metanas._rng import make_rng
from metanas.exceptions import closest
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from metanas.meta import TaskHistory

__all__ = [
    "Observation",
    "Strategy",
    "available_strategies",
    "create_strategy",
    "get_strategy_class",
    "register_strategy",
]

_logger = logging.getLogger(__name__)

# Spaces up to this many raw architectures are listed when random draws stop finding unseen ones.
_EXHAUSTIVE_LIMIT = 100_000


@dataclass(frozen=True)
class Observation:
    """What a strategy is told about one evaluated architecture.

    ``score`` is the objective oriented so that larger is better (the study
    flips the sign of minimised metrics); it is None when the trial failed or
    the study has several objectives, whose oriented values are in ``scores``.
    ``metrics`` holds the search metrics only: test metrics never reach a
    strategy. ``budget`` is the fidelity (epochs) the values were measured at
    in a scheduled study (None without a scheduler).
    """

    arch: Architecture
    score: float | None
    scores: tuple[float, ...] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    number: int = -1
    budget: float | None = None

    @property
    def failed(self) -> bool:
        return self.score is None and self.scores is None


class Strategy(abc.ABC):
    """Proposes architectures; learns only from what it is told.

    Implement :meth:`ask` and :meth:`tell`. A strategy never evaluates, stores
    or loops: the :class:`~metanas.Study` does. Draw every random number from
    ``self._rng``; the study calls :meth:`reseed` before each ask with a seed
    derived from the study seed and the trial number, so trial *n* is the same
    whether the study ran straight through or was resumed.

    A strategy's state must be rebuildable by telling it the stored history
    (:meth:`warm_start`): that is how a re-opened study continues.

    A strategy that learns from past tasks sets :attr:`uses_memory` and
    overrides :meth:`set_memory`: the study reads the experience memory and
    hands it the past tasks as plain data. No strategy sees the storage.
    """

    #: True when the strategy handles several objectives (``Observation.scores``).
    multi_objective: ClassVar[bool] = False
    #: True when the strategy learns from past tasks: the study then reads the experience
    #: memory (``create_study(memory=...)``) and calls :meth:`set_memory` before any tell.
    uses_memory: ClassVar[bool] = False
    registered_name: ClassVar[str | None] = None

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"A strategy needs a metanas SearchSpace; got {type(space).__name__}.")
        self.space = space
        self.seed = seed
        self._rng: np.random.Generator = make_rng(seed)
        self._seen: set[Hashable] = set()
        # Every architecture of the space was seen: draws repeat from now on (seen only grows).
        self._exhausted = False

    @abc.abstractmethod
    def ask(self) -> Architecture:
        """Return the next architecture to evaluate."""

    @abc.abstractmethod
    def tell(self, obs: Observation) -> None:
        """Record the outcome of evaluating ``obs.arch``."""

    def warm_start(self, history: Sequence[Observation]) -> None:
        """Tell the strategy a history, in order (resume, or seeding from past results)."""
        for obs in history:
            self.tell(obs)

    def tell_intermediate(self, obs: Observation) -> None:
        """Record one segment's result of a scheduled trial (``obs.budget`` set).

        A scheduled study calls this at every rung a trial reaches, and :meth:`tell` each
        time the trial settles (COMPLETE, PRUNED or FAILED): twice for a trial the scheduler
        stopped and later promoted (ASHA's ``promote_stopped``), the second time with the
        same ``obs.number`` and the higher budget's result, which should replace the first
        (``bo`` and ``evolution`` do). A resumed study replays both calls in the order they
        were made. A strategy that models each fidelity (BOHB-style) overrides this; the
        default ignores it.
        """
        return

    def set_memory(
        self,
        past: Mapping[str, TaskHistory],
        *,
        descriptors: Mapping[str, Any] | None = None,
        task: str | None = None,
    ) -> None:
        """Learn from past tasks: ``{task name: TaskHistory}`` of this space and the study's metric.

        A study whose strategy has :attr:`uses_memory` calls this once, before
        replaying its history (:meth:`warm_start`), with every stored task but
        its own (``ExperienceMemory.memory_for``), ``descriptors`` of the
        study's own task and ``task``, its name. Call it directly to drive a
        strategy by hand. The default ignores the memory.
        """
        return

    def reseed(self, seed: int) -> None:
        """Replace the random generator (the study does this before each ask)."""
        self._rng = make_rng(seed)

    # ----------------------------------------------------------- helpers
    def mark_seen(self, arch: Architecture) -> None:
        """Remember ``arch`` (by the space's identity key) as asked or evaluated."""
        self._seen.add(self.space.key(arch))

    def is_seen(self, arch: Architecture) -> bool:
        return self.space.key(arch) in self._seen

    def sample_unseen(self, tries: int = 200) -> Architecture:
        """A random architecture not yet seen; a seen one only when none is left.

        After ``tries`` random draws that all hit seen architectures, a space of
        at most 100,000 raw architectures is listed and an unseen one drawn
        from what is left, so a nearly exhausted small space is still covered
        without repeats. When none is left, a warning says so (once), and from
        then on each call is one plain draw, a repeat.
        """
        if self._exhausted:
            return self.space.sample(self._rng)
        start = self._rng.bit_generator.state
        arch = self.space.sample(self._rng)
        for _ in range(tries):
            if not self.is_seen(arch):
                return arch
            arch = self.space.sample(self._rng)
        if self.space.n_raw <= _EXHAUSTIVE_LIMIT:
            every = list(self.space.enumerate())
            left = [a for a in every if not self.is_seen(a)]
            if left:
                return left[int(self._rng.integers(len(left)))]
            self._exhausted = True
            _logger.warning(
                "The space %s has %d architectures and all were evaluated; further trials "
                "repeat them.",
                self.space.name, len({self.space.key(a) for a in every}),
            )  # fmt: skip
            # The repeat is the first draw, as on the fast path above: the answer must not
            # depend on whether this object had already found the space exhausted (a
            # resumed strategy finds it out again), or resuming would change the trials.
            self._rng.bit_generator.state = start
            return self.space.sample(self._rng)
        return arch

    def get_settings(self) -> dict[str, Any]:
        """The constructor settings (besides space and seed), to rebuild the strategy."""
        out: dict[str, Any] = {}
        for name, p in inspect.signature(type(self).__init__).parameters.items():
            if name in ("self", "space", "seed") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            out[name] = getattr(self, name, p.default)
        return out

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_settings().items())
        return f"{type(self).__name__}({settings})"


def _check_strategy(cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"register_strategy needs a Strategy subclass; got {cls!r}.")


STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy",
    builtins="metanas.strategies",
    check=_check_strategy,
    fix="Pass one of these, or register your own with @metanas.register_strategy.",
)


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: make a strategy available by ``name``.

    Examples
    --------
    >>> @register_strategy("my-first")
    ... class FirstChoice(Strategy):
    ...     def ask(self):
    ...         return self.space.sample(self._rng)
    ...     def tell(self, obs):
    ...         pass
    >>> "my-first" in available_strategies()
    True
    """
    return STRATEGIES.register(name)


def available_strategies() -> list[str]:
    """Names of the registered strategies (``available("strategy")``)."""
    return STRATEGIES.names()


def get_strategy_class(name: str) -> type[Strategy]:
    return STRATEGIES.get(name)


def create_strategy(
    name: str | Strategy, space: SearchSpace, *, seed: int | None = None, **settings: Any
) -> Strategy:
    """Build a strategy by registered name (or return an instance as is)."""
    if isinstance(name, Strategy):
        if settings:
            raise ValueError("strategy settings only go with a strategy name, not an instance.")
        return name
    cls = get_strategy_class(name)
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    allowed = [k for k in params if k not in ("self", "space", "seed")]
    for key in settings:
        if key not in params and not accepts_any:
            raise ValueError(
                f"Strategy {name!r} has no setting {key!r}.{closest(key, allowed)} "
                f"Its settings: {allowed!r}."
            )
    return cls(space, seed=seed, **settings)
