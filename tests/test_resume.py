"""Resuming: a killed search loses no finished trial and continues exactly where it stopped."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import metanas
from conftest import read_rows
from metanas import Architecture, Result, TrialState
from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Evaluator

N_TRIALS = 60
HANG_AT = 12  # the killed process hangs in its 13th evaluation: trial 12 is RUNNING at the kill
SETTINGS = {"population_size": 10, "sample_size": 3}

# A search of NAS-Bench-Graph/cora whose evaluations take 20 ms each (the one numbered
# $HANG_AT takes a minute), writing to $METANAS_STORAGE, until $N_TRIALS trials are finished.
WORKER = textwrap.dedent(
    """
    import os, time
    import metanas
    from metanas.benchmarks import NasBenchGraph
    from metanas.evaluation import Evaluator

    bench = NasBenchGraph("cora")
    hang_at = int(os.environ["HANG_AT"])
    n_trials = int(os.environ["N_TRIALS"])

    class Slow(Evaluator):
        task_name = bench.task_name

        def __init__(self):
            self.calls = 0

        def evaluate(self, arch, *, budget=None):
            self.calls += 1
            time.sleep(60 if self.calls - 1 == hang_at else 0.02)
            return bench.evaluate(arch)

    study = metanas.create_study(
        name="resume", space=bench.space, strategy="evolution", seed=0, task=bench.name,
        strategy_settings={"population_size": 10, "sample_size": 3}, load_if_exists=True,
    )
    study.optimize(Slow(), n_trials=n_trials - study.n_finished)
    """
)


Row = tuple[int, str, str, float | None, int | None]


def _trial_rows(path: Path) -> list[Row]:
    return [
        (int(r[0]), str(r[1]), str(r[2]), r[3], r[4])
        for r in read_rows(
            path, "SELECT number, state, arch, value, seed FROM metanas_trials ORDER BY number"
        )
    ]


def _wait_for(path: Path, ready: Callable[[list[Row]], bool], timeout_s: float = 60.0) -> list[Row]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            try:
                rows = _trial_rows(path)
            except sqlite3.Error:  # the worker has not created the schema yet
                rows = []
            if ready(rows):
                return rows
        time.sleep(0.05)
    raise AssertionError(f"the worker did not reach the expected state in {timeout_s} s")


@pytest.mark.slow
def test_resume_after_sigkill_loses_nothing_and_continues_exactly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "METANAS_STORAGE": url, "HANG_AT": str(HANG_AT), "N_TRIALS": str(N_TRIALS)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stderr=subprocess.PIPE)
    try:

        def ready(rows: list[Row]) -> bool:
            complete = sum(r[1] == "complete" for r in rows)
            running = [r for r in rows if r[1] == "running"]
            return complete >= 10 and len(running) == 1 and running[0][0] == HANG_AT

        before_kill = _wait_for(db, ready)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""

    at_kill = _trial_rows(db)
    complete_at_kill = [r for r in at_kill if r[1] == "complete"]
    assert [r[0] for r in complete_at_kill] == list(range(HANG_AT))
    assert [r for r in before_kill if r[1] == "complete"] == complete_at_kill
    running = [r for r in at_kill if r[1] == "running"]
    assert [r[0] for r in running] == [HANG_AT]

    # Resume in this process: the dead worker's trial is queued again and evaluated first.
    bench = NasBenchGraph("cora")
    with caplog.at_level(logging.WARNING, logger="metanas"):
        study = metanas.load_study("resume", storage=url)
    assert f"trial {HANG_AT} was left running by dead process" in caplog.text
    assert study.trials[HANG_AT].state is TrialState.WAITING
    assert study.n_finished == HANG_AT
    study.optimize(bench, n_trials=N_TRIALS - study.n_finished)

    final = _trial_rows(db)
    assert [r[0] for r in final] == list(range(N_TRIALS))
    assert all(r[1] == "complete" for r in final)
    assert len(study.trials) == N_TRIALS
    # No COMPLETE trial was lost or changed by the kill and the resume.
    assert final[:HANG_AT] == complete_at_kill
    # The interrupted trial was evaluated again with its architecture and seed.
    assert final[HANG_AT][2] == running[0][2]
    assert final[HANG_AT][4] == running[0][4] == derive_seed(0, HANG_AT)
    assert final[HANG_AT][3] == bench.query(Architecture.from_json(running[0][2]), "valid_accuracy")

    # The killed-and-resumed search is the search that was never interrupted.
    straight = metanas.create_study(
        name="straight", storage=url, space=bench.space, strategy="evolution", seed=0,
        task=bench.name, strategy_settings=SETTINGS,
    )  # fmt: skip
    straight.optimize(bench, n_trials=N_TRIALS)
    assert [(t.arch, t.value) for t in straight.trials] == [(t.arch, t.value) for t in study.trials]


def test_trial_of_a_dead_process_is_requeued(tmp_path: Path, cora: NasBenchGraph) -> None:
    db = tmp_path / "dead.db"
    url = f"sqlite:///{db}"
    study = metanas.create_study(name="dead", storage=url, space=cora.space, seed=3)
    study.optimize(cora, n_trials=3)
    left = study.ask()  # RUNNING, as if this process died now
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    con_rows = read_rows(db, "SELECT worker FROM metanas_trials WHERE number = 3")
    assert con_rows == [(f"{socket.gethostname()}:{os.getpid()}",)]
    _set_worker(db, 3, f"{socket.gethostname()}:{dead_pid}")

    resumed = metanas.load_study("dead", storage=url)
    assert resumed.trials[3].state is TrialState.WAITING
    resumed.optimize(cora, n_trials=2)
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3, 4]
    assert resumed.trials[3].arch == left.arch
    assert resumed.trials[3].state is TrialState.COMPLETE
    assert resumed.trials[3].seed == left.seed == derive_seed(3, 3)


def test_running_trials_of_live_or_remote_workers_are_left_alone(
    tmp_path: Path, cora: NasBenchGraph
) -> None:
    db = tmp_path / "live.db"
    url = f"sqlite:///{db}"
    study = metanas.create_study(name="live", storage=url, space=cora.space, seed=0)
    study.ask()  # RUNNING in this (live) process
    study.ask()
    _set_worker(db, 1, "another-host:1")  # a worker on another machine: cannot tell if alive
    again = metanas.load_study("live", storage=url)
    assert [t.state for t in again.trials] == [TrialState.RUNNING, TrialState.RUNNING]
    again.optimize(cora, n_trials=1)
    assert [t.number for t in again.trials] == [0, 1, 2]


def _set_worker(db: Path, number: int, worker: str) -> None:
    con = sqlite3.connect(str(db), timeout=30)
    with con:
        con.execute("UPDATE metanas_trials SET worker = ? WHERE number = ?", (worker, number))
    con.close()


class _CtrlC(Evaluator):
    """Raises KeyboardInterrupt (what Ctrl-C does) during its ``at``-th evaluation."""

    def __init__(self, inner: NasBenchGraph, at: int) -> None:
        self.inner, self.at, self.calls = inner, at, 0
        self.task_name = inner.task_name

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        self.calls += 1
        if self.calls - 1 == self.at:
            raise KeyboardInterrupt
        return self.inner.evaluate(arch)


def test_ctrl_c_requeues_the_running_trial_and_reraises(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(
        name="ctrl-c", storage=db_url, space=cora.space, seed=0, task=cora.name
    )
    told = []
    tell = study.strategy.tell
    study.strategy.tell = lambda obs: (told.append(obs.number), tell(obs))[1]  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_CtrlC(cora, at=2), n_trials=10)
    assert [(t.number, t.state, t.error) for t in study.trials] == [
        (0, TrialState.COMPLETE, None),
        (1, TrialState.COMPLETE, None),
        (2, TrialState.WAITING, None),
    ]
    # Not counted, not told: the strategy learnt nothing from the cut-off evaluation.
    assert study.n_finished == 2
    assert told == [0, 1]
    arch = study.trials[2].arch
    # Stored as such: a reload runs the interrupted trial first, with its number and seed.
    again = metanas.load_study("ctrl-c", storage=db_url)
    assert again.trials[2].state is TrialState.WAITING
    again.optimize(cora, n_trials=2)
    assert [(t.number, t.state) for t in again.trials] == [
        (0, TrialState.COMPLETE), (1, TrialState.COMPLETE), (2, TrialState.COMPLETE),
        (3, TrialState.COMPLETE),
    ]  # fmt: skip
    assert again.trials[2].arch == arch
    assert again.trials[2].seed == derive_seed(0, 2)


def _snapshot(study: metanas.Study) -> list[tuple[object, ...]]:
    return [(t.number, t.state, t.arch, t.value, t.seed, t.error) for t in study.trials]


@pytest.mark.parametrize("reopen", [True, False], ids=["load_study", "same-object"])
def test_interrupted_three_times_then_resumed_equals_uninterrupted(
    db_url: str, cora: NasBenchGraph, reopen: bool
) -> None:
    n, strategy = 40, dict(strategy="evolution", strategy_settings=SETTINGS)
    straight = metanas.create_study(
        name="straight", storage=db_url, space=cora.space, seed=5, task=cora.name, **strategy
    )
    straight.optimize(cora, n_trials=n)
    study = metanas.create_study(
        name="bumpy", storage=db_url, space=cora.space, seed=5, task=cora.name, **strategy
    )
    # Ctrl-C at the 4th, 13th and 1st evaluation of three runs: trial 3, then trial 15 twice.
    for at in (3, 12, 0):
        if reopen:
            study = metanas.load_study("bumpy", storage=db_url)
        with pytest.raises(KeyboardInterrupt):
            study.optimize(_CtrlC(cora, at=at), max_total_trials=n)
        waiting = [t for t in study.trials if t.state is TrialState.WAITING]
        assert len(waiting) == 1
        assert not [t for t in study.trials if t.state is TrialState.FAILED]
    assert study.n_finished == 15
    assert [t.number for t in study.trials if t.state is TrialState.WAITING] == [15]
    if reopen:
        study = metanas.load_study("bumpy", storage=db_url)
    study.optimize(cora, n_trials=n - study.n_finished)
    assert _snapshot(study) == _snapshot(straight)
    assert _snapshot(metanas.load_study("bumpy", storage=db_url)) == _snapshot(straight)


def test_system_exit_is_treated_like_ctrl_c(study_name: str, cora: NasBenchGraph) -> None:
    def leave(arch: Architecture) -> float:
        raise SystemExit(3)

    study = metanas.create_study(name=study_name, storage="sqlite://", space=cora.space)
    with pytest.raises(SystemExit):
        study.optimize(leave, n_trials=3)
    assert [(t.state, t.error) for t in study.trials] == [(TrialState.WAITING, None)]


# Runs NAS-Bench-Graph/cora (evaluations of 20 ms each) in $METANAS_STORAGE until the study
# holds $N_TRIALS trials; prints "ready" once, so the test knows the imports are done.
SIGINT_WORKER = textwrap.dedent(
    """
    import time
    import metanas
    from metanas.benchmarks import NasBenchGraph
    from metanas.evaluation import Evaluator

    bench = NasBenchGraph("cora")

    class Slow(Evaluator):
        task_name = bench.task_name

        def evaluate(self, arch, *, budget=None):
            time.sleep(0.02)
            return bench.evaluate(arch)

    study = metanas.create_study(
        name="sigint", space=bench.space, strategy="evolution", seed=0, task=bench.name,
        strategy_settings={"population_size": 10, "sample_size": 3}, load_if_exists=True,
    )
    study.optimize(Slow(), max_total_trials=%d)
    """
)


def _default_sigint() -> None:
    # A child inherits an ignored or blocked SIGINT from the process that starts it (the
    # pytest worker may have had one set by another test's library); Ctrl-C must reach it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_sigint_to_a_real_search_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    db = tmp_path / "sigint.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "METANAS_STORAGE": url}
    script = SIGINT_WORKER % N_TRIALS
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, preexec_fn=_default_sigint
    )
    try:
        _wait_for(db, lambda rows: sum(r[1] == "complete" for r in rows) >= 10)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert b"KeyboardInterrupt" in err, (proc.returncode, err.decode())
    at_stop = _trial_rows(db)
    states = [r[1] for r in at_stop]
    assert "failed" not in states, at_stop
    assert "running" not in states, at_stop
    assert 10 <= states.count("complete") < N_TRIALS
    # Re-running the same script finishes the study: the same trials as never interrupted.
    rerun = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    bench = NasBenchGraph("cora")
    straight = metanas.create_study(
        name="straight", storage=url, space=bench.space, strategy="evolution", seed=0,
        task=bench.name, strategy_settings=SETTINGS,
    )  # fmt: skip
    straight.optimize(bench, n_trials=N_TRIALS)
    resumed = metanas.load_study("sigint", storage=url)
    assert _snapshot(resumed) == _snapshot(straight)
