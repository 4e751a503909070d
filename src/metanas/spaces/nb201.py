"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from metanas._rng import resolve_seed
from metanas.exceptions import InvalidArchitectureError, closest
from metanas.models._names import CELL_OPS
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import register_space
from metanas.spaces.trainable import TrainableSpace

if TYPE_CHECKING:
    from torch import nn

__all__ = ["NB201_OPS", "NB201Space"]

#: The cell operations (named in :mod:`metanas.models._names`, built by ``metanas.models.OPS``).
NB201_OPS = CELL_OPS
# Edge "j<-i" carries node i's output into node j; the order is the one of the
# standard string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.
_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_TOKEN = re.compile(r"^([A-Za-z0-9_]+)~(\d+)$")


@register_space("nb201")
class NB201Space(TrainableSpace):
    """NAS-Bench-201 cells: 6 edges of a 4-node DAG, each one of 5 operations (15,625 cells).

    Architectures read and print the standard notation.

    Examples
    --------
    >>> space = NB201Space()
    >>> text = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    ...         "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    >>> arch = space.parse(text)
    >>> arch["2<-1"]
    'avg_pool_3x3'
    >>> space.format(arch) == text
    True
    >>> space.size
    15625

    References
    ----------
    Dong, X. & Yang, Y. NAS-Bench-201: Extending the scope of reproducible neural
    architecture search. ICLR 2020.
    """

    EDGES = tuple(f"{j}<-{i}" for j, i in _EDGES)

    def __init__(self) -> None:
        super().__init__({edge: list(NB201_OPS) for edge in self.EDGES})

    def build_model(
        self,
        arch: Architecture | Mapping[str, Choice] | str,
        input_shape: Sequence[int],
        n_classes: int,
        *,
        seed: int | None = None,
        channels: int = 16,
        n_cells: int = 1,
    ) -> nn.Module:
        """The cell as a trainable network (stem, 3 stages of ``n_cells`` cells, head).

        Channels double at each of the two residual reduction blocks; 1-D
        convolutions for ``(C, L)`` or ``(F,)`` inputs, 2-D for ``(C, H, W)``.
        Initial weights are a function of ``seed``.
        """
        from metanas.models import build_nb201, seeded_init

        arch = self.validate(arch)
        with seeded_init(resolve_seed(seed)):
            return build_nb201(
                input_shape,
                n_classes,
                [str(arch[e]) for e in self.EDGES],
                channels=channels,
                n_cells=n_cells,
            )

    def format(self, arch: Architecture) -> str:
        nodes = []
        for j in (1, 2, 3):
            nodes.append("|" + "|".join(f"{arch[f'{j}<-{i}']}~{i}" for i in range(j)) + "|")
        return "+".join(nodes)

    def _parse_notation(self, text: str) -> Architecture:
        example = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        nodes = text.split("+")
        if len(nodes) != 3:
            raise InvalidArchitectureError(
                f"Cannot read NAS-Bench-201 architecture {text!r}: expected 3 nodes separated "
                f"by '+' ({example}), found {len(nodes)}."
            )
        choices: dict[str, str] = {}
        for j, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise InvalidArchitectureError(
                    f"Cannot read NAS-Bench-201 architecture {text!r}: node {j} {node!r} must "
                    f"start and end with '|' ({example})."
                )
            tokens = node[1:-1].split("|")
            if len(tokens) != j:
                raise InvalidArchitectureError(
                    f"Cannot read NAS-Bench-201 architecture {text!r}: node {j} needs {j} "
                    f"incoming edge(s), found {len(tokens)} in {node!r} ({example})."
                )
            for i, token in enumerate(tokens):
                m = _TOKEN.match(token)
                if m is None or int(m.group(2)) != i:
                    raise InvalidArchitectureError(
                        f"Cannot read NAS-Bench-201 architecture {text!r}: edge {token!r} of node "
                        f"{j} should read 'op~{i}'."
                    )
                op = m.group(1)
                if op not in NB201_OPS:
                    raise InvalidArchitectureError(
                        f"Cannot read NAS-Bench-201 architecture {text!r}: unknown operation "
                        f"{op!r}.{closest(op, NB201_OPS)} Operations: {list(NB201_OPS)!r}."
                    )
                choices[f"{j}<-{i}"] = op
        return Architecture((e, choices[e]) for e in self.EDGES)
