"""Learning-curve meta-learning: the curve model, the memory's curves, the ``curve`` scheduler."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metanas
from metanas import Result
from metanas.meta import MIN_CURVES, LearningCurveModel, NotFittedError, memory_curves
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
    assert got == pytest.approx(sorted(expected * 2))
    assert all(c.shape == (3,) for c in curves)
    assert len(memory_curves(url, exclude_task=None, metric="valid_loss", max_budget=3)) == 9
    # Another training length or an unknown metric: nothing.
    assert memory_curves(url, exclude_task=None, metric="valid_loss", max_budget=4) == []
    assert memory_curves(url, exclude_task=None, metric="nope", max_budget=3) == []
    # maximize keeps the values as stored.
    as_is = memory_curves(url, exclude_task="current", metric="valid_loss", max_budget=3)
    assert sorted(tuple(c.tolist()) for c in as_is) == pytest.approx(
        [tuple(-v for v in c) for c in got][::-1]
    )


def test_memory_curves_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_budget must be an int >= 2; got 0"):
        memory_curves("sqlite://", exclude_task=None, max_budget=0)
    with pytest.raises(ValueError, match="direction must be 'maximize' or 'minimize'"):
        memory_curves("sqlite://", exclude_task=None, max_budget=3, direction="up")
