"""Text tasks: Task.from_texts, the text encoder, and the Debian word-list/fortune tasks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from metanas.tasks import Task, _text, load_task, rebuild_task
from metanas.tasks._text import TextEncoder

WORDS = ["hund", "katze", "maus", "haus", "dog", "cat", "mouse", "house"]


def _toy(n: int = 10, **kw: object) -> Task:
    texts = WORDS * n
    labels = (["de"] * 4 + ["en"] * 4) * n
    return Task.from_texts(texts, labels, name="toy", seed=0, **kw)  # type: ignore[arg-type]


def _installed(*packages: str) -> bool:
    dicts = {pkg: f for pkg, f in _text.WORD_LISTS.values()}
    forts = {pkg: spec for pkg, spec in _text.FORTUNE_LANGUAGES.values()}
    for pkg in packages:
        if pkg in dicts and not (_text.DICT_DIR / dicts[pkg]).is_file():
            return False
        if pkg in forts and not all(p.exists() for p in _text._paths(forts[pkg])):
            return False
    return True


def _needs(*packages: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _installed(*packages),
        reason=f"needs Debian's {' '.join(packages)}: sudo apt-get install {' '.join(packages)}",
    )


@pytest.fixture(autouse=True, name="cache_dir")
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METANAS_DATA_DIR", str(tmp_path))
    return tmp_path / "text"


# ------------------------------------------------------------------ from_texts and encoding


def test_from_texts_encodes_bytes_padded_with_zero() -> None:
    task = _toy()
    assert task.summary() == "toy: sequence (1, 5), 2 classes, 48/16/16 train/valid/test"
    assert task.classes == ("de", "en")
    assert task.X_train.dtype == np.float32
    # Every row is its text's UTF-8 bytes + 1, then zeros; a length is its non-zero codes.
    x = task.transform(["cat", "mouse"])
    assert x[:, 0].tolist() == [[100, 98, 117, 0, 0], [110, 112, 118, 116, 102]]
    assert ((task.X_train != 0).sum(axis=(1, 2)) >= 3).all()
    rows = {tuple(r) for r in task.X_test[:, 0].astype(int).tolist()}
    assert rows <= {tuple(r) for r in task.transform(WORDS)[:, 0].astype(int).tolist()}


def test_from_texts_cuts_at_max_len_and_encodes_multibyte_characters() -> None:
    task = Task.from_texts(["héhé", "ab"] * 10, ["x", "y"] * 10, max_len=3, seed=1)
    assert task.input_shape == (1, 3)
    assert task.transform(["héhé"])[0, 0].tolist() == [105.0, 196.0, 170.0]


def test_chars_encoding_uses_the_train_vocabulary() -> None:
    enc = TextEncoder.fit(["aab", "ba"], encoding="chars", max_len=4)
    assert enc.vocab == ("a", "b")
    assert enc.transform(["abz", ""])[:, 0].tolist() == [[2, 3, 1, 0], [0, 0, 0, 0]]
    task = _toy(encoding="chars")
    assert int(task.X_train.max()) < _text.VOCAB_SIZE
    assert task.preprocessor is not None
    assert len(task.preprocessor.vocab) <= 255


def test_from_texts_rejects_bad_input_with_the_fix() -> None:
    with pytest.raises(TypeError, match="text 1 is int"):
        Task.from_texts(["a", 3] * 10, ["x", "y"] * 10)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        Task.from_texts(["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="texts is empty"):
        Task.from_texts([], [])
    with pytest.raises(TypeError, match="sequence of str"):
        Task.from_texts("abc", ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"encoding"):
        Task.from_texts(WORDS * 3, ["a", "b"] * 12, encoding="utf16")
    with pytest.raises(TypeError, match="Wrap one text in a list"):
        _toy().transform("cat")


def test_from_texts_splits_are_seeded() -> None:
    a, b, c = _toy(), _toy(), Task.from_texts(WORDS * 10, (["de"] * 4 + ["en"] * 4) * 10, seed=5)
    assert np.array_equal(a.X_test, b.X_test)
    assert np.array_equal(a.y_train, b.y_train)
    assert a.seed == 0
    assert c.seed == 5
    assert Counter(a.y_test.tolist()) == {0: 8, 1: 8}


# ------------------------------------------------------------------ Debian text tasks


def test_missing_word_list_names_the_apt_get_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_text, "DICT_DIR", tmp_path / "nodict")
    with pytest.raises(FileNotFoundError, match=r"apt-get install wamerican wngerman\b"):
        load_task("langid-words", languages=("de", "en"))
    monkeypatch.setattr(_text, "FORTUNE_DIR", tmp_path / "nofortunes")
    with pytest.raises(FileNotFoundError, match=r"apt-get install fortunes fortunes-de`"):
        load_task("langid-sentences", languages=("en", "de"))


def test_text_task_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n_per_class"):
        load_task("langid-words", n_per_clas=5)
    with pytest.raises(ValueError, match="at least two"):
        load_task("langid-words", languages=("en",))
    with pytest.raises(ValueError, match="'xx'"):
        load_task("langid-words", languages=("en", "xx"))
    with pytest.raises(ValueError, match="n_per_class must be an int >= 1"):
        load_task("fortune-topics", n_per_class=0)


@pytest.mark.slow  # reads two Debian word lists (about 0.5 s on an idle core)
@_needs("wamerican", "wspanish")
def test_langid_words_clean_balanced_disjoint_cached_and_rebuilt(cache_dir: Path) -> None:
    kw = {"languages": ("es", "en"), "n_per_class": 300}
    task = load_task("langid-words", **kw)
    assert task.name == "langid-words[languages=('en', 'es'),n_per_class=300]"
    assert task.classes == ("en", "es")
    assert task.input_shape == (1, 24)
    ys = np.concatenate([task.y_train, task.y_valid, task.y_test])
    assert Counter(ys.tolist()) == {0: 300, 1: 300}
    texts, labels, _ = _text.text_arrays("langid-words", kw)
    assert all(w.isalpha() and w == w.lower() and 3 <= len(w) <= 24 for w in texts)
    by_lang = {lab: {t for t, g in zip(texts, labels, strict=True) if g == lab} for lab in labels}
    assert not by_lang["en"] & by_lang["es"]
    assert len(set(texts)) == 600
    cached = list(cache_dir.glob(f"langid-words-v{_text.TEXT_CACHE_VERSION}-*.json"))
    assert len(cached) == 1
    stored = json.loads(cached[0].read_text(encoding="utf-8"))
    assert json.loads(stored["stamp"])["version"] == _text.TEXT_CACHE_VERSION
    assert stored["texts"] == texts
    again = rebuild_task(task)  # from the cache this time
    assert again.name == task.name
    assert np.array_equal(again.X_train, task.X_train)
    other = load_task("langid-words", data_seed=1, **kw)
    assert not np.array_equal(other.X_train, task.X_train)


@pytest.mark.slow  # reads the English and German fortune files
@_needs("fortunes", "fortunes-de")
def test_langid_sentences_and_fortune_topics() -> None:
    s = load_task("langid-sentences", languages=("de", "en"), n_per_class=50, max_len=64)
    assert s.classes == ("de", "en")
    assert s.input_shape == (1, 64)
    assert s.n_train + s.n_valid + s.n_test == 100
    assert ((s.X_train != 0).sum(axis=(1, 2)) >= 20).all()  # min_len 20 characters
    t = load_task("fortune-topics", topics=("computers", "love"), n_per_class=40)
    assert t.classes == ("computers", "love")
    assert Counter(np.concatenate([t.y_train, t.y_valid, t.y_test]).tolist()) == {0: 40, 1: 40}
