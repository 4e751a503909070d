"""2-D search on Fashion-MNIST-shaped data: the ``cnn`` and ``nb201`` spaces on 28x28 images.

The data are a tiny set of IDX files written here (the standard format, so the reader,
``load_task("fashion-mnist", path=...)`` and ``$METANAS_FASHION_MNIST`` work as on the real
files) whose classes differ by where a bright bar is: small enough to train in a second, and
learnable, so the tests can check that training does something.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import metanas
from metanas.evaluation.train import TrainEvaluator
from metanas.spaces.nb201 import NB201Space
from metanas.spaces.trainable import CNNSpace
from metanas.tasks import load_task

torch = pytest.importorskip("torch")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, c in enumerate(labels):
        x[i, 2 + 2 * int(c) : 5 + 2 * int(c), 4:24] = 250  # class c: a bar at row 2 + 2c
    return x


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("fashion")
    for split, n in (("train", 200), ("t10k", 100)):
        y = np.arange(n) % 10
        _write_idx(out / f"{split}-images-idx3-ubyte.gz", _images(y, rng))
        _write_idx(out / f"{split}-labels-idx1-ubyte.gz", y)
    return out


def test_cnn_trains_on_28x28_with_2d_convolutions_and_resumes(fashion_dir: Path) -> None:
    task = load_task("fashion-mnist", path=fashion_dir, seed=0, valid_size=0.2)
    assert task.input_shape == (1, 28, 28)
    assert (len(task.y_train), len(task.y_valid), len(task.y_test)) == (160, 40, 100)
    space = CNNSpace(max_blocks=2, stem_channels=8)
    # a flatten head keeps where the bar is (global pooling would not)
    arch = space.parse("conv3x16/2 > conv3x16/2 | relu, batch-norm, plain, flatten-head")
    model = space.build_model(arch, task.input_shape, 10, seed=0)
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert tuple(model(torch.zeros(3, 1, 28, 28)).shape) == (3, 10)
    ev = TrainEvaluator(
        task, space, max_epochs=4, batch_size=32, lr=1e-2, patience=None,
        measure_latency=False, seed=0,
    )  # fmt: skip
    straight = ev.evaluate(arch)
    assert straight.ok
    assert straight.test_metrics["test_accuracy"] > 0.5  # chance is 0.1
    part = ev.evaluate(arch, budget=2)
    assert [p["epoch"] for p in part.curve] == [1.0, 2.0]
    resumed = ev.evaluate(arch, budget=4, resume_from=2)
    assert resumed.metrics["valid_accuracy"] == pytest.approx(straight.metrics["valid_accuracy"])
    assert resumed.test_metrics["test_accuracy"] == pytest.approx(
        straight.test_metrics["test_accuracy"]
    )


def test_nb201_builds_a_2d_network_for_28x28_images() -> None:
    space = NB201Space()
    arch = space.sample(np.random.default_rng(0))
    model = space.build_model(arch, (1, 28, 28), 10, seed=0)
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.Conv1d) for m in model.modules())
    assert tuple(model(torch.zeros(2, 1, 28, 28)).shape) == (2, 10)


def _cli(args: list[str], env: dict[str, str]) -> Any:
    from typer.testing import CliRunner

    from metanas.cli import app

    return CliRunner().invoke(app, args, env={"COLUMNS": "200", **env})


@pytest.mark.slow
@pytest.mark.parametrize("space", ["cnn", "nb201"])
def test_cli_searches_fashion_with_asha(fashion_dir: Path, tmp_path: Path, space: str) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    args = [
        *("search", "--data", "fashion-mnist", "--space", space, "--strategy", "random"),
        *("--scheduler", "asha", "--min-epochs", "1", "--max-epochs", "2", "--eta", "2"),
        *("--n-trials", "3", "--storage", url, "--json"),
    ]
    out = _cli(args, {"METANAS_FASHION_MNIST": str(fashion_dir)})
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["n_complete"] + summary["n_pruned"] == 3
    assert summary["best"]["budget"] == 2.0
    study = metanas.load_study(summary["study"], storage=url)
    assert study.user_attrs["task_source"]["name"] == "fashion-mnist"
    best = study.best_trial
    assert 0.0 <= best.test_metrics["test_accuracy"] <= 1.0
    # the 40 validation images are carved out of the 200 training ones; test is the t10k file
    assert study.user_attrs["evaluator"]["max_epochs"] == 2
    assert [s for s, _, _ in study.intermediate_values(best)] == [1, 2]
