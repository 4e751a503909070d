"""The storage contract on every backend: a SQLite file, and PostgreSQL when a server is given.

PostgreSQL runs when ``METANAS_TEST_POSTGRES_URL`` names a database on a server where that role
may create databases (``eval "$(.ci/postgres.sh start)"`` starts a throwaway one; ``.ci/run``
does so). Each test gets a database of its own, created through that URL and dropped after, so
no test sees another's studies and the migrations run on an empty database every time.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import metanas
from conftest import postgres_admin_url
from metanas import DuplicatedStudyError, RDBStorage, StorageError, StudyNotFoundError, TrialState
from metanas.spaces import Architecture, NasBenchGraphSpace
from metanas.storage import _models, rdb
from metanas.trial import Trial


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> RDBStorage:
    return RDBStorage(url)


SPACE = NasBenchGraphSpace()
ARCH = SPACE.sample(np.random.default_rng(0))


def _new_study(store: RDBStorage, name: str = "s", task: str = "t") -> rdb.StudyRecord:
    return store.create_study(
        name=name, task=store.get_or_create_task(task), space=SPACE.to_config(),
        strategy="random", strategy_settings={}, objectives=[("valid_accuracy", "maximize")],
        seed=7,
    )  # fmt: skip


# ==================================================================== schema


def _script_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(rdb.__file__).with_name("_migrations")))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_every_migration_is_applied_when_a_store_is_opened(url: str) -> None:
    store = RDBStorage(url)
    head = _script_head()
    assert head == rdb.HEAD_REVISION  # a new migration also moves the revision metanas expects
    with store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    assert version == head
    assert set(_models.metadata.tables) | {"alembic_version"} <= tables
    # Opening again, from a brand-new engine (another process), upgrades nothing and keeps data.
    _new_study(store)
    fresh = sa.create_engine(url, poolclass=sa.pool.NullPool)
    RDBStorage._upgrade(fresh)
    fresh.dispose()
    assert [s.name for s in store.list_studies()] == ["s"]


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_all_succeed(url: str) -> None:
    # On PostgreSQL the losers of the race to create the tables failed on the catalogue's
    # unique index (5 of 18 openers) until the migration took an advisory lock.
    code = (
        "import sys, time; from metanas.storage import RDBStorage; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); RDBStorage(sys.argv[1])"
    )
    start = str(time.time() + 3.0)  # all processes open the database at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [e.decode()[-400:] for _, e in outs]
    with RDBStorage(url).engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert versions == [(rdb.HEAD_REVISION,)]


# ==================================================================== tasks and studies


def test_tasks_are_created_once_and_merge_descriptors(store: RDBStorage) -> None:
    a = store.get_or_create_task("cora", {"n": 1, "x": [1.5, "a"]})
    b = store.get_or_create_task("cora", {"m": 2})
    assert a.id == b.id
    assert dict(b.descriptors) == {"n": 1, "x": [1.5, "a"], "m": 2}
    replaced = store.set_task_descriptors("cora", {"k": True})
    assert dict(replaced.descriptors) == {"k": True}
    assert [(t.name, dict(t.descriptors)) for t in store.list_tasks()] == [("cora", {"k": True})]
    with pytest.raises(StorageError, match=r"No task named 'pubmed'.*get_or_create_task"):
        store.set_task_descriptors("pubmed", {})


def test_studies_are_created_loaded_listed_and_deleted(store: RDBStorage) -> None:
    rec = _new_study(store, "cora-rea", "nas-bench-graph/cora")
    loaded = store.get_study("cora-rea")
    assert (loaded.id, loaded.task.name, loaded.seed) == (rec.id, "nas-bench-graph/cora", 7)
    assert loaded.objectives == (("valid_accuracy", "maximize"),)
    assert dict(loaded.space) == dict(SPACE.to_config())
    store.set_study_user_attr(rec.id, "note", {"a": [1, 2]})
    assert dict(store.get_study("cora-rea").user_attrs) == {"note": {"a": [1, 2]}}
    with pytest.raises(DuplicatedStudyError, match="'cora-rea' already exists"):
        _new_study(store, "cora-rea")
    with pytest.raises(StudyNotFoundError, match="Did you mean 'cora-rea'"):
        store.get_study("cora-rae")

    t = store.add_trial(rec.id, ARCH)
    store.finish_trial(t, TrialState.COMPLETE, metrics={"valid_accuracy": 0.8}, values=[0.8])
    store.finish_trial(store.add_trial(rec.id, ARCH), TrialState.FAILED, error="boom")
    _new_study(store, "empty")
    summary = {s.name: s for s in store.list_studies()}
    assert list(summary) == ["cora-rea", "empty"]
    s = summary["cora-rea"]
    assert (s.task, s.n_trials, s.n_complete, s.n_failed, s.best_value) == (
        "nas-bench-graph/cora",
        2,
        1,
        1,
        0.8,
    )
    assert (summary["empty"].n_trials, summary["empty"].best_value) == (0, None)

    store.delete_study("cora-rea")
    assert [s.name for s in store.list_studies()] == ["empty"]
    assert store.get_trials(rec.id) == []
    assert [r.name for r in store.list_study_records()] == ["empty"]


@pytest.mark.parametrize("name", ["../escape", "/abs", "a\x1b[31m", " padded", "x" * 201])
def test_bad_names_are_refused_before_anything_is_written(store: RDBStorage, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        _new_study(store, name=name)
    with pytest.raises(ValueError, match="task name"):
        store.get_or_create_task(name)
    assert store.list_studies() == []


def test_unicode_and_long_names_round_trip(store: RDBStorage) -> None:
    for name in ["é ü 1", "nas-bench-graph/cora-rea-s0", "x" * 200]:
        _new_study(store, name, task=name)
        assert store.get_study(name).task.name == name


# ==================================================================== trials


def test_trials_are_numbered_claimed_finished_and_requeued(store: RDBStorage) -> None:
    sid = _new_study(store).id
    running = store.add_trial(sid, ARCH, seed=3, worker="w1", user_attrs={"k": "v"})
    waiting = [store.add_trial(sid, ARCH, state=TrialState.WAITING) for _ in range(2)]
    assert [running.number, *(t.number for t in waiting)] == [0, 1, 2]

    claimed = store.claim_waiting_trial(sid, seed=lambda n: 100 + n, worker="w2")
    assert claimed is not None
    assert (claimed.number, claimed.state, claimed.seed, claimed.worker) == (
        1,
        TrialState.RUNNING,
        101,
        "w2",
    )
    assert store.requeue_trial(claimed) is True
    assert store.requeue_trial(claimed) is False  # no longer RUNNING
    again = store.claim_waiting_trial(sid, seed=5, worker="w3")
    assert again is not None
    assert again.number == 1  # the oldest waiting trial first

    done = store.finish_trial(
        running, TrialState.COMPLETE, metrics={"valid_accuracy": 0.5, "loss": math.nan},
        test_metrics={"test_accuracy": 0.4}, values=[0.5], cost_s=1.25,
    )  # fmt: skip
    assert done.finished_at is not None
    (read,) = store.get_trials(sid, [TrialState.COMPLETE])
    assert (read.number, read.arch, read.values, read.cost_s, read.seed) == (
        0,
        ARCH,
        (0.5,),
        1.25,
        3,
    )
    assert read.metrics["valid_accuracy"] == 0.5
    assert math.isnan(read.metrics["loss"])
    assert dict(read.test_metrics) == {"test_accuracy": 0.4}
    assert dict(read.user_attrs) == {"k": "v"}
    assert isinstance(read.started_at, dt.datetime)
    with pytest.raises(ValueError, match="COMPLETE or FAILED"):
        store.finish_trial(again, TrialState.RUNNING)
    states = [t.state for t in store.get_trials(sid)]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING]
    store.delete_study("s")
    with pytest.raises(StudyNotFoundError, match="deleted"):
        store.finish_trial(again, TrialState.FAILED, error="late")


def test_the_study_total_is_exact(store: RDBStorage) -> None:
    sid = _new_study(store).id
    made = [store.add_trial_below(sid, ARCH, 3) for _ in range(5)]
    assert [None if t is None else t.number for t in made] == [0, 1, 2, None, None]
    assert len(store.get_trials(sid)) == 3


def test_intermediate_values_are_replaced_per_step_and_deleted_with_the_study(
    store: RDBStorage,
) -> None:
    sid = _new_study(store).id
    trial = store.add_trial(sid, ARCH)
    store.report_values(trial, 0, {"valid_accuracy": 0.1})
    store.report_values(trial, 1, {"valid_accuracy": math.nan}, 2.0)
    store.report_values(trial, 0, {"valid_accuracy": 0.2})
    ((step0, vals0, _), (step1, vals1, elapsed1)) = store.get_values(sid)[0]
    assert (step0, dict(vals0), step1, elapsed1) == (0, {"valid_accuracy": 0.2}, 1, 2.0)
    assert math.isnan(vals1["valid_accuracy"])
    store.delete_study("s")
    assert store.get_values(sid) == {}


def test_import_study_writes_all_or_nothing(store: RDBStorage) -> None:
    task = store.get_or_create_task("t")
    when = dt.datetime(2024, 5, 1, 12, 30, 15)
    trials = [
        Trial(
            number=n,
            state=TrialState.COMPLETE,
            arch=ARCH,
            metrics={"valid_accuracy": 0.1 * n},
            values=(0.1 * n,),
            seed=n,
            started_at=when,
            finished_at=when,
            worker="old",
        )
        for n in (0, 4)
    ]
    kwargs = dict(
        task=task, space=SPACE.to_config(), strategy="random", strategy_settings={},
        objectives=[("valid_accuracy", "maximize")], seed=1, user_attrs={"from": "x"},
        created_at=when,
    )  # fmt: skip
    rec = store.import_study(name="imported", trials=trials, **kwargs)  # type: ignore[arg-type]
    read = store.get_trials(rec.id)
    assert [(t.number, t.values, t.seed, t.finished_at) for t in read] == [
        (0, (0.0,), 0, when), (4, (0.4,), 4, when)
    ]  # fmt: skip
    assert store.get_study("imported").created_at == when
    # The next trial follows the imported numbers.
    assert store.add_trial(rec.id, ARCH).number == 5
    with pytest.raises(DuplicatedStudyError, match="'imported' already exists"):
        store.import_study(name="imported", trials=trials, **kwargs)  # type: ignore[arg-type]
    # Two trials with one number: nothing is written, not even the study.
    with pytest.raises(DuplicatedStudyError, match="share a number"):
        store.import_study(name="clash", trials=[trials[0], trials[0]], **kwargs)  # type: ignore[arg-type]
    assert [s.name for s in store.list_studies()] == ["imported"]


# ==================================================================== passwords


def test_a_password_is_masked_when_the_server_cannot_be_reached() -> None:
    pytest.importorskip("psycopg")
    # Port 1 on loopback: nothing listens, so the driver itself fails to connect.
    url = "postgresql+psycopg://ann:s3cr3t-pw@127.0.0.1:1/nas"
    with pytest.raises(StorageError) as info:
        RDBStorage(url)
    assert "s3cr3t-pw" not in str(info.value)
    assert "ann:***@127.0.0.1:1" in str(info.value)
    assert rdb._ENGINES.get(url) is None  # a failed open is not cached


def test_a_password_is_masked_when_the_database_is_missing() -> None:
    admin = sa.engine.make_url(postgres_admin_url())
    url = admin.set(password="s3cr3t-pw", database="no_such_db").render_as_string(False)
    with pytest.raises(StorageError, match="no_such_db") as info:
        RDBStorage(url)
    assert "s3cr3t-pw" not in str(info.value)
    assert ":***@" in str(info.value)


# ==================================================================== many workers, one study

_WORKER = """
import sys, time
import metanas
from metanas.benchmarks import NasBenchGraph

url, name, mode, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
bench = NasBenchGraph("cora")
time.sleep(max(0.0, start - time.time()))  # every worker creates-or-loads the study at once
study = metanas.create_study(
    space=bench.space, name=name, storage=url, load_if_exists=True, seed=0, strategy="random"
)
if mode == "n_trials":
    study.optimize(bench, n_trials=250)
else:
    study.optimize(bench, max_total_trials=1000)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["n_trials", "max_total_trials"])
def test_four_processes_share_one_study_without_loss_or_duplicates(url: str, mode: str) -> None:
    """4 processes x 250 trials (or a study total of 1,000): exactly trials 0..999, all finished."""
    start = time.time() + 3.0  # after every interpreter has imported metanas and read the table
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, "shared", mode, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e.decode()[-800:] for _, e in outs]
    trials = RDBStorage(url).get_trials(RDBStorage(url).get_study("shared").id)
    numbers = [t.number for t in trials]
    assert numbers == list(range(1000))  # none lost, none duplicated, no gap
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    per_worker = collections.Counter(t.worker for t in trials)
    if mode == "n_trials":
        assert sorted(per_worker.values()) == [250] * 4
    else:
        # With a study total, a worker that starts late may find the study full: the total is
        # what is exact, not each worker's share.
        assert 1 <= len(per_worker) <= 4
        assert sum(per_worker.values()) == 1000
    assert len(RDBStorage(url).list_studies()) == 1


def test_engines_are_shared_and_study_created_by_another_worker_is_loaded(url: str) -> None:
    # A second worker that finds no study, then loses the race to create it, loads the winner's.
    first = metanas.create_study(space=SPACE, name="race", storage=url, seed=0)
    store = RDBStorage(url)
    assert store.engine is first.storage.engine
    original = store.get_study

    calls = {"n": 0}

    def not_yet(name: str) -> rdb.StudyRecord:
        calls["n"] += 1
        if calls["n"] == 1:  # the first look happens before the other worker's insert
            raise StudyNotFoundError(f"No study named {name!r}")
        return original(name)

    store.get_study = not_yet  # type: ignore[method-assign]
    second = metanas.create_study(space=SPACE, name="race", storage=store, load_if_exists=True)
    assert (second.seed, calls["n"]) == (0, 2)
    with pytest.raises(DuplicatedStudyError):
        metanas.create_study(space=SPACE, name="race", storage=url, seed=1)


def test_architecture_type_round_trips(store: RDBStorage) -> None:
    sid = _new_study(store).id
    arch = Architecture({"depth": 2, "act": "relu", "dropout": 0.5, "norm": True})
    store.add_trial(sid, arch)
    (read,) = store.get_trials(sid)
    assert read.arch == arch
    assert [type(read.arch[k]) for k in ("depth", "act", "dropout", "norm")] == [
        int, str, float, bool
    ]  # fmt: skip
