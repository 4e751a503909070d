"""Meta-learned search: memory warm start, then a ranking-weighted GP ensemble (RGPE)."""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas.meta.memory import ExperienceMemory, TaskHistory
from metanas.meta.similarity import descriptor_similarity
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies._surrogates import (
    GPParams,
    HammingGP,
    expected_improvement,
    gaussian_copula,
    refit_point,
)
from metanas.strategies.base import Observation, Strategy, check_positive_int, register_strategy

if TYPE_CHECKING:
    from metanas.storage.rdb import RDBStorage

__all__ = ["MetaStrategy"]

_logger = logging.getLogger(__name__)

#: Past tasks' GP hyperparameters are fitted on at most this many of their results.
_PARAM_FIT_POINTS = 60
#: Name of the new task's own model in :attr:`MetaStrategy.weights`.
TARGET = "<target>"


@dataclass
class _PastModel:
    """One past task: its GP (fitted once, at bind time) and its best architectures."""

    task: str
    gp: HammingGP
    best: list[Architecture]
    n: int


@register_strategy("meta")
class MetaStrategy(Strategy):
    """Search that learns from past tasks: memory warm start, then an RGPE-style transfer surrogate.

    When bound to a study (:meth:`bind`, called by the study), the strategy
    reads the *experience memory*: every stored task but the study's own (by
    default from the study's storage, else from ``memory``), restricted to
    this space and the study's metric. Then

    1. **Warm start.** The first ``n_warm`` asks are the best architectures of
       past tasks: the union of each past task's ``n_past_best`` best
       architectures, ranked by the (prior-weighted) mean of the past tasks'
       models, so an architecture good on many past tasks comes first. Prior
       task weights come from descriptor similarity when the descriptors
       tell the tasks apart, else they are equal.
    2. **Transfer surrogate** (ranking-weighted Gaussian process ensemble,
       RGPE). Each past task has a Gaussian process fitted once on its
       history (rank-Gaussian targets, Hamming kernel); the new task has its
       own, refitted as results come in. Before every ask each model is
       weighted by how well it *ranks* the new task's results: ``n_samples``
       draws from each model's predictions at the evaluated architectures
       (leave-one-out predictions for the new task's own model) are scored by
       their number of misordered pairs, and a model's weight is the share of
       draws in which it has the fewest. A past task whose median loss
       exceeds the 95th percentile of the own model's loss gets weight 0, so
       past tasks that disagree with the new one drop out and the search
       falls back to plain Bayesian optimisation.
    3. **Acquisition.** Expected improvement of the ensemble (mean
       ``sum w_j mu_j``, variance ``sum w_j^2 s_j^2``) over the best
       evaluated architecture's ensemble mean, maximised over a pool of
       mutations of the best evaluated architectures, the past tasks' best
       architectures and random samples (valid and unseen only).

    With an empty memory (or without a study, driven by hand) it is a cold
    model-based search: ``n_initial`` random architectures, then the own
    model only.

    State is the told history plus the memory read at bind time, so a
    re-opened study continues exactly as an uninterrupted one would (as long
    as the memory did not change in between). Randomness (candidate pool,
    weight draws) comes from the per-trial generator the study reseeds.

    Parameters
    ----------
    space
        The search space.
    memory
        SQLAlchemy URL of the experience memory; None: the study's own
        storage. Stored with the study.
    n_warm
        Warm-start asks taken from past tasks' best architectures (0: none).
    n_initial
        Random asks before the model is used when the memory is empty.
    n_mutations
        Mutated candidates per ask, spread over the ``top_k`` best evaluated
        architectures.
    n_random
        Random candidates per ask.
    top_k
        How many of the best evaluated architectures are mutated.
    n_past_best
        Best architectures of each past task used for the warm start and put
        in every candidate pool.
    n_samples
        Draws per model for the ranking-loss weights.
    max_past_points
        A past task with more evaluated architectures is fitted on its best
        half of this many plus an even spread of the rest (GP cost).
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
    Feurer, M., Letham, B. & Bakshy, E. Scalable meta-learning for Bayesian
    optimization using ranking-weighted Gaussian process ensembles. AutoML
    workshop at ICML 2018 (RGPE).

    Feurer, M., Letham, B., Hutter, F. & Bakshy, E. Practical transfer
    learning for Bayesian optimization. arXiv:1802.02219, 2022.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        memory: str | None = None,
        n_warm: int = 3,
        n_initial: int = 10,
        n_mutations: int = 200,
        n_random: int = 100,
        top_k: int = 5,
        n_past_best: int = 10,
        n_samples: int = 100,
        max_past_points: int = 300,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        if memory is not None and (not isinstance(memory, str) or not memory.strip()):
            raise ValueError(
                "memory must be a SQLAlchemy URL such as 'sqlite:///experience.db', or None for "
                f"the study's own storage; got {memory!r}."
            )
        self.memory = memory
        self.n_warm = check_positive_int("n_warm", n_warm, 0)
        self.n_initial = check_positive_int("n_initial", n_initial, 2)
        self.n_mutations = check_positive_int("n_mutations", n_mutations, 0)
        self.n_random = check_positive_int("n_random", n_random, 0)
        if self.n_mutations + self.n_random == 0:
            raise ValueError(
                "n_mutations + n_random must be >= 1; got 0 and 0. Give the acquisition "
                "some candidates, e.g. n_mutations=200, n_random=100."
            )
        self.top_k = check_positive_int("top_k", top_k, 1)
        self.n_past_best = check_positive_int("n_past_best", n_past_best, 1)
        self.n_samples = check_positive_int("n_samples", n_samples, 10)
        self.max_past_points = check_positive_int("max_past_points", max_past_points, 10)
        self._groups = _groups(space)
        self._gp = HammingGP(self._groups)
        self.history: list[tuple[Architecture, float]] = []
        self._features: list[np.ndarray] = []
        self._encoding_cache: dict[Architecture, np.ndarray] = {}
        self._fits: dict[int, GPParams] = {}
        self._n_told = 0
        self._past: list[_PastModel] = []
        self._prior = np.zeros(0)
        self._warm: list[Architecture] = []
        #: The study's task (None until bound).
        self.task: str | None = None
        #: The past tasks the strategy learns from, in memory order.
        self.past_tasks: list[str] = []
        #: The model weights of the last ask: ``{past task: w, "<target>": w}``.
        self.weights: dict[str, float] = {}

    # ------------------------------------------------------------------ memory
    def bind(
        self,
        *,
        task: str,
        storage: RDBStorage,
        objectives: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Read the experience memory for ``task`` (the study calls this once, before any tell).

        The memory is ``self.memory`` (a URL) or, when None, ``storage``;
        ``task`` itself is always left out. A study created without a task
        name (its task is its own name) searches cold, with a logged warning:
        its own data set could not be told apart from the memory's. The metric and direction are the
        study's first objective (``valid_accuracy``, maximised, when none is
        given).
        """
        metric, direction = objectives[0] if objectives else ("valid_accuracy", "maximize")
        if any(r.name == task for r in storage.list_study_records([task])):
            # Created without task=: the task is just the study's name, so the memory cannot
            # tell this search's own data set from others (a re-run under another name would
            # be "transferred" from). Search cold rather than risk it.
            _logger.warning(
                "Meta search %s: the study has no task name (create_study(task=...)), so its "
                "own task cannot be excluded from the experience memory; searching cold. Pass "
                "task='<data set>' to learn from past tasks.",
                task,
            )
            self.set_memory({}, task=task)
            return
        memory = ExperienceMemory(self.memory if self.memory is not None else storage)
        past = memory.memory_for(
            task, metric=metric, direction=direction, space=self.space, min_evaluations=3
        )
        own: Mapping[str, Any] = {}
        for rec in storage.list_tasks():
            if rec.name == task:
                own = rec.descriptors
        self.set_memory(past, descriptors=own, task=task)

    def set_memory(
        self,
        past: Mapping[str, TaskHistory],
        *,
        descriptors: Mapping[str, Any] | None = None,
        task: str | None = None,
    ) -> None:
        """Use these past tasks (``{task: TaskHistory}``, read with this space).

        :meth:`bind` calls this with what it read from the memory; call it
        directly to drive the strategy by hand. Past tasks with fewer than
        3 architectures, and ``task`` itself, are left out.
        """
        if not isinstance(past, Mapping):
            raise TypeError(
                "past must be a dict {task: TaskHistory}, e.g. from "
                f"ExperienceMemory.memory_for(...); got {type(past).__name__}."
            )
        self.task = task
        models: list[_PastModel] = []
        hists: list[TaskHistory] = []
        for name, h in past.items():
            if not isinstance(h, TaskHistory):
                raise TypeError(f"past[{name!r}] must be a TaskHistory; got {type(h).__name__}.")
            if name == task:
                continue
            rows = [i for i, a in enumerate(h.archs) if self.space.is_valid(a)]
            if len(rows) < 3:
                continue
            scores = h.scores[rows]
            rows = [rows[i] for i in self._subsample(scores)]
            x = np.vstack([self._encode(h.archs[i]) for i in rows])
            y = gaussian_copula(h.scores[rows])
            gp = HammingGP(self._groups)
            sub = self._spread(h.scores[rows], _PARAM_FIT_POINTS)
            gp.condition(x, y, gp.fit_params(x[sub], y[sub], maxiter=30))
            best = [a for a in h.best_architectures(len(h)) if self.space.is_valid(a)]
            models.append(_PastModel(name, gp, best[: self.n_past_best], len(rows)))
            hists.append(h)
        self._past = models
        self.past_tasks = [m.task for m in models]
        self._prior = self._prior_weights(hists, descriptors or {})
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

    def _subsample(self, scores: np.ndarray) -> list[int]:
        return self._spread(scores, self.max_past_points)

    @staticmethod
    def _spread(scores: np.ndarray, size: int) -> list[int]:
        """At most ``size`` rows: the best half of them, and an even spread of the rest."""
        n = len(scores)
        if n <= size:
            return list(range(n))
        order = np.argsort(-scores, kind="stable")
        n_top = size // 2
        rest = order[n_top:]
        spread = rest[np.linspace(0, len(rest) - 1, size - n_top).astype(int)]
        return sorted({*order[:n_top].tolist(), *spread.tolist()})

    def _prior_weights(
        self, hists: Sequence[TaskHistory], descriptors: Mapping[str, Any]
    ) -> np.ndarray:
        """Task weights before any evidence: descriptor similarity when informative, else equal."""
        m = len(hists)
        if m == 0:
            return np.zeros(0)
        uniform = np.full(m, 1.0 / m)
        if not descriptors:
            return uniform
        sims = descriptor_similarity(
            descriptors, {f"{i}": dict(h.descriptors) for i, h in enumerate(hists)}
        )
        w = np.array([max(sims[f"{i}"].value, 0.0) for i in range(m)])
        if w.sum() <= 0 or np.ptp(w) < 1e-9:
            return uniform
        return np.asarray(w / w.sum(), dtype=float)

    def _warm_order(self) -> list[Architecture]:
        """Past tasks' best architectures, by the prior-weighted mean of the past models."""
        pool: list[Architecture] = []
        keys: set[Hashable] = set()
        for model in self._past:
            for a in model.best:
                k = self.space.key(a)
                if k not in keys:
                    keys.add(k)
                    pool.append(a)
        if not pool:
            return []
        x = np.vstack([self._encode(a) for a in pool])
        score = np.zeros(len(pool))
        for w, model in zip(self._prior, self._past, strict=True):
            score += w * model.gp.predict(x)[0]
        return [pool[i] for i in np.argsort(-score, kind="stable")]

    # ------------------------------------------------------------------ model
    def _encode(self, arch: Architecture) -> np.ndarray:
        # By the architecture itself, not its isomorphism key: isomorphic encodings may
        # differ, and the cache must not make features depend on what was seen first.
        row = self._encoding_cache.get(arch)
        if row is None:
            row = np.asarray(self.space.encode(arch), dtype=float)
            self._encoding_cache[arch] = row
        return row

    @staticmethod
    def _fit_point(n: int) -> int:
        """The history length whose hyperparameters serve a model of ``n`` results."""
        return refit_point(n, 30)

    def _own_model(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Condition the own GP; return its leave-one-out mean and sd at the data."""
        x = np.vstack(self._features)
        y_raw = np.array([s for _, s in self.history])
        m = self._fit_point(len(y_raw))
        params = self._fits.get(m)
        if params is None:
            params = self._gp.fit_params(x[:m], gaussian_copula(y_raw[:m]))
            self._fits = {m: params}
        y = gaussian_copula(y_raw)
        self._gp.condition(x, y, params)
        dist = self._gp.distances(x, x)
        k = params.signal * np.exp(-np.tensordot(params.theta, dist, axes=1))
        k[np.diag_indices_from(k)] += params.noise + 1e-8
        try:
            kinv = np.linalg.inv(k)
        except np.linalg.LinAlgError:
            return None
        d = np.diag(kinv)
        alpha = kinv @ y
        return y - alpha / d, np.sqrt(1.0 / d)

    def _past_at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Past models' mean and sd at encodings ``x``: shapes (n_past, len(x)).

        Computed afresh for the whole batch every time (no cache across asks):
        floating-point results may depend on the batch, and a resumed search
        must see bit-identical predictions.
        """
        preds = [m.gp.predict(x) for m in self._past]
        return np.vstack([p[0] for p in preds]), np.vstack([p[1] for p in preds])

    def _weights(self, target: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """Weights of the past models and (last) the own model, from ranking losses."""
        n_past = len(self._past)
        y = gaussian_copula(np.array([s for _, s in self.history]))
        n = len(y)
        if n_past == 0:
            return np.array([1.0])
        if n < 2:
            return np.asarray(np.r_[self._prior, 0.0], dtype=float)
        i, k = np.triu_indices(n, 1)
        dy = np.sign(y[i] - y[k])
        keep = dy != 0
        i, k, dy = i[keep], k[keep], dy[keep]
        if len(dy) == 0:
            return np.asarray(np.r_[self._prior, 0.0], dtype=float)
        s = self.n_samples
        mu, sd = self._past_at(np.vstack(self._features))
        losses = np.empty((s, n_past + 1))
        for j in range(n_past):
            f = mu[j][None, :] + sd[j][None, :] * self._rng.standard_normal((s, n))
            losses[:, j] = ((f[:, i] - f[:, k]) * dy <= 0).sum(1)
        if target is None or n < 3:
            # Too little evidence to judge the own model: as good as a random ranking.
            losses[:, -1] = self._rng.binomial(len(dy), 0.5, size=s)
        else:
            t_mu, t_sd = target
            f = t_mu[None, :] + t_sd[None, :] * self._rng.standard_normal((s, n))
            losses[:, -1] = ((f[:, i] - f[:, k]) * dy <= 0).sum(1)
        jitter = self._rng.random(losses.shape) * 0.5  # ties: a random winner
        best = np.argmin(losses + jitter, axis=1)
        w = np.bincount(best, minlength=n_past + 1).astype(float) / s
        # Weight dilution prevention: drop past models that rank worse than the own
        # model's 95th percentile loss (RGPE).
        cutoff = np.percentile(losses[:, -1], 95)
        bad = np.median(losses[:, :-1], axis=0) > cutoff
        w[:-1][bad] = 0.0
        if target is None:
            w[-1] = 0.0
        if w.sum() <= 0:
            return np.asarray(
                np.r_[self._prior, 0.0] if target is None else np.r_[np.zeros(n_past), 1.0],
                dtype=float,
            )
        return np.asarray(w / w.sum(), dtype=float)

    # ------------------------------------------------------------- candidates
    def _candidates(self) -> list[Architecture]:
        ranked = sorted(range(len(self.history)), key=lambda i: -self.history[i][1])
        parents = [self.history[i][0] for i in ranked[: self.top_k]]
        if not parents:
            parents = self._warm[: self.top_k]
        out: list[Architecture] = []
        keys: set[Hashable] = set()

        def add(arch: Architecture) -> None:
            key = self.space.key(arch)
            if key not in keys and not self.is_seen(arch) and self.space.is_valid(arch):
                keys.add(key)
                out.append(arch)

        for model in self._past:
            for a in model.best:
                add(a)
        if parents and self.n_mutations:
            w = 1.0 / np.arange(1, len(parents) + 1)
            counts = np.floor(self.n_mutations * w / w.sum()).astype(int)
            counts[0] += self.n_mutations - int(counts.sum())
            for parent, count in zip(parents, counts, strict=True):
                for _ in range(int(count)):
                    child = self.space.mutate(parent, self._rng)
                    if self._rng.random() < 0.5:
                        child = self.space.mutate(child, self._rng)
                    add(child)
        for _ in range(self.n_random):
            add(self.space.sample(self._rng))
        return out

    # -------------------------------------------------------------- ask/tell
    def _random(self) -> Architecture:
        arch = self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def ask(self) -> Architecture:
        if self._past and self._n_told < self.n_warm:
            for arch in self._warm:
                if not self.is_seen(arch):
                    self.mark_seen(arch)
                    return arch
        if not self._past and len(self.history) < self.n_initial:
            return self._random()
        candidates = self._candidates()
        if not candidates:
            return self._random()
        target = self._own_model() if len(self.history) >= 2 else None
        w = self._weights(target)
        self.weights = {t: float(v) for t, v in zip(self.past_tasks, w[:-1], strict=False)}
        self.weights[TARGET] = float(w[-1])
        xc = np.vstack([self._encode(a) for a in candidates])
        mean = np.zeros(len(candidates))
        var = np.zeros(len(candidates))
        own_archs = [a for a, _ in self.history]
        inc = np.zeros(len(own_archs))
        use = [j for j in range(len(self._past)) if w[j] > 0]
        if use:
            mu_c, sd_c = self._past_at(xc)
            mu_o = (
                self._past_at(np.vstack(self._features))[0]
                if own_archs
                else np.zeros((len(self._past), 0))
            )
            for j in use:
                mean += w[j] * mu_c[j]
                var += w[j] * sd_c[j] ** 2
                inc += w[j] * mu_o[j]
        if w[-1] > 0 and target is not None:
            t_mu, t_sd = self._gp.predict(xc)
            mean += w[-1] * t_mu
            var += w[-1] * t_sd**2
            inc += w[-1] * self._gp.predict(np.vstack(self._features))[0]
        value = expected_improvement(mean, np.sqrt(var), float(inc.max())) if own_archs else mean
        arch = candidates[int(np.argmax(value))]
        self.mark_seen(arch)
        return arch

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        self._n_told += 1
        if obs.score is None or not math.isfinite(obs.score):
            return
        self.history.append((obs.arch, float(obs.score)))
        self._features.append(self._encode(obs.arch))


def _groups(space: SearchSpace) -> list[np.ndarray]:
    """Kernel feature groups: one per decision for the space's one-hot encoding, else one."""
    sizes = [len(d.choices) for d in space.decisions]
    if space.encoding_size != sum(sizes):
        return [np.arange(space.encoding_size)]
    offsets = np.cumsum([0, *sizes])
    return [np.arange(offsets[i], offsets[i + 1]) for i in range(len(sizes))]
