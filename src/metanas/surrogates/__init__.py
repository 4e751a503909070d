"""Surrogate models shared by model-based strategies and the meta-learning predictors.

A Gaussian process with a Hamming kernel on architecture encodings, the
expected-improvement acquisition and target transforms. It sits below both
:mod:`metanas.strategies` (``bo``, ``meta``) and :mod:`metanas.meta` (the
transfer predictor) and imports neither: numpy and scipy only.
"""

from __future__ import annotations

from metanas.surrogates._gp import (
    GPParams,
    HammingGP,
    expected_improvement,
    gaussian_copula,
    refit_point,
    single_threaded_blas,
    standardise,
)

__all__ = [
    "GPParams",
    "HammingGP",
    "expected_improvement",
    "gaussian_copula",
    "refit_point",
    "single_threaded_blas",
    "standardise",
]
