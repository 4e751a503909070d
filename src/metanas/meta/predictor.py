"""A performance predictor trained on the experience memory, and zero-shot suggestions.

:class:`TransferPredictor` is ``f(task descriptors, architecture) -> expected
score``: one Gaussian process per past task on the architecture encoding
(targets: normal scores of the task's ranks, so tasks with different accuracy
ranges share one scale), mixed by how similar each past task's descriptors are
to the new task's. The similarity bandwidth is learned on the memory itself by
leave-one-task-out: each past task in turn is predicted from the others, and
the bandwidth whose predictions rank the held-out tasks best wins (an infinite
bandwidth, equal weights, is a candidate, so uninformative descriptors cost
nothing).

:func:`suggest` proposes ``k`` architectures for a task that has no results
yet ("predict, then refine": a search evaluates them first, then goes on).
The ``k`` are a *portfolio*: each past task is a scenario of what the new one
might be like, and architectures are added greedily to maximise the weighted
mean, over scenarios, of the expected best predicted score in the set, the new
task's score allowed to stray from the scenario's by normal noise (Wistuba et
al. 2015, with :func:`~metanas.meta.greedy_portfolio`'s noise), so the set covers
tasks that disagree instead of repeating one region.

References
----------
Wistuba, M., Schilling, N. & Schmidt-Thieme, L. Sequential model-free
hyperparameter tuning. ICDM 2015.

Lee, H., Hyung, E. & Hwang, S. J. Rapid neural architecture search by learning
to generate graphs from datasets (MetaD2A). ICLR 2021.

Lee, H., Lee, S., Chong, S. & Hwang, S. J. HELP: Hardware-adaptive efficient
latency prediction for NAS via meta-learning. NeurIPS 2021.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metanas._checks import check_nonnegative_float
from metanas.exceptions import MetanasError
from metanas.meta._memory import ExperienceMemory
from metanas.meta._records import TaskHistory
from metanas.meta.portfolio import NOISE_FIX, PORTFOLIO_NOISE, greedy_portfolio
from metanas.meta.similarity import descriptor_similarity, rank_correlation
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.storage.rdb import RDBStorage
from metanas.surrogates import HammingGP, gaussian_copula, single_threaded_blas

__all__ = ["NotFittedError", "Suggestion", "TransferPredictor", "suggest"]

_logger = logging.getLogger(__name__)

#: Bandwidths (in standard deviations of the descriptors) tried by leave-one-task-out.
BANDWIDTHS: tuple[float, ...] = (0.5, 1.0, 2.0, math.inf)
#: Past tasks' GP hyperparameters are fitted on at most this many of their results.
_PARAM_FIT_POINTS = 60


class NotFittedError(MetanasError, RuntimeError):
    """The predictor was used before :meth:`TransferPredictor.fit`."""


@dataclass(frozen=True)
class Suggestion:
    """One zero-shot suggestion: an architecture and its predicted score.

    ``score`` is the predicted normal score of the architecture's rank on the
    new task (0 is a median architecture of the past tasks, 1 about the top
    16 %, 2 the top 2 %); ``per_task`` the same under each past task's model.
    """

    arch: Architecture
    score: float
    per_task: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self, space: SearchSpace | None = None) -> dict[str, Any]:
        """Plain JSON-ready dict (the architecture in the space's notation when given)."""
        return {
            "arch": space.format(self.arch) if space is not None else self.arch.to_string(),
            "score": self.score,
            "per_task": dict(self.per_task),
        }


def _groups(space: SearchSpace) -> list[np.ndarray]:
    """Kernel feature groups: one per decision for the space's one-hot encoding, else one."""
    sizes = [len(d.choices) for d in space.decisions]
    if space.encoding_size != sum(sizes):
        return [np.arange(space.encoding_size)]
    offsets = np.cumsum([0, *sizes])
    return [np.arange(offsets[i], offsets[i + 1]) for i in range(len(sizes))]


def spread(scores: np.ndarray, size: int) -> list[int]:
    """At most ``size`` rows: the best half of them, and an even spread of the rest."""
    n = len(scores)
    if n <= size:
        return list(range(n))
    order = np.argsort(-scores, kind="stable")
    n_top = size // 2
    rest = order[n_top:]
    picked = rest[np.linspace(0, len(rest) - 1, size - n_top).astype(int)]
    return sorted({*order[:n_top].tolist(), *picked.tolist()})


@dataclass
class TaskModel:
    """One past task: its GP on architecture encodings and its architectures, best first."""

    task: str
    gp: HammingGP
    archs: list[Architecture]
    scores: np.ndarray
    descriptors: Mapping[str, Any]

    @property
    def best(self) -> list[Architecture]:
        return [self.archs[i] for i in np.argsort(-self.scores, kind="stable")]


class TransferPredictor:
    """``f(task descriptors, architecture)``: a descriptor-weighted mixture of per-task GPs.

    Parameters
    ----------
    space
        The space the memory's architectures are read with.
    bandwidth
        Descriptor-similarity bandwidth; None learns it by leave-one-task-out
        on the memory (from :data:`BANDWIDTHS`), ``math.inf`` weighs all past
        tasks equally.
    max_points
        A past task with more results is modelled on its best half of this
        many plus an even spread of the rest (GP cost).

    Examples
    --------
    >>> import metanas
    >>> space = metanas.SearchSpace({"a": [0, 1, 2], "b": [0, 1, 2]})
    >>> archs = list(space.enumerate())
    >>> past = {
    ...     f"t{i}": TaskHistory.from_evaluations(
    ...         f"t{i}", archs, [a["a"] + i * a["b"] for a in archs], space=space,
    ...         descriptors={"size": 10 ** i})
    ...     for i in range(3)
    ... }
    >>> model = TransferPredictor(space).fit(past)
    >>> [s.arch for s in model.suggest({"size": 100}, k=1)]
    [Architecture(a=2, b=2)]
    """

    def __init__(
        self, space: SearchSpace, *, bandwidth: float | None = None, max_points: int = 300
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace; got {type(space).__name__}.")
        if bandwidth is not None and (
            isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float) or bandwidth <= 0
        ):
            raise ValueError(
                f"bandwidth must be a number > 0 (math.inf: equal task weights) or None to "
                f"learn it; got {bandwidth!r}."
            )
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 10:
            raise ValueError(f"max_points must be an int >= 10; got {max_points!r}.")
        self.space = space
        self.bandwidth = bandwidth
        self.max_points = max_points
        self._groups = _groups(space)
        self._cache: dict[Architecture, np.ndarray] = {}
        self.models: list[TaskModel] = []
        #: The bandwidth in use (learned by :meth:`fit` when ``bandwidth`` is None).
        self.bandwidth_: float | None = None
        #: Leave-one-task-out mean rank correlation for each bandwidth tried.
        self.cv_scores_: dict[float, float] = {}

    def __repr__(self) -> str:
        return f"TransferPredictor({self.space!r}, tasks={[m.task for m in self.models]})"

    # ------------------------------------------------------------------ fitting
    def encode(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Encodings of ``archs``, shape (len(archs), space.encoding_size)."""
        rows = []
        for a in archs:
            row = self._cache.get(a)
            if row is None:
                row = np.asarray(self.space.encode(a), dtype=float)
                self._cache[a] = row
            rows.append(row)
        return np.vstack(rows) if rows else np.zeros((0, self.space.encoding_size))

    def fit(self, memory: Mapping[str, TaskHistory]) -> TransferPredictor:
        """Fit one GP per past task (tasks with < 3 valid architectures are left out).

        Parameters
        ----------
        memory
            ``{task: TaskHistory}``, e.g. ``ExperienceMemory(...).memory_for(task, space=space)``.

        Returns
        -------
        self
        """
        if not isinstance(memory, Mapping):
            raise TypeError(
                "memory must be a dict {task: TaskHistory}, e.g. from "
                f"ExperienceMemory.memory_for(...); got {type(memory).__name__}."
            )
        models: list[TaskModel] = []
        with single_threaded_blas():
            for name, h in memory.items():
                if not isinstance(h, TaskHistory):
                    raise TypeError(
                        f"memory[{name!r}] must be a TaskHistory; got {type(h).__name__}."
                    )
                rows = [i for i, a in enumerate(h.archs) if self.space.is_valid(a)]
                if len(rows) < 3:
                    continue
                rows = [rows[i] for i in spread(h.scores[rows], self.max_points)]
                archs = [h.archs[i] for i in rows]
                scores = h.scores[rows]
                x = self.encode(archs)
                y = gaussian_copula(scores)
                gp = HammingGP(self._groups)
                sub = spread(scores, _PARAM_FIT_POINTS)
                gp.condition(x, y, gp.fit_params(x[sub], y[sub], maxiter=30))
                models.append(TaskModel(name, gp, archs, scores, dict(h.descriptors)))
        self.models = models
        self.bandwidth_ = self.bandwidth if self.bandwidth is not None else self._learn_bandwidth()
        return self

    def _learn_bandwidth(self) -> float:
        """The bandwidth whose held-out-task predictions rank best (ties: the larger)."""
        self.cv_scores_ = {}
        if len(self.models) < 3 or not any(self._numeric_descriptors(m) for m in self.models):
            return math.inf
        preds = []  # per held-out task: (per-task means at its archs, its scores)
        for i, m in enumerate(self.models):
            x = self.encode(m.archs)
            mu = np.vstack([o.gp.predict(x)[0] for j, o in enumerate(self.models) if j != i])
            preds.append((i, mu, m.scores))
        for bw in BANDWIDTHS:
            total = 0.0
            for i, mu, scores in preds:
                others = [o for j, o in enumerate(self.models) if j != i]
                w = self._weights_among(self.models[i].descriptors, others, bw)
                rho = rank_correlation(w @ mu, scores, method="spearman")
                total += rho if math.isfinite(rho) else 0.0  # constant predictions: no signal
            self.cv_scores_[bw] = total / len(preds)
        best = max(self.cv_scores_.values())
        # Prefer the widest bandwidth within 0.01 of the best: fewer assumptions, same ranking.
        return max(bw for bw, v in self.cv_scores_.items() if v >= best - 0.01)

    @staticmethod
    def _numeric_descriptors(model: TaskModel) -> bool:
        return any(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in model.descriptors.values()
        )

    @staticmethod
    def _weights_among(
        descriptors: Mapping[str, Any], models: Sequence[TaskModel], bandwidth: float
    ) -> np.ndarray:
        n = len(models)
        if n == 0:
            return np.zeros(0)
        uniform = np.full(n, 1.0 / n)
        if not math.isfinite(bandwidth) or not descriptors:
            return uniform
        sims = descriptor_similarity(
            descriptors, {f"{i}": dict(m.descriptors) for i, m in enumerate(models)},
            bandwidth=bandwidth,
        )  # fmt: skip
        w = np.array([max(sims[f"{i}"].value, 0.0) for i in range(n)])
        if w.sum() <= 0 or np.ptp(w) < 1e-9:
            return uniform
        return np.asarray(w / w.sum(), dtype=float)

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self.bandwidth_ is None:
            raise NotFittedError(
                "This TransferPredictor is not fitted yet: call fit(memory) first, e.g. "
                "fit(ExperienceMemory(url).memory_for(task, space=space))."
            )

    @property
    def tasks(self) -> list[str]:
        """The past tasks modelled, in memory order."""
        return [m.task for m in self.models]

    def task_weights(self, descriptors: Mapping[str, Any] | None) -> dict[str, float]:
        """Weight of each past task for a new task with these descriptors (sums to 1)."""
        self._check_fitted()
        assert self.bandwidth_ is not None
        w = self._weights_among(descriptors or {}, self.models, self.bandwidth_)
        return {m.task: float(v) for m, v in zip(self.models, w, strict=True)}

    def predict_tasks(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        """Each past task's predicted mean and sd at ``archs``: shapes (n_tasks, len(archs))."""
        self._check_fitted()
        if not self.models:
            return np.zeros((0, len(archs))), np.zeros((0, len(archs)))
        x = self.encode(archs)
        with single_threaded_blas():
            preds = [m.gp.predict(x) for m in self.models]
        return np.vstack([p[0] for p in preds]), np.vstack([p[1] for p in preds])

    def predict(
        self, archs: Sequence[Architecture], descriptors: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Expected normal score of the rank of each of ``archs`` on the new task, shape (n,).

        An empty model (no past task) predicts 0 everywhere.
        """
        self._check_fitted()
        if not self.models:
            return np.zeros(len(archs))
        w = np.array(list(self.task_weights(descriptors).values()))
        return np.asarray(w @ self.predict_tasks(archs)[0], dtype=float)

    # ------------------------------------------------------------------ suggestion
    def candidates(
        self, *, n_random: int = 500, n_mutations: int = 20, n_parents: int = 10, seed: int | None
    ) -> list[Architecture]:
        """The pool :meth:`suggest` picks from, unique by ``space.key``.

        Every architecture of the memory, ``n_mutations`` mutations (one or two
        changed decisions) of each past task's ``n_parents`` best, and
        ``n_random`` random architectures.
        """
        rng = np.random.default_rng(seed)
        out: list[Architecture] = []
        keys: set[Hashable] = set()

        def add(a: Architecture) -> None:
            if not self.space.is_valid(a):
                return
            k = self.space.key(a)
            if k not in keys:
                keys.add(k)
                out.append(a)

        for m in self.models:
            for a in m.archs:
                add(a)
        for m in self.models:
            for parent in m.best[:n_parents]:
                for _ in range(n_mutations):
                    child = self.space.mutate(parent, rng)
                    if rng.random() < 0.5:
                        child = self.space.mutate(child, rng)
                    add(child)
        for _ in range(n_random):
            add(self.space.sample(rng))
        return out

    def suggest(
        self,
        descriptors: Mapping[str, Any] | None = None,
        k: int = 5,
        *,
        candidates: Sequence[Architecture] | None = None,
        exclude: Sequence[Architecture] = (),
        seed: int | None = 0,
        noise: float = PORTFOLIO_NOISE,
    ) -> list[Suggestion]:
        """A diversified top-``k`` for a task with these descriptors (no result of it needed).

        Greedy portfolio (:func:`~metanas.meta.greedy_portfolio`): each pick
        maximises ``sum_t w_t E[max over the set of mu_t(a) + noise * e_a]``
        over past tasks ``t`` (``w_t`` the descriptor weights, ``mu_t`` task
        ``t``'s predicted score, ``e_a`` independent standard normal); the
        first pick is the best weighted mean. Ties go to the earlier
        candidate, so the result depends only on the memory, the descriptors,
        the candidates and ``seed`` (which draws the pool when ``candidates``
        is None).

        Parameters
        ----------
        descriptors
            The new task's descriptors (None or {}: equal task weights).
        k
            How many architectures.
        candidates
            The pool to pick from (default: :meth:`candidates`).
        exclude
            Architectures not to suggest (by ``space.key``).
        seed
            Seed of the candidate pool.
        noise
            How far (sd, normal-score units) the new task's score may stray
            from a past task's (0: the literal cover).

        Returns
        -------
        list of Suggestion
            Best first; fewer than ``k`` when the pool is smaller; empty
            without past tasks.
        """
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1; got {k!r}.")
        if not self.models:
            return []
        pool = list(candidates) if candidates is not None else self.candidates(seed=seed)
        banned = {self.space.key(a) for a in exclude}
        pool = [a for a in pool if self.space.is_valid(a) and self.space.key(a) not in banned]
        if not pool:
            return []
        weights = self.task_weights(descriptors)
        w = np.array(list(weights.values()))
        mu = self.predict_tasks(pool)[0]
        mean = w @ mu
        chosen = greedy_portfolio(mu, w, k, noise=noise)
        return [
            Suggestion(
                pool[i],
                float(mean[i]),
                {m.task: float(mu[j, i]) for j, m in enumerate(self.models)},
            )
            for i in chosen
        ]


def suggest(
    memory: str | RDBStorage | ExperienceMemory | Mapping[str, TaskHistory],
    space: SearchSpace,
    task: str | None = None,
    *,
    descriptors: Mapping[str, Any] | None = None,
    k: int = 5,
    metric: str = "valid_accuracy",
    direction: str | None = None,
    seed: int | None = 0,
    noise: float = PORTFOLIO_NOISE,
) -> list[Suggestion]:
    """Zero-shot top-``k`` architectures for a task from the experience memory.

    Every task of the memory but ``task`` itself (a suggestion never uses the
    task's own results) trains a :class:`TransferPredictor`; its diversified
    top ``k`` are returned.

    Parameters
    ----------
    memory
        A storage URL, :class:`~metanas.RDBStorage`, :class:`ExperienceMemory`
        or ``{task: TaskHistory}``.
    space
        The search space (the memory's architectures outside it are ignored).
    task
        The new task's name: excluded from the memory, and its stored
        descriptors are used when ``descriptors`` is None.
    descriptors
        The new task's meta-features; needed when ``task`` is not stored
        with descriptors.
    k
        How many architectures.
    metric, direction
        What the past tasks' results are read as.
    seed
        Seed of the candidate pool.
    noise
        The portfolio's noise (:meth:`TransferPredictor.suggest`).

    Returns
    -------
    list of Suggestion
        Best first.

    Raises
    ------
    ValueError
        No descriptors for the task (neither given nor stored), no past
        task of this space and metric in the memory, or a negative or
        non-finite ``noise``.
    """
    check_nonnegative_float("noise", noise, NOISE_FIX)  # before the memory is read and fitted
    if isinstance(memory, Mapping):
        past = {t: h for t, h in memory.items() if t != task}
        # The task's own entry gives its descriptors, never its results.
        own = memory.get(task) if task is not None else None
        stored: Mapping[str, Any] = own.descriptors if isinstance(own, TaskHistory) else {}
    else:
        mem = memory if isinstance(memory, ExperienceMemory) else ExperienceMemory(memory)
        target = task if task is not None else "<new task>"
        past = mem.memory_for(
            target, metric=metric, direction=direction, space=space, min_evaluations=3
        )
        stored = mem.descriptors(task) if task is not None and task in mem.task_names() else {}
    desc = dict(descriptors) if descriptors is not None else dict(stored)
    if not desc:
        what = f"task {task!r}" if task is not None else "the new task"
        raise ValueError(
            f"No descriptors for {what}: it is not stored with any. Pass descriptors={{...}} "
            "(e.g. {'n_samples': 1797, 'n_classes': 10}), or --benchmark/--dataset on the "
            "command line, or store them with ExperienceMemory.set_descriptors(task, {...})."
        )
    if not past:
        raise ValueError(
            f"The memory has no task other than {task!r} with results of metric {metric!r} in "
            "this space: nothing to suggest from. Run searches of other tasks first, or import "
            "a memory (metanas memory import FILE)."
        )
    model = TransferPredictor(space).fit(past)
    if not model.models:
        raise ValueError(
            "No past task has 3 or more valid architectures of this space: nothing to suggest "
            "from. Run longer searches of other tasks first."
        )
    _logger.info(
        "Suggesting %d architecture(s) for %s from %d past task(s); bandwidth %s",
        k, task, len(model.models), model.bandwidth_,
    )  # fmt: skip
    return model.suggest(desc, k, seed=seed, noise=noise)
