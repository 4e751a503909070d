"""TrainEvaluator: real training on tiny data, deterministic, metrics as scikit-learn gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import accuracy_score, f1_score, recall_score  # noqa: E402

from metanas.evaluation import Status  # noqa: E402
from metanas.evaluation.train import TrainEvaluator, arch_seed, predict_proba  # noqa: E402
from metanas.spaces import NB201Space  # noqa: E402
from metanas.spaces.trainable import CNNSpace, MLPSpace  # noqa: E402
from metanas.tasks.task import Task  # noqa: E402


def tiny_task(shape=(1, 16), n=60, n_classes=3, seed=0, modality="sequence"):
    """Classes differ by a class-dependent bump in the signal, plus noise."""
    rng = np.random.default_rng(seed)

    def draw(m):
        y = np.arange(m) % n_classes
        X = rng.normal(0, 1, size=(m, *shape)).astype(np.float32)
        flat = X.reshape(m, -1)
        width = flat.shape[1] // n_classes
        for c in range(n_classes):
            flat[y == c, c * width : (c + 1) * width] += 2.0
        return flat.reshape(m, *shape), y.astype(np.int64)

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
        modality=modality,
    )


def mlp_arch(space, width=32, **kw):
    a = {
        "n_layers": 1,
        "width_1": width,
        "width_2": 32,
        "width_3": 32,
        "width_4": 32,
        "activation": "relu",
        "dropout": 0.1,
        "norm": "batch",
    }
    a.update(kw)
    return space.validate(a)


def cnn_arch(space, **kw):
    a = {
        "n_blocks": 2,
        "op_1": "conv3",
        "channels_1": 16,
        "stride_1": 1,
        "op_2": "conv5",
        "channels_2": 16,
        "stride_2": 2,
        "op_3": "conv3",
        "channels_3": 16,
        "stride_3": 1,
        "op_4": "conv3",
        "channels_4": 16,
        "stride_4": 1,
        "activation": "relu",
        "norm": "batch",
        "residual": True,
        "head": "avg",
    }
    a.update(kw)
    return space.validate(a)


FAST = dict(max_epochs=2, batch_size=16, measure_latency=False, threads=1)


def test_training_learns_and_reports_every_metric():
    task = tiny_task()
    space = MLPSpace()
    ev = TrainEvaluator(
        task,
        space,
        max_epochs=15,
        batch_size=16,
        lr=1e-2,
        threads=1,
        patience=None,
        latency_repeats=3,
    )
    result = ev.evaluate(mlp_arch(space))
    assert result.ok
    m = result.metrics
    for key in (
        "valid_accuracy",
        "valid_recall",
        "valid_f1",
        "valid_loss",
        "params",
        "flops",
        "latency_ms",
        "latency_b64_ms",
        "train_time_s",
        "epochs",
        "best_epoch",
    ):
        assert key in m, key
    assert set(result.test_metrics) >= {"test_accuracy", "test_recall", "test_f1"}
    assert m["valid_accuracy"] >= 0.8  # chance is 1/3
    assert result.test_metrics["test_accuracy"] >= 0.8
    assert m["epochs"] == 15
    assert m["latency_ms"] > 0
    assert m["train_time_s"] > 0
    assert ev.task_name == "tiny"


def test_same_seed_same_metrics_other_seed_other_weights():
    task = tiny_task()
    space = CNNSpace()
    arch = cnn_arch(space)
    a = TrainEvaluator(task, space, seed=3, **FAST).evaluate(arch)
    b = TrainEvaluator(task, space, seed=3, **FAST).evaluate(arch)
    keys = ("valid_accuracy", "valid_loss", "valid_f1")
    assert [a.metrics[k] for k in keys] == [b.metrics[k] for k in keys]
    assert a.test_metrics == b.test_metrics
    c = TrainEvaluator(task, space, seed=4, **FAST).evaluate(arch)
    assert c.metrics["valid_loss"] != a.metrics["valid_loss"]


def test_settings_rebuild_an_identical_evaluator():
    task = tiny_task()
    space = CNNSpace()
    ev = TrainEvaluator(task, space, seed=7, max_params=10**6, **FAST)
    settings = ev.get_settings()
    assert json.loads(json.dumps(settings)) == settings
    again = TrainEvaluator(task, space, **settings)
    assert again.get_settings() == settings
    arch = cnn_arch(space)
    assert again.evaluate(arch).test_metrics == ev.evaluate(arch).test_metrics


def test_seed_depends_on_the_network_key_only():
    space = MLPSpace()
    a = mlp_arch(space, width_3=512)
    b = mlp_arch(space)
    assert arch_seed(0, space, a) == arch_seed(0, space, b)
    assert arch_seed(0, space, a) != arch_seed(0, space, mlp_arch(space, width=64))
    assert arch_seed(0, space, a) != arch_seed(1, space, a)


def test_metrics_equal_sklearn_on_the_same_predictions():
    task = tiny_task(n_classes=4)
    space = MLPSpace()
    ev = TrainEvaluator(task, space, **FAST)
    model, result = ev.train(mlp_arch(space))
    for split, X, y in (("valid", task.X_valid, task.y_valid), ("test", task.X_test, task.y_test)):
        pred = ev.predict_proba(model, X).argmax(1)
        got = result.metrics if split == "valid" else result.test_metrics
        assert got[f"{split}_accuracy"] == pytest.approx(accuracy_score(y, pred))
        assert got[f"{split}_recall"] == pytest.approx(
            recall_score(y, pred, average="macro", zero_division=0)
        )
        assert got[f"{split}_f1"] == pytest.approx(
            f1_score(y, pred, average="macro", zero_division=0)
        )
    proba = predict_proba(model, task.X_test)
    assert proba.shape == (len(task.X_test), 4)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)


def test_early_stopping_keeps_best_weights_not_last(monkeypatch):
    task = tiny_task()
    space = MLPSpace()
    scores = iter([0.2, 0.9, 0.5, 0.4, 0.3, 0.3])
    import metanas.evaluation.train as train_mod

    real = train_mod.classification_metrics
    seen = []

    def fake(y, proba, prefix):
        out = real(y, proba, prefix)
        if prefix == "valid" and len(seen) < 6:
            out["valid_accuracy"] = next(scores)
            seen.append(proba)
        return out

    monkeypatch.setattr(train_mod, "classification_metrics", fake)
    ev = TrainEvaluator(
        task, space, max_epochs=10, patience=3, batch_size=16, measure_latency=False, threads=1
    )
    model, result = ev.train(mlp_arch(space, dropout=0.0))
    assert result.metrics["epochs"] == 5
    assert result.metrics["best_epoch"] == 2
    # The returned model predicts what epoch 2 predicted.
    np.testing.assert_allclose(predict_proba(model, task.X_valid), seen[1], rtol=1e-5, atol=1e-6)


def test_constraint_violation_fails_before_training():
    task = tiny_task()
    space = MLPSpace()
    ev = TrainEvaluator(task, space, max_params=100, max_epochs=50, threads=1, latency_repeats=3)
    result = ev.evaluate(mlp_arch(space, width=512))
    assert result.status is Status.FAILED
    assert result.reason.startswith("infeasible: params ")
    assert "> max_params 100" in result.reason
    assert "train_time_s" not in result.metrics
    assert result.metrics["params"] > 100
    assert result.cost_s < 2.0
    lat = TrainEvaluator(task, space, max_latency_ms=1e-6, latency_repeats=3, **FAST)
    assert "latency_ms" in lat.evaluate(mlp_arch(space)).reason
    flops = TrainEvaluator(task, space, max_flops=10, **FAST).evaluate(mlp_arch(space))
    assert "flops" in flops.reason
    assert not flops.ok
    ok = TrainEvaluator(task, space, max_params=10**6, **FAST).evaluate(mlp_arch(space))
    assert ok.ok


def test_budget_is_epochs_and_train_on_train_plus_valid():
    task = tiny_task()
    space = CNNSpace()
    ev = TrainEvaluator(task, space, patience=None, **{**FAST, "max_epochs": 5})
    assert ev.evaluate(cnn_arch(space), budget=1).metrics["epochs"] == 1
    model, result = ev.train(cnn_arch(space), epochs=2, on="train+valid")
    assert result.metrics["epochs"] == 2
    assert "valid_accuracy" not in result.metrics
    assert "test_accuracy" in result.test_metrics
    assert not model.training
    with pytest.raises(ValueError, match="on must be"):
        ev.train(cnn_arch(space), on="valid")
    with pytest.raises(ValueError, match="budget"):
        ev.evaluate(cnn_arch(space), budget=0)


def test_time_budget_shortens_training():
    task = tiny_task()
    space = MLPSpace()
    ev = TrainEvaluator(
        task,
        space,
        max_epochs=1000,
        time_budget_s=1e-4,
        patience=None,
        batch_size=16,
        measure_latency=False,
        threads=1,
    )
    assert ev.evaluate(mlp_arch(space)).metrics["epochs"] == 1


def test_divergence_is_a_failed_result():
    task = tiny_task()
    bad = Task(
        name="nan",
        X_train=np.full_like(task.X_train, np.nan),
        y_train=task.y_train,
        X_valid=task.X_valid,
        y_valid=task.y_valid,
        X_test=task.X_test,
        y_test=task.y_test,
        classes=task.classes,
        modality="sequence",
    )
    space = MLPSpace()
    result = TrainEvaluator(bad, space, **FAST).evaluate(mlp_arch(space))
    assert not result.ok
    assert result.reason.startswith("diverged")


def test_threads_restored_and_image_tabular_and_nb201():
    before = torch.get_num_threads()
    img = tiny_task(shape=(1, 6, 6), modality="image")
    r = TrainEvaluator(img, NB201Space(), **FAST).evaluate(
        NB201Space().sample(np.random.default_rng(0))
    )
    assert r.ok
    assert r.metrics["flops"] > 0
    tab = tiny_task(shape=(9,), modality="tabular")
    r2 = TrainEvaluator(tab, CNNSpace(), **FAST).evaluate(cnn_arch(CNNSpace(), head="flatten"))
    assert r2.ok
    assert torch.get_num_threads() == before


def test_bad_arguments_are_rejected():
    task = tiny_task()
    from metanas.spaces import SearchSpace

    with pytest.raises(TypeError, match="trainable space"):
        TrainEvaluator(task, SearchSpace({"a": [1, 2]}))
    with pytest.raises(ValueError, match="max_epochs"):
        TrainEvaluator(task, MLPSpace(), max_epochs=0)
    with pytest.raises(ValueError, match="device"):
        TrainEvaluator(task, MLPSpace(), device="tpu")
    with pytest.raises(ValueError, match="max_latency_ms"):
        TrainEvaluator(task, MLPSpace(), max_latency_ms=-1)


def test_one_torch_thread_per_evaluation_by_default(monkeypatch):
    """The thread policy: 1 intra-op thread while training, whatever torch's own setting."""
    seen = []
    ev = TrainEvaluator(tiny_task(), MLPSpace(), max_epochs=1, batch_size=16, measure_latency=False)
    assert ev.threads == 1
    assert ev.get_settings()["threads"] == 1
    real = ev.hardware_metrics
    monkeypatch.setattr(
        ev, "hardware_metrics", lambda m: seen.append(torch.get_num_threads()) or real(m)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert ev.evaluate(mlp_arch(MLPSpace())).ok
        assert torch.get_num_threads() == 2  # the caller's count is restored
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    two = TrainEvaluator(tiny_task(), MLPSpace(), threads=2)
    assert two.threads == 2
    assert TrainEvaluator(tiny_task(), MLPSpace(), threads=None).threads is None
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        TrainEvaluator(tiny_task(), MLPSpace(), threads=0)


def test_n_threads_is_a_deprecated_alias_and_old_settings_still_load():
    with pytest.warns(FutureWarning, match=r"n_threads=\.\.\.\) is deprecated; pass threads="):
        ev = TrainEvaluator(tiny_task(), MLPSpace(), n_threads=2)
    assert ev.threads == 2
    with pytest.raises(ValueError, match="pass only threads="):
        TrainEvaluator(tiny_task(), MLPSpace(), threads=3, n_threads=2)
    old = {**ev.get_settings(), "n_threads": None}  # as stored before threads= existed
    del old["threads"]
    rebuilt = TrainEvaluator.from_settings(tiny_task(), MLPSpace(), old, progress=False)
    assert rebuilt.threads is None
    assert rebuilt.max_epochs == ev.max_epochs


def test_cuda_without_a_gpu_fails_once_at_construction(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' needs a CUDA GPU.*--device cpu"):
        TrainEvaluator(tiny_task(), MLPSpace(), device="cuda")
    assert TrainEvaluator(tiny_task(), MLPSpace(), device="auto").device == "auto"


def test_oneshot_and_fewshot_take_threads_and_warn_on_n_threads():
    from metanas.fewshot import make_learner
    from metanas.oneshot.run import run_oneshot
    from metanas.tasks import load_task

    assert make_learner("protonet").threads == 1
    assert make_learner("protonet", threads=2).threads == 2
    with pytest.warns(FutureWarning, match="deprecated; pass threads="):
        assert make_learner("protonet", n_threads=2).n_threads == 2
    with (
        pytest.warns(FutureWarning, match="deprecated; pass threads="),
        pytest.raises(ValueError, match="epochs must be an int >= 1"),
    ):
        run_oneshot(load_task("iris"), "cnn", epochs=0, n_threads=2)
