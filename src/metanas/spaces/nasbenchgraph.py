"""The NAS-Bench-Graph GNN space (Qin et al., NeurIPS 2022 Datasets & Benchmarks)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from metanas.exceptions import InvalidArchitectureError, closest
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace, register_space

__all__ = ["NBG_LINKS", "NBG_OPS", "NBG_OPS_PROTEINS", "NasBenchGraphSpace"]

# The 9 non-isomorphic ways to wire 4 computing nodes, each with one input
# (0 = the graph input, k = computing node k); leaves feed the output.
NBG_LINKS = (
    "0000", "0001", "0011", "0012", "0013", "0111", "0112", "0122", "0123",
)  # fmt: skip
NBG_OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
NBG_OPS_PROTEINS = ("gcn", "sage", "arma", "fc", "skip")
_OP_DECISIONS = ("op1", "op2", "op3", "op4")


def _not_all_skip(arch: Architecture) -> bool:
    return any(arch[d] != "skip" for d in _OP_DECISIONS)


_not_all_skip.__name__ = "not_all_skip (a network needs at least one non-skip operation)"


@lru_cache(maxsize=200_000)
def _canonical_hash(link: str, ops: tuple[str, ...]) -> int:
    # The benchmark's own canonicalisation (isomorphic DAGs share one entry).
    from nas_bench_graph.architecture import Arch

    return int(Arch([int(c) for c in link], list(ops)).valid_hash())


@register_space("nas-bench-graph")
class NasBenchGraphSpace(SearchSpace):
    """GNN macro architectures of NAS-Bench-Graph: a wiring pattern and 4 operations.

    Decisions: ``link`` (one of 9 wiring patterns, written as the input index of
    each of the 4 computing nodes, e.g. ``"0123"`` for a chain) and ``op1`` ..
    ``op4`` (the operation of each computing node). Many encodings describe the
    same network; :meth:`key` maps isomorphic ones to the benchmark's hash, so
    strategies never pay twice for one network.

    Parameters
    ----------
    proteins
        Use the reduced operation set of the Proteins table (5 operations).

    Examples
    --------
    >>> space = NasBenchGraphSpace()
    >>> arch = space.parse("0123|gcn,gin,fc,cheb")
    >>> space.format(arch)
    '0123|gcn,gin,fc,cheb'
    >>> space.size
    59040
    """

    def __init__(self, *, proteins: bool = False) -> None:
        self.proteins = bool(proteins)
        ops = NBG_OPS_PROTEINS if self.proteins else NBG_OPS
        decisions: dict[str, list[str]] = {"link": list(NBG_LINKS)}
        decisions.update({d: list(ops) for d in _OP_DECISIONS})
        super().__init__(decisions, constraints=(_not_all_skip,))

    @property
    def size(self) -> int:
        return self.n_raw - len(NBG_LINKS)  # every link with four skips is invalid

    def key(self, arch: Architecture) -> int:
        return _canonical_hash(str(arch["link"]), tuple(str(arch[d]) for d in _OP_DECISIONS))

    def format(self, arch: Architecture) -> str:
        return f"{arch['link']}|" + ",".join(str(arch[d]) for d in _OP_DECISIONS)

    def _parse_notation(self, text: str) -> Architecture:
        example = "'0123|gcn,gin,fc,cheb'"
        link, sep, ops_text = text.partition("|")
        ops = [o.strip() for o in ops_text.split(",")]
        if not sep or len(ops) != 4:
            raise InvalidArchitectureError(
                f"Cannot read NAS-Bench-Graph architecture {text!r}: expected a link pattern, "
                f"'|' and four comma-separated operations, as in {example}."
            )
        link = link.strip().replace(",", "").replace(" ", "").strip("[]")
        if link not in NBG_LINKS:
            raise InvalidArchitectureError(
                f"Cannot read NAS-Bench-Graph architecture {text!r}: unknown link pattern "
                f"{link!r}.{closest(link, NBG_LINKS)} Link patterns: {list(NBG_LINKS)!r}."
            )
        allowed = NBG_OPS_PROTEINS if self.proteins else NBG_OPS
        for op in ops:
            if op not in allowed:
                raise InvalidArchitectureError(
                    f"Cannot read NAS-Bench-Graph architecture {text!r}: unknown operation "
                    f"{op!r}.{closest(op, allowed)} Operations: {list(allowed)!r}."
                )
        return Architecture([("link", link), *zip(_OP_DECISIONS, ops, strict=True)])

    def _settings(self) -> dict[str, Any]:
        return {"proteins": True} if self.proteins else {}
