"""Tasks: splits, preprocessing, messy CSVs, built-ins, meta-features and rebuilding."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metanas.exceptions import UnknownNameError
from metanas.tasks import MODALITIES, Task, available_tasks, builtin, load_task, rebuild_task
from metanas.tasks._meta import META_FEATURES


def _blobs(n: int = 120, d: int = 4, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) * 3 + 5 + y[:, None]
    return X, y


def _rows(a: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in a.reshape(len(a), -1)}


@pytest.fixture(scope="module")
def mnist1d() -> Task:
    return load_task("mnist1d")


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame(
        {
            "age": rng.integers(20, 60, n).astype(float),
            "color": rng.choice(["red", "green", "blue"], n),
            "income": rng.normal(50_000, 8_000, n).round(),
            "const": 7,
            "label": np.where(
                np.arange(n) % 3 == 0, "cat", np.where(np.arange(n) % 3 == 1, "dog", "bird")
            ),
        }
    )
    text = df.to_csv(index=False).splitlines()
    # punch holes: an empty cell, NA and NaN in numeric columns, an empty categorical cell
    rows = [line.split(",") for line in text]
    rows[1][0] = ""
    rows[2][0] = "NA"
    rows[3][2] = "NaN"
    rows[4][1] = ""
    rows[5][2] = ""
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


# ---------------------------------------------------------------- arrays and splits


def test_splits_stratified_disjoint_and_sized() -> None:
    X, y = _blobs(150, k=3)
    task = Task.from_arrays(X, y, name="blobs", seed=3)
    assert (task.n_train, task.n_valid, task.n_test) == (90, 30, 30)
    for codes in (task.y_train, task.y_valid, task.y_test):
        assert np.bincount(codes, minlength=3).tolist() == [len(codes) // 3] * 3
    parts = [_rows(task.X_train), _rows(task.X_valid), _rows(task.X_test)]
    assert sum(len(p) for p in parts) == 150
    assert len(parts[0] | parts[1] | parts[2]) == 150
    assert task.X_train.dtype == np.float32
    assert task.y_train.dtype == np.int64
    assert task.summary() == "blobs: tabular (4,), 3 classes, 90/30/30 train/valid/test"


def test_splits_seeded() -> None:
    X, y = _blobs()
    a = Task.from_arrays(X, y, name="a", seed=1)
    b = Task.from_arrays(X, y, name="b", seed=1)
    c = Task.from_arrays(X, y, name="c", seed=2)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert _rows(a.X_test) != _rows(c.X_test)


def test_standardisation_uses_train_statistics_only() -> None:
    X, y = _blobs(200)
    task = Task.from_arrays(X, y, name="s")
    np.testing.assert_allclose(task.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(task.X_train.std(axis=0), 1, atol=1e-4)
    assert np.abs(task.X_test.mean(axis=0)).max() > 1e-3
    # the statistics are those of the raw train rows
    full = task.transform(X)
    train = X[_match(full, task.X_train)]
    expected = (X - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-5)


def test_sequence_and_image_per_channel() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    seq = rng.normal(size=(90, 2, 16)) + np.array([0.0, 10.0])[None, :, None]
    task = Task.from_arrays(seq, y, name="seq")
    assert task.modality == "sequence"
    assert task.input_shape == (2, 16)
    np.testing.assert_allclose(task.X_train.mean(axis=(0, 2)), 0, atol=1e-5)
    flat = Task.from_arrays(seq[:, 0], y, name="seq1", modality="sequence")
    assert flat.input_shape == (1, 16)
    np.testing.assert_array_equal(flat.transform(seq[:5, 0]), flat.transform(seq[:5, :1]))
    img = Task.from_arrays(rng.normal(size=(90, 1, 4, 4)), y, name="img")
    assert (img.modality, img.input_shape) == ("image", (1, 4, 4))
    assert "image" in MODALITIES


def test_string_float_and_mixed_labels() -> None:
    X, y = _blobs(90)
    names = np.array(["b", "a", "c"])[y]
    task = Task.from_arrays(X, names, name="s")
    assert task.classes == ("a", "b", "c")
    assert task.decode_labels(task.y_test).tolist() == [
        names[i] for i in _match(task.transform(X), task.X_test)
    ]
    floats = Task.from_arrays(X, y.astype(float) / 2, name="f")
    assert floats.classes == (0.0, 0.5, 1.0)
    assert all(type(c) is float for c in floats.classes)
    codes = floats.encode_labels([1.0, 0.0])
    assert codes.tolist() == [2, 0]


def _match(full: np.ndarray, part: np.ndarray) -> list[int]:
    """Row index in ``full`` of every row of ``part`` (exact match)."""
    lookup = {r.tobytes(): i for i, r in enumerate(full.reshape(len(full), -1))}
    return [lookup[r.tobytes()] for r in part.reshape(len(part), -1)]


def test_fixed_test_split_only_carves_valid() -> None:
    X, y = _blobs(100)
    Xt, yt = _blobs(30, seed=1)
    task = Task.from_arrays(X, y, name="t", X_test=Xt, y_test=yt, valid_size=0.2)
    assert (task.n_train, task.n_valid, task.n_test) == (80, 20, 30)
    np.testing.assert_array_equal(task.y_test, yt)
    np.testing.assert_allclose(task.X_test, task.transform(Xt))


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "match"),
    [
        (np.ones((10, 2)), np.zeros(10), {}, "at least 2 classes"),
        (np.ones((10, 2)), np.arange(9) % 2, {}, "10 samples but y has 9"),
        (np.ones((6, 2)), [0, 1, None, 0, 1, 0], {}, "1 missing labels"),
        (np.ones((6, 2)), [0, 1, float("nan"), 0, 1, 0], {}, "missing labels"),
        (np.ones((6, 2)), ["a", "b", "", "a", "b", "a"], {}, "missing labels"),
        (np.ones((40, 2)), [1] * 38 + [2, 2], {}, r"Class 2 \(2 samples\) has too few"),
        (np.array([["a", "b"], ["c", "d"]]), [0, 1], {}, "must be numeric.*from_dataframe"),
        (np.empty((0, 3)), [], {}, "at least 2 classes|empty"),
        (
            np.ones((10, 2)),
            np.arange(10) % 2,
            {"X_test": np.ones((4, 3)), "y_test": [0, 1] * 2},
            r"X_test has samples of shape \(3,\)",
        ),
        (
            np.ones((10, 2)),
            np.arange(10) % 2,
            {"X_test": np.ones((4, 2)), "y_test": [0, 1]},
            "y_test has shape",
        ),
        (np.ones((10, 2)), np.arange(10) % 2, {"X_test": np.ones((4, 2))}, "together"),
        (np.full((10, 2), np.nan), np.arange(10) % 2, {}, "missing or infinite"),
        (np.ones((10, 2)), np.arange(10) % 2, {"modality": "video"}, "Unknown modality"),
        (np.ones((10, 2)), np.arange(10) % 2, {"test_size": 1.5}, "test_size must be"),
    ],
)
def test_array_errors(X: object, y: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Task.from_arrays(X, y, name="bad", **kwargs)  # type: ignore[arg-type]


def test_empty_data_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        Task.from_arrays(np.empty((0, 3)), np.array([], dtype=object), name="e")


# ---------------------------------------------------------------- tables and CSV


def test_messy_csv_just_works(messy_csv: Path) -> None:
    task = Task.from_csv(messy_csv, "label", seed=0)
    assert task.name == "pets"
    assert task.classes == ("bird", "cat", "dog")
    assert task.input_shape == (5,)  # age, income, 3 colours; const dropped
    assert task.report[0] == (
        "imputed 5 missing values in 3 columns (median for numeric, most frequent for "
        "categorical); one-hot encoded 1 categorical column into 3 features"
    )
    assert task.report[1] == "dropped 1 constant column: ['const']"
    for x in (task.X_train, task.X_valid, task.X_test):
        assert np.isfinite(x).all()
        assert x.dtype == np.float32
    assert task.source["kind"] == "csv"
    assert task.source["path"] == str(messy_csv.resolve())
    json.dumps(task.source)
    # transform of the raw table reproduces every split's rows exactly
    raw = pd.read_csv(messy_csv)
    full = task.transform(raw)
    idx = _match(full, task.X_train)
    np.testing.assert_array_equal(full[idx], task.X_train)
    assert task.decode_labels(task.y_train).tolist() == raw["label"].iloc[idx].tolist()
    # new rows: unknown category and a missing value still transform
    new = pd.DataFrame({"age": [None], "color": ["purple"], "income": [1.0], "const": [7]})
    assert np.isfinite(task.transform(new)).all()
    # an array with one column per source column works too
    np.testing.assert_array_equal(task.transform(raw.drop(columns="label").to_numpy()), full)


def test_decode_predictions_gives_string_labels(messy_csv: Path) -> None:
    task = Task.from_csv(messy_csv, "label")
    decoded = task.decode_labels(np.array([2, 0, 1]))
    assert decoded.tolist() == ["dog", "bird", "cat"]
    np.testing.assert_array_equal(task.encode_labels(decoded), [2, 0, 1])


def test_table_errors(messy_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(messy_csv)
    with pytest.raises(ValueError, match=r"No target column 'lable'\. Did you mean 'label'\?"):
        Task.from_dataframe(df, "lable")
    holes = df.copy()
    holes.loc[[0, 3], "label"] = None
    with pytest.raises(ValueError, match=r"2 of 60 rows have no value in target.*Drop them"):
        Task.from_dataframe(holes, "label")
    with pytest.raises(ValueError, match="empty"):
        Task.from_dataframe(df.iloc[:0], "label")
    with pytest.raises(ValueError, match="at least 2 classes"):
        Task.from_dataframe(df.assign(label="x"), "label")
    with pytest.raises(ValueError, match="constant or empty"):
        Task.from_dataframe(df[["const", "label"]], "label")
    with pytest.raises(FileNotFoundError, match="No CSV file"):
        Task.from_csv(tmp_path / "nope.csv", "label")
    task = Task.from_dataframe(df, "label")
    with pytest.raises(ValueError, match=r"Missing feature column\(s\) \['income'\]"):
        task.transform(df.drop(columns="income"))


def test_load_task_csv_needs_target(messy_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"needs target=.*'age', 'color'"):
        load_task(str(messy_csv))
    task = load_task(messy_csv, target="label", name="pets2")
    assert task.name == "pets2"


# ---------------------------------------------------------------- built-ins


def test_sklearn_builtins() -> None:
    assert available_tasks() == [
        "breast_cancer",
        "digits",
        "fashion-mnist",
        "fortune-topics",
        "iris",
        "keywords",
        "langid-sentences",
        "langid-words",
        "mnist1d",
        "wine",
    ]
    digits = load_task("digits")
    assert digits.summary() == "digits: image (1, 8, 8), 10 classes, 1078/359/360 train/valid/test"
    assert load_task("iris").input_shape == (4,)
    assert load_task("wine").n_classes == 3
    bc = load_task("breast_cancer", test_size=0.3)
    assert (bc.input_shape, bc.n_test) == ((30,), 171)


@pytest.mark.slow  # generates the default MNIST-1D (about 1-4 s, once per module)
def test_mnist1d_keeps_its_test_split(mnist1d: Task) -> None:
    assert mnist1d.name == "mnist1d"
    assert (mnist1d.modality, mnist1d.input_shape) == ("sequence", (1, 40))
    assert mnist1d.n_train + mnist1d.n_valid == 4000
    assert (mnist1d.n_valid, mnist1d.n_test) == (800, 1000)
    assert mnist1d.n_classes == 10


def test_mnist1d_arguments_and_global_rng_untouched() -> None:
    load_task("mnist1d", num_samples=500, iid_noise_scale=0.05)  # first imports draw; not ours
    builtin._mnist1d.cache_clear()  # a cached data set would skip the generator being checked
    np_state = np.random.get_state()[1].copy()
    py_state = random.getstate()
    small = load_task("mnist1d", num_samples=500, iid_noise_scale=0.05)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert random.getstate() == py_state
    assert small.name == "mnist1d[iid_noise_scale=0.05,num_samples=500]"
    assert small.n_train + small.n_valid == 400
    assert small.n_test == 100
    with pytest.raises(UnknownNameError, match="Did you mean 'iid_noise_scale'"):
        load_task("mnist1d", iid_noise=0.1)


def test_unknown_task_name() -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean 'digits'.*'mnist1d'"):
        load_task("digts")
    with pytest.raises(ValueError, match="only for CSV"):
        load_task("iris", target="species")


# ---------------------------------------------------------------- meta-features


def test_meta_features_keys_finite_and_deterministic() -> None:
    task = load_task("digits", seed=1)
    meta = task.meta_features()
    assert tuple(meta) == META_FEATURES
    assert all(math.isfinite(v) for v in meta.values())
    assert meta["n_classes"] == 10
    assert meta["log_n_samples"] == pytest.approx(math.log(1078))
    assert 0.9 < meta["class_entropy"] <= 1
    assert 0 < meta["pca_frac_95"] < 1
    assert meta["landmark_1nn"] > 0.9  # digits is easy for 1-NN
    assert meta["frac_missing"] == 0
    assert load_task("digits", seed=1).meta_features() == meta
    desc = task.descriptors()
    assert desc["input_shape"] == "1x8x8"
    assert desc["source"] == "builtin/digits"
    json.dumps(desc)


def test_meta_features_of_messy_table(messy_csv: Path) -> None:
    meta = Task.from_csv(messy_csv, "label").meta_features()
    assert meta["frac_categorical"] == pytest.approx(1 / 4)
    assert meta["frac_missing"] == pytest.approx(5 / (60 * 4))


@pytest.mark.slow  # generates the default MNIST-1D (about 1-4 s, once per module)
def test_meta_features_subsample_mnist1d(mnist1d: Task) -> None:
    meta = mnist1d.meta_features()
    assert 0.1 < meta["landmark_1nn"] < 0.9
    assert meta["log_n_samples"] == pytest.approx(math.log(3200))


# ---------------------------------------------------------------- rebuild


@pytest.mark.slow  # generates the default MNIST-1D (about 1-4 s, once per module)
def test_rebuild_round_trip(messy_csv: Path, mnist1d: Task) -> None:
    for task in (load_task("wine", seed=4, valid_size=0.3), Task.from_csv(messy_csv, "label")):
        again = rebuild_task(json.loads(json.dumps(task.source)))
        assert again.name == task.name
        assert again.classes == task.classes
        for attr in ("X_train", "y_train", "X_valid", "y_valid", "X_test", "y_test"):
            np.testing.assert_array_equal(getattr(again, attr), getattr(task, attr))
    small = load_task("mnist1d", num_samples=300, seed=2)
    again = rebuild_task(small)
    assert again.name == small.name
    np.testing.assert_array_equal(again.X_valid, small.X_valid)
    assert rebuild_task(mnist1d).n_valid == 800


def test_rebuild_arrays_task_fails() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="in-memory arrays; pass the task itself"):
        rebuild_task(Task.from_arrays(X, y, name="mem"))


def test_no_test_split() -> None:
    X, y = _blobs(100)
    task = Task.from_arrays(X, y, name="n", test_size=0.0, valid_size=0.2)
    assert (task.n_train, task.n_valid, task.n_test) == (80, 20, 0)
    assert task.X_test.shape == (0, 4)
    assert task.y_test.dtype == np.int64


def test_a_csv_in_another_encoding_names_the_keyword_and_rebuilds(tmp_path: Path) -> None:
    from metanas.tasks import CSVEncodingError

    path = tmp_path / "cafe.csv"
    rows = "".join(f"{i},caf\xe9{i % 2},{'xy'[i % 2]}\n" for i in range(30))
    path.write_bytes(("a,b,label\n" + rows).encode("latin-1"))
    with pytest.raises(CSVEncodingError, match=r"as utf-8 text .*Pass encoding=.*'latin-1'") as err:
        load_task(path, target="label")
    assert isinstance(err.value, ValueError)
    assert "--encoding latin-1" in err.value.cli_message
    task = load_task(path, target="label", encoding="latin-1")
    assert task.source["read_csv"] == {"encoding": "latin-1"}
    assert np.array_equal(rebuild_task(task.source).X_train, task.X_train)
    with pytest.raises(ValueError, match=r"needs target=<label column>\. The file.s columns"):
        load_task(path, encoding="latin-1")
