"""Intermediate values: per-step results stored with a trial, the 0002 migration, reporting."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import metanas
from conftest import read_rows
from metanas import RDBStorage, Result, StudyNotFoundError, TrialState
from metanas.spaces import SearchSpace
from metanas.storage import _models as m
from metanas.storage import rdb
from metanas.study import curve_steps

SPACE = SearchSpace({"a": [1, 2, 3, 4]})


def _study(url: str, name: str = "iv", **kwargs: object) -> metanas.Study:
    kwargs.setdefault("space", SPACE)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("metric", "valid_accuracy")
    return metanas.create_study(name=name, storage=url, **kwargs)  # type: ignore[arg-type]


def _curve_evaluator(arch: metanas.Architecture) -> Result:
    a = float(arch["a"])
    curve = tuple(
        {"epoch": float(e), "valid_accuracy": a * e / 10, "test_accuracy": math.nan,
         "train_time_s": 0.5 * e}
        for e in (1, 2, 3)
    )  # fmt: skip
    return Result(metrics={"valid_accuracy": a * 0.3}, curve=curve)


# ==================================================================== schema


def test_a_database_at_revision_0001_is_upgraded_with_its_data(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(rdb.__file__).with_name("_migrations")))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as conn:
        conn.execute(m.tasks.insert().values(id=1, name="old-task", descriptors={}, created_at=now))
        conn.execute(
            m.studies.insert().values(
                id=1, name="old", task_id=1, space=SPACE.to_config(), strategy="random",
                strategy_settings={}, objectives=[["valid_accuracy", "maximize"]], seed=7,
                user_attrs={"k": 1}, created_at=now,
            )
        )  # fmt: skip
        for number, a in ((0, 1), (1, 3)):
            conn.execute(
                m.trials.insert().values(
                    study_id=1, number=number, state="complete", arch=f'{{"a": {a}}}',
                    value=a / 10, values=[a / 10], metrics={"valid_accuracy": a / 10},
                    test_metrics={}, seed=number, user_attrs={}, started_at=now,
                    finished_at=now,
                )
            )  # fmt: skip
    engine.dispose()
    assert read_rows(path, "SELECT version_num FROM alembic_version") == [("0001",)]
    tables = {r[0] for r in read_rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "metanas_trial_values" not in tables

    rdb._ENGINES.pop(url, None)
    study = metanas.load_study("old", storage=url)
    assert read_rows(path, "SELECT version_num FROM alembic_version") == [("0003",)]
    assert [(t.number, t.arch["a"], t.value, t.seed) for t in study.trials] == [
        (0, 1, 0.1, 0),
        (1, 3, 0.3, 1),
    ]
    assert study.seed == 7
    assert dict(study.user_attrs) == {"k": 1}
    assert study.intermediate_values(1) == []
    # The new table works on the upgraded file.
    trial = study.ask()
    study.report(trial, 1, {"valid_accuracy": 0.5}, elapsed_s=1.0)
    assert study.intermediate_values(trial) == [(1, {"valid_accuracy": 0.5}, 1.0)]


# ==================================================================== storage


def test_report_values_commits_each_step_and_replaces_a_repeated_one(
    db_url: str, db_path: Path
) -> None:
    study = _study(db_url)
    trial = study.ask()
    store = study.storage
    store.report_values(trial, 1, {"valid_accuracy": 0.5, "loss": math.inf}, elapsed_s=1.5)
    # Committed at once: another connection (another process) reads it before the trial ends.
    assert read_rows(db_path, "SELECT step, elapsed_s FROM metanas_trial_values") == [(1, 1.5)]
    store.report_values(trial, 2, {"valid_accuracy": 0.6})
    store.report_values(trial, 1, {"valid_accuracy": 0.55}, elapsed_s=1.7)
    got = store.get_values(study._record.id)
    assert list(got) == [trial.number]
    assert got[trial.number] == [
        (1, {"valid_accuracy": 0.55}, 1.7),
        (2, {"valid_accuracy": 0.6}, None),
    ]
    # NaN and infinities are stored as null, read back as NaN.
    store.report_values(trial, 3, {"valid_accuracy": math.nan, "loss": -math.inf})
    assert read_rows(db_path, 'SELECT "values" FROM metanas_trial_values WHERE step = 3') == [
        ('{"valid_accuracy": null, "loss": null}',)
    ]
    step3 = store.get_values(study._record.id)[trial.number][2][1]
    assert math.isnan(step3["valid_accuracy"])
    assert math.isnan(step3["loss"])


def test_get_values_groups_by_trial_in_one_query(db_url: str) -> None:
    study = _study(db_url)
    first, second = study.ask(), study.ask()
    study.report(second, 2, {"v": 2.0})
    study.report(first, 5, {"v": 1.0})
    study.report(second, 1, {"v": 1.5})
    other = _study(db_url, "other")
    study_other = other.ask()
    other.report(study_other, 1, {"v": 9.0})
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(study.storage.engine, "before_cursor_execute", count)
    try:
        got = study.storage.get_values(study._record.id)
    finally:
        sa.event.remove(study.storage.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert got == {
        0: [(5, {"v": 1.0}, None)],
        1: [(1, {"v": 1.5}, None), (2, {"v": 2.0}, None)],
    }
    assert study.storage.get_values(study._record.id, [1]) == {1: got[1]}


def test_report_rejects_bad_steps_values_and_finished_trials(db_url: str) -> None:
    study = _study(db_url)
    trial = study.ask()
    with pytest.raises(ValueError, match=r"step must be an int >= 0 .*got -1"):
        study.report(trial, -1, {"v": 1.0})
    with pytest.raises(ValueError, match=r"step must be an int >= 0 .*got 1.5"):
        study.report(trial, 1.5, {"v": 1.0})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values must be a mapping .*got list"):
        study.report(trial, 1, [0.5])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values\['v'\] must be a number; got 'high'"):
        study.report(trial, 1, {"v": "high"})  # type: ignore[dict-item]
    study.tell(trial, Result(metrics={"valid_accuracy": 0.5}))
    with pytest.raises(ValueError, match=r"Trial 0 of study 'iv' is complete; only a RUNNING"):
        study.report(trial, 1, {"v": 1.0})
    assert study.intermediate_values(trial) == []


def test_reporting_for_a_deleted_trial_names_the_problem(db_url: str) -> None:
    study = _study(db_url)
    trial = study.ask()
    study.storage.delete_study("iv")
    with pytest.raises(StudyNotFoundError, match=r"Step 1 of trial 0 could not be stored"):
        study.storage.report_values(trial, 1, {"v": 1.0})


def test_deleting_a_study_removes_its_values(db_url: str, db_path: Path) -> None:
    study = _study(db_url)
    study.optimize(_curve_evaluator, n_trials=2)
    keep = _study(db_url, "keep")
    keep.optimize(_curve_evaluator, n_trials=1)
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trial_values") == [(9,)]
    study.storage.delete_study("iv")
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trial_values") == [(3,)]
    assert list(keep.storage.get_values(keep._record.id)) == [0]


# ==================================================================== the study


def test_a_finished_trial_stores_its_curve_as_intermediate_values(db_url: str) -> None:
    study = _study(db_url)
    study.enqueue({"a": 2})
    study.optimize(_curve_evaluator, n_trials=1)
    trial = study.trials[0]
    assert not hasattr(trial, "curve")
    steps = study.intermediate_values(trial)
    assert [(s, v["valid_accuracy"], e) for s, v, e in steps] == [
        (1, 0.2, 0.5),
        (2, 0.4, 1.0),
        (3, pytest.approx(0.6), 1.5),
    ]
    assert all(math.isnan(v["test_accuracy"]) for _, v, _ in steps)
    # Re-opened from the storage: the same values.
    rdb._ENGINES.pop(db_url, None)
    assert metanas.load_study("iv", storage=db_url).intermediate_values(0) == steps


def test_the_curve_replaces_steps_reported_while_the_trial_ran(db_url: str) -> None:
    study = _study(db_url)
    trial = study.ask()
    study.report(trial, 1, {"valid_accuracy": 0.0})
    study.report(trial, 9, {"valid_accuracy": 0.0})  # a step the final curve does not have
    study.tell(trial, _curve_evaluator(trial.arch))
    assert [s for s, _, _ in study.intermediate_values(trial)] == [1, 2, 3]
    # Without a curve the reported steps are the record, kept as they are.
    other = study.ask()
    study.report(other, 4, {"valid_accuracy": 0.7}, elapsed_s=3.0)
    study.tell(other, Result(metrics={"valid_accuracy": 0.7}))
    assert study.intermediate_values(other.number) == [(4, {"valid_accuracy": 0.7}, 3.0)]


def test_a_trial_and_its_curve_are_stored_together_or_not_at_all(
    db_url: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(db_url)
    trial = study.ask()
    bad = ({"epoch": 1.0, "valid_accuracy": 0.5}, {"epoch": 2.0, "valid_accuracy": "x"})
    with pytest.raises(ValueError, match="could not convert string to float"):
        study.tell(trial, Result(metrics={"valid_accuracy": 0.5}, curve=bad))  # type: ignore[arg-type]
    assert read_rows(db_path, "SELECT state FROM metanas_trials") == [("running",)]
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trial_values") == [(0,)]

    # The curve is written after the trial row, in the same transaction: a failing insert
    # rolls the finished state back too.
    conn_execute: Any = sa.engine.Connection.execute

    def execute(self: sa.engine.Connection, stmt: Any, *args: Any, **kw: Any) -> Any:
        if getattr(stmt, "table", None) is m.trial_values and stmt.is_insert:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return conn_execute(self, stmt, *args, **kw)

    monkeypatch.setattr(sa.engine.Connection, "execute", execute)
    with pytest.raises(metanas.StorageError, match="disk I/O error"):
        study.tell(trial, _curve_evaluator(trial.arch))
    monkeypatch.undo()
    assert read_rows(db_path, "SELECT state FROM metanas_trials") == [("running",)]
    assert read_rows(db_path, "SELECT COUNT(*) FROM metanas_trial_values") == [(0,)]


def test_trials_dataframe_with_intermediate_has_one_row_per_step(db_url: str) -> None:
    study = _study(db_url)
    study.enqueue({"a": 1})
    study.optimize(_curve_evaluator, n_trials=1)
    plain = study.ask()
    study.tell(plain, Result(metrics={"valid_accuracy": 0.1}))
    default = study.trials_dataframe()
    assert len(default) == 2
    assert not {"step", "elapsed_s"} & set(default.columns)
    assert not any(c.startswith("values.") for c in default.columns)
    df = study.trials_dataframe(intermediate=True)
    assert list(df["number"]) == [0, 0, 0, 1]
    assert list(df["step"].iloc[:3]) == [1, 2, 3]
    assert math.isnan(df["step"].iloc[3])
    assert list(df["elapsed_s"].iloc[:3]) == [0.5, 1.0, 1.5]
    assert list(df["values.valid_accuracy"].iloc[:2]) == [0.1, 0.2]
    assert {"values.test_accuracy", "metrics.valid_accuracy", "arch.a"} <= set(df.columns)
    assert set(default.columns) <= set(df.columns)


def test_curve_steps_numbers_points_without_an_epoch_and_keeps_the_last_duplicate() -> None:
    assert curve_steps([{"v": 1.0}, {"v": 2.0, "elapsed_s": 3.0}]) == [
        (1, {"v": 1.0}, None),
        (2, {"v": 2.0}, 3.0),
    ]
    assert curve_steps([{"epoch": 2.0, "v": 1.0}, {"epoch": 2.0, "v": 5.0}]) == [
        (2, {"v": 5.0}, None)
    ]


def test_a_killed_trial_keeps_its_reported_steps_and_is_requeued(db_url: str) -> None:
    study = _study(db_url)
    trial = study.ask()
    study.report(trial, 1, {"valid_accuracy": 0.4}, elapsed_s=1.0)
    study.report(trial, 2, {"valid_accuracy": 0.5}, elapsed_s=2.0)
    # Nothing more is written (the process died): a fresh process sees both steps.
    rdb._ENGINES.pop(db_url, None)
    again = RDBStorage(db_url)
    got = again.get_values(study._record.id)
    assert got == {0: [(1, {"valid_accuracy": 0.4}, 1.0), (2, {"valid_accuracy": 0.5}, 2.0)]}
    assert again.get_trials(study._record.id)[0].state is TrialState.RUNNING


# ==================================================================== CLI and training


def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from metanas.cli import app

    return CliRunner().invoke(app, args, env={"COLUMNS": "200"})


def test_studies_show_prints_the_best_trials_curve_and_any_other(db_url: str) -> None:
    study = _study(db_url, "shown")
    study.enqueue({"a": 1})
    study.enqueue({"a": 4})
    study.optimize(_curve_evaluator, n_trials=2)
    assert study.best_trial.number == 1
    out = _cli(["studies", "show", "shown", "--storage", db_url, "--json"])
    assert out.exit_code == 0, out.output
    curve = json.loads(out.stdout)["curve"]
    assert curve["trial"] == 1
    assert [(s["step"], s["elapsed_s"], s["values"]["valid_accuracy"]) for s in curve["steps"]] == [
        (1, 0.5, 0.4),
        (2, 1.0, 0.8),
        (3, 1.5, pytest.approx(1.2)),
    ]
    assert curve["steps"][0]["values"]["test_accuracy"] is None  # NaN in JSON
    text = _cli(["studies", "show", "shown", "--storage", db_url, "--trial", "0"])
    assert text.exit_code == 0, text.output
    assert "Learning curve of trial 0 (3 steps, 1.5 s at step 3):" in text.stdout
    assert "valid_accuracy  1: 0.1  2: 0.2  3: 0.3" in text.stdout
    missing = _cli(["studies", "show", "shown", "--storage", db_url, "--trial", "7"])
    assert missing.exit_code == 2
    assert "Study 'shown' has no trial 7 (its trials: 0 to 1). Pass --trial" in missing.stderr


def test_studies_show_says_when_a_trial_reported_nothing(db_url: str) -> None:
    study = _study(db_url, "flat")
    study.optimize(lambda arch: {"valid_accuracy": 0.5}, n_trials=1)
    out = _cli(["studies", "show", "flat", "--storage", db_url, "--trial", "0"])
    assert out.exit_code == 0, out.output
    assert "Trial 0 reported no intermediate values." in out.stdout
    # Not asked for (a table look-up, say): no line about it.
    default = _cli(["studies", "show", "flat", "--storage", db_url])
    assert default.exit_code == 0, default.output
    assert "intermediate" not in default.stdout
    assert "Learning curve" not in default.stdout
    curve = json.loads(_cli(["studies", "show", "flat", "--storage", db_url, "--json"]).stdout)[
        "curve"
    ]
    assert (curve["trial"], curve["steps"]) == (0, [])


@pytest.mark.slow
def test_search_with_data_stores_validation_curves(db_url: str) -> None:
    args = ["search", "--data", "iris", "--epochs", "3", "--n-trials", "2", "--seed", "0"]
    out = _cli([*args, "--study", "iris-curves", "--storage", db_url, "--json"])
    assert out.exit_code == 0, out.output
    study = metanas.load_study("iris-curves", storage=db_url)
    for trial in study.trials:
        steps = study.intermediate_values(trial)
        assert [s for s, _, _ in steps] == list(range(1, int(trial.metrics["epochs"]) + 1))
        # Validation values only: a test pass per epoch would cost ~20 % more training time.
        assert all(set(v) == {"valid_accuracy"} for _, v, _ in steps)
        assert steps[-1][2] is not None
        assert steps[-1][2] <= trial.metrics["train_time_s"]
        best = int(trial.metrics["best_epoch"]) - 1
        assert steps[best][1]["valid_accuracy"] == pytest.approx(trial.metrics["valid_accuracy"])
    # A resumed study records curves too (its evaluator is rebuilt from stored settings).
    more = _cli([*args[:-3], "4", "--seed", "0", "--study", "iris-curves", "--storage", db_url])
    assert more.exit_code == 0, more.output
    study.refresh()
    assert len(study.trials) == 4
    assert study.intermediate_values(3) != []


def test_record_curve_takes_true_false_or_valid() -> None:
    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    task = load_task("iris", seed=0)
    space = metanas.spaces.create_space("mlp")
    with pytest.raises(ValueError, match=r"record_curve must be True, False or 'valid' .*'test'"):
        TrainEvaluator(task, space, record_curve="test")  # type: ignore[arg-type]
    assert TrainEvaluator(task, space, record_curve="valid").record_curve == "valid"
