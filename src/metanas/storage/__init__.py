"""Persistent storage of tasks, studies and trials (SQLAlchemy)."""

from metanas.storage._retry import RetryPolicy
from metanas.storage.rdb import (
    RDBStorage,
    StudyRecord,
    StudySummary,
    TaskRecord,
    default_storage_url,
    get_storage,
)

__all__ = [
    "RDBStorage",
    "RetryPolicy",
    "StudyRecord",
    "StudySummary",
    "TaskRecord",
    "default_storage_url",
    "get_storage",
]
