"""Studies: the loop, failures, objectives, queues, stopping, reporting."""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any

import pytest

import metanas
from metanas import Architecture, Result, Study, Trial, TrialState
from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Evaluator
from metanas.spaces import NasBenchGraphSpace, SearchSpace
from metanas.strategies import Observation
from metanas.study import parse_objectives


def _create(name: str, space: SearchSpace | None = None, **kwargs: Any) -> Study:
    kwargs.setdefault("storage", "sqlite://")
    kwargs.setdefault("seed", 0)
    return metanas.create_study(name=name, space=space or NasBenchGraphSpace(), **kwargs)


# ==================================================================== the API contract


def test_the_api_contract(db_url: str, cora: NasBenchGraph) -> None:
    study = metanas.create_study(
        name="cora-rea", storage=db_url, space=cora.space, strategy="evolution", seed=0,
        metric="valid_accuracy", direction="maximize", task="nas-bench-graph/cora",
    )  # fmt: skip
    best = study.optimize(cora, n_trials=30)
    assert best == study.best_trial
    assert len(study.trials) == 30
    assert study.best_trial.metrics["valid_accuracy"] == max(t.value for t in study.trials)  # type: ignore[type-var]
    assert cora.space.is_valid(study.best_trial.arch)
    study = metanas.load_study("cora-rea", storage=db_url)
    study.optimize(cora, n_trials=5)
    assert [t.number for t in study.trials] == list(range(35))


def test_values_are_the_table_values(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space)
    start = time.monotonic()
    study.optimize(cora, n_trials=10)
    elapsed = time.monotonic() - start
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        assert t.value == cora.query(t.arch, "valid_accuracy")
        assert t.values == (t.value,)
        assert t.test_metrics == {"test_accuracy": cora.query(t.arch, "test_accuracy")}
        assert "test_accuracy" not in t.metrics
        assert t.seed == derive_seed(study.seed, t.number)
        assert t.error is None
        assert t.duration_s is not None
        # Stored timestamps span the evaluation and the commit: some time, within the call.
        assert 0 < t.duration_s <= elapsed


def test_unseeded_study_stores_its_seed(db_url: str) -> None:
    study = metanas.create_study(name="anon", storage=db_url, space=NasBenchGraphSpace())
    assert isinstance(study.seed, int)
    assert 0 <= study.seed < 2**32
    assert metanas.load_study("anon", storage=db_url).seed == study.seed


def test_generated_names_are_unique() -> None:
    a = metanas.create_study(storage="sqlite://", space=NasBenchGraphSpace())
    b = metanas.create_study(storage="sqlite://", space=NasBenchGraphSpace())
    assert a.name.startswith("study-")
    assert a.name != b.name


# ==================================================================== function evaluators


def test_function_evaluator_with_metric_value(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric="value")
    best = study.optimize(lambda a: 0.5, n_trials=4)
    assert [t.value for t in study.trials] == [0.5] * 4
    assert study.trials[0].metrics == {"value": 0.5}
    assert best is not None
    assert best.number == 0  # ties: the earliest trial wins


def test_function_returning_a_dict_or_result(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric="acc")
    study.optimize(lambda a: {"acc": a["depth"] / 10, "size": 3}, n_trials=3)
    assert all(t.value == t.arch["depth"] / 10 for t in study.trials)
    assert study.trials[0].metrics["size"] == 3.0
    study.optimize(lambda a: Result(metrics={"acc": 0.9}, test_metrics={"t": 1.0}), n_trials=1)
    assert study.trials[-1].test_metrics == {"t": 1.0}


def test_function_returning_a_bad_type_fails_the_trial(
    study_name: str, small_space: SearchSpace
) -> None:
    study = _create(study_name, small_space, metric="value")
    study.optimize(lambda a: "high", n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAILED] * 2
    assert study.trials[0].error == (
        "TypeError: The objective function returned str 'high'; return a float, "
        "a dict of metrics or a metanas.Result."
    )


def test_function_evaluator_does_not_warn_about_the_task(
    study_name: str, small_space: SearchSpace
) -> None:
    study = _create(study_name, small_space, metric="value", task="my-task")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study.optimize(lambda a: 0.5, n_trials=1)
    assert study.task == "my-task"


def test_optimize_needs_an_evaluator(study_name: str) -> None:
    study = _create(study_name)
    with pytest.raises(TypeError, match=r"optimize\(\) needs an Evaluator .*; got int"):
        study.optimize(3, n_trials=1)  # type: ignore[arg-type]


# ==================================================================== failures


class _Raising(Evaluator):
    def __init__(self, inner: Evaluator, bad: set[int]) -> None:
        self.inner, self.bad, self.calls = inner, bad, 0
        self.task_name = getattr(inner, "task_name", None)

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        self.calls += 1
        if self.calls - 1 in self.bad:
            raise RuntimeError(f"CUDA out of memory on call {self.calls - 1}")
        return self.inner.evaluate(arch)


def test_evaluator_that_raises_fails_the_trial_and_the_study_goes_on(
    cora: NasBenchGraph, study_name: str
) -> None:
    study = _create(study_name, cora.space, task=cora.name)
    study.optimize(_Raising(cora, {1, 3}), n_trials=6)
    assert [t.state.value for t in study.trials] == [
        "complete", "failed", "complete", "failed", "complete", "complete",
    ]  # fmt: skip
    assert study.trials[1].error == "RuntimeError: CUDA out of memory on call 1"
    assert study.trials[1].value is None
    assert study.n_finished == 6
    assert len(study.completed_trials) == 4


def test_catch_nothing_reraises_and_fails_the_trial(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space, task=cora.name)
    with pytest.raises(RuntimeError, match="CUDA out of memory on call 0"):
        study.optimize(_Raising(cora, {0}), n_trials=3, catch=())
    assert [(t.state, t.error) for t in study.trials] == [(TrialState.FAILED, "interrupted")]


def test_evaluator_reporting_failure(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric="value")
    study.optimize(lambda a: Result.failed("diverged", cost_s=2.0), n_trials=2)
    assert [(t.state, t.error, t.cost_s) for t in study.trials] == [
        (TrialState.FAILED, "diverged", 2.0)
    ] * 2


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_objective_fails_the_trial(
    bad: float, study_name: str, small_space: SearchSpace
) -> None:
    study = _create(study_name, small_space, metric="value")
    study.optimize(lambda a: bad, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAILED] * 2
    assert study.trials[0].error == f"objective 'value' is {bad!r} (not a finite number)"
    with pytest.raises(ValueError, match=r"has no completed trial yet; run study\.optimize"):
        study.best_trial  # noqa: B018


def test_missing_objective_is_a_clear_error(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric="valid_accuracy")
    with pytest.raises(
        ValueError,
        match=r"the evaluator returned metrics \['acc', 'loss'\], without the objective "
        r"\['valid_accuracy'\]\. Create the study with metric=<one of \['acc', 'loss'\]> "
        r"or make the evaluator return 'valid_accuracy'\.",
    ):
        study.optimize(lambda a: {"acc": 0.9, "loss": 0.1}, n_trials=5)
    # The trial is stored as FAILED, and the study stopped at once.
    assert [t.state for t in study.trials] == [TrialState.FAILED]
    assert "without the objective" in (study.trials[0].error or "")


def test_test_metric_as_objective_is_rejected(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space, metric="test_accuracy", task=cora.name)
    with pytest.raises(
        ValueError,
        match=r"objective metric\(s\) \['test_accuracy'\] are test metrics, reserved for "
        r"reporting; search on a validation metric such as \['latency', 'params', "
        r"'valid_accuracy'\]\. Create the study with metric=<one of \['latency', 'params', "
        r"'valid_accuracy'\]>\.$",
    ):
        study.optimize(cora, n_trials=3)
    assert len(study.trials) == 1
    assert study.trials[0].state is TrialState.FAILED


# ==================================================================== queue, stop, timeout


def test_enqueued_architectures_are_evaluated_first(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space, task=cora.name)
    first = study.enqueue("0123|gcn,gin,fc,cheb")
    second = study.enqueue({"link": "0000", "op1": "gat", "op2": "gat", "op3": "gat", "op4": "gat"})
    assert (first.number, first.state, second.number) == (0, TrialState.WAITING, 1)
    study.optimize(cora, n_trials=4)
    formats = [cora.space.format(t.arch) for t in study.trials]
    assert formats[:2] == ["0123|gcn,gin,fc,cheb", "0000|gat,gat,gat,gat"]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert study.trials[0].seed == derive_seed(study.seed, 0)


def test_enqueue_validates(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space)
    with pytest.raises(metanas.InvalidArchitectureError, match=r"Did you mean 'gcn'\?"):
        study.enqueue("0123|gcm,gin,fc,cheb")
    with pytest.raises(metanas.InvalidArchitectureError, match=r"not_all_skip"):
        study.enqueue("0123|skip,skip,skip,skip")
    assert study.trials == []


def test_enqueued_trials_survive_a_reload(cora: NasBenchGraph, db_url: str) -> None:
    study = _create("queued", cora.space, storage=db_url, task=cora.name)
    study.enqueue("0123|gcn,gin,fc,cheb")
    again = metanas.load_study("queued", storage=db_url)
    again.optimize(cora, n_trials=1)
    assert cora.space.format(again.trials[0].arch) == "0123|gcn,gin,fc,cheb"
    assert again.trials[0].state is TrialState.COMPLETE


def test_timeout_stops_the_study(study_name: str, small_space: SearchSpace) -> None:
    def slow(arch: Architecture) -> float:
        time.sleep(0.05)
        return 1.0

    study = _create(study_name, small_space, metric="value")
    start = time.monotonic()
    study.optimize(slow, timeout_s=0.3)
    elapsed = time.monotonic() - start
    # No trial starts after the timeout: at most 0.3 / 0.05 + 1 trials, and a prompt return.
    assert 1 <= len(study.trials) <= 7
    assert 0.3 <= elapsed < 1.0
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_n_trials_and_timeout_together(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric="value")
    study.optimize(lambda a: 1.0, n_trials=3, timeout_s=60)
    assert len(study.trials) == 3


def test_timeout_is_a_deprecated_alias_of_timeout_s(
    study_name: str, small_space: SearchSpace
) -> None:
    def slow(arch: Architecture) -> float:
        time.sleep(0.02)
        return 1.0

    study = _create(study_name, small_space, metric="value")
    start = time.monotonic()
    with pytest.warns(
        FutureWarning, match=r"optimize\(timeout=\.\.\.\) is deprecated; pass timeout_s"
    ):
        study.optimize(slow, timeout=0.1)
    # The alias is the time limit: trials ran, and none started after it.
    assert 1 <= len(study.trials) <= 6
    assert 0.1 <= time.monotonic() - start < 1.0
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=r"time limit is given twice: timeout_s=1 and"),
    ):
        study.optimize(slow, timeout_s=1, timeout=1)


def test_callbacks_see_each_finished_trial_and_can_stop(
    cora: NasBenchGraph, study_name: str
) -> None:
    seen: list[tuple[int, TrialState]] = []

    def stop_after_three(study: Study, trial: Trial) -> None:
        seen.append((trial.number, trial.state))
        if len(study.trials) == 3:
            study.stop()

    study = _create(study_name, cora.space, task=cora.name)
    study.optimize(cora, n_trials=50, callbacks=[stop_after_three, lambda s, t: None])
    assert seen == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE), (2, TrialState.COMPLETE)]
    assert len(study.trials) == 3
    # stop() only ends that call: the next optimize runs.
    study.optimize(cora, n_trials=2)
    assert len(study.trials) == 5


def test_n_trials_zero_runs_nothing(study_name: str) -> None:
    study = _create(study_name)
    assert study.optimize(lambda a: 1.0, n_trials=0) is None
    assert study.trials == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"optimize\(\) needs n_trials or timeout_s; got neither"),
        ({"n_trials": -1}, r"n_trials must be an int >= 0; got -1"),
        ({"n_trials": 2.5}, r"n_trials must be an int >= 0; got 2\.5"),
        ({"n_trials": True}, r"n_trials must be an int >= 0; got True"),
        ({"timeout_s": 0}, r"timeout_s must be a number of seconds > 0; got 0"),
        ({"timeout_s": "1"}, r"timeout_s must be a number of seconds > 0; got '1'"),
        ({"timeout_s": True}, r"timeout_s must be a number of seconds > 0; got True"),
    ],
)
def test_optimize_argument_errors(kwargs: dict[str, Any], match: str, study_name: str) -> None:
    study = _create(study_name)
    with pytest.raises(ValueError, match=match):
        study.optimize(lambda a: 1.0, **kwargs)


# ==================================================================== best trial(s)


def test_best_trial_needs_a_completed_trial(study_name: str) -> None:
    study = _create(study_name)
    with pytest.raises(ValueError, match=r"has no completed trial yet; run study\.optimize"):
        study.best_trial  # noqa: B018
    assert study.best_trials == []


def test_best_trial_is_the_earliest_of_ties(study_name: str, small_space: SearchSpace) -> None:
    values = iter([0.1, 0.7, 0.3, 0.7, 0.2])
    study = _create(study_name, small_space, metric="value")
    study.optimize(lambda a: next(values), n_trials=5)
    assert study.best_trial.number == 1
    assert [t.number for t in study.best_trials] == [1, 3]


def test_minimize_direction(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(
        study_name, cora.space, metric="latency", direction="minimize", strategy="evolution",
        task=cora.name, strategy_settings={"population_size": 5, "sample_size": 2},
    )  # fmt: skip
    told: list[Observation] = []
    tell = study.strategy.tell
    study.strategy.tell = lambda obs: (told.append(obs), tell(obs))[1]  # type: ignore[method-assign]
    best = study.optimize(cora, n_trials=15)
    assert best is not None
    assert best.value == min(t.value for t in study.trials)  # type: ignore[type-var]
    assert study.direction == "minimize"
    # Strategies always maximise: the study flips the sign of a minimised metric.
    assert [o.score for o in told] == [-(t.value or 0) for t in study.trials]


def test_strategies_never_see_test_metrics(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space, task=cora.name)
    told: list[Observation] = []
    tell = study.strategy.tell
    study.strategy.tell = lambda obs: (told.append(obs), tell(obs))[1]  # type: ignore[method-assign]
    study.optimize(cora, n_trials=5)
    assert len(told) == 5
    for obs, trial in zip(told, study.trials, strict=True):
        assert set(obs.metrics) == {"valid_accuracy", "latency", "params"}
        assert obs.score == trial.value
        assert obs.number == trial.number
        assert obs.arch == trial.arch


def _pareto_brute_force(points: dict[int, tuple[float, float]]) -> set[int]:
    """Numbers of the points no other point dominates (maximise both coordinates)."""
    front = set()
    for i, p in points.items():
        if not any(
            q[0] >= p[0] and q[1] >= p[1] and (q[0] > p[0] or q[1] > p[1])
            for j, q in points.items()
            if j != i
        ):
            front.add(i)
    return front


def test_multi_objective_best_trials_is_the_pareto_front(
    cora: NasBenchGraph, study_name: str
) -> None:
    study = _create(study_name, cora.space, metric="valid_accuracy:max,latency:min", task=cora.name)
    assert study.objectives == (("valid_accuracy", "maximize"), ("latency", "minimize"))
    assert study.optimize(cora, n_trials=80) is None
    points = {t.number: (t.values[0], -t.values[1]) for t in study.trials}  # type: ignore[index]
    expected = _pareto_brute_force(points)
    front = study.best_trials
    assert {t.number for t in front} == expected
    assert len(expected) >= 2  # accuracy and latency conflict on this table
    assert [t.number for t in front] == sorted(expected)
    with pytest.raises(ValueError, match=r"has 2 objectives: there is no single best trial"):
        study.best_trial  # noqa: B018


def test_multi_objective_with_lists(study_name: str, small_space: SearchSpace) -> None:
    study = _create(study_name, small_space, metric=["a", "b"], direction=["maximize", "minimize"])
    study.optimize(lambda arch: {"a": arch["depth"], "b": arch["depth"]}, n_trials=10)
    # Maximising a and minimising b = a: every trial trades one for the other, none dominates.
    assert [t.number for t in study.best_trials] == list(range(10))
    assert study.trials[3].values == (study.trials[3].arch["depth"],) * 2
    df = study.trials_dataframe()
    assert {"values_0", "values_1"} <= set(df.columns)
    assert "value" not in df.columns


@pytest.mark.parametrize(
    ("metric", "direction", "expected"),
    [
        ("acc", "maximize", (("acc", "maximize"),)),
        ("acc", "min", (("acc", "minimize"),)),
        ("acc:max,lat:min", "maximize", (("acc", "maximize"), ("lat", "minimize"))),
        (["a", "b"], "minimize", (("a", "minimize"), ("b", "minimize"))),
    ],
)
def test_parse_objectives(metric: Any, direction: Any, expected: Any) -> None:
    assert parse_objectives(metric, direction) == expected


@pytest.mark.parametrize(
    ("metric", "direction", "match"),
    [
        ("acc:up", "maximize", r"Cannot read objective 'acc:up': write METRIC:max or METRIC:min"),
        ("acc", "up", r"direction must be 'maximize' or 'minimize'; got 'up' for 'acc'"),
        (["a", "b"], ["maximize"], r"Give one direction per metric: 2 metric\(s\)"),
        ([], "maximize", r"metric must be a metric name or a list of names"),
        (["a", "a"], "maximize", r"Each metric may appear once"),
    ],
)
def test_bad_objectives(metric: Any, direction: Any, match: str, study_name: str) -> None:
    with pytest.raises(ValueError, match=match):
        _create(study_name, metric=metric, direction=direction)


# ==================================================================== reporting


def test_trials_dataframe(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space, task=cora.name)
    study.optimize(_Raising(cora, {2}), n_trials=4)
    df = study.trials_dataframe()
    assert list(df.columns) == [
        "number", "state", "arch", "value",
        "arch.link", "arch.op1", "arch.op2", "arch.op3", "arch.op4",
        "metrics.valid_accuracy", "metrics.latency", "metrics.params",
        "test_metrics.test_accuracy",
        "cost_s", "seed", "error", "started_at", "finished_at",
    ]  # fmt: skip
    assert df["number"].tolist() == [0, 1, 2, 3]
    assert df["state"].tolist() == ["complete", "complete", "failed", "complete"]
    assert df["arch"].tolist() == [cora.space.format(t.arch) for t in study.trials]
    assert df.loc[0, "value"] == study.trials[0].value
    assert df.loc[2, "error"] == "RuntimeError: CUDA out of memory on call 2"
    assert math.isnan(df.loc[2, "value"])


def test_repr_and_properties(study_name: str) -> None:
    study = _create(study_name, strategy="local", task="t")
    assert repr(study) == f"Study(name={study_name!r}, task='t', strategy='local', trials=0)"
    assert study.metric == "valid_accuracy"
    assert study.direction == "maximize"


# ==================================================================== creating, loading


def test_create_study_needs_a_space(study_name: str) -> None:
    with pytest.raises(ValueError, match=r"create_study needs space=\.\.\.; .*bench\.space"):
        metanas.create_study(name=study_name, storage="sqlite://")
    with pytest.raises(TypeError, match=r"space must be a metanas SearchSpace; got dict"):
        metanas.create_study(name=study_name, storage="sqlite://", space={"a": [1]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"name must be a non-empty string; got ' '"):
        metanas.create_study(name=" ", storage="sqlite://", space=NasBenchGraphSpace())


def test_bad_seed(study_name: str) -> None:
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32 - 1\]; got -1"):
        _create(study_name, seed=-1)
    with pytest.raises(TypeError, match=r"seed must be an int or None; got float 1\.5"):
        _create(study_name, seed=1.5)


def test_load_if_exists(cora: NasBenchGraph, db_url: str) -> None:
    first = _create("again", cora.space, storage=db_url, task=cora.name)
    first.optimize(cora, n_trials=3)
    second = _create("again", cora.space, storage=db_url, load_if_exists=True, seed=99)
    assert len(second.trials) == 3
    assert second.seed == 0  # the stored study, not a new one
    with pytest.raises(ValueError, match=r"exists with objectives .*Use another name"):
        _create("again", cora.space, storage=db_url, load_if_exists=True, metric="latency")
    fresh = _create("brand-new", cora.space, storage=db_url, load_if_exists=True)
    assert fresh.trials == []


def test_load_study_rebuilds_the_strategy(db_url: str) -> None:
    _create(
        "evo", storage=db_url, strategy="evolution",
        strategy_settings={"population_size": 7, "sample_size": 3},
    )  # fmt: skip
    study = metanas.load_study("evo", storage=db_url)
    assert study.strategy.get_settings() == {"population_size": 7, "sample_size": 3}


def test_load_study_with_another_space_is_rejected(db_url: str) -> None:
    _create("graph", storage=db_url)
    with pytest.raises(ValueError, match=r"differs from the one study 'graph' was created with"):
        metanas.load_study("graph", storage=db_url, space=NasBenchGraphSpace(proteins=True))


def test_load_study_with_constraints_given_again(db_url: str) -> None:
    def no_gelu(arch: Architecture) -> bool:
        return arch["act"] != "gelu"

    space = SearchSpace({"depth": [1, 2], "act": ["relu", "gelu"]}, constraints=[no_gelu])
    _create("constrained", space, storage=db_url, metric="value").optimize(
        lambda a: 1.0, n_trials=2
    )
    again = metanas.load_study("constrained", storage=db_url, space=space)
    again.optimize(lambda a: 1.0, n_trials=2)
    assert all(t.arch["act"] == "relu" for t in again.trials)
    assert len({t.arch for t in again.trials}) == 2  # only two valid architectures


def test_task_mismatch_warns(study_name: str) -> None:
    study = _create(study_name, task="nas-bench-graph/cora")
    with pytest.warns(UserWarning, match=r"records task 'nas-bench-graph/cora' but the evaluator "
                      r"measures 'nas-bench-graph/pubmed'"):  # fmt: skip
        study.optimize(NasBenchGraph("pubmed"), n_trials=1)


# ==================================================================== manual ask / tell


def test_manual_ask_and_tell(cora: NasBenchGraph, study_name: str) -> None:
    study = _create(study_name, cora.space)
    trial = study.ask()
    assert trial.state is TrialState.RUNNING
    assert trial.number == 0
    assert study.trials[0].state is TrialState.RUNNING
    done = study.tell(trial, cora.evaluate(trial.arch))
    assert done.state is TrialState.COMPLETE
    assert done.value == cora.query(trial.arch, "valid_accuracy")
    with pytest.raises(ValueError, match=r"Trial 0 of study .* is complete; only a RUNNING trial"):
        study.tell(done, cora.evaluate(trial.arch))
    failed = study.tell(study.ask(), error="node crashed")
    assert (failed.state, failed.error) == (TrialState.FAILED, "node crashed")
    nothing = study.tell(study.ask())
    assert (nothing.state, nothing.error) == (TrialState.FAILED, "no result")
    assert study.n_finished == 3


# ==================================================================== an exhausted space


def test_a_random_search_past_the_space_size_warns_once_and_repeats_cheaply(
    db_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = SearchSpace({"a": [0, 1, 2], "b": ["x", "y"]})
    listed = 0
    enumerate_all = SearchSpace.enumerate

    def counting(self: SearchSpace, limit: int = 10**6) -> Any:
        nonlocal listed
        listed += 1
        return enumerate_all(self, limit)

    monkeypatch.setattr(SearchSpace, "enumerate", counting)
    straight = _create("straight", space, storage=db_url, seed=4, metric="value")
    with caplog.at_level(logging.WARNING, logger="metanas.strategies"):
        straight.optimize(lambda a: float(a["a"]), n_trials=20)
    archs = [space.format(t.arch) for t in straight.trials]
    assert len(set(archs[:6])) == 6  # every architecture once before any repeat
    warned = [r.getMessage() for r in caplog.records if "further trials" in r.getMessage()]
    assert warned == [
        f"The space {space.name} has 6 architectures and all were evaluated; further trials "
        "repeat them."
    ]
    # The space is listed once, when it runs out; the 13 repeats after that are plain draws.
    assert listed == 1
    # A resumed study finds the space exhausted anew, and repeats the same architectures.
    bumpy = _create("bumpy", space, storage=db_url, seed=4, metric="value")
    bumpy.optimize(lambda a: float(a["a"]), n_trials=9)
    again = metanas.load_study("bumpy", storage=db_url, space=space)
    again.optimize(lambda a: float(a["a"]), n_trials=11)
    assert [space.format(t.arch) for t in again.trials] == archs
