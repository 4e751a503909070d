"""Zero-shot portfolios: which ``k`` architectures to try first on a task with no results yet.

Each past task is a *scenario* of what the new task might be like: its score of an
architecture on a shared scale (normal scores of ranks). A portfolio is built greedily, each
pick maximising the weighted mean over scenarios of the best score in the set (Wistuba et al.
2015). Taken literally, that objective says the new task *is* one of the past tasks: once a
scenario's best architecture is in the set, no other architecture adds anything for that
scenario, however heavily it is weighted: the set never takes a close second of the task the new
one most resembles.

Related tasks are not copies. :func:`greedy_portfolio` therefore scores a set by the
*expected* best under ``noise``: in scenario ``j``, the new task's score of ``a`` is
``z_j(a) + noise * e_a`` with independent standard normal ``e_a``. With ``noise > 0`` two
near-equal architectures of a likely scenario are worth more than one, so the set hedges
within the most similar tasks as well as across tasks; ``noise = 0`` is the literal cover.

The expectation has no closed form for more than two architectures; it is computed by
quadrature of the maximum's distribution function (a product of normal distribution functions)
on a grid per scenario, so nothing is sampled and the result is deterministic; the first pick
is exactly the best weighted mean (the expected score of one architecture is its score,
whatever ``noise``).

References
----------
Wistuba, M., Schilling, N. & Schmidt-Thieme, L. Sequential model-free hyperparameter tuning.
ICDM 2015.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from metanas._checks import check_nonnegative_float

__all__ = ["PORTFOLIO_NOISE", "greedy_portfolio"]

#: Default ``noise`` (normal-score units): chosen on the task-family table with memory draws
#: that no reported number uses (docs/meta.md, "The portfolio's noise").
PORTFOLIO_NOISE = 1.0
#: What a bad noise's error adds: what the value means.
NOISE_FIX = (
    " It is the sd of how far the new task may stray from a past task; 0 is the literal cover."
)
#: Candidates scored at once: bounds the (tasks x candidates x grid) work array.
_CHUNK = 512
#: Quadrature points per scenario, and how far (in units of ``noise``) the grid reaches.
_GRID = 128
_REACH = 7.0


def greedy_portfolio(
    scores: np.ndarray,
    weights: np.ndarray,
    k: int,
    *,
    noise: float = PORTFOLIO_NOISE,
) -> list[int]:
    """Indices of ``k`` candidates, in pick order, that maximise the expected best score.

    Parameters
    ----------
    scores
        Shape (n_scenarios, n_candidates): each past task's score of each candidate, on one
        scale for all tasks (e.g. normal scores of ranks). Non-finite scores never win.
    weights
        Shape (n_scenarios,): non-negative scenario weights (e.g. descriptor similarity).
    k
        How many candidates (fewer when there are fewer candidates).
    noise
        How far, in score units, the new task's score may stray from a scenario's
        (standard deviation); 0 is the literal cover of Wistuba et al.

    Returns
    -------
    list of int
        Candidate indices, best first; ties go to the earlier candidate.

    Raises
    ------
    ValueError
        Shapes that do not match, a negative weight, a negative or non-finite ``noise``,
        or ``k < 1``.

    Examples
    --------
    Scenario 0 (weight 0.8) has two near-equal bests; scenario 1 (weight 0.2) prefers
    candidate 2. The literal cover takes one candidate per scenario; with noise, the second
    best of the likely scenario comes before the unlikely scenario's best:

    >>> z = np.array([[2.0, 1.9, 0.0], [1.0, 1.0, 2.0]])
    >>> greedy_portfolio(z, np.array([0.8, 0.2]), 2, noise=0.0)
    [0, 2]
    >>> greedy_portfolio(z, np.array([0.8, 0.2]), 2, noise=1.0)
    [0, 1]
    """
    z = np.asarray(scores, dtype=float)
    w = np.asarray(weights, dtype=float)
    if z.ndim != 2 or w.shape != (z.shape[0],):
        raise ValueError(
            "scores must have shape (n_scenarios, n_candidates) and weights (n_scenarios,); "
            f"got {z.shape} and {w.shape}."
        )
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0; got {w.tolist()}.")
    sd = check_nonnegative_float("noise", noise, NOISE_FIX)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    n_cand = z.shape[1]
    if w.sum() > 0:  # a scenario of weight 0 cannot matter (and 0 * -inf would be NaN)
        z, w = z[w > 0], w[w > 0]
    else:
        w = np.ones_like(w)
    # -inf, not NaN, so a failed candidate loses every comparison instead of poisoning a sum.
    z = np.where(np.isfinite(z), z, -np.inf)
    if sd == 0 or not np.isfinite(z).any():
        return _cover(z, w, min(k, n_cand))
    chosen: list[int] = []
    taken = np.zeros(n_cand, dtype=bool)
    grid = cdf = step_h = np.zeros(0)
    for step in range(min(k, n_cand)):
        if step == 0:  # E[one architecture's score] is its score: exact, no quadrature
            gain = w @ z
        else:
            gain = np.full(n_cand, -np.inf)
            for lo in range(0, n_cand, _CHUNK):
                hi = min(lo + _CHUNK, n_cand)
                # A -inf score is a factor of 1 (ndtr(inf)): it changes nothing.
                f = cdf[:, None, :] * ndtr((grid[:, None, :] - z[:, lo:hi, None]) / sd)
                # E[max] = top - integral of its distribution function (trapezoid rule).
                area = (f.sum(axis=2) - 0.5 * (f[:, :, 0] + f[:, :, -1])) * step_h[:, None]
                gain[lo:hi] = w @ (grid[:, -1, None] - area)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(i)
        taken[i] = True
        if step == 0:
            grid, step_h = _grids(z, i, sd)
            cdf = np.ones_like(grid)
        cdf = cdf * ndtr((grid - z[:, i, None]) / sd)
    return chosen


def _grids(z: np.ndarray, first: int, sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Each scenario's quadrature grid, shape (n_scenarios, _GRID), and its spacing.

    Below ``_REACH`` sds under the first pick's score the maximum's distribution function is
    below 1e-11 whatever is added, so the grid starts there and ends ``_REACH`` sds above the
    scenario's best candidate: its points sit where the expected maximum can still change.
    """
    rows = []
    for zj, base in zip(z, z[:, first], strict=True):
        ok = zj[np.isfinite(zj)]
        if not len(ok):  # a scenario that scores nothing: any grid (its factors are all 1)
            ok = np.zeros(1)
        low = (base if np.isfinite(base) else ok.min()) - _REACH * sd
        rows.append(np.linspace(low, ok.max() + _REACH * sd, _GRID))
    grid = np.vstack(rows)
    return grid, grid[:, 1] - grid[:, 0]


def _cover(z: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """The literal cover: each pick maximises ``sum_j w_j max(best_j, z_j(a))``."""
    chosen: list[int] = []
    best = np.full(z.shape[0], -np.inf)
    taken = np.zeros(z.shape[1], dtype=bool)
    for _ in range(k):
        gain = w @ np.maximum(best[:, None], z)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(i)
        taken[i] = True
        best = np.maximum(best, z[:, i])
    return chosen
