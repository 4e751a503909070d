"""Plain JSON values from what metanas stores and prints (one converter for every writer)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """Plain JSON types: NaN/inf -> None, datetimes -> ISO 8601, numpy scalars -> Python.

    Examples
    --------
    >>> jsonable({"a": float("nan"), 1: (2.5, {"b"})})
    {'a': None, '1': [2.5, ['b']]}
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dt.datetime | dt.date):
        return None if obj != obj else obj.isoformat()  # NaT != NaT
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / pandas scalars
        try:
            return jsonable(obj.item())
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "isoformat"):  # pandas Timestamp
        return None if obj != obj else obj.isoformat()
    return str(obj)
