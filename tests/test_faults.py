"""Faults: heartbeats, trials of dead workers on any host, and the retry limit."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import metanas
from metanas import Architecture, Result, StorageError, TrialState
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Evaluator
from metanas.storage import RetryPolicy
from metanas.storage.rdb import RDBStorage, get_storage

LONG_AGO = dt.datetime(2000, 1, 1)


class _Counting(Evaluator):
    """Counts evaluations per architecture; ``sleep_s`` makes each one slow."""

    def __init__(self, inner: NasBenchGraph, sleep_s: float = 0.0) -> None:
        self.inner, self.sleep_s = inner, sleep_s
        self.task_name = inner.task_name
        self.calls: list[Architecture] = []

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        self.calls.append(arch)
        time.sleep(self.sleep_s)
        return self.inner.evaluate(arch)


def _set_heartbeat(store: RDBStorage, number: int, when: dt.datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            # Typed, so SQLite stores the text SQLAlchemy writes (and compares) itself.
            sa.text("UPDATE metanas_trials SET heartbeat_at = :t WHERE number = :n").bindparams(
                sa.bindparam("t", type_=sa.DateTime)
            ),
            {"t": when, "n": number},
        )


def _remote_trial(
    db_url: str, cora: NasBenchGraph, grace_s: float = 1.0, attempts: int | None = None
) -> tuple[metanas.Study, Architecture]:
    """A study whose trial 2 was left RUNNING by a worker of another machine that kept a
    heartbeat with ``grace_s``, last beating long ago."""
    study = metanas.create_study(name="faults", storage=db_url, space=cora.space, seed=1)
    study.optimize(cora, n_trials=2)
    arch = cora.space.sample(np.random.default_rng(5))
    attrs: dict[str, object] = {"heartbeat_grace_s": grace_s}
    if attempts is not None:
        attrs["attempts"] = attempts
    study.storage.add_trial(
        study._record.id, arch, seed=9, worker="other-host:4242", user_attrs=attrs
    )
    _set_heartbeat(study.storage, 2, LONG_AGO)
    return study, arch


def test_a_stale_trial_of_another_host_is_requeued_and_evaluated_once(
    db_url: str, cora: NasBenchGraph
) -> None:
    _, arch = _remote_trial(db_url, cora)
    resumed = metanas.load_study("faults", storage=db_url)
    assert resumed.trials[2].state is TrialState.WAITING
    assert resumed.trials[2].user_attrs["attempts"] == 1
    again = metanas.load_study("faults", storage=db_url)  # a second worker opening it
    assert again.trials[2].state is TrialState.WAITING
    assert again.trials[2].user_attrs["attempts"] == 1  # counted once, not per opener
    ev = _Counting(cora)
    resumed.optimize(ev, n_trials=2)
    again.optimize(ev, n_trials=1)
    assert ev.calls.count(arch) == 1
    done = metanas.load_study("faults", storage=db_url).trials
    assert [t.number for t in done] == [0, 1, 2, 3, 4]
    assert done[2].arch == arch
    assert done[2].state is TrialState.COMPLETE


def test_recovering_is_atomic(db_url: str, cora: NasBenchGraph) -> None:
    study, _ = _remote_trial(db_url, cora)
    store = study.storage
    ((trial, beat_at),) = store.running_trials(study._record.id)
    assert store.recover_trial(trial, beat_at, max_retries=2, reason="x") is TrialState.WAITING
    assert store.recover_trial(trial, beat_at, max_retries=2, reason="x") is None


def test_a_beat_after_reading_keeps_the_trial_running(db_url: str, cora: NasBenchGraph) -> None:
    study, _ = _remote_trial(db_url, cora)
    store = study.storage
    ((trial, beat_at),) = store.running_trials(study._record.id)
    store.heartbeat([trial.id or 0])  # the worker was alive after all
    assert store.recover_trial(trial, beat_at, max_retries=2, reason="x") is None
    assert store.running_trials(study._record.id)[0][0].number == 2


def test_a_fresh_heartbeat_is_left_alone(db_url: str, cora: NasBenchGraph) -> None:
    _remote_trial(db_url, cora, grace_s=600.0)
    store = get_storage(db_url)
    _set_heartbeat(store, 2, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    resumed = metanas.load_study("faults", storage=db_url)
    assert resumed.trials[2].state is TrialState.RUNNING
    resumed.optimize(cora, n_trials=1)
    assert resumed.trials[2].state is TrialState.RUNNING
    assert resumed.trials[3].state is TrialState.COMPLETE


def test_a_trial_without_a_heartbeat_on_another_host_is_left_alone(
    db_url: str, cora: NasBenchGraph
) -> None:
    # study.ask() keeps no heartbeat: however old, its trial may still be worked on.
    study = metanas.create_study(name="manual", storage=db_url, space=cora.space, seed=0)
    study.ask()
    with study.storage.engine.begin() as conn:
        conn.execute(sa.text("UPDATE metanas_trials SET worker = 'other-host:1'"))
    _set_heartbeat(study.storage, 0, LONG_AGO)
    assert "heartbeat_grace_s" not in study.trials[0].user_attrs
    assert metanas.load_study("manual", storage=db_url).trials[0].state is TrialState.RUNNING


def test_the_heartbeat_thread_updates_running_trials(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(name="beat", storage=db_url, space=cora.space, seed=0)
    seen: list[tuple[dt.datetime | None, dt.datetime | None, object]] = []

    class Watch(_Counting):
        def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
            ((trial, first),) = study.storage.running_trials(study._record.id)
            time.sleep(0.9)
            ((_, last),) = study.storage.running_trials(study._record.id)
            seen.append((first, last, trial.user_attrs.get("heartbeat_grace_s")))
            return self.inner.evaluate(arch)

    study.optimize(Watch(cora), n_trials=1, heartbeat_s=0.2)
    ((first, last, grace),) = seen
    assert first is not None
    assert last is not None
    assert (last - first).total_seconds() >= 0.4
    assert grace == pytest.approx(0.6)  # 3 x heartbeat_s, stored for other workers
    assert not [t for t in threading.enumerate() if t.name == "metanas-heartbeat"]


def test_a_live_slow_trial_is_not_taken_by_another_worker(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(name="slow", storage=db_url, space=cora.space, seed=0)
    states: list[TrialState] = []

    class Slow(_Counting):
        def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
            time.sleep(1.0)  # well past the grace of 0.5 s: only the heartbeat keeps it
            other = metanas.load_study("slow", storage=db_url)
            states.append(other.trials[0].state)
            return self.inner.evaluate(arch)

    study.optimize(Slow(cora), n_trials=1, heartbeat_s=0.1, heartbeat_grace_s=0.5)
    assert states == [TrialState.RUNNING]
    assert study.trials[0].state is TrialState.COMPLETE


def test_a_trial_whose_worker_keeps_dying_fails_after_max_retries(
    db_url: str, cora: NasBenchGraph
) -> None:
    study, _ = _remote_trial(db_url, cora)
    store = study.storage
    for attempt in (1, 2):
        t = metanas.load_study("faults", storage=db_url).trials[2]
        assert (t.state, t.user_attrs["attempts"]) == (TrialState.WAITING, attempt)
        claimed = store.claim_waiting_trial(study._record.id, seed=9, worker="other-host:4243")
        assert claimed is not None
        assert claimed.number == 2
        _set_heartbeat(store, 2, LONG_AGO)
    failed = metanas.load_study("faults", storage=db_url).trials[2]
    assert failed.state is TrialState.FAILED
    assert failed.user_attrs["attempts"] == 3
    assert failed.error is not None
    assert "worker died" in failed.error
    assert "max_retries=2" in failed.error
    assert "other-host:4243" in failed.error


def test_optimize_applies_its_own_max_retries(db_url: str, cora: NasBenchGraph) -> None:
    study, _ = _remote_trial(db_url, cora, attempts=1)
    # The study object was open before the trial died: optimize checks again on start.
    ev = _Counting(cora)
    study.optimize(ev, n_trials=1, max_retries=1)
    assert study.trials[2].state is TrialState.FAILED
    assert study.trials[3].state is TrialState.COMPLETE
    assert len(ev.calls) == 1


def test_max_retries_given_on_opening_governs_the_dead_trials_found_then(
    db_url: str, cora: NasBenchGraph
) -> None:
    # Killed twice already: the default (2 retries) fails it on opening, a larger limit not.
    _remote_trial(db_url, cora, attempts=2)
    study = metanas.load_study("faults", storage=db_url, max_retries=5)
    assert study.max_retries == 5
    assert study.trials[2].state is TrialState.WAITING
    assert study.trials[2].user_attrs["attempts"] == 3
    ev = _Counting(cora)
    study.optimize(ev, n_trials=1)
    assert study.trials[2].state is TrialState.COMPLETE


def test_optimize_without_max_retries_uses_the_studys(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(
        name="faults", storage=db_url, space=cora.space, seed=1, max_retries=0
    )
    study.optimize(cora, n_trials=2)
    study.storage.add_trial(
        study._record.id, cora.space.sample(np.random.default_rng(5)), seed=9,
        worker="other-host:4242", user_attrs={"heartbeat_grace_s": 1.0},
    )  # fmt: skip
    _set_heartbeat(study.storage, 2, LONG_AGO)
    study.optimize(_Counting(cora), n_trials=1)  # died after the study was opened
    assert study.trials[2].state is TrialState.FAILED
    assert "max_retries=0" in (study.trials[2].error or "")
    with pytest.raises(ValueError, match=r"max_retries must be an int >= 0 .* got -1"):
        metanas.load_study("faults", storage=db_url, max_retries=-1)


def test_ctrl_c_does_not_count_as_a_death(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(name="ctrlc", storage=db_url, space=cora.space, seed=0)

    class CtrlC(_Counting):
        def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(CtrlC(cora), n_trials=1)
    t = metanas.load_study("ctrlc", storage=db_url).trials[0]
    assert t.state is TrialState.WAITING
    assert "attempts" not in t.user_attrs


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heartbeat_s": 0}, "heartbeat_s must be a number of seconds > 0; got 0"),
        ({"heartbeat_grace_s": -1.0}, "heartbeat_grace_s must be .* got -1.0"),
        ({"heartbeat_s": 5.0, "heartbeat_grace_s": 5.0}, "must exceed heartbeat_s=5.0"),
        ({"max_retries": -1}, "max_retries must be an int >= 0 .* got -1"),
        ({"max_retries": True}, "max_retries must be an int >= 0"),
    ],
)
def test_fault_settings_are_checked(
    db_url: str, cora: NasBenchGraph, kwargs: dict[str, object], match: str
) -> None:
    study = metanas.create_study(name="bad", storage=db_url, space=cora.space, seed=0)
    with pytest.raises(ValueError, match=match):
        study.optimize(cora, n_trials=1, **kwargs)  # type: ignore[arg-type]


TIMEOUT_SPACE = metanas.SearchSpace({"a": list(range(4)), "hang": [False, True]})


def hang_or_score(arch: Architecture) -> dict[str, float]:
    if arch["hang"]:
        (Path(os.environ["METANAS_TEST_HUNG_DIR"]) / str(os.getpid())).touch()
        time.sleep(120)  # an evaluator that hangs: only the timeout ends it
    return {"score": float(arch["a"]), "pid": float(os.getpid())}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_trial_past_its_timeout_fails_and_its_worker_is_replaced(
    n_jobs: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METANAS_TEST_HUNG_DIR", str(tmp_path))
    study = metanas.create_study(
        space=TIMEOUT_SPACE, storage="sqlite://", strategy="random", seed=0, metric="score"
    )
    for hang in (False, True, False, True, False, False):
        study.enqueue({"a": 1, "hang": hang})
    start = time.monotonic()
    study.optimize(hang_or_score, n_trials=6, n_jobs=n_jobs, trial_timeout_s=1.0)
    assert time.monotonic() - start < 60
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED] * 2 + [TrialState.COMPLETE] * 2
    for t in study.trials[1:4:2]:
        assert t.error == "TimeoutError: timed out after 1 s"
    hung = [int(p.name) for p in tmp_path.iterdir()]
    assert len(hung) == 2  # two workers hung, one each ...
    for pid in hung:  # ... and both were killed; fresh workers ran the trials after them
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_trial_timeout_needs_the_local_pool() -> None:
    study = metanas.create_study(
        space=TIMEOUT_SPACE, storage="sqlite://", strategy="random", seed=0, metric="score"
    )
    with pytest.raises(ValueError, match=r"trial_timeout_s=1\.0 needs the local process pool"):
        study.optimize(hang_or_score, n_trials=1, executor="inprocess", trial_timeout_s=1.0)
    with pytest.raises(ValueError, match="trial_timeout_s must be a number of seconds > 0"):
        study.optimize(hang_or_score, n_trials=1, trial_timeout_s=0)


# ==================================================================== a dropped database connection

FAST_RETRY = RetryPolicy(deadline_s=5.0, base_s=0.01, cap_s=0.05)


def _drop_connection(
    monkeypatch: pytest.MonkeyPatch, n_drops: int | None, on: str = "INSERT INTO metanas_trials"
) -> list[str]:
    """The next ``n_drops`` statements starting with ``on`` (None: all) fail as a disconnect."""
    dropped: list[str] = []
    execute: Any = sa.engine.Connection.execute

    def flaky(self: sa.engine.Connection, stmt: Any, *args: Any, **kw: Any) -> Any:
        text = str(stmt).strip()
        if text.startswith(on) and (n_drops is None or len(dropped) < n_drops):
            dropped.append(text)
            raise sa.exc.OperationalError(
                text, {}, Exception("server closed the connection unexpectedly"),
                connection_invalidated=True,
            )  # fmt: skip
        return execute(self, stmt, *args, **kw)

    monkeypatch.setattr(sa.engine.Connection, "execute", flaky)
    return dropped


def test_a_dropped_connection_is_retried_and_the_study_goes_on(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    study = metanas.create_study(space=TIMEOUT_SPACE, storage=db_url, seed=0, metric="score")
    study.storage.retry_policy = FAST_RETRY
    dropped = _drop_connection(monkeypatch, n_drops=2)
    with caplog.at_level(logging.WARNING, logger="metanas.storage._retry"):
        study.optimize(lambda a: float(a["a"]), n_trials=3)
    monkeypatch.undo()
    assert len(dropped) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert "lost its database connection" in warned[0]
    assert "attempt 1 failed, retrying in 0.01 s" in warned[0]
    assert "attempt 2 failed, retrying in 0.02 s" in warned[1]
    trials = metanas.load_study(study.name, storage=db_url).trials
    assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(3)]


def test_a_connection_that_stays_lost_fails_with_a_clear_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RDBStorage(db_url)
    store.retry_policy = RetryPolicy(deadline_s=0.2, base_s=0.01, cap_s=0.05)
    _drop_connection(monkeypatch, n_drops=None, on="SELECT")
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"Lost the connection to storage .*list_studies\(\) "
                       r"failed \d+ time\(s\) over 0\.\d s .*server closed the connection.*"
                       r"Check that the database server is running"):  # fmt: skip
        store.list_studies()
    assert time.monotonic() - start < 2


def test_only_connection_failures_are_retried(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RDBStorage(db_url)
    store.retry_policy = FAST_RETRY
    calls: list[int] = []
    execute: Any = sa.engine.Connection.execute

    def broken(self: sa.engine.Connection, stmt: Any, *args: Any, **kw: Any) -> Any:
        if str(stmt).strip().startswith("SELECT"):
            calls.append(1)
            raise sa.exc.OperationalError("SELECT", {}, Exception("no such table: metanas_tasks"))
        return execute(self, stmt, *args, **kw)

    monkeypatch.setattr(sa.engine.Connection, "execute", broken)
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        store.list_tasks()
    assert calls == [1]  # a missing table is not a lost connection: raised at once


def test_a_nested_storage_call_is_retried_once_as_a_whole(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RDBStorage(db_url)
    store.create_study(
        name="gone", task=store.get_or_create_task("t"), space={}, strategy="random",
        strategy_settings={}, objectives=[("score", "maximize")], seed=0,
    )  # fmt: skip
    store.retry_policy = FAST_RETRY
    # delete_study reads the study (get_study, itself retried) and then deletes it: the
    # dropped read is retried by delete_study alone, not by both.
    dropped = _drop_connection(monkeypatch, n_drops=1, on="SELECT metanas_studies.id")
    store.delete_study("gone")
    monkeypatch.undo()
    assert len(dropped) == 1
    assert store.list_studies() == []


@pytest.mark.slow
def test_a_study_survives_its_postgresql_connections_being_terminated(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    study = metanas.create_study(space=TIMEOUT_SPACE, storage=postgres_url, seed=0, metric="score")
    study.storage.retry_policy = FAST_RETRY
    database = sa.engine.make_url(postgres_url).database
    killer = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    terminated: list[int] = []

    def terminate() -> None:
        # A second connection ends the study's backends: every 50 ms all of them, idle or not
        # (the pool's pre-ping replaces an idle one silently), and every 5 ms those busy with
        # a statement or transaction, so the retry path is hit whatever the timing. It stops
        # after 40 ends: on a loaded machine a reconnect can take longer than 5 ms, and a
        # killer that never stops then ends every retry until the 5 s deadline passes.
        with killer.connect() as conn:
            tick = 0
            while len(terminated) < 40 and not stop.wait(0.005):
                tick += 1
                busy = "" if tick % 10 == 0 else " AND state <> 'idle'"
                terminated.extend(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "datname = :db AND pid <> pg_backend_pid()" + busy
                        ),
                        {"db": database},
                    ).scalars()
                )

    thread = threading.Thread(target=terminate, daemon=True)
    thread.start()

    def score(arch: Architecture) -> float:
        time.sleep(0.01)
        return float(arch["a"])

    try:
        with caplog.at_level(logging.WARNING, logger="metanas.storage._retry"):
            study.optimize(score, n_trials=50, heartbeat_s=0.05)
    finally:
        stop.set()
        thread.join()
        killer.dispose()
    assert len(terminated) >= 10
    assert any("lost its database connection" in r.getMessage() for r in caplog.records)
    trials = metanas.load_study(study.name, storage=postgres_url).trials
    assert [t.number for t in trials] == list(range(50))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert all(t.metrics["score"] == t.arch["a"] for t in trials)


# ==================================================================== SIGKILL of the driver

KILL_SPACE = metanas.SearchSpace({"a": list(range(1000)), "b": list(range(1000))})


def _kill_score(arch: Architecture) -> dict[str, float]:
    # Long enough that a kill 0-30 ms after a stored trial lands within the next trial or
    # two on any machine: a faster trial let CI's driver finish the study in 12 runs.
    time.sleep(0.025)
    return {"score": float(arch["a"] * 1000 + arch["b"])}


def _drive(url: str, n_trials: int) -> None:
    """The driver: the same call every time, creating the study or resuming it."""
    study = metanas.create_study(
        name="killed", storage=url, space=KILL_SPACE, seed=0, strategy="random",
        metric="score", load_if_exists=True,
    )  # fmt: skip
    study.optimize(_kill_score, max_total_trials=n_trials, max_retries=100)


def _n_complete(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            row = conn.execute("SELECT COUNT(*) FROM metanas_trials WHERE state = 'complete'")
            return int(row.fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def _driver_context() -> Any:
    """Where drivers are started: processes forked from a fresh server, not from this one.

    SQLite keeps per-process state for each open file, keyed by its inode, and a fork copies
    it. Forked from this process, which earlier tests left holding connections (some to files
    deleted since, whose inode numbers new files reuse), a driver read another study's
    finished trials from its own file and returned at once: seen in the full module, never
    with the test alone, and not cured by closing this process's engines first. The fork
    server imports metanas once, so a driver still starts in milliseconds.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["metanas", __name__])
    return ctx


@pytest.mark.slow
def test_twenty_sigkills_of_the_driver_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    url = f"sqlite:///{path}"
    # Each driver is killed with SIGKILL (see _driver_context for where they start).
    ctx = _driver_context()
    rng = np.random.default_rng(16)
    kills = 0
    while kills < 20:
        before = _n_complete(path)
        driver = ctx.Process(target=_drive, args=(url, 200))
        driver.start()
        # Killed mid-study: once it has finished a trial of its own, within 0-30 ms.
        deadline = time.monotonic() + 60
        while _n_complete(path) == before and driver.is_alive():
            assert time.monotonic() < deadline, "the driver finished no trial in 60 s"
            time.sleep(0.005)
        if not driver.is_alive():  # finished the study before the kill
            break
        time.sleep(float(rng.uniform(0.0, 0.03)))
        os.kill(driver.pid or 0, signal.SIGKILL)
        driver.join()
        assert driver.exitcode == -signal.SIGKILL
        kills += 1
    assert kills == 20, f"the study ended after {kills} kills: the test kills too late"
    driver = ctx.Process(target=_drive, args=(url, 200))
    driver.start()
    driver.join(timeout=120)
    assert driver.exitcode == 0
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT number, state FROM metanas_trials ORDER BY number").fetchall()
    assert [r[0] for r in rows] == list(range(200))  # none lost, none duplicated
    assert {r[1] for r in rows} == {"complete"}
    study = metanas.load_study("killed", storage=url)
    for t in study.trials:  # each stored result is that of the trial's own architecture
        assert t.metrics["score"] == t.arch["a"] * 1000 + t.arch["b"]
    requeued = [t for t in study.trials if t.user_attrs.get("attempts")]
    assert 1 <= len(requeued) <= 20  # the trials cut off by the kills, evaluated again


# ============================================= SIGKILL of the driver of a scheduled study

SCHED_SPACE = metanas.SearchSpace({"w": list(range(60))})


def _sched_value(w: int, epoch: int) -> float:
    # A plateau rising with w, reached at different speeds: early epochs do not rank as late
    # ones do, so the scheduler's decisions depend on the order of the results.
    return round(w / 60 * (1 - 0.6 ** (epoch * (1 + (w % 7) / 3))), 6)


class _SlowCurves(Evaluator):
    supports_resume = True

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        b = int(budget or 0)
        time.sleep(0.03 * (b - int(resume_from or 0)))
        curve = tuple(
            {"epoch": float(e), "valid_accuracy": _sched_value(arch["w"], e)}
            for e in range(1, b + 1)
        )
        return Result(
            metrics={"valid_accuracy": _sched_value(arch["w"], b)},
            cost_s=float(b - (resume_from or 0)),
            curve=curve,
        )


def _drive_scheduled(url: str, n_trials: int) -> None:
    study = metanas.create_study(
        name="killed-asha", storage=url, space=SCHED_SPACE, seed=0, strategy="random",
        task="curves", load_if_exists=True, scheduler="asha",
        scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3}, max_retries=100,
    )  # fmt: skip
    study.optimize(_SlowCurves(), max_total_trials=n_trials)


def _n_events(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM metanas_scheduler_events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def _decisions(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    study = metanas.load_study("killed-asha", storage=url)
    events = [
        (e.number, e.kind, e.budget, e.decision, e.next_budget)
        for e in study.storage.get_events(study._record.id)
    ]
    trials = [(t.number, t.arch["w"], t.state.value, t.budget) for t in study.trials]
    return events, trials


@pytest.mark.slow
def test_sigkills_of_a_scheduled_study_keep_its_decisions_and_every_epoch(tmp_path: Path) -> None:
    straight = f"sqlite:///{tmp_path / 'straight.db'}"
    ctx = _driver_context()
    # The straight run is a driver process too: run here, it left this process holding
    # SQLite connections (see _driver_context).
    run = ctx.Process(target=_drive_scheduled, args=(straight, 40))
    run.start()
    run.join(timeout=120)
    assert run.exitcode == 0
    path = tmp_path / "killed.db"
    url = f"sqlite:///{path}"
    rng = np.random.default_rng(7)
    kills = 0
    while kills < 10:
        before = _n_events(path)
        driver = ctx.Process(target=_drive_scheduled, args=(url, 40))
        driver.start()
        # Killed mid-rung, after one result of its own (each driver opens the study with
        # max_retries=100, so a trial cut off again and again is not FAILED). The straight
        # study stores 65 results: waiting for 3 per driver, plus those stored before the
        # kill lands, let a loaded run's drivers finish the study after 4 kills.
        deadline = time.monotonic() + 60
        while _n_events(path) < before + 1 and driver.is_alive():
            assert time.monotonic() < deadline, "the driver stored no result in 60 s"
            time.sleep(0.002)
        if not driver.is_alive():
            break
        time.sleep(float(rng.uniform(0.0, 0.03)))
        os.kill(driver.pid or 0, signal.SIGKILL)
        driver.join()
        kills += 1
    assert kills == 10, (
        f"the study ended after {kills} kills (exit code {driver.exitcode}, "
        f"{_n_events(path)} results stored, {_n_complete(path)} trials complete)"
    )
    driver = ctx.Process(target=_drive_scheduled, args=(url, 40))
    driver.start()
    driver.join(timeout=120)
    assert driver.exitcode == 0
    assert _decisions(url) == _decisions(straight)  # the same promotions and stops
    study = metanas.load_study("killed-asha", storage=url)
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for t in study.trials:  # every epoch up to the trial's budget is stored, with its value
        steps = study.intermediate_values(t)
        assert [s for s, _, _ in steps] == list(range(1, int(t.budget or 0) + 1))
        assert all(v["valid_accuracy"] == _sched_value(t.arch["w"], s) for s, v, _ in steps)
