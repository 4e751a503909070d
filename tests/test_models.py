"""Trainable spaces build torch models of the right shape; the operation table; hardware costs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import metanas  # noqa: E402
from metanas.evaluation.hardware import (  # noqa: E402
    count_flops,
    count_params,
    hardware_name,
    measure_latency_ms,
)
from metanas.models import CHAIN_OPS, OPS, BlockSpec, build_chain_cnn  # noqa: E402
from metanas.models.ops import CELL_OPS, conv_out_size  # noqa: E402
from metanas.spaces import NB201Space, create_space, space_from_config  # noqa: E402
from metanas.spaces.trainable import CNN_OPS, CNNSpace, MLPSpace  # noqa: E402

SHAPES = [(7,), (2, 12), (1, 8, 8), (3, 1, 5), (1, 1)]
SPACES = [MLPSpace(), CNNSpace(), NB201Space()]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_random_architectures_build_with_the_right_output_shape(space, shape):
    rng = np.random.default_rng(len(shape))
    for _ in range(3 if space.name == "nb201" else 6):
        arch = space.sample(rng)
        model = space.build_model(arch, shape, 4, seed=0).eval()
        out = model(torch.randn(3, *shape))
        assert out.shape == (3, 4), space.format(arch)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_build_model_is_deterministic_in_seed_and_leaves_global_rng_alone(space):
    arch = space.sample(np.random.default_rng(1))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = space.build_model(arch, (1, 10), 3, seed=5)
    assert torch.equal(torch.rand(1), before)  # global generator untouched
    b = space.build_model(arch, (1, 10), 3, seed=5)
    c = space.build_model(arch, (1, 10), 3, seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)


def test_registered_and_rebuilt_from_config():
    space = create_space("cnn", max_blocks=3)
    assert isinstance(space, CNNSpace)
    assert space.max_blocks == 3
    assert space_from_config(space.to_config()) == space
    assert space_from_config(MLPSpace(max_layers=2).to_config()) == MLPSpace(max_layers=2)
    assert space_from_config(CNNSpace().to_config()) != space
    no_stem = CNNSpace(stem_channels=0)
    assert space_from_config(no_stem.to_config()).stem_channels == 0


def test_cnn_stem_is_a_setting_not_a_decision():
    arch = CNNSpace().sample(np.random.default_rng(0))
    with_stem = CNNSpace(stem_channels=8).build_model(arch, (2, 10), 3, seed=0)
    without = CNNSpace(stem_channels=0).build_model(arch, (2, 10), 3, seed=0)
    first = next(m for m in with_stem.modules() if isinstance(m, torch.nn.Conv1d))
    assert (first.in_channels, first.out_channels, first.kernel_size) == (2, 8, (3,))
    assert count_params(with_stem) != count_params(without)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_blocks"):
        CNNSpace(max_blocks=0)
    with pytest.raises(ValueError, match="max_layers"):
        MLPSpace(max_layers=9)


def _mlp(**kw):
    base = {
        "n_layers": 2,
        "width_1": 64,
        "width_2": 32,
        "width_3": 32,
        "width_4": 32,
        "activation": "relu",
        "dropout": 0.0,
        "norm": "none",
    }
    base.update(kw)
    return MLPSpace().validate(base)


def test_mlp_key_ignores_inactive_widths():
    space = MLPSpace()
    a, b = _mlp(width_3=512, width_4=256), _mlp()
    assert a != b
    assert space.key(a) == space.key(b)
    assert space.key(_mlp(width_2=128)) != space.key(b)
    model = space.build_model(a, (5,), 2, seed=0)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [64, 32, 2]


def test_n_unique_counts_canonical_networks():
    space = MLPSpace(max_layers=2)
    # 1 layer: 5 widths; 2 layers: 25 -> 30 networks x 4 act x 3 dropout x 3 norm
    assert space.n_unique == 30 * 36
    assert space.size == 2 * 25 * 36
    assert space.n_unique == len({space.key(a) for a in space.enumerate()})
    cnn = CNNSpace(max_blocks=1)
    assert cnn.n_unique == len({cnn.key(a) for a in cnn.enumerate()}) == 36 * (1 + 44)


def _cnn(blocks, **kw):
    space = CNNSpace()
    arch = {
        "n_blocks": len(blocks),
        "activation": "relu",
        "norm": "batch",
        "residual": False,
        "head": "avg",
    }
    for i in range(1, 5):
        op, ch, st = blocks[i - 1] if i <= len(blocks) else ("conv3", 16, 1)
        arch.update({f"op_{i}": op, f"channels_{i}": ch, f"stride_{i}": st})
    arch.update(kw)
    return space.validate(arch)


def test_cnn_key_drops_inactive_and_identity_blocks_and_pool_channels():
    space = CNNSpace()
    a = _cnn([("conv3", 32, 1), ("identity", 64, 2), ("max_pool", 128, 2)])
    b = _cnn([("conv3", 32, 1), ("max_pool", 16, 2)], op_4="conv7", channels_4=128)
    assert space.key(a) == space.key(b)
    assert space.key(a)["n_blocks"] == 2
    assert space.key(a) != space.key(_cnn([("conv3", 32, 1), ("max_pool", 16, 1)]))
    only_skip = _cnn([("identity", 64, 2)])
    assert space.key(only_skip) == space.key(_cnn([("identity", 16, 1)], op_2="conv5"))
    # equal keys build the same network
    x = torch.randn(2, 1, 20)
    ma = space.build_model(a, (1, 20), 3, seed=0).eval()
    mb = space.build_model(b, (1, 20), 3, seed=0).eval()
    assert torch.equal(ma(x), mb(x))


def test_mutate_changes_the_network():
    for space in (MLPSpace(), CNNSpace()):
        rng = np.random.default_rng(0)
        arch = space.sample(rng)
        for _ in range(30):
            child = space.mutate(arch, rng)
            assert space.key(child) != space.key(arch)
            arch = child


def test_cnn_strides_never_shrink_below_one_and_follow_ceil():
    blocks = [BlockSpec("conv3", 8, 2)] * 6
    model = build_chain_cnn((1, 5), 2, blocks, head="flatten")
    # 5 -> 3 -> 2 -> 1 -> 1 -> 1 -> 1: the flatten head sees 8 channels x 1 position
    assert model[-1].in_features == 8
    img = build_chain_cnn((1, 1, 6), 2, [BlockSpec("max_pool", 8, 2)] * 2, head="flatten")
    assert img[-1].in_features == 1 * 1 * 2  # pools keep the 1 channel; H stays 1, W 6 -> 3 -> 2
    assert conv_out_size((5, 1), (2, 1)) == (3, 1)


def test_cnn_residual_adds_projection_where_shapes_differ():
    arch = _cnn([("conv3", 32, 2), ("conv3", 32, 1)], residual=True)
    model = CNNSpace().build_model(arch, (1, 16), 3, seed=0)
    res = [m for m in model.modules() if type(m).__name__ == "ResidualBlock"]
    assert len(res) == 2
    assert not isinstance(res[0].shortcut, torch.nn.Identity)
    assert isinstance(res[1].shortcut, torch.nn.Identity)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dims", [1, 2])
def test_every_operation_maps_shapes_like_the_table_says(name, dims):
    size = (7,) if dims == 1 else (5, 6)
    for c_in, c_out, stride in ((4, 4, 1), (4, 8, 2)):
        op = OPS[name](c_in, c_out, stride, dims, act="gelu", norm="batch").eval()
        out = op(torch.randn(2, c_in, *size))
        assert out.shape == (2, c_out, *conv_out_size(size, stride)), name


def test_op_table_holds_both_families():
    assert set(CHAIN_OPS) | set(CELL_OPS) == set(OPS)
    assert tuple(CHAIN_OPS) == CNN_OPS  # the space's choices are the table's names
    from metanas.spaces.nb201 import NB201_OPS

    assert tuple(CELL_OPS) == NB201_OPS


def test_nb201_all_none_cell_still_gives_logits_and_cells_stack():
    space = NB201Space()
    arch = space.validate({e: "none" for e in space.EDGES})
    model = space.build_model(arch, (1, 8, 8), 5, seed=0, n_cells=2).eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 5)
    cells = [m for m in model.modules() if type(m).__name__ == "NB201Cell"]
    assert len(cells) == 6


def test_params_flops_latency():
    space = MLPSpace()
    narrow = space.build_model(_mlp(width_1=32), (10,), 3, seed=0)
    wide = space.build_model(_mlp(width_1=512), (10,), 3, seed=0)
    assert count_params(narrow) == sum(p.numel() for p in narrow.parameters())
    assert count_params(narrow) == (10 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3)
    f_narrow, f_wide = count_flops(narrow, (10,)), count_flops(wide, (10,))
    assert f_narrow == 2 * (10 * 32 + 32 * 32 + 32 * 3)
    assert f_wide > f_narrow
    narrow.train()
    assert measure_latency_ms(narrow, (10,), 1, repeats=3, warmup=1) > 0
    assert narrow.training  # mode restored
    cnn = CNNSpace().build_model(_cnn([("conv5", 32, 1)]), (1, 20), 3, seed=0)
    assert count_flops(cnn, (1, 20)) > 2 * 32 * 5 * 20
    assert "torch threads" in hardware_name()
    with pytest.raises(ValueError, match="repeats"):
        measure_latency_ms(narrow, (10,), 1, repeats=0)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_notation_round_trip_keeps_the_network(name: str) -> None:
    space = metanas.spaces.create_space(name)
    rng = np.random.default_rng(7)
    for _ in range(300):
        arch = space.sample(rng)
        text = space.format(arch)
        assert "{" not in text  # a readable notation, not JSON
        assert space.key(space.parse(text)) == space.key(arch)


def test_notation_errors_name_the_expected_form() -> None:
    cnn = metanas.spaces.create_space("cnn")
    with pytest.raises(metanas.InvalidArchitectureError, match="write it like"):
        cnn.parse("conv3x32 > conv5")
    with pytest.raises(metanas.InvalidArchitectureError, match="at most 4"):
        cnn.parse(
            "conv3x32 > conv3x32 > conv3x32 > conv3x32 > conv3x32 | relu, batch-norm, "
            "plain, avg-head"
        )
    mlp = metanas.spaces.create_space("mlp")
    with pytest.raises(metanas.InvalidArchitectureError, match="write it like"):
        mlp.parse("256-x | relu")
    assert mlp.format(mlp.parse("64 | tanh, dropout 0.3, layer-norm")) == (
        "64 | tanh, dropout 0.3, layer-norm"
    )


def test_few_shot_operations_come_from_the_table_with_group_norm():
    """One operation table: the few-shot supernet's candidates are built by metanas.models."""
    from metanas.models.ops import make_norm
    from metanas.models.supernet import FEWSHOT_OPS, fewshot_operation

    x = torch.randn(2, 8, 12)
    for name in FEWSHOT_OPS:
        op = fewshot_operation(name, 8, two_d=False)
        assert op(x).shape == x.shape, name
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in op.modules())
    conv = fewshot_operation("dilconv3", 8, two_d=True)
    kinds = [type(m).__name__ for m in conv]
    assert kinds == ["ReLU", "Conv2d", "GroupNorm"]  # pre-activation, no batch statistics
    assert conv[1].dilation == (2, 2)
    assert conv[1].bias is None
    assert make_norm("group", 6, 1).num_groups == 2
    with pytest.raises(ValueError, match=r"Unknown norm 'layer'.*'group'"):
        make_norm("layer", 8, 1)
    with pytest.raises(ValueError, match="operation"):
        fewshot_operation("conv9", 8, two_d=False)


def test_one_supernet_keeps_the_outputs_of_the_two_it_replaced():
    """Seeded forward passes recorded before one-shot and few-shot shared models.supernet."""
    from metanas.models import CellSuperNet, seeded_init
    from metanas.oneshot.supernet import build_supernet
    from metanas.spaces import CNNSpace, NB201Space

    def first(out: torch.Tensor) -> list[float]:
        return out.detach().flatten()[:4].tolist()

    with seeded_init(3):
        net = CellSuperNet((1, 40), 5, hidden=8, n_cells=2, n_nodes=2)
        x = torch.randn(4, 1, 40)
    net.eval()
    assert first(net(x)) == pytest.approx(
        [-0.054221898317337036, 0.1700240820646286, -0.00039957091212272644, -0.07155120372772217],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    with seeded_init(4):
        net = CellSuperNet((1, 8, 8), None, hidden=8, n_cells=1, n_nodes=3)
        x = torch.randn(3, 1, 8, 8)
    assert first(net(x)) == pytest.approx(
        [0.9371710419654846, 0.696173369884491, 0.6634242534637451, 0.29848363995552063],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    one = build_supernet(NB201Space(), (1, 16), 4, seed=5, channels=8)
    with seeded_init(6):
        x = torch.randn(3, 1, 16)
        one.alphas.data.normal_()
    one.eval()
    assert first(one(x)) == pytest.approx(
        [-0.1483338624238968, 0.0765845775604248, 0.03703354299068451, 0.002840377390384674],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    assert first(one(x, [1, 2, 3, 4, 0, 3])) == pytest.approx(
        [-0.16655348241329193, 0.08961408585309982, 0.058621812611818314, 0.02883104979991913],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    chain = build_supernet(CNNSpace(max_blocks=3), (1, 16), 4, seed=7)
    with seeded_init(8):
        x = torch.randn(3, 1, 16)
        chain.alphas.data.normal_()
    chain.eval()
    assert first(chain(x)) == pytest.approx(
        [0.2014520764350891, -0.3397909998893738, 0.47881558537483215, 0.044671036303043365],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    assert first(chain(x, [0, 4, 2])) == pytest.approx(
        [0.006894256919622421, -0.004738770425319672, -0.03638507425785065, 0.19274544715881348],
        rel=1e-5, abs=1e-6,
    )  # fmt: skip
    assert [op for op in chain.derive().values() if str(op).endswith("pool")] == [
        "max_pool", "max_pool", "avg_pool",
    ]  # fmt: skip


def test_cell_supernet_runs_sampled_sub_networks_and_reports_weights():
    from metanas.models import CellSuperNet

    net = CellSuperNet((1, 16), 3, hidden=4, n_cells=1, n_nodes=2, ops=("zero", "skip", "conv3"))
    assert [name for name, _ in net.decisions] == ["cell0.edge0", "cell0.edge1", "cell0.edge2"]
    x = torch.randn(2, 1, 16)
    assert net(x, [1, 2, 1]).shape == (2, 3)
    with pytest.raises(ValueError, match="one index per decision"):
        net(x, [1])
    weights = net.weights_dict()
    assert set(weights["cell0.edge0"]) == {"zero", "skip", "conv3"}
    assert sum(weights["cell0.edge1"].values()) == pytest.approx(1.0)
    net.alphas.data[0, :, 0] = 10.0  # "zero" strongest everywhere: never derived
    assert "zero" not in net.genotype()[0]


def test_models_package_and_spaces_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, metanas.spaces, metanas.models; "
        "from metanas.models import CHAIN_OPS; from metanas._registry import available; "
        "available('oneshot'); available('fewshot'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_deterministic_cuda_scope_sets_and_restores_torch_flags() -> None:
    import os

    from metanas.models.networks import deterministic_cuda

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.backends.cudnn.benchmark = True
    try:
        with deterministic_cuda():
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert torch.backends.cudnn.deterministic
            assert not torch.backends.cudnn.benchmark
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
            with deterministic_cuda():  # nested: still on, and the outer exit restores
                pass
            assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark  # the caller's choice is back
        assert torch.are_deterministic_algorithms_enabled() == before[0]
        assert torch.backends.cudnn.deterministic == before[1]
    finally:
        torch.backends.cudnn.benchmark = before[2]
