"""Task similarity: from task descriptors, and from how tasks rank the same architectures.

Two measures, both in the same scale (1: the same task, 0: nothing in common):

* **Descriptor similarity** compares meta-features. Numeric descriptors are
  standardised over the tasks compared (log10 first when positive and spread
  over more than two orders of magnitude), categorical ones (strings,
  booleans) count 0 when equal and 1 when not (identifiers, different for
  every task, are ignored); the mean squared difference
  over the descriptors both tasks have gives a distance ``d2``, and
  ``exp(-d2 / (2 bandwidth**2))`` the similarity, multiplied by the fraction of
  the pair's descriptors both have.
* **Response similarity** is the rank correlation (Kendall's tau-b or
  Spearman's rho) of the two tasks' scores on the architectures both
  evaluated, matched by key, shrunk toward 0 when few are common:
  ``value = raw * n / (n + prior_n)`` for ``n >= 3`` common architectures,
  0 below. It is negative when the tasks disagree.

:class:`SimilarityIndex` holds a memory in one matrix, so a search can
re-rank the memory after every new result for the cost of a few vector
operations; :func:`rank_tasks` is the one-call form.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from metanas._checks import check_positive_float
from metanas.meta._records import TaskHistory

__all__ = [
    "Similarity",
    "SimilarityIndex",
    "descriptor_similarity",
    "prior_ranking",
    "PRIOR_POWER",
    "prior_task_weights",
    "rank_correlation",
    "rank_tasks",
    "response_similarity",
    "task_similarities",
]

Correlation = Literal["kendall", "spearman"]
Method = Literal["descriptor", "response", "auto"]
_CORRELATIONS = ("kendall", "spearman")
_METHODS = ("descriptor", "response", "auto")
#: Kendall's tau in O(n^2) numpy up to this many points; scipy's O(n log n) above.
_KENDALL_DENSE_LIMIT = 1500
#: Fewer common architectures than this give no response evidence (similarity 0).
MIN_COMMON = 3
#: Power of the descriptor similarities in the ``meta`` strategy's prior task weights (see
#: ``docs/meta.md``, "The prior's power and a design prior", for what was measured).
PRIOR_POWER = 1.0


@dataclass(frozen=True)
class Similarity:
    """How similar a past task is to the target task.

    Attributes
    ----------
    task
        The past task.
    value
        The similarity used for ranking (in [-1, 1]; descriptor similarity is
        in [0, 1]).
    raw
        Before shrinkage: the rank correlation on the common architectures
        (NaN when undefined), or the descriptor similarity.
    n_common
        Architectures evaluated on both tasks (response), or descriptors both
        tasks have (descriptor).
    method
        ``"descriptor"``, ``"response"`` or ``"auto"`` (a blend of both).
    """

    task: str
    value: float
    raw: float
    n_common: int
    method: str


# ====================================================================== rank correlation
def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as ``scipy.stats.rankdata``)."""
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts_mask = np.empty(n, dtype=bool)
    starts_mask[:1] = True
    starts_mask[1:] = xs[1:] != xs[:-1]
    group = np.cumsum(starts_mask) - 1
    starts = np.flatnonzero(starts_mask)
    ends = np.append(starts[1:], n)
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg[group]
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    yc = y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc) / den if den > 0 else math.nan


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    if n > _KENDALL_DENSE_LIMIT:
        from scipy.stats import kendalltau

        return float(kendalltau(x, y).statistic)
    iu = np.triu_indices(n, 1)
    dx = np.sign(x[:, None] - x[None, :])[iu]
    dy = np.sign(y[:, None] - y[None, :])[iu]
    s = float(dx @ dy)
    tx = float(np.count_nonzero(dx))
    ty = float(np.count_nonzero(dy))
    den = math.sqrt(tx * ty)
    return s / den if den > 0 else math.nan


def rank_correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    method: Correlation = "kendall",
) -> float:
    """Kendall's tau-b or Spearman's rho of two equally long samples (NaN when undefined).

    Matches ``scipy.stats.kendalltau`` (tau-b) and ``scipy.stats.spearmanr``;
    undefined (NaN) for fewer than 2 points or a constant sample.

    Examples
    --------
    >>> rank_correlation([1, 2, 3, 4], [10, 20, 40, 30], "spearman")
    0.8
    >>> round(rank_correlation([1, 2, 3, 4], [10, 20, 40, 30], "kendall"), 4)
    0.6667
    """
    if method not in _CORRELATIONS:
        raise ValueError(f"method must be 'kendall' or 'spearman'; got {method!r}.")
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same length; got {a.shape[0]} and {b.shape[0]}.")
    if len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    if method == "spearman":
        return _pearson(_average_ranks(a), _average_ranks(b))
    return _kendall(a, b)


def _shrink(raw: float, n: int, prior_n: float) -> float:
    if n < MIN_COMMON or not math.isfinite(raw):
        return 0.0
    return raw * n / (n + prior_n)


def _check_prior(prior_n: float) -> float:
    if isinstance(prior_n, bool) or not isinstance(prior_n, int | float) or prior_n < 0:
        raise ValueError(f"prior_n must be a number >= 0; got {prior_n!r}.")
    return float(prior_n)


def response_similarity(
    a: TaskHistory,
    b: TaskHistory,
    *,
    correlation: Correlation = "kendall",
    prior_n: float = 10.0,
) -> Similarity:
    """Rank correlation of two tasks' scores on the architectures both evaluated.

    Architectures are matched by ``keys`` (read both histories with the same
    space). Scores are oriented (larger is better), so two tasks that agree
    correlate positively whatever their metrics' directions.

    Parameters
    ----------
    a, b
        The two histories; the result is about ``b`` (its ``task``).
    correlation
        ``"kendall"`` (tau-b, default) or ``"spearman"``.
    prior_n
        Shrinkage: the value is ``raw * n / (n + prior_n)`` for ``n`` common
        architectures (0 when ``n < 3``).
    """
    index = SimilarityIndex({b.task: b})
    return index.response(a, correlation=correlation, prior_n=prior_n)[0]


# ====================================================================== descriptors
def _numeric(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_
    )


def _descriptor_matrix(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row and descriptor: standardised value, category code, presence; numeric columns."""
    names = list(keys) if keys is not None else sorted({k for r in rows for k in r})
    n, m = len(rows), len(names)
    num = np.full((n, m), np.nan)
    cat = np.full((n, m), -1, dtype=np.int64)
    is_num = np.zeros(m, dtype=bool)
    for j, k in enumerate(names):
        vals = [r.get(k) for r in rows]
        present = [v for v in vals if v is not None and not isinstance(v, list | dict)]
        if present and all(_numeric(v) and math.isfinite(float(v)) for v in present):
            is_num[j] = True
            col = np.array([float(v) if v is not None and _numeric(v) else np.nan for v in vals])
            pos = col[np.isfinite(col)]
            if len(pos) and pos.min() > 0 and pos.max() / pos.min() > 100:
                col = np.log10(col)
            sd = np.nanstd(col)
            mu = np.nanmean(col)
            num[:, j] = (col - mu) / sd if sd > 0 else np.where(np.isnan(col), np.nan, 0.0)
        else:
            codes: dict[str, int] = {}
            for i, v in enumerate(vals):
                if v is None or isinstance(v, list | dict):
                    continue
                cat[i, j] = codes.setdefault(repr(v), len(codes))
            # A different value for every task (3 or more): an identifier such as
            # the data set's name, which says nothing about similarity.
            if keys is None and len(present) >= 3 and len(codes) == len(present):
                cat[:, j] = -1
    present_mask = np.where(is_num[None, :], ~np.isnan(num), cat >= 0)
    return num, cat, present_mask, is_num


def descriptor_similarity(
    target: Mapping[str, Any],
    others: Mapping[str, Mapping[str, Any]],
    *,
    keys: Sequence[str] | None = None,
    bandwidth: float = 1.0,
) -> dict[str, Similarity]:
    """Similarity of ``target``'s descriptors to each of ``others``'.

    Numeric descriptors are standardised over the target and all others
    together (log10 first when all positive and spread over > 2 orders of
    magnitude); a categorical one (string, boolean) differs by 0 or 1, and
    is ignored when it has a different value for each of 3 or more tasks (an
    identifier, such as the data set's name; unless named in ``keys``). With
    ``d2`` the mean squared difference over the descriptors both tasks have,
    the similarity is ``exp(-d2 / (2 bandwidth**2))`` times the fraction of
    the pair's descriptors that both have. Tasks sharing no descriptor get 0.

    Parameters
    ----------
    target
        Descriptors of the new task.
    others
        ``{task: descriptors}``.
    keys
        Only these descriptors (default: all).
    bandwidth
        Distance scale, in standard deviations.

    Examples
    --------
    >>> sims = descriptor_similarity(
    ...     {"n": 1000, "kind": "image"},
    ...     {"same": {"n": 1000, "kind": "image"}, "far": {"n": 50000, "kind": "text"}},
    ... )
    >>> sims["same"].value, round(sims["far"].value, 3)
    (1.0, 0.253)
    """
    if not isinstance(bandwidth, int | float) or not bandwidth > 0:
        raise ValueError(f"bandwidth must be a number > 0; got {bandwidth!r}.")
    if not isinstance(target, Mapping):
        raise TypeError(f"target must be a dict of descriptors; got {type(target).__name__}.")
    names = list(others)
    rows = [target, *(others[n] for n in names)]
    num, cat, present, is_num = _descriptor_matrix(rows, keys)
    both = present[0][None, :] & present[1:]
    either = present[0][None, :] | present[1:]
    diff_num = (num[1:] - num[0][None, :]) ** 2
    diff_cat = (cat[1:] != cat[0][None, :]).astype(np.float64)
    sq = np.where(is_num[None, :], diff_num, diff_cat)
    sq = np.where(both, sq, 0.0)
    n_both = both.sum(axis=1)
    n_either = either.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d2 = np.where(n_both > 0, sq.sum(axis=1) / np.maximum(n_both, 1), np.inf)
        coverage = np.where(n_either > 0, n_both / np.maximum(n_either, 1), 0.0)
    sim = np.exp(-d2 / (2.0 * bandwidth**2)) * coverage
    return {
        name: Similarity(name, float(sim[i]), float(sim[i]), int(n_both[i]), "descriptor")
        for i, name in enumerate(names)
    }


# ====================================================================== the index
class SimilarityIndex:
    """A memory's scores in one matrix, for cheap repeated similarity queries.

    Build it once per search from ``memory.memory_for(task, space=space)``;
    each :meth:`response` call then costs one gather and one rank correlation
    per past task, on the architectures the target evaluated.

    Parameters
    ----------
    memory
        ``{task: TaskHistory}``, read with the same space (so keys match) as
        the target's history.

    Examples
    --------
    >>> from metanas import Architecture
    >>> archs = [Architecture({"x": i}) for i in range(6)]
    >>> up = TaskHistory.from_evaluations("up", archs, [0, 1, 2, 3, 4, 5])
    >>> down = TaskHistory.from_evaluations("down", archs, [5, 4, 3, 2, 1, 0])
    >>> index = SimilarityIndex({"up": up, "down": down})
    >>> new = TaskHistory.from_evaluations("new", archs[:4], [0.1, 0.2, 0.3, 0.4])
    >>> [(s.task, s.raw, s.n_common) for s in index.response(new)]
    [('up', 1.0, 4), ('down', -1.0, 4)]
    """

    def __init__(self, memory: Mapping[str, TaskHistory]) -> None:
        if not isinstance(memory, Mapping):
            raise TypeError(
                "memory must be a dict {task: TaskHistory}, e.g. from "
                f"ExperienceMemory.memory_for(...); got {type(memory).__name__}."
            )
        for name, h in memory.items():
            if not isinstance(h, TaskHistory):
                raise TypeError(f"memory[{name!r}] must be a TaskHistory; got {type(h).__name__}.")
        self.memory = dict(memory)
        self.tasks = list(self.memory)
        self._column: dict[Hashable, int] = {}
        for h in self.memory.values():
            for k in h.keys:
                self._column.setdefault(k, len(self._column))
        self._scores = np.full((len(self.tasks), len(self._column)), np.nan)
        for i, h in enumerate(self.memory.values()):
            if len(h):
                cols = np.fromiter((self._column[k] for k in h.keys), dtype=np.int64)
                self._scores[i, cols] = h.scores

    def __repr__(self) -> str:
        return f"SimilarityIndex(tasks={len(self.tasks)}, architectures={len(self._column)})"

    def scores_for(self, keys: Sequence[Hashable]) -> np.ndarray:
        """Oriented scores of each past task on ``keys``: shape (n_tasks, len(keys)), NaN unseen."""
        cols = np.fromiter((self._column.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        out = np.full((len(self.tasks), len(cols)), np.nan)
        known = cols >= 0
        out[:, known] = self._scores[:, cols[known]]
        return out

    def response(
        self,
        target: TaskHistory | None = None,
        *,
        keys: Sequence[Hashable] | None = None,
        scores: Sequence[float] | np.ndarray | None = None,
        correlation: Correlation = "kendall",
        prior_n: float = 10.0,
    ) -> list[Similarity]:
        """Response similarity of every past task to the target, in memory order.

        Give the target as a :class:`TaskHistory`, or as ``keys`` and oriented
        ``scores`` (larger is better) of the architectures it evaluated.
        """
        if correlation not in _CORRELATIONS:
            raise ValueError(f"correlation must be 'kendall' or 'spearman'; got {correlation!r}.")
        prior = _check_prior(prior_n)
        k, y = _target_evidence(target, keys, scores)
        past = self.scores_for(k)
        out = []
        for i, task in enumerate(self.tasks):
            row = past[i]
            mask = ~np.isnan(row)
            n = int(mask.sum())
            raw = rank_correlation(row[mask], y[mask], correlation) if n >= 2 else math.nan
            out.append(Similarity(task, _shrink(raw, n, prior), raw, n, "response"))
        return out

    def descriptor(
        self,
        target: Mapping[str, Any],
        *,
        keys: Sequence[str] | None = None,
        bandwidth: float = 1.0,
    ) -> list[Similarity]:
        """Descriptor similarity of every past task to ``target``'s descriptors, in memory order."""
        sims = descriptor_similarity(
            target,
            {t: h.descriptors for t, h in self.memory.items()},
            keys=keys,
            bandwidth=bandwidth,
        )
        return [sims[t] for t in self.tasks]

    def similarities(
        self,
        target: TaskHistory | Mapping[str, Any],
        *,
        method: Method = "auto",
        correlation: Correlation = "kendall",
        prior_n: float = 10.0,
        keys: Sequence[str] | None = None,
        bandwidth: float = 1.0,
    ) -> list[Similarity]:
        """Every past task's similarity to ``target``, most similar first (ties: by name).

        See :func:`rank_tasks` for the parameters.
        """
        if method not in _METHODS:
            raise ValueError(f"method must be one of {list(_METHODS)!r}; got {method!r}.")
        history = target if isinstance(target, TaskHistory) else None
        if history is None and not isinstance(target, Mapping):
            raise TypeError(
                "target must be a TaskHistory (the new task's evaluations) or a dict of its "
                f"descriptors; got {type(target).__name__}."
            )
        descriptors: Mapping[str, Any] = (
            history.descriptors if history is not None else target  # type: ignore[assignment]
        )
        if method == "response" and history is None:
            raise ValueError(
                "method='response' needs the new task's evaluations: pass a TaskHistory "
                "(TaskHistory.from_evaluations(...)), or use method='descriptor' or 'auto'."
            )
        if method == "descriptor":
            sims = self.descriptor(descriptors, keys=keys, bandwidth=bandwidth)
        elif method == "response":
            sims = self.response(history, correlation=correlation, prior_n=prior_n)
        else:
            desc = self.descriptor(descriptors, keys=keys, bandwidth=bandwidth)
            if history is None or not len(history):
                sims = [Similarity(s.task, s.value, s.raw, s.n_common, "auto") for s in desc]
            else:
                resp = self.response(history, correlation=correlation, prior_n=prior_n)
                prior = _check_prior(prior_n)
                sims = []
                for d, r in zip(desc, resp, strict=True):
                    evidence = r.n_common >= MIN_COMMON and math.isfinite(r.raw)
                    w = r.n_common / (r.n_common + prior) if evidence else 0.0
                    value = w * r.raw + (1.0 - w) * d.value if evidence else d.value
                    sims.append(Similarity(d.task, value, r.raw, r.n_common, "auto"))
        return sorted(sims, key=lambda s: (-s.value, s.task))

    def rank(
        self, target: TaskHistory | Mapping[str, Any], **kwargs: Any
    ) -> list[tuple[str, float]]:
        """``[(task, similarity), ...]``, most similar first (see :func:`rank_tasks`)."""
        return [(s.task, s.value) for s in self.similarities(target, **kwargs)]


def _target_evidence(
    target: TaskHistory | None,
    keys: Sequence[Hashable] | None,
    scores: Sequence[float] | np.ndarray | None,
) -> tuple[Sequence[Hashable], np.ndarray]:
    if target is not None:
        if keys is not None or scores is not None:
            raise ValueError("Give the target as a TaskHistory or as keys and scores, not both.")
        if not isinstance(target, TaskHistory):
            raise TypeError(f"target must be a TaskHistory; got {type(target).__name__}.")
        return target.keys, target.scores
    if keys is None or scores is None:
        raise ValueError(
            "response() needs the target's evaluations: a TaskHistory, or keys= and scores=."
        )
    y = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(keys) != len(y):
        raise ValueError(
            f"keys and scores must have the same length; got {len(keys)} and {len(y)}."
        )
    return keys, y


# ====================================================================== one-call forms
def task_similarities(
    target: TaskHistory | Mapping[str, Any],
    memory: Mapping[str, TaskHistory] | SimilarityIndex,
    *,
    method: Method = "auto",
    correlation: Correlation = "kendall",
    prior_n: float = 10.0,
    keys: Sequence[str] | None = None,
    bandwidth: float = 1.0,
) -> list[Similarity]:
    """Like :func:`rank_tasks`, with the details of each similarity."""
    index = memory if isinstance(memory, SimilarityIndex) else SimilarityIndex(memory)
    return index.similarities(
        target, method=method, correlation=correlation, prior_n=prior_n, keys=keys,
        bandwidth=bandwidth,
    )  # fmt: skip


def rank_tasks(
    target: TaskHistory | Mapping[str, Any],
    memory: Mapping[str, TaskHistory] | SimilarityIndex,
    *,
    method: Method = "auto",
    correlation: Correlation = "kendall",
    prior_n: float = 10.0,
    keys: Sequence[str] | None = None,
    bandwidth: float = 1.0,
) -> list[tuple[str, float]]:
    """Past tasks from most to least similar to ``target``: ``[(task, similarity), ...]``.

    Parameters
    ----------
    target
        The new task: its :class:`TaskHistory` (evaluations so far, and its
        descriptors) or just a dict of its descriptors.
    memory
        ``{task: TaskHistory}`` (e.g. ``ExperienceMemory.memory_for(task)``),
        or a :class:`SimilarityIndex` built from one (cheaper when called often).
    method
        ``"descriptor"``: meta-features only. ``"response"``: rank correlation
        on common architectures, shrunk toward 0 (needs a TaskHistory).
        ``"auto"`` (default): ``w * correlation + (1 - w) * descriptor
        similarity`` with ``w = n / (n + prior_n)`` for ``n >= 3`` common
        architectures (else 0): descriptors decide before evidence exists,
        evidence decides as it grows.
    correlation
        ``"kendall"`` (tau-b) or ``"spearman"``.
    prior_n
        Common architectures at which evidence and prior weigh the same.
    keys, bandwidth
        Passed to :func:`descriptor_similarity`.

    Returns
    -------
    list of (str, float)
        Ties are ordered by task name.

    Examples
    --------
    >>> from metanas import Architecture
    >>> archs = [Architecture({"x": i}) for i in range(5)]
    >>> memory = {
    ...     "a": TaskHistory.from_evaluations("a", archs, [1, 2, 3, 4, 5], descriptors={"n": 10}),
    ...     "b": TaskHistory.from_evaluations("b", archs, [5, 4, 3, 2, 1], descriptors={"n": 99}),
    ... }
    >>> [t for t, _ in rank_tasks({"n": 99}, memory, method="descriptor")]
    ['b', 'a']
    >>> new = TaskHistory.from_evaluations("new", archs, [0, 1, 2, 3, 4])
    >>> [t for t, _ in rank_tasks(new, memory, method="response")]
    ['a', 'b']
    """
    return [
        (s.task, s.value)
        for s in task_similarities(
            target,
            memory,
            method=method,
            correlation=correlation,
            prior_n=prior_n,
            keys=keys,
            bandwidth=bandwidth,
        )
    ]


def prior_task_weights(
    descriptors: Mapping[str, Any] | None,
    others: Mapping[str, Mapping[str, Any]],
    *,
    power: float = PRIOR_POWER,
) -> dict[str, float]:
    """Weights of past tasks before any result of the new task: descriptor similarity, sum 1.

    ``others`` is ``{past task: its descriptors}``. Each weight is proportional
    to the task's :func:`descriptor_similarity` raised to ``power`` (default
    :data:`PRIOR_POWER`; 1: proportional to the similarity, larger: the most
    similar tasks weigh more, so a cluster of many loosely similar tasks does not
    outvote one close relative). Equal weights when the new task has no
    descriptors, or when the similarities are all 0 or all equal. This is the
    prior of the ``meta`` strategy's zero-shot portfolio and first asks.

    Examples
    --------
    >>> prior_task_weights({}, {"a": {"n": 1}, "b": {"n": 100}})
    {'a': 0.5, 'b': 0.5}
    """
    names = list(others)
    if not names:
        return {}
    uniform = {n: 1.0 / len(names) for n in names}
    if not descriptors:
        return uniform
    power = check_positive_float("power", power, "E.g. 3; 1: proportional to the similarity.")
    sims = descriptor_similarity(descriptors, {n: dict(others[n]) for n in names})
    w = np.array([max(sims[n].value, 0.0) for n in names]) ** power
    if w.sum() <= 0 or np.ptp(w) < 1e-9:
        return uniform
    return {n: float(v) for n, v in zip(names, w / w.sum(), strict=True)}


def prior_ranking(
    descriptors: Mapping[str, Any] | None, others: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Past tasks from most to least similar by descriptors (:func:`prior_task_weights`).

    Ties (every task, when the new one has no descriptors) keep the order of
    ``others``, so the first ``k`` of the ranking are a deterministic choice of ``k`` past
    tasks: the ones the ``meta`` strategy keeps when its memory holds more than its
    ``max_past_tasks``.

    Examples
    --------
    >>> prior_ranking({"n": 100}, {"a": {"n": 1}, "b": {"n": 90}, "c": {"n": 100}})
    ['c', 'b', 'a']
    >>> prior_ranking({}, {"a": {"n": 1}, "b": {"n": 90}})
    ['a', 'b']
    """
    w = prior_task_weights(descriptors, others)
    names = list(others)
    order = sorted(range(len(names)), key=lambda i: -w[names[i]])  # stable: ties keep order
    return [names[i] for i in order]
