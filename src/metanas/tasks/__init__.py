"""Tasks: labelled data with seeded train/validation/test splits and meta-features.

Sources: NumPy arrays (:meth:`Task.from_arrays`), pandas DataFrames
(:meth:`Task.from_dataframe`), CSV files (:meth:`Task.from_csv`) and built-in
sets (:func:`load_task`: scikit-learn's digits, wine, breast_cancer and iris,
and MNIST-1D generated offline).
"""

from __future__ import annotations

from metanas.tasks._build import MODALITIES
from metanas.tasks.builtin import available_tasks, load_task, rebuild_task
from metanas.tasks.task import CSVEncodingError, Task

__all__ = ["MODALITIES", "CSVEncodingError", "Task", "available_tasks", "load_task", "rebuild_task"]
