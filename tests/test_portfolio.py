"""The zero-shot portfolio (metanas.meta.greedy_portfolio) that meta and suggest() share."""

from __future__ import annotations

import numpy as np
import pytest

from metanas.meta import PORTFOLIO_NOISE, greedy_portfolio
from metanas.meta import portfolio as portfolio_module


def _literal_cover(z: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """Wistuba et al.'s cover, written out plainly (the code before the noise)."""
    chosen: list[int] = []
    best = np.full(z.shape[0], -np.inf)
    for _ in range(k):
        gain = [
            -np.inf if i in chosen else float(w @ np.maximum(best, z[:, i]))
            for i in range(z.shape[1])
        ]
        i = int(np.argmax(gain))
        chosen.append(i)
        best = np.maximum(best, z[:, i])
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_noise_zero_is_the_literal_cover(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((6, 40))
    w = rng.dirichlet(np.ones(6))
    assert greedy_portfolio(z, w, 8, noise=0.0) == _literal_cover(z, w, 8)


@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0, 3.0])
def test_the_first_pick_is_the_best_weighted_mean(noise: float) -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 300))
    w = rng.dirichlet(np.ones(5))
    assert greedy_portfolio(z, w, 1, noise=noise) == [int(np.argmax(w @ z))]


def test_noise_takes_a_close_second_of_the_likely_task_before_a_far_tasks_best() -> None:
    # Task 0 (the most similar, weight 0.6) has three near-equal tops (candidates 0-2);
    # tasks 1 and 2 (0.2 each) have their own bests (3 and 4), which task 0 rates poorly.
    z = np.array(
        [
            [2.0, 1.95, 1.9, 0.0, 0.0],
            [0.5, 0.5, 0.5, 2.0, 0.5],
            [0.5, 0.5, 0.5, 0.5, 2.0],
        ]
    )
    w = np.array([0.6, 0.2, 0.2])
    cover = greedy_portfolio(z, w, 3, noise=0.0)
    assert cover == [0, 3, 4]  # one per task: the literal cover never takes a second of task 0
    noisy = greedy_portfolio(z, w, 3, noise=PORTFOLIO_NOISE)
    assert noisy[:2] == [0, 1]
    assert len(set(noisy)) == 3


def test_deterministic_and_independent_of_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 1300))  # more candidates than one chunk
    w = rng.dirichlet(np.ones(4))
    first = greedy_portfolio(z, w, 6)
    assert greedy_portfolio(z.copy(), w.copy(), 6) == first
    monkeypatch.setattr(portfolio_module, "_CHUNK", 10_000)
    assert greedy_portfolio(z, w, 6) == first
    assert len(set(first)) == 6


def test_failed_candidates_and_weightless_tasks() -> None:
    z = np.array([[np.nan, 1.0, 0.5], [-np.inf, -np.inf, -np.inf], [0.2, 0.1, 3.0]])
    w = np.array([0.5, 0.0, 0.5])
    # Task 1 has weight 0 (its -inf scores must not poison the sums); candidate 0 is NaN
    # for task 0, so it is never better than a finite candidate there.
    for noise in (0.0, 1.0):
        picks = greedy_portfolio(z, w, 3, noise=noise)
        assert picks[0] == 2
        assert sorted(picks) == [0, 1, 2]
    # More picks asked than candidates: every candidate once.
    assert sorted(greedy_portfolio(z, w, 10)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise": -1.0}, r"noise must be a finite number >= 0; got -1\.0"),
        ({"noise": float("inf")}, r"noise must be a finite number >= 0; got inf"),
        ({"k": 0}, r"k must be an int >= 1; got 0"),
        ({"weights": np.array([0.5, -0.5])}, r"weights must be finite and >= 0"),
        ({"weights": np.array([1.0])}, r"scores must have shape \(n_scenarios, n_candidates\)"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"scores": np.zeros((2, 3)), "weights": np.ones(2), "k": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        greedy_portfolio(**args)  # type: ignore[arg-type]


def _expected_max_of_two(m1: np.ndarray, m2: np.ndarray, sd: float) -> np.ndarray:
    """E[max(X, Y)] of independent N(m1, sd^2) and N(m2, sd^2), in closed form (Clark 1961)."""
    from scipy.stats import norm

    theta = sd * np.sqrt(2.0)
    a = (m1 - m2) / theta
    return m1 * norm.cdf(a) + m2 * norm.cdf(-a) + theta * norm.pdf(a)


@pytest.mark.parametrize("seed", range(4))
def test_the_second_pick_maximises_the_exact_expected_best_of_two(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    z = rng.standard_normal((4, 60)) * 1.5
    w = rng.dirichlet(np.ones(4))
    first, second = greedy_portfolio(z, w, 2, noise=0.8)
    exact = w @ _expected_max_of_two(z[:, [first]], z, 0.8)
    exact[first] = -np.inf
    order = np.argsort(-exact)
    # The quadrature's choice is the exact best, or within 1e-6 of it.
    assert second == order[0] or exact[order[0]] - exact[second] < 1e-6
