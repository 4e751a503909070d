"""Meta-learning across tasks: the experience memory and task similarity.

Import the memory's names from here (``from metanas.meta import ExperienceMemory``):
its records, its queries and its file format live in private modules.

:class:`ExperienceMemory` reads every stored trial of every task as task
histories, and moves a memory between stores as a versioned file;
:mod:`metanas.meta.similarity` says which past tasks resemble a new one, by
their descriptors and by how they rank the architectures both evaluated;
:class:`TransferPredictor` predicts a new task's results from the memory and
:func:`suggest` proposes architectures for it before any result (zero-shot), a
portfolio built by :func:`greedy_portfolio`.
"""

from __future__ import annotations

from metanas.meta._memory import ExperienceMemory
from metanas.meta._memory_file import FORMAT, FORMAT_VERSION, MemoryFileError
from metanas.meta._records import ExportSummary, ImportReport, PastTask, TaskHistory, TaskInfo
from metanas.meta.curves import MIN_CURVES, LearningCurveModel, memory_curves
from metanas.meta.portfolio import PORTFOLIO_NOISE, greedy_portfolio
from metanas.meta.predictor import NotFittedError, Suggestion, TransferPredictor, suggest
from metanas.meta.similarity import (
    PRIOR_POWER,
    Similarity,
    SimilarityIndex,
    descriptor_similarity,
    prior_ranking,
    prior_task_weights,
    rank_correlation,
    rank_tasks,
    response_similarity,
    task_similarities,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MIN_CURVES",
    "PORTFOLIO_NOISE",
    "PRIOR_POWER",
    "ExperienceMemory",
    "ExportSummary",
    "ImportReport",
    "LearningCurveModel",
    "MemoryFileError",
    "NotFittedError",
    "PastTask",
    "Similarity",
    "SimilarityIndex",
    "Suggestion",
    "TaskHistory",
    "TaskInfo",
    "TransferPredictor",
    "descriptor_similarity",
    "greedy_portfolio",
    "prior_ranking",
    "prior_task_weights",
    "memory_curves",
    "rank_correlation",
    "rank_tasks",
    "response_similarity",
    "suggest",
    "task_similarities",
]
