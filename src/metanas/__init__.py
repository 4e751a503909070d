"""metanas: neural architecture search guided by meta-learning.

Every search is stored; the next one starts from what earlier ones learned.
"""

from __future__ import annotations

import logging

from metanas import benchmarking, benchmarks, spaces, strategies
from metanas.evaluation import Evaluator, FunctionEvaluator, Result, Status
from metanas.exceptions import (
    DuplicatedStudyError,
    InvalidArchitectureError,
    MetanasError,
    StorageError,
    StudyNotFoundError,
    UnknownNameError,
)
from metanas.spaces import Architecture, Decision, SearchSpace
from metanas.storage import RDBStorage, default_storage_url
from metanas.strategies import (
    Observation,
    Strategy,
    available_strategies,
    create_strategy,
    register_strategy,
)
from metanas.study import Study, create_study, load_study
from metanas.trial import Trial, TrialState

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Architecture",
    "Decision",
    "DuplicatedStudyError",
    "Evaluator",
    "FunctionEvaluator",
    "InvalidArchitectureError",
    "MetanasError",
    "Observation",
    "RDBStorage",
    "Result",
    "SearchSpace",
    "Status",
    "StorageError",
    "Strategy",
    "Study",
    "StudyNotFoundError",
    "Trial",
    "TrialState",
    "UnknownNameError",
    "__version__",
    "available_strategies",
    "benchmarking",
    "benchmarks",
    "create_strategy",
    "create_study",
    "default_storage_url",
    "load_study",
    "register_strategy",
    "spaces",
    "strategies",
]
