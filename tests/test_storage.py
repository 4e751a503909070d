"""Storage: SQLite files and in-memory stores, names, commits, the schema version."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

import metanas
from conftest import read_rows
from metanas import (
    DuplicatedStudyError,
    RDBStorage,
    StorageError,
    StudyNotFoundError,
    TrialState,
    default_storage_url,
)
from metanas.benchmarks import NasBenchGraph
from metanas.spaces import NasBenchGraphSpace
from metanas.storage import rdb


def _study(url: str, name: str, **kwargs: object) -> metanas.Study:
    kwargs.setdefault("space", NasBenchGraphSpace())
    kwargs.setdefault("seed", 0)
    return metanas.create_study(name=name, storage=url, **kwargs)  # type: ignore[arg-type]


# ==================================================================== URLs, defaults


def test_default_storage_url_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METANAS_STORAGE", "sqlite:///somewhere/else.db")
    assert default_storage_url() == "sqlite:///somewhere/else.db"
    monkeypatch.delenv("METANAS_STORAGE")
    monkeypatch.setenv("XDG_DATA_HOME", "/data/home")
    assert default_storage_url() == "sqlite:////data/home/metanas/metanas.db"


def test_the_default_store_is_named_once_in_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("METANAS_STORAGE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(rdb, "_ANNOUNCED", set())
    with caplog.at_level(logging.INFO, logger="metanas.storage"):
        metanas.create_study(space=metanas.SearchSpace({"a": [1, 2]}), metric="value")
        rdb.get_storage()
        rdb.get_storage("sqlite://")
    lines = [r.getMessage() for r in caplog.records if "storage" in r.getMessage()]
    db = tmp_path / "metanas" / "metanas.db"
    assert lines == [
        f"No storage given: studies are stored in sqlite:///{db} (the default store; pass "
        "storage= or set METANAS_STORAGE to choose another)."
    ]
    assert db.exists()


def test_the_session_never_uses_the_user_store() -> None:
    url = default_storage_url()
    assert url.startswith("sqlite:///")
    assert ".local/share/metanas" not in url


@pytest.mark.parametrize("alias", ["sqlite://", ":memory:", "memory", "sqlite:///:memory:"])
def test_memory_aliases_share_one_store(alias: str, study_name: str) -> None:
    _study("sqlite://", study_name)
    assert RDBStorage(alias).url == "sqlite://"
    assert RDBStorage(alias).get_study(study_name).name == study_name


def test_a_bare_path_is_not_a_url() -> None:
    with pytest.raises(
        ValueError, match=r"got 'runs\.db'\. For a file, write 'sqlite:///runs\.db'"
    ):
        RDBStorage("runs.db")


def test_unknown_driver_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match=r"Cannot open storage 'nosuchdb://x'"):
        RDBStorage("nosuchdb://x")


def test_unwritable_location_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(
        StorageError, match=r"Cannot open storage .*cannot create the folder .*file/sub"
    ):
        RDBStorage(f"sqlite:///{blocker / 'sub' / 'runs.db'}")


def test_storage_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "runs.db"
    RDBStorage(f"sqlite:///{path}")
    assert path.is_file()


def test_get_storage_rejects_other_types() -> None:
    with pytest.raises(TypeError, match=r"storage must be a URL string or RDBStorage; got int"):
        rdb.get_storage(3)  # type: ignore[arg-type]


# ==================================================================== studies by name


def test_create_and_load_by_name(db_url: str) -> None:
    study = _study(db_url, "cora-rea", strategy="evolution", task="nas-bench-graph/cora")
    again = metanas.load_study("cora-rea", storage=db_url)
    assert again.name == "cora-rea"
    assert again.seed == study.seed == 0
    assert again.task == "nas-bench-graph/cora"
    assert again.strategy.registered_name == "evolution"
    assert again.objectives == (("valid_accuracy", "maximize"),)
    assert again.space == NasBenchGraphSpace()


def test_duplicated_study_error(db_url: str) -> None:
    _study(db_url, "cora-rea")
    with pytest.raises(
        DuplicatedStudyError,
        match=r"A study named 'cora-rea' already exists in RDBStorage\('sqlite:///.*runs\.db'\)\. "
        r"Load it with metanas\.load_study\('cora-rea', storage=\.\.\.\), "
        r"pass load_if_exists=True, or choose another name\.",
    ):
        _study(db_url, "cora-rea")


def test_study_not_found_suggests_close_name(db_url: str) -> None:
    _study(db_url, "cora-rea")
    _study(db_url, "citeseer-random")
    with pytest.raises(
        StudyNotFoundError,
        match=r"No study named 'cora-ra' in .*\. Did you mean 'cora-rea'\? Studies there: "
        r"('cora-rea', 'citeseer-random'|'citeseer-random', 'cora-rea')\. "
        r"Create it with metanas\.create_study\(name='cora-ra'",
    ):
        metanas.load_study("cora-ra", storage=db_url)


def test_study_not_found_in_an_empty_store(db_url: str) -> None:
    with pytest.raises(StudyNotFoundError, match=r"Studies there: none\.") as info:
        metanas.load_study("x", storage=db_url)
    assert isinstance(info.value, KeyError)
    assert not str(info.value).startswith('"')  # not quoted like a plain KeyError


def test_two_storage_objects_on_one_file_agree(db_url: str, cora: NasBenchGraph) -> None:
    study = _study(db_url, "s", task=cora.name)
    study.optimize(cora, n_trials=5)
    other = RDBStorage(db_url)
    assert [s.name for s in other.list_studies()] == ["s"]
    assert len(metanas.load_study("s", storage=other).trials) == 5


# ==================================================================== durability


def test_every_finished_trial_is_committed_before_the_next_starts(
    db_url: str, db_path: Path, cora: NasBenchGraph
) -> None:
    seen: list[tuple[int, str, int]] = []

    def check(study: metanas.Study, trial: metanas.Trial) -> None:
        # A separate sqlite3 connection sees the trial as soon as it is finished.
        rows = read_rows(db_path, "SELECT number, state, value FROM metanas_trials ORDER BY number")
        assert rows[-1][:2] == (trial.number, "complete")
        assert rows[-1][2] == pytest.approx(trial.value)
        seen.append((len(rows), rows[-1][1], trial.number))

    study = _study(db_url, "durable")
    study.optimize(cora, n_trials=6, callbacks=[check])
    assert seen == [(i + 1, "complete", i) for i in range(6)]


def test_rows_hold_the_trial_record(db_url: str, db_path: Path, cora: NasBenchGraph) -> None:
    study = _study(db_url, "rows", task="nas-bench-graph/cora")
    study.optimize(cora, n_trials=3)
    rows = read_rows(
        db_path,
        "SELECT number, state, arch, value, metrics, test_metrics, seed, worker "
        "FROM metanas_trials ORDER BY number",
    )
    assert [r[0] for r in rows] == [0, 1, 2]
    for row, trial in zip(rows, study.trials, strict=True):
        assert metanas.Architecture.from_json(row[2]) == trial.arch
        assert row[3] == pytest.approx(trial.value)
        assert set(json.loads(row[4])) == {"valid_accuracy", "latency", "params"}
        assert set(json.loads(row[5])) == {"test_accuracy"}
        assert row[6] == trial.seed
        assert row[7].endswith(f":{__import__('os').getpid()}")


def test_nan_metrics_are_stored_as_null_and_read_back_as_nan(db_url: str) -> None:
    study = _study(db_url, "nan", metric="value")
    study.optimize(lambda arch: {"value": 0.5, "noise": math.nan}, n_trials=1)
    back = metanas.load_study("nan", storage=db_url).trials[0]
    assert back.state is TrialState.COMPLETE
    assert math.isnan(back.metrics["noise"])
    assert back.metrics["value"] == 0.5


def test_trial_summaries_match_the_full_trials_without_their_records(db_url: str) -> None:
    study = _study(db_url, "summaries", metric="value")
    scores = iter([0.25, math.nan, 0.75])  # the NaN one fails
    study.optimize(lambda arch: {"value": next(scores), "extra": 1.0}, n_trials=3)
    storage = rdb.get_storage(db_url)
    record = storage.get_study("summaries")
    full, light = storage.get_trials(record.id), storage.get_trial_summaries(record.id)
    keep = ("number", "state", "arch", "cost_s", "budget", "id")
    assert [[getattr(t, k) for k in keep] for t in light] == [
        [getattr(t, k) for k in keep] for t in full
    ]
    assert [t.values for t in light] == [(0.25,), None, (0.75,)]
    assert light[1].state is TrialState.FAILED
    assert all(t.metrics == {} and t.user_attrs == {} for t in light)
    assert full[0].metrics["extra"] == 1.0


# ==================================================================== tasks


def test_study_records_task_name_and_descriptors(
    db_url: str, db_path: Path, cora: NasBenchGraph
) -> None:
    study = _study(
        db_url, "described", task="nas-bench-graph/cora", task_descriptors={"n_nodes": 2708}
    )
    assert study.task_descriptors == {"n_nodes": 2708}
    study.optimize(cora, n_trials=2)
    # The benchmark's own descriptors are merged in.
    expected = {**cora.task_descriptors(), "n_nodes": 2708}
    assert dict(study.task_descriptors) == expected
    rows = read_rows(db_path, "SELECT name, descriptors FROM metanas_tasks")
    assert [(r[0], json.loads(r[1])) for r in rows] == [("nas-bench-graph/cora", expected)]
    again = metanas.load_study("described", storage=db_url)
    assert again.task == "nas-bench-graph/cora"
    assert dict(again.task_descriptors) == expected


def test_task_defaults_to_the_study_name(db_url: str) -> None:
    assert _study(db_url, "lonely").task == "lonely"


def test_studies_of_one_task_share_it(db_url: str) -> None:
    _study(db_url, "a", task="nas-bench-graph/cora")
    _study(db_url, "b", task="nas-bench-graph/cora")
    _study(db_url, "c", task="nas-bench-graph/pubmed")
    tasks = RDBStorage(db_url).list_tasks()
    assert [t.name for t in tasks] == ["nas-bench-graph/cora", "nas-bench-graph/pubmed"]


def test_task_name_must_be_a_string(db_url: str) -> None:
    with pytest.raises(ValueError, match=r"A task name must be a non-empty string; got ''"):
        RDBStorage(db_url).get_or_create_task("")


def test_all_trials_across_studies_and_tasks(db_url: str) -> None:
    cora, pubmed = NasBenchGraph("cora"), NasBenchGraph("pubmed")
    _study(db_url, "on-cora", task=cora.name).optimize(cora, n_trials=3)
    _study(db_url, "on-pubmed", task=pubmed.name, strategy="evolution").optimize(pubmed, n_trials=2)
    rows = RDBStorage(db_url).all_trials()
    assert [(task, study, t.number) for task, study, t in rows] == [
        ("nas-bench-graph/cora", "on-cora", 0),
        ("nas-bench-graph/cora", "on-cora", 1),
        ("nas-bench-graph/cora", "on-cora", 2),
        ("nas-bench-graph/pubmed", "on-pubmed", 0),
        ("nas-bench-graph/pubmed", "on-pubmed", 1),
    ]
    for task, _, trial in rows:
        bench = cora if task.endswith("cora") else pubmed
        assert trial.value == bench.query(trial.arch, "valid_accuracy")


# ==================================================================== summaries, deletion


def test_list_studies_summarises(db_url: str, cora: NasBenchGraph) -> None:
    maxi = _study(db_url, "maxi", task=cora.name)
    maxi.optimize(cora, n_trials=4)
    mini = _study(db_url, "mini", task=cora.name, metric="latency", direction="minimize")
    mini.optimize(cora, n_trials=3)
    flaky = _study(db_url, "flaky", metric="value")
    flaky.optimize(lambda a: math.nan, n_trials=2)
    summaries = {s.name: s for s in RDBStorage(db_url).list_studies()}
    assert list(summaries) == ["maxi", "mini", "flaky"]
    assert summaries["maxi"].n_trials == summaries["maxi"].n_complete == 4
    assert summaries["maxi"].best_value == pytest.approx(maxi.best_trial.value)
    assert summaries["mini"].best_value == pytest.approx(mini.best_trial.value)
    assert summaries["mini"].best_value == min(t.value for t in mini.trials)  # type: ignore[type-var]
    assert (summaries["flaky"].n_failed, summaries["flaky"].best_value) == (2, None)
    assert summaries["maxi"].strategy == "random"
    assert summaries["maxi"].task == "nas-bench-graph/cora"


def test_delete_study(db_url: str, db_path: Path, cora: NasBenchGraph) -> None:
    _study(db_url, "doomed").optimize(cora, n_trials=2)
    _study(db_url, "kept").optimize(cora, n_trials=1)
    RDBStorage(db_url).delete_study("doomed")
    assert [s.name for s in RDBStorage(db_url).list_studies()] == ["kept"]
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trials") == [(1,)]
    with pytest.raises(StudyNotFoundError, match=r"Did you mean 'doomed'|Studies there: 'kept'"):
        RDBStorage(db_url).delete_study("doomed")


def test_user_attrs_are_stored(db_url: str) -> None:
    study = _study(db_url, "attrs", user_attrs={"owner": "me"})
    study.set_user_attr("note", [1, 2])
    assert dict(metanas.load_study("attrs", storage=db_url).user_attrs) == {
        "owner": "me",
        "note": [1, 2],
    }


# ==================================================================== schema


def test_schema_is_at_revision_0003(db_url: str, db_path: Path) -> None:
    RDBStorage(db_url)
    assert read_rows(db_path, "SELECT version_num FROM alembic_version") == [("0003",)]
    tables = {r[0] for r in read_rows(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"metanas_tasks", "metanas_studies", "metanas_trials", "alembic_version"} <= tables


def test_opening_a_database_twice_keeps_its_data(
    db_url: str, db_path: Path, cora: NasBenchGraph
) -> None:
    _study(db_url, "kept").optimize(cora, n_trials=3)
    # A second process would build its own engine: forget the shared one and reopen.
    rdb._ENGINES.pop(db_url, None)
    reopened = RDBStorage(db_url)
    assert reopened.engine is not None
    assert len(metanas.load_study("kept", storage=reopened).trials) == 3
    assert read_rows(db_path, "SELECT version_num FROM alembic_version") == [("0003",)]
    # Upgrading an up-to-date engine is a no-op, even on a brand-new engine.
    fresh = sa.create_engine(db_url)
    RDBStorage._upgrade(fresh)
    fresh.dispose()
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trials") == [(3,)]


def test_an_empty_sqlite_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    read_rows(path, "SELECT 1")  # sqlite3 creates an empty database file
    assert path.exists()
    RDBStorage(f"sqlite:///{path}")
    assert read_rows(path, "SELECT version_num FROM alembic_version") == [("0003",)]


def test_sqlite_files_use_wal(db_url: str, db_path: Path) -> None:
    RDBStorage(db_url)
    assert read_rows(db_path, "PRAGMA journal_mode") == [("wal",)]


# ==================================================================== hardening (issue 13)


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "/abs/path",
        "~/home",
        "a/../b",
        "x" * 201,
        "red\x1b[31mtext",
        "bell\x07",
        " padded",
        "",
        ".",
    ],
)
def test_study_names_that_would_escape_or_garble_a_terminal_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        _study("sqlite://", name)
    # Nothing was stored under the refused name.
    assert name not in [s.name for s in RDBStorage("sqlite://").list_studies()]


@pytest.mark.parametrize("name", ["cora-rea", "nas-bench-graph/cora-rea-s0", "x" * 200, "é ü 1"])
def test_ordinary_study_names_are_accepted(name: str) -> None:
    store = RDBStorage("sqlite://")
    metanas.create_study(name=name, storage=store, space=NasBenchGraphSpace(), seed=0)
    assert store.get_study(name).name == name


def test_a_password_never_appears_in_a_storage_error() -> None:
    url = "postgresql+nodriver://ann:s3cr3t-pw@localhost/nas"
    with pytest.raises(StorageError) as info:
        RDBStorage(url)
    assert "s3cr3t-pw" not in str(info.value)
    assert "ann:***@localhost" in str(info.value)
    # A URL SQLAlchemy cannot parse is still masked.
    assert rdb.display_url("garbage://ann:pw@:x:y/z") == "garbage://ann:***@:x:y/z"


@pytest.mark.parametrize(
    ("url", "fix"), [("sqlite:/b.db", "sqlite:///b.db"), ("runs.db", "sqlite:///runs.db")]
)
def test_a_url_without_slashes_gets_the_right_fix(url: str, fix: str) -> None:
    with pytest.raises(ValueError, match=f"write '{fix}'"):
        RDBStorage(url)


def test_metanas_will_not_add_its_tables_to_another_applications_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    eng.dispose()
    with pytest.raises(StorageError, match=r"another application.*customers"):
        RDBStorage(f"sqlite:///{path}")
    eng = sa.create_engine(f"sqlite:///{path}")
    assert sa.inspect(eng).get_table_names() == ["customers"]  # left untouched
    eng.dispose()


def test_a_study_deleted_during_its_search_gives_one_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'del.db'}"
    study = _study(url, "doomed")
    trial = study.ask()
    RDBStorage(url).delete_study("doomed")
    with pytest.raises(StudyNotFoundError, match=r"deleted .* while it ran"):
        study.tell(trial, metanas.Result({"valid_accuracy": 0.5}))
    with pytest.raises(StudyNotFoundError, match=r"was deleted .* while the search ran"):
        study.ask()


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    # The losers of the race to create the tables used to fail with "table already exists".
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = (
        "import sys, time; from metanas.storage import RDBStorage; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); RDBStorage(sys.argv[1]); "
        "print('ok')"
    )
    import time

    start = str(time.time() + 3.0)  # all processes open the file at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, start], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [e.decode()[-300:] for _, e in outs]
    assert RDBStorage(url).list_studies() == []
