"""The dashboard: pages, JSON, security, figures, architecture drawings, importances, reports."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import metanas
from conftest import nb201_cells
from metanas._stored_runs import store_run
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Result
from metanas.spaces import NB201Space
from metanas.spaces.architecture import Architecture
from metanas.storage import get_storage
from metanas.trial import Trial, TrialState

pytest.importorskip("fastapi", reason='the dashboard needs pip install "metanas[dashboard]"')
pytest.importorskip("plotly", reason='the dashboard needs pip install "metanas[dashboard]"')

from metanas.dashboard import (
    architecture_svg,
    create_app,
    decision_importances,
    write_report,
)

XSS = "<script>alert(1)</script>"


def build_store(url: str) -> None:
    """Four studies: a single-objective search on NAS-Bench-Graph Cora, a two-objective one
    named like an XSS attack, one with learning curves and a pruned trial, a one-shot run."""
    bench = NasBenchGraph("cora")
    kw = {"storage": url, "task": bench.name, "task_descriptors": bench.task_descriptors()}
    study = metanas.create_study(
        space=bench.space, name="cora-rea", strategy="evolution", seed=0, **kw
    )
    study.optimize(bench, n_trials=40)
    study = metanas.create_study(
        space=bench.space, name=XSS, strategy="random", seed=1,
        metric=["valid_accuracy", "latency"], direction=["maximize", "minimize"], **kw,
    )  # fmt: skip
    study.optimize(bench, n_trials=30)

    store = get_storage(url)
    space = NB201Space()
    record = store.create_study(
        name="curves", task=store.get_or_create_task("toy", {}), space=space.to_config(),
        strategy="random", strategy_settings={}, objectives=[("valid_accuracy", "maximize")],
        seed=0, user_attrs={},
    )  # fmt: skip
    ops = ["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"]
    archs = [
        Architecture({e: ops[(i + k) % 4] for k, e in enumerate(space.EDGES)}) for i in range(4)
    ]
    for i, arch in enumerate(archs):
        trial = store.add_trial(record.id, arch, seed=i)
        final = 0.5 + 0.1 * i
        curve = [(e, {"valid_accuracy": final * e / 4}, None) for e in range(1, 5)]
        pruned = i == 0
        if pruned:
            curve = curve[:2]
        store.finish_trial(
            trial, TrialState.PRUNED if pruned else TrialState.COMPLETE,
            metrics={"valid_accuracy": curve[-1][1]["valid_accuracy"]},
            values=[curve[-1][1]["valid_accuracy"]], intermediate=curve,
        )  # fmt: skip

    weights = [
        {"epoch": e, "weights": {"op1": {"gcn": 0.2 + 0.1 * e, "gat": 0.8 - 0.1 * e}}}
        for e in range(1, 4)
    ]
    store_run(
        storage=url, name="oneshot-run", kind="oneshot", method="darts", task=bench.name,
        task_descriptors=bench.task_descriptors(), space=bench.space,
        arch=bench.space.parse("0123|gcn,gin,fc,cheb"), settings={}, seed=0,
        objective=("valid_accuracy", "maximize"), metrics={"valid_accuracy": 0.8},
        user_attrs={"arch_weights": weights, "episode_accuracies": [0.5, 0.6, 0.7, 0.65]},
    )  # fmt: skip


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'runs.db'}"
    build_store(url)
    return url


@pytest.fixture(scope="module")
def client(store_url: str) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(create_app(store_url))


def payload_of(html: str) -> Any:
    match = re.search(r'<script type="application/json" id="payload">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


# ---------------------------------------------------------------- drawings
def test_cell_is_drawn_as_a_dag_with_its_operations() -> None:
    arch = {"1<-0": "nor_conv_3x3", "2<-0": "none", "2<-1": "skip_connect", "3<-0": "avg_pool_3x3",
            "3<-1": "nor_conv_1x1", "3<-2": "nor_conv_3x3"}  # fmt: skip
    svg = architecture_svg(arch)
    assert svg.count("<line") == 5  # "none" is no edge
    assert svg.count("<rect") == 4  # nodes 0..3
    assert "avg_pool_3x3" in svg
    assert ">none<" not in svg


def test_nas_bench_graph_wiring_and_chains() -> None:
    svg = architecture_svg({"link": "0011", "op1": "gcn", "op2": "gat", "op3": "sage", "op4": "fc"})
    # 4 node inputs (0, 0, 1, 1), and the leaves (nodes 2, 3, 4: nobody reads them) feed the output.
    assert svg.count("<line") == 7
    assert ">sage<" in svg
    chain = {"n_blocks": 2, "op_1": "conv3", "channels_1": 16, "stride_1": 1, "op_2": "max_pool",
             "channels_2": 32, "stride_2": 2, "op_3": "conv7", "activation": "relu"}  # fmt: skip
    svg = architecture_svg(chain)
    assert svg.count("<rect") == 4
    assert "conv7" not in svg
    assert "activation=relu" in svg


def test_generic_drawing_escapes_every_text() -> None:
    svg = architecture_svg({XSS: "<img src=x onerror=alert(1)>"}, title=XSS)
    assert "<script>" not in svg
    assert "<img" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;img src=x" in svg


# ---------------------------------------------------------------- importances
@pytest.mark.slow  # scikit-learn's import: seconds on a busy machine
def test_importance_finds_the_decision_that_matters() -> None:
    rng = np.random.default_rng(0)
    archs = [{"a": int(rng.integers(3)), "b": int(rng.integers(4)), "c": "same"} for _ in range(80)]
    values = [float(a["a"] == 2) + 0.01 * rng.normal() for a in archs]
    imp = decision_importances(archs, values, n_estimators=16)
    assert next(iter(imp)) == "a"
    assert imp["a"] > 0.8
    assert imp["c"] == 0.0
    assert sum(imp.values()) == pytest.approx(1.0)
    assert decision_importances(archs[:5], values[:5]) == {}
    with pytest.raises(ValueError, match="same length"):
        decision_importances(archs, values[:3])


# ---------------------------------------------------------------- pages
def test_index_lists_tasks_and_studies_with_names_escaped(client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "cora-rea" in r.text
    assert "nas-bench-graph/cora" in r.text
    assert XSS not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_study_page_has_history_regret_table_and_best_architecture(client: Any) -> None:
    r = client.get("/study", params={"name": "cora-rea"})
    assert r.status_code == 200
    data = payload_of(r.text)
    figures = dict(data["figures"])
    assert {"history", "regret"} <= set(figures)
    assert "pareto" not in figures
    best_line = figures["history"]["data"][-1]["y"]
    assert best_line == sorted(best_line)
    assert len(best_line) == 40
    regret = figures["regret"]["data"][0]["y"]
    optimum = NasBenchGraph("cora").optimum("valid_accuracy")
    assert regret[-1] == pytest.approx(optimum - best_line[-1], abs=1e-6)
    assert all(a >= b >= 0 for a, b in itertools.pairwise(regret))
    assert data["table"]["rows"]["number"] == list(range(40))
    assert "|" in data["table"]["rows"]["architecture"][0]  # the space's own notation
    arch = client.get("/api/arch", params={"name": "cora-rea", "trial": data["best"]}).json()
    assert arch["svg"].startswith("<svg")
    assert client.get("/api/version", params={"name": "cora-rea"}).json() == {"version": "40/40/0"}


def test_multi_objective_study_has_a_pareto_front_and_shows_its_name_as_text(client: Any) -> None:
    r = client.get("/study", params={"name": XSS})
    assert r.status_code == 200
    assert XSS not in r.text  # not in the HTML, not in the JSON block (\u003c escapes)
    assert "<h2>Study &lt;script&gt;alert(1)&lt;/script&gt;</h2>" in r.text
    data = payload_of(r.text)
    assert data["name"] == XSS
    front = dict(data["figures"])["pareto"]["data"][1]
    xs, ys = front["x"], front["y"]
    assert xs == sorted(xs)
    assert ys == sorted(ys)


def test_learning_curves_mark_pruned_trials(client: Any) -> None:
    data = payload_of(client.get("/study", params={"name": "curves"}).text)
    curves = dict(data["figures"])["curves"]["data"]
    assert sum(1 for t in curves if t["mode"] == "lines") == 4
    stops = [t for t in curves if t["name"] == "stopped (pruned)"]
    assert stops
    assert stops[0]["x"] == [2]
    svg = client.get("/api/arch", params={"name": "curves", "trial": 1}).json()["svg"]
    assert "nor_conv_3x3" in svg


def test_one_shot_weights_and_episode_accuracies(client: Any) -> None:
    figures = dict(payload_of(client.get("/study", params={"name": "oneshot-run"}).text)["figures"])
    heat = figures["weights-0"]["data"][0]
    assert heat["y"] == ["gcn", "gat"]
    assert heat["x"] == [1, 2, 3]
    assert heat["z"][0] == pytest.approx([0.3, 0.4, 0.5])
    assert figures["episodes"]["data"][0]["x"] == [0.5, 0.6, 0.7, 0.65]


@pytest.mark.slow  # scikit-learn
def test_importance_endpoint_and_meta_view(client: Any) -> None:
    fig = client.get("/api/importance", params={"name": "cora-rea"}).json()["figure"]
    assert set(fig["data"][0]["y"]) == {"link", "op1", "op2", "op3", "op4"}
    meta = payload_of(client.get("/meta").text)
    heat = dict(meta["figures"])["similarity"]["data"][0]
    assert "nas-bench-graph/cora" in heat["x"]
    i = heat["y"].index("toy")
    assert heat["z"][i][i] == 1.0


def test_read_only_and_no_path_or_sql_is_taken(client: Any) -> None:
    missing = client.get("/study", params={"name": "<b>nope</b>"})
    assert missing.status_code == 404
    assert "&lt;b&gt;nope&lt;/b&gt;" in missing.text
    assert "<b>nope" not in missing.text
    assert client.get("/api/data", params={"name": "x' OR 1=1 --"}).status_code == 404
    assert client.get("/api/arch", params={"name": "cora-rea", "trial": 999}).status_code == 404
    assert client.post("/study", params={"name": "cora-rea"}).status_code == 405
    assert client.delete("/api/data", params={"name": "cora-rea"}).status_code == 405
    assert client.get("/static/../../etc/passwd").status_code == 404
    assert (
        client.get("/static/plotly.min.js")
        .headers["content-type"]
        .startswith("application/javascript")
    )


# ---------------------------------------------------------------- report, PNG, CLI
@pytest.mark.slow  # gzips plotly.js, matplotlib, scikit-learn
def test_report_is_one_self_contained_file(store_url: str, tmp_path: Path) -> None:
    out = write_report(store_url, XSS, tmp_path / "r.html", png_dir=tmp_path / "png")
    html = out.read_text()
    assert out.stat().st_size < 3_000_000
    assert 'id="plotly-gz"' in html
    assert "src=" not in html.split("<main>")[0]
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert XSS not in html
    data = payload_of(html)
    assert data["api"] is None
    assert data["svgs"]
    assert {p.name for p in (tmp_path / "png").iterdir()} == {
        "history.png",
        "pareto.png",
        "importance.png",
    }


@pytest.mark.slow  # matplotlib, scikit-learn
def test_cli_plot_and_report(store_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from metanas.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["studies", "plot", "curves", "--storage", store_url, "--kind",
                              "curves", "--out", str(tmp_path / "c.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["studies", "plot", "cora-rea", "--storage", store_url, "--kind",
                              "pareto", "--out", str(tmp_path / "p.png")])  # fmt: skip
    assert res.exit_code == 2
    assert "one objective" in res.output
    res = runner.invoke(app, ["report", "cora-rea", "--storage", store_url, "--out",
                              str(tmp_path / "r.html")])  # fmt: skip
    assert res.exit_code == 0
    assert (tmp_path / "r.html").is_file()
    res = runner.invoke(app, ["dashboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}"])
    assert res.exit_code == 2
    assert "does not exist" in res.output
    assert not (tmp_path / "none.db").exists()


def test_pages_follow_a_running_study(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    url = f"sqlite:///{tmp_path / 'live.db'}"
    space = metanas.spaces.SearchSpace({"a": [1, 2, 3], "b": ["x", "y"]})
    study = metanas.create_study(space=space, name="live", storage=url, strategy="random", seed=0)
    client = TestClient(create_app(url))
    assert client.get("/api/version", params={"name": "live"}).json()["version"] == "0/0/0"
    trial = study.ask()
    running = payload_of(client.get("/study", params={"name": "live"}).text)
    assert running["table"]["rows"]["state"] == ["running"]
    study.tell(trial, Result(metrics={"valid_accuracy": 0.5}))
    assert client.get("/api/version", params={"name": "live"}).json()["version"] == "1/1/0"
    data = client.get("/api/data", params={"name": "live"}).json()
    assert data["table"]["rows"]["state"] == ["complete"]
    assert data["table"]["rows"]["valid_accuracy"] == [0.5]


def test_scheduler_events_mark_stops_and_promotions() -> None:
    from types import SimpleNamespace

    from metanas.dashboard import _data

    class Store:
        def get_values(self, study_id: int) -> dict[int, list[Any]]:
            return {
                n: [(e, {"valid_accuracy": 0.1 * e + n}, None) for e in (1, 2, 3)] for n in (0, 1)
            }

        def get_events(self, study_id: int) -> list[Any]:
            return [
                SimpleNamespace(number=0, kind="result", budget=1.0, decision="continue"),
                SimpleNamespace(number=1, kind="result", budget=1.0, decision="pause"),
                SimpleNamespace(number=1, kind="stop", budget=1.0, decision="stop"),
            ]

    arch = metanas.spaces.architecture.Architecture({"a": 1})
    record = SimpleNamespace(id=1, objectives=(("valid_accuracy", "maximize"),), name="s")
    trials = [
        Trial(number=n, state=TrialState.COMPLETE, arch=arch, values=(0.3 + n,)) for n in (0, 1)
    ]
    view = _data.StudyView(record, trials, ["a=1", "a=1"])  # type: ignore[arg-type]
    fig = _data.curves_figure(Store(), view)  # type: ignore[arg-type]
    assert fig is not None
    marks = {t["name"]: (t["x"], t["y"]) for t in fig["data"] if t["mode"] == "markers"}
    assert marks["promoted"] == ([1], [0.1])
    assert marks["stopped (pruned)"] == ([1], [1.1])


def test_a_memory_strategy_lists_the_past_tasks_it_learns_from(tmp_path: Path) -> None:
    from metanas.dashboard import _data

    url = f"sqlite:///{tmp_path / 'meta.db'}"
    space = metanas.spaces.SearchSpace({"a": [1, 2, 3], "b": ["x", "y"]})
    for task, k in (("past-1", 1.0), ("past-2", -1.0)):
        study = metanas.create_study(
            space=space, name=task, storage=url, strategy="random", seed=0, task=task,
            task_descriptors={"n": 10 * k},
        )  # fmt: skip
        for arch in space.enumerate():
            study.enqueue(arch)
            study.tell(study.ask(), Result(metrics={"valid_accuracy": k * float(arch["a"])}))
    store = get_storage(url)
    record = store.create_study(
        name="new", task=store.get_or_create_task("new-task", {"n": 10.0}), space=space.to_config(),
        strategy="meta", strategy_settings={}, objectives=[("valid_accuracy", "maximize")], seed=0,
        user_attrs={},
    )  # fmt: skip
    view = _data.StudyView(record, [], [])
    ranked = _data.warm_start_tasks(store, view)
    assert [t for t, _s in ranked] == ["past-1", "past-2"]
    plain = _data.StudyView(store.get_study("past-1"), [], [])
    assert _data.warm_start_tasks(store, plain) == []


def test_a_table_studys_architectures_print_in_its_base_spaces_notation(tmp_path: Path) -> None:
    from metanas.benchmarks import TabularBenchmark
    from metanas.dashboard import _data

    space = NB201Space()
    archs = nb201_cells(12)
    csv = tmp_path / "table.csv"
    csv.write_text("arch,acc\n" + "".join(f"{a},{0.5 + i / 100}\n" for i, a in enumerate(archs)))
    bench = TabularBenchmark.from_csv(csv, space=space, metrics=["acc"], restrict=True)
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = metanas.create_study(storage=url, name="t", space=bench.space, metric="acc", seed=0)
    study.optimize(bench, n_trials=3)
    csv.unlink()  # the rows cannot be read again: the notation still comes from the base space
    view = _data.load_study_view(get_storage(url), "t")
    assert view.arch_text == [space.format(t.arch) for t in study.trials]
    assert all(text.startswith("|") for text in view.arch_text)
