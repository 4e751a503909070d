"""A space restricted to the architectures of a finite list (a partial table)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metanas.exceptions import InvalidArchitectureError, MetanasError
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace, space_from_config

__all__ = ["TableSourceError", "TableSpace", "table_space_from_config"]

_LOAD_STUDY_FIX = (
    "Pass space=table.space (the same TabularBenchmark, e.g. TabularBenchmark.from_csv of "
    "the table's CSV) to load_study."
)


class TableSourceError(MetanasError, ValueError):
    """A stored table space cannot be rebuilt: no CSV was recorded, or it moved or changed.

    ``problem`` says what is wrong without the fix, so a caller (the command line) can
    add its own; ``path`` is the file looked for (None when none was recorded).
    """

    #: The same problem with a command-line fix (``--table PATH``), set by the CLI.
    cli_message: str | None = None

    def __init__(self, problem: str, path: str | None) -> None:
        super().__init__(f"{problem} {_LOAD_STUDY_FIX}")
        self.problem = problem
        self.path = path


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
    source
        Where the architectures were read from, ``{"path": absolute CSV path,
        "arch_column": column}`` (:meth:`TabularBenchmark.from_csv
        <metanas.benchmarks.TabularBenchmark.from_csv>` sets it). It is stored in
        :meth:`to_config` with a digest of the architectures, so that a study that
        searched this space can be reopened (:func:`table_space_from_config`).
    """

    def __init__(
        self,
        base: SearchSpace,
        archs: Sequence[Architecture],
        name: str = "table",
        *,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(base.decisions, constraints=base.constraints)
        self.base = base
        self.table_name = name
        self.source = None if source is None else dict(source)
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

    @property
    def digest(self) -> str:
        """SHA-256 of the listed architectures in order (canonical JSON, one per line)."""
        text = "\n".join(a.to_string() for a in self._archs)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "type": "table",
            "base": self.base.to_config(),
            "table": self.table_name,
            "n_architectures": len(self._archs),
        }
        if self.source is not None:
            config["source"] = {**self.source, "digest": self.digest}
        return config

    def choices_of(self, decision: str) -> tuple[Choice, ...]:
        """The choices of ``decision`` that some listed architecture uses."""
        d = self.decision(decision)
        used = set(self._index_matrix[:, self.decisions.index(d)].tolist())
        return tuple(c for i, c in enumerate(d.choices) if i in used)


def table_space_from_config(
    config: Mapping[str, Any], path: str | os.PathLike[str] | None = None
) -> TableSpace:
    """Rebuild a :class:`TableSpace` from its :meth:`~TableSpace.to_config`.

    A table's architectures are not stored with a study; they are read again from the CSV
    recorded in ``config["source"]``, or from ``path`` (the same table, moved). The
    rebuilt list must be the recorded one (same digest; for a config recorded without a
    source, the same number of architectures, read from column ``arch``).

    Raises
    ------
    TableSourceError
        No CSV recorded and no ``path``; the file is missing; or it lists other
        architectures now (the message names the file).
    """
    name = str(config.get("table", "table"))
    source = config.get("source")
    if source is None and path is None:
        raise TableSourceError(
            f"This study searched the architectures of table {name!r}, which are not stored "
            "with it, and no CSV file was recorded to read them from.",
            None,
        )
    recorded = source or {}
    the_path = Path(path if path is not None else recorded["path"]).expanduser()
    if not the_path.is_file() and path is not None:
        raise TableSourceError(
            f"No CSV file at {str(the_path)!r}, given as table {name!r} of this study.",
            str(the_path),
        )
    if not the_path.is_file():
        raise TableSourceError(
            f"This study searched the architectures of table {name!r}, read from "
            f"{str(the_path)!r}, which does not exist any more.",
            str(the_path),
        )
    import pandas as pd

    base = space_from_config(config["base"])
    column = str(recorded.get("arch_column", "arch"))
    n_expected = config.get("n_architectures")
    changed = (
        f"The table file {str(the_path)!r} no longer lists the {n_expected} architectures "
        f"of table {name!r} that this study searched (it was changed or is another file)."
    )
    try:
        df = pd.read_csv(the_path, index_col=False)
        if column not in df.columns:
            raise ValueError(f"it has no column {column!r}")
        archs = [base.parse(str(text)) for text in df[column].tolist()]
        space = TableSpace(
            base, archs, name, source={"path": str(the_path.resolve()), "arch_column": column}
        )
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        reason = str(exc).rstrip(".")
        raise TableSourceError(f"{changed} Reading it: {reason}.", str(the_path)) from exc
    digest = recorded.get("digest")
    if (digest is not None and space.digest != digest) or (
        digest is None and n_expected is not None and space.size != n_expected
    ):
        raise TableSourceError(changed, str(the_path))
    return space
