"""The scheduler interface: how much budget (epochs) each trial gets, decided rung by rung.

A strategy proposes architectures; a scheduler decides how far each one trains. The study
submits a new trial's first segment at :meth:`Scheduler.first_budget`, hands every segment's
score to :meth:`Scheduler.on_result` and follows the :class:`Decision` it gets back: train on to
the next budget, stop (the trial becomes PRUNED), wait for its cohort (synchronous successive
halving) or finish (the trial reached ``max_budget``). A scheduler never evaluates, stores or
loops, and sees no storage: past tasks' learning curves reach it as plain data through
:meth:`Scheduler.set_memory`.
"""

from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from metanas._registry import Registry
from metanas._rng import make_rng
from metanas.exceptions import closest

__all__ = [
    "Decision",
    "Scheduler",
    "available_schedulers",
    "create_scheduler",
    "geometric_rungs",
    "get_scheduler_class",
    "register_scheduler",
]


class Decision(StrEnum):
    """What happens to a trial after one segment's result."""

    #: Train on to the next budget (resumed from the checkpoint where the evaluator can).
    CONTINUE = "continue"
    #: Stop here: the trial becomes PRUNED with the metrics of this budget.
    STOP = "stop"
    #: Keep the trial open without a worker until :meth:`Scheduler.next_promotion` names it.
    PAUSE = "pause"
    #: The trial reached ``max_budget``: it is COMPLETE.
    COMPLETE = "complete"


def _check_budget(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a number > 0 (epochs); got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return float(value)


def geometric_rungs(min_budget: float, max_budget: float, eta: float) -> tuple[float, ...]:
    """``min_budget * eta**k`` below ``max_budget``, then ``max_budget`` itself.

    When ``min_budget`` is a whole number the rungs are rounded to whole epochs (the trainer
    and the task-family table train whole epochs); a rung that rounds onto the one before it
    is dropped.

    Examples
    --------
    >>> geometric_rungs(1, 27, 3)
    (1.0, 3.0, 9.0, 27.0)
    >>> geometric_rungs(1, 20, 3)
    (1.0, 3.0, 9.0, 20.0)
    >>> geometric_rungs(0.5, 2, 2)
    (0.5, 1.0, 2.0)
    """
    whole = float(min_budget).is_integer()
    rungs: list[float] = []
    k = 0
    while True:
        b = min_budget * eta**k
        if whole:
            b = float(round(b))
        if b >= max_budget * (1 - 1e-9):
            break
        if not rungs or b > rungs[-1]:
            rungs.append(b)
        k += 1
    rungs.append(float(max_budget))
    return tuple(rungs)


class Scheduler(abc.ABC):
    """Decides, rung by rung, whether a trial trains on. One method to implement: :meth:`on_result`.

    Scores are oriented larger-is-better (the study flips minimised metrics); ``None`` is a
    failed segment. A scheduler must be deterministic given its seed and the order of the
    calls it receives: a resumed study replays its stored events (each ``on_result`` and each
    promotion taken) into a fresh scheduler and expects the same decisions.

    Parameters
    ----------
    min_budget
        Budget (epochs) of the first rung.
    max_budget
        Budget of a fully trained trial; the last rung.
    eta
        Reduction factor: about ``1/eta`` of the trials at a rung reach the next one, and rungs
        are ``eta`` times apart.
    seed
        Seed of the scheduler's own random choices (Hyperband's brackets); None: fresh entropy.
    """

    registered_name: ClassVar[str | None] = None
    #: True when the scheduler learns from past tasks' learning curves (:meth:`set_memory`).
    uses_memory: ClassVar[bool] = False

    def __init__(
        self,
        *,
        min_budget: float = 1,
        max_budget: float,
        eta: float = 3,
        seed: int | None = None,
        **settings: Any,
    ) -> None:
        if settings:
            key = next(iter(settings))
            names = self._setting_names()
            raise ValueError(
                f"{type(self).__name__} has no setting {key!r}.{closest(key, names)} "
                f"Its settings: {names!r}."
            )
        self.min_budget = _check_budget("min_budget", min_budget)
        self.max_budget = _check_budget("max_budget", max_budget)
        if self.min_budget > self.max_budget:
            raise ValueError(
                f"min_budget must be <= max_budget; got min_budget={min_budget!r}, "
                f"max_budget={max_budget!r}. Lower min_budget or raise max_budget."
            )
        if isinstance(eta, bool) or not isinstance(eta, int | float) or not eta > 1:
            raise ValueError(f"eta must be a number > 1 (e.g. 3); got {eta!r}.")
        self.eta = float(eta)
        self.seed = seed
        self._rng = make_rng(seed)

    @property
    def rungs(self) -> tuple[float, ...]:
        """Ascending budgets where decisions are made; the last is ``max_budget``."""
        return geometric_rungs(self.min_budget, self.max_budget, self.eta)

    def first_budget(self, trial_number: int) -> float:
        """Budget of trial ``trial_number``'s first segment (the first rung by default)."""
        return self.rungs[0]

    @abc.abstractmethod
    def on_result(
        self, trial_number: int, budget: float, score: float | None
    ) -> tuple[Decision, float | None]:
        """Decide after trial ``trial_number`` reached ``budget`` with oriented ``score``.

        Returns ``(CONTINUE, next_budget)``, ``(STOP, None)``, ``(PAUSE, None)`` or
        ``(COMPLETE, None)`` (the trial reached ``max_budget``).
        """

    def next_promotion(self) -> tuple[int, float] | None:
        """A paused trial that may train on now, with its next budget; None when there is none.

        Taking a promotion commits to it: the scheduler does not offer the same one twice.
        """
        return None

    def promote_stopped(self) -> tuple[int, float] | None:
        """A trial this scheduler stopped below ``max_budget`` to train on now, with its next
        budget; None when there is none to promote.

        The study asks this only when the strategy has nothing new to offer: it re-proposed an
        architecture a trial of the study already holds (a small space exhausted, or a
        strategy repeating itself). The trial, PRUNED so far, is then resumed from the budget
        it reached instead of training a duplicate from scratch. Taking a promotion commits to
        it. The default (a scheduler that never revisits a stop): None.
        """
        return None

    def pending_stops(self) -> list[int]:
        """Paused trials the scheduler has decided not to promote; each is returned once.

        Synchronous successive halving pauses a trial until its cohort is complete and then
        promotes some; the others end here (the study makes them PRUNED). The study calls
        this after every :meth:`on_result`. The default (no pausing): none.
        """
        return []

    def set_memory(self, curves: Sequence[Sequence[float]]) -> None:
        """Learn from past tasks' learning curves (oriented scores, one per epoch).

        Called by the study once, before any result, when :attr:`uses_memory` is True and the
        study has an experience memory. The default ignores them.
        """
        return

    def settings(self) -> dict[str, Any]:
        """The constructor settings but ``seed`` (JSON-able), stored with the study.

        The study rebuilds its scheduler from them on resume and refuses a change.
        """
        out: dict[str, Any] = {}
        for name in self._setting_names():
            value = getattr(self, name)
            out[name] = int(value) if isinstance(value, float) and value.is_integer() else value
        return out

    # ----------------------------------------------------------- helpers
    @classmethod
    def _setting_names(cls) -> list[str]:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for name, p in inspect.signature(init).parameters.items():
                if name in ("self", "seed") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if name not in names:
                    names.append(name)
        return names

    def _rung_index(self, budget: float) -> int:
        """Index of the highest rung at or below ``budget`` (0 below the first rung)."""
        index = 0
        for i, rung in enumerate(self.rungs):
            if rung <= budget * (1 + 1e-9):
                index = i
        return index

    def _next_rung(self, budget: float) -> float | None:
        """The first rung above ``budget``; None at or past ``max_budget``."""
        for rung in self.rungs:
            if rung > budget * (1 + 1e-9):
                return rung
        return None

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"


def _check_scheduler(cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise TypeError(
            f"register_scheduler decorates a subclass of metanas.schedulers.Scheduler; got {cls!r}."
        )


SCHEDULERS: Registry[type[Scheduler]] = Registry(
    "scheduler",
    builtins="metanas.schedulers",
    check=_check_scheduler,
    fix="Pass one of these, or register your own with @metanas.schedulers.register_scheduler.",
)


def register_scheduler(name: str) -> Callable[[type[Scheduler]], type[Scheduler]]:
    """Class decorator: make a scheduler available by ``name`` (``available("scheduler")``)."""
    return SCHEDULERS.register(name)


def available_schedulers() -> list[str]:
    """Names of the registered schedulers."""
    return SCHEDULERS.names()


def get_scheduler_class(name: str) -> type[Scheduler]:
    """The scheduler class registered as ``name``; an unknown name raises ``UnknownNameError``."""
    return SCHEDULERS.get(name)


def create_scheduler(name: str | Scheduler, **settings: Any) -> Scheduler:
    """Build the scheduler registered as ``name`` with ``settings`` (or return an instance as is).

    Examples
    --------
    >>> create_scheduler("asha", max_budget=27, eta=3).rungs
    (1.0, 3.0, 9.0, 27.0)
    """
    if isinstance(name, Scheduler):
        if settings:
            raise ValueError(
                "scheduler settings only go with a scheduler name, not an instance; got "
                f"{sorted(settings)!r} with {name!r}."
            )
        return name
    cls = get_scheduler_class(name)
    if "max_budget" not in settings:
        raise ValueError(
            f"Scheduler {name!r} needs max_budget (the epochs of a fully trained trial); "
            "pass max_budget=..., e.g. create_scheduler(name, max_budget=27)."
        )
    return cls(**settings)
