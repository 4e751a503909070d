"""Search spaces: named categorical decisions, optional constraints."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from metanas._registry import Registry
from metanas.exceptions import InvalidArchitectureError, closest, unknown
from metanas.spaces.architecture import Architecture, Choice

__all__ = [
    "Constraint",
    "Decision",
    "SearchSpace",
    "available_spaces",
    "create_space",
    "register_space",
    "space_from_config",
]

Constraint = Callable[[Architecture], bool]

_MAX_SAMPLE_TRIES = 10_000
_ENUMERATE_LIMIT = 2_000_000


@dataclass(frozen=True)
class Decision:
    """One categorical decision: a name and the choices it may take (in a fixed order)."""

    name: str
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"A decision name must be a non-empty string; got {self.name!r}.")
        choices = tuple(self.choices)
        object.__setattr__(self, "choices", choices)
        if len(choices) == 0:
            raise ValueError(f"Decision {self.name!r} has no choices. Give it at least one choice.")
        for c in choices:
            if not isinstance(c, str | int | float | bool):
                raise TypeError(
                    f"Decision {self.name!r} has choice {c!r} of type {type(c).__name__}; "
                    "choices must be str, int, float or bool."
                )
        if len({(type(c), c) for c in choices}) != len(choices):
            raise ValueError(f"Decision {self.name!r} lists a choice twice: {choices!r}.")

    def index(self, choice: Choice) -> int:
        """Position of ``choice`` among the choices (type-exact, so ``True`` is not ``1``)."""
        for i, c in enumerate(self.choices):
            if c == choice and type(c) is type(choice):
                return i
        raise InvalidArchitectureError(
            f"Decision {self.name!r} does not allow {choice!r}; allowed choices: "
            f"{list(self.choices)!r}.{closest(str(choice), [str(c) for c in self.choices])}"
        )


def _check_space(cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
        raise TypeError(f"register_space needs a SearchSpace subclass; got {cls!r}.")


SPACES: Registry[type[SearchSpace]] = Registry(
    "space", label="search space", builtins="metanas.spaces", check=_check_space
)


def register_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator: make a space available by ``name`` (CLI, stored studies)."""
    return SPACES.register(name)


def available_spaces() -> list[str]:
    """Names of the registered search spaces (``available("space")``)."""
    return SPACES.names()


def create_space(name: str, **settings: Any) -> SearchSpace:
    """Build a registered space by name."""
    return SPACES.get(name)(**settings)


def space_from_config(config: Mapping[str, Any]) -> SearchSpace:
    """Rebuild a space from :meth:`SearchSpace.to_config`."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind == "decisions":
        return SearchSpace(config["decisions"])
    if kind == "table":
        raise ValueError(
            f"This study searched the architectures of table {config.get('table')!r}, which are "
            "not stored with it. Pass space=table.space (the same TabularBenchmark) to load_study."
        )
    if not isinstance(kind, str):
        raise ValueError(f"A space config needs a 'type'; got {config!r}.")
    return create_space(kind, **config.get("settings", {}))


class SearchSpace:
    """Named categorical decisions, with optional constraints.

    The base class is a complete space: build one from a dict of decisions.
    Subclasses add a notation (``parse``/``format``), an isomorphism-aware
    :meth:`key`, or an encoding, by overriding those methods.

    Parameters
    ----------
    decisions
        ``{name: [choice, ...]}`` in the order the decisions should be listed.
    constraints
        Callables ``arch -> bool``; an architecture is valid when all return True.
        Constraints are not stored with a study: pass the space again to
        :func:`metanas.load_study`.

    Examples
    --------
    >>> space = SearchSpace({"depth": [1, 2, 3], "act": ["relu", "gelu"]})
    >>> space.size
    6
    >>> arch = space.sample(np.random.default_rng(0))
    >>> space.validate(arch) == arch
    True
    >>> space.encode(Architecture({"depth": 2, "act": "gelu"})).tolist()
    [0.0, 1.0, 0.0, 0.0, 1.0]
    """

    registered_name: ClassVar[str | None] = None

    def __init__(
        self,
        decisions: Mapping[str, Sequence[Choice]] | Sequence[Decision],
        constraints: Sequence[Constraint] = (),
    ) -> None:
        if isinstance(decisions, Mapping):
            if not decisions:
                raise ValueError("A search space needs at least one decision; got an empty dict.")
            decs = []
            for name, choices in decisions.items():
                if isinstance(choices, str | bytes) or not isinstance(choices, Sequence):
                    raise TypeError(
                        f"Decision {name!r} must map to a list of choices; got {choices!r}. "
                        f"Write {{{name!r}: [{choices!r}, ...]}}."
                    )
                decs.append(Decision(name, tuple(choices)))
        else:
            decs = list(decisions)
        names = [d.name for d in decs]
        if len(set(names)) != len(names):
            raise ValueError(f"Decision names must be unique; got {names!r}.")
        self._decisions: tuple[Decision, ...] = tuple(decs)
        self._by_name = {d.name: d for d in decs}
        self._constraints: tuple[Constraint, ...] = tuple(constraints)
        for c in self._constraints:
            if not callable(c):
                raise TypeError(f"Constraints must be callables arch -> bool; got {c!r}.")
        self._offsets = np.cumsum([0] + [len(d.choices) for d in decs])
        self._size_cache: int | None = None
        self._unique_cache: int | None = None

    # ------------------------------------------------------------------ basics
    @property
    def name(self) -> str:
        """Short name of the space (its registered name, else ``"custom"``)."""
        return self.registered_name or "custom"

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """The decisions, in order."""
        return self._decisions

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        return self._constraints

    def decision(self, name: str) -> Decision:
        """The decision called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise unknown("decision", name, self._by_name) from None

    @property
    def n_raw(self) -> int:
        """Product of the numbers of choices (ignores constraints)."""
        return math.prod(len(d.choices) for d in self._decisions)

    @property
    def size(self) -> int:
        """Number of valid architectures (exact when the space can be enumerated)."""
        if self._size_cache is None:
            if not self._constraints or self.n_raw > _ENUMERATE_LIMIT:
                self._size_cache = self.n_raw
            else:
                self._size_cache = sum(1 for _ in self.enumerate())
        return self._size_cache

    @property
    def n_unique(self) -> int:
        """Number of distinct networks: valid architectures counted by :meth:`key`.

        Equals :attr:`size` unless the space maps several encodings to one
        network (then it is counted once, by enumeration, when the space is
        small enough to list).
        """
        if self._unique_cache is None:
            if type(self).key is SearchSpace.key or self.n_raw > _ENUMERATE_LIMIT:
                self._unique_cache = self.size
            else:
                self._unique_cache = len({self.key(a) for a in self.enumerate()})
        return self._unique_cache

    def __repr__(self) -> str:
        inner = ", ".join(f"{d.name}: {len(d.choices)}" for d in self._decisions)
        return f"{type(self).__name__}({inner})"

    # -------------------------------------------------------------- validity
    def is_valid(self, arch: Architecture) -> bool:
        """True when every decision of ``arch`` has an allowed choice and constraints hold."""
        try:
            self._check_choices(arch)
        except InvalidArchitectureError:
            return False
        return self._meets_constraints(arch)

    def _meets_constraints(self, arch: Architecture) -> bool:
        return all(c(arch) for c in self._constraints)

    def _check_choices(self, arch: Mapping[str, Choice]) -> None:
        missing = [d.name for d in self._decisions if d.name not in arch]
        if missing:
            raise InvalidArchitectureError(
                f"Architecture {dict(arch)!r} lacks decision(s) {missing!r}; "
                f"this space needs {[d.name for d in self._decisions]!r}."
            )
        extra = [k for k in arch if k not in self._by_name]
        if extra:
            raise InvalidArchitectureError(
                f"Architecture has unknown decision {extra[0]!r}."
                f"{closest(extra[0], self._by_name)} "
                f"This space's decisions: {[d.name for d in self._decisions]!r}."
            )
        for d in self._decisions:
            d.index(arch[d.name])

    def validate(self, arch: Architecture | Mapping[str, Choice] | str) -> Architecture:
        """Return ``arch`` as an :class:`Architecture` of this space, or raise.

        Raises
        ------
        InvalidArchitectureError
            Naming the bad decision and the allowed choices, or the constraint
            that failed.
        """
        if isinstance(arch, str):
            arch = self.parse(arch)
        elif not isinstance(arch, Architecture):
            arch = Architecture(arch)
        self._check_choices(arch)
        # Keep the space's decision order, whatever order the caller used.
        arch = Architecture((d.name, arch[d.name]) for d in self._decisions)
        for c in self._constraints:
            if not c(arch):
                cname = getattr(c, "__name__", repr(c))
                raise InvalidArchitectureError(
                    f"Architecture {self.format(arch)} violates the constraint {cname}."
                )
        return arch

    # -------------------------------------------------------------- sampling
    def _from_indices(self, idx: Sequence[int]) -> Architecture:
        return Architecture(
            (d.name, d.choices[i]) for d, i in zip(self._decisions, idx, strict=True)
        )

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random valid architecture."""
        for _ in range(_MAX_SAMPLE_TRIES):
            idx = [int(rng.integers(len(d.choices))) for d in self._decisions]
            arch = self._from_indices(idx)
            if self._meets_constraints(arch):
                return arch
        raise InvalidArchitectureError(
            f"No valid architecture found in {_MAX_SAMPLE_TRIES} random draws: the constraints "
            "reject (almost) everything. Loosen the constraints."
        )

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one decision of ``arch`` to another choice (the result is valid and new)."""
        mutable = [d for d in self._decisions if len(d.choices) > 1]
        if not mutable:
            raise InvalidArchitectureError(
                "This space has a single architecture: nothing to mutate."
            )
        for _ in range(100):
            d = mutable[int(rng.integers(len(mutable)))]
            current = d.index(arch[d.name])
            j = int(rng.integers(len(d.choices) - 1))
            j = j + 1 if j >= current else j
            child = arch.replace(**{d.name: d.choices[j]})
            if self._meets_constraints(child):
                return child
        options = self.neighbours(arch)
        if not options:
            raise InvalidArchitectureError(
                f"Architecture {self.format(arch)} has no valid neighbour."
            )
        return options[int(rng.integers(len(options)))]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """All valid architectures that differ from ``arch`` in exactly one decision."""
        out = []
        for d in self._decisions:
            current = arch[d.name]
            for c in d.choices:
                if c == current and type(c) is type(current):
                    continue
                child = arch.replace(**{d.name: c})
                if self._meets_constraints(child):
                    out.append(child)
        return out

    def enumerate(self, limit: int = _ENUMERATE_LIMIT) -> Iterator[Architecture]:
        """Every valid architecture, in a fixed order.

        Raises
        ------
        ValueError
            When the space holds more than ``limit`` raw architectures.
        """
        if self.n_raw > limit:
            raise ValueError(
                f"The space has {self.n_raw:,} raw architectures, more than limit={limit:,}; "
                "sample it instead, or raise the limit."
            )
        for idx in itertools.product(*(range(len(d.choices)) for d in self._decisions)):
            arch = self._from_indices(idx)
            if self._meets_constraints(arch):
                yield arch

    # -------------------------------------------------------------- identity
    def key(self, arch: Architecture) -> Hashable:
        """Identity used to detect repeats: equal keys mean the same network.

        The base space says two architectures are the same when their choices
        are; spaces with isomorphic encodings (cells, DAGs) override this.
        """
        return arch

    # -------------------------------------------------------------- encoding
    @property
    def encoding_size(self) -> int:
        """Length of :meth:`encode`'s vector."""
        return int(self._offsets[-1])

    def encode(self, arch: Architecture) -> np.ndarray:
        """One-hot encoding, concatenated over decisions (float64)."""
        vec = np.zeros(self.encoding_size)
        for d, off in zip(self._decisions, self._offsets[:-1], strict=False):
            vec[off + d.index(arch[d.name])] = 1.0
        return vec

    def encode_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Stack of :meth:`encode` (shape ``(len(archs), encoding_size)``)."""
        if not archs:
            return np.zeros((0, self.encoding_size))
        return np.stack([self.encode(a) for a in archs])

    # -------------------------------------------------------------- notation
    def format(self, arch: Architecture) -> str:
        """Human notation of ``arch`` (canonical JSON unless the space has its own)."""
        return arch.to_string()

    def parse(self, text: str) -> Architecture:
        """Read an architecture from the space's notation or from canonical JSON."""
        text = str(text).strip()
        if text.startswith("{"):
            return self.validate(Architecture.from_json(text))
        return self.validate(self._parse_notation(text))

    def _parse_notation(self, text: str) -> Architecture:
        raise InvalidArchitectureError(
            f"Cannot read architecture {text!r}: this space reads JSON objects such as "
            f"{self.format(self.sample(np.random.default_rng(0)))}."
        )

    # ----------------------------------------------------------- persistence
    def to_config(self) -> dict[str, Any]:
        """Plain-JSON description from which :func:`space_from_config` rebuilds the space."""
        if self.registered_name is not None:
            return {"type": self.registered_name, "settings": self._settings()}
        return {
            "type": "decisions",
            "decisions": {d.name: list(d.choices) for d in self._decisions},
        }

    def _settings(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self.to_config() == other.to_config() and self._decisions == other._decisions

    def __hash__(self) -> int:
        return hash(self._decisions)
