"""TrainEvaluator at a fidelity: a run stopped after epoch e and resumed ends as a straight run."""

from __future__ import annotations

import gc
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation.train import TrainEvaluator  # noqa: E402
from metanas.spaces.trainable import MLPSpace  # noqa: E402
from metanas.tasks.task import Task  # noqa: E402


def tiny_task(n: int = 48, n_features: int = 12, n_classes: int = 3) -> Task:
    rng = np.random.default_rng(0)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(m) % n_classes
        X = rng.normal(0, 1, size=(m, 1, n_features)).astype(np.float32)
        width = n_features // n_classes
        for c in range(n_classes):
            X[y == c, 0, c * width : (c + 1) * width] += 1.0
        return X, y.astype(np.int64)

    (Xtr, ytr), (Xv, yv), (Xte, yte) = draw(n), draw(n // 2), draw(n // 2)
    return Task(
        name="tiny",
        X_train=Xtr,
        y_train=ytr,
        X_valid=Xv,
        y_valid=yv,
        X_test=Xte,
        y_test=yte,
        classes=tuple(range(n_classes)),
        modality="sequence",
    )


SPACE = MLPSpace()
# dropout and batch norm: the resumed run must restore the dropout generator and the
# running statistics, not only the weights
ARCH = SPACE.validate(
    {"n_layers": 2, "width_1": 32, "width_2": 32, "width_3": 32, "width_4": 32,
     "activation": "relu", "dropout": 0.3, "norm": "batch"}
)  # fmt: skip
SETTINGS = dict(max_epochs=4, batch_size=16, patience=None, measure_latency=False, threads=1)


def make(tmp_path: Path | None = None, **kw: object) -> TrainEvaluator:
    return TrainEvaluator(tiny_task(), SPACE, checkpoint_dir=tmp_path, **{**SETTINGS, **kw})


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        if key != "train_time_s":
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-9, err_msg=key)


def test_stop_and_resume_equals_a_straight_run(tmp_path: Path) -> None:
    straight = make(tmp_path / "a").evaluate(ARCH, budget=4)
    ev = make(tmp_path / "b")
    assert ev.supports_resume
    first = ev.evaluate(ARCH, budget=2)
    assert ev.checkpoint_path(ARCH).is_file()
    assert first.metrics["epochs"] == 2
    assert [p["epoch"] for p in first.curve] == [1.0, 2.0]
    resumed = ev.evaluate(ARCH, budget=4, resume_from=2)
    assert resumed.ok
    _same(dict(resumed.metrics), dict(straight.metrics))
    _same(dict(resumed.test_metrics), dict(straight.test_metrics))
    assert resumed.metrics["epochs"] == 4
    assert [p["epoch"] for p in resumed.curve] == [1.0, 2.0, 3.0, 4.0]
    assert resumed.curve[:2] == first.curve  # the earlier epochs come from the checkpoint
    np.testing.assert_allclose(
        [p["valid_accuracy"] for p in resumed.curve],
        [p["valid_accuracy"] for p in straight.curve],
    )
    times = [p["train_time_s"] for p in resumed.curve]
    assert times == sorted(times)
    assert resumed.metrics["train_time_s"] >= times[-1] >= first.metrics["train_time_s"]
    # the run reached max_epochs: nothing can resume it, so its checkpoint is gone
    assert not ev.checkpoint_path(ARCH).exists()


def test_a_stop_below_max_epochs_runs_part_of_the_full_schedule(tmp_path: Path) -> None:
    # epochs 1..2 of a 4-epoch schedule, not a whole 2-epoch schedule: two evaluators
    # that differ only in max_epochs train the first two epochs differently
    two = make(tmp_path / "a", max_epochs=2).evaluate(ARCH, budget=2)
    part = make(tmp_path / "b").evaluate(ARCH, budget=2)
    assert two.metrics["valid_loss"] != pytest.approx(part.metrics["valid_loss"], rel=1e-6)


def test_several_rungs_resume_in_turn(tmp_path: Path) -> None:
    straight = make(tmp_path / "a").evaluate(ARCH, budget=4)
    ev = make(tmp_path / "b")
    ev.evaluate(ARCH, budget=1)
    ev.evaluate(ARCH, budget=3, resume_from=1)
    last = ev.evaluate(ARCH, budget=4, resume_from=3)
    _same(dict(last.metrics), dict(straight.metrics))
    assert len(last.curve) == 4


def test_missing_checkpoint_trains_from_scratch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    straight = make(tmp_path / "a").evaluate(ARCH, budget=3)
    ev = make(tmp_path / "b")
    with caplog.at_level(logging.WARNING, logger="metanas.evaluation.train"):
        again = ev.evaluate(ARCH, budget=3, resume_from=2)
    assert "training it from scratch" in caplog.text
    assert "there is no checkpoint" in caplog.text
    _same(dict(again.metrics), dict(straight.metrics))
    assert [p["epoch"] for p in again.curve] == [1.0, 2.0, 3.0]


def test_a_checkpoint_of_other_settings_or_epochs_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make(tmp_path, lr=1e-2).evaluate(ARCH, budget=2)
    ev = make(tmp_path)
    with caplog.at_level(logging.WARNING, logger="metanas.evaluation.train"):
        out = ev.evaluate(ARCH, budget=3, resume_from=2)
    assert "other settings" in caplog.text
    _same(dict(out.metrics), dict(make(tmp_path / "x").evaluate(ARCH, budget=3).metrics))
    caplog.clear()
    ev.evaluate(ARCH, budget=1)
    with caplog.at_level(logging.WARNING, logger="metanas.evaluation.train"):
        ev.evaluate(ARCH, budget=3, resume_from=2)
    assert "holds the run after epoch 1, not 2" in caplog.text


def test_bad_budgets_are_refused(tmp_path: Path) -> None:
    ev = make(tmp_path)
    with pytest.raises(ValueError, match=r"from 1 to max_epochs=4; got 5\. Pass a smaller"):
        ev.evaluate(ARCH, budget=5)
    with pytest.raises(ValueError, match=r"resume_from must be below budget.*resume_from=4 "):
        ev.evaluate(ARCH, budget=4, resume_from=4)
    with pytest.raises(ValueError, match="resume_from must be below budget"):
        ev.evaluate(ARCH, resume_from=6)  # budget None is max_epochs
    for bad in (0, True, "2"):
        with pytest.raises(ValueError, match="resume_from is the number of epochs"):
            ev.evaluate(ARCH, budget=3, resume_from=bad)  # type: ignore[arg-type]


def test_the_temporary_directory_is_shared_by_copies_and_removed_with_its_owner() -> None:
    ev = make()
    folder = ev.checkpoint_dir
    assert folder.is_dir()
    copy = pickle.loads(pickle.dumps(ev))
    assert copy.checkpoint_dir == folder
    copy.evaluate(ARCH, budget=1)
    assert ev.checkpoint_path(ARCH).is_file()  # written by the copy, found by the owner
    del copy
    gc.collect()
    assert folder.is_dir()  # a copy never deletes it
    del ev
    gc.collect()
    assert not folder.exists()


def test_checkpoint_key_is_the_network_seed_and_task(tmp_path: Path) -> None:
    ev = make(tmp_path)
    same_net = SPACE.validate({**dict(ARCH), "width_3": 64})  # an inactive decision differs
    assert ev.checkpoint_path(same_net) == ev.checkpoint_path(ARCH)
    other = SPACE.validate({**dict(ARCH), "width_1": 64})
    assert ev.checkpoint_path(other) != ev.checkpoint_path(ARCH)
    assert make(tmp_path, seed=1).checkpoint_path(ARCH) != ev.checkpoint_path(ARCH)


def test_a_run_ended_by_early_stopping_stays_ended(tmp_path: Path) -> None:
    straight = make(tmp_path / "a", max_epochs=8, patience=1).evaluate(ARCH, budget=8)
    assert straight.metrics["epochs"] < 4  # early stopping ends it before epoch 4
    ev = make(tmp_path / "b", max_epochs=8, patience=1)
    first = ev.evaluate(ARCH, budget=4)
    resumed = ev.evaluate(ARCH, budget=8, resume_from=4)
    _same(dict(resumed.metrics), dict(straight.metrics))
    assert resumed.curve == first.curve
    assert len(resumed.curve) == straight.metrics["epochs"]
