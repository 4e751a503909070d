"""Zero-cost proxies: finite, deterministic, sensible, and usable as an evaluator."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation.proxies import PROXIES, ProxyEvaluator, compute_proxy  # noqa: E402
from metanas.exceptions import UnknownNameError  # noqa: E402
from metanas.models import BlockSpec, build_chain_cnn, build_mlp  # noqa: E402
from metanas.spaces import NB201Space  # noqa: E402
from metanas.spaces.trainable import CNNSpace, MLPSpace  # noqa: E402
from metanas.tasks.task import Task  # noqa: E402


def batch(shape=(1, 16), n=24, n_classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype(np.float32), np.arange(n) % n_classes


def tiny_task(shape=(1, 16)):
    X, y = batch(shape, n=40)
    return Task(
        name="tiny",
        X_train=X,
        y_train=y,
        X_valid=X[:10],
        y_valid=y[:10],
        X_test=X[:10],
        y_test=y[:10],
        classes=(0, 1, 2),
        modality="sequence",
    )


@pytest.mark.parametrize("name", sorted(PROXIES))
@pytest.mark.parametrize("space", [MLPSpace(), CNNSpace(), NB201Space()], ids=lambda s: s.name)
def test_proxies_are_finite_deterministic_and_leave_the_model_alone(name, space):
    X, y = batch()
    rng = np.random.default_rng(2)
    for _ in range(2):
        arch = space.sample(rng)
        model = space.build_model(arch, (1, 16), 3, seed=0)
        before = [p.detach().clone() for p in model.parameters()]
        a = compute_proxy(name, model, X, y, seed=1)
        b = compute_proxy(name, model, X, y, seed=1)
        assert a == b
        assert math.isfinite(a) or (name == "synflow" and a == float("-inf")), (name, arch)
        assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
        assert all(p.grad is None for p in model.parameters())


def test_synflow_and_snip_grow_with_width():
    X, y = batch()
    for name in ("synflow", "snip"):
        values = []
        for width in (8, 64):
            with torch.random.fork_rng():
                torch.manual_seed(0)
                net = build_chain_cnn((1, 16), 3, [BlockSpec("conv3", width, 1)] * 2)
            values.append(compute_proxy(name, net, X, y))
        assert values[1] > values[0], name


def test_naswot_without_relu_and_separates_inputs():
    X, y = batch(n=16)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        tanh = build_mlp((1, 16), 3, [64, 64], activation="tanh")
        linear = build_mlp((1, 16), 3, [])  # no activation at all: logistic regression
    v = compute_proxy("naswot", tanh, X, y)
    assert math.isfinite(v)
    assert v > 0
    assert math.isfinite(compute_proxy("naswot", linear, X, y))
    # identical inputs give identical codes: a singular kernel
    same = np.repeat(X[:1], 16, axis=0)
    assert compute_proxy("naswot", tanh, same, y) == float("-inf")


def test_proxy_evaluator_metrics_and_errors():
    task = tiny_task()
    space = CNNSpace()
    ev = ProxyEvaluator(task, space, proxy="synflow", batch_size=16, seed=0)
    arch = space.sample(np.random.default_rng(0))
    r = ev.evaluate(arch)
    assert set(r.metrics) == {"synflow", "params", "flops"}
    assert r.ok
    assert r.cost_s > 0
    assert r.metrics["params"] > 0
    assert ProxyEvaluator(task, space, "synflow", batch_size=16).evaluate(arch).metrics == r.metrics
    assert ev.task_name == "tiny"
    assert ProxyEvaluator(task, space, **ev.get_settings()).evaluate(arch).metrics == r.metrics
    with pytest.raises(UnknownNameError, match="syn_flow"):
        ProxyEvaluator(task, space, proxy="syn_flow")
    with pytest.raises(UnknownNameError):
        compute_proxy("jacov", torch.nn.Linear(2, 2), np.zeros((2, 2)), np.zeros(2))
