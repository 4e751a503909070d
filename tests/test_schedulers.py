"""Schedulers: the decisions of successive halving, ASHA, Hyperband and median stopping."""

from __future__ import annotations

import pytest

import metanas
from metanas.schedulers import (
    ASHAScheduler,
    Decision,
    HyperbandScheduler,
    MedianScheduler,
    Scheduler,
    SuccessiveHalvingScheduler,
    create_scheduler,
    get_scheduler_class,
    register_scheduler,
)
from metanas.schedulers.asha import continues_at_rung

C, S, P, F = Decision.CONTINUE, Decision.STOP, Decision.PAUSE, Decision.COMPLETE


def test_registry_lists_builtins_and_builds_by_name() -> None:
    names = metanas.available("scheduler")
    assert {"sh", "asha", "hyperband", "median"} <= set(names)
    sched = create_scheduler("asha", min_budget=1, max_budget=27, eta=3)
    assert isinstance(sched, ASHAScheduler)
    assert sched.rungs == (1.0, 3.0, 9.0, 27.0)
    assert get_scheduler_class("sh") is SuccessiveHalvingScheduler
    with pytest.raises(metanas.exceptions.UnknownNameError, match="ashaa"):
        create_scheduler("ashaa", max_budget=9)


def test_settings_round_trip_and_errors_name_the_value() -> None:
    sched = create_scheduler("sh", min_budget=1, max_budget=9, eta=3, n_cohort=5, seed=4)
    assert sched.settings() == {"min_budget": 1, "max_budget": 9, "eta": 3, "n_cohort": 5}
    again = create_scheduler("sh", **sched.settings())
    assert again.settings() == sched.settings()
    with pytest.raises(ValueError, match=r"no setting 'n_cohrt'.*n_cohort"):
        create_scheduler("sh", max_budget=9, n_cohrt=3)
    with pytest.raises(ValueError, match="min_budget must be <= max_budget"):
        ASHAScheduler(min_budget=10, max_budget=9)
    with pytest.raises(ValueError, match=r"eta must be a number > 1 \(e.g. 3\); got 1"):
        ASHAScheduler(max_budget=9, eta=1)
    with pytest.raises(ValueError, match="needs max_budget"):
        create_scheduler("asha")
    with pytest.raises(ValueError, match="only go with a scheduler name"):
        create_scheduler(sched, eta=2)


def test_asha_continues_exactly_the_top_third_of_each_rung_so_far() -> None:
    asha = ASHAScheduler(min_budget=1, max_budget=9, eta=3)
    scores = [0.5, 0.3, 0.9, 0.6, 0.4, 0.8, 0.1, 0.95, 0.2]
    decisions = [asha.on_result(t, 1, s) for t, s in enumerate(scores)]
    # n results so far at rung 1: continue iff rank < max(1, n // 3)
    assert [d for d, _ in decisions] == [C, S, C, S, S, C, S, C, S]
    assert all(b == 3.0 for d, b in decisions if d is C)
    # rung 3 is ranked among its own results only
    assert asha.on_result(2, 3, 0.7) == (C, 9.0)
    assert asha.on_result(0, 3, 0.75) == (C, 9.0)
    assert asha.on_result(5, 3, 0.6) == (S, None)
    assert asha.on_result(2, 9, 0.8) == (F, None)
    assert asha.on_result(9, 1, None) == (S, None)


def test_asha_rung_rule_ties_go_to_the_earlier_result() -> None:
    assert continues_at_rung([0.5, 0.5, 0.5], 0, 3)
    assert not continues_at_rung([0.5, 0.5, 0.5], 2, 3)
    assert continues_at_rung([0.1, 0.2, 0.3, 0.4, 0.5, 0.45], 5, 3)


def test_sh_promotes_the_top_third_of_a_full_cohort_and_stops_the_rest() -> None:
    sh = SuccessiveHalvingScheduler(min_budget=1, max_budget=9, eta=3)
    assert sh.n_cohort == 9
    scores = [0.1, 0.8, 0.3, 0.9, 0.2, 0.5, 0.7, 0.4, 0.6]
    for t, s in enumerate(scores[:-1]):
        assert sh.on_result(t, 1, s) == (P, None)
        assert sh.next_promotion() is None
        assert sh.pending_stops() == []
    assert sh.on_result(8, 1, scores[-1]) == (P, None)
    assert [sh.next_promotion() for _ in range(4)] == [(3, 3.0), (1, 3.0), (6, 3.0), None]
    assert sorted(sh.pending_stops()) == [0, 2, 4, 5, 7, 8]
    assert sh.pending_stops() == []
    # rung 3: a cohort of 3, one goes to 9
    assert sh.on_result(3, 3, 0.5) == (P, None)
    assert sh.on_result(1, 3, 0.95) == (P, None)
    assert sh.next_promotion() is None
    assert sh.on_result(6, 3, None) == (S, None)  # a failed segment still completes the cohort
    assert sh.next_promotion() == (1, 9.0)
    assert sh.pending_stops() == [3]
    assert sh.on_result(1, 9, 0.97) == (F, None)
    # trial 9 belongs to the next cohort
    assert sh.on_result(9, 1, 1.0) == (P, None)
    assert sh.next_promotion() is None


def test_hyperband_brackets_start_at_the_documented_budgets_and_are_reproducible() -> None:
    hb = HyperbandScheduler(min_budget=1, max_budget=27, eta=3, seed=7)
    assert hb.bracket_budgets() == (1.0, 3.0, 9.0, 27.0)
    firsts = [hb.first_budget(t) for t in range(400)]
    assert firsts == [hb.rungs[hb.bracket(t)] for t in range(400)]
    counts = {b: firsts.count(b) for b in hb.rungs}
    # Hyperband's trial counts per bracket: 27, 12, 6, 4 (of 49)
    assert counts[1.0] > counts[3.0] > counts[9.0] > 0
    assert counts[27.0] > 0
    assert abs(counts[1.0] / 400 - 27 / 49) < 0.08
    same = HyperbandScheduler(min_budget=1, max_budget=27, eta=3, seed=7)
    assert [same.first_budget(t) for t in range(400)] == firsts
    other = HyperbandScheduler(min_budget=1, max_budget=27, eta=3, seed=8)
    assert [other.first_budget(t) for t in range(400)] != firsts
    # a trial of the max-budget bracket completes at once
    t27 = firsts.index(27.0)
    assert hb.on_result(t27, 27, 0.1) == (F, None)


def test_hyperband_brackets_rank_among_their_own_trials() -> None:
    hb = HyperbandScheduler(min_budget=1, max_budget=9, eta=3, seed=0)
    by_bracket: dict[int, list[int]] = {}
    for t in range(60):
        by_bracket.setdefault(hb.bracket(t), []).append(t)
    a, b = by_bracket[0][:2]
    c = by_bracket[1][0]
    assert hb.on_result(a, 1, 0.9) == (C, 3.0)
    assert hb.on_result(b, 1, 0.5) == (S, None)
    # bracket 1 starts at 3 and has seen nothing: its first result goes on
    assert hb.on_result(c, 3, 0.1) == (C, 9.0)
    assert hb.on_result(a, 3, 0.2) == (C, 9.0)


def test_median_stops_below_the_median_of_the_others() -> None:
    med = MedianScheduler(min_budget=1, max_budget=4, n_startup=2)
    assert med.rungs == (1.0, 2.0, 3.0, 4.0)
    assert med.on_result(0, 1, 0.5) == (C, 2.0)
    assert med.on_result(1, 1, 0.7) == (C, 2.0)  # one other: still starting up
    assert med.on_result(2, 1, 0.55) == (S, None)  # median(0.5, 0.7) = 0.6
    assert med.on_result(3, 1, 0.65) == (C, 2.0)  # median(0.5, 0.7, 0.55) = 0.55
    assert med.on_result(0, 2, 0.6) == (C, 3.0)
    assert med.on_result(0, 4, 0.1) == (F, None)
    assert med.on_result(4, 1, None) == (S, None)


def test_a_registered_scheduler_needs_only_on_result() -> None:
    @register_scheduler("test-all-in")
    class AllIn(Scheduler):
        def on_result(
            self, trial_number: int, budget: float, score: float | None
        ) -> tuple[Decision, float | None]:
            nxt = self._next_rung(budget)
            return (F, None) if nxt is None else (C, nxt)

    s = create_scheduler("test-all-in", max_budget=4, eta=2)
    assert s.registered_name == "test-all-in"
    assert (s.first_budget(0), s.next_promotion(), s.pending_stops()) == (1.0, None, [])
    assert s.on_result(0, 1, 0.0) == (C, 2.0)
    with pytest.raises(TypeError, match=r"subclass of metanas\.schedulers\.Scheduler"):
        register_scheduler("test-bad")(int)  # type: ignore[arg-type]
