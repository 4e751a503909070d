"""The Ray executor on a local Ray cluster (2 CPUs), started once for this module.

Skipped, with the reason, when Ray is not installed (``pip install "metanas[ray]"``); the
checks that need no cluster (arguments, the missing-Ray error) run either way.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import metanas
from metanas import Architecture, FunctionEvaluator, Result, TrialState
from metanas.cli import app
from metanas.evaluation import Evaluator
from metanas.execution import RayExecutor, create_executor

SPACE = metanas.SearchSpace({"a": list(range(8)), "hang": [False, True]})


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster with 2 CPUs; the executors below find Ray initialised and use it."""
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "metanas[ray]"')
    # The evaluators are this module's functions: workers cannot import a test module, so
    # they travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
        logging_level=logging.WARNING,
    )  # fmt: skip
    yield ray
    ray.shutdown()


def score(arch: Architecture) -> dict[str, float]:
    if arch["hang"]:
        time.sleep(60)
    start = time.time()
    time.sleep(0.3)
    return {
        "score": float(arch["a"]),
        "pid": float(os.getpid()),
        "start": start,
        "end": time.time(),
    }


def meeting(folder: Path) -> Any:
    """An evaluation that marks itself running and waits (up to 30 s) to see another running.

    Timing alone cannot show two trials side by side: a fresh Ray cluster starts its second
    worker process lazily, and a short evaluation can finish before that worker is up.
    """

    def evaluate(arch: Architecture) -> dict[str, float]:
        (folder / f"running-{arch['a']}").touch()
        deadline = time.monotonic() + 30
        met = False
        while time.monotonic() < deadline and not met:
            met = any(p.name != f"running-{arch['a']}" for p in folder.glob("running-*"))
            time.sleep(0.02)
        (folder / f"running-{arch['a']}").unlink()
        return {"score": float(arch["a"]), "pid": float(os.getpid()), "met": float(met)}

    return evaluate


def _overlapping(trials: list[Any]) -> int:
    """Pairs of trials whose evaluations ran at the same time."""
    spans = [(r.metrics["start"], r.metrics["end"]) for r in trials]
    return sum(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])


class Resumable(Evaluator):
    supports_resume = True

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        return Result(metrics={"budget": float(budget or 0), "from": float(resume_from or -1)})


class Failing(Evaluator):
    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        raise ValueError(f"a={arch['a']} cannot be trained")


def test_optimize_runs_trials_on_ray_two_at_a_time(
    ray_cluster: Any, study_name: str, tmp_path: Path
) -> None:
    study = metanas.create_study(name=study_name, space=SPACE, storage="sqlite://", metric="score")
    for a in range(4):
        study.enqueue({"a": a, "hang": False})
    study.optimize(meeting(tmp_path), n_trials=4, n_jobs=2, executor="ray")
    trials = study.trials
    assert [(t.number, t.state, t.metrics["score"]) for t in trials] == [
        (n, TrialState.COMPLETE, float(n)) for n in range(4)
    ]
    assert all(t.metrics["pid"] != os.getpid() for t in trials)  # on Ray's workers
    # The first two trials are submitted together, so each meets the other; a serial run
    # would leave the first one waiting out its 30 s alone.
    assert trials[0].metrics["met"] == trials[1].metrics["met"] == 1.0
    assert ray_cluster.is_initialized()  # not started by the executor: left running


def test_a_trial_past_its_timeout_fails_and_the_others_go_on(
    ray_cluster: Any, study_name: str
) -> None:
    study = metanas.create_study(name=study_name, space=SPACE, storage="sqlite://", metric="score")
    for hang in (True, False, False):
        study.enqueue({"a": 1, "hang": hang})
    start = time.monotonic()
    study.optimize(score, n_trials=3, n_jobs=2, executor="ray", trial_timeout_s=2.0)
    assert time.monotonic() - start < 30
    states = [(t.state, t.error) for t in study.trials]
    assert states[0][0] is TrialState.FAILED
    assert "TimeoutError" in str(states[0][1])
    assert "timed out after 2 s" in str(states[0][1])
    assert [s for s, _ in states[1:]] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_cancel_at_the_deadline_cancels_the_ray_task_and_requeues_its_trial(
    ray_cluster: Any, study_name: str
) -> None:
    study = metanas.create_study(name=study_name, space=SPACE, storage="sqlite://", metric="score")
    study.enqueue({"a": 2, "hang": True})
    start = time.monotonic()
    study.optimize(score, n_trials=1, executor="ray", timeout_s=1.0, in_flight="cancel")
    assert time.monotonic() - start < 10  # not the 60 s the evaluation sleeps
    assert [t.state for t in study.trials] == [TrialState.WAITING]
    # The task was cancelled, not left sleeping: Ray has its CPU back.
    deadline = time.monotonic() + 10
    while ray_cluster.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray_cluster.available_resources().get("CPU", 0) == 2


def test_an_evaluator_error_fails_its_trial_with_the_error_itself(ray_cluster: Any) -> None:
    with RayExecutor(Failing(), n_workers=2) as ex:
        future = ex.submit(SPACE.validate({"a": 3, "hang": False}), budget=None)
        error = future.exception(timeout=30)
    assert type(error) is ValueError  # not Ray's wrapper with its traceback text
    assert str(error) == "a=3 cannot be trained"


def test_budget_and_resume_from_reach_the_evaluator(ray_cluster: Any) -> None:
    arch = SPACE.validate({"a": 0, "hang": False})
    with create_executor("ray", Resumable(), n_workers=2) as ex:
        fresh = ex.submit(arch, budget=3).result(timeout=30)
        resumed = ex.submit(arch, budget=9, resume_from=3).result(timeout=30)
    assert fresh.metrics == {"budget": 3.0, "from": -1.0}  # no resume_from keyword passed
    assert resumed.metrics == {"budget": 9.0, "from": 3.0}


def test_each_trial_reserves_its_cpus(ray_cluster: Any) -> None:
    # Two CPUs per trial on a 2-CPU cluster: the second trial waits for the first.
    with RayExecutor(FunctionEvaluator(score, metric="score"), n_workers=2,
                     num_cpus_per_trial=2) as ex:  # fmt: skip
        futures = [ex.submit(SPACE.validate({"a": a, "hang": False}), None) for a in (1, 2)]
        results = [f.result(timeout=30) for f in futures]
    assert _overlapping(results) == 0


def nap(arch: Architecture) -> dict[str, float]:
    """Sleeps ``a / 10`` seconds; says when."""
    start = time.time()
    time.sleep(arch["a"] / 10)
    return {"score": float(arch["a"]), "start": start, "end": time.time()}


def test_submissions_queued_ahead_wait_for_a_worker_and_can_be_withdrawn(
    ray_cluster: Any,
) -> None:
    # One worker on a 2-CPU cluster: Ray alone would run two at once, so the executor holds
    # the submissions beyond its worker itself, their futures pending (cancellable).
    with RayExecutor(FunctionEvaluator(nap, metric="score"), n_workers=1, queue_ahead=2) as ex:
        futures = [ex.submit(SPACE.validate({"a": 3, "hang": False}), None) for _ in range(3)]
        assert not futures[1].running()
        assert not futures[2].running()
        assert futures[2].cancel()
        results = [f.result(timeout=30) for f in futures[:2]]
    assert _overlapping(results) == 0
    assert futures[2].cancelled()


@pytest.mark.slow
def test_a_trial_queued_on_ray_behind_the_executors_own_starts_its_clock_when_one_ends(
    ray_cluster: Any,
) -> None:
    # Two CPUs per trial: the cluster runs one at a time, so the second goes to Ray at once
    # and waits there behind the first. Its 1.2 s clock starts when the first ends: 0.7 s
    # each, so a clock started at submission would have run out.
    with RayExecutor(FunctionEvaluator(nap, metric="score"), n_workers=1, queue_ahead=1,
                     num_cpus_per_trial=2, trial_timeout_s=1.2) as ex:  # fmt: skip
        futures = [ex.submit(SPACE.validate({"a": 7, "hang": False}), None) for _ in range(2)]
        results = [f.result(timeout=30) for f in futures]
    assert _overlapping(results) == 0
    assert results[1].metrics["end"] - results[0].metrics["start"] > 1.2


def test_search_cli_runs_on_ray(ray_cluster: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(
        app,
        ["search", "--dataset", "cora", "--n-trials", "6", "--storage", url, "--study", "r",
         "--executor", "ray", "--n-jobs", "2", "--quiet", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = metanas.load_study("r", storage=url).trials
    assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(6)]


def test_address_needs_the_ray_executor(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["search", "--dataset", "cora", "--n-trials", "1", "--storage",
         f"sqlite:///{tmp_path / 'r.db'}", "--address", "auto"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "--address auto names a Ray cluster: add --executor ray" in result.output


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_cpus_per_trial": -1}, r"num_cpus_per_trial must be a number >= 0; got -1"),
        ({"num_gpus_per_trial": "1"}, r"num_gpus_per_trial must be a number >= 0; got '1'"),
        ({"trial_timeout_s": 0}, r"trial_timeout_s must be a number of seconds > 0.*got 0"),
        ({"max_retries": 1.5}, r"max_retries must be an int >= 0; got 1.5"),
        ({"address": ""}, r"address must be 'auto', a Ray address .* got ''"),
    ],
)
def test_settings_are_checked_before_ray_starts(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RayExecutor(FunctionEvaluator(score, metric="score"), **kwargs)


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(
        ImportError, match=r'needs Ray; install it with pip install "metanas\[ray\]"'
    ):
        RayExecutor(FunctionEvaluator(score, metric="score"))
