"""Studies that searched a table reopen: ``studies show/export`` (and ``load_study``) rebuild
the table's space from the CSV the study recorded, or from ``--table`` when it moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import metanas
from conftest import nb201_cells
from metanas.benchmarks import TabularBenchmark
from metanas.cli import app
from metanas.spaces import NB201Space, TableSourceError, TableSpace

runner = CliRunner()


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, args)


def _rows(n: int = 30) -> pd.DataFrame:
    """``n`` distinct NAS-Bench-201 cells (a partial table) with a synthetic ``acc``."""
    archs = nb201_cells(n)
    return pd.DataFrame({"cell": archs, "acc": [0.5 + i / 100 for i in range(n)]})


@pytest.fixture
def csv_study(tmp_path: Path, db_url: str) -> Path:
    """Study ``t`` of 6 trials searched by ``metanas search --table`` on ``tmp_path/t.csv``."""
    path = tmp_path / "t.csv"
    _rows().to_csv(path, index=False)
    result = invoke(
        ["search", "--table", str(path), "--space", "nb201", "--arch-column", "cell",
         "--metric", "acc", "--n-trials", "6", "--storage", db_url, "--study", "t", "-q"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_show_and_export_open_a_study_of_a_csv_table(csv_study: Path, db_url: str) -> None:
    shown = invoke(["studies", "show", "t", "--storage", db_url, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["space"]["source"]["path"] == str(csv_study.resolve())
    assert info["space"]["source"]["arch_column"] == "cell"
    listed = set(_rows()["cell"])
    assert len(info["top_trials"]) == 6
    assert all(t["arch"] in listed for t in info["top_trials"])
    exported = invoke(["studies", "export", "t", "--storage", db_url])
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_csv(pd.io.common.StringIO(exported.stdout))) == 6


def test_a_moved_table_is_named_and_found_again_with_table_option(
    csv_study: Path, db_url: str, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere.csv"
    shutil.move(csv_study, moved)
    for command in ("show", "export"):
        lost = invoke(["studies", command, "t", "--storage", db_url])
        assert lost.exit_code == 2
        assert lost.stderr.strip().splitlines() == [
            f"Error: This study searched the architectures of table 't', read from "
            f"{str(csv_study.resolve())!r}, which does not exist any more. Pass --table "
            "PATH.csv, the table this study searched."
        ]
        found = invoke(["studies", command, "t", "--storage", db_url, "--table", str(moved)])
        assert found.exit_code == 0, found.output
    typo = invoke(["studies", "show", "t", "--storage", db_url, "--table", "nope.csv"])
    assert typo.stderr.strip().splitlines() == [
        "Error: No CSV file at 'nope.csv', given as table 't' of this study. Pass --table the "
        "CSV file this study searched."
    ]
    _rows().rename(columns={"cell": "arch"}).to_csv(moved, index=False)
    renamed = invoke(["studies", "show", "t", "--storage", db_url, "--table", str(moved)])
    assert renamed.exit_code == 2
    assert "Reading it: it has no column 'cell'. Pass --table" in renamed.stderr


def test_a_changed_table_is_refused_with_one_line(csv_study: Path, db_url: str) -> None:
    _rows().iloc[:20].to_csv(csv_study, index=False)  # 10 architectures fewer
    result = invoke(["studies", "show", "t", "--storage", db_url])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: The table file {str(csv_study.resolve())!r} no longer lists the 30 "
        "architectures of table 't' that this study searched (it was changed or is another "
        "file). Pass --table PATH.csv, the table this study searched."
    ]
    # Metric values may change: the architectures, in order, are what the space is.
    rows = _rows()
    rows["acc"] = 0.1
    rows.to_csv(csv_study, index=False)
    assert invoke(["studies", "show", "t", "--storage", db_url]).exit_code == 0


def test_the_python_api_reopens_a_csv_table_study_without_space(
    tmp_path: Path, db_url: str
) -> None:
    path = tmp_path / "t.csv"
    _rows().to_csv(path, index=False)
    bench = TabularBenchmark.from_csv(path, space=NB201Space(), arch_column="cell", metrics="acc")
    assert isinstance(bench.space, TableSpace)
    study = metanas.create_study(name="api", storage=db_url, space=bench.space, metric="acc")
    study.optimize(bench, n_trials=4)
    again = metanas.load_study("api", storage=db_url)
    assert again.space == bench.space
    assert [t.arch for t in again.trials] == [t.arch for t in study.trials]
    path.unlink()
    with pytest.raises(TableSourceError, match=r"read from '.*t\.csv', which does not exist.*"
                       r"Pass space=table\.space \(the same TabularBenchmark"):  # fmt: skip
        metanas.load_study("api", storage=db_url)


def test_a_study_stored_without_the_csv_record_gets_one_clear_error(
    tmp_path: Path, db_url: str
) -> None:
    # Studies stored before the CSV was recorded (or built from a DataFrame) lack "source".
    rows = _rows().rename(columns={"cell": "arch"})
    bench = TabularBenchmark.from_dataframe(rows, space=NB201Space(), metrics=["acc"], name="old")
    study = metanas.create_study(name="old", storage=db_url, space=bench.space, metric="acc")
    study.optimize(bench, n_trials=3)
    result = invoke(["studies", "show", "old", "--storage", db_url])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: This study searched the architectures of table 'old', which are not stored "
        "with it, and no CSV file was recorded to read them from. Pass --table PATH.csv, the "
        "table this study searched."
    ]
    path = tmp_path / "old.csv"
    rows.to_csv(path, index=False)
    result = invoke(["studies", "show", "old", "--storage", db_url, "--table", str(path)])
    assert result.exit_code == 0, result.output
    rows.iloc[:5].to_csv(path, index=False)
    result = invoke(["studies", "show", "old", "--storage", db_url, "--table", str(path)])
    assert result.exit_code == 2
    assert "no longer lists the 30 architectures of table 'old'" in result.stderr
    assert "Pass --table the CSV file this study searched." in result.stderr


def test_table_option_is_refused_for_a_study_without_a_table(db_url: str) -> None:
    metanas.create_study(name="c", storage=db_url, space=NB201Space(), metric="acc")
    refused = invoke(["studies", "show", "c", "--storage", db_url, "--table", "x.csv"])
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: --table 'x.csv' is for studies that searched a CSV table; study 'c' searched "
        "space 'nb201'. Leave --table out."
    ]
