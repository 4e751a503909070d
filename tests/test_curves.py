"""Learning-curve meta-learning: the curve model, the memory's curves, the ``curve`` scheduler."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metanas
from metanas import Result
from metanas.meta import MIN_CURVES, LearningCurveModel, NotFittedError, memory_curves
from metanas.meta.curves import IncumbentCurveModel
from metanas.schedulers import ASHAScheduler, Decision, create_scheduler
from metanas.schedulers.curve import CurveScheduler
from metanas.spaces import SearchSpace

N_EPOCHS = 15


def family(
    n: int, level: float, seed: int, n_epochs: int = N_EPOCHS, noise: float = 0.008
) -> np.ndarray:
    """Synthetic validation-accuracy curves of one task: ``top - gain * t**-rate`` plus noise.

    ``level`` is the task's typical final accuracy; the shapes (gain, rate) come from one
    distribution for every task, the ceilings from the task.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(1, n_epochs + 1)
    top = level + rng.normal(0.0, 0.05, (n, 1))
    gain = rng.uniform(0.1, 0.4, (n, 1))
    rate = rng.uniform(0.3, 1.5, (n, 1))
    return top - gain * t ** (-rate) + rng.normal(0.0, noise, (n, n_epochs))


@pytest.fixture(scope="module")
def past() -> np.ndarray:
    # Three past tasks whose accuracies sit at 60-75 %.
    return np.vstack([family(100, 0.6, 1), family(100, 0.75, 2), family(100, 0.7, 3)])


@pytest.fixture(scope="module")
def model(past: np.ndarray) -> LearningCurveModel:
    return LearningCurveModel().fit(past)


# ==================================================================== the model


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9, 13])
def test_the_90_percent_interval_covers_80_to_97_percent_of_a_new_tasks_finals(
    model: LearningCurveModel, k: int
) -> None:
    new = family(200, 0.9, 4)  # a new task at 90 %: the model must transfer across levels
    covered = []
    for c in new:
        mean, std = model.predict(c[:k])
        covered.append(abs(c[-1] - mean) <= 1.6449 * std)
    assert 0.80 <= np.mean(covered) <= 0.97


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_the_model_beats_final_equals_last_value_in_mean_absolute_error(
    model: LearningCurveModel, k: int
) -> None:
    new = family(200, 0.9, 5)
    err = np.mean([abs(c[-1] - model.predict(c[:k])[0]) for c in new])
    naive = np.mean(np.abs(new[:, -1] - new[:, k - 1]))
    assert err < 0.8 * naive


def test_rung_epochs_give_a_calibrated_prediction_too(model: LearningCurveModel) -> None:
    new = family(200, 0.9, 6)
    eps = [1, 3, 9]
    idx = np.array(eps) - 1
    preds = np.array([model.predict(c[idx], epochs=eps) for c in new])
    covered = np.abs(new[:, -1] - preds[:, 0]) <= 1.6449 * preds[:, 1]
    assert 0.80 <= covered.mean() <= 0.97
    assert np.mean(np.abs(new[:, -1] - preds[:, 0])) < np.mean(np.abs(new[:, -1] - new[:, 8]))


def test_prob_above_is_calibrated_and_ordered(model: LearningCurveModel) -> None:
    new = family(300, 0.9, 7)
    k = 3
    # P(final > its own median prediction) is about 1/2 on average; and a value far above or
    # below the prediction gets a probability near 0 or 1.
    probs = np.array([model.prob_above(c[:k], model.predict(c[:k])[0]) for c in new])
    assert 0.35 < probs.mean() < 0.65
    c = new[0]
    mean, std = model.predict(c[:k])
    assert model.prob_above(c[:k], mean + 10 * std) < 0.01
    assert model.prob_above(c[:k], mean - 10 * std) > 0.99
    assert model.prob_above(c[:k], mean - std) > model.prob_above(c[:k], mean + std)
    # Events "final > t" with predicted probability < 5 % happen rarely.
    hi = np.array([model.predict(c[:k])[0] + 2.5 * model.predict(c[:k])[1] for c in new])
    p = np.array([model.prob_above(c[:k], t) for c, t in zip(new, hi, strict=True)])
    happened = new[:, -1] > hi
    assert (p < 0.05).all()
    assert happened.mean() < 0.05


def test_a_complete_curve_predicts_its_last_value_with_no_spread(
    model: LearningCurveModel, past: np.ndarray
) -> None:
    assert model.predict(past[3]) == (past[3, -1], 0.0)
    assert model.prob_above(past[3], past[3, -1] - 1e-9) == 1.0
    assert model.prob_above(past[3], past[3, -1]) == 0.0


def test_the_model_is_deterministic(past: np.ndarray) -> None:
    a = LearningCurveModel().fit(past)
    b = LearningCurveModel().fit(past)
    c = family(1, 0.8, 9)[0][:4]
    assert a.predict(c) == b.predict(c)
    assert (a.n_curves, a.n_epochs, a.fitted) == (300, N_EPOCHS, True)


def test_an_unfitted_model_says_what_to_call() -> None:
    m = LearningCurveModel()
    assert not m.fitted
    with pytest.raises(NotFittedError, match=r"call fit\(curves\) first"):
        m.predict([0.5])
    assert "not fitted" in repr(m)


def test_fit_rejects_bad_curves() -> None:
    good = family(MIN_CURVES, 0.7, 0)
    with pytest.raises(ValueError, match=rf"at least {MIN_CURVES} curves.*got {MIN_CURVES - 1}"):
        LearningCurveModel().fit(good[:-1])
    with pytest.raises(ValueError, match=r"same length.*got lengths \[3, 15\]"):
        LearningCurveModel().fit([*good.tolist(), [0.1, 0.2, 0.3]])
    bad = good.copy()
    bad[2, 4] = math.nan
    with pytest.raises(ValueError, match="curve 2 holds a NaN"):
        LearningCurveModel().fit(bad)
    with pytest.raises(ValueError, match="window must be an int >= 2; got 1"):
        LearningCurveModel(window=1).fit(good)


def test_predict_rejects_bad_partials(model: LearningCurveModel) -> None:
    with pytest.raises(ValueError, match="at least one finite score"):
        model.predict([])
    with pytest.raises(ValueError, match="at least one finite score"):
        model.predict([0.5, math.nan])
    with pytest.raises(ValueError, match=r"2 increasing epochs in 1\.\.15.*got \[3, 2\]"):
        model.predict([0.5, 0.6], epochs=[3, 2])
    with pytest.raises(ValueError, match=r"got \[1, 16\]"):
        model.predict([0.5, 0.6], epochs=[1, 16])
    with pytest.raises(ValueError, match="value must be a finite number"):
        model.prob_above([0.5], math.nan)


# ==================================================================== the memory's curves

SPACE = SearchSpace({"a": [1, 2, 3, 4, 5]})


def _curve_evaluator(arch: metanas.Architecture) -> Result:
    a = int(arch["a"])
    # a=1: a failed curve (NaN); a=2: a short (pruned) curve; others: complete, 3 epochs.
    n = 2 if a == 2 else 3
    curve = tuple(
        {"epoch": float(e), "valid_loss": (math.nan if a == 1 else 1.0 / (a * e)),
         "train_time_s": 0.5 * e}
        for e in range(1, n + 1)
    )  # fmt: skip
    return Result(metrics={"valid_loss": 1.0 / (a * n)}, curve=curve)


def test_memory_curves_reads_complete_oriented_curves_of_other_tasks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    for task in ("past-a", "past-b", "current"):
        study = metanas.create_study(
            name=f"{task}-study", storage=url, space=SPACE, task=task, seed=0,
            metric="valid_loss", direction="minimize", strategy="random",
        )  # fmt: skip
        study.optimize(_curve_evaluator, n_trials=5)
    curves = memory_curves(
        url, exclude_task="current", metric="valid_loss", direction="minimize", max_budget=3
    )
    # Two past studies, each with three complete curves (a = 3, 4, 5; the random strategy
    # proposes every architecture once in 5 trials of a 5-point space).
    assert len(curves) == 6
    expected = sorted(tuple(-1.0 / (a * e) for e in (1, 2, 3)) for a in (3, 4, 5))
    got = sorted(tuple(c.tolist()) for c in curves)
    np.testing.assert_allclose(np.array(got), np.array(sorted(expected * 2)), rtol=1e-9)
    assert all(c.shape == (3,) for c in curves)
    assert len(memory_curves(url, exclude_task=None, metric="valid_loss", max_budget=3)) == 9
    # Another training length or an unknown metric: nothing.
    assert memory_curves(url, exclude_task=None, metric="valid_loss", max_budget=4) == []
    assert memory_curves(url, exclude_task=None, metric="nope", max_budget=3) == []
    # maximize keeps the values as stored.
    as_is = memory_curves(url, exclude_task="current", metric="valid_loss", max_budget=3)
    np.testing.assert_allclose(
        np.array(sorted(tuple(c.tolist()) for c in as_is)),
        np.array([tuple(-v for v in c) for c in got][::-1]),
        rtol=1e-9,
    )


def test_memory_curves_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_budget must be an int >= 2; got 0"):
        memory_curves("sqlite://", exclude_task=None, max_budget=0)
    with pytest.raises(ValueError, match="direction must be 'maximize' or 'minimize'"):
        memory_curves("sqlite://", exclude_task=None, max_budget=3, direction="up")


# ==================================================================== the curve scheduler


def _run(
    scheduler: CurveScheduler | ASHAScheduler, curves: np.ndarray
) -> list[tuple[int, float, str]]:
    """Feed the curves' scores rung by rung, one trial after the other; the decisions made."""
    out = []
    for number, curve in enumerate(curves):
        budget: float | None = scheduler.first_budget(number)
        while budget is not None:
            decision, nxt = scheduler.on_result(number, budget, float(curve[int(budget) - 1]))
            out.append((number, budget, decision.value))
            budget = nxt if decision is Decision.CONTINUE else None
    return out


@pytest.mark.parametrize("memory", ["never", "empty", "too few", "other length"])
def test_without_a_usable_memory_the_curve_scheduler_is_asha(memory: str, past: np.ndarray) -> None:
    trials = family(40, 0.8, 11)
    curve = CurveScheduler(max_budget=N_EPOCHS, eta=3)
    if memory == "empty":
        curve.set_memory([])
    elif memory == "too few":
        curve.set_memory(past[: MIN_CURVES - 1])
    elif memory == "other length":
        with pytest.warns(UserWarning, match="300 of 300 curves do not have max_budget=15"):
            curve.set_memory(past[:, :10])
    assert curve.model is None
    got = _run(curve, trials)
    assert got == _run(ASHAScheduler(max_budget=N_EPOCHS, eta=3), trials)
    assert {d for *_, d in got} == {"continue", "stop", "complete"}


def _scheduler(past: np.ndarray, **settings: object) -> CurveScheduler:
    s = CurveScheduler(max_budget=N_EPOCHS, eta=3, **settings)  # type: ignore[arg-type]
    s.set_memory(past)
    return s


def test_a_trial_stops_at_the_first_rung_where_the_model_is_confident(
    past: np.ndarray,
) -> None:
    s = _scheduler(past)
    incumbent = np.full(N_EPOCHS, 0.8)
    assert s.on_result(0, 1, 0.6) == (Decision.CONTINUE, 3.0)  # the first result: ASHA's rule
    assert s.on_result(0, 3, 0.7)[0] is Decision.CONTINUE
    assert s.on_result(0, 15, float(incumbent[-1])) == (Decision.COMPLETE, None)
    assert s.incumbent == 0.8
    stopped_at = []
    for number, curve in enumerate(family(40, 0.75, 12), start=1):
        decisions = _run_one(s, number, curve)
        observed: list[int] = []
        expected = None
        for rung in s.rungs[:-1]:
            observed.append(int(rung))
            p = s.model.prob_above(curve[np.array(observed) - 1], s.incumbent, epochs=observed)  # type: ignore[union-attr, arg-type]
            if p < 0.05:
                expected = rung
                break
        stops = [b for b, d in decisions if d == "stop"]
        assert stops == ([] if expected is None else [expected])
        stopped_at.append(expected)
    # Some clearly bad curves stop at the first rung, others only once their shape shows.
    assert stopped_at.count(1.0) >= 3
    assert stopped_at.count(3.0) + stopped_at.count(9.0) >= 3
    assert stopped_at.count(None) >= 3


def _run_one(s: CurveScheduler, number: int, curve: np.ndarray) -> list[tuple[float, str]]:
    out = []
    budget: float | None = s.first_budget(number)
    while budget is not None:
        decision, nxt = s.on_result(number, budget, float(curve[int(budget) - 1]))
        out.append((budget, decision.value))
        budget = nxt if decision is Decision.CONTINUE else None
    return out


def test_a_good_trial_continues_and_a_bad_one_stops_where_asha_decides_otherwise(
    past: np.ndarray,
) -> None:
    t = np.arange(1, N_EPOCHS + 1)
    rising = 0.95 - 0.65 * t**-1.0  # 0.30 at epoch 1, 0.91 at the end
    flat = np.full(N_EPOCHS, 0.5)  # ahead of ``rising`` at epoch 1, hopeless against 0.91
    steep = 0.97 - 0.3 * t**-0.8  # 0.67 at epoch 1 (behind 0.78), ends at 0.92
    leader = np.full(N_EPOCHS, 0.78)
    curves = np.vstack([rising, flat, leader, steep])
    asha = _run(ASHAScheduler(max_budget=N_EPOCHS, eta=3), curves)
    got = _run(_scheduler(past), curves)
    # ASHA: ``flat`` is the best at rung 1 so far and continues; ``steep`` is not in the top
    # third at rung 1 and stops. The curve model stops ``flat`` (it cannot reach 0.91) and lets
    # ``steep`` run to the end, where it becomes the incumbent.
    assert (1, 1.0, "continue") in asha
    assert (3, 1.0, "stop") in asha
    assert (1, 1.0, "stop") in got
    assert [d for n, _b, d in got if n == 3] == ["continue", "continue", "continue", "complete"]
    assert got[:4] == asha[:4]  # no incumbent yet for trial 0: ASHA's rule
    assert _scheduler(past).incumbent is None


def test_the_curve_scheduler_is_deterministic_and_stopping_type(past: np.ndarray) -> None:
    trials = family(30, 0.8, 13)
    a, b = _scheduler(past), _scheduler(past)
    assert _run(a, trials) == _run(b, trials)
    assert a.next_promotion() is None
    mean, std = a.predict(3)  # type: ignore[misc]
    assert std > 0 or mean == trials[3, -1]
    assert a.predict(999) is None
    assert CurveScheduler(max_budget=9).predict(0) is None


def test_a_failed_segment_stops(past: np.ndarray) -> None:
    s = _scheduler(past)
    assert s.on_result(0, 1, None) == (Decision.STOP, None)


def test_every_epoch_rungs_and_settings() -> None:
    s = CurveScheduler(min_budget=2, max_budget=6, every_epoch=True, threshold=0.1)
    assert s.rungs == (2.0, 3.0, 4.0, 5.0, 6.0)
    assert s.settings() == {
        "min_budget": 2, "max_budget": 6, "eta": 3, "threshold": 0.1, "every_epoch": True,
        "rule": "extrapolate", "with_asha": False,
    }  # fmt: skip
    assert CurveScheduler(max_budget=27).rungs == (1.0, 3.0, 9.0, 27.0)
    assert CurveScheduler.uses_memory
    assert isinstance(create_scheduler("curve", max_budget=9), CurveScheduler)
    assert "curve" in metanas.available("scheduler")


def test_every_epoch_uses_each_epoch_of_the_curve(past: np.ndarray) -> None:
    s = _scheduler(past, every_epoch=True)
    _run_one(s, 0, np.full(N_EPOCHS, 0.8))
    curve = family(1, 0.7, 14)[0]
    decisions = _run_one(s, 1, curve)
    last = int(decisions[-1][0])
    assert [b for b, _d in decisions] == [float(e) for e in range(1, last + 1)]
    mean, _std = s.predict(1)  # type: ignore[misc]
    assert (mean, _std) == s.model.predict(curve[:last])  # type: ignore[union-attr]


def test_curve_scheduler_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"threshold must be a probability in \(0, 1\).*got 1.5"):
        CurveScheduler(max_budget=9, threshold=1.5)
    with pytest.raises(ValueError, match="max_budget of the curve scheduler must be a whole"):
        CurveScheduler(max_budget=9.5)
    with pytest.raises(TypeError, match="every_epoch must be True or False; got 1"):
        CurveScheduler(max_budget=9, every_epoch=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no setting 'treshold'"):
        CurveScheduler(max_budget=9, treshold=0.1)


# ==================================================================== the "incumbent" rule


@pytest.fixture(scope="module")
def past_groups() -> np.ndarray:
    return np.repeat([0, 1, 2], 100)


@pytest.fixture(scope="module")
def pairwise(past: np.ndarray, past_groups: np.ndarray) -> IncumbentCurveModel:
    return IncumbentCurveModel().fit(past, groups=past_groups)


@pytest.mark.parametrize("epochs", [[1], [1, 3], [1, 3, 9]])
def test_the_pairwise_model_is_calibrated_on_a_new_tasks_pairs(
    pairwise: IncumbentCurveModel, epochs: list[int]
) -> None:
    new = family(100, 0.9, 21)  # another level: only differences transfer
    top = new[np.argsort(-new[:, -1])[:20]]
    idx = np.array(epochs) - 1
    p = np.array([[pairwise.prob_above(c[idx], epochs, t) for t in top] for c in new])
    won = new[:, None, -1] > top[None, :, -1]
    assert abs(p.mean() - won.mean()) < 0.05
    # Ordered: the pairs it gives a better chance win more often.
    hi, lo = p >= np.median(p), p < np.median(p)
    assert won[hi].mean() > 1.5 * won[lo].mean()


def test_the_pairwise_model_is_sure_of_large_differences(pairwise: IncumbentCurveModel) -> None:
    inc = family(1, 0.8, 22)[0]
    assert pairwise.prob_above(inc[[0, 2, 8]] - 0.1, [1, 3, 9], inc) < 0.01
    assert pairwise.prob_above(inc[[0, 2, 8]] + 0.1, [1, 3, 9], inc) > 0.99
    later = [pairwise.prob_above(inc[:k] - 0.02, list(range(1, k + 1)), inc) for k in (1, 5, 12)]
    assert later[0] > later[1] > later[2]  # the same gap says more the later it is seen


def test_the_pairwise_model_checks_its_input(past: np.ndarray) -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        IncumbentCurveModel().prob_above([0.5], [1], np.zeros(N_EPOCHS))
    with pytest.raises(ValueError, match="groups must name the task of each of the 300"):
        IncumbentCurveModel().fit(past, groups=[0, 1])
    with pytest.raises(ValueError, match=r"top_fraction must be in \(0, 1\]; got 0"):
        IncumbentCurveModel(top_fraction=0).fit(past)
    model = IncumbentCurveModel().fit(past)  # one group: still a model
    with pytest.raises(ValueError, match=r"epochs \[3, 1\]"):
        model.prob_above([0.5, 0.6], [3, 1], past[0])
    with pytest.raises(ValueError, match="below 15"):
        model.prob_above([0.5], [15], past[0])


def _incumbent_scheduler(
    past: np.ndarray, groups: np.ndarray, **settings: object
) -> CurveScheduler:
    s = CurveScheduler(max_budget=N_EPOCHS, eta=3, rule="incumbent", **settings)  # type: ignore[arg-type]
    s.set_memory(past, groups=groups)
    return s


def test_the_incumbent_rule_stops_what_the_model_says_and_orders_promotions(
    past: np.ndarray, past_groups: np.ndarray
) -> None:
    s = _incumbent_scheduler(past, past_groups, threshold=0.1)
    assert isinstance(s.model, IncumbentCurveModel)
    trials = family(40, 0.8, 23)
    inc = trials[0]
    assert [d for _b, d in _run_one(s, 0, inc)] == ["continue"] * 3 + ["complete"]
    full = np.array(inc)
    for number, curve in enumerate(trials[1:], start=1):
        for budget, decision in _run_one(s, number, curve):
            if decision == "complete":
                break
            seen = [e for e in (1, 3, 9) if e <= budget]
            p = s.model.prob_above(curve[np.array(seen) - 1], seen, full)
            assert decision == ("stop" if p < 0.1 else "continue"), (number, budget, p)
        if s.incumbent is not None and s.incumbent > full[-1]:
            full = np.array(curve)
    # Promotions: the stopped trial the model gives the best chance goes first.
    stopped = {t for ts in s._table.stopped.values() for t in ts}
    assert stopped
    chance = {
        t: s.model.prob_above([s._seen[t][e] for e in sorted(s._seen[t])], sorted(s._seen[t]), full)
        for t in stopped
    }
    trial, budget = s.promote_stopped()  # type: ignore[misc]
    assert chance[trial] == max(chance.values())
    assert budget == s.rungs[s.rungs.index(max(s._seen[trial])) + 1]
    assert s.predict(trial) is None  # the rule compares; it does not extrapolate


def test_with_asha_the_model_only_adds_stops_or_overrules_with_an_even_chance(
    past: np.ndarray, past_groups: np.ndarray
) -> None:
    s = _incumbent_scheduler(past, past_groups, threshold=0.05, with_asha=True)
    shadow = ASHAScheduler(max_budget=N_EPOCHS, eta=3)  # fed the same results
    added = overruled = 0
    for number, curve in enumerate(family(40, 0.8, 24)):
        budget: float | None = s.first_budget(number)
        while budget is not None:
            score = float(curve[int(budget) - 1])
            decision, nxt = s.on_result(number, budget, score)
            asha, _ = shadow.on_result(number, budget, score)
            p = s._prob_above(number) if decision is not Decision.COMPLETE else None
            if p is None:
                assert decision is asha
            elif decision is not asha:
                if decision is Decision.STOP:
                    assert p < 0.05
                    added += 1
                else:
                    assert p >= 0.5
                    overruled += 1
            budget = nxt if decision is Decision.CONTINUE else None
    assert added >= 1


def test_the_incumbent_rule_settings_are_checked(past: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"rule must be one of .*got 'extrapolation'"):
        CurveScheduler(max_budget=9, rule="extrapolation")
    with pytest.raises(TypeError, match="with_asha must be True or False; got 'yes'"):
        CurveScheduler(max_budget=9, with_asha="yes")  # type: ignore[arg-type]
    s = CurveScheduler(max_budget=N_EPOCHS, rule="incumbent")
    with pytest.raises(ValueError, match="groups must name the past task of each of the 300"):
        s.set_memory(past, groups=[0])
    s.set_memory(past[:5])  # too few: plain ASHA
    assert s.model is None
    assert s.promote_stopped() is None
