"""One-shot search: supernets, DARTS (first and second order), ENAS, latency table, runner."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import metanas  # noqa: E402
from metanas.oneshot import (  # noqa: E402
    Controller,
    DartsSearch,
    EnasSearch,
    build_supernet,
    measure_latency_table,
    run_oneshot,
)
from metanas.spaces import CNNSpace, MLPSpace, NB201Space  # noqa: E402
from metanas.tasks import Task  # noqa: E402


@pytest.fixture(scope="module")
def task() -> Task:
    """A tiny sequence task: the class is where a bump sits (3 classes, length 12)."""
    rng = np.random.default_rng(0)
    n, length = 240, 12
    y = rng.integers(0, 3, size=n)
    X = rng.normal(0.0, 0.3, size=(n, 1, length)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, 0, 4 * c : 4 * c + 3] += 2.0
    return Task.from_arrays(X, y, name="bumps", seed=0)


def small_cnn() -> CNNSpace:
    return CNNSpace(max_blocks=2, stem_channels=16)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny models: one torch thread is faster than several on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def batch_loss(net: torch.nn.Module, task: Task) -> float:
    """Training loss over the whole training split (batch statistics, as in training)."""
    x = torch.as_tensor(task.X_train)
    y = torch.as_tensor(task.y_train)
    net.train()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(net(x), y).item())


# ---------------------------------------------------------------- supernets
def test_cnn_supernet_masks_candidates_that_do_not_fit_a_block(task: Task) -> None:
    net = build_supernet(small_cnn(), task.input_shape, task.n_classes, seed=0)
    ops = [op for _, op in net.decisions]
    identity = ops[0].index("identity")
    # Block 1 keeps shape (stride 1, 16 -> 16 channels); block 2 strides: no identity.
    assert bool(net.mask[0, identity])
    assert not bool(net.mask[1, identity])
    assert net(torch.as_tensor(task.X_train[:5])).shape == (5, 3)
    assert net(torch.as_tensor(task.X_train[:5]), [0, 1]).shape == (5, 3)
    with torch.no_grad():
        net.alphas[1, identity] = 10.0  # masked: never derived
    arch = net.derive()
    assert arch["op_2"] != "identity"
    assert small_cnn().validate(arch) == arch


def test_nb201_derive_never_picks_none_and_is_valid(task: Task) -> None:
    space = NB201Space()
    net = build_supernet(space, task.input_shape, task.n_classes, seed=0, channels=4)
    with torch.no_grad():
        net.alphas.zero_()
        net.alphas[:, 0] = 5.0  # 'none' largest everywhere
        net.alphas[:, 3] = 1.0  # then nor_conv_3x3
    arch = net.derive()
    assert space.validate(arch) == arch
    assert {arch[e] for e in NB201Space.EDGES} == {"nor_conv_3x3"}
    assert net.choice_of(arch) == [3] * 6


def test_supernet_rejects_spaces_without_one(task: Task) -> None:
    with pytest.raises(TypeError, match="nb201' or 'cnn"):
        build_supernet(MLPSpace(), task.input_shape, task.n_classes)
    with pytest.raises(ValueError, match="unknown key"):
        build_supernet(small_cnn(), task.input_shape, task.n_classes, skeleton={"depth": 2})


# ---------------------------------------------------------------- DARTS
@pytest.mark.slow
def test_darts_steps_move_alphas_and_lower_the_training_loss(task: Task) -> None:
    space = small_cnn()
    net = build_supernet(space, task.input_shape, task.n_classes, seed=0)
    before_alpha = net.alphas.detach().clone()
    before = batch_loss(net, task)
    search = DartsSearch(net, task, order=1, batch_size=32, lr=0.2, seed=0)
    rows = search.fit(4)
    assert len(rows) == 4
    assert search.n_steps == 4 * search.steps_per_epoch
    assert not torch.allclose(net.alphas.detach(), before_alpha)
    assert batch_loss(net, task) < 0.8 * before
    assert space.validate(search.derive()) == search.derive()


def test_darts_is_deterministic_for_a_seed(task: Task) -> None:
    alphas = []
    for _ in range(2):
        net = build_supernet(small_cnn(), task.input_shape, task.n_classes, seed=1)
        DartsSearch(net, task, batch_size=32, seed=3).fit(1)
        alphas.append(net.alphas.detach().clone())
    assert torch.equal(alphas[0], alphas[1])


def test_second_order_adds_a_hessian_term(task: Task) -> None:
    grads = {}
    for order in (1, 2):
        net = build_supernet(small_cnn(), task.input_shape, task.n_classes, seed=0)
        search = DartsSearch(net, task, order=order, batch_size=32, seed=0)
        search.fit(1)
        start = net.alphas.detach().clone()
        search.step()
        grads[order] = net.alphas.detach() - start
        assert torch.isfinite(net.alphas).all()
    # Same data, same weights: only the unrolled gradient differs.
    assert not torch.allclose(grads[1], grads[2])
    with pytest.raises(ValueError, match="order must be 1"):
        DartsSearch(net, task, order=3)


# ---------------------------------------------------------------- ENAS
def test_controller_update_makes_a_rewarded_choice_more_likely() -> None:
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2, 3] = False
    ctrl = Controller(mask, seed=0)
    gen = torch.Generator().manual_seed(0)
    choices, _, _ = ctrl.sample(200, gen)
    assert not (choices[:, 2] == 3).any()  # masked choice never sampled
    good, bad = [1, 2, 0], [3, 0, 1]
    before = ctrl.log_prob([good]).item()
    opt = torch.optim.Adam(ctrl.parameters(), lr=0.05)
    for _ in range(10):
        log_p = ctrl.log_prob([good, bad])
        loss = -(torch.tensor([1.0, -1.0]) * log_p).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert ctrl.log_prob([good]).item() > before + 1.0
    assert ctrl.greedy() == good


def test_enas_search_changes_the_sampling_distribution_and_derives(task: Task) -> None:
    space = small_cnn()
    net = build_supernet(space, task.input_shape, task.n_classes, seed=0)
    search = EnasSearch(net, task, batch_size=32, controller_steps=5, n_final=4, seed=0)
    before = search.controller.probabilities()
    search.fit(2)
    after = search.controller.probabilities()
    assert not np.allclose(np.concatenate(before), np.concatenate(after))
    assert search.baseline is not None
    assert 0.0 <= search.baseline <= 1.0
    arch = search.derive()
    assert space.validate(arch) == arch
    assert len(search.final_scores) <= 4


# ---------------------------------------------------------------- latency
def test_latency_table_and_the_penalty_push_expected_latency_down(task: Task) -> None:
    net = build_supernet(small_cnn(), task.input_shape, task.n_classes, seed=0)
    table = measure_latency_table(net, repeats=3, warmup=1)
    mask = net.mask.numpy()
    assert (table.table_ms[mask] > 0).all()
    assert np.isnan(table.table_ms[~mask]).all()
    uniform = float(table.expected(net.probabilities()).item())
    # The calibrated fixed part is below any whole network's estimate (the ops add to it).
    assert table.scale > 0
    assert 0 <= table.base_ms < uniform
    # A limit far below anything reachable: the penalty dominates the architecture loss.
    search = DartsSearch(
        net, task, batch_size=32, seed=0, latency=table, max_latency_ms=1e-3,
        latency_weight=10.0,
    )  # fmt: skip
    search.fit(1)
    assert search.history[-1]["expected_latency_ms"] < uniform
    fastest = table.table_ms[0][mask[0]].min()
    assert table.estimate(net.derive_indices()) <= table.base_ms + fastest + np.nanmax(
        table.table_ms[1]
    )
    with pytest.raises(ValueError, match="needs latency="):
        DartsSearch(net, task, max_latency_ms=1.0)


def test_fit_to_latency_picks_the_most_likely_network_within_the_limit() -> None:
    from metanas.oneshot.latency import LatencyTable, fit_to_latency

    table = LatencyTable(
        decisions=("a", "b"), candidates=(("x", "y", "z"), ("x", "y", "z")),
        table_ms=np.array([[3.0, 2.0, 1.0], [3.0, 1.0, np.nan]]), base_ms=1.0,
    )  # fmt: skip
    allowed = ~np.isnan(table.table_ms)
    log_p = np.log(np.array([[0.6, 0.3, 0.1], [0.5, 0.5, 1e-9]]))
    assert fit_to_latency(log_p, allowed, table, 10.0, [0, 0]) == [0, 0]  # within: unchanged
    # Limit 5 ms: (x, y) = 1 + 3 + 1 is the most likely within it (0.6 * 0.5).
    assert fit_to_latency(log_p, allowed, table, 5.0, [0, 0]) == [0, 1]
    assert table.estimate([0, 1]) == 5.0
    # A masked candidate never fits: infinite, not NaN (NaN > limit is False).
    assert table.estimate([0, 2]) == np.inf
    # Out of reach: the fastest network.
    assert fit_to_latency(log_p, allowed, table, 0.5, [0, 0]) == [2, 1]


# ---------------------------------------------------------------- runner
def test_run_oneshot_stores_a_study_with_one_completed_trial(task: Task, study_name: str) -> None:
    url = "sqlite://"
    result = run_oneshot(
        task, small_cnn(), "darts", epochs=1, seed=0, storage=url, study_name=study_name,
        retrain_epochs=2, search_settings={"batch_size": 32},
        evaluator_settings={"latency_repeats": 2},
    )  # fmt: skip
    assert result.study_name == study_name
    study = metanas.load_study(study_name, storage=url)
    assert [t.state for t in study.trials] == [metanas.TrialState.COMPLETE]
    trial = study.trials[0]
    assert trial.arch == result.arch
    assert result.valid_accuracy == trial.metrics["valid_accuracy"]
    assert math.isfinite(result.test_accuracy)
    assert result.search_s > 0
    assert result.retrain_s > 0
    attrs = study.user_attrs
    assert attrs["oneshot"]["method"] == "darts"
    assert set(attrs["oneshot"]["alphas"]) == {"op_1", "op_2"}
    assert attrs["evaluator"]["max_epochs"] == 2
    assert attrs["task_source"] == dict(task.source)
    assert result.meets_limit is None
    assert result.latency_ms > 0
    # Stored under the method's real name, with the architecture weights per epoch and block.
    assert metanas.storage.rdb.get_storage(url).get_study(study_name).strategy == "darts"
    (epoch,) = attrs["arch_weights"]
    assert epoch["epoch"] == 1
    assert set(epoch["weights"]) == {"op_1", "op_2"}
    assert "conv3" in epoch["weights"]["op_1"]
    assert sum(epoch["weights"]["op_2"].values()) == pytest.approx(1.0)
    # A stored run is a record, not a search to go on: asking explains what to run instead.
    with pytest.raises(metanas.exceptions.MetanasError, match=r"one-shot method 'darts'.*"
                       r"`metanas oneshot \.\.\.` again"):  # fmt: skip
        study.ask()
    assert len(study.trials) == 1


def test_run_oneshot_latency_limit_is_reported(task: Task, study_name: str) -> None:
    result = run_oneshot(
        task, small_cnn(), "enas", epochs=1, seed=0, storage="sqlite://",
        study_name=study_name, retrain_epochs=1, max_latency_ms=1e3, latency_retries=0,
        search_settings={"batch_size": 32, "controller_steps": 2, "n_final": 2},
    )  # fmt: skip
    assert result.meets_limit is True
    assert result.estimated_latency_ms is not None
    assert result.estimated_latency_ms > 0
    # ENAS reports the controller's probabilities along its greedy path.
    assert sum(result.alphas["op_1"].values()) == pytest.approx(1.0)


def test_run_oneshot_retries_with_a_lower_target_when_over_the_limit(
    task: Task, study_name: str
) -> None:
    result = run_oneshot(
        task, small_cnn(), "darts", epochs=1, seed=0, storage="sqlite://",
        study_name=study_name, retrain_epochs=1, max_latency_ms=1e-4, latency_weight=0.5,
        latency_retries=1, search_settings={"batch_size": 32},
    )  # fmt: skip
    assert result.meets_limit is False  # no network runs in 0.1 microseconds
    assert result.latency_target_ms is not None
    assert result.latency_target_ms < 1e-4  # lowered by the size of the miss


def test_search_oneshot_returns_a_search_summary(study_name: str) -> None:
    from metanas.search import search_oneshot

    summary = search_oneshot(
        data="iris", method="darts", space="cnn", epochs=1, retrain_epochs=1, seed=0,
        storage="sqlite://", study_name=study_name,
    )  # fmt: skip
    assert summary["study"] == study_name
    assert summary["n_complete"] == 1
    assert summary["strategy"] == "darts"
    assert summary["wall_time_s"] > 0
    assert "valid_accuracy" in summary["best"]["metrics"]
    assert "test_accuracy" in summary["best"]["test_metrics"]
    assert summary["oneshot"]["arch"] == summary["best"]["arch"]
    with pytest.raises(ValueError, match="nb201 or cnn"):
        search_oneshot(data="iris", method="darts", space="mlp")


def test_oneshot_methods_share_one_base_class_and_registry(task: Task) -> None:
    from metanas._registry import available
    from metanas.oneshot import ONESHOT, OneShotSearch, make_oneshot, register_oneshot

    assert available("oneshot") == ["darts", "darts2", "enas"]
    net = build_supernet(small_cnn(), task.input_shape, task.n_classes, seed=0)
    darts2 = make_oneshot("darts2", net, task, batch_size=32)
    assert isinstance(darts2, DartsSearch)
    assert isinstance(darts2, OneShotSearch)
    assert darts2.order == 2
    assert isinstance(make_oneshot("enas", net, task, batch_size=32), EnasSearch)

    @register_oneshot("test-greedy-darts")
    class GreedyDarts(DartsSearch):
        """A user's method: DARTS that derives without a latency table."""

    try:
        assert "test-greedy-darts" in available("oneshot")
        assert isinstance(make_oneshot("test-greedy-darts", net, task), GreedyDarts)
    finally:
        ONESHOT._items.pop("test-greedy-darts")
    with pytest.raises(TypeError, match="register_oneshot needs"):
        register_oneshot("test-bad")(42)  # type: ignore[arg-type]


def test_run_oneshot_rejects_bad_arguments(task: Task) -> None:
    with pytest.raises(metanas.exceptions.UnknownNameError, match="darts2"):
        run_oneshot(task, "cnn", "gdas")
    with pytest.raises(ValueError, match="epochs must be"):
        run_oneshot(task, "cnn", epochs=0)
    with pytest.raises(ValueError, match="max_latency_ms"):
        run_oneshot(task, "cnn", max_latency_ms=-1.0)


def test_cli_search_darts_on_data_and_bad_combinations(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from metanas.cli import app

    runner = CliRunner()
    url = f"sqlite:///{tmp_path}/runs.db"
    res = runner.invoke(
        app,
        ["search", "--data", "iris", "--space", "cnn", "--strategy", "darts", "--epochs", "1",
         "--storage", url, "--study", "iris-darts", "--json", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_complete"] == 1
    assert metanas.spaces.create_space("cnn").parse(summary["best"]["arch"])
    res = runner.invoke(app, ["search", "--dataset", "cora", "--strategy", "enas"])
    assert res.exit_code == 2
    assert "needs --data" in res.output


def test_latency_derivation_judges_operation_families_by_their_total_mass() -> None:
    """A block whose convolutions hold most of the mass keeps a convolution under a budget,
    even when one pooling op is the single most likely candidate."""
    import numpy as np

    from metanas.models import CHAIN_OPS
    from metanas.oneshot.darts import family_scores, operation_family

    ops = [CHAIN_OPS]  # conv3, conv5, conv7, dil_conv3, sep_conv5, max_pool, avg_pool, identity
    probs = np.array([[0.12, 0.11, 0.11, 0.11, 0.10, 0.25, 0.10, 0.10]])
    assert int(np.argmax(probs)) == 5  # plain argmax: max_pool
    scores = family_scores(probs, ops)
    assert int(np.argmax(scores)) == 0  # conv family (0.55) beats pool (0.35); conv3 within it
    assert scores[0, 5] > scores[0, 7]  # pool family (0.35) beats identity (0.10)
    blocked = family_scores(np.array([[0.5, 0.5, 0, 0, 0, 0, 0, 0]]), ops)
    assert np.isneginf(blocked[0, 2:]).all()
    assert [operation_family(o) for o in ("nor_conv_3x3", "avg_pool_3x3", "none")] == [
        "conv", "pool", "none",
    ]  # fmt: skip
