"""Training-time augmentation: the built-in policies and TrainEvaluator's ``augment=``."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas import available  # noqa: E402
from metanas.evaluation.augment import (  # noqa: E402
    ImageShift,
    SpecAugment,
    register_augment,
    resolve_augment,
)
from metanas.evaluation.train import TrainEvaluator  # noqa: E402
from metanas.exceptions import UnknownNameError  # noqa: E402
from metanas.spaces.trainable import CNNSpace  # noqa: E402
from metanas.tasks.task import Task  # noqa: E402

FAST = dict(max_epochs=2, batch_size=16, measure_latency=False, threads=1, patience=None)
ARCH = "conv3x16 > conv3x16/2 | relu, batch-norm, plain, avg-head"


def seq_task(shape=(8, 20), n=48, seed=0, modality="sequence"):
    rng = np.random.default_rng(seed)

    def draw(m):
        y = np.arange(m) % 2
        X = rng.normal(0, 1, size=(m, *shape)).astype(np.float32)
        X[y == 1] += 1.0
        return X, y.astype(np.int64)

    (Xtr, ytr), (Xv, yv), (Xte, yte) = draw(n), draw(n // 2), draw(n // 2)
    return Task(
        name="seq", X_train=Xtr, y_train=ytr, X_valid=Xv, y_valid=yv, X_test=Xte, y_test=yte,
        classes=(0, 1), modality=modality,
    )  # fmt: skip


def test_builtins_are_listed_and_keep_shape():
    assert {"specaugment", "specaugment-vtlp", "shift", "shift-flip"} <= set(available("augment"))
    x = torch.arange(2 * 8 * 20, dtype=torch.float32).reshape(2, 8, 20) + 1.0
    out = SpecAugment(freq_shift=0.25)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    # masks set whole rows (channels) or columns (frames) to 0; nothing else becomes 0
    zero = out == 0
    assert zero.any()
    assert bool((zero.all(dim=2)[:, :, None] | zero.all(dim=1)[:, None, :] | ~zero).all())
    img = torch.randn(4, 1, 10, 10)
    shifted = ImageShift(shift=0.2, flip=True)(img, torch.Generator().manual_seed(1))
    assert shifted.shape == img.shape
    assert not torch.equal(shifted, img)
    # a shift moves pixels: every output value is one of the image's own
    assert bool(torch.isin(shifted[0], img[0]).all())


def test_same_generator_seed_same_batch_other_seed_other_batch():
    x = torch.randn(8, 8, 20)
    p = SpecAugment()
    a = p(x, torch.Generator().manual_seed(3))
    b = p(x, torch.Generator().manual_seed(3))
    c = p(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_changes_training_batches_only():
    task = seq_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    arch = space.parse(ARCH)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    spec = SpecAugment()

    def recording(x, generator):
        out = spec(x, generator)
        # kept on the CPU: the batches live on the training device (CUDA where present)
        calls.append((x.detach().cpu().clone(), out.detach().cpu().clone()))
        return out

    register_augment("test-recording")(recording)
    ev = TrainEvaluator(task, space, **FAST, augment="test-recording")
    calls.clear()  # the construction's shape check
    model, result = ev.train(arch)
    # once per training batch (48 rows in batches of 16, 2 epochs), never on validation/test
    assert len(calls) == 2 * 3
    train_rows = torch.as_tensor(task.X_train)
    for x, _out in calls:
        assert len(x) == 16
        assert all(any(torch.equal(row, r) for r in train_rows) for row in x)
    assert any(not torch.equal(x, out) for x, out in calls)
    proba = ev.predict_proba(model, task.X_valid)
    assert result.metrics["valid_accuracy"] == float(np.mean(proba.argmax(1) == task.y_valid))
    plain = TrainEvaluator(task, space, **FAST).evaluate(arch)
    assert result.metrics["valid_loss"] != plain.metrics["valid_loss"]


def test_same_seed_same_result_and_settings_round_trip():
    task = seq_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    arch = space.parse(ARCH)
    ev = TrainEvaluator(task, space, **FAST, augment="specaugment-vtlp")
    first = ev.evaluate(arch).metrics
    settings = ev.get_settings()
    assert settings["augment"] == "specaugment-vtlp"
    json.dumps(settings)
    again = TrainEvaluator.from_settings(task, space, settings)
    assert again.evaluate(arch).metrics["valid_loss"] == first["valid_loss"]
    # without augment the settings read as they did before the option existed
    assert "augment" not in TrainEvaluator(task, space, **FAST).get_settings()


def test_resumed_run_continues_the_augmentation_stream():
    task = seq_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    arch = space.parse(ARCH)
    kw = {**FAST, "max_epochs": 3, "augment": "specaugment"}
    straight = TrainEvaluator(task, space, **kw).evaluate(arch)
    ev = TrainEvaluator(task, space, **kw)
    ev.evaluate(arch, budget=1)
    resumed = ev.evaluate(arch, budget=3, resume_from=1)
    assert resumed.metrics["valid_loss"] == straight.metrics["valid_loss"]


def test_bad_values_are_rejected_with_the_fix():
    task = seq_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    with pytest.raises(UnknownNameError, match="specaugment"):
        TrainEvaluator(task, space, **FAST, augment="spec-augment")
    with pytest.raises(ValueError, match="register_augment"):
        TrainEvaluator(task, space, **FAST, augment=lambda x, g: x)
    with pytest.raises(ValueError, match="augment must be None"):
        TrainEvaluator(task, space, **FAST, augment=3)
    with pytest.raises(ValueError, match="channels, height, width"):
        TrainEvaluator(task, space, **FAST, augment="shift")
    image = seq_task(shape=(1, 6, 6), modality="image")
    with pytest.raises(ValueError, match="sequence features"):
        TrainEvaluator(image, space, **FAST, augment="specaugment")
    with pytest.raises(ValueError, match="freq_width"):
        SpecAugment(freq_width=0.9)
    with pytest.raises(ValueError, match="flip"):
        ImageShift(flip="yes")  # type: ignore[arg-type]


def test_a_registered_callable_is_stored_by_name():
    def crop_half(x, generator):
        return x * 0.5

    policy = register_augment("test-halve")(crop_half)
    assert resolve_augment(policy) == ("test-halve", policy)
    task = seq_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    ev = TrainEvaluator(task, space, **FAST, augment=policy)
    assert ev.get_settings()["augment"] == "test-halve"

    def wrong_shape(x, generator):
        return x[:, :1]

    register_augment("test-wrong-shape")(wrong_shape)
    with pytest.raises(ValueError, match="input's shape"):
        TrainEvaluator(task, space, **FAST, augment="test-wrong-shape")
