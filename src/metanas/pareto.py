"""Pareto fronts: non-dominated sorting, crowding distance, hypervolume, plots.

Points are arrays of shape ``(n, m)``: ``n`` points, ``m`` objectives. Each
function takes ``directions``, one ``"maximize"``/``"minimize"`` (or
``"max"``/``"min"``) per objective; None means every objective is maximised,
which is how strategies see scores (:attr:`metanas.strategies.Observation.scores`
is oriented so that larger is better).

A point *dominates* another when it is at least as good in every objective
and strictly better in one. Equal points do not dominate each other, so both
stay on a front.

Examples
--------
>>> pts = [[0.80, 0.004], [0.78, 0.002], [0.75, 0.003], [0.70, 0.001]]
>>> dirs = ("maximize", "minimize")
>>> pareto_front(pts, dirs).tolist()
[0, 1, 3]
>>> [f.tolist() for f in non_dominated_sort(pts, dirs)]
[[0, 1, 3], [2]]
>>> round(hypervolume(pts, reference=(0.5, 0.005), directions=dirs), 6)
0.00106
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "crowding_distance",
    "hypervolume",
    "non_dominated_sort",
    "pareto_front",
    "plot_pareto",
]

_DIRECTIONS = {"maximize": 1.0, "max": 1.0, "minimize": -1.0, "min": -1.0}


# ---------------------------------------------------------------- validation
def _as_points(points: ArrayLike, name: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 1)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_points, n_objectives); got shape "
            f"{arr.shape}. Pass one row per point, e.g. [[0.8, 0.004], [0.7, 0.001]]."
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} needs at least one objective (column); got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} must be finite; row {int(bad[0])} holds {float(arr[bad[0], bad[1]])!r}. Drop "
            "failed or unmeasured points first."
        )
    return arr


def _signs(directions: Sequence[str] | str | None, m: int) -> np.ndarray:
    """+1 for maximised objectives, -1 for minimised ones."""
    if directions is None:
        return np.ones(m)
    if isinstance(directions, str):
        directions = [directions]
    dirs = list(directions)
    if len(dirs) != m:
        raise ValueError(
            f"Give one direction per objective: the points have {m} objective(s) but "
            f"directions is {dirs!r}."
        )
    out = []
    for d in dirs:
        key = d.lower() if isinstance(d, str) else d
        if key not in _DIRECTIONS:
            raise ValueError(
                f"Each direction must be 'maximize' or 'minimize' (or 'max'/'min'); got {d!r}."
            )
        out.append(_DIRECTIONS[key])
    return np.asarray(out)


def _maximised(
    points: ArrayLike, directions: Sequence[str] | str | None, name: str = "points"
) -> np.ndarray:
    arr = _as_points(points, name)
    out: np.ndarray = arr * _signs(directions, arr.shape[1])
    return out


# ---------------------------------------------------------------- fronts
def _front_mask(p: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``p`` (every objective maximised)."""
    n, m = p.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    # Lexicographically descending: a point can only be dominated by one before it.
    order = np.lexsort(tuple(-p[:, j] for j in reversed(range(m))))
    if m == 1:
        mask[p[:, 0] == p[:, 0].max()] = True
        return mask
    if m == 2:
        best1 = -math.inf
        last: np.ndarray | None = None
        for i in order:
            x = p[i]
            if x[1] > best1 or (last is not None and x[0] == last[0] and x[1] == last[1]):
                mask[i] = True
                if x[1] > best1:
                    best1, last = float(x[1]), x
        return mask
    kept = np.empty_like(p)
    k = 0
    for i in order:
        x = p[i]
        if k:
            ge = np.all(kept[:k] >= x, axis=1)
            if np.any(ge & np.any(kept[:k] > x, axis=1)):
                continue
        kept[k] = x
        k += 1
        mask[i] = True
    return mask


def pareto_front(points: ArrayLike, directions: Sequence[str] | str | None = None) -> np.ndarray:
    """Indices of the non-dominated points, ascending.

    Parameters
    ----------
    points
        Shape ``(n, m)``.
    directions
        One ``"maximize"``/``"minimize"`` per objective (None: all maximised).

    Returns
    -------
    numpy.ndarray
        Integer indices into ``points``; equal non-dominated points are all kept.

    Examples
    --------
    >>> pareto_front([[1, 5], [2, 4], [1, 4], [0, 6]]).tolist()
    [0, 1, 3]
    >>> pareto_front([[1, 5], [2, 3], [1, 4], [3, 1]], ("minimize", "minimize")).tolist()
    [1, 2, 3]
    """
    p = _maximised(points, directions)
    return np.flatnonzero(_front_mask(p))


def non_dominated_sort(
    points: ArrayLike, directions: Sequence[str] | str | None = None
) -> list[np.ndarray]:
    """Fronts of successive non-domination (Deb et al. 2002): front 0 is the Pareto front.

    Front ``k`` holds the points dominated only by points of fronts ``< k``.

    Parameters
    ----------
    points
        Shape ``(n, m)``.
    directions
        One ``"maximize"``/``"minimize"`` per objective (None: all maximised).

    Returns
    -------
    list of numpy.ndarray
        Each front as ascending indices into ``points``; together they hold
        every index once.

    Examples
    --------
    >>> [f.tolist() for f in non_dominated_sort([[1, 1], [3, 3], [2, 2], [3, 1]])]
    [[1], [2, 3], [0]]

    References
    ----------
    Deb, K., Pratap, A., Agarwal, S. & Meyarivan, T. A fast and elitist
    multiobjective genetic algorithm: NSGA-II. IEEE Transactions on
    Evolutionary Computation 6(2), 2002.
    """
    p = _maximised(points, directions)
    left = np.arange(len(p))
    fronts: list[np.ndarray] = []
    while left.size:
        mask = _front_mask(p[left])
        fronts.append(left[mask])
        left = left[~mask]
    return fronts


def crowding_distance(points: ArrayLike) -> np.ndarray:
    """Crowding distance of each point of one front (Deb et al. 2002).

    For every objective the points are sorted; the two extremes get infinity
    and each other point adds the gap between its neighbours divided by the
    objective's range. Directions do not matter. Fronts of one or two points
    are all infinite; an objective with no spread adds nothing.

    Parameters
    ----------
    points
        Shape ``(n, m)``: the points of one front.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``; larger means a less crowded point.

    Examples
    --------
    >>> crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]]).tolist()
    [inf, 1.25, 1.25, inf]
    """
    p = _as_points(points)
    n, m = p.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = math.inf
        return dist
    for j in range(m):
        order = np.argsort(p[:, j], kind="stable")
        col = p[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = math.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


# ---------------------------------------------------------------- hypervolume
def _hv_min(p: np.ndarray, r: np.ndarray) -> float:
    """Hypervolume of minimised points ``p`` (all strictly below ``r``) up to ``r``."""
    n, m = p.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(r[0] - p[:, 0].min())
    p = p[_front_mask(-p)]
    if m == 2:
        p = p[np.argsort(p[:, 0], kind="stable")]
        xs = np.append(p[1:, 0], r[0])
        return float(np.sum((xs - p[:, 0]) * (r[1] - p[:, 1])))
    # Slice along the last objective: between consecutive levels the dominated
    # region is the (m-1)-D hypervolume of the points at or below the level.
    p = p[np.argsort(p[:, -1], kind="stable")]
    levels = np.append(p[1:, -1], r[-1])
    total = 0.0
    for i in range(len(p)):
        height = levels[i] - p[i, -1]
        if height > 0:
            total += height * _hv_min(p[: i + 1, :-1], r[:-1])
    return total


def hypervolume(
    points: ArrayLike,
    reference: ArrayLike,
    directions: Sequence[str] | str | None = None,
) -> float:
    """The volume dominated by ``points`` and bounded by the ``reference`` point (exact).

    Points that are not strictly better than ``reference`` in every objective
    add nothing. Two objectives take ``O(n log n)``; more use the
    slicing-objectives algorithm, exponential in the number of objectives,
    which is fine for fronts of up to a few hundred points in 3 or 4
    objectives.

    Parameters
    ----------
    points
        Shape ``(n, m)``; ``n`` may be 0 (hypervolume 0).
    reference
        Shape ``(m,)``: a point worse than the points of interest in every
        objective (e.g. the worst value of each objective).
    directions
        One ``"maximize"``/``"minimize"`` per objective (None: all maximised).

    Returns
    -------
    float

    Examples
    --------
    >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=(0, 0))
    6.0
    >>> hypervolume([[1, 3], [2, 2]], reference=(4, 4), directions=("min", "min"))
    5.0
    """
    ref = np.asarray(reference, dtype=float).reshape(-1)
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, ref.size)
    p = _as_points(arr)
    if ref.size != p.shape[1] or not np.isfinite(ref).all():
        raise ValueError(
            f"reference must be {p.shape[1]} finite number(s), one per objective; got "
            f"{np.asarray(reference).tolist()!r}."
        )
    s = _signs(directions, p.shape[1])
    pm, rm = -s * p, -s * ref  # minimisation form
    pm = pm[np.all(pm < rm, axis=1)]
    return _hv_min(pm, rm)


# ---------------------------------------------------------------- plots
def plot_pareto(
    sets: Mapping[str, ArrayLike],
    path: str | os.PathLike[str],
    *,
    directions: Sequence[str] = ("minimize", "maximize"),
    labels: Sequence[str] = ("objective 1", "objective 2"),
    title: str | None = None,
    background: ArrayLike | None = None,
    background_label: str = "all points",
    logx: bool = False,
    show_dominated: bool = True,
    zoom: bool = True,
) -> Path:
    """Draw the Pareto front of each set of 2-objective points and save a PNG.

    Each set is drawn as its front's staircase (the boundary of the region it
    dominates) with markers, and, when ``show_dominated``, its other points as
    faint dots. ``background`` (e.g. a whole benchmark table) is drawn in grey
    underneath. Uses matplotlib's Agg backend (no display needed).

    Parameters
    ----------
    sets
        ``{label: points}``; points of shape ``(n, 2)``: column 0 on the x
        axis, column 1 on the y axis.
    path
        The PNG to write (parent folders are created).
    directions
        The direction of the x and the y objective.
    labels
        Axis labels (x, y).
    title
        Figure title.
    background
        Shape ``(k, 2)`` points drawn in light grey.
    background_label
        Legend entry of the background.
    logx
        Logarithmic x axis (e.g. latency spanning decades).
    show_dominated
        Also draw each set's dominated points.
    zoom
        Limit the axes to the sets' fronts (with a margin), so a large
        background does not squeeze them into a corner.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if matplotlib.get_backend().lower() != "agg":
        plt.switch_backend("Agg")
    if len(list(directions)) != 2 or len(list(labels)) != 2:
        raise ValueError(
            f"plot_pareto draws 2 objectives: give 2 directions and 2 labels; got "
            f"directions={list(directions)!r}, labels={list(labels)!r}."
        )
    _signs(directions, 2)  # validates
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    if background is not None:
        bg = _as_points(background, "background")
        ax.scatter(
            bg[:, 0], bg[:, 1], s=2, color="0.82", alpha=0.5, linewidths=0,
            label=background_label, rasterized=True, zorder=1,
        )  # fmt: skip
    x_min = str(directions[0]).lower().startswith("min")
    markers = "os^Dv<>p*h"
    fronts: list[np.ndarray] = []
    for i, (label, pts) in enumerate(sets.items()):
        p = _as_points(pts, f"points of {label!r}")
        if p.shape[1] != 2:
            raise ValueError(f"plot_pareto needs 2 objectives; {label!r} has {p.shape[1]}.")
        colour = f"C{i}"
        idx = pareto_front(p, directions)
        front = p[idx][np.argsort(p[idx, 0], kind="stable")]
        fronts.append(front)
        if show_dominated and len(idx) < len(p):
            rest = np.delete(p, idx, axis=0)
            ax.scatter(rest[:, 0], rest[:, 1], s=9, color=colour, alpha=0.25, linewidths=0,
                       zorder=2)  # fmt: skip
        ax.step(
            front[:, 0], front[:, 1], where="post" if x_min else "pre", color=colour,
            linewidth=1.4, zorder=3,
        )  # fmt: skip
        ax.scatter(
            front[:, 0], front[:, 1], s=26, color=colour, marker=markers[i % len(markers)],
            edgecolors="white", linewidths=0.5, zorder=4, label=f"{label} ({len(front)} on front)",
        )  # fmt: skip
    if logx:
        ax.set_xscale("log")
    shown = np.vstack(fronts) if fronts else np.zeros((0, 2))
    if zoom and len(shown):
        _zoom(ax, shown, logx)
    ax.set_xlabel(f"{labels[0]} ({'lower' if x_min else 'higher'} is better)")
    y_min = str(directions[1]).lower().startswith("min")
    ax.set_ylabel(f"{labels[1]} ({'lower' if y_min else 'higher'} is better)")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _zoom(ax: object, pts: np.ndarray, logx: bool, margin: float = 0.06) -> None:
    """Axis limits around ``pts`` with a relative margin (in log space for a log x axis)."""
    log = logx and bool(np.all(pts[:, 0] > 0))
    xs = np.log10(pts[:, 0]) if log else pts[:, 0]
    limits = []
    for col in (xs, pts[:, 1]):
        lo, hi = float(col.min()), float(col.max())
        pad = (hi - lo) * margin or (abs(hi) * margin or 1.0)
        limits.append((lo - pad, hi + pad))
    (x0, x1), (y0, y1) = limits
    if log:
        x0, x1 = 10**x0, 10**x1
    ax.set_xlim(x0, x1)  # type: ignore[attr-defined]
    ax.set_ylim(y0, y1)  # type: ignore[attr-defined]
