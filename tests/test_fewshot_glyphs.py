"""The Omniglot-like glyph source, group-preserving class splits and the MetaNAS ablations."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("HersheyFonts", reason="pip install Hershey-Fonts")

from metanas.fewshot import EpisodeSampler, FewShotDataset, split_classes
from metanas.fewshot import glyphs as gl

_SQUARE = [np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])]
_CROSS = [np.array([[0.0, 0.5], [1.0, 0.5]]), np.array([[0.5, 0.0], [0.5, 1.0]])]
_SLASH = [np.array([[0.0, 0.0], [1.0, 1.0]])]


def _items() -> list[tuple[str, str, str, list[np.ndarray]]]:
    return [
        ("fontA", "latin", "A", _SQUARE),
        ("fontB", "latin", "A", _SLASH),  # another shape of the same letter: same unit
        ("fontA", "latin", "B", _CROSS),
        ("fontC", "greek", "B", [s + 0.001 for s in _CROSS]),  # a copy of the cross: dropped
        ("fontA", "latin", "C", [s * 2.0 for s in _SQUARE]),  # the square, scaled: dropped
    ]


def test_render_gives_distinct_inked_drawings_reproducibly() -> None:
    styles = gl._drawer_styles(4, np.random.default_rng(0))
    a = gl._render_class(gl._normalise(_CROSS), 12, styles, np.random.default_rng(1))
    b = gl._render_class(gl._normalise(_CROSS), 12, styles, np.random.default_rng(1))
    assert a.shape == (4, 12, 12)
    assert a.min() >= 0.0
    assert a.max() <= 1.0
    assert a.max() > 0.9
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # every drawer draws differently


def test_units_join_one_letter_and_drop_copies() -> None:
    keep, units = gl._units(_items())
    assert keep == [0, 1, 2]
    assert units[0] == units[1]  # "A" of two latin fonts
    assert units[2] != units[0]


def test_glyph_arrays_cache_carries_version_and_is_read_back(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(gl, "_strokes", _items)
    g = gl.glyph_arrays.__wrapped__(8, 3, 0)
    assert g.X.shape == (9, 1, 8, 8)
    assert g.y.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert g.names == ("fontA/A", "fontB/A", "fontA/B")
    assert g.units == (0, 0, 1)
    files = list((tmp_path / "metanas").iterdir())  # type: ignore[operator]
    assert [f.name for f in files] == [f"glyphs-v{gl.GLYPHS_VERSION}-8px-3d-s0.npz"]

    def fail() -> None:
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(gl, "_strokes", fail)
    again = gl.glyph_arrays.__wrapped__(8, 3, 0)
    np.testing.assert_array_equal(again.X, g.X)
    assert again.units == g.units
    assert not again.X.flags.writeable


def _grouped(n_classes: int = 30, group_size: int = 3) -> FewShotDataset:
    y = np.repeat(np.arange(n_classes), 4)
    X = np.random.default_rng(0).random((len(y), 1, 4, 4)).astype(np.float32)
    groups = {c: c // group_size for c in range(n_classes)}
    return FewShotDataset("grouped", X, y, "image", groups)


def test_split_keeps_groups_together_and_is_seeded() -> None:
    ds = _grouped()
    split = split_classes(ds, test_fraction=0.3, valid_fraction=0.2, seed=3)
    parts = [split.train_classes, split.valid_classes, split.test_classes]
    group_sets = [{c // 3 for c in part} for part in parts]
    assert all(not (a & b) for i, a in enumerate(group_sets) for b in group_sets[i + 1 :])
    assert sorted(c for p in parts for c in p) == list(range(30))
    assert len(split.test_classes) == 9
    assert len(split.valid_classes) == 6
    assert split.test.class_groups == {c: c // 3 for c in split.test_classes}
    again = split_classes(ds, test_fraction=0.3, valid_fraction=0.2, seed=3)
    assert again.test_classes == split.test_classes
    other = split_classes(ds, test_fraction=0.3, valid_fraction=0.2, seed=4)
    assert other.test_classes != split.test_classes


def test_split_rounds_up_to_a_whole_group() -> None:
    split = split_classes(_grouped(30, 4), test_fraction=0.3, seed=0)  # 9 asked, groups of 4
    assert len(split.test_classes) in (10, 11, 12)  # the last group is not cut
    assert len({c // 4 for c in split.test_classes} & {c // 4 for c in split.train_classes}) == 0


@pytest.fixture(scope="module")
def digits_sampler() -> EpisodeSampler:
    from metanas.fewshot import fewshot_dataset

    split = split_classes(fewshot_dataset("digits"), seed=0)
    return EpisodeSampler(split.train, ways=3, shots=1, queries=2, seed=0)


@pytest.mark.slow
def test_metanas_frozen_keeps_the_architecture(digits_sampler: EpisodeSampler) -> None:
    torch = pytest.importorskip("torch")
    from metanas.fewshot import make_learner

    learner = make_learner("metanas-frozen", hidden=4, ops=("skip", "conv3"), seed=0)
    learner.meta_train(digits_sampler, 1, meta_batch=1)
    start = learner.supernet.alphas.detach().clone()  # type: ignore[attr-defined]
    before = [p.detach().clone() for p in learner.model.parameters()]  # type: ignore[union-attr]
    learner.meta_train(digits_sampler, 2, meta_batch=2)
    assert torch.equal(learner.supernet.alphas.detach(), start)  # type: ignore[attr-defined]
    after = list(learner.model.parameters())  # type: ignore[union-attr]
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert learner.alpha_drift(digits_sampler, 2) == 0.0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_metanas_reptile_adapts_architecture_and_discretises(
    digits_sampler: EpisodeSampler,
) -> None:
    torch = pytest.importorskip("torch")
    from metanas.fewshot import MetaNASReptile

    learner = MetaNASReptile(
        hidden=4, ops=("skip", "conv3"), inner_steps=2, test_steps=2, discrete_steps=1,
        alpha_inner_lr=5.0, seed=0,
    )  # fmt: skip
    learner.meta_train(digits_sampler, 2, meta_batch=2)
    assert learner.alpha_drift(digits_sampler, 2) > 0.0  # adapted per task
    ep = digits_sampler.episode(0)
    theta = {k: v.detach() for k, v in learner._params().items()}
    sx, sy = torch.as_tensor(ep.support_x), torch.as_tensor(ep.support_y)
    hard = learner._discrete(learner._sgd(theta, sx, sy, 2), sx, sy)["alphas"]
    assert ((hard == 0.0).sum(-1) == 1).all()
    assert ((hard == -1e4).sum(-1) == 1).all()
    acc = learner.episode_accuracies(digits_sampler, 2)
    assert acc.shape == (2,)
    assert ((acc >= 0) & (acc <= 1)).all()


def test_metanas_reptile_anneals_the_softmax_temperature(
    digits_sampler: EpisodeSampler,
) -> None:
    torch = pytest.importorskip("torch")
    from metanas.fewshot import MetaNASReptile

    learner = MetaNASReptile(
        hidden=4, ops=("skip", "conv3"), inner_steps=1, test_steps=1, discrete_steps=0,
        temperature=(1.0, 0.2), seed=0,
    )  # fmt: skip
    seen: list[float] = []
    learner.meta_train(
        digits_sampler, 4, meta_batch=1, callback=lambda i, loss: seen.append(
            learner.supernet.temperature
        ),
    )  # fmt: skip
    np.testing.assert_allclose(seen, [1.0, 0.8, 0.6, 0.4])  # linear in the meta-updates
    learner.episode_accuracies(digits_sampler, 1)
    assert learner.supernet.temperature == pytest.approx(0.2)  # new tasks: the end value
    net = learner.supernet
    a = torch.randn_like(net.alphas)
    np.testing.assert_allclose(
        net.probabilities(a).detach().numpy(),
        torch.softmax(a / 0.2, dim=-1).detach().numpy(),
        rtol=1e-6,
    )


@pytest.mark.parametrize("bad", [(1.0,), (1.0, 0.0), (float("nan"), 0.1), 0.1])
def test_metanas_reptile_refuses_a_bad_temperature(bad: object) -> None:
    pytest.importorskip("torch")
    from metanas.fewshot import MetaNASReptile

    with pytest.raises(ValueError, match="temperature"):
        MetaNASReptile(temperature=bad)  # type: ignore[arg-type]
