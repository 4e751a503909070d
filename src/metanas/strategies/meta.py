"""Meta-learned search: predict, then refine, with a transfer prior learned online.

The "meta" strategy is Bayesian optimisation (:class:`~metanas.strategies.bo.BOStrategy`:
a Hamming-kernel GP and expected improvement over mutations of the best
architectures) that knows the experience memory:

1. its first asks are the zero-shot portfolio of a
   :class:`~metanas.meta.TransferPredictor` trained on the past tasks;
2. afterwards the GP models the new task's results *around a prior mean*
   built from the past tasks' models, each weighted by how well it ranks the
   new task's results so far; past tasks that rank them no better than chance
   get weight 0, and with all weights 0 the search is plain BO.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from metanas._checks import check_positive_int
from metanas.meta import TaskHistory, TransferPredictor, rank_correlation
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, register_strategy
from metanas.strategies.bo import BOStrategy
from metanas.surrogates import GPParams, HammingGP, expected_improvement

__all__ = ["MetaStrategy"]

_logger = logging.getLogger(__name__)

#: Name of the new task's own model in :attr:`MetaStrategy.weights`.
TARGET = "<target>"


@dataclass
class _PastModel:
    """One past task: its GP (fitted once, when the memory is set) and its best architectures."""

    task: str
    gp: HammingGP
    best: list[Architecture]
    n: int


@register_strategy("meta")
class MetaStrategy(BOStrategy):
    """Search that learns from past tasks: zero-shot portfolio, then BO with a transfer prior.

    In a study, the strategy learns from the *experience memory*: the study
    reads every stored task but its own (from its storage, or from
    ``create_study(memory=...)``), restricted to this space and the study's
    metric, and hands them to :meth:`set_memory`. Then

    1. **Predict.** The first ``n_warm`` asks are the zero-shot suggestions
       of a :class:`~metanas.meta.TransferPredictor` fitted on the past tasks
       (a GP per task, mixed by descriptor similarity; a diversified
       portfolio, see :func:`metanas.meta.suggest`).
    2. **Refine.** Every later ask is Bayesian optimisation as in
       :class:`~metanas.strategies.bo.BOStrategy`, except that the GP models
       the new task's (rank-normalised) results as ``a * m(x) + f(x)``:
       ``f`` is the usual GP and ``m(x) = sum_j w_j mu_j(x)`` mixes the past
       tasks' GP means. ``w_j`` is past task ``j``'s Kendall correlation with
       the new task's results so far (0 when not positive), shrunk by
       ``n / (n + prior_n)`` toward the descriptor prior; ``a >= 0`` is the
       least-squares scale of ``m`` on the new task's results. Past tasks that
       disagree with the new one thus lose their weight as evidence grows,
       and with every weight at 0 the search *is* plain BO (negative transfer
       falls back to cold behaviour). Past tasks' best architectures join
       every candidate pool.
    3. **Gate.** From ``gate_min`` results on, each ask compares the
       leave-one-out predictions of the transfer model and of plain BO's GP
       on the new task's results (Spearman correlation with the results).
       The transfer model is used only while it is ahead by more than
       ``gate_margin``; otherwise the ask is exactly plain BO's. A memory
       that predicts the new task worse than the task's own data does is
       thus switched off as soon as the evidence says so, and switched back
       on if it recovers.

    With an empty memory (or without a study, driven by hand) it is plain BO:
    ``n_initial`` random architectures, then the GP. With a memory the model
    is used from the first ask after the warm start.

    State is the told history plus the memory set before it, so a
    re-opened study continues exactly as an uninterrupted one would (as long
    as the memory did not change in between).

    Parameters
    ----------
    space
        The search space.
    n_warm
        Zero-shot suggestions asked first (0: none).
    n_initial
        Random asks before the model is used when the memory is empty.
    n_mutations, n_random, top_k
        The candidate pool, as for ``bo``.
    n_past_best
        Best architectures of each past task put in every candidate pool.
    prior_n
        Shrinkage of the online task weights toward the descriptor prior:
        after ``n`` results the observed correlations count ``n / (n + prior_n)``.
    max_past_points
        A past task with more evaluated architectures is fitted on its best
        half of this many plus an even spread of the rest (GP cost).
    gate
        Use the leave-one-out gate (step 3); False keeps the transfer model
        on for every ask.
    gate_min
        Results of the new task before the gate is consulted.
    gate_margin
        How much higher the transfer model's leave-one-out rank correlation
        must be than plain BO's for the transfer model to be used. Chosen on
        tuning seeds of ``benchmarks/meta_lodo.py``: 0 kept a misleading
        prior too often (its weights are fitted on the same results, which
        flatters it).
    seed
        Seed of the random generator.

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
    learning for Bayesian optimization. arXiv:1802.02219, 2022 (ranking-based
    task weights).

    Wistuba, M., Schilling, N. & Schmidt-Thieme, L. Sequential model-free
    hyperparameter tuning. ICDM 2015 (zero-shot portfolios).

    White, C., Neiswanger, W. & Savani, Y. BANANAS: Bayesian optimization with
    neural architectures for neural architecture search. AAAI 2021.
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
        n_past_best: int = 0,
        prior_n: float = 10.0,
        max_past_points: int = 300,
        gate: bool = True,
        gate_min: int = 10,
        gate_margin: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            space, n_initial=n_initial, n_mutations=n_mutations, n_random=n_random,
            top_k=top_k, seed=seed,
        )  # fmt: skip
        self.n_warm = check_positive_int("n_warm", n_warm, 0)
        self.n_past_best = check_positive_int("n_past_best", n_past_best, 0)
        if isinstance(prior_n, bool) or not isinstance(prior_n, int | float) or not prior_n > 0:
            raise ValueError(f"prior_n must be a number > 0; got {prior_n!r}.")
        self.prior_n = float(prior_n)
        self.max_past_points = check_positive_int("max_past_points", max_past_points, 10)
        if not isinstance(gate, bool | np.bool_):
            raise ValueError(f"gate must be True or False; got {gate!r}.")
        self.gate = bool(gate)
        self.gate_min = check_positive_int("gate_min", gate_min, 3)
        if isinstance(gate_margin, bool) or not isinstance(gate_margin, int | float):
            raise ValueError(f"gate_margin must be a number; got {gate_margin!r}.")
        self.gate_margin = float(gate_margin)
        self._cold_fits: dict[int, GPParams] = {}
        #: Leave-one-out rank correlation of (plain BO's GP, the transfer model) at the last ask.
        self.gate_scores: tuple[float, float] | None = None
        self._n_onehot = space.encoding_size
        self._past: list[_PastModel] = []
        self._prior = np.zeros(0)
        self._predictor = TransferPredictor(space, max_points=max_past_points)
        self._descriptors: dict[str, Any] = {}
        self._warm: list[Architecture] = []
        self._n_told = 0
        #: The study's task (None until the memory is set).
        self.task: str | None = None
        #: The past tasks the strategy learns from, in memory order.
        self.past_tasks: list[str] = []
        #: Weights of the last model-based ask: ``{past task: w, "<target>": w}`` (sum 1).
        self.weights: dict[str, float] = {}

    # ------------------------------------------------------------------ memory
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
        than 3 architectures, and ``task`` itself, are left out;
        ``descriptors`` are the new task's, for the prior task weights and
        the zero-shot portfolio.
        """
        if not isinstance(past, Mapping):
            raise TypeError(
                "past must be a dict {task: TaskHistory}, e.g. from "
                f"ExperienceMemory.memory_for(...); got {type(past).__name__}."
            )
        self.task = task
        for name, h in past.items():
            if not isinstance(h, TaskHistory):
                raise TypeError(f"past[{name!r}] must be a TaskHistory; got {type(h).__name__}.")
        self._predictor = TransferPredictor(self.space, max_points=self.max_past_points)
        self._predictor.fit({name: h for name, h in past.items() if name != task})
        models = [
            _PastModel(m.task, m.gp, m.best[: self.n_past_best], len(m.archs))
            for m in self._predictor.models
        ]
        self._past = models
        self.past_tasks = [m.task for m in models]
        self._descriptors = dict(descriptors or {})
        weights = self._predictor.task_weights(self._descriptors) if models else {}
        self._prior = np.array(list(weights.values()), dtype=float)
        self._warm = self._warm_order()
        if models:
            _logger.info(
                "Meta search of task %s: learning from %d past task(s): %s",
                task, len(models), ", ".join(self.past_tasks),
            )  # fmt: skip
        else:
            _logger.info(
                "Meta search of task %s: the experience memory has no other task of this space "
                "and metric; searching cold (model-based, %d random architectures first).",
                task, self.n_initial,
            )  # fmt: skip

    def _warm_order(self) -> list[Architecture]:
        """The zero-shot portfolio of ``n_warm`` architectures (predict, then refine)."""
        if not self._past or self.n_warm == 0:
            return []
        seed = 0 if self.seed is None else self.seed
        picks = self._predictor.suggest(self._descriptors, self.n_warm, seed=seed)
        return [p.arch for p in picks]

    # ------------------------------------------------------------------ model
    def _past_at(self, x: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
        """Past models' means at model features ``x`` (one-hot part), shape (n_past, len(x)).

        Rows of models not in ``use`` (a boolean mask) are left at 0, uncomputed.
        """
        onehot = x[:, : self._n_onehot]
        out = np.zeros((len(self._past), len(x)))
        for j, m in enumerate(self._past):
            if use is None or use[j]:
                out[j] = m.gp.predict(onehot)[0]
        return out

    def _task_weights(self, mu_own: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Online weights of the past tasks: shrunk positive rank correlations, shape (n_past,)."""
        n = len(y)
        prior = self._prior
        if n < 3:
            return np.asarray(prior, dtype=float)
        corr = np.array([rank_correlation(mu_own[j], y) for j in range(len(self._past))])
        corr = np.where(np.isfinite(corr), np.maximum(corr, 0.0), 0.0)
        total = corr.sum()
        observed = corr / total if total > 0 else np.zeros_like(corr)
        lam = n / (n + self.prior_n)
        # Evidence of no positive correlation at all drives the weights to 0 (plain BO).
        strength = min(1.0, float(corr.max()) / 0.2) if len(corr) else 0.0
        w = (1.0 - lam) * prior + lam * observed
        return np.asarray(w * (1.0 - lam + lam * strength), dtype=float)

    def _transfer_fit(self, x: np.ndarray, y: np.ndarray) -> _TransferFit:
        """The transfer model on the own results: task weights, scaled prior mean, GP residual."""
        mu_own = self._past_at(x)
        w = self._task_weights(mu_own, y)
        m_own = w @ mu_own
        # Least-squares scale of the prior mean on the own results (>= 0).
        denom = float(m_own @ m_own)
        a = max(0.0, float(m_own @ y) / denom) if denom > 1e-12 and len(y) >= 3 else 1.0
        a = min(a, 1.0)
        prior_own = a * m_own
        resid = y - prior_own
        m = self._fit_point(len(resid))
        params = self._fits.get(m)
        if params is None:
            params = self._gp.fit_params(x[:m], resid[:m])
            self._fits = {m: params}
        return _TransferFit(w=w, scale=a, prior=prior_own, resid=resid, params=params)

    def _cold_params(self, x: np.ndarray, y_raw: np.ndarray) -> GPParams:
        """Hyperparameters of plain BO's GP (no prior mean), on the same refit schedule."""
        m = self._fit_point(len(y_raw))
        params = self._cold_fits.get(m)
        if params is None:
            params = self._gp.fit_params(x[:m], self._targets(y_raw[:m]))
            self._cold_fits = {m: params}
        return params

    def _acquire(self, xc: np.ndarray) -> np.ndarray:
        if not self._past:
            self.weights = {TARGET: 1.0}
            return super()._acquire(xc)
        x = np.vstack(self._features)
        y_raw = np.array([s for _, s in self.history])
        y = self._targets(y_raw)
        fit = self._transfer_fit(x, y)
        if self.gate and len(y) >= self.gate_min:
            # Keep the transfer model only while it predicts the new task's held-out results
            # better than the new task's own GP does (leave-one-out rank correlation): once the
            # past tasks stop helping, this is plain BO.
            cold = self._cold_params(x, y_raw)
            self.gate_scores = (
                _loo_rank_corr(self._gp, x, y, np.zeros_like(y), cold, y),
                _loo_rank_corr(self._gp, x, fit.resid, fit.prior, fit.params, y),
            )
            if not self.gate_scores[1] > self.gate_scores[0] + self.gate_margin:
                self.weights = {t: 0.0 for t in self.past_tasks}
                self.weights[TARGET] = 1.0
                self._gp.condition(x, y, cold)
                mean, std = self._gp.predict(xc)
                return expected_improvement(mean, std, float(y.max()))
        w, a = fit.w, fit.scale
        self._gp.condition(x, fit.resid, fit.params)
        mean, std = self._gp.predict(xc)
        if a * float(w.sum()) > 0:
            mean = mean + a * (w @ self._past_at(xc, w > 0))
        share = min(1.0, a * float(w.sum()))
        wsum = float(w.sum())
        self.weights = {
            t: float(share * v / wsum) if wsum > 0 else 0.0
            for t, v in zip(self.past_tasks, w, strict=True)
        }
        self.weights[TARGET] = 1.0 - share
        best = float((fit.prior + self._gp.predict(x)[0]).max())
        return expected_improvement(mean, std, best)

    # ------------------------------------------------------------- candidates
    def _index_candidates(self) -> np.ndarray:
        rows = super()._index_candidates()
        extra = [self._indices(a) for m in self._past for a in m.best if not self.is_seen(a)]
        if not extra:
            return rows
        both = np.vstack([np.vstack(extra), rows]) if len(rows) else np.vstack(extra)
        _, first = np.unique(both, axis=0, return_index=True)
        return np.asarray(both[np.sort(first)])

    def _generic_candidates(self) -> list[Architecture]:
        out = super()._generic_candidates()
        keys = {self.space.key(a) for a in out}
        for m in self._past:
            for a in m.best:
                k = self.space.key(a)
                if k not in keys and not self.is_seen(a):
                    keys.add(k)
                    out.append(a)
        return out

    # -------------------------------------------------------------- ask/tell
    def ask(self) -> Architecture:
        if self._past and self._n_told < self.n_warm:
            for arch in self._warm:
                if not self.is_seen(arch):
                    self.mark_seen(arch)
                    return arch
        return super().ask()

    def tell(self, obs: Observation) -> None:
        self._n_told += 1
        super().tell(obs)


@dataclass(frozen=True)
class _TransferFit:
    w: np.ndarray  # past-task weights
    scale: float  # least-squares scale of the mixed prior mean
    prior: np.ndarray  # scaled prior mean at the own architectures
    resid: np.ndarray  # own targets minus the prior
    params: GPParams  # the residual GP's hyperparameters


def _loo_rank_corr(
    gp: HammingGP,
    x: np.ndarray,
    target: np.ndarray,
    offset: np.ndarray,
    params: GPParams,
    y: np.ndarray,
) -> float:
    """Spearman correlation with ``y`` of a GP's leave-one-out means of ``target``, plus ``offset``.

    -1 when undefined (constant predictions): a model that cannot rank is never preferred.
    """
    r = rank_correlation(gp.loo_mean(x, target, params) + offset, y, "spearman")
    return r if np.isfinite(r) else -1.0
