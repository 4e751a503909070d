"""Few-shot episodes, class splits and the meta-learners (tiny, real torch training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metanas.exceptions import UnknownNameError
from metanas.fewshot import (
    EpisodeSampler,
    FewShotDataset,
    fewshot_dataset,
    make_learner,
    run_fewshot,
    split_classes,
)

torch = pytest.importorskip("torch")


def _indexed(n_classes: int = 8, per_class: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """X holds each row's own index, so an episode can be traced back to its rows."""
    y = np.repeat(np.arange(n_classes) * 10 + 3, per_class)  # labels 3, 13, 23 ... (not 0..n-1)
    X = np.arange(len(y), dtype=np.float32)[:, None]
    return X, y


def _blobs(n_classes: int = 12, per_class: int = 30, dim: int = 6, seed: int = 0) -> FewShotDataset:
    """Trivially separable Gaussian classes (means ~N(0, 3^2), noise 0.3)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 3.0, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), per_class)
    X = means[y] + rng.normal(0.0, 0.3, size=(len(y), dim))
    return fewshot_dataset((X.astype(np.float32), y))


# ---------------------------------------------------------------------- episodes
def test_episode_labels_classes_and_rows() -> None:
    X, y = _indexed()
    sampler = EpisodeSampler(X, y, ways=4, shots=2, queries=3, seed=1)
    for _ in range(5):
        ep = sampler.sample()
        sx, sy, qx, qy = ep
        assert sy.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
        assert qy.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
        assert len(set(ep.classes)) == 4
        rows_s, rows_q = sx[:, 0].astype(int), qx[:, 0].astype(int)
        assert not set(rows_s) & set(rows_q)  # support and query never share an example
        # every example carries the original label of its episode class
        assert [ep.classes[k] for k in sy] == y[rows_s].tolist()
        assert [ep.classes[k] for k in qy] == y[rows_q].tolist()


def test_episodes_are_deterministic_and_indexable() -> None:
    X, y = _indexed()
    a = EpisodeSampler(X, y, ways=3, shots=1, queries=2, seed=7)
    b = EpisodeSampler(X, y, ways=3, shots=1, queries=2, seed=7)
    c = EpisodeSampler(X, y, ways=3, shots=1, queries=2, seed=8)
    first = [a.sample() for _ in range(4)]
    assert all(np.array_equal(e.query_x, b.sample().query_x) for e in first)
    assert np.array_equal(a.episode(2).support_x, first[2].support_x)
    assert any(not np.array_equal(e.query_x, c.sample().query_x) for e in first)
    a.reset()
    assert np.array_equal(a.sample().support_x, first[0].support_x)


def test_split_classes_disjoint_and_valid_examples() -> None:
    X, y = _indexed(n_classes=10)
    split = split_classes((X, y), seed=3)
    assert len(split.train_classes) == len(split.test_classes) == 5
    assert not set(split.train_classes) & set(split.test_classes)
    assert set(split.train_classes) | set(split.test_classes) == set(np.unique(y).tolist())
    assert set(np.unique(split.test.y).tolist()) == set(split.test_classes)
    # without validation classes, meta-val holds other examples of the training classes
    assert not split.valid_disjoint
    assert set(np.unique(split.valid.y).tolist()) == set(split.train_classes)
    assert not set(split.valid.X[:, 0].tolist()) & set(split.train.X[:, 0].tolist())
    assert len(split.valid.y) == 5 * round(0.2 * 12)
    assert split_classes((X, y), seed=3).test_classes == split.test_classes


def test_split_classes_explicit_and_three_way() -> None:
    X, y = _indexed(n_classes=10)
    split = split_classes((X, y), test_classes=[3, 13], valid_classes=[23], seed=0)
    assert split.test_classes == (3, 13)
    assert split.valid_classes == (23,)
    assert split.valid_disjoint
    assert len(split.train_classes) == 7
    three = split_classes((X, y), test_fraction=0.4, valid_fraction=0.2, seed=0)
    sets = [set(three.train_classes), set(three.valid_classes), set(three.test_classes)]
    assert [len(s) for s in sets] == [4, 2, 4]
    assert not (sets[0] & sets[1])
    assert not (sets[0] & sets[2])
    assert not (sets[1] & sets[2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_classes": [3], "train_classes": [3, 13]}, "disjoint"),
        ({"test_classes": [4]}, r"\[4\] are not labels"),
        ({"test_fraction": 1.0}, "test_fraction must be in"),
    ],
)
def test_split_classes_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_classes(_indexed(), **kwargs)  # type: ignore[arg-type]


def test_sampler_errors() -> None:
    X, y = _indexed(n_classes=4, per_class=5)
    with pytest.raises(ValueError, match=r"ways=5 but only 4 classes"):
        EpisodeSampler(X, y, ways=5, shots=1, queries=1)
    with pytest.raises(ValueError, match=r"shots \+ queries = 6 .* class 3 has only 5"):
        EpisodeSampler(X, y, ways=2, shots=1, queries=5)
    with pytest.raises(ValueError, match="shots must be an int >= 1; got 0"):
        EpisodeSampler(X, y, ways=2, shots=0, queries=5)
    with pytest.raises(TypeError, match="integer class labels"):
        EpisodeSampler(X, y + 0.5, ways=2, shots=1, queries=1)


@pytest.mark.slow  # imports scipy (mnist1d) and scikit-learn
def test_fewshot_dataset_builtins_and_errors() -> None:
    state = np.random.get_state()[1].copy()
    ds = fewshot_dataset("mnist1d", n_samples=500, seed=1)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG left alone
    assert ds.X.shape == (500, 1, 40)
    assert ds.X.dtype == np.float32
    assert ds.classes == tuple(range(10))
    assert ds.modality == "sequence"
    assert np.array_equal(fewshot_dataset("mnist1d", n_samples=500, seed=1).X, ds.X)
    digits = fewshot_dataset("digits")
    assert digits.input_shape == (1, 8, 8)
    assert float(digits.X.max()) == 1.0
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        fewshot_dataset("digit")
    with pytest.raises(ValueError, match="modality"):
        fewshot_dataset((np.zeros((4, 1, 2, 3, 4)), np.zeros(4, dtype=int)))


# ---------------------------------------------------------------------- learners
def _samplers(ways: int = 5, shots: int = 1) -> tuple[EpisodeSampler, EpisodeSampler]:
    split = split_classes(_blobs(), test_fraction=0.5, seed=0)
    train = EpisodeSampler(split.train, ways=ways, shots=shots, queries=5, seed=1)
    test = EpisodeSampler(split.test, ways=ways, shots=shots, queries=5, seed=2)
    return train, test


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_inner_adaptation_lowers_query_loss(first_order: bool) -> None:
    train, test = _samplers()
    maml = make_learner("fomaml" if first_order else "maml", hidden=16, inner_lr=0.3,
                        inner_steps=3, meta_lr=3e-3, seed=0)  # fmt: skip
    maml.meta_train(train, n_iterations=10, meta_batch=4)
    assert maml.first_order is first_order  # type: ignore[attr-defined]
    SX, SY, QX, QY = maml._stack(test.batch(8))
    with torch.no_grad():
        before = maml.query_losses(SX, SY, QX, QY, n_steps=0)  # type: ignore[attr-defined]
        after = maml.query_losses(SX, SY, QX, QY)  # type: ignore[attr-defined]
    assert float(after.mean()) < 0.7 * float(before.mean())
    # the public adapt() predictor agrees: adapting improves the query loss of a test task
    sx, sy, qx, qy = test.episode(100)
    steps0 = make_learner("maml", hidden=16, test_steps=0, seed=0)
    steps0.model, steps0.ways, steps0.input_shape = maml.model, 5, maml.input_shape
    assert maml.adapt(sx, sy).loss(qx, qy) < steps0.adapt(sx, sy).loss(qx, qy)


@pytest.mark.parametrize("method", ["reptile", "protonet", "matching"])
def test_learners_beat_chance_on_separable_classes(method: str) -> None:
    train, test = _samplers()
    kwargs = {"inner_lr": 0.3, "inner_steps": 3, "test_steps": 10} if method == "reptile" else {}
    learner = make_learner(method, hidden=16, meta_lr=3e-3, seed=0, **kwargs)
    learner.meta_train(train, n_iterations=15, meta_batch=4)
    acc, ci = learner.evaluate(test, n_episodes=40)
    assert acc > 0.6, f"{method}: accuracy {acc:.2f} on a trivially separable problem"  # chance 0.2
    assert 0 <= ci < 0.2
    sx, sy, qx, qy = test.episode(0)
    assert learner.adapt(sx, sy).predict(qx).shape == qy.shape


def test_learner_is_deterministic_and_checks_use() -> None:
    train, test = _samplers()
    runs = []
    for _ in range(2):
        train.reset()
        lr = make_learner("protonet", hidden=8, seed=5)
        lr.meta_train(train, n_iterations=3, meta_batch=2)
        runs.append((lr.history, lr.evaluate(test, n_episodes=10)))
    assert runs[0] == runs[1]
    from metanas.fewshot import NotMetaTrainedError

    with pytest.raises(NotMetaTrainedError, match="call meta_train"):
        make_learner("maml").evaluate(test, n_episodes=5)
    maml = make_learner("maml", hidden=8, inner_steps=1).meta_train(train, 1, 1)
    with pytest.raises(ValueError, match="meta-trained for 5-way episodes; got 3-way"):
        maml.evaluate(_samplers(ways=3)[1], n_episodes=2)


def test_inner_lrs_by_prefix_freeze_parameters() -> None:
    train, _ = _samplers()
    maml = make_learner("maml", hidden=8, inner_lrs={"head": 0.0}, seed=0)
    maml.meta_train(train, 1, 1)
    params = maml._params()  # type: ignore[attr-defined]
    ep = train.episode(0)
    # on the learner's device: CUDA where a GPU is present
    sx = torch.as_tensor(ep.support_x, device=maml.device)
    sy = torch.as_tensor(ep.support_y, device=maml.device)
    adapted = maml._inner(params, sx, sy, 2)  # type: ignore[attr-defined]
    assert torch.equal(adapted["head.weight"], params["head.weight"])
    assert not torch.equal(adapted["features.1.weight"], params["features.1.weight"])


def test_make_learner_errors() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'protonet'"):
        make_learner("protonets")
    with pytest.raises(ValueError, match="inner_lr must be a finite number > 0; got -1"):
        make_learner("maml", inner_lr=-1)
    with pytest.raises(TypeError, match="builds its own supernet"):
        make_learner("metanas", backbone="conv")


def _seq_samplers(shots: int = 1) -> tuple[EpisodeSampler, EpisodeSampler]:
    blobs = _blobs()
    seq = fewshot_dataset((blobs.X[:, None, :], blobs.y))  # (1, 6) sequences for the conv cells
    split = split_classes(seq, seed=0)
    train = EpisodeSampler(split.train, ways=5, shots=shots, queries=5, seed=1)
    test = EpisodeSampler(split.test, ways=5, shots=shots, queries=5, seed=2)
    return train, test


def _check_genotypes(genotypes: list[tuple[tuple[str, ...], ...]], ops: tuple[str, ...]) -> None:
    assert len(genotypes) == 4
    for g in genotypes:
        assert len(g) == 1  # one cell
        assert len(g[0]) == 3  # 2 nodes: 3 edges
        assert set(g[0]) <= set(ops) - {"zero"}


def test_support_loss_leaves_one_out() -> None:
    from metanas.fewshot.metanas import support_loss

    z = torch.tensor([[0.0], [2.0], [10.0], [12.0]])
    y = torch.tensor([0, 0, 1, 1])
    # leave-one-out: example 0's own prototype is example 1 (distance 4), the other class's
    # prototype is 11 (distance 121)
    expected = -torch.log_softmax(torch.tensor([-4.0, -121.0]), 0)[0]
    assert float(support_loss(z, y, 2)) == pytest.approx(float(expected), rel=1e-5)
    one_shot = support_loss(z[[0, 2]], torch.tensor([0, 1]), 2)  # own prototype: distance 0
    expected = -torch.log_softmax(torch.tensor([0.0, -100.0]), 0)[0]
    assert float(one_shot) == pytest.approx(float(expected))


@pytest.mark.slow  # a supernet: a few seconds on a busy CPU
def test_metanas_adapts_architecture_and_beats_chance() -> None:
    from metanas.fewshot import MetaNAS
    from metanas.fewshot.metanas import support_loss
    from metanas.models import CellSuperNet

    train, test = _seq_samplers(shots=2)
    ops = ("zero", "skip", "conv3", "maxpool3")
    nas = make_learner("metanas", hidden=8, n_cells=1, n_nodes=2, ops=ops, alpha_inner_lr=3.0,
                       inner_steps=2, meta_lr=3e-3, seed=0)  # fmt: skip
    assert isinstance(nas, MetaNAS)
    nas.meta_train(train, n_iterations=8, meta_batch=2)
    assert isinstance(nas.model, CellSuperNet)
    acc, _ = nas.evaluate(test, n_episodes=20)
    assert acc > 0.6  # chance 0.2
    _check_genotypes(nas.adapted_genotypes(test, n_episodes=4), ops)
    assert len(nas.genotype()) == 1
    assert nas.alpha_drift(test, n_episodes=4) > 1e-4  # the inner loop adapts the architecture
    # adapting the architecture lowers the support loss (on a hard support set: noise)
    gen = torch.Generator().manual_seed(0)
    sx, sy = torch.randn(10, 1, 6, generator=gen), torch.arange(10) % 5
    sx, sy = sx.to(nas.device), sy.to(nas.device)  # CUDA where a GPU is present
    meta_alphas = nas.supernet.alphas.detach()
    adapted = nas._adapt_task_alphas(sx, sy, 5, 5).detach()
    with torch.no_grad():
        before = support_loss(nas.supernet(sx, alphas=meta_alphas), sy, 5)
        after = support_loss(nas.supernet(sx, alphas=adapted), sy, 5)
    assert float(after) < float(before) - 1e-3
    frozen = make_learner("metanas", hidden=8, n_cells=1, ops=ops, alpha_inner_lr=0.0, seed=0)
    frozen.meta_train(train, 1, 1)
    assert frozen.alpha_drift(test, n_episodes=2) == 0.0  # type: ignore[attr-defined]
    # deterministic: same seed, same losses
    again = make_learner("metanas", hidden=8, n_cells=1, n_nodes=2, ops=ops, alpha_inner_lr=3.0,
                         inner_steps=2, meta_lr=3e-3, seed=0)  # fmt: skip
    train.reset()
    assert again.meta_train(train, n_iterations=8, meta_batch=2).history == nas.history


def test_run_fewshot_result() -> None:
    r = run_fewshot(_blobs(n_classes=10), 3, 2, "protonet", n_iterations=5, n_episodes=20,
                    queries=4, hidden=8, seed=3)  # fmt: skip
    assert r.method == "protonet"
    assert r.episodes == 20
    assert r.ways == 3
    assert not set(r.train_classes) & set(r.test_classes)
    assert len(r.test_classes) == 5
    assert 0.0 <= r.accuracy <= 1.0
    assert r.ci95 > 0
    assert r.n_params > 0
    assert r.train_time_s > 0
    assert json.loads(json.dumps(r.to_dict()))["test_classes"] == list(r.test_classes)
    with pytest.raises(ValueError, match="ways=6 but only 5 classes"):
        run_fewshot(_blobs(n_classes=10), 6, 1, "protonet", n_iterations=1)


def test_cli_fewshot_json_and_errors() -> None:
    import typer
    from typer.testing import CliRunner

    from metanas.cli.fewshot import fewshot

    app = typer.Typer()
    app.command("fewshot")(fewshot)
    app.command("other")(lambda: None)  # a second command keeps "fewshot" a subcommand
    runner = CliRunner()
    res = runner.invoke(app, ["fewshot", "--data", "digits", "--method", "matching", "--shots",
                              "1", "--iterations", "2", "--episodes", "5", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "matching"
    assert out["episodes"] == 5
    assert out["data"] == "digits"
    res = runner.invoke(app, ["fewshot", "--data", "digits", "--method", "mamll"])
    assert res.exit_code == 2
    assert "Did you mean 'maml'" in res.output
    res = runner.invoke(app, ["fewshot", "--data", "digits", "--ways", "7"])
    assert res.exit_code == 2
    assert "ways=7 but only 5 classes" in res.output


def test_cli_fewshot_json_and_bad_input() -> None:
    import json

    from typer.testing import CliRunner

    from metanas.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        ["fewshot", "--data", "digits", "--method", "protonet", "--iterations", "5",
         "--episodes", "20", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "protonet"
    assert 0.0 <= out["accuracy"] <= 1.0
    assert not set(out["train_classes"]) & set(out["test_classes"])
    res = runner.invoke(app, ["fewshot", "--data", "digits", "--ways", "9", "--iterations", "1"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["fewshot", "--method", "nope", "--iterations", "1"])
    assert res.exit_code == 2


def test_fewshot_methods_are_registered_and_register_method_is_deprecated() -> None:
    from metanas._registry import available
    from metanas.fewshot import FEWSHOT, MAML, register_fewshot, register_method

    assert available("fewshot") == sorted(
        ["maml", "fomaml", "reptile", "protonet", "matching", "metanas", "metanas-frozen",
         "metanas-reptile"]
    )  # fmt: skip
    fomaml = make_learner("FOMAML", hidden=8)
    assert isinstance(fomaml, MAML)
    assert fomaml.first_order

    @register_fewshot("test-wide-protonet")
    def wide(**kwargs: object) -> object:
        return make_learner("protonet", **{**kwargs, "hidden": 64})

    try:
        with pytest.warns(FutureWarning, match="register_fewshot"):
            register_method("Test-Old-Style", lambda **kw: make_learner("maml", **kw))
        assert {"test-wide-protonet", "test-old-style"} <= set(available("fewshot"))
        assert make_learner("test-wide-protonet").hidden == 64  # type: ignore[attr-defined]
        assert isinstance(make_learner("test-old-style"), MAML)
    finally:
        FEWSHOT._items.pop("test-wide-protonet")
        FEWSHOT._items.pop("test-old-style")
    with pytest.raises(UnknownNameError, match="few-shot method 'nope'"):
        make_learner("nope")


def test_run_fewshot_is_stored_as_a_study(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import metanas
    from metanas.exceptions import MetanasError
    from metanas.storage.rdb import get_storage

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    r = run_fewshot(_blobs(n_classes=10), 3, 2, "protonet", n_iterations=3, n_episodes=10,
                    queries=4, hidden=8, seed=3, storage=url,
                    study_name="blobs-protonet")  # fmt: skip
    assert r.study_name == "blobs-protonet"
    assert "study_name" in r.to_dict()
    record = get_storage(url).get_study("blobs-protonet")
    assert record.strategy == "protonet"
    assert record.strategy_settings["hidden"] == 8
    assert record.strategy_settings["ways"] == 3
    study = metanas.load_study("blobs-protonet", storage=url)
    (trial,) = study.trials
    assert trial.state is metanas.TrialState.COMPLETE
    assert trial.metrics["accuracy"] == pytest.approx(r.accuracy)
    assert trial.metrics["ci95"] == pytest.approx(r.ci95)
    accs = study.user_attrs["episode_accuracies"]
    assert len(accs) == 10
    assert float(np.mean(accs)) == pytest.approx(r.accuracy)
    assert study.user_attrs["fewshot"]["method"] == "protonet"
    with pytest.raises(MetanasError, match=r"few-shot method 'protonet'.*metanas fewshot"):
        study.ask()
    # Not stored unless asked: the same run without storage leaves no study behind.
    again = run_fewshot(_blobs(n_classes=10), 3, 2, "protonet", n_iterations=3, n_episodes=10,
                        queries=4, hidden=8, seed=3)  # fmt: skip
    assert again.study_name is None
    assert again.accuracy == r.accuracy


@pytest.mark.slow  # a supernet
def test_run_fewshot_metanas_stores_its_architecture(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import metanas

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ops = ("zero", "skip", "conv3")
    r = run_fewshot("mnist1d", 5, 1, "metanas", n_iterations=2, n_episodes=4, n_samples=600,
                    hidden=8, n_cells=1, n_nodes=1, ops=ops, seed=0, storage=url)  # fmt: skip
    study = metanas.load_study(r.study_name or "", storage=url)
    assert study.trials[0].arch.to_dict().keys() == {"cell0.edge0"}
    assert study.trials[0].arch["cell0.edge0"] in ("skip", "conv3")
    (weights,) = study.user_attrs["arch_weights"]
    assert set(weights["weights"]["cell0.edge0"]) == set(ops)


def test_cli_fewshot_stores_its_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from metanas.cli import app

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["fewshot", "--data", "digits", "--ways", "3", "--shots", "1", "--queries", "2",
            "--iterations", "2", "--episodes", "4", "--method", "protonet", "--storage", url,
            "--json"]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["study_name"] == "digits-3way1shot-protonet-s0"
    again = CliRunner().invoke(app, args)  # the default name never collides
    assert json.loads(again.stdout)["study_name"] == "digits-3way1shot-protonet-s0-2"
    shown = CliRunner().invoke(app, ["studies", "show", "digits-3way1shot-protonet-s0-2",
                                     "--storage", url, "--json"])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["strategy"] == "protonet"
