"""Second-order gradients against exact ones from ``torch.func`` on tiny models.

DARTS's unrolled architecture gradient approximates a Hessian-vector product by central
differences; MAML's meta-gradient differentiates through its inner SGD steps. Both are
compared with gradients computed independently of the code under test, in float64 so that
only the method's own approximation error remains.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.func import functional_call, grad, hessian, replace_all_batch_norm_modules_  # noqa: E402
from torch.nn import functional  # noqa: E402

from metanas.fewshot import MAML  # noqa: E402
from metanas.fewshot.episodes import EpisodeSampler  # noqa: E402
from metanas.oneshot import DartsSearch, build_supernet  # noqa: E402
from metanas.spaces import CNNSpace  # noqa: E402
from metanas.tasks import Task  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def bumps_task() -> Task:
    """3 classes told apart by where a bump sits in a length-12 sequence."""
    rng = np.random.default_rng(0)
    n, length = 96, 12
    y = rng.integers(0, 3, size=n)
    X = rng.normal(0.0, 0.3, size=(n, 1, length)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, 0, 4 * c : 4 * c + 3] += 2.0
    return Task.from_arrays(X, y, name="bumps", seed=0)


# ---------------------------------------------------------------- DARTS
def _darts_setup(hvp_step: float = 0.01) -> tuple[DartsSearch, tuple[torch.Tensor, ...]]:
    task = bumps_task()
    # SiLU, not ReLU, and channels that change in every block so that max pooling is masked:
    # a finite difference across a kink (ReLU, the max) adds an error that does not shrink with
    # the step, which would hide the O(step^2) behaviour checked here.
    net = build_supernet(
        CNNSpace(max_blocks=2, stem_channels=8), task.input_shape, task.n_classes, seed=0,
        skeleton={"activation": "silu", "channels_1": 16, "channels_2": 32},
    )  # fmt: skip
    search = DartsSearch(
        net, task, order=2, batch_size=8, lr=0.1, weight_decay=3e-3, hvp_step=hvp_step, seed=0
    )
    # A few steps give the weights momentum buffers and alpha a non-uniform value, so every
    # term of the virtual step is exercised.
    for _ in range(2):
        search.step()
    net.double()
    # Batch statistics (train mode) as before, without running statistics that a grad
    # transform may not mutate.
    replace_all_batch_norm_modules_(net)
    xt = torch.as_tensor(task.X_train[:8], dtype=torch.float64)
    xv = torch.as_tensor(task.X_valid[:8], dtype=torch.float64)
    yt = torch.as_tensor(task.y_train[:8])
    yv = torch.as_tensor(task.y_valid[:8])
    return search, (xt, yt, xv, yv)


def _exact_unrolled(search: DartsSearch, batches: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """d/d alpha of L_val(w - xi (grad_w L_train(w, alpha) + wd w + momentum buf), alpha)."""
    net = search.supernet
    xt, yt, xv, yv = batches
    names = [n for n, _ in net.named_parameters() if n != "alphas"]
    weights = {n: p.detach() for n, p in net.named_parameters() if n != "alphas"}
    xi = float(search._w_opt.param_groups[0]["lr"])
    params = dict(net.named_parameters())
    moment = {n: search._w_opt.state[params[n]]["momentum_buffer"].to(torch.float64) for n in names}

    def loss(w: dict[str, torch.Tensor], alpha: torch.Tensor, x: torch.Tensor,
             y: torch.Tensor) -> torch.Tensor:  # fmt: skip
        out = functional_call(net, {**w, "alphas": alpha}, (x,))
        return functional.cross_entropy(out, y)

    def unrolled_val(alpha: torch.Tensor) -> torch.Tensor:
        g = grad(loss)(weights, alpha, xt, yt)
        step = {
            n: weights[n]
            - xi * (g[n] + search.weight_decay * weights[n] + search.momentum * moment[n])
            for n in names
        }  # fmt: skip
        return loss(step, alpha, xv, yv)

    exact: torch.Tensor = grad(unrolled_val)(net.alphas.detach())
    return exact


def test_darts_second_order_matches_the_exact_unrolled_gradient() -> None:
    errors = []
    for step in (0.01, 0.005):
        search, batches = _darts_setup(hvp_step=step)
        net = search.supernet
        exact = _exact_unrolled(search, batches)
        before = [p.detach().clone() for p in net.parameters()]
        approx, _, _ = search._second_order(*batches)
        first, _, _ = search._first_order(*batches[2:])
        # The finite difference puts back the weights it moved.
        assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
        hessian_term = float((first - exact).norm())
        assert hessian_term > 0.05 * float(exact.norm())  # second order matters here
        errors.append(float((approx - exact).norm()) / hessian_term)
    # The paper's step leaves well under 1 % of the Hessian-vector term; halving the step
    # divides the error by about 4 (central differences: O(step^2)). A wrong sign, a missing
    # factor or a one-sided difference fails one or the other.
    assert errors[0] < 0.01
    assert 3.0 < errors[0] / errors[1] < 5.0


# ---------------------------------------------------------------- MAML
def _tiny_mlp(input_shape: tuple[int, ...], n_out: int | None) -> torch.nn.Module:
    n_in = math.prod(input_shape)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(n_in, 6), torch.nn.Tanh(),
        torch.nn.Linear(6, n_out or 3),
    )  # fmt: skip


def _maml_setup(first_order: bool) -> tuple[MAML, tuple[torch.Tensor, ...]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1, 5)).astype(np.float32)
    y = np.repeat(np.arange(6), 10)
    X[np.arange(60), 0, y % 5] += 1.5
    sampler = EpisodeSampler(X, y, ways=3, shots=2, queries=3, seed=0)
    learner = MAML(backbone=_tiny_mlp, inner_lr=0.4, inner_steps=3, first_order=first_order,
                   meta_lr=0.01, seed=0, device="cpu")  # fmt: skip
    learner.meta_train(sampler, 2, meta_batch=2)
    learner.model.double()  # type: ignore[union-attr]
    eps = sampler.batch(2)

    def t(arrays: list[np.ndarray], dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.stack(arrays), dtype=dtype)

    return learner, (
        t([e.support_x for e in eps], torch.float64), t([e.support_y for e in eps], torch.int64),
        t([e.query_x for e in eps], torch.float64), t([e.query_y for e in eps], torch.int64),
    )  # fmt: skip


def _exact_meta_gradient(learner: MAML, batch: tuple[torch.Tensor, ...], *,
                         first_order: bool) -> torch.Tensor:  # fmt: skip
    """Mean over episodes of prod_k (I - lr H_k) grad L_query(phi_K), with explicit Hessians."""
    net = learner.model
    assert net is not None
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in net.named_parameters()])

    def loss(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, sizes)
        params = {n: v.reshape(s) for n, v, s in zip(names, parts, shapes, strict=True)}
        return functional.cross_entropy(functional_call(net, params, (x,)), y)

    lr, eye = learner.inner_lr, torch.eye(theta.numel(), dtype=theta.dtype)
    total = torch.zeros_like(theta)
    SX, SY, QX, QY = batch
    for b in range(SX.shape[0]):
        phi, jac = theta, eye
        for _ in range(learner.inner_steps):
            h = hessian(loss)(phi, SX[b], SY[b])
            jac = (eye - lr * h) @ jac  # d phi_{k+1} / d theta
            phi = phi - lr * grad(loss)(phi, SX[b], SY[b])
        g = grad(loss)(phi, QX[b], QY[b])
        total += g if first_order else jac.T @ g
    return total / SX.shape[0]


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_meta_gradient_matches_the_exact_one(first_order: bool) -> None:
    learner, batch = _maml_setup(first_order)
    net = learner.model
    assert net is not None
    net.zero_grad(set_to_none=True)
    learner.query_losses(*batch).mean().backward()
    got = torch.cat([p.grad.reshape(-1) for p in net.parameters()])  # type: ignore[union-attr]
    exact = _exact_meta_gradient(learner, batch, first_order=first_order)
    torch.testing.assert_close(got, exact, rtol=1e-8, atol=1e-10)
    # The second-order terms are not negligible here, so the two variants are told apart.
    other = _exact_meta_gradient(learner, batch, first_order=not first_order)
    assert float((other - exact).norm()) > 1e-3 * float(exact.norm())
