"""A per-operation latency table of a supernet, measured on the running machine (ProxylessNAS).

Each candidate operation of each decision is timed alone with
:func:`~metanas.evaluation.hardware.measure_latency_ms` at the input shape it
sees inside the network (batch 1, CPU). The fixed part of the network (stem,
reductions, head, Python overhead) is the *base* latency: the measured
latency of a whole discrete network minus the table entries of its
operations. Then the latency of any architecture is estimated as ``base +
sum_d table[d, choice_d]`` and, for the relaxed network, its expectation
``base + sum_d softmax(alpha_d) . table[d]`` is differentiable in ``alpha``.

A chain supernet that searches widths gets a *width-aware* table: a block runs
on the channels its predecessor produced (a block after a 16-channel block runs
on 16 channels, not the skeleton's 64), so each candidate is timed at every
input width it can receive, and an architecture's estimate follows the widths
along its chain (:attr:`LatencyTable.width_table_ms`). The fixed-width table
over-estimated narrow networks by costing every block at the skeleton's width.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from metanas.evaluation.hardware import measure_latency_ms
from metanas.models.networks import ResidualBlock
from metanas.models.ops import OPS, Projection
from metanas.oneshot.supernet import ChainSuperNet, SpaceSuperNet

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
        whole networks.
    widths
        Width-aware tables only (else None): the channel counts a decision's input can have.
    width_table_ms
        Width-aware tables only: shape ``(n_decisions, len(widths), n_candidates)``, the
        latency of each candidate on an input of each width (NaN: masked, or a width the
        decision never receives). ``table_ms`` then holds the entries at the skeleton's
        input widths.
    out_widths
        Width-aware tables only: shape ``(n_decisions, n_candidates)``, the channels each
        candidate outputs; 0 for one that keeps its input's channels (pooling, identity).
    start_width
        Width-aware tables only: the channels entering the first decision.
    """

    decisions: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]
    table_ms: np.ndarray
    base_ms: float
    scale: float = 1.0
    widths: tuple[int, ...] | None = None
    width_table_ms: np.ndarray | None = None
    out_widths: np.ndarray | None = None
    start_width: int = 0

    @property
    def width_aware(self) -> bool:
        """Whether a block's cost depends on the width its predecessors produce."""
        return self.width_table_ms is not None

    def estimate(self, choice: Sequence[int]) -> float:
        """Estimated latency (ms) of the sub-network with one candidate index per decision.

        Infinite when the choice holds a masked candidate (a NaN entry): it never fits a limit.
        """
        ops = float(self.ops_ms(np.asarray([choice], dtype=np.int64))[0])
        return self.base_ms + self.scale * ops

    def ops_ms(self, combos: np.ndarray) -> np.ndarray:
        """Sum of the table entries of each row of ``combos`` (shape ``(n, n_decisions)``).

        Width-aware: each entry is read at the width the chain before it produces. NaN
        entries (masked candidates) count as infinite.
        """
        combos = np.asarray(combos, dtype=np.int64)
        rows = np.arange(combos.shape[1])
        if self.width_table_ms is None:
            lat = np.nan_to_num(self.table_ms, nan=np.inf)
            return np.asarray(lat[rows, combos].sum(axis=1), dtype=float)
        lat_w = np.nan_to_num(self.width_table_ms, nan=np.inf)
        out_idx = self._out_index()
        w = np.full(combos.shape[0], self._width_index(self.start_width), dtype=np.int64)
        total = np.zeros(combos.shape[0])
        for d in rows:
            k = combos[:, d]
            total = total + lat_w[d, w, k]
            nxt = out_idx[d, k]
            w = np.where(nxt >= 0, nxt, w)
        return total

    def expected(self, probabilities: torch.Tensor) -> torch.Tensor:
        """``base + sum(p * table)``: the differentiable expected latency of a relaxed network.

        Width-aware: the exact expectation when the decisions are independent, the
        distribution of each decision's input width carried along the chain.
        """
        dtype, device = probabilities.dtype, probabilities.device

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.nan_to_num(a, nan=0.0), dtype=dtype, device=device)

        if self.width_table_ms is None or self.widths is None:
            return self.base_ms + self.scale * (probabilities * tensor(self.table_ms)).sum()
        lat_w = tensor(self.width_table_ms)
        out_idx = self._out_index()
        n_w = len(self.widths)
        start = np.zeros(n_w)
        start[self._width_index(self.start_width)] = 1.0
        q = tensor(start)
        total = torch.zeros((), dtype=dtype, device=device)
        for d in range(lat_w.shape[0]):
            p = probabilities[d]
            total = total + q @ lat_w[d] @ p
            # q: the distribution of the width entering the next decision.
            fixed = np.zeros((out_idx.shape[1], n_w))
            for k, j in enumerate(out_idx[d]):
                if j >= 0:
                    fixed[k, j] = 1.0
            keep = tensor((out_idx[d] < 0).astype(float))
            q = p @ tensor(fixed) + (p * keep).sum() * q
        return self.base_ms + self.scale * total

    def fastest(self, allowed: np.ndarray) -> list[int]:
        """The allowed choice of smallest estimate (width-aware: a shortest path over widths)."""
        lat = np.where(allowed, np.nan_to_num(self.table_ms, nan=np.inf), np.inf)
        if self.width_table_ms is None:
            return [int(np.argmin(row)) for row in lat]
        _, best = self._min_rest(allowed)
        w = self._width_index(self.start_width)
        out_idx = self._out_index()
        choice = []
        for d in range(lat.shape[0]):
            k = int(best[d, w])
            choice.append(k)
            w = int(out_idx[d, k]) if out_idx[d, k] >= 0 else w
        return choice

    # -------------------------------------------------------- width-aware internals
    def _width_index(self, width: int) -> int:
        if self.widths is None:  # pragma: no cover - callers check width_aware
            raise RuntimeError("Not a width-aware latency table.")
        return self.widths.index(int(width))

    def _out_index(self) -> np.ndarray:
        """Per decision and candidate: the index of its output width, -1: keeps its input's."""
        if self.out_widths is None or self.widths is None:  # pragma: no cover
            raise RuntimeError("Not a width-aware latency table.")
        lookup = {w: i for i, w in enumerate(self.widths)}
        out = np.full(self.out_widths.shape, -1, dtype=np.int64)
        for idx, c in np.ndenumerate(self.out_widths):
            out[idx] = lookup.get(int(c), -1)
        return out

    def _min_rest(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest completion from each decision and input width, and its first choice.

        ``rest[d, w]``: the smallest table sum of decisions ``d ..`` entered at width
        index ``w`` (``rest[n_dec] = 0``); ``best[d, w]``: the candidate that achieves it.
        """
        if self.width_table_ms is None:  # pragma: no cover - callers check width_aware
            raise RuntimeError("Not a width-aware latency table.")
        lat_w = np.where(
            allowed[:, None, :], np.nan_to_num(self.width_table_ms, nan=np.inf), np.inf
        )
        out_idx = self._out_index()
        n_dec, n_w, _ = lat_w.shape
        rest = np.zeros((n_dec + 1, n_w))
        best = np.zeros((n_dec, n_w), dtype=np.int64)
        for d in range(n_dec - 1, -1, -1):
            for w in range(n_w):
                nxt = np.where(out_idx[d] >= 0, out_idx[d], w)
                cost = lat_w[d, w] + rest[d + 1, nxt]
                best[d, w] = int(np.argmin(cost))
                rest[d, w] = float(cost[best[d, w]])
        return rest, best

    def to_dict(self) -> dict[str, object]:
        """JSON-able form: ``{"base_ms": ..., "ops": {decision: {op: ms}}}``.

        Width-aware tables add ``"width_ops": {decision: {input width: {op: ms}}}``.
        """
        out: dict[str, object] = {
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
        if self.width_table_ms is not None and self.widths is not None:
            wt = self.width_table_ms
            out["width_ops"] = {
                name: {
                    str(w): {
                        op: float(wt[d, i, k])
                        for k, op in enumerate(ops)
                        if math.isfinite(wt[d, i, k])
                    }
                    for i, w in enumerate(self.widths)
                    if np.isfinite(wt[d, i]).any()
                }
                for d, (name, ops) in enumerate(zip(self.decisions, self.candidates, strict=True))
            }
        return out


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
    usable = allowed & (scores > -np.inf)
    if table.width_aware:
        rest, _ = table._min_rest(usable)
        fastest_ops = float(rest[0, table._width_index(table.start_width)])
    else:
        fastest_ops = float(lat.min(axis=1).sum())
    fastest = table.base_ms + table.scale * fastest_ops
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
    elif table.width_aware:
        combos = _beam_widths(scores, usable, table, options, budget)
    else:
        combos = _beam(scores, lat, options, budget)
    rows = np.arange(combos.shape[1])
    total = scores[rows, combos].sum(axis=1)
    ops = table.ops_ms(combos)
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


def _beam_widths(
    scores: np.ndarray,
    usable: np.ndarray,
    table: LatencyTable,
    options: list[np.ndarray],
    budget: float,
) -> np.ndarray:
    """:func:`_beam` whose partial choices carry the width the chain so far produces."""
    rest, _ = table._min_rest(usable)
    lat_w = np.nan_to_num(table.width_table_ms, nan=np.inf)  # type: ignore[arg-type]
    out_idx = table._out_index()
    partial = np.zeros((1, 0), dtype=np.int64)
    p_score, p_lat = np.zeros(1), np.zeros(1)
    p_w = np.array([table._width_index(table.start_width)], dtype=np.int64)
    for d, opts in enumerate(options):
        n, m = len(p_score), len(opts)
        ks = np.tile(opts, n)
        ws = np.repeat(p_w, m)
        partial = np.concatenate([np.repeat(partial, m, axis=0), ks[:, None]], axis=1)
        p_score = np.repeat(p_score, m) + scores[d, ks]
        p_lat = np.repeat(p_lat, m) + lat_w[d, ws, ks]
        p_w = np.where(out_idx[d, ks] >= 0, out_idx[d, ks], ws)
        ok = p_lat + rest[d + 1, p_w] <= budget + 1e-12
        partial, p_score, p_lat, p_w = partial[ok], p_score[ok], p_lat[ok], p_w[ok]
        best = np.lexsort((p_lat, -p_score))[:_BEAM]
        partial, p_score, p_lat, p_w = partial[best], p_score[best], p_lat[best], p_w[best]
    return partial


def _exact(
    scores: np.ndarray, options: list[list[int]], table: LatencyTable, limit_ms: float
) -> list[int]:
    combos = np.array(list(itertools.product(*options)), dtype=np.int64)
    rows = np.arange(combos.shape[1])
    total = scores[rows, combos].sum(axis=1)
    ops = table.ops_ms(combos)
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
    cells of ``nb201``) gets the sum of their latencies. A
    :class:`~metanas.oneshot.ChainSuperNet` that searches widths gets a width-aware table:
    each candidate is built and timed at every input width the chain can give it (as the
    derived network builds it: a dropped identity block costs 0, a pooling block keeps
    its input's width). The base latency and the scale of the table's sum are calibrated
    on two discrete networks built by the space (so they include everything the retrained
    network runs): the fastest and the slowest derivable ones.
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
    width_parts: dict[str, object] = {}
    if isinstance(supernet, ChainSuperNet) and supernet.widths is not None:
        widths, width_table, out_widths, start = _chain_width_table(
            supernet, mask, repeats=repeats, warmup=warmup
        )
        for d, mixed in enumerate(supernet.mixed_ops()):
            shape = mixed[0].input_shape
            if shape is None:  # pragma: no cover - every op runs in the probe pass
                raise RuntimeError("A mixed operation was not run by the probe pass.")
            table[d] = width_table[d, widths.index(int(shape[0]))]
        width_parts = {
            "widths": widths, "width_table_ms": width_table, "out_widths": out_widths,
            "start_width": start,
        }  # fmt: skip
    else:
        for d, mixed in enumerate(supernet.mixed_ops()):
            for k in range(n_ops):
                if not mask[d, k]:
                    continue
                total = 0.0
                for m in mixed:
                    if m.input_shape is None:  # pragma: no cover - every op runs in the probe
                        raise RuntimeError("A mixed operation was not run by the probe pass.")
                    total += measure_latency_ms(
                        m.ops[k], m.input_shape, 1, repeats=repeats, warmup=warmup
                    )
                table[d, k] = total
    raw = LatencyTable(
        decisions=tuple(name for name, _ in supernet.decisions),
        candidates=tuple(ops for _, ops in supernet.decisions),
        table_ms=table, base_ms=0.0, scale=1.0, **width_parts,  # type: ignore[arg-type]
    )  # fmt: skip
    derivable = supernet.derivable().cpu().numpy()
    masked = np.where(derivable, table, np.nan)
    fastest = raw.fastest(derivable)
    slowest = [int(np.nanargmax(masked[d])) for d in range(n_dec)]

    def whole(choice: list[int]) -> tuple[float, float]:
        model = supernet.space.build_model(
            supernet.architecture(choice), supernet.input_shape, _n_classes(supernet), seed=0
        )
        ms = measure_latency_ms(model, supernet.input_shape, 1, repeats=repeats, warmup=warmup)
        return ms, raw.estimate(choice)

    # Two whole networks calibrate base and scale: measured = base + scale * sum(table).
    m_fast, t_fast = whole(fastest)
    m_slow, t_slow = whole(slowest)
    scale = 1.0
    if t_slow > t_fast and m_slow > m_fast:
        scale = (m_slow - m_fast) / (t_slow - t_fast)
    base = max(0.0, m_fast - scale * t_fast)
    return dataclasses.replace(raw, base_ms=base, scale=scale)


def _chain_width_table(
    supernet: ChainSuperNet, mask: np.ndarray, *, repeats: int, warmup: int
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, int]:
    """Per decision, input width and candidate: the latency of the block the space builds.

    Returns the widths, the table (NaN: masked, or a width the decision never receives),
    each candidate's output width (0: keeps its input's) and the width entering the
    first decision.
    """
    sk = supernet.skeleton
    act, norm, residual = str(sk["activation"]), str(sk["norm"]), bool(sk["residual"])
    dims = int(supernet._dims)
    n_dec, n_ops = mask.shape
    out_widths = np.zeros((n_dec, n_ops), dtype=np.int64)
    for d in range(n_dec):
        for k, (name, width) in enumerate(supernet.candidates):
            if name not in ("identity", "max_pool", "avg_pool"):
                out_widths[d, k] = int(sk[f"channels_{d + 1}"]) if width is None else int(width)
    mixed = [m for (m,) in supernet.mixed_ops()]
    shapes = [m.input_shape for m in mixed]
    if any(s is None for s in shapes):  # pragma: no cover - every op runs in the probe pass
        raise RuntimeError("A mixed operation was not run by the probe pass.")
    start = int(shapes[0][0])  # type: ignore[index]
    # The widths each decision can receive, following the allowed candidates.
    reach = [{start}]
    for d in range(n_dec):
        nxt = {int(out_widths[d, k]) for k in range(n_ops) if mask[d, k] and out_widths[d, k]}
        if any(mask[d, k] and not out_widths[d, k] for k in range(n_ops)):
            nxt |= reach[d]
        reach.append(nxt)
    widths = tuple(sorted(set().union(*reach)))
    table = np.full((n_dec, len(widths), n_ops), np.nan)
    for d in range(n_dec):
        spatial = tuple(int(n) for n in shapes[d][1:])  # type: ignore[index]
        stride = tuple(int(sk[f"stride_{d + 1}"]) if n > 1 else 1 for n in spatial)
        for c_in in sorted(reach[d]):
            i = widths.index(c_in)
            for k, (name, _) in enumerate(supernet.candidates):
                if not mask[d, k]:
                    continue
                if name == "identity":
                    # The space drops identity blocks from the network it builds.
                    table[d, i, k] = 0.0
                    continue
                c_out = int(out_widths[d, k]) or c_in
                op = OPS[name](c_in, c_out, stride, dims, act=act, norm=norm)
                if residual:
                    same = c_out == c_in and all(s == 1 for s in stride)
                    shortcut = (
                        torch.nn.Identity() if same else Projection(c_in, c_out, stride, dims, norm)
                    )
                    op = ResidualBlock(op, shortcut)
                # The smaller of two medians: a burst of load on a shared machine inflates
                # one entry (seen: 2x), and the derivation would then avoid that candidate.
                table[d, i, k] = min(
                    measure_latency_ms(op, (c_in, *spatial), 1, repeats=repeats, warmup=warmup)
                    for _ in range(2)
                )
    return widths, table, out_widths, start


def _n_classes(supernet: SpaceSuperNet) -> int:
    last = [m for m in supernet.modules() if isinstance(m, torch.nn.Linear)][-1]
    return int(last.out_features)
