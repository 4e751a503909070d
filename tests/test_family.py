"""The task family: Fashion-MNIST's reader, MNIST-1D class subsets, learning curves from the
trainer, the table generator (benchmarks/make_family.py) and TaskFamily's look-ups."""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from metanas.benchmarks import TaskFamily, load_benchmark
from metanas.benchmarks.family import (
    FAMILY_COLUMNS,
    FAMILY_EPOCHS,
    FAMILY_TASKS,
    family_architectures,
    family_rows,
    family_space,
    family_task,
)
from metanas.exceptions import UnknownNameError
from metanas.tasks import load_task, rebuild_task
from metanas.tasks._fashion import FASHION_DIR, FASHION_ENV, read_idx, save_fashion_subset

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ Fashion-MNIST reader
def _idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(np.uint8).tobytes()


def _fake_fashion(folder: Path, *, gz: bool, n_train: int = 60, n_test: int = 30) -> dict:
    """Four IDX files of 28x28 images whose pixels encode (row number, class)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        x[:, :4, :4] = (np.arange(n) % 256)[:, None, None]  # one 7x7 pooled pixel = row number
        x[:, 4:, :] = (y * 20)[:, None, None]
        out[split] = (x, y)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            name = f"{split}-{kind}-ubyte"
            data = _idx_bytes(arr)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_gzip_or_plain(tmp_path: Path, gz: bool) -> None:
    data = _fake_fashion(tmp_path, gz=gz, n_train=12, n_test=5)
    suffix = ".gz" if gz else ""
    images = read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}")
    assert images.shape == (12, 28, 28)
    np.testing.assert_array_equal(images, data["train"][0])
    np.testing.assert_array_equal(
        read_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}"), np.arange(5)
    )


def test_read_idx_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x-idx1-ubyte"
    bad.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(bad)
    short = tmp_path / "y-idx1-ubyte"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="holds 2 bytes of data; its header"):
        read_idx(short)


def test_fashion_task_from_a_directory(tmp_path: Path) -> None:
    _fake_fashion(tmp_path / "fm", gz=True)
    task = load_task("fashion-mnist", path=tmp_path / "fm", valid_size=0.2)
    assert task.input_shape == (1, 28, 28)
    assert task.n_classes == 10
    assert (task.n_train + task.n_valid, task.n_test) == (60, 30)  # the official test split
    assert task.name == "fashion-mnist"


def test_fashion_subsets_classes_and_downsampling(tmp_path: Path) -> None:
    _fake_fashion(tmp_path, gz=False)
    kw = {"path": tmp_path, "n_train": 12, "n_test": 6, "classes": (7, 2, 5), "downsample": 4}
    task = load_task("fashion-mnist", **kw)
    assert task.input_shape == (1, 7, 7)
    assert task.classes == (0, 1, 2)  # recoded in sorted order of (2, 5, 7)
    y = np.concatenate([task.y_train, task.y_valid])
    assert np.bincount(y).tolist() == [4, 4, 4]  # stratified: 12 rows of 3 classes
    assert np.bincount(task.y_test).tolist() == [2, 2, 2]
    assert task.name == "fashion-mnist[classes=(2, 5, 7),downsample=4,n_test=6,n_train=12]"
    # the same rows for the same data_seed, other rows for another
    again = load_task("fashion-mnist", **kw)
    np.testing.assert_array_equal(again.X_train, task.X_train)
    other = load_task("fashion-mnist", **kw, data_seed=1)
    assert not np.array_equal(other.X_test, task.X_test)
    rebuilt = rebuild_task(task)
    np.testing.assert_array_equal(rebuilt.X_train, task.X_train)
    assert rebuilt.name == task.name


def test_fashion_downsampling_averages_blocks(tmp_path: Path) -> None:
    data = _fake_fashion(tmp_path, gz=False)
    from metanas.tasks._fashion import fashion_arrays

    arrays, _ = fashion_arrays({"path": tmp_path, "downsample": 4})
    x = data["t10k"][0].astype(float) / 255.0
    expected = x.reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(arrays["x_test"][:, 0], expected, rtol=1e-6)
    half, _ = fashion_arrays({"path": tmp_path, "downsample": 2})
    assert half["x"].shape == (60, 1, 14, 14)


def test_fashion_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_fashion(tmp_path, gz=True)
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    task = load_task("fashion-mnist", n_train=30)
    assert (task.n_train + task.n_valid, task.n_test) == (30, 30)


def test_fashion_missing_files_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist.*path="):
        load_task("fashion-mnist", path=tmp_path)


def test_fashion_bad_arguments(tmp_path: Path) -> None:
    _fake_fashion(tmp_path, gz=False)
    with pytest.raises(UnknownNameError, match="Did you mean 'n_train'"):
        load_task("fashion-mnist", path=tmp_path, n_trian=10)
    with pytest.raises(ValueError, match=r"downsample must be one of \(1, 2, 4, 7\) .*; got 3\."):
        load_task("fashion-mnist", path=tmp_path, downsample=3)
    with pytest.raises(ValueError, match=r"at least two of the codes 0\.\.9; got \[3\]"):
        load_task("fashion-mnist", path=tmp_path, classes=[3])


def test_fashion_subset_npz_builds_the_same_tasks(tmp_path: Path) -> None:
    _fake_fashion(tmp_path / "fm", gz=True)
    variants = [{"n_train": 20, "n_test": 10, "downsample": 4}, {"n_train": 8, "classes": (0, 1)}]
    npz = save_fashion_subset(tmp_path / "sub.npz", variants, path=tmp_path / "fm")
    for variant in variants:
        full = load_task("fashion-mnist", path=tmp_path / "fm", **variant)
        small = load_task("fashion-mnist", path=npz, **variant)
        assert small.name == full.name
        for split in ("X_train", "X_valid", "X_test", "y_train", "y_test"):
            np.testing.assert_array_equal(getattr(small, split), getattr(full, split))
    with pytest.raises(ValueError, match="does not hold all the train rows"):
        load_task("fashion-mnist", path=npz, n_train=40)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_debian_files() -> None:
    task = load_task("fashion-mnist", n_test=1000, downsample=4, valid_size=0.1)
    assert (task.n_train + task.n_valid, task.n_test) == (60000, 1000)
    assert task.input_shape == (1, 7, 7)
    assert task.n_classes == 10


# ------------------------------------------------------------------ MNIST-1D class subsets
@pytest.mark.slow
def test_mnist1d_class_subset() -> None:
    task = load_task("mnist1d", num_samples=500, classes=(7, 3))
    assert task.classes == (0, 1)
    assert task.name == "mnist1d[classes=(3, 7),num_samples=500]"
    full = load_task("mnist1d", num_samples=500)
    n_full = full.n_train + full.n_valid + full.n_test
    assert task.n_train + task.n_valid + task.n_test == pytest.approx(n_full / 5, abs=10)
    assert rebuild_task(task).name == task.name
    with pytest.raises(ValueError, match=r"at least two of the codes 0\.\.9; got \[3, 12\]"):
        load_task("mnist1d", classes=[3, 12])


# ------------------------------------------------------------------ learning curves
@pytest.mark.slow
def test_train_evaluator_records_the_curve() -> None:
    from metanas.evaluation.train import TrainEvaluator

    task = load_task("mnist1d", num_samples=300)
    space = family_space()
    arch = family_architectures(1)[0]
    settings = {"max_epochs": 3, "patience": None, "measure_latency": False, "seed": 0}
    plain = TrainEvaluator(task, space, **settings).evaluate(arch)
    assert plain.curve == ()
    result = TrainEvaluator(task, space, record_curve=True, **settings).evaluate(arch)
    curve = result.curve
    assert [p["epoch"] for p in curve] == [1.0, 2.0, 3.0]
    times = [p["train_time_s"] for p in curve]
    assert times == sorted(times)
    assert times[0] > 0
    assert result.metrics["train_time_s"] >= times[-1]
    # the best epoch's weights are kept: the final metrics are that epoch's
    best = int(result.metrics["best_epoch"]) - 1
    assert result.metrics["valid_accuracy"] == pytest.approx(curve[best]["valid_accuracy"])
    assert result.test_metrics["test_accuracy"] == pytest.approx(curve[best]["test_accuracy"])
    # recording changes what is reported, not what is trained
    assert result.metrics["valid_accuracy"] == plain.metrics["valid_accuracy"]


# ------------------------------------------------------------------ the family's definition
def test_family_architectures_are_fixed_and_distinct() -> None:
    space = family_space()
    archs = family_architectures(50)
    assert [space.format(a) for a in archs] == [space.format(a) for a in family_architectures(50)]
    assert len({space.key(a) for a in archs}) == 50
    depths = {len(space.format(a).split("|")[0].split(">")) for a in archs}
    assert depths == {1, 2, 3, 4}
    assert family_architectures(10, seed=1) != family_architectures(10)


def test_family_tasks_are_one_dimensional_signals() -> None:
    assert len(FAMILY_TASKS) >= 8
    digits = family_task("digits")
    assert digits.modality == "sequence"
    assert digits.input_shape == (1, 64)
    direct = load_task("digits")
    np.testing.assert_array_equal(digits.X_train.reshape(direct.X_train.shape), direct.X_train)
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        family_task("digit")


# ------------------------------------------------------------------ TaskFamily on a tiny table
def _tiny_table(path: Path) -> list[str]:
    space = family_space()
    archs = [space.format(a) for a in family_architectures(4)]
    ids = {a: i for i, a in enumerate(archs)}
    rows = []
    for task in ("mnist1d", "digits"):
        for seed, subset in ((0, archs), (1, archs[:3])):
            records = {}
            for i, a in enumerate(subset):
                rank = i + 1 if task == "mnist1d" else 4 - i  # another task, another best
                acc = [0.1 * rank + 0.01 * e + 0.001 * seed for e in range(3)]
                records[a] = {
                    "curve": [
                        {"epoch": e + 1, "valid_accuracy": v, "test_accuracy": v - 0.05,
                         "train_time_s": 0.5 * (e + 1) * (i + 1)}
                        for e, v in enumerate(acc)
                    ],
                    "params": 100.0 * (i + 1), "flops": 1000.0 * (i + 1), "latency_ms": 0.1,
                }  # fmt: skip
            rows += family_rows(task, seed, ids, records, 3)
    pd.DataFrame(rows, columns=list(FAMILY_COLUMNS)).to_csv(path, index=False)
    return archs


def test_task_family_answers_a_fidelity(tmp_path: Path) -> None:
    archs = _tiny_table(tmp_path / "t.csv.gz")
    bench = TaskFamily("mnist1d", path=tmp_path / "t.csv.gz")
    assert (len(bench), bench.n_epochs, bench.space.size) == (4, 3, 4)
    arch = bench.space.parse(archs[1])
    final = bench.evaluate(arch)
    assert final.metrics["valid_accuracy"] == pytest.approx(0.22)
    assert final.test_metrics["test_accuracy"] == pytest.approx(0.17)
    assert final.cost_s == pytest.approx(3.0)
    assert final.metrics["params"] == 200.0
    first = bench.evaluate(arch, budget=1)
    assert first.metrics["valid_accuracy"] == pytest.approx(0.2)
    assert first.cost_s == pytest.approx(1.0)
    assert [p["epoch"] for p in first.curve] == [1.0]
    curve = bench.curve(arch)
    np.testing.assert_allclose(curve["train_time_s"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(curve["valid_accuracy"], [0.2, 0.21, 0.22])
    for budget in (0, 4, 3.6, True):
        with pytest.raises(ValueError, match="budget is a number of epochs from 1 to 3"):
            bench.evaluate(arch, budget=budget)
    assert bench.evaluate(arch, budget=2.2).metrics["valid_accuracy"] == pytest.approx(0.21)
    # the optimum and regret of the last epoch; the best differs between the two tasks
    assert bench.optimum("valid_accuracy") == pytest.approx(0.42)
    assert bench.regret(final.metrics["valid_accuracy"], "valid_accuracy") == pytest.approx(0.2)
    assert bench.space.format(bench.best_architecture("valid_accuracy")) == archs[3]
    digits = load_benchmark("family", "digits", path=tmp_path / "t.csv.gz")
    assert digits.space.format(digits.best_architecture("valid_accuracy")) == archs[0]
    assert digits.evaluate(arch, budget=2).metrics["valid_accuracy"] == pytest.approx(0.31)
    assert bench.task_descriptors()["num_samples"] == 2000


def test_task_family_noise_figure(tmp_path: Path) -> None:
    _tiny_table(tmp_path / "t.csv")
    noise = TaskFamily("mnist1d", path=tmp_path / "t.csv").noise()
    assert noise["n_archs"] == 3
    assert noise["mean_abs_diff"] == pytest.approx(0.001)
    assert noise["sd"] == pytest.approx(0.0)
    assert noise["spearman"] == pytest.approx(1.0)


def test_task_family_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archs = _tiny_table(tmp_path / "t.csv")
    monkeypatch.setenv("METANAS_FAMILY_TABLE", str(tmp_path / "none.csv.gz"))
    with pytest.raises(FileNotFoundError, match=r"not at .*none\.csv\.gz.*make_family\.py"):
        TaskFamily("mnist1d")
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist1d'"):
        TaskFamily("mnist1", path=tmp_path / "t.csv")
    with pytest.raises(ValueError, match="no rows for task 'mnist1d-shear'"):
        TaskFamily("mnist1d-shear", path=tmp_path / "t.csv")
    pd.DataFrame({"arch": archs}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="is not a task-family table"):
        TaskFamily("mnist1d", path=tmp_path / "other.csv")
    seed1 = TaskFamily("mnist1d", seed=1, path=tmp_path / "t.csv")
    with pytest.raises(KeyError, match="is not in table"):
        seed1.evaluate(family_space().parse(archs[3]))


def test_task_family_first_n_architectures(tmp_path: Path) -> None:
    archs = _tiny_table(tmp_path / "t.csv")
    first = TaskFamily("mnist1d", path=tmp_path / "t.csv", n_archs=2)
    assert len(first) == 2
    assert [first.space.format(a) for a in first.space.enumerate()] == archs[:2]
    # the first two's best is the second, not the whole table's best (the fourth)
    assert first.space.format(first.best_architecture("valid_accuracy")) == archs[1]
    assert first.optimum("valid_accuracy") == pytest.approx(0.22)
    assert first.noise()["n_archs"] == 2  # the second seed's rows are cut the same way
    assert len(TaskFamily("mnist1d", path=tmp_path / "t.csv", n_archs=4)) == 4
    with pytest.raises(ValueError, match=r"n_archs=5 but .* holds only the first 4 .*--base-table"):
        TaskFamily("mnist1d", path=tmp_path / "t.csv", n_archs=5)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="n_archs must be an int >= 1"):
            TaskFamily("mnist1d", path=tmp_path / "t.csv", n_archs=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the generator, end to end
def _make_family() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_family", REPO / "benchmarks" / "make_family.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_make_family_end_to_end_and_resumable(tmp_path: Path) -> None:
    make = _make_family()
    out = tmp_path / "family.csv.gz"
    argv = [
        "--tasks", "mnist1d-small,digits", "--max-archs", "4", "--epochs", "2",
        "--noise-every", "2", "--work", str(tmp_path / "w"), "--out", str(out),
    ]  # fmt: skip
    summary = make.main(argv)
    assert summary["rows"] == 2 * (4 + 2) * 2
    assert summary["family-digits-seed0"]["archs"] == 4
    curves = tmp_path / "w" / "curves" / "family-digits-seed0.jsonl"
    n_lines = len(curves.read_text().splitlines())
    assert n_lines == 4
    docs = tmp_path / "benchmarks.md"
    again = make.main([*argv, "--docs", str(docs)])  # nothing left to train: studies complete
    assert len(curves.read_text().splitlines()) == n_lines
    assert again["rows"] == summary["rows"]
    assert again["runs"] == [(1, 1)]
    section = docs.read_text()
    assert "<!-- BEGIN task-family -->" in section
    assert "| digits | 4 | 0 |" in section
    assert "| mnist1d-small | 4 | 0 |" in section
    df = pd.read_csv(out)
    assert list(df.columns) == list(FAMILY_COLUMNS)
    assert set(df["epoch"]) == {1, 2}
    bench = TaskFamily("digits", path=out)
    assert (len(bench), bench.n_epochs) == (4, 2)
    arch = bench.architecture(0)
    curve = bench.curve(arch)
    assert curve["train_time_s"][0] < curve["train_time_s"][1]
    assert bench.evaluate(arch, budget=1).cost_s == pytest.approx(curve["train_time_s"][0])
    assert 0.0 <= bench.evaluate(arch).metrics["valid_accuracy"] <= 1.0
    assert bench.noise()["n_archs"] == 2
    assert not math.isnan(bench.query(arch, "latency_ms"))

    # Grow the table: train architectures 4 and 5 of the same list on digits only, keep the
    # earlier table's rows (both tasks, both seeds) for everything this run does not hold.
    grown = tmp_path / "grown.csv.gz"
    more = [
        "--tasks", "digits", "--n-archs", "200", "--first-arch", "4", "--max-archs", "6",
        "--epochs", "2", "--noise-every", "0", "--work", str(tmp_path / "w2"),
        "--out", str(grown), "--base-table", str(out),
    ]  # fmt: skip
    summary = make.main(more)
    assert summary["family-digits-seed0"]["archs"] == 2
    assert summary["rows"] == 2 * (4 + 2) * 2 + 2 * 2
    wide = TaskFamily("digits", path=grown)
    assert len(wide) == 6
    narrow = TaskFamily("digits", path=grown, n_archs=4)
    for a in bench.space.enumerate():  # the first four are the earlier table's, unchanged
        assert (
            narrow.curve(a)["valid_accuracy"].tolist() == bench.curve(a)["valid_accuracy"].tolist()
        )
    assert len(TaskFamily("mnist1d-small", path=grown)) == 4
    with pytest.raises(ValueError, match="holds only the first 4"):
        TaskFamily("mnist1d-small", path=grown, n_archs=6)
    # a base table of another list is refused, naming the row that does not match
    other = pd.read_csv(out)
    other.loc[other["arch_id"] == 0, "arch_id"] = 9
    other.to_csv(tmp_path / "other.csv.gz", index=False)
    with pytest.raises(SystemExit, match="arch_id 9 is"):
        make.main([*more, "--base-table", str(tmp_path / "other.csv.gz"), "--export-only"])
    with pytest.raises(SystemExit):  # argparse: the grown table must not overwrite its base
        make.main([*more[:-2], "--base-table", str(grown)])


def test_task_family_resumes_at_a_higher_fidelity(tmp_path: Path) -> None:
    archs = _tiny_table(tmp_path / "t.csv")
    bench = TaskFamily("mnist1d", path=tmp_path / "t.csv")
    assert bench.supports_resume
    arch = bench.space.parse(archs[1])  # train_time_s 1, 2, 3 after epochs 1, 2, 3
    resumed = bench.evaluate(arch, budget=3, resume_from=1)
    assert resumed.cost_s == pytest.approx(3.0 - 1.0)  # only the epochs after the stop
    assert [p["epoch"] for p in resumed.curve] == [1.0, 2.0, 3.0]
    straight = bench.evaluate(arch, budget=3)
    assert resumed.metrics == straight.metrics
    assert resumed.test_metrics == straight.test_metrics
    assert straight.cost_s == pytest.approx(3.0)
    assert bench.evaluate(arch, resume_from=2).cost_s == pytest.approx(1.0)  # budget None: 3
    # the rungs of one run add up to the straight run's cost
    rungs = [bench.evaluate(arch, budget=1), bench.evaluate(arch, budget=2, resume_from=1)]
    rungs.append(bench.evaluate(arch, budget=3, resume_from=2))
    assert sum(r.cost_s for r in rungs) == pytest.approx(straight.cost_s)
    for bad in (3, 4, 0, True, "1"):
        with pytest.raises(ValueError, match="resume_from is the epoch an earlier call stopped"):
            bench.evaluate(arch, budget=3, resume_from=bad)
    with pytest.raises(ValueError, match="from 1 to budget - 1 = 1; got 2 with budget 2"):
        bench.evaluate(arch, budget=2, resume_from=2)
    with pytest.raises(ValueError, match="budget is a number of epochs from 1 to 3"):
        bench.evaluate(arch, budget=4, resume_from=1)


def test_task_family_curves_of_every_architecture(tmp_path: Path) -> None:
    archs = _tiny_table(tmp_path / "t.csv")
    bench = TaskFamily("mnist1d", path=tmp_path / "t.csv")
    order, values = bench.curves()
    assert [bench.space.format(a) for a in order] == archs
    assert values.shape == (4, 3)
    np.testing.assert_allclose(values[1], [0.2, 0.21, 0.22])
    np.testing.assert_allclose(values[:, -1], [0.12, 0.22, 0.32, 0.42])
    for a, row in zip(order, values, strict=True):
        np.testing.assert_allclose(row, bench.curve(a)["valid_accuracy"])
    _, times = bench.curves("train_time_s")
    np.testing.assert_allclose(times[3], [2.0, 4.0, 6.0])
    _, test = bench.curves("test_accuracy")
    np.testing.assert_allclose(test[0], [0.05, 0.06, 0.07])
    with pytest.raises(ValueError, match="read-only"):
        values[0, 0] = 1.0  # the table's own array, read-only
    with pytest.raises(UnknownNameError, match="Unknown curve metric 'valid_acc'"):
        bench.curves("valid_acc")


# ------------------------------------------------------------------ the shipped table
def test_shipped_table_loads_offline_with_its_noise_figure() -> None:
    """The table in the package: every task, every architecture of the family's list in
    order, 15 epochs, and a second training that agrees with the first (the noise figure
    docs/benchmarks.md gives: sd of one training 1.5-3.7 points, Spearman 0.95-0.99)."""
    from metanas.benchmarks.family import FIRST_TABLE_ARCHS

    first = TaskFamily(next(iter(FAMILY_TASKS)))
    n = len(first)
    assert n >= FIRST_TABLE_ARCHS
    space = family_space()
    expected = [space.key(a) for a in family_architectures(n)]
    for task in FAMILY_TASKS:
        bench = TaskFamily(task)
        assert [space.key(a) for a in bench.space.enumerate()] == expected
        assert bench.n_epochs == FAMILY_EPOCHS
        _, curves = bench.curves()
        assert np.isfinite(curves).all(), task
        assert 0.1 <= float(np.median(curves[:, -1])) <= 0.95, task
        noise = bench.noise()
        assert noise["n_archs"] >= FIRST_TABLE_ARCHS // 4, task
        assert 0.01 <= noise["sd"] <= 0.04, (task, noise)
        assert noise["spearman"] >= 0.9, (task, noise)
    old = TaskFamily(next(iter(FAMILY_TASKS)), n_archs=FIRST_TABLE_ARCHS)
    assert len(old) == FIRST_TABLE_ARCHS
