"""Seeding helpers: every random object owns its generator, nothing touches global state."""

from __future__ import annotations

import numpy as np

__all__ = ["derive_seed", "make_rng", "resolve_seed"]

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
