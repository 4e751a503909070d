"""Few-shot learning: class-split episodes and meta-learners (MAML, Reptile, metric nets).

:mod:`metanas.fewshot.episodes` (numpy only) builds the data side: a
:class:`FewShotDataset`, disjoint meta-train / meta-test classes
(:func:`split_classes`) and a seeded :class:`EpisodeSampler`. The learners
(torch, imported on first use) share the :class:`FewShotLearner` interface;
:class:`MetaNAS` meta-learns the architecture of :class:`metanas.models.CellSuperNet` with its
weights; :func:`run_fewshot` runs one method end to end (and stores it as a study when given a
storage). Methods register with :func:`register_fewshot`; ``available("fewshot")`` lists them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metanas.fewshot.episodes import (
    BUILTIN_DATASETS,
    ClassSplit,
    Episode,
    EpisodeSampler,
    FewShotDataset,
    fewshot_dataset,
    split_classes,
)
from metanas.fewshot.run import (
    FEWSHOT,
    METHODS,
    FewShotResult,
    make_learner,
    register_fewshot,
    register_method,
    run_fewshot,
)

if TYPE_CHECKING:
    from metanas.fewshot.learners import (
        MAML,
        AdaptedModel,
        FewShotLearner,
        MatchingNetwork,
        NotMetaTrainedError,
        PrototypicalNetwork,
        Reptile,
    )
    from metanas.fewshot.metanas import MetaNAS, MetaNASReptile

__all__ = [
    "BUILTIN_DATASETS",
    "FEWSHOT",
    "MAML",
    "METHODS",
    "AdaptedModel",
    "ClassSplit",
    "Episode",
    "EpisodeSampler",
    "FewShotDataset",
    "FewShotLearner",
    "FewShotResult",
    "MatchingNetwork",
    "MetaNAS",
    "MetaNASReptile",
    "NotMetaTrainedError",
    "PrototypicalNetwork",
    "Reptile",
    "fewshot_dataset",
    "make_learner",
    "register_fewshot",
    "register_method",
    "run_fewshot",
    "split_classes",
]

_LAZY = {
    "MAML": "learners", "AdaptedModel": "learners", "FewShotLearner": "learners",
    "MatchingNetwork": "learners", "NotMetaTrainedError": "learners",
    "PrototypicalNetwork": "learners", "Reptile": "learners", "MetaNAS": "metanas",
    "MetaNASReptile": "metanas",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import the torch learners on first use, so ``metanas.fewshot`` loads without torch."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"metanas.fewshot.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
