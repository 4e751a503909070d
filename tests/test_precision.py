"""TrainEvaluator's ``precision``: bfloat16 autocast, its resolution, settings and checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation import train as train_module  # noqa: E402
from metanas.evaluation.train import TrainEvaluator, bf16_native  # noqa: E402
from metanas.spaces.trainable import CNNSpace  # noqa: E402
from metanas.tasks.task import Task  # noqa: E402

FAST = dict(max_epochs=2, batch_size=16, measure_latency=False, threads=1, patience=None)
ARCH = "conv3x16 > conv3x16/2 | relu, batch-norm, plain, avg-head"


def image_task(n: int = 48, seed: int = 0) -> Task:
    rng = np.random.default_rng(seed)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(m) % 2
        X = rng.normal(0, 1, size=(m, 1, 8, 8)).astype(np.float32)
        X[y == 1, :, :4] += 1.0
        return X, y.astype(np.int64)

    (Xtr, ytr), (Xv, yv), (Xte, yte) = draw(n), draw(n // 2), draw(n // 2)
    return Task(
        name="img", X_train=Xtr, y_train=ytr, X_valid=Xv, y_valid=yv, X_test=Xte, y_test=yte,
        classes=(0, 1), modality="image",
    )  # fmt: skip


def trained_dtypes(ev: TrainEvaluator, arch_text: str = ARCH) -> set[tuple[torch.dtype, bool]]:
    """(output dtype, channels-last input) of the last convolution in training mode.

    The last one: its input has 16 channels, where the two layouts differ (a 1-channel
    batch is both at once).
    """
    seen: set[tuple[torch.dtype, bool]] = set()
    build = ev.build

    def hooked(arch):  # type: ignore[no-untyped-def]
        model = build(arch)
        conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]

        def hook(module, inputs, output):  # type: ignore[no-untyped-def]
            if module.training:
                x = inputs[0]
                seen.add((output.dtype, x.is_contiguous(memory_format=torch.channels_last)))

        conv.register_forward_hook(hook)
        return model

    ev.build = hooked  # type: ignore[method-assign]
    ev.train(ev.space.parse(arch_text))
    return seen


def test_bf16_trains_under_autocast_in_channels_last_and_fp32_does_not() -> None:
    task = image_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    assert trained_dtypes(TrainEvaluator(task, space, **FAST)) == {(torch.float32, False)}
    bf16 = TrainEvaluator(task, space, **FAST, precision="bf16", device="cpu")
    assert trained_dtypes(bf16) == {(torch.bfloat16, True)}


def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    task = image_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    for native, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        monkeypatch.setattr(train_module, "bf16_native", lambda device, native=native: native)
        ev = TrainEvaluator(task, space, **FAST, precision="auto", device="cpu")
        assert {d for d, _ in trained_dtypes(ev)} == {dtype}
    assert isinstance(bf16_native(torch.device("cpu")), bool)


def test_bf16_is_deterministic_round_trips_and_differs_from_fp32() -> None:
    task = image_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    arch = space.parse(ARCH)
    ev = TrainEvaluator(task, space, **FAST, precision="bf16")
    first = ev.evaluate(arch).metrics
    settings = ev.get_settings()
    assert settings["precision"] == "bf16"
    json.dumps(settings)
    again = TrainEvaluator.from_settings(task, space, settings).evaluate(arch).metrics
    assert again["valid_loss"] == first["valid_loss"]
    fp32 = TrainEvaluator(task, space, **FAST).evaluate(arch).metrics
    assert fp32["valid_loss"] != first["valid_loss"]
    # the default reads as before the option existed (stored studies keep matching)
    assert "precision" not in TrainEvaluator(task, space, **FAST).get_settings()


def test_a_bf16_run_resumes_exactly_and_never_from_an_fp32_checkpoint() -> None:
    task = image_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    arch = space.parse(ARCH)
    kw = {**FAST, "max_epochs": 3, "precision": "bf16"}
    straight = TrainEvaluator(task, space, **kw).evaluate(arch)
    ev = TrainEvaluator(task, space, **kw)
    ev.evaluate(arch, budget=1)
    resumed = ev.evaluate(arch, budget=3, resume_from=1)
    assert resumed.metrics["valid_loss"] == straight.metrics["valid_loss"]
    fp32 = TrainEvaluator(task, space, **{**kw, "precision": "fp32"})
    fp32.checkpoint_dir = ev.checkpoint_dir
    fp32.evaluate(arch, budget=1)
    assert ev._load_checkpoint(arch, 1) is None  # written with other settings


def test_a_bad_precision_names_the_choices() -> None:
    task = image_task()
    space = CNNSpace(max_blocks=2, stem_channels=0)
    with pytest.raises(
        ValueError, match=r"precision must be one of 'fp32', 'bf16', 'auto'; got 'fp16'"
    ):
        TrainEvaluator(task, space, **FAST, precision="fp16")  # type: ignore[arg-type]


def test_a_search_checks_the_precision_before_it_loads_the_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import metanas.tasks
    from metanas.search import prepare_search

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data was loaded before the precision was checked")

    monkeypatch.setattr(metanas.tasks, "load_task", no_load)
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', 'auto'"):
        prepare_search(data="digits", space="cnn", storage="sqlite://", precision="fp16")
