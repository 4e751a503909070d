"""A Gaussian process on architecture encodings (Hamming kernel), for bo, meta and the predictors.

The kernel is an exponentiated (ARD) Hamming kernel over the space's decisions,
computed from the one-hot encoding: for feature groups ``g`` (one per decision
when the encoding is the space's one-hot),

    k(x, x') = s2 * exp(-sum_g theta_g * d_g(x, x')),   d_g = ||x_g - x'_g||^2 / 2,

so ``d_g`` is 1 when the two architectures differ in decision ``g`` and 0 when
they agree. The signal variance ``s2``, the per-decision weights ``theta_g``
and the noise variance are fitted by maximising the log marginal likelihood
(L-BFGS-B, analytic gradients, log-normal priors that keep a fit on ten points
sensible). Everything is numpy/scipy; the cost is O(n^3) per likelihood
evaluation, a few milliseconds at n = 500.

References
----------
Rasmussen, C. E. & Williams, C. K. I. Gaussian Processes for Machine Learning.
MIT Press, 2006 (chapters 2 and 5).

Ru, B., Alvi, A., Nguyen, V., Osborne, M. A. & Roberts, S. Bayesian
optimisation over multiple continuous and categorical inputs (CoCaBO).
ICML 2020 (the overlap / Hamming kernel for categorical inputs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import ndtr, ndtri

__all__ = [
    "refit_point",
    "GPParams",
    "HammingGP",
    "expected_improvement",
    "gaussian_copula",
    "single_threaded_blas",
    "standardise",
]

_LOG_2PI = math.log(2.0 * math.pi)
_CONTROLLER: list[Any] = []  # [threadpoolctl.ThreadpoolController | None], created on first use


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with one BLAS thread (when threadpoolctl is installed), then restore.

    The matrices here are small (a few hundred rows): threads buy little,
    and when the cores are shared (parallel benchmark runs, other jobs)
    OpenBLAS' spinning threads make each call tens of times slower. The
    limit is scoped: the previous thread counts come back on exit. Without
    threadpoolctl this does nothing.
    """
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional: without it BLAS keeps its own thread count
            _CONTROLLER.append(None)
        else:
            _CONTROLLER.append(ThreadpoolController())
    controller = _CONTROLLER[0]
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def refit_point(n: int, every_until: int) -> int:
    """The history length whose fitted hyperparameters serve a model of ``n`` results.

    Up to ``every_until`` results the hyperparameters are refitted at every
    length; afterwards each time the length grows by 10 %. The schedule depends
    on ``n`` alone, so a resumed search refits exactly where an uninterrupted
    one did.
    """
    if n <= every_until:
        return n
    m = every_until
    while math.ceil(m * 1.1) <= n:
        m = math.ceil(m * 1.1)
    return m


def standardise(y: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (a constant vector becomes zeros)."""
    y = np.asarray(y, dtype=float)
    sd = float(y.std())
    return np.asarray((y - y.mean()) / (sd if sd > 0 else 1.0), dtype=float)


def gaussian_copula(y: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks (ties share their mean rank): robust to outliers.

    A few very bad architectures (accuracy near chance) would otherwise squeeze
    every good one into a sliver of the standardised range.
    """
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return y
    order = np.argsort(y, kind="stable")
    ranks = np.empty(len(y))
    ranks[order] = np.arange(1, len(y) + 1)
    # Average the ranks of ties (scipy.stats.rankdata's "average", without importing scipy.stats).
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    return np.asarray(ndtri(ranks / (len(y) + 1.0)), dtype=float)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI of maximisation over ``best`` for Gaussian predictions."""
    std = np.maximum(std, 1e-12)
    z = (mean - best) / std
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.asarray((mean - best) * ndtr(z) + std * pdf, dtype=float)


@dataclass(frozen=True)
class GPParams:
    """Kernel hyperparameters: per-group weights, signal and noise variance."""

    theta: np.ndarray
    signal: float
    noise: float

    def to_vector(self) -> np.ndarray:
        return np.concatenate([np.log(self.theta), [math.log(self.signal), math.log(self.noise)]])

    @classmethod
    def from_vector(cls, p: np.ndarray) -> GPParams:
        return cls(theta=np.exp(p[:-2]), signal=float(np.exp(p[-2])), noise=float(np.exp(p[-1])))


class HammingGP:
    """A zero-mean GP with an exponentiated, per-group weighted Hamming kernel.

    Parameters
    ----------
    groups
        Column index arrays, one per feature group (decision). Squared
        Euclidean distances are summed within a group and halved, which for a
        one-hot block is the 0/1 "differs in this decision" indicator.
    """

    # Log-normal priors (mean, sd) on log theta, log signal, log noise. theta
    # around 0.3 means one changed decision keeps ~75 % of the correlation.
    prior_log_theta: tuple[float, float] = (math.log(0.3), 1.5)
    prior_log_signal: tuple[float, float] = (0.0, 1.0)
    prior_log_noise: tuple[float, float] = (math.log(0.05), 1.5)
    bounds_log_theta: tuple[float, float] = (math.log(1e-3), math.log(20.0))
    bounds_log_signal: tuple[float, float] = (math.log(0.05), math.log(20.0))
    bounds_log_noise: tuple[float, float] = (math.log(1e-4), math.log(2.0))

    def __init__(self, groups: Sequence[np.ndarray]) -> None:
        if not groups:
            raise ValueError("HammingGP needs at least one feature group.")
        self.groups = [np.asarray(g, dtype=int) for g in groups]
        self.params: GPParams | None = None
        self._x: np.ndarray | None = None
        self._chol: np.ndarray | None = None
        self._alpha: np.ndarray | None = None

    # ----------------------------------------------------------- distances
    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-group distances, shape ``(n_groups, len(a), len(b))``."""
        out = np.empty((len(self.groups), len(a), len(b)))
        for i, g in enumerate(self.groups):
            xa, xb = a[:, g], b[:, g]
            d = (xa * xa).sum(1)[:, None] + (xb * xb).sum(1)[None, :] - 2.0 * (xa @ xb.T)
            out[i] = 0.5 * np.maximum(d, 0.0)
        return out

    # ----------------------------------------------------------- likelihood
    def _prior(self, p: np.ndarray) -> tuple[float, np.ndarray]:
        means = np.r_[
            np.full(len(p) - 2, self.prior_log_theta[0]),
            self.prior_log_signal[0],
            self.prior_log_noise[0],
        ]
        sds = np.r_[
            np.full(len(p) - 2, self.prior_log_theta[1]),
            self.prior_log_signal[1],
            self.prior_log_noise[1],
        ]
        z = (p - means) / sds
        return 0.5 * float(z @ z), z / sds

    def _neg_log_posterior(
        self, p: np.ndarray, dist: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        theta = np.exp(p[:-2])
        signal, noise = math.exp(p[-2]), math.exp(p[-1])
        n = len(y)
        kf = signal * np.exp(-np.tensordot(theta, dist, axes=1))
        k = kf + (noise + 1e-8) * np.eye(n)
        try:
            chol = cholesky(k, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(p)
        alpha = cho_solve((chol, True), y, check_finite=False)
        nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + 0.5 * n * _LOG_2PI
        kinv = cho_solve((chol, True), np.eye(n), check_finite=False)
        w = np.outer(alpha, alpha) - kinv
        grad = np.empty_like(p)
        wk = w * kf
        for i in range(len(theta)):
            grad[i] = 0.5 * theta[i] * float((wk * dist[i]).sum())
        grad[-2] = -0.5 * float(wk.sum())
        grad[-1] = -0.5 * noise * float(np.trace(w))
        prior, prior_grad = self._prior(p)
        return nll + prior, grad + prior_grad

    def fit_params(self, x: np.ndarray, y: np.ndarray, *, maxiter: int = 60) -> GPParams:
        """Hyperparameters maximising the log marginal likelihood (plus the priors).

        Deterministic: it starts from fixed points, not from a previous fit.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        dist = self.distances(x, x)
        n_groups = len(self.groups)
        bounds = [self.bounds_log_theta] * n_groups + [
            self.bounds_log_signal,
            self.bounds_log_noise,
        ]
        starts = [
            np.r_[np.full(n_groups, self.prior_log_theta[0]), 0.0, self.prior_log_noise[0]],
            np.r_[np.full(n_groups, math.log(1.5)), 0.0, math.log(0.2)],
        ]
        best: tuple[float, np.ndarray] | None = None
        for p0 in starts:
            res = minimize(
                self._neg_log_posterior,
                p0,
                args=(dist, y),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": maxiter},
            )
            if np.isfinite(res.fun) and (best is None or res.fun < best[0]):
                best = (float(res.fun), np.asarray(res.x))
        p = starts[0] if best is None else best[1]
        return GPParams.from_vector(p)

    # ----------------------------------------------------------- posterior
    def condition(self, x: np.ndarray, y: np.ndarray, params: GPParams) -> HammingGP:
        """Condition on data ``(x, y)`` with fixed hyperparameters (returns self)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        k = self._kernel(self.distances(x, x), params)
        k[np.diag_indices_from(k)] += params.noise + 1e-8
        self._chol = cholesky(k, lower=True, check_finite=False)
        self._alpha = cho_solve((self._chol, True), y, check_finite=False)
        self._x = x
        self.params = params
        return self

    def loo_mean(self, x: np.ndarray, y: np.ndarray, params: GPParams) -> np.ndarray:
        """Leave-one-out posterior means at the data points, for fixed hyperparameters.

        Closed form (Rasmussen & Williams, eq. 5.12): ``mu_-i = y_i - [K^-1 y]_i / [K^-1]_ii``,
        one matrix inverse instead of ``n`` refits. Does not change the conditioned data.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        k = self._kernel(self.distances(x, x), params)
        k[np.diag_indices_from(k)] += params.noise + 1e-8
        kinv = np.linalg.inv(k)
        return np.asarray(y - (kinv @ y) / np.diag(kinv), dtype=float)

    def _kernel(self, dist: np.ndarray, params: GPParams) -> np.ndarray:
        return np.asarray(params.signal * np.exp(-np.tensordot(params.theta, dist, axes=1)))

    def predict_mean(self, xc: np.ndarray) -> np.ndarray:
        """Posterior mean at ``xc``: :meth:`predict`'s first array, without the variance."""
        if self._x is None or self.params is None or self._alpha is None:
            raise RuntimeError(
                "HammingGP.predict_mean needs data: call condition(x, y, params) first."
            )
        ks = self._kernel(self.distances(np.asarray(xc, dtype=float), self._x), self.params)
        return np.asarray(ks @ self._alpha, dtype=float)

    def predict(self, xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (of the latent function) at ``xc``."""
        if self._x is None or self.params is None or self._chol is None or self._alpha is None:
            raise RuntimeError("HammingGP.predict needs data: call condition(x, y, params) first.")
        xc = np.asarray(xc, dtype=float)
        ks = self._kernel(self.distances(xc, self._x), self.params)
        mean = ks @ self._alpha
        v = solve_triangular(self._chol, ks.T, lower=True, check_finite=False)
        var = self.params.signal - (v * v).sum(0)
        return mean, np.sqrt(np.maximum(var, 1e-12))
