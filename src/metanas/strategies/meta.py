"""Meta-learned search: every ask uses the experience memory (RGPE-style ensemble of GPs).

The "meta" strategy is Bayesian optimisation whose model is an ensemble of
one Gaussian process per past task and one for the new task's own results,
all on a shared rank scale, weighted by how well each ranks the new task's
results so far (the target's own model competing on equal terms). See
:class:`MetaStrategy` and ``docs/meta.md``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtri

from metanas._checks import check_nonnegative_float, check_positive_float, check_positive_int
from metanas.meta import PRIOR_POWER, TaskHistory, prior_ranking, prior_task_weights
from metanas.meta._records import check_memory_metrics
from metanas.meta.portfolio import NOISE_FIX, PORTFOLIO_NOISE, greedy_portfolio
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, register_strategy
from metanas.strategies.bo import BOStrategy
from metanas.surrogates import (
    HammingGP,
    expected_improvement,
    gaussian_copula,
    refit_point,
    single_threaded_blas,
)

__all__ = ["MetaStrategy"]

_logger = logging.getLogger(__name__)

#: Name of the new task's own model in :attr:`MetaStrategy.weights`.
TARGET = "<target>"

#: Spaces up to this many raw architectures are searched whole (every ask scores all of them).
_ENUMERABLE = 100_000
#: Architectures of the common reference set every past model is calibrated on.
_N_REFERENCE = 256
#: Fixed seed of the reference set: the same set for every past task and every search.
_REFERENCE_SEED = 20_240_614
#: Past results the hyperparameters of a past task's GP are fitted on.
_PARAM_FIT_POINTS = 60
#: The new task's results the ranking losses are computed on (its best half, then a spread).
_LOSS_POINTS = 100
#: A past model no better than chance in more than this share of bootstrap samples gets weight 0.
_CHANCE_SHARE = 0.5
#: New-task results before the weights are learned (before: descriptor similarity only).
_MIN_LEARN = 3

#: Settings of the first ``meta`` that no longer exist, with what replaced them.
_REMOVED = {
    "prior_n": "the task weights are learned by ranking loss with bootstrap (n_bootstrap)",
    "gate": "the new task's own model competes with the past tasks' models in the weights",
    "gate_min": "the new task's own model competes with the past tasks' models in the weights",
    "gate_margin": "the new task's own model competes with the past tasks' models in the weights",
}


@dataclass(frozen=True)
class _Scale:
    """A GP's map to the shared scale: its means at the reference set, sorted, and the slope."""

    ref: np.ndarray  # the GP's means at the reference set, sorted
    slope: float  # d(normal score)/d(GP mean) around the reference set

    @classmethod
    def of(cls, gp: HammingGP, ref_x: np.ndarray) -> _Scale:
        """The scale of ``gp`` (conditioned on its data) on the reference features ``ref_x``."""
        ref = np.sort(gp.predict_mean(ref_x))
        n = len(ref)
        z_ref = ndtri(np.arange(1, n + 1) / (n + 1.0))
        spread_mean = float(ref.std())
        slope = float(np.std(z_ref) / spread_mean) if spread_mean > 1e-12 else 1.0
        return cls(ref, slope)

    def calibrate(self, mean: np.ndarray) -> np.ndarray:
        """GP means as normal scores of their percentile on the reference set."""
        n = len(self.ref)
        levels = np.arange(1, n + 1) / (n + 1.0)
        z = np.asarray(ndtri(np.interp(mean, self.ref, levels)), dtype=float)
        # Past the reference set's extremes the percentile saturates: extend linearly, so the
        # top candidates (the ones that matter) keep their order.
        hi, lo = float(ndtri(levels[-1])), float(ndtri(levels[0]))
        z = np.where(mean > self.ref[-1], hi + self.slope * (mean - self.ref[-1]), z)
        return np.where(mean < self.ref[0], lo + self.slope * (mean - self.ref[0]), z)


@dataclass
class _PastModel:
    """One past task: its GP on a shared scale, and its best architectures."""

    task: str
    metric: str
    gp: HammingGP
    scale: _Scale
    best: list[Architecture]
    observed: dict[Hashable, float]  # key -> the GP's training target (copula of its rank)
    n: int

    @property
    def slope(self) -> float:
        return self.scale.slope

    def calibrate(self, mean: np.ndarray) -> np.ndarray:
        """GP means as normal scores of their percentile on the reference set."""
        return self.scale.calibrate(mean)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.gp.predict(x)
        return self.calibrate(mean), std * self.slope

    def predict_mean(self, x: np.ndarray) -> np.ndarray:
        """:meth:`predict`'s scores alone (the same numbers, without the variances' cost)."""
        return self.calibrate(self.gp.predict_mean(x))


@register_strategy("meta")
class MetaStrategy(BOStrategy):
    """Search that uses its memory on every ask: zero-shot portfolio, then a weighted GP ensemble.

    In a study, the strategy learns from the *experience memory*: the study
    reads every stored task but its own (from its storage, or from
    ``create_study(memory=...)``), each in its own first objective or in the
    metric ``memory_metrics`` names, restricted to this space, and hands them
    to :meth:`set_memory`. With a non-empty memory every ask uses it:

    1. **Zero-shot portfolio.** Until ``n_warm`` results are told, the asks
       are a greedy portfolio of the past tasks' ``n_past_best`` best
       architectures (:func:`metanas.meta.greedy_portfolio`): each pick
       maximises ``sum_j w_j E[max over the set of z_j(a) + noise * e_a]``
       (``w_j`` the prior task weight, proportional to the descriptor
       similarity to the power ``prior_power``, equal without descriptors;
       ``z_j`` past task ``j``'s score of ``a`` on the shared scale; ``e_a``
       independent standard normal, ``noise`` = ``portfolio_noise``), so the
       first pick has the best weighted mean,
       the most similar tasks' bests come next, and every task gets its turn;
       with noise, a close second of a likely task can come before a far
       task's best (``portfolio_noise=0``: the literal cover, which never
       takes one).
    2. **Model-based asks.** Every later ask scores a candidate pool with an
       ensemble of Gaussian processes and proposes the unseen candidate of
       highest expected improvement (over the ensemble's best mean at the
       told architectures):

       * *past models*: one GP per past task on its copula targets (best
         half of ``max_past_points`` plus a spread of the rest: the top is
         modelled densely), calibrated once to a shared scale: a
         prediction's percentile among the GP's predictions on a fixed
         random reference set of the space, as a normal score;
       * *target model*: :class:`~metanas.strategies.bo.BOStrategy`'s GP on
         the copula of the new task's results, put on the same shared scale
         at every ask (its percentile map on the same reference set), so a
         weight means the same for every model;
       * *weights* (RGPE): on ``n_bootstrap`` bootstrap samples of the new
         task's results (its best 50 and a spread of the rest), each model's
         ranking loss is the number of misordered pairs, the target model
         judged by its leave-one-out means; a model's weight is the share
         of samples where its loss is lowest (ties shared). A past model
         whose median loss exceeds the 95th percentile of the target's, or
         that is no better than chance (half the pairs wrong) in more than
         half of the samples, gets weight 0. Before 3 results the weights
         are the descriptor prior and the target model is not used;
       * ensemble mean ``sum_j w_j z_j(x) + w_t z_t(x)``, variance
         ``sum_j w_j^2 s_j(x)^2 + w_t^2 s_t(x)^2`` (:meth:`model_scores`
         gives each model's ``z``).

       The pool is the whole space when it has at most 100,000 raw
       architectures and at most ``max_pool`` of them; otherwise the past
       tasks' ``n_past_best`` best architectures with every one-edit
       neighbour and ``n_mutations // 10`` two-edit mutations of each, plus
       ``bo``'s pool (``n_mutations`` mutations of the new task's ``top_k``
       best and ``n_random`` random architectures).

    With an empty memory (or driven by hand without :meth:`set_memory`) it is
    plain ``bo``: ``n_initial`` random architectures, then the GP.

    State is the told history plus the memory set before it, so a re-opened
    study continues exactly as an uninterrupted one would (as long as the
    memory did not change in between).

    Parameters
    ----------
    space
        The search space.
    n_warm
        Zero-shot portfolio asks (0: none; the first ask is then the
        prior-weighted ensemble's best mean).
    n_initial
        Random asks before the model is used when the memory is empty.
    n_mutations, n_random, top_k
        The new task's part of the candidate pool, as for ``bo``.
    n_past_best
        Best architectures of each past task in the portfolio and the pool.
    portfolio_noise
        How far (sd, in normal-score units) the new task's score of an
        architecture may stray from a past task's, in the portfolio's
        objective (0: the literal cover; the default 1.0 was chosen on the
        task-family table with memories no reported number uses).
    prior_power
        Power of the descriptor similarities in the prior task weights
        (:func:`~metanas.meta.prior_task_weights`): the portfolio's weights,
        and the model's before 3 results. 1: proportional to the similarity;
        larger: the closest past task leads, so many loosely similar tasks do
        not outvote one close relative. The default is
        :data:`~metanas.meta.PRIOR_POWER` (``docs/meta.md``, "The prior's
        power and a design prior", gives what was measured).
    max_pool
        Largest enumerable space scored whole at every ask.
    n_bootstrap
        Bootstrap samples of the ranking losses that give the task weights.
    max_past_points
        Past results per past task's GP (its best half, then a spread).
    max_past_tasks
        Most past tasks learnt from: a larger memory contributes its
        ``max_past_tasks`` most similar tasks by descriptors (ties, and every
        task when the new one has no descriptors, in memory order), and the
        study reads only those. Each past task costs a GP fit at the first ask
        and a prediction per candidate at every ask, so this bounds the first
        ask of a memory of thousands of tasks.
    memory_metrics
        Which metric each past task transfers, read by the study: None (each
        past task's own objective, or the new study's metric where reported),
        a list of metric names (restriction: the first one a past task
        reports), or ``{past task: metric}`` (explicit map; other tasks are
        skipped). Skipped tasks are logged as WARNING.
    remember
        When the memory is a separate store (``create_study(memory=URL)``),
        a finished ``optimize()`` adds this study's trials to it.
    seed
        Seed of the random generator.

    Raises
    ------
    ValueError
        A setting out of range, or a setting that is not one of these; the
        settings of the first ``meta`` (``prior_n``, ``gate``, ``gate_min``,
        ``gate_margin``) are ignored with a FutureWarning naming what
        replaced them.

    Examples
    --------
    >>> import metanas
    >>> space = metanas.SearchSpace({"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]})
    >>> archs = list(space.enumerate())
    >>> past = {"old": TaskHistory.from_evaluations(
    ...     "old", archs, [a["a"] + a["b"] + a["c"] for a in archs], space=space)}
    >>> meta = MetaStrategy(space, n_warm=1, seed=0)
    >>> meta.set_memory(past)
    >>> meta.ask()  # the best architecture of the past task
    Architecture(a=2, b=2, c=1)

    References
    ----------
    Feurer, M., Letham, B., Hutter, F. & Bakshy, E. Practical transfer
    learning for Bayesian optimization. arXiv:1802.02219, 2022 (RGPE).

    Salinas, D., Shen, H. & Perrone, V. A quantile-based approach for
    hyperparameter transfer learning. ICML 2020 (copula scale).

    Wistuba, M., Schilling, N. & Schmidt-Thieme, L. Sequential model-free
    hyperparameter tuning. ICDM 2015 (zero-shot portfolios).
    """

    uses_memory: ClassVar[bool] = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_warm: int = 5,
        n_initial: int = 10,
        n_mutations: int = 300,
        n_random: int = 200,
        top_k: int = 5,
        n_past_best: int = 10,
        portfolio_noise: float = PORTFOLIO_NOISE,
        prior_power: float = PRIOR_POWER,
        max_pool: int = 30_000,
        n_bootstrap: int = 50,
        max_past_points: int = 150,
        max_past_tasks: int = 50,
        memory_metrics: Sequence[str] | Mapping[str, str] | None = None,
        remember: bool = True,
        seed: int | None = None,
        **removed: Any,
    ) -> None:
        for key, value in removed.items():
            if key not in _REMOVED:
                allowed = [
                    "n_warm", "n_initial", "n_mutations", "n_random", "top_k", "n_past_best",
                    "portfolio_noise", "prior_power", "max_pool", "n_bootstrap",
                    "max_past_points", "max_past_tasks", "memory_metrics", "remember",
                ]  # fmt: skip
                from metanas.exceptions import closest

                raise ValueError(
                    f"Strategy 'meta' has no setting {key!r}.{closest(key, allowed)} "
                    f"Its settings: {allowed!r}."
                )
            warnings.warn(
                f"The 'meta' setting {key}={value!r} no longer exists and is ignored: "
                f"{_REMOVED[key]}. Leave it out.",
                FutureWarning,
                stacklevel=2,
            )
        super().__init__(
            space, n_initial=n_initial, n_mutations=n_mutations, n_random=n_random,
            top_k=top_k, seed=seed,
        )  # fmt: skip
        self.n_warm = check_positive_int("n_warm", n_warm, 0)
        self.n_past_best = check_positive_int("n_past_best", n_past_best, 1)
        self.portfolio_noise = check_nonnegative_float(
            "portfolio_noise", portfolio_noise, NOISE_FIX
        )
        self.prior_power = check_positive_float(
            "prior_power", prior_power,
            "It is the power of the descriptor similarities in the prior task weights, e.g. 3.",
        )  # fmt: skip
        self.max_pool = check_positive_int("max_pool", max_pool, 1)
        self.n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap, 1)
        self.max_past_points = check_positive_int("max_past_points", max_past_points, 10)
        self.max_past_tasks = check_positive_int("max_past_tasks", max_past_tasks, 1)
        checked = check_memory_metrics(memory_metrics)
        self.memory_metrics: list[str] | dict[str, str] | None = (
            list(checked) if isinstance(checked, tuple) else checked
        )
        if not isinstance(remember, bool | np.bool_):
            raise ValueError(f"remember must be True or False; got {remember!r}.")
        self.remember = bool(remember)
        self._past: list[_PastModel] = []
        self._prior = np.zeros(0)
        self._descriptors: dict[str, Any] = {}
        self._warm: list[Architecture] = []
        self._n_told = 0
        # The fixed pool: rows (one-hot spaces) or architectures, with past predictions.
        self._pool_rows = np.zeros((0, len(space.decisions)), dtype=np.int64)
        self._pool_archs: list[Architecture] = []
        self._pool_x = np.zeros((0, 0))
        self._pool_z = np.zeros((0, 0))
        self._pool_s = np.zeros((0, 0))
        self._pool_index: dict[Hashable, int] = {}
        self._pool_seen = np.zeros(0, dtype=bool)
        self._pool_stale = False
        self._whole_space = False
        self._obs_z: list[np.ndarray] = []  # past models' scores of each told architecture
        self._ref_x = np.zeros((0, 0))  # features of the reference set (set with the memory)
        #: The study's task (None until the memory is set).
        self.task: str | None = None
        #: The past tasks the strategy learns from, in memory order.
        self.past_tasks: list[str] = []
        #: Weights of the last model-based ask: ``{past task: w, "<target>": w}`` (sum 1).
        self.weights: dict[str, float] = {}
        #: How the last ask was chosen: "portfolio", "model", "bo" (no memory) or "random".
        self.last_source: str | None = None

    # ------------------------------------------------------------------ memory
    @property
    def memory_rows_per_task(self) -> int:
        """How many trials of each past task the study reads: twice the best the models keep.

        Each past model is fitted to at most ``max_past_points`` architectures (the best
        half, then a spread of the rest), and the portfolio takes the ``n_past_best``
        best; the study reads the best half of this many trials per task, ranked in the
        database, and a spread of the rest, instead of a large memory's every trial.
        """
        return 2 * max(self.max_past_points // 2, self.n_past_best)

    @property
    def memory_max_tasks(self) -> int:
        """How many past tasks the study reads at most: ``max_past_tasks``, the most similar."""
        return self.max_past_tasks

    def set_memory(
        self,
        past: Mapping[str, TaskHistory],
        *,
        descriptors: Mapping[str, Any] | None = None,
        task: str | None = None,
    ) -> None:
        """Use these past tasks (``{task: TaskHistory}``, read with this space).

        The study calls this once, before any tell, with what it read from the
        experience memory (an empty dict when its task has no name of its own);
        call it directly to drive the strategy by hand. Past tasks with fewer
        than 3 architectures of the space, and ``task`` itself, are left out;
        ``descriptors`` are the new task's, for the prior task weights. Of more
        than ``max_past_tasks`` usable past tasks, the most similar by
        descriptors are kept (:func:`~metanas.meta.prior_ranking`).
        """
        if not isinstance(past, Mapping):
            raise TypeError(
                "past must be a dict {task: TaskHistory}, e.g. from "
                f"ExperienceMemory.memory_for(...); got {type(past).__name__}."
            )
        for name, h in past.items():
            if not isinstance(h, TaskHistory):
                raise TypeError(f"past[{name!r}] must be a TaskHistory; got {type(h).__name__}.")
        self.task = task
        self._descriptors = dict(descriptors or {})
        # The architectures of the space, per past task; fewer than 3: the task is left out.
        valid = {
            name: rows
            for name, h in past.items()
            if name != task
            and len(rows := [i for i, a in enumerate(h.archs) if self.space.is_valid(a)]) >= 3
        }
        if len(valid) > self.max_past_tasks:
            keep = set(
                prior_ranking(self._descriptors, {n: dict(past[n].descriptors) for n in valid})[
                    : self.max_past_tasks
                ]
            )
            valid = {n: rows for n, rows in valid.items() if n in keep}
        with single_threaded_blas():
            ref_x = self._reference()
            self._ref_x = ref_x
            self._past = [
                self._fit_past(name, past[name], rows, ref_x) for name, rows in valid.items()
            ]
            self.past_tasks = [m.task for m in self._past]
            self._prior = self._prior_weights(past)
            # Every past model predicts the whole pool (tens of thousands of candidates each):
            # the dearest part of a large memory, and the portfolio's first asks need none of
            # it, so it is built at the first model-based ask (the same pool, the same marks).
            self._pool_stale = True
            self._warm = self._portfolio()
        if self._past:
            _logger.info(
                "Meta search of task %s: learning from %d past task(s): %s",
                task, len(self._past),
                ", ".join(f"{m.task} ({m.metric}, {m.n})" for m in self._past),
            )  # fmt: skip
        else:
            _logger.info(
                "Meta search of task %s: the experience memory has no other task of this space; "
                "searching cold (bo: %d random architectures first).",
                task, self.n_initial,
            )  # fmt: skip

    def _reference(self) -> np.ndarray:
        """Model features of the common random reference set (the same for every past task)."""
        rng = np.random.default_rng(_REFERENCE_SEED)
        if self._fast:
            rows = np.column_stack([rng.integers(k, size=_N_REFERENCE) for k in self._sizes])
            return self._features_of_rows(rows)
        return np.vstack([self._encode(self.space.sample(rng)) for _ in range(_N_REFERENCE)])

    @staticmethod
    def _fit_point(n: int) -> int:
        # The ensemble leans on the past models early on, so the target GP's hyperparameters
        # need refitting less often than bo's (every result up to 20, then at 10 % growth).
        return refit_point(n, 20)

    def _fit_past(
        self, name: str, h: TaskHistory, rows: list[int], ref_x: np.ndarray
    ) -> _PastModel:
        """The model of past task ``name`` from its rows ``rows`` (the space's architectures)."""
        scores = h.scores[rows]
        order = np.argsort(-scores, kind="stable")
        if len(order) <= self.max_past_points:
            keep = list(range(len(order)))
        else:
            # The top is modelled densely: the best half of max_past_points, then a spread.
            n_top = self.max_past_points // 2
            rest = order[n_top:]
            at = np.linspace(0, len(rest) - 1, self.max_past_points - n_top).astype(int)
            keep = sorted({*order[:n_top].tolist(), *rest[at].tolist()})
        archs = [h.archs[rows[i]] for i in keep]
        y = gaussian_copula(scores[keep])
        x = np.vstack([self._encode(a) for a in archs])
        gp = HammingGP(self._gp.groups)
        sub = np.argsort(-y, kind="stable")
        sub = np.sort(
            sub[np.linspace(0, len(sub) - 1, min(len(sub), _PARAM_FIT_POINTS)).astype(int)]
        )
        gp.condition(x, y, gp.fit_params(x[sub], y[sub], maxiter=30))
        best = [h.archs[rows[i]] for i in order[: self.n_past_best]]
        observed = {self.space.key(a): float(v) for a, v in zip(archs, y, strict=True)}
        return _PastModel(name, h.metric, gp, _Scale.of(gp, ref_x), best, observed, len(rows))

    def _prior_weights(self, past: Mapping[str, TaskHistory]) -> np.ndarray:
        """Each past task's descriptor similarity to the power ``prior_power``, sum 1."""
        desc = {m.task: dict(past[m.task].descriptors) for m in self._past}
        w = prior_task_weights(self._descriptors, desc, power=self.prior_power)
        return np.array([w[m.task] for m in self._past], dtype=float)

    def _past_predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Past models' scores and sds on the shared scale, shapes (n_past, len(x))."""
        if not self._past or not len(x):
            return np.zeros((len(self._past), len(x))), np.zeros((len(self._past), len(x)))
        preds = [m.predict(x) for m in self._past]
        return np.vstack([p[0] for p in preds]), np.vstack([p[1] for p in preds])

    # ------------------------------------------------------------------ pool
    def _build_pool(self) -> None:
        """The fixed part of the candidate pool, with the past models' predictions on it."""
        self._pool_index = {}
        self._whole_space = False
        if not self._past:
            return
        n_raw = self.space.n_raw
        if self._fast:
            if n_raw <= min(_ENUMERABLE, self.max_pool):
                grids = np.indices(tuple(int(k) for k in self._sizes)).reshape(len(self._sizes), -1)
                rows = np.ascontiguousarray(grids.T.astype(np.int64))
                self._whole_space = True
            else:
                rows = self._past_neighbour_rows()
            self._pool_rows = rows
            self._pool_x = self._features_of_rows(rows)
            self._pool_index = {r.tobytes(): i for i, r in enumerate(rows)}
        else:
            if n_raw <= min(_ENUMERABLE, self.max_pool):
                archs = list(self.space.enumerate())
                self._whole_space = True
            else:
                archs = self._past_neighbour_archs()
            self._pool_archs = archs
            self._pool_x = (
                np.vstack([self._encode(a) for a in archs]) if archs else np.zeros((0, 0))
            )
            self._pool_index = {self.space.key(a): i for i, a in enumerate(archs)}
        self._pool_z, self._pool_s = self._past_predict(self._pool_x)
        self._pool_seen = np.zeros(len(self._pool_x), dtype=bool)
        for key in self._seen_rows if self._fast else self._seen:
            self._mark_pool(key)

    def _past_neighbour_rows(self) -> np.ndarray:
        rng = np.random.default_rng(_REFERENCE_SEED + 1)
        n_two = max(1, self.n_mutations // 10)
        blocks = [
            self._edit_rows(self._indices(arch), n_two, rng)
            for m in self._past
            for arch in m.best
            if self.space.is_valid(arch)
        ]
        blocks.append(np.column_stack([rng.integers(k, size=self.n_random) for k in self._sizes]))
        rows = np.vstack(blocks)
        _, first = np.unique(rows, axis=0, return_index=True)
        return np.ascontiguousarray(rows[np.sort(first)])

    def _past_neighbour_archs(self) -> list[Architecture]:
        rng = np.random.default_rng(_REFERENCE_SEED + 1)
        out: list[Architecture] = []
        keys: set[Hashable] = set()

        def add(a: Architecture) -> None:
            k = self.space.key(a)
            if k not in keys and self.space.is_valid(a):
                keys.add(k)
                out.append(a)

        for m in self._past:
            for arch in m.best:
                add(arch)
                for nb in self.space.neighbours(arch):
                    add(nb)
                for _ in range(max(1, self.n_mutations // 10)):
                    add(self.space.mutate(self.space.mutate(arch, rng), rng))
        for _ in range(self.n_random):
            add(self.space.sample(rng))
        return out

    def _mark_pool(self, key: Hashable) -> None:
        i = self._pool_index.get(key)
        if i is not None:
            self._pool_seen[i] = True

    # ------------------------------------------------------------ portfolio
    def _portfolio(self) -> list[Architecture]:
        """The zero-shot portfolio: a greedy cover of the past tasks' bests (see the class doc)."""
        if not self._past or self.n_warm == 0:
            return []
        cands: list[Architecture] = []
        keys: set[Hashable] = set()
        for m in self._past:
            for a in m.best:
                k = self.space.key(a)
                if k not in keys:
                    keys.add(k)
                    cands.append(a)
        x = np.vstack([self._encode(a) for a in cands])
        # Only the means: the variances (a triangular solve per past model) are not used.
        z = np.vstack([m.predict_mean(x) for m in self._past])
        cand_keys = [self.space.key(a) for a in cands]
        for j, m in enumerate(self._past):
            # A past task's own results stand for themselves, not for its GP's smoothed mean.
            at = [i for i, k in enumerate(cand_keys) if k in m.observed]
            if at:
                z[j, at] = m.calibrate(np.array([m.observed[cand_keys[i]] for i in at]))
        chosen = greedy_portfolio(z, self._prior, self.n_warm, noise=self.portfolio_noise)
        return [cands[i] for i in chosen]

    # ------------------------------------------------------------ weights
    def _observed_z(self) -> np.ndarray:
        """Past models' scores of the told architectures, shape (n_past, n_told)."""
        if len(self._obs_z) < len(self.history):
            x = np.vstack(self._features[len(self._obs_z) :])
            z, _ = self._past_predict(x)
            self._obs_z.extend(z.T)
        if not self._obs_z:
            return np.zeros((len(self._past), 0))
        return np.vstack(self._obs_z).T

    def _task_weights(self, z_obs: np.ndarray, loo: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        """RGPE weights of (past models..., target model), shape (n_past + 1,), sum 1."""
        n_past = len(self._past)
        if loo is None or len(y) < _MIN_LEARN:
            return np.asarray(np.r_[self._prior, 0.0], dtype=float)
        order = np.argsort(-y, kind="stable")
        half = _LOSS_POINTS // 2
        rest = order[half:]
        picked = rest[
            np.linspace(0, len(rest) - 1, min(len(rest), _LOSS_POINTS - half)).astype(int)
        ]
        sub = np.sort(np.r_[order[:half], picked]) if len(rest) else np.sort(order)
        preds = np.vstack([z_obs[:, sub], loo[sub][None, :]])
        ys = y[sub]
        below = ys[:, None] < ys[None, :]
        # A pair (a, b) with y_a < y_b is misordered when the model does not put a below b.
        wrong = below[None, :, :] & ~(preds[:, :, None] < preds[:, None, :])
        m = len(sub)
        counts = self._rng.multinomial(m, np.full(m, 1.0 / m), size=self.n_bootstrap).astype(float)
        loss = np.vstack([((counts @ wrong[k]) * counts).sum(1) for k in range(n_past + 1)])
        low = loss.min(0)
        winners = loss <= low + 1e-9
        w = (winners / winners.sum(0)).mean(1)
        # Past models clearly worse than the target's own model are dropped (RGPE's dilution
        # rule), and so are those no better than chance (half the ordered pairs wrong) in most
        # samples: a past task must rank the new one, not win a few samples by luck.
        cut = np.percentile(loss[-1], 95)
        pairs = ((counts @ below) * counts).sum(1)
        chance = (loss[:-1] >= 0.5 * pairs[None, :]).mean(1) > _CHANCE_SHARE
        dropped = (np.median(loss[:-1], axis=1) > cut) | chance
        w[:-1][dropped] = 0.0
        total = w.sum()
        return np.asarray(w / total if total > 0 else np.r_[np.zeros(n_past), 1.0], dtype=float)

    # ------------------------------------------------------------ proposal
    def _grow_pool(self) -> None:
        """Add the new task's part of the pool (kept, with past predictions, for later asks).

        One-edit neighbours of the ``top_k`` best results, ``n_mutations // 10``
        two-edit mutations of the best one, and ``n_random // 10`` random
        architectures: the past models are evaluated once per candidate, ever.
        """
        ranked = sorted(range(len(self.history)), key=lambda i: -self.history[i][1])
        parents = [self.history[i][0] for i in ranked[: self.top_k]]
        n_two = max(1, self.n_mutations // 10)
        n_rand = max(1, self.n_random // 10)
        if self._fast:
            blocks = [np.zeros((0, len(self._sizes)), dtype=np.int64)]
            for p in parents:
                if self.space.is_valid(p):
                    blocks.append(
                        self._edit_rows(self._indices(p), n_two if p is parents[0] else 0)
                    )
            blocks.append(
                np.column_stack([self._rng.integers(k, size=n_rand) for k in self._sizes])
            )
            rows = np.vstack(blocks)
            new = [r for r in rows if r.tobytes() not in self._pool_index]
            if not new:
                return
            _, first = np.unique(np.vstack(new), axis=0, return_index=True)
            add = np.vstack(new)[np.sort(first)]
            self._extend(self._features_of_rows(add), [r.tobytes() for r in add])
            self._pool_rows = np.vstack([self._pool_rows, add])
            return
        archs: list[Architecture] = []
        keys: set[Hashable] = set()
        for p in parents:
            cands = list(self.space.neighbours(p))
            if p is parents[0]:
                cands += [
                    self.space.mutate(self.space.mutate(p, self._rng), self._rng)
                    for _ in range(n_two)
                ]
            for c in cands:
                k = self.space.key(c)
                if k not in self._pool_index and k not in keys and self.space.is_valid(c):
                    keys.add(k)
                    archs.append(c)
        for _ in range(n_rand):
            c = self.space.sample(self._rng)
            k = self.space.key(c)
            if k not in self._pool_index and k not in keys:
                keys.add(k)
                archs.append(c)
        if archs:
            self._extend(
                np.vstack([self._encode(c) for c in archs]), [self.space.key(c) for c in archs]
            )
            self._pool_archs.extend(archs)

    def _extend(self, x: np.ndarray, keys: list[Hashable]) -> None:
        z, sd = self._past_predict(x)
        start = len(self._pool_x)
        self._pool_x = np.vstack([self._pool_x, x])
        self._pool_z = np.hstack([self._pool_z, z])
        self._pool_s = np.hstack([self._pool_s, sd])
        self._pool_seen = np.r_[self._pool_seen, np.zeros(len(x), dtype=bool)]
        for i, k in enumerate(keys):
            self._pool_index[k] = start + i
        for k in keys:
            if (k in self._seen_rows) if self._fast else (k in self._seen):
                self._mark_pool(k)

    def _edit_rows(
        self, row: np.ndarray, n_two: int, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Every one-edit neighbour of ``row``, and ``n_two`` random two-edit ones."""
        rng = self._rng if rng is None else rng
        blocks = [row[None, :]]
        for d, k in enumerate(self._sizes):
            if k > 1:
                nb = np.repeat(row[None, :], k - 1, axis=0)
                nb[:, d] = (row[d] + np.arange(1, k)) % k
                blocks.append(nb)
        mutable = np.flatnonzero(self._sizes > 1)
        if n_two and len(mutable):
            two = np.repeat(row[None, :], n_two, axis=0)
            at = np.arange(n_two)
            for _ in range(2):
                col = mutable[rng.integers(len(mutable), size=n_two)]
                size = self._sizes[col]
                two[at, col] = (two[at, col] + 1 + rng.integers(size - 1)) % size
            blocks.append(two)
        return np.vstack(blocks)

    def _candidates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        """Features, past scores and sds of the unseen candidates, and the candidates themselves."""
        if self._pool_stale:
            self._pool_stale = False
            self._build_pool()
        if not self._whole_space and self.history:
            self._grow_pool()
        idx = np.flatnonzero(~self._pool_seen)
        items: list[Any] = (
            [self._pool_rows[i] for i in idx] if self._fast else [self._pool_archs[i] for i in idx]
        )
        return self._pool_x[idx], self._pool_z[:, idx], self._pool_s[:, idx], items

    def _condition_target(self) -> _Scale | None:
        """Condition the new task's GP on its results; its map to the shared scale (None: < 2).

        The target model is put on the past models' scale: its GP mean is shrunk towards 0
        away from its few results, while each past model spans N(0, 1) over the space, so
        mixed raw, the past models' preferences would decide the ask whatever the weights.
        """
        if len(self.history) < 2:
            return None
        x = np.vstack(self._features)
        y_raw = np.array([s for _, s in self.history])
        self._gp.condition(x, self._targets(y_raw), self._params(x, y_raw))
        return _Scale.of(self._gp, self._ref_x)

    def _propose_meta(self) -> Architecture | None:
        xc, zc, sc, items = self._candidates()
        if not items:
            return None
        n = len(self.history)
        z_obs = self._observed_z()
        loo = None
        fit_t = None
        scale = self._condition_target()
        if scale is not None:
            x = np.vstack(self._features)
            y_raw = np.array([s for _, s in self.history])
            y = self._targets(y_raw)
            if n >= _MIN_LEARN:
                loo = self._gp.loo_mean(x, y, self._params(x, y_raw))
            fit_t = scale.calibrate(self._gp.predict_mean(x))
        else:
            y = np.zeros(n)
        w = self._task_weights(z_obs, loo, y)
        wp, wt = w[:-1], float(w[-1])
        mean = wp @ zc
        var = (wp**2) @ (sc**2)
        if wt > 0 and scale is not None:
            mean_t, std_t = self._gp.predict(xc)
            mean = mean + wt * scale.calibrate(mean_t)
            var = var + wt**2 * (std_t * scale.slope) ** 2
        self.weights = {t: float(v) for t, v in zip(self.past_tasks, wp, strict=True)}
        self.weights[TARGET] = wt
        if n == 0:
            value = mean
        else:
            at_obs = wp @ z_obs + (wt * fit_t if wt > 0 and fit_t is not None else 0.0)
            value = expected_improvement(
                mean, np.sqrt(np.maximum(var, 1e-12)), float(np.max(at_obs))
            )
        for i in np.argsort(-value, kind="stable"):
            item = items[i]
            arch = self._from_indices(item) if self._fast else item
            if self._fast and not self.space.is_valid(arch):
                continue
            if self.is_seen(arch):
                # An isomorphic copy of a seen network: never score it again.
                key = item.tobytes() if self._fast else self.space.key(arch)
                self._mark_pool(key)
                continue
            return arch
        return None

    # ----------------------------------------------------------- inspection
    def model_scores(self, archs: Sequence[Architecture]) -> dict[str, np.ndarray]:
        """Each model's mean score of ``archs`` on the shared scale the ensemble mixes.

        The scale is the normal score of the architecture's predicted percentile
        among a fixed random reference set of the space (0: a median
        architecture, 2: about the top 2 %). Keys: every past task, and
        ``"<target>"`` (the new task's own model) once 2 results are told.
        The ensemble's mean is ``sum(weights[k] * scores[k])`` with
        :attr:`weights` of the last ask.

        Raises
        ------
        RuntimeError
            Without a memory (call :meth:`set_memory` first).
        """
        if not self._past:
            raise RuntimeError(
                "MetaStrategy.model_scores needs a memory: call set_memory(past) first."
            )
        if not len(archs):
            empty = {m.task: np.zeros(0) for m in self._past}
            return {**empty, TARGET: np.zeros(0)} if len(self.history) >= 2 else empty
        x = np.vstack([self._encode(a) for a in archs])
        with single_threaded_blas():
            out = {m.task: m.predict_mean(x) for m in self._past}
            scale = self._condition_target()
            if scale is not None:
                out[TARGET] = scale.calibrate(self._gp.predict_mean(x))
        return out

    # -------------------------------------------------------------- ask/tell
    def ask(self) -> Architecture:
        if not self._past:
            arch = super().ask()
            self.last_source = "bo"
            self.weights = {TARGET: 1.0}
            return arch
        if self._n_told < self.n_warm:
            for arch in self._warm:
                if not self.is_seen(arch):
                    self.mark_seen(arch)
                    self.last_source = "portfolio"
                    return arch
        with single_threaded_blas():
            found = self._propose_meta()
        if found is None:
            found = self.sample_unseen()
            self.last_source = "random"
        else:
            self.last_source = "model"
        self.mark_seen(found)
        return found

    def mark_seen(self, arch: Architecture) -> None:
        super().mark_seen(arch)
        if self._pool_index:
            if self._fast:
                if self.space.is_valid(arch):
                    self._mark_pool(self._indices(arch).tobytes())
            else:
                self._mark_pool(self.space.key(arch))

    def tell(self, obs: Observation) -> None:
        self._n_told += 1
        super().tell(obs)
