"""Validation of numeric settings, shared by every module that takes one."""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np

__all__ = ["check_nonnegative_float", "check_positive_float", "check_positive_int"]


def check_positive_int(name: str, value: object, minimum: int = 1, fix: str = "") -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (bools are not); else a
    ValueError naming the setting, followed by ``fix`` (how to mend it) when given."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.{fix}")
    return int(value)


def _is_number(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """An int or float (numpy's too), not a bool."""
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def check_nonnegative_float(name: str, value: object, fix: str = "") -> float:
    """``value`` as a float if it is a finite number >= 0 (bools are not); else a ValueError
    naming the setting, followed by ``fix`` (what the value means) when given."""
    if not _is_number(value) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.{fix}")
    return float(value)


def check_positive_float(name: str, value: object, fix: str = "") -> float:
    """``value`` as a float if it is a finite number > 0 (bools are not); else a ValueError
    naming the setting, followed by ``fix`` (what the value means) when given."""
    if not _is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}. {fix}".rstrip())
    return float(value)
