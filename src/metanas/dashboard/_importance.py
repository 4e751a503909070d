"""Which decisions matter: permutation importances of a random forest on one-hot decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["decision_importances"]


def decision_importances(
    archs: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    seed: int = 0,
    max_rows: int = 2000,
    n_estimators: int = 48,
    n_repeats: int = 3,
) -> dict[str, float]:
    """Share of the explained variance lost when one decision is shuffled.

    A random forest is fitted on the one-hot encoded decisions (every column of one
    decision shuffled together, so a decision with many choices is not split into many
    small importances); each decision's importance is the mean drop of the forest's R^2
    on its training rows when that decision's columns are permuted, clipped at 0 and
    normalised to sum to 1. Decisions that never vary get 0.

    Parameters
    ----------
    archs
        Architectures as mappings of decision name to choice.
    values
        Their objective values (finite).
    seed
        Seed of the row subsample, the forest and the permutations.
    max_rows
        Larger studies are subsampled to this many rows (fitting stays well under a second).
    n_estimators, n_repeats
        Trees of the forest; permutations per decision.

    Returns
    -------
    dict
        ``{decision: importance}``, largest first; empty with fewer than 8 rows.

    Examples
    --------
    >>> archs = [{"a": i % 2, "b": i % 3} for i in range(60)]
    >>> imp = decision_importances(archs, [float(a["a"]) for a in archs])
    >>> max(imp, key=imp.__getitem__)
    'a'
    """
    from sklearn.ensemble import RandomForestRegressor

    y = np.asarray(values, dtype=float)
    if len(archs) != len(y):
        raise ValueError(f"archs and values must have the same length; got {len(archs)}, {len(y)}.")
    if len(y) < 8:
        return {}
    rng = np.random.default_rng(seed)
    rows = list(range(len(y)))
    if len(y) > max_rows:
        rows = sorted(int(i) for i in rng.choice(len(y), size=max_rows, replace=False))
    names = list(dict.fromkeys(k for i in rows for k in archs[i]))
    blocks: dict[str, list[int]] = {}
    columns: list[np.ndarray] = []
    for name in names:
        choices = [repr(archs[i].get(name)) for i in rows]
        levels = sorted(set(choices))
        start = len(columns)
        lookup = {c: j for j, c in enumerate(levels)}
        codes = np.array([lookup[c] for c in choices])
        for j in range(len(levels)):
            columns.append((codes == j).astype(float))
        blocks[name] = list(range(start, len(columns))) if len(levels) > 1 else []
    X = np.column_stack(columns)
    yy = y[rows]
    if float(np.std(yy)) == 0.0:
        return dict.fromkeys(names, 0.0)
    forest = RandomForestRegressor(
        n_estimators=n_estimators, min_samples_leaf=2, random_state=int(rng.integers(2**31)),
        n_jobs=1,
    )  # fmt: skip
    forest.fit(X, yy)
    base = float(forest.score(X, yy))
    raw: dict[str, float] = {}
    for name, cols in blocks.items():
        if not cols:
            raw[name] = 0.0
            continue
        drops = []
        for _ in range(n_repeats):
            Xp = X.copy()
            Xp[:, cols] = X[rng.permutation(len(yy))][:, cols]
            drops.append(base - float(forest.score(Xp, yy)))
        raw[name] = max(0.0, float(np.mean(drops)))
    total = sum(raw.values())
    out = {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
