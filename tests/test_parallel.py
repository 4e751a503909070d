"""Study.optimize(n_jobs=...): a local process pool, reproducible whatever the timing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import metanas
from conftest import read_rows
from metanas import Architecture, Result, SearchSpace, TrialState
from metanas.evaluation import Evaluator

SPACE = SearchSpace({"a": list(range(6)), "b": list(range(6)), "c": ["x", "y", "z"]})


def slow_score(arch: Architecture) -> dict[str, float]:
    # Sleeps that differ by architecture make workers finish out of order.
    time.sleep(0.002 * ((arch["a"] * 7 + arch["b"]) % 5))
    if arch["c"] == "z" and arch["a"] == 5:
        raise RuntimeError("boom")
    return {"score": float(arch["a"] + 2 * arch["b"]) + (arch["c"] == "y")}


def _run(n_jobs: int, seed: int = 3) -> metanas.Study:
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="evolution", seed=seed, metric="score",
        strategy_settings={"population_size": 6, "sample_size": 3},
    )  # fmt: skip
    study.optimize(slow_score, n_trials=24, n_jobs=n_jobs)
    return study


@pytest.mark.slow
def test_parallel_study_is_reproducible_and_stores_every_trial() -> None:
    a, b = _run(2), _run(2)
    archs_a = [t.arch for t in a.trials]
    assert len(archs_a) == 24
    assert archs_a == [t.arch for t in b.trials]
    assert all(t.state.finished for t in a.trials)
    failed = [t.number for t in a.trials if t.state is metanas.TrialState.FAILED]
    # Exactly the architectures slow_score raises on failed, and there were some: a worker's
    # exception reached the study, was stored and the search went on.
    assert failed == [t.number for t in a.trials if t.arch["c"] == "z" and t.arch["a"] == 5]
    assert failed
    assert {a.trials[n].error for n in failed} == {"RuntimeError: boom"}
    assert [t.number for t in a.trials] == list(range(24))
    # Resuming replays the tells in trial order: the same strategy state.
    again = metanas.load_study(a.name, storage=a.storage)
    assert [t.arch for t in again.trials] == archs_a
    assert again.ask().arch == b.ask().arch


def long_first(arch: Architecture) -> dict[str, float]:
    # The enqueued first architecture trains long, every other one briefly.
    time.sleep(2.5 if (arch["a"], arch["b"], arch["c"]) == (0, 0, "x") else 0.02)
    return {"score": float(arch["a"] + arch["b"])}


def _long_first(tell_order: str) -> tuple[metanas.Study, list[int]]:
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", strategy="random", seed=0, metric="score"
    )
    study.enqueue({"a": 0, "b": 0, "c": "x"})
    told: list[int] = []
    study.optimize(
        long_first, n_trials=8, n_jobs=2, tell_order=tell_order,  # type: ignore[arg-type]
        callbacks=[lambda _s, t: told.append(t.number)],
    )  # fmt: skip
    return study, told


@pytest.mark.slow
def test_tell_order_finish_keeps_every_worker_busy(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import metanas.study as study_module

    # The hint is for long runs; here the idle second worker's share is about a fifth.
    monkeypatch.setattr(study_module, "_IDLE_HINT_MIN_S", 0.0)
    monkeypatch.setattr(study_module, "_IDLE_HINT_SHARE", 0.1)
    with caplog.at_level("WARNING", logger="metanas.study"):
        ordered, told_ordered = _long_first("trial")
    assert "workers sat idle for" in caplog.text
    assert "tell_order='finish'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="metanas.study"):
        free, told_free = _long_first("finish")
    assert "sat idle" not in caplog.text
    assert told_ordered == list(range(8))
    # In trial order, trial 2 may start only once trial 0 (the long one) was told: the second
    # worker ran trial 1, then sat idle.
    t = {tr.number: tr for tr in ordered.trials}
    assert t[2].started_at is not None
    assert t[0].finished_at is not None
    assert t[2].started_at >= t[0].finished_at
    # Told as they finish, the second worker ran the 7 short trials while trial 0 trained,
    # and the strategy heard of trial 0 last.
    t = {tr.number: tr for tr in free.trials}
    assert told_free[-1] == 0
    assert sorted(told_free) == list(range(8))
    assert all(t[n].finished_at < t[0].finished_at for n in range(1, 8))  # type: ignore[operator]
    assert all(tr.state is TrialState.COMPLETE for tr in free.trials)


def test_bad_tell_order_names_both_choices() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    with pytest.raises(ValueError, match=r"tell_order must be 'trial'.*or 'finish'"):
        study.optimize(slow_score, n_trials=1, tell_order="random")  # type: ignore[arg-type]


def test_parallel_rejects_unpicklable_evaluator() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    with pytest.raises(TypeError, match="cannot be pickled"):
        study.optimize(lambda arch: 1.0, n_trials=2, n_jobs=2)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_n_jobs(bad: object) -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=0, metric="score")
    with pytest.raises(ValueError, match="n_jobs must be"):
        study.optimize(slow_score, n_trials=2, n_jobs=bad)  # type: ignore[arg-type]


# The README's n_jobs example, shrunk: a module-level evaluator, then the search.
SCRIPT = """\
import sqlite3
import metanas

space = metanas.SearchSpace({"a": list(range(6)), "b": list(range(6))})


def score(arch):
    return {"score": float(arch["a"] + arch["b"])}

"""
SEARCH = """\
study = metanas.create_study(space=space, seed=0, metric="score", storage=URL)
study.optimize(score, n_trials=6, n_jobs=2)
print("trials", len(study.trials))
"""


def _run_script(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], float]:
    db = tmp_path / "runs.db"
    script = tmp_path / "search.py"
    script.write_text(SCRIPT + f"URL = 'sqlite:///{db}'\n" + body)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False,
        cwd=tmp_path,
    )  # fmt: skip
    return proc, time.monotonic() - start


@pytest.mark.slow
def test_n_jobs_in_a_guarded_script_runs(tmp_path: Path) -> None:
    body = 'if __name__ == "__main__":\n' + textwrap.indent(SEARCH, "    ")
    proc, _ = _run_script(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "trials 6"
    rows = read_rows(tmp_path / "runs.db", "SELECT name FROM metanas_studies")
    assert len(rows) == 1


@pytest.mark.slow
def test_a_guarded_script_edited_while_it_runs_is_judged_by_the_text_it_started_with(
    tmp_path: Path,
) -> None:
    # A long benchmark's script is often edited while it runs: 30 lines added at its top
    # moved the guard's body below the running call's line, and the next optimize() call
    # raised a false MainGuardError.
    search = SEARCH.replace("n_trials=6", "n_trials=3") + (
        "text = open(__file__).read()\n"
        "open(__file__, 'w').write('# edited\\n' * 30 + text)\n"
        "study.optimize(score, n_trials=3, n_jobs=2)\n"
        "print('trials', len(study.trials))\n"
    )
    body = 'if __name__ == "__main__":\n' + textwrap.indent(search, "    ")
    proc, _ = _run_script(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["trials", "3", "trials", "6"]
    assert (tmp_path / "search.py").read_text().startswith("# edited\n" * 30)


@pytest.mark.slow
@pytest.mark.parametrize("wrap", ["top", "function"])
def test_n_jobs_in_an_unguarded_script_fails_at_once_naming_the_fix(
    tmp_path: Path, wrap: str
) -> None:
    # Unguarded: at the top level, or in a function the top level calls.
    body = (
        SEARCH if wrap == "top" else "def main():\n" + textwrap.indent(SEARCH, "    ") + "main()\n"
    )
    proc, took_s = _run_script(tmp_path, body)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    # The line named is the top-level statement that led to the search.
    text = (tmp_path / "search.py").read_text().splitlines()
    line = 1 + text.index(
        "study.optimize(score, n_trials=6, n_jobs=2)" if wrap == "top" else "main()"
    )
    assert last == (
        "metanas.execution.local.MainGuardError: n_jobs=2 starts worker processes that re-run "
        f"search.py from the top, and its line {line} starts the search outside "
        '`if __name__ == "__main__":`: put the code that runs the search under that guard, or '
        "use n_jobs=1."
    )
    assert took_s < 30  # no worker was started (the hang was killed after 120 s)
    # Nothing half-created: the study this run made was removed, and no worker made another.
    assert read_rows(tmp_path / "runs.db", "SELECT name FROM metanas_studies") == []
    assert read_rows(tmp_path / "runs.db", "SELECT number FROM metanas_trials") == []


class Interrupting(Evaluator):
    """Scores like slow_score; the first evaluation of an ``a == 4`` architecture (across all
    worker processes: the marker file is removed once) raises KeyboardInterrupt."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        time.sleep(0.01)
        if arch["a"] == 4:
            try:
                os.remove(self.marker)
            except FileNotFoundError:
                pass
            else:
                raise KeyboardInterrupt
        return Result(metrics={"score": float(arch["a"] + 2 * arch["b"])})


@pytest.mark.slow
def test_ctrl_c_on_the_local_pool_requeues_the_trials_in_flight(tmp_path: Path) -> None:
    marker = tmp_path / "interrupt-once"
    marker.touch()
    study = metanas.create_study(
        space=SPACE, storage=f"sqlite:///{tmp_path / 'pool.db'}", seed=1, metric="score"
    )
    with pytest.raises(KeyboardInterrupt):
        study.optimize(Interrupting(str(marker)), n_trials=30, n_jobs=2)
    states = [t.state for t in study.trials]
    assert TrialState.FAILED not in states
    assert TrialState.RUNNING not in states
    waiting = [t for t in study.trials if t.state is TrialState.WAITING]
    assert 1 <= len(waiting) <= 2
    assert any(t.arch["a"] == 4 for t in waiting)
    held = {t.number: t.arch for t in waiting}
    # Re-running goes on: the waiting trials run first, with their numbers and architectures.
    again = metanas.load_study(study.name, storage=study.storage)
    again.optimize(Interrupting(str(marker)), max_total_trials=30, n_jobs=2)
    assert [t.number for t in again.trials] == list(range(30))
    assert all(t.state is TrialState.COMPLETE for t in again.trials)
    assert {n: again.trials[n].arch for n in held} == held


# One worker process sharing $URL's study "shared"; each evaluates on a pool of two.
SHARED_WORKER = """\
import sys, time
import metanas

space = metanas.SearchSpace({"a": list(range(6)), "b": list(range(6)), "c": ["x", "y", "z"]})


def score(arch):
    time.sleep(0.002)
    return {"score": float(arch["a"] + arch["b"])}


if __name__ == "__main__":
    study = metanas.create_study(
        name="shared", space=space, seed=0, metric="score", storage=sys.argv[1],
        load_if_exists=True,
    )
    study.optimize(score, max_total_trials=int(sys.argv[2]), n_jobs=2)
"""


@pytest.mark.slow
def test_several_pool_workers_stop_at_the_study_total_exactly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    metanas.create_study(name="shared", space=SPACE, seed=0, metric="score", storage=url)
    script = tmp_path / "worker.py"
    script.write_text(SHARED_WORKER)
    procs = [
        subprocess.Popen([sys.executable, str(script), url, "90"], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    numbers = [
        int(r[0]) for r in read_rows(tmp_path / "shared.db", "SELECT number FROM metanas_trials")
    ]
    assert sorted(numbers) == list(range(90))
    states = read_rows(tmp_path / "shared.db", "SELECT DISTINCT state FROM metanas_trials")
    assert states == [("complete",)]


@pytest.mark.slow
def test_four_cli_workers_share_n_trials_as_the_study_total(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    cmd = [
        sys.executable, "-c", "from metanas.cli import main; main()", "search",
        "--benchmark", "nas-bench-graph", "--dataset", "cora", "--n-trials", "400",
        "--storage", f"sqlite:///{db}", "--study", "shared",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(4)
    ]
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    numbers = [int(r[0]) for r in read_rows(db, "SELECT number FROM metanas_trials")]
    assert sorted(numbers) == list(range(400))
    assert read_rows(db, "SELECT DISTINCT state FROM metanas_trials") == [("complete",)]


def _default_sigint() -> None:
    # A child inherits an ignored or blocked SIGINT from the process that starts it (the
    # pytest worker may have had one set by another test's library); Ctrl-C must reach it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_sigint_to_a_pool_search_requeues_then_a_rerun_finishes(tmp_path: Path) -> None:
    db = tmp_path / "pool.db"
    url = f"sqlite:///{db}"
    metanas.create_study(name="shared", space=SPACE, seed=0, metric="score", storage=url)
    script = tmp_path / "worker.py"
    script.write_text(SHARED_WORKER.replace("time.sleep(0.002)", "time.sleep(0.3)"))
    # Ctrl-C in a terminal signals the whole process group: the study and its workers.
    proc = subprocess.Popen(
        [sys.executable, str(script), url, "30"],
        start_new_session=True,
        stderr=subprocess.PIPE,
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            rows = read_rows(db, "SELECT state FROM metanas_trials") if db.exists() else []
            if sum(r == ("complete",) for r in rows) >= 4:
                break
        os.killpg(proc.pid, signal.SIGINT)
        start = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took_s = time.monotonic() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert b"KeyboardInterrupt" in err, (proc.returncode, err.decode())
    assert took_s < 10  # the running evaluations were stopped, not waited for
    states = [r[0] for r in read_rows(db, "SELECT state FROM metanas_trials")]
    assert "failed" not in states
    assert "running" not in states
    assert 1 <= states.count("waiting") <= 2
    rerun = subprocess.run(
        [sys.executable, str(script), url, "30"], capture_output=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    rows = read_rows(db, "SELECT number, state FROM metanas_trials ORDER BY number")
    assert rows == [(n, "complete") for n in range(30)]
