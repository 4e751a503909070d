"""The CUDA path: training, resuming, one-shot search, few-shot learning and the CLI on a GPU.

Every test here needs a CUDA build of torch and a visible GPU, so CI (CPU only) skips the
module; it runs where a GPU is present (the project's device check runs it on one). The
CPU-only behaviour of ``device="cuda"`` (one clear error before any trial) is tested in
test_train.py, test_search.py and test_cli.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (a CUDA build of torch)"
)

from metanas import Task  # noqa: E402
from metanas.evaluation.train import TrainEvaluator  # noqa: E402
from metanas.spaces import CNNSpace, MLPSpace  # noqa: E402


def _task(shape: tuple[int, ...] = (1, 32), n: int = 240, n_classes: int = 3) -> Task:
    rng = np.random.default_rng(0)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        # class c is a sine of c + 1 periods in noise: a pattern, not a position, so both
        # the MLPs and the convolutions with global pooling can learn it in a few epochs
        y = np.arange(m) % n_classes
        t = np.linspace(0.0, 1.0, shape[-1], dtype=np.float32)
        waves = np.sin(2 * np.pi * (y[:, None] + 1) * t[None, :])
        X = 1.5 * waves + rng.normal(0, 1, size=(m, shape[-1]))
        return X.reshape(m, *shape).astype(np.float32), y.astype(np.int64)

    (Xtr, ytr), (Xv, yv), (Xte, yte) = draw(n), draw(n // 2), draw(n // 2)
    return Task(
        name="cuda-tiny",
        X_train=Xtr,
        y_train=ytr,
        X_valid=Xv,
        y_valid=yv,
        X_test=Xte,
        y_test=yte,
        classes=tuple(range(n_classes)),
        modality="sequence",
    )


def _cnn_arch(space: CNNSpace) -> object:
    return space.sample(np.random.default_rng(3))


def test_auto_trains_on_the_gpu_and_returns_a_cpu_model() -> None:
    task = _task()
    space = CNNSpace(max_blocks=2)
    evaluator = TrainEvaluator(task, space, max_epochs=10, patience=None, seed=1)
    assert evaluator._device().type == "cuda"  # "auto" picks the GPU when one is present
    arch = _cnn_arch(space)
    model, result = evaluator.train(arch)
    # train() documents a CPU model in eval mode, whatever the device it trained on
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert not model.training
    assert result.metrics["valid_accuracy"] > 0.6  # 3 classes: chance is 1/3
    assert np.isfinite(result.metrics["latency_ms"])


def test_gpu_and_cpu_trainings_of_one_network_reach_similar_accuracy() -> None:
    task = _task()
    space = MLPSpace()
    arch = space.sample(np.random.default_rng(0))
    accs = {}
    for device in ("cpu", "cuda"):
        ev = TrainEvaluator(task, space, max_epochs=6, patience=None, seed=2, device=device)
        accs[device] = ev.evaluate(arch).metrics["valid_accuracy"]
    assert accs["cuda"] > 0.6
    # other kernels sum in another order: the same seed is not bit-identical across devices,
    # but the two trainings are the same recipe and land close
    assert abs(accs["cuda"] - accs["cpu"]) <= 0.15


def test_same_seed_same_result_on_the_gpu() -> None:
    task = _task()
    space = MLPSpace()
    arch = space.sample(np.random.default_rng(5))
    runs = [
        TrainEvaluator(task, space, max_epochs=3, patience=None, seed=7, device="cuda")
        .evaluate(arch)
        .metrics
        for _ in range(2)
    ]
    assert runs[0]["valid_accuracy"] == runs[1]["valid_accuracy"]
    assert runs[0]["valid_loss"] == pytest.approx(runs[1]["valid_loss"], rel=1e-5)


def test_a_gpu_run_resumed_from_its_checkpoint_ends_where_a_straight_run_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    task = _task()
    space = MLPSpace()
    arch = space.sample(np.random.default_rng(11))

    def evaluator(sub: str) -> TrainEvaluator:
        return TrainEvaluator(
            task, space, max_epochs=4, patience=None, seed=3, device="cuda",
            checkpoint_dir=tmp_path / sub,
        )  # fmt: skip

    straight = evaluator("a").evaluate(arch, budget=4)
    resumable = evaluator("b")
    first = resumable.evaluate(arch, budget=2)
    assert resumable.checkpoint_path(arch).exists()
    # the checkpoint holds the GPU's random state too (dropout on the device)
    saved = torch.load(resumable.checkpoint_path(arch), weights_only=False)
    assert "cuda_rng" in saved
    resumed = resumable.evaluate(arch, budget=4, resume_from=2)
    assert first.metrics["epochs"] == 2
    assert resumed.metrics["epochs"] == 4
    assert [p["valid_accuracy"] for p in resumed.curve] == [
        p["valid_accuracy"] for p in straight.curve
    ]
    assert resumed.metrics["valid_accuracy"] == straight.metrics["valid_accuracy"]


def test_latency_on_the_gpu_is_measured_with_synchronisation() -> None:
    from metanas.evaluation.hardware import hardware_name, measure_latency_ms

    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 4))
    ms = measure_latency_ms(model, (64,), batch_size=8, repeats=5, device="cuda")
    assert 0 < ms < 1000
    assert all(p.device.type == "cpu" for p in model.parameters())  # moved back
    assert "(CUDA)" in hardware_name("cuda")


def test_oneshot_darts_searches_and_retrains_on_the_gpu() -> None:
    from metanas.oneshot import run_oneshot

    space = CNNSpace(max_blocks=2, stem_channels=16)
    settings = {"epochs": 3, "retrain_epochs": 12, "seed": 0, "device": "cuda"}
    first, again = (
        run_oneshot(_task(), space, "darts", storage="sqlite://", study_name=name, **settings)
        for name in ("gpu-darts-a", "gpu-darts-b")
    )
    assert first.valid_accuracy > 0.5
    assert again.arch == first.arch  # same seed, same derived network on the GPU


def test_fewshot_learner_meta_trains_on_the_gpu() -> None:
    from metanas.fewshot import EpisodeSampler, fewshot_dataset, make_learner, split_classes

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, size=(10, 16)).astype(np.float32)
    y = np.repeat(np.arange(10), 20)
    X = (centres[y] + rng.normal(0, 0.5, size=(len(y), 16))).astype(np.float32)
    split = split_classes(fewshot_dataset((X, y)), test_fraction=0.5, seed=0)
    train = EpisodeSampler(split.train, ways=5, shots=1, queries=5, seed=1)
    test = EpisodeSampler(split.test, ways=5, shots=1, queries=5, seed=2)
    learner = make_learner("protonet", hidden=16, meta_lr=3e-3, seed=0, device="cuda")
    learner.meta_train(train, n_iterations=15, meta_batch=4)
    assert next(learner.model.parameters()).device.type == "cuda"
    acc, _ = learner.evaluate(test, n_episodes=40)
    assert acc > 0.6  # chance is 0.2


def test_cli_search_with_device_cuda_stores_finished_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    import metanas
    from metanas.cli import app

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(
        app,
        [
            "search", "--data", "digits", "--space", "cnn", "--device", "cuda",
            "--n-trials", "3", "--epochs", "2", "--seed", "0", "--storage", url,
            "--study", "gpu", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_complete"] == 3
    study = metanas.load_study("gpu", storage=url)
    done = [t for t in study.trials if t.state == metanas.TrialState.COMPLETE]
    assert len(done) == 3
    assert all(t.metrics["valid_accuracy"] > 0.5 for t in done)
    assert study.user_attrs["evaluator"]["device"] == "cuda"  # stored with the study


def test_two_worker_search_on_the_gpu_after_the_parent_used_cuda(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A forked worker cannot use CUDA once its parent did; the pool must not fork then."""
    import metanas

    torch.zeros(1, device="cuda")  # the parent process has a CUDA context now
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    task = _task()
    space = MLPSpace()
    study = metanas.create_study(
        storage=url, name="gpu-pool", space=space, strategy="random", seed=0
    )
    evaluator = TrainEvaluator(task, space, max_epochs=3, patience=None, device="cuda")
    study.optimize(evaluator, n_trials=4, n_jobs=2)
    done = [t for t in study.trials if t.state == metanas.TrialState.COMPLETE]
    assert len(done) == 4, [t.reason for t in study.trials]
