"""Search spaces: the architectures that may be searched."""

from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import (
    Constraint,
    Decision,
    SearchSpace,
    available_spaces,
    create_space,
    register_space,
    space_from_config,
)
from metanas.spaces.nasbenchgraph import NasBenchGraphSpace
from metanas.spaces.nb201 import NB201Space
from metanas.spaces.sequence import SeqAttnSpace, SeqCNNSpace, SeqNgramSpace, SeqRNNSpace
from metanas.spaces.table import TableSourceError, TableSpace, table_space_from_config
from metanas.spaces.trainable import CNNSpace, MLPSpace, TrainableSpace

__all__ = [
    "Architecture",
    "CNNSpace",
    "Choice",
    "Constraint",
    "Decision",
    "MLPSpace",
    "NB201Space",
    "NasBenchGraphSpace",
    "SearchSpace",
    "SeqAttnSpace",
    "SeqCNNSpace",
    "SeqNgramSpace",
    "SeqRNNSpace",
    "TableSourceError",
    "TableSpace",
    "TrainableSpace",
    "available_spaces",
    "create_space",
    "register_space",
    "space_from_config",
    "table_space_from_config",
]
