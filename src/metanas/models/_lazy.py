"""Torch-free lazy exports: a package's ``__getattr__`` that imports a submodule on first use."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def lazy_attr(package: str, modules: Mapping[str, str], name: str) -> Any:
    """``name`` from ``package``'s submodule ``modules[name]``, imported now.

    Without torch, an ImportError naming ``package.name`` and the fix; an unknown
    ``name`` is an AttributeError.
    """
    module = modules.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    try:
        mod = importlib.import_module(f"{package}.{module}")
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "torch":
            raise ImportError(
                f'{package}.{name} needs PyTorch; install it with pip install "metanas[torch]".'
            ) from exc
        raise
    return getattr(mod, name)
