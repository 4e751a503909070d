"""A space restricted to the architectures of a finite list (a partial table)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np

from metanas.exceptions import InvalidArchitectureError
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace

__all__ = ["TableSpace"]


class TableSpace(SearchSpace):
    """The architectures of ``base`` that appear in a list (a table that measured a sample).

    A user's table rarely covers the whole space. Searching the whole space
    would spend most queries on architectures the table cannot answer, so a
    benchmark built from a partial table searches this space instead: it
    samples from the listed architectures, and its neighbours of an
    architecture are the listed ones that differ in the fewest decisions
    (one decision when there are such, more when the table is sparse).
    Notation, identity keys and encodings are the base space's.

    Parameters
    ----------
    base
        The full space the listed architectures belong to.
    archs
        The architectures, each valid in ``base``; repeats (same key) are dropped.
    name
        Name of the table, used in messages.
    """

    def __init__(
        self, base: SearchSpace, archs: Sequence[Architecture], name: str = "table"
    ) -> None:
        super().__init__(base.decisions, constraints=base.constraints)
        self.base = base
        self.table_name = name
        keys: dict[Hashable, int] = {}
        unique: list[Architecture] = []
        for a in archs:
            k = base.key(a)
            if k not in keys:
                keys[k] = len(unique)
                unique.append(a)
        if not unique:
            raise ValueError(f"Table {name!r} lists no architecture; a search needs at least one.")
        self._archs = unique
        self._keys = keys
        self._index_matrix = np.array(
            [[d.index(a[d.name]) for d in self.decisions] for a in unique], dtype=np.int32
        )

    @property
    def name(self) -> str:
        return f"{self.base.name}[{self.table_name}]"

    @property
    def size(self) -> int:
        return len(self._archs)

    @property
    def n_unique(self) -> int:
        return len(self._archs)

    def __repr__(self) -> str:
        return f"TableSpace({self.base!r}, {len(self._archs)} architectures of {self.table_name!r})"

    def _meets_constraints(self, arch: Architecture) -> bool:
        return self.base.key(arch) in self._keys

    def validate(self, arch: Architecture | Any) -> Architecture:
        arch = self.base.validate(arch)
        if self.base.key(arch) not in self._keys:
            raise InvalidArchitectureError(
                f"Architecture {self.base.format(arch)} is not one of the {len(self._archs)} "
                f"architectures of table {self.table_name!r}."
            )
        return arch

    def sample(self, rng: np.random.Generator) -> Architecture:
        return self._archs[int(rng.integers(len(self._archs)))]

    def nearest(self, arch: Architecture) -> list[Architecture]:
        """The listed architectures other than ``arch`` that differ from it in fewest decisions."""
        row = np.array([d.index(arch[d.name]) for d in self.decisions], dtype=np.int32)
        dist = (self._index_matrix != row).sum(axis=1)
        own = self._keys.get(self.base.key(arch))
        if own is not None:
            dist[own] = 0
        dist[dist == 0] = np.iinfo(np.int32).max  # the architecture itself is no neighbour
        best = dist.min()
        if best == np.iinfo(np.int32).max:
            return []
        return [self._archs[int(i)] for i in np.flatnonzero(dist == best)]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """The listed architectures closest to ``arch`` (fewest differing decisions)."""
        return self.nearest(arch)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        options = self.nearest(arch)
        if not options:
            raise InvalidArchitectureError(
                f"Table {self.table_name!r} lists a single architecture: nothing to mutate."
            )
        return options[int(rng.integers(len(options)))]

    def enumerate(self, limit: int = 0) -> Iterator[Architecture]:
        return iter(list(self._archs))

    @property
    def n_raw(self) -> int:
        return len(self._archs)

    def key(self, arch: Architecture) -> Hashable:
        return self.base.key(arch)

    def encode(self, arch: Architecture) -> np.ndarray:
        return self.base.encode(arch)

    @property
    def encoding_size(self) -> int:
        return self.base.encoding_size

    def format(self, arch: Architecture) -> str:
        return self.base.format(arch)

    def parse(self, text: str) -> Architecture:
        return self.validate(self.base.parse(text))

    def to_config(self) -> dict[str, Any]:
        return {
            "type": "table",
            "base": self.base.to_config(),
            "table": self.table_name,
            "n_architectures": len(self._archs),
        }

    def choices_of(self, decision: str) -> tuple[Choice, ...]:
        """The choices of ``decision`` that some listed architecture uses."""
        d = self.decision(decision)
        used = set(self._index_matrix[:, self.decisions.index(d)].tolist())
        return tuple(c for i, c in enumerate(d.choices) if i in used)
