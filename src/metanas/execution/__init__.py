"""Where evaluations run: in the study's process, or on a local process pool."""

from __future__ import annotations

from metanas.execution.local import resolve_n_jobs, run_parallel

__all__ = ["resolve_n_jobs", "run_parallel"]
