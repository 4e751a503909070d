"""Bayesian optimisation over architectures: a Hamming-kernel GP and expected improvement."""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np

from metanas._checks import check_positive_int
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, Strategy, register_strategy
from metanas.surrogates import (
    GPParams,
    HammingGP,
    expected_improvement,
    gaussian_copula,
    refit_point,
    single_threaded_blas,
    standardise,
)

__all__ = ["BOStrategy"]

_ACQUISITIONS = ("ei", "ucb")
_TRANSFORMS = ("copula", "standardise")


@register_strategy("bo")
class BOStrategy(Strategy):
    """Bayesian optimisation: a Gaussian process on one-hot encodings, EI over local mutations.

    The first ``n_initial`` architectures are random. Afterwards every ask

    1. fits a Gaussian process to the told results. Features: the space's
       one-hot ``encode``, plus (``count_features``) how often each choice
       is used by decisions that share a choice set, such as the operations
       of several nodes. Kernel: exponentiated Hamming distance with one
       weight per decision (and per count group). Targets: normal scores of
       the ranks (``transform="copula"``) or standardised values.
       Hyperparameters: maximum marginal likelihood under weak priors.
    2. builds a candidate pool: ``n_mutations`` mutations (one or two
       changed decisions) of the ``top_k`` best architectures so far, more
       of them for better ranks, plus ``n_random`` random samples; repeats
       and seen networks (by ``space.key``, so isomorphic copies count as
       seen) are dropped.
    3. proposes the valid candidate with the highest acquisition value:
       expected improvement over the best observed target (``"ei"``) or the
       upper confidence bound mean + 2 sd (``"ucb"``).

    The acquisition is optimised over mutations of the best architectures as
    in BANANAS; the surrogate is a GP rather than BANANAS' neural ensemble:
    with a hundred or a few hundred results a GP with a decision-wise kernel
    is accurate, calibrated without an ensemble, and cheap (about 10 ms per
    ask at 100 results and 50 ms at 500 on one core; the hyperparameter fit,
    on a fixed schedule, adds 0.1 to 1.5 s to some asks).

    Spaces that keep the base class's ``sample``, ``mutate`` and ``encode``
    (dict spaces, NB201, NAS-Bench-Graph, constrained ones) draw the pool as
    index arrays with numpy and check constraints and identity only for the
    best-scored candidates. Other spaces (a :class:`~metanas.spaces.TableSpace`,
    a space with its own sampling) build it with their own ``mutate`` and
    ``sample``, so every candidate is valid there, at about 50 us each.

    All state is the told history: hyperparameters are refitted from history
    prefixes on a fixed schedule (at every result up to 80 results, then each
    time the count has grown by 10 %), so a resumed study proposes exactly
    what an uninterrupted one would. Failed trials are never proposed again
    and do not enter the model. The linear algebra runs with one BLAS thread
    (a scoped limit through ``threadpoolctl`` when it is installed).

    Parameters
    ----------
    space
        The search space.
    n_initial
        Random architectures before the model is used (at least 2).
    n_mutations
        Mutated candidates per ask, spread over the ``top_k`` best
        architectures (weight 1 / rank).
    n_random
        Random candidates per ask (global exploration).
    top_k
        How many of the best architectures are mutated.
    acquisition
        ``"ei"`` (expected improvement) or ``"ucb"`` (mean + 2 standard
        deviations).
    transform
        Target transform before the GP: ``"copula"`` (normal scores of the
        ranks, robust to a few very bad networks) or ``"standardise"``.
    count_features
        Add the choice-count features (ignored when no two decisions share a
        choice set, or when the space has its own encoding).
    seed
        Seed of the random generator.

    Raises
    ------
    ValueError
        A setting out of range or of the wrong type, naming it.

    Examples
    --------
    >>> import metanas
    >>> space = metanas.SearchSpace({"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]})
    >>> bo = BOStrategy(space, n_initial=3, seed=0)
    >>> for number in range(6):
    ...     bo.reseed(number)
    ...     arch = bo.ask()
    ...     score = float(arch["a"] + arch["b"] + arch["c"])
    ...     bo.tell(Observation(arch=arch, score=score, scores=(score,), number=number))
    >>> len(bo.history), len({a for a, _ in bo.history})
    (6, 6)

    References
    ----------
    White, C., Neiswanger, W. & Savani, Y. BANANAS: Bayesian optimization with
    neural architectures for neural architecture search. AAAI 2021.

    Jones, D. R., Schonlau, M. & Welch, W. J. Efficient global optimization of
    expensive black-box functions. Journal of Global Optimization 13, 1998.

    Srinivas, N., Krause, A., Kakade, S. & Seeger, M. Gaussian process
    optimization in the bandit setting: no regret and experimental design.
    ICML 2010.

    Ru, B., Alvi, A., Nguyen, V., Osborne, M. A. & Roberts, S. Bayesian
    optimisation over multiple continuous and categorical inputs. ICML 2020.

    Rasmussen, C. E. & Williams, C. K. I. Gaussian Processes for Machine
    Learning. MIT Press, 2006.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_initial: int = 10,
        n_mutations: int = 300,
        n_random: int = 200,
        top_k: int = 5,
        acquisition: str = "ei",
        transform: str = "copula",
        count_features: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.n_initial = check_positive_int("n_initial", n_initial, 2)
        self.n_mutations = check_positive_int("n_mutations", n_mutations, 0)
        self.n_random = check_positive_int("n_random", n_random, 0)
        if self.n_mutations + self.n_random == 0:
            raise ValueError(
                "n_mutations + n_random must be >= 1; got 0 and 0. Give the acquisition "
                "some candidates, e.g. n_mutations=300, n_random=200."
            )
        self.top_k = check_positive_int("top_k", top_k, 1)
        if acquisition not in _ACQUISITIONS:
            raise ValueError(
                f"acquisition must be one of {list(_ACQUISITIONS)!r}; got {acquisition!r}."
            )
        self.acquisition = acquisition
        if transform not in _TRANSFORMS:
            raise ValueError(f"transform must be one of {list(_TRANSFORMS)!r}; got {transform!r}.")
        self.transform = transform
        if not isinstance(count_features, bool | np.bool_):
            raise ValueError(f"count_features must be True or False; got {count_features!r}.")
        self.count_features = bool(count_features)
        self._count_matrix, groups = self._feature_map(space, self.count_features)
        self._gp = HammingGP(groups)
        # Plain one-hot spaces (the base class's sample, mutate and encode) draw
        # candidates as index arrays with numpy: thousands cost milliseconds.
        cls = type(space)
        self._fast = (
            cls.sample is SearchSpace.sample
            and cls.mutate is SearchSpace.mutate
            and cls.encode is SearchSpace.encode
            and cls.encoding_size is SearchSpace.encoding_size
        )
        self._sizes = np.array([len(d.choices) for d in space.decisions], dtype=np.int64)
        self._offsets = np.cumsum(np.r_[0, self._sizes])[:-1]
        self._seen_rows: set[bytes] = set()
        self.history: list[tuple[Architecture, float]] = []
        self._features: list[np.ndarray] = []
        self._fits: dict[int, GPParams] = {}
        self._told: dict[int, int] = {}  # trial number -> its index in history

    # ------------------------------------------------------------------ model
    @staticmethod
    def _feature_map(
        space: SearchSpace, counts: bool
    ) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """How model features are built from ``space.encode`` and grouped in the kernel.

        Returns ``(count_matrix, groups)``. With the space's own one-hot
        encoding there is one group per decision; with ``counts``, every set of
        two or more decisions sharing the same choices (the operations of
        several nodes) adds a group of choice counts, ``onehot @ count_matrix``,
        which sees two networks using the same operations in different places
        as alike. A custom encoding is one group.
        """
        sizes = [len(d.choices) for d in space.decisions]
        if space.encoding_size != sum(sizes):
            return None, [np.arange(space.encoding_size)]
        offsets = np.cumsum([0, *sizes])
        groups = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(sizes))]
        if not counts:
            return None, groups
        shared: dict[tuple[object, ...], list[int]] = {}
        for i, d in enumerate(space.decisions):
            if len(d.choices) > 1:
                shared.setdefault(tuple((type(c), c) for c in d.choices), []).append(i)
        blocks = [members for members in shared.values() if len(members) >= 2]
        if not blocks:
            return None, groups
        n_counts = sum(sizes[m[0]] for m in blocks)
        matrix = np.zeros((space.encoding_size, n_counts))
        col = 0
        for members in blocks:
            width = sizes[members[0]]
            for i in members:
                matrix[offsets[i] : offsets[i + 1], col : col + width] = np.eye(width)
            groups.append(space.encoding_size + np.arange(col, col + width))
            col += width
        return matrix, groups

    def _encode(self, arch: Architecture) -> np.ndarray:
        """Model features of one architecture (``space.encode``, then the count features)."""
        row = np.asarray(self.space.encode(arch), dtype=float)
        if self._count_matrix is not None:
            row = np.concatenate([row, row @ self._count_matrix])
        return row

    @staticmethod
    def _fit_point(n: int) -> int:
        """The history length whose hyperparameters serve a model of ``n`` results."""
        return refit_point(n, 80)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return gaussian_copula(y) if self.transform == "copula" else standardise(y)

    def _params(self, x: np.ndarray, y_raw: np.ndarray) -> GPParams:
        m = self._fit_point(len(y_raw))
        params = self._fits.get(m)
        if params is None:
            params = self._gp.fit_params(x[:m], self._targets(y_raw[:m]))
            self._fits = {m: params}  # older fits are never needed again
        return params

    # ------------------------------------------------------------- candidates
    def _parent_counts(self) -> list[tuple[Architecture, int]]:
        """The ``top_k`` best architectures, each with its share of ``n_mutations``.

        Shares fall with rank (weight ``1 / rank``), so the best architecture's
        neighbourhood is searched most densely.
        """
        ranked = sorted(range(len(self.history)), key=lambda i: -self.history[i][1])
        parents = [self.history[i][0] for i in ranked[: self.top_k]]
        if not parents or not self.n_mutations:
            return []
        w = 1.0 / np.arange(1, len(parents) + 1)
        counts = np.floor(self.n_mutations * w / w.sum()).astype(int)
        counts[0] += self.n_mutations - int(counts.sum())
        return [(p, int(c)) for p, c in zip(parents, counts, strict=True) if c > 0]

    def _generic_candidates(self) -> list[Architecture]:
        """Candidates from the space's own ``mutate`` and ``sample`` (any space), unseen, unique."""
        out: list[Architecture] = []
        keys: set[Hashable] = set()

        def add(arch: Architecture) -> None:
            key = self.space.key(arch)
            if key not in keys and not self.is_seen(arch):
                keys.add(key)
                out.append(arch)

        for parent, count in self._parent_counts():
            for _ in range(count):
                child = self.space.mutate(parent, self._rng)
                if self._rng.random() < 0.5:
                    child = self.space.mutate(child, self._rng)
                add(child)
        for _ in range(self.n_random):
            add(self.space.sample(self._rng))
        return out

    def _index_candidates(self) -> np.ndarray:
        """The same kind of pool as choice-index rows, drawn with numpy (plain one-hot spaces).

        Rows may break constraints or repeat seen networks under another
        encoding: :meth:`ask` checks the best-scored rows one by one.
        """
        sizes = self._sizes
        blocks = []
        mutable = np.flatnonzero(sizes > 1)
        parents = self._parent_counts()
        if parents and len(mutable):
            rows = np.repeat(
                np.vstack([self._indices(p) for p, _ in parents]),
                [c for _, c in parents],
                axis=0,
            )
            n = len(rows)
            for edit in range(2):
                # Every row gets one edit, half of them a second one.
                chosen = np.arange(n) if edit == 0 else np.flatnonzero(self._rng.random(n) < 0.5)
                col = mutable[self._rng.integers(len(mutable), size=len(chosen))]
                shift = 1 + self._rng.integers(sizes[col] - 1)
                rows[chosen, col] = (rows[chosen, col] + shift) % sizes[col]
            blocks.append(rows)
        if self.n_random:
            blocks.append(
                np.column_stack([self._rng.integers(k, size=self.n_random) for k in sizes])
            )
        if not blocks:
            return np.zeros((0, len(sizes)), dtype=np.int64)
        rows = np.vstack(blocks)
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
        keep = [r.tobytes() not in self._seen_rows for r in rows]
        return np.asarray(rows[np.asarray(keep, dtype=bool)])

    def _indices(self, arch: Architecture) -> np.ndarray:
        return np.array([d.index(arch[d.name]) for d in self.space.decisions], dtype=np.int64)

    def _from_indices(self, row: np.ndarray) -> Architecture:
        return Architecture(
            (d.name, d.choices[int(i)]) for d, i in zip(self.space.decisions, row, strict=True)
        )

    def _features_of_rows(self, rows: np.ndarray) -> np.ndarray:
        x = np.zeros((len(rows), self.space.encoding_size))
        x[np.arange(len(rows))[:, None], self._offsets[None, :] + rows] = 1.0
        if self._count_matrix is not None:
            x = np.hstack([x, x @ self._count_matrix])
        return x

    # -------------------------------------------------------------- ask/tell
    def _acquire(self, xc: np.ndarray) -> np.ndarray:
        x = np.vstack(self._features)
        y_raw = np.array([s for _, s in self.history])
        params = self._params(x, y_raw)
        y = self._targets(y_raw)
        self._gp.condition(x, y, params)
        mean, std = self._gp.predict(xc)
        if self.acquisition == "ei":
            return expected_improvement(mean, std, float(y.max()))
        return np.asarray(mean + 2.0 * std)

    def _propose(self) -> Architecture | None:
        if self._fast:
            rows = self._index_candidates()
            if not len(rows):
                return None
            value = self._acquire(self._features_of_rows(rows))
            for i in np.argsort(-value, kind="stable"):
                arch = self._from_indices(rows[i])
                if self.space.is_valid(arch) and not self.is_seen(arch):
                    return arch
            return None
        candidates = self._generic_candidates()
        if not candidates:
            return None
        value = self._acquire(np.vstack([self._encode(a) for a in candidates]))
        return candidates[int(np.argmax(value))]

    def ask(self) -> Architecture:
        arch = None
        if len(self.history) >= self.n_initial:
            with single_threaded_blas():
                arch = self._propose()
        if arch is None:
            arch = self.sample_unseen()
        self.mark_seen(arch)
        return arch

    def mark_seen(self, arch: Architecture) -> None:
        super().mark_seen(arch)
        if self._fast and self.space.is_valid(arch):
            self._seen_rows.add(self._indices(arch).tobytes())

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.score is None or not math.isfinite(obs.score):
            return
        at = self._told.get(obs.number) if obs.number >= 0 else None
        if at is not None:
            # A trial settles again when a scheduler resumes it after a stop: its result at
            # the higher budget replaces the one it was stopped at (a resumed study replays
            # both tells, in order, so it ends the same).
            self.history[at] = (obs.arch, float(obs.score))
            self._fits = {}  # fitted on the old result
            return
        if obs.number >= 0:
            self._told[obs.number] = len(self.history)
        self.history.append((obs.arch, float(obs.score)))
        self._features.append(self._encode(obs.arch))
