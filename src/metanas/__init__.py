"""metanas: neural architecture search guided by meta-learning.

Every search is stored; the next one starts from what earlier ones learned.
"""

from __future__ import annotations

import logging

from metanas import benchmarking, benchmarks, schedulers, spaces, strategies
from metanas._registry import available
from metanas._version import __version__
from metanas.evaluation import Evaluator, FunctionEvaluator, Result, Status
from metanas.exceptions import (
    DuplicatedStudyError,
    InvalidArchitectureError,
    MetanasError,
    StorageError,
    StudyNotFoundError,
    UnknownNameError,
)
from metanas.execution import Executor, register_executor
from metanas.schedulers import Scheduler, create_scheduler, register_scheduler
from metanas.spaces import Architecture, Decision, SearchSpace, register_space
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

# Heavier parts (scikit-learn, torch) load on first use, so `import metanas` and the CLI stay quick.
_LAZY = {
    "NASClassifier": ("metanas.automl", "NASClassifier"),
    "Task": ("metanas.tasks", "Task"),
    "load_task": ("metanas.tasks", "load_task"),
    "TrainEvaluator": ("metanas.evaluation.train", "TrainEvaluator"),
    "ProxyEvaluator": ("metanas.evaluation.proxies", "ProxyEvaluator"),
    "register_augment": ("metanas.evaluation.augment", "register_augment"),
    "export_model": ("metanas.export", "export_model"),
    "load_model": ("metanas.export", "load_model"),
    "tasks": ("metanas.tasks", None),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'metanas' has no attribute {name!r}")


logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Architecture",
    "Decision",
    "DuplicatedStudyError",
    "Evaluator",
    "Executor",
    "FunctionEvaluator",
    "InvalidArchitectureError",
    "MetanasError",
    "NASClassifier",
    "Observation",
    "ProxyEvaluator",
    "RDBStorage",
    "Result",
    "Scheduler",
    "SearchSpace",
    "Status",
    "StorageError",
    "Strategy",
    "Study",
    "StudyNotFoundError",
    "Task",
    "TrainEvaluator",
    "Trial",
    "TrialState",
    "UnknownNameError",
    "__version__",
    "available",
    "available_strategies",
    "benchmarking",
    "benchmarks",
    "create_scheduler",
    "create_strategy",
    "create_study",
    "default_storage_url",
    "export_model",
    "load_model",
    "load_study",
    "load_task",
    "register_augment",
    "register_executor",
    "register_scheduler",
    "register_space",
    "register_strategy",
    "schedulers",
    "spaces",
    "strategies",
    "tasks",
]
