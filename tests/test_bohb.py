"""The bohb strategy: TPE on the highest budget with enough results; tpe without budgets."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SyntheticEvaluator, drive, make_small_space
from metanas import Architecture, SearchSpace
from metanas._rng import derive_seed
from metanas.strategies import BOHBStrategy, Observation, TPEStrategy, create_strategy

# 8 x 8 = 64 architectures; "x" decides the score, "y" is noise the model must ignore
SPACE = SearchSpace({"x": list(range(8)), "y": list(range(8))})


def low_score(arch: Architecture) -> float:
    return float(arch["x"])  # at a low budget the large x look best ...


def high_score(arch: Architecture) -> float:
    return float(7 - arch["x"])  # ... and at the high budget the small x are best


def tell_budget(s: BOHBStrategy, budget: float, n: int, score, start: int, seed: int = 0) -> int:
    """Tell ``n`` random architectures' results at ``budget`` (trial numbers from ``start``)."""
    rng = np.random.default_rng(seed)
    for number in range(start, start + n):
        arch = SPACE.sample(rng)
        s.tell_intermediate(Observation(arch=arch, score=score(arch), number=number, budget=budget))
    return start + n


def proposals(s: BOHBStrategy, n: int) -> list[Architecture]:
    out = []
    for i in range(n):
        s.reseed(derive_seed(7, i))
        out.append(s.ask())
    return out


def test_bohb_is_registered_with_bohb_defaults() -> None:
    s = create_strategy("bohb", SPACE, seed=0)
    assert isinstance(s, BOHBStrategy)
    assert isinstance(s, TPEStrategy)
    assert s.get_settings() == {
        "n_min": None, "random_fraction": pytest.approx(1 / 3), "n_startup_trials": 10,
        "multivariate": False,
    }  # fmt: skip
    assert s.model_budget() is None


def test_without_budgets_it_proposes_what_tpe_proposes() -> None:
    space = make_small_space()
    ev = SyntheticEvaluator(space)
    bohb = drive(create_strategy("bohb", space, seed=3), ev, 25, seed=3)
    tpe = drive(create_strategy("tpe", space, seed=3), ev, 25, seed=3)
    assert bohb == tpe


def test_the_model_uses_the_highest_budget_with_n_min_results() -> None:
    s = BOHBStrategy(SPACE, n_min=6, random_fraction=0.0, seed=0)
    number = tell_budget(s, 1, 40, low_score, 0)
    number = tell_budget(s, 3, 5, high_score, number, seed=1)
    assert (s.n_observations(1), s.n_observations(3)) == (40, 5)
    assert s.model_budget() == 1.0  # budget 3 has 5 < n_min results
    low = [a["x"] for a in proposals(s, 30)]
    tell_budget(s, 3, 35, high_score, number, seed=2)
    assert s.model_budget() == 3.0
    high = [a["x"] for a in proposals(s, 30)]
    # fitted on budget 1, the model proposes budget 1's best x (7) far more than a uniform
    # draw (1 in 8); fitted on budget 3, budget 3's best (0)
    assert low.count(7) >= 10 > high.count(7)
    assert high.count(0) >= 10 > low.count(0)
    assert np.mean(low) > 4.5 > 2.5 > np.mean(high)


def test_failed_results_do_not_count_and_a_settled_trial_counts_once() -> None:
    s = BOHBStrategy(SPACE, n_min=3, seed=0)
    arch = SPACE.sample(np.random.default_rng(0))
    s.tell_intermediate(Observation(arch=arch, score=None, number=0, budget=1))
    s.tell_intermediate(Observation(arch=arch, score=1.0, number=1, budget=1))
    s.tell(Observation(arch=arch, score=1.0, number=1, budget=1))  # settles at its last rung
    s.tell_intermediate(Observation(arch=arch, score=2.0, number=2, budget=1))
    assert s.n_observations(1) == 2
    assert s.model_budget() is None
    s.tell(Observation(arch=arch, score=3.0, number=3, budget=1.0))
    assert s.model_budget() == 1.0


def test_random_fraction_and_no_filled_budget_draw_at_random() -> None:
    s = BOHBStrategy(SPACE, n_min=50, random_fraction=0.0, seed=0)
    tell_budget(s, 1, 10, low_score, 0)
    assert s.model_budget() is None
    asked = proposals(s, 40)  # random: both halves of x
    assert 0.2 <= np.mean([a["x"] >= 4 for a in asked]) <= 0.8
    always = BOHBStrategy(SPACE, n_min=2, random_fraction=1.0, seed=0)
    tell_budget(always, 1, 30, low_score, 0)
    assert always.model_budget() == 1.0
    asked = proposals(always, 40)
    assert 0.2 <= np.mean([a["x"] >= 4 for a in asked]) <= 0.8


def test_same_seed_same_proposals() -> None:
    def run(seed: int) -> list[Architecture]:
        s = BOHBStrategy(SPACE, n_min=4, seed=seed)
        tell_budget(s, 1, 12, low_score, 0)
        tell_budget(s, 3, 6, high_score, 12, seed=1)
        return [s.ask() for _ in range(15)]

    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"random_fraction": 1.5}, r"random_fraction must be a number from 0 to 1; got 1\.5"),
        ({"random_fraction": True}, r"random_fraction must be a number from 0 to 1; got True"),
        ({"n_min": 0}, r"n_min must be an int >= 1; got 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_strategy("bohb", SPACE, seed=0, **settings)


def test_tell_intermediate_needs_a_budget() -> None:
    s = BOHBStrategy(SPACE, seed=0)
    arch = SPACE.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"needs the budget.*number=4, budget=None"):
        s.tell_intermediate(Observation(arch=arch, score=1.0, number=4))
