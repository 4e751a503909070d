"""Bad input that used to end in a traceback or a silent surprise: one clear line instead.

Edited memory files, stores holding studies that an older metanas (or SQL by hand) wrote,
names holding terminal escape codes or reading as paths, unwritable output paths; and a
property test feeding randomly broken memory files and study names to the import.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import metanas
from metanas.cli import app
from metanas.exceptions import InvalidArchitectureError, MetanasError
from metanas.export import default_export_dir
from metanas.meta import ExperienceMemory, MemoryFileError
from metanas.spaces import SearchSpace

runner = CliRunner()
SPACE = SearchSpace({"depth": [1, 2, 3], "act": ["relu", "gelu"], "width": [8, 16]})
ESC = "\x1b[31m"


def _score(arch: Any) -> float:
    return float(arch["depth"]) / 3 + (0.1 if arch["act"] == "gelu" else 0.0)


def _make_store(path: Path, name: str = "s1", task: str = "t") -> str:
    url = f"sqlite:///{path}"
    study = metanas.create_study(
        name=name, storage=url, space=SPACE, strategy="random", seed=0, task=task
    )
    study.optimize(_score, n_trials=4)
    return url


@pytest.fixture(scope="module")
def valid_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A memory file, as written by ExperienceMemory.export, of one study with 4 trials."""
    folder = tmp_path_factory.mktemp("malformed")
    url = _make_store(folder / "src.db")
    ExperienceMemory(url).export(folder / "m.json")
    doc: dict[str, Any] = json.loads((folder / "m.json").read_text())
    return doc


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, allow_nan=True))
    return path


def _counts(url: str) -> tuple[int, int, int]:
    path = url.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return (0, 0, 0)
    con = sqlite3.connect(path)
    try:
        return tuple(  # type: ignore[return-value]
            con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("metanas_tasks", "metanas_studies", "metanas_trials")
        )
    finally:
        con.close()


def _trial(doc: dict[str, Any], k: int = 1) -> dict[str, Any]:
    trial: dict[str, Any] = doc["tasks"][0]["studies"][0]["trials"][k]
    return trial


def _study(doc: dict[str, Any]) -> dict[str, Any]:
    study: dict[str, Any] = doc["tasks"][0]["studies"][0]
    return study


def _break_arch(doc: dict[str, Any]) -> None:
    arch = json.loads(_trial(doc)["arch"])
    arch["deepth"] = arch.pop("depth")
    _trial(doc)["arch"] = json.dumps(arch)


def _bad_choice(doc: dict[str, Any]) -> None:
    _trial(doc)["arch"] = json.dumps({"depth": 7, "act": "relu", "width": 8})


def _wrong_type(doc: dict[str, Any]) -> None:
    _trial(doc)["arch"] = json.dumps({"depth": "2", "act": "relu", "width": 8})


def _missing_key(doc: dict[str, Any]) -> None:
    del _trial(doc)["number"]


def _nan_value(doc: dict[str, Any]) -> None:
    _trial(doc)["values"] = [math.nan]


def _number_twice(doc: dict[str, Any]) -> None:
    _trial(doc, 2)["number"] = _trial(doc, 1)["number"]


def _bad_state(doc: dict[str, Any]) -> None:
    _trial(doc)["state"] = "running"


def _path_name(doc: dict[str, Any]) -> None:
    _study(doc)["name"] = "../escape"


def _escape_name(doc: dict[str, Any]) -> None:
    _study(doc)["name"] = f"x{ESC}y"


def _long_name(doc: dict[str, Any]) -> None:
    _study(doc)["name"] = "n" * 100_000


def _escape_task(doc: dict[str, Any]) -> None:
    doc["tasks"][0]["name"] = f"t{ESC}"


def _huge_seed(doc: dict[str, Any]) -> None:
    _study(doc)["seed"] = 2**70


def _negative_number(doc: dict[str, Any]) -> None:
    _trial(doc)["number"] = -1


def _unknown_strategy(doc: dict[str, Any]) -> None:
    _study(doc)["strategy"] = "evolutoin"


def _unknown_space(doc: dict[str, Any]) -> None:
    _study(doc)["space"] = {"type": "no-such-space"}


def _space_without_decisions(doc: dict[str, Any]) -> None:
    _study(doc)["space"] = {"type": "decisions"}


BREAKS = {
    "unknown decision": (_break_arch, r"trial 1 of study 's1' .*lacks decision\(s\) \['depth'\]"),
    "choice not allowed": (_bad_choice, r"trial 1 of study 's1' .*does not allow 7"),
    "choice of the wrong type": (_wrong_type, r"trial 1 of study 's1' .*does not allow '2'"),
    "missing key": (_missing_key, r"trials\[1\]: the key 'number' is missing"),
    "NaN objective": (_nan_value, r"trials\[1\].values: a complete trial needs 1 finite"),
    "trial number twice": (_number_twice, r"study 's1' has two trials numbered"),
    "state not a state": (_bad_state, r"trials\[1\].state: expected 'complete' or 'failed'"),
    "path as study name": (_path_name, r"may not read as a path"),
    "escape code in study name": (_escape_name, r"may not hold control characters"),
    "100,000-character study name": (_long_name, r"at most 200 characters; got 100000"),
    "escape code in task name": (_escape_task, r"task name may not hold control characters"),
    "seed too large": (_huge_seed, r"seed: expected an int from 0 to 2\*\*63-1"),
    "negative trial number": (_negative_number, r"number: expected an int from 0 to"),
    "unknown strategy": (_unknown_strategy, r"strategy 'evolutoin', which this metanas"),
    "unknown space": (_unknown_space, r"space of study 's1' cannot be rebuilt"),
    "space without decisions": (_space_without_decisions, r"space of study 's1' cannot be"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_edited_memory_file_is_refused_whole(
    case: str, valid_doc: dict[str, Any], tmp_path: Path
) -> None:
    # Before: an architecture outside the space was imported (exit 0), and `studies show`,
    # `export` and load_study then crashed with a KeyError traceback.
    breaker, pattern = BREAKS[case]
    doc = copy.deepcopy(valid_doc)
    # A first, valid study: refusing the second must not leave the first half-imported.
    doc["tasks"].insert(0, copy.deepcopy(doc["tasks"][0]))
    doc["tasks"][0]["name"] = "t0"
    doc["tasks"][0]["studies"][0]["name"] = "s0"
    breaker({"tasks": doc["tasks"][1:]})  # the second task, its study s1 and trials
    path = _write(tmp_path / "edited.json", doc)
    url = f"sqlite:///{tmp_path / 'into.db'}"
    _make_store(tmp_path / "into.db", name="kept", task="kept-task")
    before = _counts(url)

    res = runner.invoke(app, ["memory", "import", str(path), "--storage", url])

    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"Error: Cannot import memory file {str(path)!r}")
    assert ESC not in lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert _counts(url) == before  # nothing written, not even the valid study's task
    with pytest.raises(MemoryFileError, match=pattern):
        ExperienceMemory.import_file(path, into=url)
    assert _counts(url) == before


def test_rename_that_would_overflow_the_name_limit_is_refused_up_front(
    valid_doc: dict[str, Any], tmp_path: Path
) -> None:
    doc = copy.deepcopy(valid_doc)
    _study(doc)["name"] = "n" * 195  # fits; 'NAME@<8 hex>' would not
    path = _write(tmp_path / "long.json", doc)
    url = f"sqlite:///{tmp_path / 'into.db'}"
    with pytest.raises(MemoryFileError, match=r"at most 200 characters; got 204"):
        ExperienceMemory.import_file(path, into=url, on_conflict="rename")
    assert _counts(url) == (0, 0, 0)


def test_conflict_error_imports_nothing(valid_doc: dict[str, Any], tmp_path: Path) -> None:
    # Before: with on_conflict="error", the studies before the taken name were already written.
    doc = copy.deepcopy(valid_doc)
    first = copy.deepcopy(_study(doc))
    first["name"] = "new-one"
    doc["tasks"][0]["studies"].insert(0, first)
    path = _write(tmp_path / "two.json", doc)
    url = _make_store(tmp_path / "into.db", name="s1")
    before = _counts(url)
    with pytest.raises(metanas.DuplicatedStudyError, match="Nothing was imported"):
        ExperienceMemory.import_file(path, into=url, on_conflict="error")
    assert _counts(url) == before


def test_deeply_nested_json_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MemoryFileError, match="nested too deeply"):
        ExperienceMemory.import_file(path, into=f"sqlite:///{tmp_path / 'x.db'}")


# ------------------------------------------------------------- a store that is already broken
@pytest.fixture
def broken_store(tmp_path: Path) -> str:
    """A store whose study s1 holds a trial outside its space, as SQL by hand could write."""
    url = _make_store(tmp_path / "broken.db")
    metanas.load_study("s1", storage=url)  # fine before the edit
    con = sqlite3.connect(tmp_path / "broken.db")
    with con:
        con.execute(
            "UPDATE metanas_trials SET arch = ? WHERE number = 2",
            ('{"act":"relu","deepth":2,"width":8}',),
        )
    con.close()
    return url


def test_broken_study_is_one_error_from_python(broken_store: str) -> None:
    with pytest.raises(
        InvalidArchitectureError,
        match=r"Study 's1' cannot be opened: its trial 2 .*lacks decision\(s\) \['depth'\].*"
        r"metanas studies delete 's1' --yes",
    ):
        metanas.load_study("s1", storage=broken_store)


@pytest.mark.parametrize(
    "command",
    [
        ["studies", "show", "s1"],
        ["studies", "export", "s1"],
        ["studies", "export", "s1", "--format", "json"],
        ["export", "s1", "--no-onnx"],
    ],
)
def test_broken_study_is_one_line_from_the_cli(broken_store: str, command: list[str]) -> None:
    # Before: a 100-line KeyError traceback.
    res = runner.invoke(app, [*command, "--storage", broken_store])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: Study 's1' cannot be opened: its trial 2 ")
    assert "studies delete 's1' --yes" in lines[0]


# ------------------------------------------------------------- terminal escapes and paths
def test_stored_escape_codes_are_not_printed_raw(tmp_path: Path) -> None:
    # An older store may hold names, metric names and architectures with escape codes.
    url = _make_store(tmp_path / "old.db")
    con = sqlite3.connect(tmp_path / "old.db")
    with con:
        con.execute("UPDATE metanas_studies SET name = ?", (f"s{ESC}1",))
        con.execute("UPDATE metanas_tasks SET name = ?", (f"t{ESC}[bold]x[/bold]",))
    con.close()
    for command in (
        ["studies", "list"],
        ["studies", "show", f"s{ESC}1"],
        ["memory", "list"],
    ):
        res = runner.invoke(app, [*command, "--storage", url])
        assert res.exit_code == 0, res.output
        assert "\x1b" not in res.stdout, command
        assert "\\x1b" in res.stdout, command
        if command[0] == "memory" or command[1] == "show":
            assert "[bold]x[/bold]" in res.stdout  # shown as text, not read as markup


def test_export_folder_stays_in_the_current_folder() -> None:
    # Before: `metanas export ../escape` wrote ../escape-model.
    for name in ("../escape", "/etc/passwd", "~/x", "a/../../b", "..", f"x{ESC}", "n" * 300):
        folder = default_export_dir(name)
        assert len(folder.parts) == 1, name
        assert not folder.name.startswith("."), name
        assert folder.name.endswith("-model")
        assert folder.name.isprintable()
    assert default_export_dir("nas-bench-graph/cora-rea") == Path("nas-bench-graph_cora-rea-model")


def test_load_model_docstring_warns_about_untrusted_folders() -> None:
    from metanas.export import load_model

    assert "trust" in (load_model.__doc__ or "")
    assert "weights_only=True" in (load_model.__doc__ or "")


# ------------------------------------------------------------- unwritable output paths
@pytest.mark.parametrize(
    ("output", "reason"),
    [("afile/x.csv", "File exists|Not a directory"), ("adir", "Is a directory")],
)
def test_studies_export_to_unwritable_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, reason: str
) -> None:
    # Before: a FileExistsError (or IsADirectoryError) traceback.
    url = _make_store(tmp_path / "s.db")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    res = runner.invoke(app, ["studies", "export", "s1", "--storage", url, "--output", output])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert re.match(rf"Error: Cannot write '{output}': ({reason})", lines[0]), lines[0]
    assert "--output" in lines[0]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_studies_export_into_read_only_folder(tmp_path: Path) -> None:
    url = _make_store(tmp_path / "s.db")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = runner.invoke(
            app, ["studies", "export", "s1", "--storage", url, "--output", str(ro / "x.csv")]
        )
    finally:
        ro.chmod(0o755)
    assert res.exit_code == 2, res.output
    assert "Permission denied" in res.stderr


# ------------------------------------------------------------- property: random breakage
_JUNK = [
    None, True, -1, 2**70, 1.5, math.nan, math.inf, -math.inf, "", "x" * 5000, ESC, "../escape",
    "/abs", [], {}, {"a": 1}, [1, "a"], "complete", "failed",
]  # fmt: skip


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into the document, except inside strategy settings.

    Strategy setting values are the strategy's to check: load_study names a bad one in
    one line, which is a clear refusal but not the import's.
    """
    if prefix and prefix[-1] == "strategy_settings":
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


@st.composite
def _mutations(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    paths = list(_paths(out))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent: Any = out
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed it
        how = draw(st.sampled_from(["delete", "junk", "text", "arch", "duplicate"]))
        if how == "delete":
            del parent[path[-1]]
        elif how == "junk":
            parent[path[-1]] = draw(st.sampled_from(_JUNK))
        elif how == "text":
            parent[path[-1]] = draw(st.text(max_size=40))
        elif how == "arch":
            arch = {"depth": draw(st.sampled_from([1, 2, 3, 4, "2", 2.0, True]))}
            arch.update(
                draw(st.dictionaries(st.sampled_from(["act", "width", "x"]), st.integers(0, 16)))
            )
            parent[path[-1]] = json.dumps(arch)
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return out


def _one_line_error(exc: BaseException) -> None:
    assert isinstance(exc, MetanasError | ValueError), repr(exc)
    text = str(exc)
    assert text
    assert "\n" not in text, text
    assert "\x1b" not in text, text  # names in messages are shown by repr: escaped


def _check_readable(url: str, names: list[str]) -> None:
    for name in names:
        study = metanas.load_study(name, storage=url)
        study.trials_dataframe()
        res = runner.invoke(app, ["studies", "show", "--storage", url, "--", name])
        assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_broken_memory_files(
    data: st.DataObject, valid_doc: dict[str, Any], scratch: Path
) -> None:
    doc = data.draw(_mutations(valid_doc))
    path = _write(scratch / "mutated.json", doc)
    # One store for every example; 'rename' gives each accepted variant of s1 its own name.
    url = f"sqlite:///{scratch / 'mutated.db'}"
    before = _counts(url)
    try:
        report = ExperienceMemory.import_file(path, into=url, on_conflict="rename")
    except Exception as exc:  # the property: only a one-line MetanasError/ValueError
        event(f"refused: {type(exc).__name__}")
        _one_line_error(exc)
        assert _counts(url) == before, "refused, yet something was written"
        return
    event("accepted")
    _check_readable(url, report.imported)


_CREATED: set[str] = set()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(st.text(max_size=30), st.text(min_size=190, max_size=260)))
def test_random_study_names(name: str, valid_doc: dict[str, Any], scratch: Path) -> None:
    # One store for every example (opening a new one costs more than the checks);
    # a name drawn twice is checked once.
    if name in _CREATED:
        return
    _CREATED.add(name)
    url = f"sqlite:///{scratch / 'names.db'}"
    try:
        metanas.create_study(name=name, storage=url, space=SPACE, strategy="random", task="t")
    except Exception as exc:
        _one_line_error(exc)
    else:
        _check_readable(url, [name])
    doc = copy.deepcopy(valid_doc)
    _study(doc)["name"] = name
    path = _write(scratch / "names.json", doc)
    url = f"sqlite:///{scratch / 'names-import.db'}"
    before = _counts(url)
    try:
        report = ExperienceMemory.import_file(path, into=url)
    except Exception as exc:
        _one_line_error(exc)
        assert _counts(url) == before
    else:
        assert report.imported == [name]
        _check_readable(url, [name])
