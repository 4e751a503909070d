"""Seeding helpers: every random object owns its generator, nothing touches global state."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["derive_seed", "keep_global_random_state", "make_rng", "resolve_seed"]

_MAX_SEED = 2**32 - 1


def resolve_seed(seed: int | None) -> int:
    """Return ``seed`` checked, or a fresh seed drawn from OS entropy when it is None.

    A study stores the resolved seed, so a study created without a seed can
    still be resumed and replayed exactly.
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__} {seed!r}.")
    if not 0 <= int(seed) <= _MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**32 - 1]; got {seed}. Pass a smaller seed.")
    return int(seed)


def derive_seed(seed: int, *keys: int) -> int:
    """A child seed that depends only on ``seed`` and ``keys`` (e.g. a trial number)."""
    ss = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in keys))
    return int(ss.generate_state(1)[0])


def make_rng(seed: int | None) -> np.random.Generator:
    """A new ``numpy.random.Generator`` for ``seed``."""
    return np.random.default_rng(seed)


@contextmanager
def keep_global_random_state() -> Iterator[None]:
    """Run a block that reseeds the global ``random`` and ``numpy.random`` generators, then put
    the caller's state back.

    For third-party code that seeds them itself (mnist1d's ``make_dataset``): metanas never
    draws from them, but its callers may, and must not see their stream changed.

    Examples
    --------
    >>> before = np.random.get_state()[1][:3].tolist()
    >>> with keep_global_random_state():
    ...     np.random.seed(0)
    >>> np.random.get_state()[1][:3].tolist() == before
    True
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
