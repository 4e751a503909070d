"""The ``cnn`` supernet that searches each block's width as well as its operation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.oneshot import DartsSearch, build_supernet  # noqa: E402
from metanas.spaces import CNNSpace  # noqa: E402
from metanas.tasks import Task  # noqa: E402


@pytest.fixture(scope="module")
def task() -> Task:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    X = rng.normal(0.0, 0.3, size=(60, 1, 12)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, 0, 4 * c : 4 * c + 3] += 2.0
    return Task.from_arrays(X, y, name="bumps", seed=0)


def test_width_candidates_derive_narrow_blocks_and_round_trip(task: Task) -> None:
    space = CNNSpace(max_blocks=2, stem_channels=32)
    net = build_supernet(space, task.input_shape, task.n_classes, seed=0, widths=(16, 32, 64))
    names = net.decisions[0][1]
    assert names[:3] == ("conv3x16", "conv3x32", "conv3x64")
    assert names[-3:] == ("max_pool", "avg_pool", "identity")
    allowed = dict(zip(names, net.mask[0].tolist(), strict=True))
    # The skeleton's 32 channels are the widest choice: 64 is masked, identity keeps block 1.
    assert allowed["conv5x16"]
    assert allowed["conv5x32"]
    assert not allowed["conv5x64"]
    assert allowed["identity"]
    assert not net.mask[1, names.index("identity")]  # block 2 strides
    choice = [names.index("conv5x16"), names.index("sep_conv5x16")]
    arch = net.architecture(choice)
    assert space.format(arch).startswith("conv5x16 > sep_conv5x16/2")
    assert net.choice_of(arch) == choice
    # Relaxed and sampled forwards keep the block width (narrow outputs are zero-padded).
    x = torch.as_tensor(task.X_train[:4])
    assert net(x).shape == (4, 3)
    assert net(x, choice).shape == (4, 3)
    model = space.build_model(arch, task.input_shape, task.n_classes, seed=0)
    assert sum(p.numel() for p in model.parameters()) < sum(
        p.numel()
        for p in space.build_model(
            net.architecture([names.index("conv5x32")] * 2), task.input_shape, 3, seed=0
        ).parameters()
    )


def test_darts_searches_widths_and_rejects_bad_ones(task: Task) -> None:
    space = CNNSpace(max_blocks=2, stem_channels=32)
    net = build_supernet(space, task.input_shape, task.n_classes, seed=0, widths=(16, 32))
    search = DartsSearch(net, task, batch_size=16, seed=0)
    search.fit(1)
    assert set(search.arch_weights()["op_1"]) >= {"conv3x16", "conv3x32"}
    assert space.validate(search.derive()) == search.derive()
    with pytest.raises(ValueError, match="widths must be a non-empty subset"):
        build_supernet(space, task.input_shape, task.n_classes, widths=(24,))
    with pytest.raises(ValueError, match="it takes widths"):
        build_supernet(space, task.input_shape, task.n_classes, channels=3)
