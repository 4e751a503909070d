"""A per-operation latency table of a supernet, measured on the running machine (ProxylessNAS).

Each candidate operation of each decision is timed alone with
:func:`~metanas.evaluation.hardware.measure_latency_ms` at the input shape it
sees inside the network (batch 1, CPU). The fixed part of the network (stem,
reductions, head, Python overhead) is the *base* latency: the measured
latency of a whole discrete network minus the table entries of its
operations. Then the latency of any architecture is estimated as ``base +
sum_d table[d, choice_d]`` and, for the relaxed network, its expectation
``base + sum_d softmax(alpha_d) . table[d]`` is differentiable in ``alpha``.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from metanas.evaluation.hardware import measure_latency_ms
from metanas.oneshot.supernet import SpaceSuperNet

__all__ = [
    "LatencyTable",
    "constrained_choices",
    "fit_to_latency",
    "latency_penalty",
    "measure_latency_table",
]

_EXACT_LIMIT = 100_000
#: Partial choices kept per decision by the beam search of :func:`constrained_choices`.
_BEAM = 512


@dataclass(frozen=True)
class LatencyTable:
    """Latency (ms, batch 1) of every candidate of every decision, and the fixed base.

    Attributes
    ----------
    decisions
        Decision names, in the supernet's order.
    candidates
        Per decision, the candidate operation names.
    table_ms
        Shape ``(n_decisions, n_candidates)``; NaN for a masked candidate.
    base_ms
        Latency of the network outside the decisions.
    scale
        Factor on the table's sum: operations inside a network cost more than
        alone (calls, memory); :func:`measure_latency_table` calibrates it on
        two whole networks.
    """

    decisions: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]
    table_ms: np.ndarray
    base_ms: float
    scale: float = 1.0

    def estimate(self, choice: Sequence[int]) -> float:
        """Estimated latency (ms) of the sub-network with one candidate index per decision."""
        ops = float(sum(self.table_ms[d, int(k)] for d, k in enumerate(choice)))
        return self.base_ms + self.scale * ops

    def expected(self, probabilities: torch.Tensor) -> torch.Tensor:
        """``base + sum(p * table)``: the differentiable expected latency of a relaxed network."""
        table = torch.as_tensor(
            np.nan_to_num(self.table_ms, nan=0.0), dtype=probabilities.dtype,
            device=probabilities.device,
        )  # fmt: skip
        return self.base_ms + self.scale * (probabilities * table).sum()

    def to_dict(self) -> dict[str, object]:
        """JSON-able form: ``{"base_ms": ..., "ops": {decision: {op: ms}}}``."""
        return {
            "base_ms": self.base_ms,
            "scale": self.scale,
            "ops": {
                name: {
                    op: float(self.table_ms[d, k])
                    for k, op in enumerate(ops)
                    if math.isfinite(self.table_ms[d, k])
                }
                for d, (name, ops) in enumerate(zip(self.decisions, self.candidates, strict=True))
            },
        }


def latency_penalty(expected_ms: torch.Tensor, limit_ms: float, weight: float) -> torch.Tensor:
    """``weight * max(0, E[lat] - limit) / limit``: zero under the limit, linear above it."""
    return weight * torch.relu(expected_ms - limit_ms) / limit_ms


def fit_to_latency(
    scores: np.ndarray,
    allowed: np.ndarray,
    table: LatencyTable,
    limit_ms: float,
    start: Sequence[int],
) -> list[int]:
    """The choice of largest total score whose table estimate is within ``limit_ms``.

    ``scores`` (shape ``(n_decisions, n_candidates)``) are per-decision
    log-probabilities, so the total is the log-probability of the network:
    the result is the most likely architecture within the limit. ``start``
    (the unconstrained choice) is returned when it is within the limit. Up to
    ``_EXACT_LIMIT`` combinations are searched exhaustively; beyond, ``start``
    is improved greedily (the swap to a faster candidate that loses the least
    score per millisecond saved, until within the limit). When no network is
    within the limit, the fastest is returned.
    """
    choice = [int(k) for k in start]
    if table.estimate(choice) <= limit_ms:
        return choice
    options = [[k for k in range(allowed.shape[1]) if allowed[d, k]] for d in range(len(choice))]
    if math.prod(len(o) for o in options) <= _EXACT_LIMIT:
        return _exact(scores, options, table, limit_ms)
    lat = np.nan_to_num(table.table_ms, nan=np.inf)
    while table.estimate(choice) > limit_ms:
        best: tuple[float, int, int] | None = None
        for d, cur in enumerate(choice):
            for k in range(lat.shape[1]):
                saved = lat[d, cur] - lat[d, k]
                if not allowed[d, k] or not saved > 0:
                    continue
                cost = float(scores[d, cur] - scores[d, k]) / float(saved)
                if best is None or cost < best[0]:
                    best = (cost, d, k)
        if best is None:
            break
        choice[best[1]] = best[2]
    return choice


def constrained_choices(
    scores: np.ndarray,
    allowed: np.ndarray,
    table: LatencyTable,
    limit_ms: float,
    k: int = 1,
) -> list[list[int]]:
    """The ``k`` choices of largest total score whose table estimate is within ``limit_ms``.

    A knapsack-like search over the per-decision candidates: exhaustive when the decisions
    have at most ``_EXACT_LIMIT`` combinations, else a beam search over the decisions in
    order (``_BEAM`` partial choices kept, those that cannot be completed within the limit
    dropped). Best first; ties go to the faster choice. Fewer than ``k`` come back when
    fewer fit.

    Parameters
    ----------
    scores
        Shape ``(n_decisions, n_candidates)``: per-decision scores whose sum ranks a
        choice (log-probabilities: the most likely networks within the limit).
    allowed
        Same shape, bool: the candidates a choice may take.
    table
        The latency table of the decisions.
    limit_ms
        Largest table estimate a choice may have.
    k
        How many choices to return.

    Raises
    ------
    ValueError
        For shapes that do not match the table, ``limit_ms`` not a finite number > 0,
        ``k`` < 1, or a limit below the fastest allowed network (the error names that
        network's estimate).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    if not (isinstance(limit_ms, int | float) and math.isfinite(limit_ms) and limit_ms > 0):
        raise ValueError(f"limit_ms must be a finite number > 0; got {limit_ms!r}.")
    shape = table.table_ms.shape
    if scores.shape != shape or allowed.shape != shape:
        raise ValueError(
            f"scores and allowed must have the latency table's shape {shape}; got "
            f"{scores.shape} and {allowed.shape}."
        )
    lat = np.where(allowed, np.nan_to_num(table.table_ms, nan=np.inf), np.inf)
    if not np.isfinite(lat.min(axis=1)).all():
        raise ValueError("Every decision needs at least one allowed candidate with a latency.")
    fastest = table.base_ms + table.scale * float(lat.min(axis=1).sum())
    if fastest > limit_ms:
        raise ValueError(
            f"No network is within limit_ms={limit_ms:g}: the fastest allowed one is "
            f"estimated at {fastest:.4g} ms. Raise the limit or allow faster candidates."
        )
    options = [np.flatnonzero(np.isfinite(lat[d]) & (scores[d] > -np.inf)) for d in range(len(lat))]
    if any(len(o) == 0 for o in options):
        raise ValueError("Every decision needs an allowed candidate with a finite score.")
    budget = (limit_ms - table.base_ms) / table.scale if table.scale > 0 else np.inf
    if math.prod(len(o) for o in options) <= _EXACT_LIMIT:
        combos = np.array(list(itertools.product(*options)), dtype=np.int64)
    else:
        combos = _beam(scores, lat, options, budget)
    rows = np.arange(combos.shape[1])
    total = scores[rows, combos].sum(axis=1)
    ops = lat[rows, combos].sum(axis=1)
    keep = ops <= budget + 1e-12
    combos, total, ops = combos[keep], total[keep], ops[keep]
    order = np.lexsort((ops, -total))[:k]
    return [[int(c) for c in combos[i]] for i in order]


def _beam(
    scores: np.ndarray, lat: np.ndarray, options: list[np.ndarray], budget: float
) -> np.ndarray:
    # Cheapest completion of the decisions after each position, to drop hopeless partials.
    rest = np.concatenate([np.cumsum(lat.min(axis=1)[::-1])[::-1][1:], [0.0]])
    partial = np.zeros((1, 0), dtype=np.int64)
    p_score, p_lat = np.zeros(1), np.zeros(1)
    for d, opts in enumerate(options):
        n, m = len(p_score), len(opts)
        partial = np.concatenate([np.repeat(partial, m, axis=0), np.tile(opts, n)[:, None]], axis=1)
        p_score = np.repeat(p_score, m) + np.tile(scores[d, opts], n)
        p_lat = np.repeat(p_lat, m) + np.tile(lat[d, opts], n)
        ok = p_lat + rest[d] <= budget + 1e-12
        partial, p_score, p_lat = partial[ok], p_score[ok], p_lat[ok]
        best = np.lexsort((p_lat, -p_score))[:_BEAM]
        partial, p_score, p_lat = partial[best], p_score[best], p_lat[best]
    return partial


def _exact(
    scores: np.ndarray, options: list[list[int]], table: LatencyTable, limit_ms: float
) -> list[int]:
    combos = np.array(list(itertools.product(*options)), dtype=np.int64)
    rows = np.arange(combos.shape[1])
    total = scores[rows, combos].sum(axis=1)
    ops = np.nan_to_num(table.table_ms, nan=np.inf)[rows, combos].sum(axis=1)
    latency = table.base_ms + table.scale * ops
    feasible = latency <= limit_ms
    if not feasible.any():
        return [int(k) for k in combos[int(np.argmin(latency))]]
    best = int(np.argmax(np.where(feasible, total, -np.inf)))
    return [int(k) for k in combos[best]]


def measure_latency_table(
    supernet: SpaceSuperNet, *, repeats: int = 20, warmup: int = 3
) -> LatencyTable:
    """Time every allowed candidate operation of ``supernet`` on this machine (batch 1, CPU).

    A decision whose ``alpha`` is shared by several mixed operations (the
    cells of ``nb201``) gets the sum of their latencies. The base latency and
    the scale of the table's sum are calibrated on two discrete networks built
    by the space (so they include everything the retrained network runs): the
    fastest and the slowest derivable ones.
    """
    was_training = supernet.training
    supernet.eval()
    device = next(iter(supernet.parameters())).device
    with torch.no_grad():
        # One pass records every mixed operation's input shape.
        supernet(torch.zeros((1, *supernet.input_shape), device=device), supernet.derive_indices())
    supernet.train(was_training)
    mask = supernet.mask.cpu().numpy()
    n_dec, n_ops = mask.shape
    table = np.full((n_dec, n_ops), np.nan)
    for d, mixed in enumerate(supernet.mixed_ops()):
        for k in range(n_ops):
            if not mask[d, k]:
                continue
            total = 0.0
            for m in mixed:
                if m.input_shape is None:  # pragma: no cover - every op runs in the probe pass
                    raise RuntimeError("A mixed operation was not run by the probe pass.")
                total += measure_latency_ms(
                    m.ops[k], m.input_shape, 1, repeats=repeats, warmup=warmup
                )
            table[d, k] = total
    derivable = supernet.derivable().cpu().numpy()
    masked = np.where(derivable, table, np.nan)
    fastest = [int(np.nanargmin(masked[d])) for d in range(n_dec)]
    slowest = [int(np.nanargmax(masked[d])) for d in range(n_dec)]

    def whole(choice: list[int]) -> tuple[float, float]:
        model = supernet.space.build_model(
            supernet.architecture(choice), supernet.input_shape, _n_classes(supernet), seed=0
        )
        ms = measure_latency_ms(model, supernet.input_shape, 1, repeats=repeats, warmup=warmup)
        return ms, float(sum(table[d, k] for d, k in enumerate(choice)))

    # Two whole networks calibrate base and scale: measured = base + scale * sum(table).
    m_fast, t_fast = whole(fastest)
    m_slow, t_slow = whole(slowest)
    scale = 1.0
    if t_slow > t_fast and m_slow > m_fast:
        scale = (m_slow - m_fast) / (t_slow - t_fast)
    base = max(0.0, m_fast - scale * t_fast)
    return LatencyTable(
        decisions=tuple(name for name, _ in supernet.decisions),
        candidates=tuple(ops for _, ops in supernet.decisions),
        table_ms=table,
        base_ms=base,
        scale=scale,
    )


def _n_classes(supernet: SpaceSuperNet) -> int:
    last = [m for m in supernet.modules() if isinstance(m, torch.nn.Linear)][-1]
    return int(last.out_features)
