"""Sequence spaces (seq-cnn, seq-rnn, seq-attn, seq-ngram): building, padding, training, seeds."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation.hardware import count_flops, measure_latency_ms  # noqa: E402
from metanas.evaluation.train import TrainEvaluator  # noqa: E402
from metanas.spaces import (  # noqa: E402
    SeqAttnSpace,
    SeqCNNSpace,
    SeqNgramSpace,
    SeqRNNSpace,
    TrainableSpace,
    create_space,
    space_from_config,
)
from metanas.tasks import Task  # noqa: E402

SPACES = ("seq-cnn", "seq-rnn", "seq-attn", "seq-ngram")
SMALL = {
    "seq-cnn": {"embed_dim": 16, "n_layers": 2, "width": 32, "kernel": 3, "dilation": 2,
                "residual": True, "dropout": 0.0, "activation": "relu", "pool": "max"},
    "seq-rnn": {"embed_dim": 16, "cell": "gru", "width": 32, "n_layers": 1,
                "bidirectional": True, "dropout": 0.0, "pool": "last"},
    "seq-attn": {"width": 32, "heads": 2, "n_layers": 1, "ff_mult": 2, "dropout": 0.0,
                 "pool": "mean"},
    "seq-ngram": {"min_n": 1, "max_n": 2, "buckets": 4096, "embed_dim": 32, "hidden": 0,
                  "dropout": 0.0, "boundary": False},
}  # fmt: skip


def _codes(*texts: str, length: int = 12) -> np.ndarray:
    out = np.zeros((len(texts), 1, length), dtype=np.float32)
    for i, t in enumerate(texts):
        b = [c + 1 for c in t.encode()]
        out[i, 0, : len(b)] = b
    return out


@pytest.fixture(scope="module")
def toy_task() -> Task:
    # The class is whether the word holds a "z" anywhere: position-free, learnable in a few steps.
    rng = np.random.default_rng(0)
    letters = list("abcdefghij")
    texts, labels = [], []
    for i in range(240):
        w = rng.choice(letters, size=int(rng.integers(3, 9))).tolist()
        if i % 2:
            w[int(rng.integers(len(w)))] = "z"
        texts.append("".join(w))
        labels.append("z" if i % 2 else "no")
    return Task.from_texts(texts, labels, name="has-z", max_len=10, seed=0)


@pytest.mark.parametrize("name", SPACES)
def test_sequence_spaces_are_registered_and_round_trip(name: str) -> None:
    space = create_space(name)
    assert isinstance(space, TrainableSpace)
    assert space_from_config(space.to_config()) == space
    assert space_from_config(create_space(name, vocab_size=40).to_config()).vocab_size == 40  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"vocab_size must be an int in \[2, "):
        create_space(name, vocab_size=1)


@pytest.mark.parametrize("name", SPACES)
def test_logits_ignore_padding_and_any_float_batch_is_valid(name: str) -> None:
    space = create_space(name)
    model = space.build_model(SMALL[name], (1, 12), 3, seed=0).eval()
    x = torch.as_tensor(_codes("hello", "hi", ""))
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 3)
        assert torch.isfinite(out).all()
        # A text alone or next to a longer one gives the same logits (padding is masked).
        alone = model(x[1:2])
        assert torch.allclose(out[1:2], alone, atol=1e-5)
        # Codes outside the vocabulary (the latency probe's random floats) are clipped, not errors.
        assert torch.isfinite(model(torch.randn(4, 1, 12) * 1000)).all()
        assert model(x[:, 0]).shape == (3, 3)  # (n, L) works as (n, 1, L)
    with pytest.raises(ValueError, match=r"input_shape .*Task.from_texts"):
        space.build_model(SMALL[name], (3, 8, 8), 3)


@pytest.mark.parametrize("name", SPACES)
def test_same_seed_same_weights(name: str) -> None:
    space = create_space(name)
    a = space.build_model(SMALL[name], (1, 12), 2, seed=3).state_dict()
    b = space.build_model(SMALL[name], (1, 12), 2, seed=3).state_dict()
    c = space.build_model(SMALL[name], (1, 12), 2, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", SPACES)
def test_weights_serialise_and_reload(name: str) -> None:
    space = create_space(name)
    model = space.build_model(SMALL[name], (1, 12), 2, seed=1).eval()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    other = space.build_model(SMALL[name], (1, 12), 2, seed=9).eval()
    other.load_state_dict(torch.load(buf))
    x = torch.as_tensor(_codes("abc", "xyz"))
    with torch.no_grad():
        assert torch.equal(model(x), other(x))


def test_flops_count_the_full_length_and_grow_with_width() -> None:
    rnn = SeqRNNSpace()
    narrow = rnn.build_model({**SMALL["seq-rnn"], "width": 32}, (1, 12), 2, seed=0)
    wide = rnn.build_model({**SMALL["seq-rnn"], "width": 128}, (1, 12), 2, seed=0)
    short = rnn.build_model({**SMALL["seq-rnn"], "width": 32}, (1, 6), 2, seed=0)
    assert count_flops(wide, (1, 12)) > 4 * count_flops(narrow, (1, 12))
    assert count_flops(narrow, (1, 12)) > 1.8 * count_flops(short, (1, 6))
    attn = SeqAttnSpace().build_model(SMALL["seq-attn"], (1, 12), 2, seed=0)
    # 12 tokens x (qkv 3 + proj 1 + ff 4) x 32 x 32 multiply-adds, at least.
    assert count_flops(attn, (1, 12)) >= 12 * 8 * 32 * 32 * 2
    assert measure_latency_ms(attn, (1, 12), repeats=2, warmup=1) > 0


def test_cnn_key_ignores_inactive_choices() -> None:
    space = SeqCNNSpace()
    one = space.validate({**SMALL["seq-cnn"], "n_layers": 1})
    assert space.key(one) == space.key(one.replace(dilation=1, residual=False))
    two = space.validate(SMALL["seq-cnn"])
    assert space.key(two) != space.key(two.replace(dilation=1))


@pytest.mark.parametrize("name", SPACES)
def test_training_learns_and_repeats_exactly(name: str, toy_task: Task) -> None:
    space = create_space(name)
    ev = TrainEvaluator(
        toy_task, space, max_epochs=4, patience=None, lr=1e-2, batch_size=32, seed=0,
        measure_latency=False,
    )  # fmt: skip
    arch = space.validate(SMALL[name])
    r1 = ev.evaluate(arch)
    r2 = ev.evaluate(arch)
    assert r1.metrics["valid_accuracy"] >= 0.8, r1.metrics
    assert r1.metrics["valid_accuracy"] == r2.metrics["valid_accuracy"]
    assert r1.metrics["valid_loss"] == r2.metrics["valid_loss"]
    assert r1.metrics["params"] > 0
    assert r1.metrics["flops"] > 0


@pytest.mark.slow  # a short scheduled study with real training (about 2 s on an idle core)
def test_a_scheduled_evolution_study_searches_a_sequence_space(toy_task: Task) -> None:
    import metanas

    space = create_space("seq-cnn")
    ev = TrainEvaluator(
        toy_task, space, max_epochs=3, patience=None, batch_size=64, seed=0,
        measure_latency=False,
    )  # fmt: skip
    study = metanas.create_study(
        space=space, storage="sqlite://", strategy="evolution", scheduler="asha",
        scheduler_settings={"min_budget": 1, "max_budget": 3, "eta": 3}, seed=0,
        task=toy_task.name,
    )  # fmt: skip
    study.optimize(ev, n_trials=4)
    done = [t for t in study.trials if t.state is metanas.TrialState.COMPLETE]
    assert len(study.trials) >= 4
    assert done
    assert all(space.is_valid(t.arch) for t in study.trials)
    assert all(0.0 <= t.metrics["valid_accuracy"] <= 1.0 for t in done)


def _ids(text: str, length: int = 12, **kw: object) -> set[int]:
    from metanas.models.ngram import ngram_ids

    settings = {"vocab_size": 257, "min_n": 1, "max_n": 3, "buckets": 1 << 20, "boundary": True}
    settings.update(kw)
    ids, mask = ngram_ids(torch.as_tensor(_codes(text, length=length))[:, 0].long(), **settings)  # type: ignore[arg-type]
    return set(ids[mask].tolist())


def test_ngram_ids_are_the_marked_ngrams_of_the_text_only() -> None:
    # "ab" with markers is <ab>: 4 unigrams, 3 bigrams, 2 trigrams; all distinct in 2**20 buckets.
    assert len(_ids("ab")) == 9
    assert len(_ids("ab", boundary=False)) == 3  # a, b, ab
    assert len(_ids("ab", min_n=2, max_n=2)) == 3  # <a, ab, b>
    # The same n-gram hashes the same wherever it stands; its order is part of the hash.
    assert _ids("ab", boundary=False) <= _ids("xaby", boundary=False)
    assert _ids("a", boundary=False).isdisjoint(_ids("aa", min_n=2, max_n=2, boundary=False))
    # Padding past the text never adds n-grams: a longer padded length gives the same set.
    assert _ids("hello") == _ids("hello", length=20)
    # <hello>: 6 distinct unigrams (l twice), 6 bigrams, 5 trigrams, also with no padding.
    assert len(_ids("hello", length=5)) == len(_ids("hello")) == 6 + 6 + 5
    assert max(_ids("hello world", buckets=7)) < 7


def test_ngram_key_round_trip_and_bad_input() -> None:
    space = SeqNgramSpace()
    arch = space.validate(SMALL["seq-ngram"])
    assert space.validate(space.format(arch)) == arch
    assert space.key(arch) != space.key(arch.replace(boundary=True))
    assert space.n_raw == 2 * 4 * 3 * 3 * 3 * 3 * 2
    assert SeqNgramSpace(max_order=2).decision("max_n").choices == (2,)
    with pytest.raises(ValueError, match=r"max_order must be an int in \[2, 6\]"):
        SeqNgramSpace(max_order=7)
    with pytest.raises(Exception, match="buckets"):
        space.validate({**SMALL["seq-ngram"], "buckets": 100})
    from metanas.models.ngram import HashedNgramNet

    with pytest.raises(ValueError, match="1 <= min_n <= max_n; got min_n=3, max_n=2"):
        HashedNgramNet((1, 8), 2, vocab_size=257, min_n=3, max_n=2, buckets=64, embed_dim=8,
                       hidden=0, dropout=0.0, boundary=True)  # fmt: skip


def test_ngram_params_follow_buckets_and_hidden_layer() -> None:
    space = SeqNgramSpace()
    small = space.build_model(SMALL["seq-ngram"], (1, 12), 3, seed=0)
    big = space.build_model({**SMALL["seq-ngram"], "buckets": 16384, "hidden": 128}, (1, 12), 3)
    n_small = sum(p.numel() for p in small.parameters())
    n_big = sum(p.numel() for p in big.parameters())
    assert n_small == 4096 * 32 + 32 * 3 + 3
    assert n_big == 16384 * 32 + 32 * 128 + 128 + 128 * 3 + 3
    assert count_flops(big, (1, 12)) > count_flops(small, (1, 12)) > 0
