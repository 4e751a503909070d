"""NASClassifier (scikit-learn estimator), export to weights + ONNX, and `metanas search --data`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from typer.testing import CliRunner

import metanas
from metanas.cli import app

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    return X.astype(np.float32), names[y]


def test_nasclassifier_fits_predicts_string_labels_and_is_stored(
    iris: tuple[np.ndarray, np.ndarray], tmp_path: object
) -> None:
    X, y = iris
    url = f"sqlite:///{tmp_path}/runs.db"
    clf = metanas.NASClassifier(n_trials=3, max_epochs=15, storage=url, seed=0)
    assert clf.fit(X, y) is clf
    pred = clf.predict(X)
    assert set(pred) <= {"setosa", "versicolor", "virginica"}
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    # Iris is easy: a searched MLP must beat chance by far on its own training rows.
    assert clf.score(X, y) > 0.8
    stored = metanas.load_study(clf.study_.name, storage=url)
    assert len(stored.trials) == 3
    assert stored.task == clf.task_.name
    assert stored.user_attrs["evaluator"]["max_epochs"] == 15


def test_nasclassifier_params_clone_and_not_fitted(iris: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.exceptions import NotFittedError

    clf = metanas.NASClassifier(space="mlp", n_trials=2, max_epochs=2, seed=3)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    twin.set_params(n_trials=5)
    assert twin.n_trials == 5
    assert clf.n_trials == 2
    with pytest.raises(NotFittedError, match="call fit"):
        clf.predict(iris[0])
    with pytest.raises(ValueError, match="needs a budget"):
        metanas.NASClassifier(n_trials=None, storage="sqlite://").fit(*iris)


def test_nasclassifier_trains_with_one_thread_unless_told(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    clf = metanas.NASClassifier(n_trials=1, max_epochs=1, storage="sqlite://", seed=0).fit(X, y)
    assert clf.get_params()["threads"] == 1
    assert clf.evaluator_.threads == 1
    assert clf.study_.user_attrs["evaluator"]["threads"] == 1
    two = metanas.NASClassifier(threads=2, n_trials=1, max_epochs=1, storage="sqlite://")
    assert two.fit(X, y).evaluator_.threads == 2
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        metanas.NASClassifier(threads=0, n_trials=1, storage="sqlite://").fit(X, y)


def test_nasclassifier_same_seed_same_model(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    a = metanas.NASClassifier(n_trials=2, max_epochs=3, storage="sqlite://", seed=1).fit(X, y)
    b = metanas.NASClassifier(n_trials=2, max_epochs=3, storage="sqlite://", seed=1).fit(X, y)
    assert a.best_arch_ == b.best_arch_
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-6)


def test_nasclassifier_on_a_messy_dataframe() -> None:
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({
        "x1": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], size=n),
        "x2": rng.normal(size=n),
    })  # fmt: skip
    df.loc[::7, "x2"] = np.nan
    y = np.where(df["x1"] + (df["colour"] == "red") > 0.3, "yes", "no")
    clf = metanas.NASClassifier(n_trials=2, max_epochs=10, storage="sqlite://", seed=0)
    clf.fit(df, y)
    assert clf.score(df, y) > 0.7
    assert any("imputed" in line for line in clf.task_.report)


def test_export_reproduces_the_model_and_onnx_matches_torch(tmp_path: object) -> None:
    import onnxruntime  # the dev extra installs it: a missing one must fail, not skip

    url = f"sqlite:///{tmp_path}/runs.db"
    res = runner.invoke(
        app,
        ["search", "--data", "iris", "--space", "mlp", "--budget", "2", "--epochs", "5",
         "--storage", url, "--study", "iris-s", "--json", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_complete"] == 2
    best = summary["best"]
    assert {"test_accuracy", "test_recall", "test_f1"} <= set(best["test_metrics"])
    assert {"params", "flops", "latency_ms", "valid_f1"} <= set(best["metrics"])
    out = tmp_path / "model"  # type: ignore[operator]
    res = runner.invoke(app, ["export", "iris-s", "--storage", url, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert {"model.pt", "model.onnx", "architecture.json", "load.py"} <= set(info["files"])
    # Retrained with the search's seed: the same validation accuracy as stored.
    assert info["metrics"]["valid_accuracy"] == pytest.approx(best["metrics"]["valid_accuracy"])
    model = metanas.load_model(out)
    task = metanas.load_task("iris", seed=0)
    x = task.X_test
    torch_out = model.module(__import__("torch").from_numpy(x)).detach().numpy()
    sess = onnxruntime.InferenceSession(str(out / "model.onnx"))
    onnx_out = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
    # The loaded model predicts original labels from raw rows.
    raw = load_iris().data[:5]
    assert model.predict(raw).shape == (5,)


def test_search_data_rejects_bad_combinations() -> None:
    res = runner.invoke(app, ["search", "--data", "iris", "--space", "nas-bench-graph"])
    assert res.exit_code == 2
    assert "cannot be trained" in res.output
    res = runner.invoke(app, ["search", "--dataset", "cora", "--max-latency-ms", "1"])
    assert res.exit_code == 2
    assert "goes with --data" in res.output
    res = runner.invoke(app, ["search", "--data", "no-such-set", "--storage", "sqlite://"])
    assert res.exit_code == 2
    res = runner.invoke(
        app, ["search", "--data", "iris", "--metric", "test_accuracy", "--storage", "sqlite://"]
    )
    assert res.exit_code == 2
    assert "reserved for reporting" in res.output


def test_latency_limit_rejects_before_training(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    res = runner.invoke(
        app,
        ["search", "--data", "iris", "--space", "mlp", "--budget", "3", "--epochs", "2",
         "--max-params", "10", "--storage", url, "--json", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 1  # nothing fits in 10 parameters
    study = metanas.load_study("iris-mlp-random-s0", storage=url)
    assert all("infeasible" in (t.error or "") for t in study.trials)
    assert all(t.metrics["params"] > 10 for t in study.trials)


def test_nasclassifier_in_cross_val_score(iris: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.model_selection import cross_val_score

    X, y = iris
    clf = metanas.NASClassifier(n_trials=1, max_epochs=8, storage="sqlite://", seed=0)
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,)
    assert scores.min() > 0.5  # three classes: chance is 1/3


def test_multi_objective_training_search_prints_a_front(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    res = runner.invoke(
        app,
        ["search", "--data", "wine", "--space", "mlp", "--strategy", "nsga2", "--budget", "4",
         "--epochs", "3", "--objectives", "valid_accuracy:max,latency_ms", "--storage", url,
         "--json", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["objectives"] == [["valid_accuracy", "maximize"], ["latency_ms", "minimize"]]
    assert summary["pareto_front"]
