"""The ``metanas`` command line: search, resume, studies, bench, and its error messages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import metanas
from metanas.cli import app
from metanas.spaces import NB201Space

runner = CliRunner()

CONTRACT = [
    "search", "--benchmark", "nas-bench-graph", "--dataset", "cora", "--strategy", "evolution",
    "--n-trials", "100", "--seed", "0", "--storage", "sqlite:///runs.db", "--study", "cora-rea",
]  # fmt: skip

# A synthetic NAS-Bench-201 "accuracy": a fixed score per operation, weighted per edge.
_OP_SCORE = {
    "none": 0.0, "skip_connect": 0.3, "nor_conv_1x1": 0.6, "nor_conv_3x3": 1.0,
    "avg_pool_3x3": 0.2,
}  # fmt: skip


def synthetic_acc(arch: metanas.Architecture) -> float:
    return sum(_OP_SCORE[str(op)] * (i + 1) for i, op in enumerate(arch.values())) / 21.0


def contract(budget: int, url: str, *extra: str) -> list[str]:
    """The issue's command line with another budget and storage."""
    args = list(CONTRACT)
    args[args.index("--n-trials") + 1] = str(budget)
    args[args.index("--storage") + 1] = url
    return [*args, *extra]


def invoke(args: list[str], **kwargs: Any) -> Any:
    return runner.invoke(app, args, **kwargs)


def invoke_json(args: list[str]) -> Any:
    result = invoke([*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_usage_error(result: Any, *fragments: str) -> str:
    """Exit 2 and exactly one ``Error: ...`` line on stderr containing ``fragments``."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    return str(lines[0])


def write_nb201_table(path: Path, archs: list[metanas.Architecture]) -> Path:
    space = NB201Space()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "acc", "test_acc", "lat"])
        for a in archs:
            acc = synthetic_acc(a)
            w.writerow([space.format(a), acc, 0.9 * acc, len(space.format(a))])
    return path


@pytest.fixture(scope="module")
def nb201_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every NAS-Bench-201 cell (15,625 rows) with the synthetic metric."""
    space = NB201Space()
    return write_nb201_table(
        tmp_path_factory.mktemp("tables") / "nb201.csv", list(space.enumerate())
    )


@pytest.fixture(scope="module")
def nb201_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 distinct random cells."""
    space, rng = NB201Space(), np.random.default_rng(0)
    archs: dict[metanas.Architecture, None] = {}
    while len(archs) < 200:
        archs[space.sample(rng)] = None
    return write_nb201_table(tmp_path_factory.mktemp("tables") / "nb201_small.csv", list(archs))


@pytest.fixture
def searched(db_url: str) -> str:
    """A storage holding study cora-rea (evolution, seed 0) with 20 finished trials."""
    result = invoke(contract(20, db_url))
    assert result.exit_code == 0, result.output
    return db_url


# ---------------------------------------------------------------- basics
def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"metanas {metanas.__version__}"


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command of the app, groups included (the root is ``()``).

    Typer's click commands: a group has ``commands`` (typer vendors click, so no isinstance).
    """
    yield path, cmd
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            if not sub.hidden:
                yield from _commands(sub, (*path, name))


_TREE = list(_commands(typer.main.get_command(app)))


def _example_lines(cmd: Any) -> list[str]:
    return [
        line.strip() for line in (cmd.epilog or "").splitlines()
        if line.strip().startswith("metanas")
    ]  # fmt: skip


def test_the_command_tree_is_walked() -> None:
    paths = {" ".join(p) for p, _ in _TREE}
    expected = {"search", "oneshot", "fewshot", "bench", "export", "suggest", "studies list"}
    assert expected | {"studies show", "studies export", "studies delete"} <= paths
    assert {"memory list", "memory export", "memory import"} <= paths


@pytest.mark.parametrize(("path", "cmd"), _TREE, ids=[" ".join(p) or "metanas" for p, _ in _TREE])
def test_every_command_has_help_with_examples(path: tuple[str, ...], cmd: Any) -> None:
    result = invoke([*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Examples" in result.stdout
    examples = _example_lines(cmd)
    assert examples, f"no example in the help of {path}"
    assert all(e.startswith(" ".join(("metanas", *path))) for e in examples), examples
    assert examples[0] in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    "example", [e for _, cmd in _TREE for e in _example_lines(cmd)], ids=lambda e: e[:60]
)
def test_every_example_parses(example: str) -> None:
    """Each example command parses against the real options; the commands are mocked."""
    for part in example.split(" && "):
        words = shlex.split(part.split(" > ")[0])[1:]  # no "metanas", no shell redirection
        root = typer.main.get_command(app)
        called: list[tuple[str, ...]] = []
        for path, cmd in _commands(root):
            if not hasattr(cmd, "commands"):
                cmd.callback = lambda *a, _p=path, _c=called, **kw: _c.append(_p)
        root.main(words, prog_name="metanas", standalone_mode=False)
        assert len(called) == 1, (part, called)
        assert list(called[0]) == words[: len(called[0])]


# ---------------------------------------------------------------- search
def test_contract_command_runs_and_stores_the_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = invoke(contract(15, url))
    assert result.exit_code == 0, result.output
    study = metanas.load_study("cora-rea", storage=url)
    assert len(study.trials) == 15
    assert study.strategy.registered_name == "evolution"
    assert study.seed == 0
    assert study.task == "nas-bench-graph/cora"
    best = study.best_trial
    out = result.stdout
    assert "cora-rea" in out
    assert study.space.format(best.arch) in out  # space notation, e.g. 0123|gcn,gin,fc,cheb
    assert "test_accuracy" in out
    assert "Regret" in out
    assert url in out


def test_contract_command_with_a_relative_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--storage sqlite:///runs.db`` as written in the issue: a file in the working directory."""
    monkeypatch.chdir(tmp_path)
    result = invoke(contract(10, "sqlite:///runs.db"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs.db").is_file()


def test_search_is_same_as_the_api(db_url: str) -> None:
    """The CLI runs exactly the documented API call: same seed, same trials."""
    invoke(contract(15, db_url))
    bench = metanas.benchmarks.NasBenchGraph("cora")
    api = metanas.create_study(
        name="api", storage="sqlite://", space=bench.space, strategy="evolution", seed=0,
        metric="valid_accuracy", direction="maximize", task="nas-bench-graph/cora",
    )  # fmt: skip
    api.optimize(bench, n_trials=15)
    cli = metanas.load_study("cora-rea", storage=db_url)
    assert [t.arch for t in cli.trials] == [t.arch for t in api.trials]


def test_rerun_with_bigger_budget_resumes(searched: str) -> None:
    before = metanas.load_study("cora-rea", storage=searched).trials
    summary = invoke_json(contract(30, searched))
    assert summary["resumed"] is True
    assert summary["n_new_trials"] == 10
    assert summary["n_trials"] == 30
    after = metanas.load_study("cora-rea", storage=searched).trials
    assert len(after) == 30
    assert [(t.number, t.arch, t.values) for t in after[:20]] == [
        (t.number, t.arch, t.values) for t in before
    ]
    # a resumed study proposes what an uninterrupted one would have
    bench = metanas.benchmarks.NasBenchGraph("cora")
    whole = metanas.create_study(
        name="whole", storage="sqlite://", space=bench.space, strategy="evolution", seed=0
    )
    whole.optimize(bench, n_trials=30)
    assert [t.arch for t in after] == [t.arch for t in whole.trials]


def test_rerun_with_the_same_budget_only_reports(searched: str) -> None:
    summary = invoke_json(contract(20, searched))
    assert summary["n_new_trials"] == 0
    assert summary["n_trials"] == 20
    smaller = invoke_json(contract(5, searched))
    assert smaller["n_new_trials"] == 0
    assert smaller["n_trials"] == 20


def test_resume_without_strategy_uses_the_stored_one(searched: str) -> None:
    args = ["search", "--dataset", "cora", "--n-trials", "25", "--storage", searched]
    summary = invoke_json([*args, "--study", "cora-rea"])
    assert summary["strategy"] == "evolution"
    assert summary["n_trials"] == 25


def test_json_summary_fields(db_url: str) -> None:
    start = time.perf_counter()
    s = invoke_json(contract(15, db_url))
    elapsed = time.perf_counter() - start
    expected = {
        "study", "task", "strategy", "strategy_settings", "seed", "objectives", "metric",
        "direction", "budget", "resumed", "n_new_trials", "n_trials", "n_finished",
        "n_complete", "n_failed", "best", "pareto_front", "optimum", "regret", "wall_time_s",
        "storage",
    }  # fmt: skip
    assert expected <= set(s)
    assert (s["study"], s["task"], s["strategy"], s["seed"]) == (
        "cora-rea", "nas-bench-graph/cora", "evolution", 0,
    )  # fmt: skip
    assert (s["n_trials"], s["n_complete"], s["n_failed"], s["resumed"]) == (15, 15, 0, False)
    assert (s["metric"], s["direction"]) == ("valid_accuracy", "maximize")
    study = metanas.load_study("cora-rea", storage=db_url)
    best = study.best_trial
    bench = metanas.benchmarks.NasBenchGraph("cora")
    assert s["best"]["number"] == best.number
    assert bench.space.parse(s["best"]["arch"]) == best.arch
    assert s["best"]["value"] == pytest.approx(max(t.value for t in study.trials))
    assert s["best"]["test_metrics"]["test_accuracy"] == pytest.approx(
        bench.query(best.arch, "test_accuracy")
    )
    assert s["optimum"] == pytest.approx(bench.optimum("valid_accuracy"))
    assert s["regret"] == pytest.approx(s["optimum"] - s["best"]["value"])
    assert s["regret"] >= 0
    assert 0 < s["wall_time_s"] <= elapsed
    assert s["storage"] == db_url


def test_default_study_name_and_storage_from_env(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = invoke(
        ["search", "--dataset", "citeseer", "--strategy", "local", "--seed", "3", "--n-trials",
         "10", "--json"],
        env={"METANAS_STORAGE": url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert s["study"] == "citeseer-local-s3"
    assert s["storage"] == url
    assert metanas.load_study("citeseer-local-s3", storage=url).n_finished == 10


def test_strategy_settings_are_parsed_and_stored(db_url: str) -> None:
    s = invoke_json(contract(10, db_url, "--setting", "population_size=8", "--setting",
                                "sample_size=3"))  # fmt: skip
    assert s["strategy_settings"] == {"population_size": 8, "sample_size": 3}
    show = invoke_json(["studies", "show", "cora-rea", "--storage", db_url])
    assert show["strategy_settings"] == {"population_size": 8, "sample_size": 3}


def test_metric_direction_defaults_to_the_metrics_own(db_url: str) -> None:
    s = invoke_json(
        ["search", "--dataset", "cora", "--metric", "latency", "--n-trials", "10", "--storage",
         db_url]
    )  # fmt: skip
    assert (s["metric"], s["direction"]) == ("latency", "minimize")
    assert s["study"] == "cora-random-s0-latency"
    study = metanas.load_study(s["study"], storage=db_url)
    assert s["best"]["value"] == pytest.approx(min(t.value for t in study.trials))


def test_two_objectives_report_the_pareto_front(db_url: str) -> None:
    s = invoke_json(
        ["search", "--dataset", "cora", "--metric", "valid_accuracy:max,latency:min", "--n-trials",
         "15", "--storage", db_url]
    )  # fmt: skip
    assert s["best"] is None
    assert s["objectives"] == [["valid_accuracy", "maximize"], ["latency", "minimize"]]
    front = s["pareto_front"]
    assert 1 <= len(front) <= 15
    assert all(len(t["values"]) == 2 for t in front)


def test_interrupt_exits_1_and_says_where_trials_are(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: metanas.Study, *args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(metanas.Study, "optimize", interrupted)
    result = invoke(contract(10, db_url))
    assert result.exit_code == 1
    assert f"Interrupted; finished trials are saved in {db_url}" in result.stderr


# ---------------------------------------------------------------- search errors
def test_unknown_strategy_suggests_the_close_name(db_url: str) -> None:
    args = contract(10, db_url)
    args[args.index("--strategy") + 1] = "evolutoin"
    line = assert_usage_error(invoke(args), "Unknown strategy 'evolutoin'")
    assert "Did you mean 'evolution'?" in line


def test_unknown_dataset_suggests_the_close_name(db_url: str) -> None:
    args = contract(10, db_url)
    args[args.index("--dataset") + 1] = "corra"
    assert_usage_error(invoke(args), "'corra'", "Did you mean 'cora'?")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--n-trials", "5"], "--dataset"),
        (["--dataset", "cora", "--table", "x.csv", "--space", "nb201"], "not both"),
        (["--dataset", "cora", "--setting", "population_size"], "KEY=VALUE"),
        (["--dataset", "cora", "--strategy", "evolution", "--setting", "popsize=3"],
         "Did you mean 'population_size'?"),
        (["--dataset", "cora", "--metric", "valid_acc"], "Did you mean 'valid_accuracy'?"),
        (["--dataset", "cora", "--metric", "test_accuracy"], "reserved for reporting"),
        (["--dataset", "cora", "--space", "nb201"], "--space only goes with --table"),
        (["--dataset", "cora", "--storage", "runs.db"], "sqlite:///runs.db"),
    ],
)  # fmt: skip
def test_bad_search_options_exit_2_with_one_line(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    env = {"METANAS_STORAGE": f"sqlite:///{tmp_path / 'e.db'}"}
    assert_usage_error(invoke(["search", *args], env=env), fragment)


def test_budget_must_be_positive(db_url: str) -> None:
    result = invoke(contract(0, db_url))
    assert result.exit_code == 2


def test_resume_with_another_strategy_is_refused(searched: str) -> None:
    args = contract(30, searched)
    args[args.index("--strategy") + 1] = "tpe"
    assert_usage_error(invoke(args), "created with --strategy evolution, not tpe", "--study")
    assert metanas.load_study("cora-rea", storage=searched).n_finished == 20


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("--seed", "1"), "--seed 0, not 1"),
        (("--dataset", "citeseer"), "task 'nas-bench-graph/cora'"),
        (("--metric", "latency"), "optimises valid_accuracy:max"),
    ],
)
def test_resume_with_other_settings_is_refused(
    searched: str, change: tuple[str, str], fragment: str
) -> None:
    flag, value = change
    args = contract(30, searched)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert_usage_error(invoke(args), fragment)


# ---------------------------------------------------------------- search on a CSV table
def test_table_search_parses_the_csv(nb201_full: Path, db_url: str) -> None:
    s = invoke_json(
        ["search", "--table", str(nb201_full), "--space", "nb201", "--arch-column", "arch",
         "--metric", "acc", "--test-metric", "test_acc", "--strategy", "evolution",
         "--n-trials", "30", "--storage", db_url]
    )  # fmt: skip
    assert s["study"] == "nb201-evolution-s0-acc"
    assert s["task"] == "nb201"
    assert (s["n_trials"], s["n_complete"]) == (30, 30)
    space = NB201Space()
    arch = space.parse(s["best"]["arch"])  # NAS-Bench-201 notation
    assert s["best"]["arch"].startswith("|")
    assert s["best"]["arch"].count("+") == 2
    assert s["best"]["value"] == pytest.approx(synthetic_acc(arch))
    assert s["best"]["test_metrics"] == {"test_acc": pytest.approx(0.9 * synthetic_acc(arch))}
    assert s["optimum"] == pytest.approx(1.0)  # every edge nor_conv_3x3
    assert s["regret"] == pytest.approx(1.0 - s["best"]["value"])


def test_table_search_minimize_column(nb201_full: Path, db_url: str) -> None:
    s = invoke_json(
        ["search", "--table", str(nb201_full), "--space", "nb201", "--metric", "lat",
         "--minimize", "lat", "--n-trials", "10", "--storage", db_url, "--study", "lat"]
    )  # fmt: skip
    assert s["direction"] == "minimize"
    assert s["optimum"] == min(len(a) for a in pd.read_csv(nb201_full)["arch"])


def test_table_missing_architectures_fail_their_trials(nb201_small: Path, db_url: str) -> None:
    """200 of 15,625 cells: proposals outside the table fail, and the command says why."""
    result = invoke(
        ["search", "--table", str(nb201_small), "--space", "nb201", "--metric", "acc",
         "--strategy", "random", "--n-trials", "10", "--storage", db_url, "--json"]
    )  # fmt: skip
    s = json.loads(result.stdout)
    assert s["n_trials"] == 10
    assert s["n_failed"] == 10 - s["n_complete"]
    if s["n_complete"] == 0:
        assert result.exit_code == 1
        assert "is not in table 'nb201_small'" in result.stderr.splitlines()[-1]
    else:
        assert result.exit_code == 0


def table_args(path: Path, *extra: str) -> list[str]:
    return ["search", "--table", str(path), "--space", "nb201", "--metric", "acc", *extra]


def test_unknown_csv_column(nb201_small: Path, db_url: str) -> None:
    result = invoke(table_args(nb201_small, "--test-metric", "test_accc", "--storage", db_url))
    assert_usage_error(result, "Unknown column 'test_accc'", "Did you mean 'test_acc'?")
    result = invoke(table_args(nb201_small, "--arch-column", "cell", "--storage", db_url))
    assert_usage_error(result, "Unknown column 'cell'")


def test_malformed_architecture_in_csv(nb201_small: Path, tmp_path: Path, db_url: str) -> None:
    lines = nb201_small.read_text().splitlines()
    arch, rest = lines[3].split(",", 1)
    lines[3] = arch.replace("nor_conv_3x3", "conv_3x3", 1).replace("none", "nonee", 1) + "," + rest
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    line = assert_usage_error(invoke(table_args(bad, "--storage", db_url)), "Row 2", "'arch'")
    assert "Cannot read NAS-Bench-201 architecture" in line


def test_malformed_csv(tmp_path: Path, db_url: str) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text('arch,acc\n"|none~0|+|none~0|none~1|,0.5\n')
    assert_usage_error(invoke(table_args(bad, "--storage", db_url)), "Cannot read CSV")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_usage_error(invoke(table_args(empty, "--storage", db_url)), "Cannot read CSV")


def test_csv_rows_with_a_trailing_comma(tmp_path: Path, db_url: str) -> None:
    space = NB201Space()
    rows = [f"{space.format(a)},{synthetic_acc(a)}," for a in space.enumerate()]
    path = tmp_path / "trailing.csv"
    path.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    s = invoke_json(table_args(path, "--n-trials", "10", "--storage", db_url))
    assert s["n_complete"] == 10
    assert s["best"]["value"] == pytest.approx(synthetic_acc(space.parse(s["best"]["arch"])))


def test_missing_csv_and_missing_space(tmp_path: Path, db_url: str) -> None:
    missing = tmp_path / "nope.csv"
    assert_usage_error(invoke(table_args(missing, "--storage", db_url)), "No CSV file")
    result = invoke(["search", "--table", str(missing), "--metric", "acc", "--storage", db_url])
    assert_usage_error(result, "--table needs --space")
    result = invoke(["search", "--table", str(missing), "--space", "nb20", "--storage", db_url])
    assert_usage_error(result, "Did you mean 'nb201'?")


def test_space_setting_reaches_the_space(tmp_path: Path, db_url: str) -> None:
    """--space-setting proteins=true: the reduced NAS-Bench-Graph operation set."""
    bench = metanas.benchmarks.NasBenchGraph("proteins")
    path = tmp_path / "proteins.csv"
    df = bench.to_dataframe()[["arch", "valid_accuracy"]]
    df.to_csv(path, index=False)
    s = invoke_json(
        ["search", "--table", str(path), "--space", "nas-bench-graph", "--space-setting",
         "proteins=true", "--n-trials", "10", "--storage", db_url]
    )  # fmt: skip
    assert s["n_complete"] == 10
    show = invoke_json(["studies", "show", s["study"], "--storage", db_url])
    assert show["space"] == {"type": "nas-bench-graph", "settings": {"proteins": True}}


# ---------------------------------------------------------------- studies
def test_studies_list(searched: str) -> None:
    invoke(["search", "--dataset", "citeseer", "--n-trials", "10", "--storage", searched])
    rows = invoke_json(["studies", "list", "--storage", searched])
    assert [r["name"] for r in rows] == ["cora-rea", "citeseer-random-s0"]
    assert (rows[0]["strategy"], rows[0]["n_trials"], rows[0]["n_complete"]) == (
        "evolution", 20, 20,
    )  # fmt: skip
    best = metanas.load_study("cora-rea", storage=searched).best_trial.value
    assert rows[0]["best_value"] == pytest.approx(best)
    dt.datetime.fromisoformat(rows[0]["created_at"])
    table = invoke(["studies", "list", "--storage", searched])
    assert table.exit_code == 0
    assert "cora-rea" in table.stdout
    assert "citeseer-random-s0" in table.stdout


def test_studies_list_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    assert invoke_json(["studies", "list", "--storage", f"sqlite:///{path}"]) == []
    result = invoke(["studies", "list", "--storage", f"sqlite:///{path}"])
    assert "No studies" in result.stdout
    assert not path.exists()


def test_studies_show(searched: str) -> None:
    info = invoke_json(["studies", "show", "cora-rea", "--top", "3", "--storage", searched])
    study = metanas.load_study("cora-rea", storage=searched)
    assert info["strategy"] == "evolution"
    assert info["seed"] == 0
    assert info["objectives"] == [["valid_accuracy", "maximize"]]
    assert info["task_descriptors"] == metanas.benchmarks.NasBenchGraph("cora").task_descriptors()
    assert info["n_trials"] == 20
    values = [t["values"][0] for t in info["top_trials"]]
    assert values == sorted((t.value for t in study.trials), reverse=True)[:3]
    assert info["top_trials"][0]["number"] == study.best_trial.number
    text = invoke(["studies", "show", "cora-rea", "--storage", searched])
    assert text.exit_code == 0
    assert study.space.format(study.best_trial.arch) in text.stdout
    everything = invoke_json(["studies", "show", "cora-rea", "--top", "0", "--storage", searched])
    assert len(everything["top_trials"]) == 20


def test_studies_show_missing_study(searched: str, tmp_path: Path) -> None:
    result = invoke(["studies", "show", "cora-re", "--storage", searched])
    assert_usage_error(result, "No study named 'cora-re'", "Did you mean 'cora-rea'?")
    result = invoke(["studies", "show", "x", "--storage", f"sqlite:///{tmp_path / 'no.db'}"])
    assert_usage_error(result, "does not exist")
    assert not (tmp_path / "no.db").exists()


def test_studies_export_csv(searched: str, tmp_path: Path) -> None:
    result = invoke(["studies", "export", "cora-rea", "--storage", searched])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(io.StringIO(result.stdout))
    assert len(df) == 20
    assert list(df["number"]) == list(range(20))
    assert {"arch", "value", "metrics.valid_accuracy", "test_metrics.test_accuracy"} <= set(
        df.columns
    )
    out = tmp_path / "out" / "trials.csv"
    result = invoke(["studies", "export", "cora-rea", "-o", str(out), "--storage", searched])
    assert result.exit_code == 0
    assert "Wrote 20 trial(s)" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out), df)


def test_studies_export_json(searched: str, tmp_path: Path) -> None:
    result = invoke(["studies", "export", "cora-rea", "--format", "json", "--storage", searched])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 20
    study = metanas.load_study("cora-rea", storage=searched)
    for rec, trial in zip(records, study.trials, strict=True):
        assert rec["number"] == trial.number
        assert rec["arch"] == study.space.format(trial.arch)
        assert rec["value"] == pytest.approx(trial.value)
        assert dt.datetime.fromisoformat(rec["started_at"]) == trial.started_at
        assert dt.datetime.fromisoformat(rec["finished_at"]) == trial.finished_at
    out = tmp_path / "trials.json"  # format from the suffix
    invoke(["studies", "export", "cora-rea", "--output", str(out), "--storage", searched])
    assert json.loads(out.read_text()) == records


def test_export_of_unfinished_trials_writes_null(searched: str) -> None:
    study = metanas.load_study("cora-rea", storage=searched)
    study.enqueue("0123|gcn,gin,fc,cheb")
    records = json.loads(
        invoke(["studies", "export", "cora-rea", "-f", "json", "--storage", searched]).stdout
    )
    assert len(records) == 21
    assert records[-1]["state"] == "waiting"
    assert records[-1]["arch"] == "0123|gcn,gin,fc,cheb"
    assert records[-1]["value"] is None
    assert records[-1]["finished_at"] is None


def test_studies_delete(searched: str) -> None:
    result = invoke(["studies", "delete", "cora-rea", "--storage", searched])
    assert_usage_error(result, "--yes")
    assert invoke_json(["studies", "list", "--storage", searched])[0]["name"] == "cora-rea"
    result = invoke(["studies", "delete", "cora-rea", "--yes", "--storage", searched])
    assert result.exit_code == 0
    assert invoke_json(["studies", "list", "--storage", searched]) == []
    result = invoke(["studies", "delete", "cora-rea", "--yes", "--storage", searched])
    assert_usage_error(result, "No study named 'cora-rea'")


# ---------------------------------------------------------------- bench
@pytest.mark.slow  # matplotlib: about 1 s
def test_bench_json_markdown_and_plots(tmp_path: Path) -> None:
    md, plots = tmp_path / "benchmarks.md", tmp_path / "plots"
    result = invoke(
        ["bench", "--datasets", "cora", "--strategies", "random,evolution", "--seeds", "2",
         "--n-trials", "10", "--output", str(md), "--plots", str(plots), "--json"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rows = out["summary"]
    assert [(r["dataset"], r["strategy"], r["n_seeds"]) for r in rows] == [
        ("cora", "random", 2), ("cora", "evolution", 2),
    ]  # fmt: skip
    assert all(r["budget"] == 10 for r in rows)
    text = md.read_text()
    assert "<!-- BEGIN cli-bench -->" in text
    assert "<!-- END cli-bench -->" in text
    assert out["plots"]
    assert all(Path(p).is_file() for p in out["plots"])


def test_bench_table(tmp_path: Path) -> None:
    result = invoke(
        ["bench", "--datasets", "citeseer", "--strategies", "random", "--seeds", "2",
         "--n-trials", "10"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "citeseer" in result.stdout
    assert "valid regret @10" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--strategies", "random,evolutoin"], "Did you mean 'evolution'?"),
        (["--datasets", "corra"], "Did you mean 'cora'?"),
        (["--benchmark", "nas-bench-grap"], "Did you mean 'nas-bench-graph'?"),
    ],
)
def test_bench_bad_names(args: list[str], fragment: str) -> None:
    result = invoke(["bench", "--seeds", "1", "--n-trials", "5", *args])
    assert_usage_error(result, fragment)


# ---------------------------------------------------------------- real process
@pytest.mark.slow
def test_metanas_command_in_a_subprocess(tmp_path: Path) -> None:
    exe = shutil.which("metanas")
    cmd = [exe] if exe else [sys.executable, "-m", "metanas.cli"]
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    env = {**os.environ, "METANAS_STORAGE": url}
    args = [
        "search", "--benchmark", "nas-bench-graph", "--dataset", "cora", "--strategy",
        "evolution", "--n-trials", "15", "--seed", "0", "--study", "cora-rea", "--json",
    ]  # fmt: skip
    proc = subprocess.run(
        [*cmd, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["n_trials"] == 15
    assert summary["storage"] == url
    assert metanas.load_study("cora-rea", storage=url).n_finished == 15
    bad = subprocess.run(
        [*cmd, "search", "--dataset", "cora", "--strategy", "evolutoin"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "Did you mean 'evolution'?" in bad.stderr


# ---------------------------------------------------------------- deprecated spellings
def test_budget_is_a_deprecated_alias_of_n_trials(db_url: str) -> None:
    args = contract(12, db_url)
    args[args.index("--n-trials")] = "--budget"
    result = invoke([*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_trials"] == 12
    assert result.stderr.strip().splitlines() == ["Deprecated: --budget is now --n-trials."]
    assert_usage_error(invoke([*args, "--n-trials", "5"]), "give only --n-trials")
    bench = invoke(["bench", "--datasets", "cora", "--strategies", "random", "--seeds", "1",
                    "--budget", "5", "--json"])  # fmt: skip
    assert bench.exit_code == 0, bench.output
    assert "Deprecated: --budget is now --n-trials." in bench.stderr


def test_time_budget_min_is_a_deprecated_alias_of_timeout_min(db_url: str) -> None:
    result = invoke(["search", "--dataset", "cora", "--time-budget-min", "1", "--storage", db_url])
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Deprecated: --time-budget-min is now --timeout-min."
    # The error names the option the user typed, not its new spelling.
    fix = "e.g. --data digits --space mlp."
    assert lines[1:] == [f"Error: --time-budget-min goes with --data (real training), {fix}"]
    assert result.exit_code == 2
    new = invoke(["search", "--dataset", "cora", "--timeout-min", "1", "--storage", db_url])
    assert new.stderr.strip().splitlines() == [
        "Error: --timeout-min goes with --data (real training), e.g. --data digits --space mlp."
    ]
    darts = invoke(["search", "--strategy", "darts", "--data", "iris", "--time-budget-min", "1"])
    assert darts.exit_code == 2
    assert "Error: --time-budget-min does not go with --strategy darts" in darts.stderr


def test_search_strategy_darts_forwards_to_oneshot(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"study": "s", "n_complete": 1, "n_failed": 0, "strategy": kwargs["method"]}

    monkeypatch.setattr("metanas.search.search_oneshot", fake)
    args = ["--data", "iris", "--epochs", "2", "--storage", db_url, "--json"]
    old = invoke(["search", "--strategy", "enas", *args])
    assert old.exit_code == 0, old.output
    assert old.stderr.strip().splitlines() == [
        "Deprecated: metanas search --strategy enas is now metanas oneshot --method enas."
    ]
    new = invoke(["oneshot", "--method", "enas", *args])
    assert new.exit_code == 0, new.output
    assert new.stderr == ""
    assert json.loads(old.stdout) == json.loads(new.stdout)
    assert calls[0] == calls[1]
    assert (calls[0]["method"], calls[0]["epochs"], calls[0]["storage"]) == ("enas", 2, db_url)
    refused = invoke(["search", "--strategy", "darts", "--data", "iris", "--max-params", "9"])
    assert refused.exit_code == 2
    assert "--max-params does not go with --strategy darts" in refused.stderr


def test_oneshot_rejects_an_unknown_method_and_a_space_without_supernet() -> None:
    assert_usage_error(
        invoke(["oneshot", "--method", "dart", "--data", "iris", "--storage", "sqlite://"]),
        "Unknown one-shot method 'dart'.", "Did you mean 'darts'?",
    )  # fmt: skip
    assert_usage_error(
        invoke(["oneshot", "--data", "iris", "--space", "mlp", "--storage", "sqlite://"]),
        "searches a supernet of --space nb201 or cnn; got 'mlp'",
    )


def test_oneshot_data_help_lists_every_builtin_task_and_fashion_mnist_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from metanas.tasks import available_tasks

    help_text = " ".join(invoke(["oneshot", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert f"Data to train on: {', '.join(available_tasks())}, or a CSV" in help_text
    assert "fashion-mnist" in available_tasks()
    loaded: list[str] = []

    def stop(name: str, **kwargs: Any) -> Any:  # no training: only how far the options get
        loaded.append(name)
        raise ValueError("stopped before loading the data")

    monkeypatch.setattr("metanas.tasks.load_task", stop)
    result = invoke(
        ["oneshot", "--data", "fashion-mnist", "--space", "cnn", "--storage", "sqlite://"]
    )
    assert "Error: stopped before loading the data" in result.stderr
    assert loaded == ["fashion-mnist"]


def _no_optimize(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(self: metanas.Study, *args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(metanas.Study, "optimize", record)
    return calls


def test_timeout_min_reaches_optimize_in_seconds(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _no_optimize(monkeypatch)
    args = ["search", "--data", "iris", "--epochs", "1", "--n-trials", "3", "--storage", db_url]
    result = invoke([*args, "--timeout-min", "2", "--n-jobs", "2", "--json"])
    assert result.exit_code == 1  # nothing ran: no trial completed
    [seen] = calls
    # --n-trials is the study's total over all workers (optimize's max_total_trials)
    assert (seen["timeout_s"], seen["n_jobs"], seen["max_total_trials"]) == (120.0, 2, 3)


def test_cancel_at_timeout_reaches_optimize_and_needs_a_timeout(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _no_optimize(monkeypatch)
    args = ["search", "--data", "iris", "--epochs", "1", "--n-trials", "3", "--storage", db_url]
    invoke([*args, "--timeout-min", "2", "--cancel-at-timeout"])
    invoke([*args, "--timeout-min", "2", "--study", "other"])
    assert [c["in_flight"] for c in calls] == ["cancel", "finish"]
    result = invoke([*args, "--cancel-at-timeout"])
    assert result.exit_code != 0
    assert "give the limit with --timeout-min M, or drop --cancel-at-timeout" in result.stderr


def test_tell_order_reaches_optimize_and_is_checked(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _no_optimize(monkeypatch)
    args = ["search", "--data", "iris", "--epochs", "1", "--n-trials", "3", "--storage", db_url]
    invoke([*args, "--n-jobs", "2", "--tell-order", "finish"])
    invoke([*args, "--n-jobs", "2", "--study", "other"])
    assert [c["tell_order"] for c in calls] == ["finish", "trial"]
    result = invoke([*args, "--tell-order", "random"])
    assert result.exit_code == 2
    assert "Invalid value for '--tell-order'" in result.stderr
    assert "'random' is not one of" in result.stderr


def test_the_summary_counts_the_trials_cut_off_at_the_time_limit(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cut_one_off(self: metanas.Study, *args: Any, **kwargs: Any) -> None:
        # What optimize(in_flight="cancel") leaves of a trial it cut off: WAITING, queued.
        self.enqueue(self.space.sample(np.random.default_rng(0)))

    monkeypatch.setattr(metanas.Study, "optimize", cut_one_off)
    args = ["search", "--data", "iris", "--epochs", "1", "--n-trials", "3", "--storage", db_url]
    text = invoke([*args, "--timeout-min", "1", "--cancel-at-timeout"], env={"COLUMNS": "200"})
    assert "1 not finished (the same command continues them)" in text.stdout
    out = json.loads(invoke([*args, "--study", "j", "--timeout-min", "1", "--json"]).stdout)
    assert out["n_open"] == 1


# --- issue 13 (part 1): threads, training resume, encodings, early checks, README --------------


@pytest.mark.slow
def test_threads_option_on_every_training_command(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for command in (["search"], ["oneshot"], ["fewshot"]):
        text = invoke([*command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "--threads" in text, command
    _no_optimize(monkeypatch)
    base = ["search", "--data", "iris", "--epochs", "1", "--n-trials", "1", "--storage", db_url]
    invoke([*base, "--study", "one"])
    invoke([*base, "--study", "two", "--threads", "2"])
    stored = {
        n: metanas.load_study(n, storage=db_url).user_attrs["evaluator"] for n in ("one", "two")
    }
    assert (stored["one"]["threads"], stored["two"]["threads"]) == (1, 2)
    refused = invoke([*base, "--threads", "0"])
    assert refused.exit_code == 2
    assert "Invalid value for '--threads'" in refused.stderr


def test_resuming_a_data_study_with_other_epochs_is_refused(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_optimize(monkeypatch)
    base = ["search", "--data", "iris", "--n-trials", "1", "--storage", db_url, "--study", "t"]
    invoke([*base, "--epochs", "1"])
    assert_usage_error(
        invoke([*base, "--epochs", "2"]),
        "Study 't' was created with --epochs 1, not --epochs 2",
        "Drop the option to resume",
    )
    assert invoke([*base, "--threads", "2"]).exit_code != 2  # speed only: may change


@pytest.mark.slow
def test_a_csv_that_is_not_utf8_names_the_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "cafe.csv"
    rows = "".join(f"{i},caf\xe9{i % 2},{'xy'[i % 2]}\n" for i in range(30))
    path.write_bytes(("a,b,label\n" + rows).encode("latin-1"))
    url = f"sqlite:///{tmp_path / 'e.db'}"
    base = ["search", "--data", str(path), "--target", "label", "--storage", url]
    line = assert_usage_error(
        invoke([*base, "--epochs", "1", "--n-trials", "1"]), "as utf-8 text", "--encoding latin-1"
    )
    assert "encoding='" not in line  # the CLI names its option, not the Python keyword
    summary = invoke_json([*base, "--epochs", "1", "--n-trials", "1", "--encoding", "latin-1"])
    assert summary["n_complete"] == 1
    assert_usage_error(
        invoke(["oneshot", "--data", "iris", "--encoding", "latin-1", "--storage", "sqlite://"]),
        "--encoding is for a CSV --data file",
    )


def test_cuda_without_a_gpu_fails_once_before_any_trial(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = _no_optimize(monkeypatch)
    result = invoke(["search", "--data", "iris", "--device", "cuda", "--storage", db_url])
    assert_usage_error(result, "device 'cuda' needs a CUDA GPU", "--device cpu")
    assert calls == []


@pytest.mark.slow
def test_bad_n_jobs_is_refused_before_torch_or_data_load(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from metanas.cli import app\n"
        "r = CliRunner().invoke(app, ['search', '--data', 'digits', '--n-jobs', '0', "
        f"'--storage', 'sqlite:///{tmp_path / 'j.db'}'])\n"
        "print(r.exit_code, 'torch' in sys.modules, 'sklearn.datasets' in sys.modules)\n"
        "print(r.stderr.strip())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    first, line = proc.stdout.strip().splitlines()
    assert first == "2 False False"
    assert line.startswith("Error: n_jobs must be -1 (one per core) or an int >= 1; got 0.")


@pytest.mark.slow
def test_suggest_says_when_fewer_than_k_exist(db_url: str) -> None:
    from metanas.search import run_search

    for dataset in ("cora", "citeseer"):
        run_search(dataset=dataset, n_trials=5, storage=db_url)
    result = invoke(
        ["suggest", "--task", "nas-bench-graph/pubmed", "-b", "nas-bench-graph", "-d", "pubmed",
         "--k", "100000", "--storage", db_url, "--json"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    n = len(json.loads(result.stdout)["suggestions"])
    assert 0 < n < 100000
    assert f"Only {n} distinct candidate architectures" in result.stderr
    assert "not --k 100000" in result.stderr


def test_bench_strategies_replace_the_default_set_as_documented() -> None:
    help_text = " ".join(invoke(["bench", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert "name tpe to keep it" in help_text
    out = invoke_json(
        ["bench", "--datasets", "cora", "--strategies", "random", "--seeds", "1", "-n", "5"]
    )
    assert {row["strategy"] for row in out["summary"]} == {"random"}
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "TPE always included" not in readme
    assert "`--strategies` replaces the whole set, so name `tpe` to keep it" in readme


@pytest.mark.slow
def test_readme_python_examples_run_after_the_quick_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's CLI study, then the README's first two Python blocks, twice."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    monkeypatch.chdir(tmp_path)
    result = invoke(contract(100, "sqlite:///runs.db"))
    assert result.exit_code == 0, result.output
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)
    exec(blocks[1], namespace)
    assert namespace["table"].space == namespace["bench"].space
    assert len(namespace["study"].trials) == 50
    exec(blocks[0], namespace)
    assert metanas.load_study("cora-rea", storage="sqlite:///runs.db").n_finished == 100


def test_search_data_with_augment_stores_it_and_resumes_only_with_the_same(db_url: str) -> None:
    pytest.importorskip("torch")
    base = ["search", "--data", "digits", "--space", "cnn", "--epochs", "1", "--storage", db_url,
            "--study", "aug", "--strategy", "random"]  # fmt: skip
    s = invoke_json([*base, "--n-trials", "1", "--augment", "shift"])
    assert s["n_complete"] == 1
    from metanas import load_study

    assert load_study("aug", storage=db_url).user_attrs["evaluator"]["augment"] == "shift"
    # resumed without --augment: the stored policy keeps applying; with another: refused
    assert invoke_json([*base, "--n-trials", "2"])["n_complete"] == 2
    assert_usage_error(
        invoke([*base, "--n-trials", "3", "--augment", "shift-flip"]),
        "was created with --augment shift, not --augment shift-flip",
    )


def test_augment_errors_name_the_fix(db_url: str) -> None:
    pytest.importorskip("torch")
    plain = ["search", "--data", "digits", "--space", "cnn", "--epochs", "1", "--storage", db_url]
    assert_usage_error(
        invoke([*plain, "--study", "a1", "--augment", "specaugment"]), "augment='shift'"
    )
    assert_usage_error(invoke([*plain, "--study", "a2", "--augment", "jitter"]), "jitter")
    assert_usage_error(
        invoke(["search", "--dataset", "cora", "--storage", db_url, "--augment", "shift"]),
        "--augment shift changes the training batches",
        "search --data",
    )
    # a study made without augmentation is not resumed with it
    assert invoke_json([*plain, "--study", "a3", "--n-trials", "1"])["n_complete"] == 1
    assert_usage_error(
        invoke([*plain, "--study", "a3", "--n-trials", "2", "--augment", "shift"]),
        "was created without --augment",
    )


def test_search_data_with_precision_stores_it_and_resumes_only_with_the_same(db_url: str) -> None:
    pytest.importorskip("torch")
    base = ["search", "--data", "digits", "--space", "cnn", "--epochs", "1", "--storage", db_url,
            "--study", "p", "--strategy", "random"]  # fmt: skip
    assert invoke_json([*base, "--n-trials", "1", "--precision", "bf16"])["n_complete"] == 1
    from metanas import load_study

    assert load_study("p", storage=db_url).user_attrs["evaluator"]["precision"] == "bf16"
    assert invoke_json([*base, "--n-trials", "2"])["n_complete"] == 2
    assert_usage_error(
        invoke([*base, "--n-trials", "3", "--precision", "fp32"]),
        "was created with --precision bf16, not --precision fp32",
    )
    assert_usage_error(
        invoke(["search", "--dataset", "cora", "--storage", db_url, "--precision", "bf16"]),
        "--precision bf16 sets the arithmetic of networks trained on --data",
    )
    assert_usage_error(
        invoke([*base[:-4], "--study", "p2", "--precision", "fp16"]),
        "precision must be one of 'fp32', 'bf16', 'auto'; got 'fp16'",
    )


def test_search_data_trains_the_sequence_spaces_on_text_and_refuses_them_on_numbers(
    db_url: str,
) -> None:
    pytest.importorskip("torch")
    from metanas.tasks import load_task

    try:
        load_task("langid-words", seed=0)
    except Exception as exc:  # the word lists are Debian packages (.ci/run installs them)
        pytest.skip(str(exc))
    s = invoke_json(["search", "--data", "langid-words", "--space", "seq-ngram", "--n-trials",
                     "2", "--epochs", "1", "--storage", db_url, "--study", "words"])  # fmt: skip
    assert s["n_complete"] == 2
    assert_usage_error(
        invoke(["search", "--data", "mnist1d", "--space", "seq-cnn", "--storage", db_url]),
        "--space seq-cnn embeds token codes",
        "langid-words",
        "mlp or cnn",
    )
