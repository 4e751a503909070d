"""Scheduled studies: segments, PRUNED trials, stored events, resume, the local pool."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import metanas
from conftest import read_rows
from metanas import Architecture, Result, SearchSpace, TrialState
from metanas.evaluation import Evaluator
from metanas.schedulers import Decision
from metanas.storage import _models as m
from metanas.storage import rdb
from metanas.strategies.base import Observation, Strategy

SPACE = SearchSpace({"w": list(range(40))})


def _value(arch: Architecture, epoch: int) -> float:
    # Larger w learns to a higher plateau; the order of w is the order at every epoch.
    return round(arch["w"] / 40 * (1 - 0.5**epoch), 6)


class CurveEvaluator(Evaluator):
    """A learning curve per architecture; records each call (budget, resume_from)."""

    supports_resume = True

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, float, float | None]] = []
        self.fail_at = fail_at

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        self.calls.append((arch["w"], float(budget or 0), resume_from))
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        b = int(budget or 0)
        curve = tuple(
            {"epoch": float(e), "valid_accuracy": _value(arch, e), "train_time_s": float(e)}
            for e in range(1, b + 1)
        )
        done = 0.0 if resume_from is None else resume_from
        return Result(
            metrics={"valid_accuracy": _value(arch, b)},
            test_metrics={"test_accuracy": _value(arch, b)},
            cost_s=b - done,
            curve=curve,
        )


class FreshEvaluator(CurveEvaluator):
    """The same curves, without resume: each rung is a fresh run at the higher budget."""

    supports_resume = False

    def evaluate(  # type: ignore[override]
        self, arch: Architecture, *, budget: float | None = None
    ) -> Result:
        return super().evaluate(arch, budget=budget)


class Recorder(Strategy):
    """Random proposals; remembers every tell and tell_intermediate."""

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self.told: list[Observation] = []
        self.intermediate: list[Observation] = []

    def ask(self) -> Architecture:
        return self.sample_unseen()

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        self.told.append(obs)

    def tell_intermediate(self, obs: Observation) -> None:
        self.intermediate.append(obs)


def _study(scheduler: str = "asha", **settings: Any) -> metanas.Study:
    opts: dict[str, Any] = {"min_budget": 1, "max_budget": 9, "eta": 3, **settings}
    return metanas.create_study(
        space=SPACE, storage="sqlite://", seed=5, scheduler=scheduler, scheduler_settings=opts,
    )  # fmt: skip


def _events(study: metanas.Study) -> list[tuple[int, str, float, str, float | None]]:
    return [
        (e.number, e.kind, e.budget, e.decision, e.next_budget)
        for e in study.storage.get_events(study._record.id)
    ]


def test_asha_study_prunes_stores_segments_and_sums_costs() -> None:
    study = _study()
    ev = CurveEvaluator()
    best = study.optimize(ev, n_trials=12)
    states = [t.state for t in study.trials]
    assert len(study.trials) == 12
    assert set(states) == {TrialState.COMPLETE, TrialState.PRUNED}
    for t in study.trials:
        expected_budget = 9.0 if t.state is TrialState.COMPLETE else t.budget
        assert t.budget == expected_budget
        assert t.value == _value(t.arch, int(t.budget or 0))
        # resumed segments charge only their own epochs: the sum is the budget reached
        assert t.cost_s == t.budget
        steps = study.intermediate_values(t)
        assert [s for s, _, _ in steps] == list(range(1, int(t.budget or 0) + 1))
    assert best is not None
    assert best.state is TrialState.COMPLETE
    assert best.budget == 9.0
    # the trial with the largest w reached 9 and wins, whatever pruned trials measured
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert best.arch["w"] == max(t.arch["w"] for t in complete)
    events = _events(study)
    assert all(kind == "result" for _, kind, *_ in events)
    # every resumed call continued from the last budget of its trial
    for _w, budget, resume_from in ev.calls:
        assert resume_from is None if budget == 1.0 else resume_from == {3.0: 1.0, 9.0: 3.0}[budget]
    assert len(ev.calls) == len(events)
    df = study.trials_dataframe()
    assert list(df["budget"]) == [t.budget for t in study.trials]
    assert list(df["state"]).count("pruned") == len(study.pruned_trials)


def test_strategy_is_told_once_per_trial_and_per_segment() -> None:
    metanas.register_strategy("test-recorder")(Recorder)
    study = metanas.create_study(
        space=SPACE, storage="sqlite://", seed=2, strategy="test-recorder", scheduler="asha",
        scheduler_settings={"max_budget": 9},
    )  # fmt: skip
    study.optimize(CurveEvaluator(), n_trials=8)
    rec = study.strategy
    assert isinstance(rec, Recorder)
    assert sorted(o.number for o in rec.told) == list(range(8))
    by_number = {t.number: t for t in study.trials}
    for obs in rec.told:
        assert obs.budget == by_number[obs.number].budget
        assert obs.score == by_number[obs.number].value
    assert len(rec.intermediate) == len(_events(study))
    assert {o.budget for o in rec.intermediate} <= {1.0, 3.0, 9.0}
    # a re-opened study replays the segments into tell_intermediate, the trials into tell
    again = metanas.load_study(study.name, storage=study.storage)
    assert isinstance(again.strategy, Recorder)
    assert [(o.number, o.budget) for o in again.strategy.intermediate] == [
        (o.number, o.budget) for o in rec.intermediate
    ]
    assert len(again.strategy.told) == 8


def test_interrupted_study_resumes_with_the_same_events_and_resume_from() -> None:
    straight = _study()
    straight.optimize(CurveEvaluator(), n_trials=10)
    expected = _events(straight)

    halves = _study()
    cut = CurveEvaluator(fail_at=9)  # the 9th segment (a trial's second) is cut off mid-way
    with pytest.raises(KeyboardInterrupt):
        halves.optimize(cut, n_trials=10)
    before = _events(halves)
    assert before == expected[: len(before)]
    w, budget, resume_from = cut.calls[-1]
    assert (budget, resume_from) == (3.0, 1.0)
    # re-opened (as after a kill): the cut segment runs again from its trial's last budget
    reopened = metanas.load_study(halves.name, storage=halves.storage)
    ev = CurveEvaluator()
    reopened.optimize(ev, max_total_trials=10)
    assert ev.calls[0] == (w, budget, resume_from)
    assert _events(reopened) == expected
    assert [(t.state, t.budget, t.cost_s) for t in reopened.trials] == [
        (t.state, t.budget, t.cost_s) for t in straight.trials
    ]


def test_a_cut_segment_past_the_first_rung_resumes_from_the_stored_budget() -> None:
    study = _study()
    # calls: trial 0 at 1 (continues), trial 0 at 3 -> cut
    cut = CurveEvaluator(fail_at=2)
    study.enqueue({"w": 39})
    with pytest.raises(KeyboardInterrupt):
        study.optimize(cut, n_trials=3)
    assert cut.calls == [(39, 1.0, None), (39, 3.0, 1.0)]
    assert study.trials[0].state is TrialState.RUNNING
    assert study.trials[0].budget == 1.0
    ev = CurveEvaluator()
    study.optimize(ev, n_trials=0)
    assert ev.calls[:2] == [(39, 3.0, 1.0), (39, 9.0, 3.0)]
    assert study.trials[0].state is TrialState.COMPLETE
    assert study.trials[0].cost_s == 9.0


def test_successive_halving_pauses_then_promotes_a_full_cohort() -> None:
    study = _study("sh", n_cohort=6)
    study.optimize(CurveEvaluator(), n_trials=4)
    # the cohort of 6 is not full: its 4 trials wait, paused, RUNNING
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 4
    assert {e[3] for e in _events(study)} == {"pause"}
    study.optimize(CurveEvaluator(), n_trials=2)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 1
    assert states.count(TrialState.PRUNED) == 5
    kinds = [e[1] for e in _events(study)]
    assert kinds.count("promote") == 2 + 1  # 6 // 3 to rung 3, then 1 to rung 9
    assert kinds.count("stop") == 4 + 1
    winner = study.best_trial
    assert winner.arch["w"] == max(t.arch["w"] for t in study.trials)
    assert winner.budget == 9.0


def test_fresh_evaluations_without_resume_pay_every_rung() -> None:
    study = _study()
    ev = FreshEvaluator()
    study.optimize(ev, n_trials=6)
    assert all(r is None for _, _, r in ev.calls)
    for t in study.trials:
        assert t.cost_s == {1.0: 1.0, 3.0: 4.0, 9.0: 13.0}[t.budget or 0.0]


def test_scheduler_is_stored_and_a_change_is_refused() -> None:
    study = _study()
    storage = study.storage
    again = metanas.load_study(study.name, storage=storage)
    assert again.scheduler is not None
    assert again.scheduler.registered_name == "asha"
    assert again.scheduler.settings() == {"min_budget": 1, "max_budget": 9, "eta": 3}
    with pytest.raises(ValueError, match=r"exists with the scheduler \('asha'"):
        metanas.create_study(
            space=SPACE, storage=storage, name=study.name, load_if_exists=True, scheduler="asha",
            scheduler_settings={"max_budget": 27},
        )  # fmt: skip
    same = metanas.create_study(
        space=SPACE, storage=storage, name=study.name, load_if_exists=True, scheduler="asha",
        scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
    )  # fmt: skip
    assert same.scheduler is not None
    with pytest.raises(ValueError, match="chooses every budget; got budget=3"):
        study.optimize(CurveEvaluator(), n_trials=1, budget=3)
    with pytest.raises(ValueError, match="ranks trials by one objective"):
        metanas.create_study(
            space=SPACE, storage="sqlite://", metric="a:max,b:min", scheduler="asha",
            scheduler_settings={"max_budget": 9},
        )  # fmt: skip
    with pytest.raises(ValueError, match="without a scheduler"):
        metanas.create_study(space=SPACE, storage="sqlite://", scheduler_settings={"eta": 2})
    with pytest.raises(ValueError, match="needs max_budget"):
        metanas.create_study(space=SPACE, storage="sqlite://", scheduler="asha")


def test_unscheduled_trials_have_no_budget_and_no_events() -> None:
    study = metanas.create_study(space=SPACE, storage="sqlite://", seed=1)
    study.optimize(lambda a: {"valid_accuracy": a["w"] / 40}, n_trials=3)
    assert study.scheduler is None
    assert [t.budget for t in study.trials] == [None] * 3
    assert _events(study) == []


def test_a_0002_database_is_upgraded_to_0003(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(rdb.__file__).with_name("_migrations")))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as conn:
        conn.execute(m.tasks.insert().values(id=1, name="t", descriptors={}, created_at=now))
        conn.execute(
            sa.text(
                "INSERT INTO metanas_studies (id, name, task_id, space, strategy, "
                "strategy_settings, objectives, seed, user_attrs, created_at) VALUES "
                "(1, 'old', 1, :space, 'random', '{}', '[[\"valid_accuracy\", \"maximize\"]]', "
                "7, '{}', :now)"
            ),
            {"space": __import__("json").dumps(SPACE.to_config()), "now": now},
        )
    engine.dispose()
    rdb._ENGINES.pop(url, None)
    study = metanas.load_study("old", storage=url)
    assert read_rows(path, "SELECT version_num FROM alembic_version") == [("0003",)]
    assert study.scheduler is None
    assert read_rows(path, "SELECT COUNT(*) FROM metanas_scheduler_events") == [(0,)]


@pytest.mark.slow
def test_local_pool_runs_a_scheduled_study() -> None:
    from metanas.execution import LocalExecutor

    study = _study()
    # fork: the workers start in milliseconds (spawn is what n_jobs=2 uses; same code path)
    with LocalExecutor(CurveEvaluator(), n_workers=2, mp_context="fork") as pool:
        study.optimize(executor=pool, n_trials=6)
    assert len(study.trials) == 6
    assert all(t.state.finished for t in study.trials)
    results = [e for e in _events(study) if e[1] == "result"]
    assert sorted({n for n, *_ in results}) == list(range(6))
    assert all(d in {Decision.CONTINUE, Decision.STOP, Decision.COMPLETE} for *_, d, _ in results)


# ==================================================================== CLI


def _cli(args: list[str], env: dict[str, str] | None = None) -> Any:
    from typer.testing import CliRunner

    from metanas.cli import app

    return CliRunner().invoke(app, args, env={"COLUMNS": "200", **(env or {})})


@pytest.mark.slow
def test_cli_search_with_a_scheduler_on_a_per_epoch_table(tmp_path: Path) -> None:
    import json

    from test_family import _tiny_table

    _tiny_table(tmp_path / "t.csv")
    env = {"METANAS_FAMILY_TABLE": str(tmp_path / "t.csv")}
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    base = ["search", "--benchmark", "task-family", "--dataset", "mnist1d", "--storage", url]
    out = _cli([*base, "--scheduler", "asha", "--eta", "3", "--n-trials", "4", "--json"], env)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    # the table records 3 epochs: the rungs are 1 and 3
    assert summary["scheduler"] == {"name": "asha", "min_budget": 1, "max_budget": 3, "eta": 3}
    assert summary["n_complete"] + summary["n_pruned"] == 4
    assert summary["n_pruned"] >= 1
    assert summary["best"]["budget"] == 3.0
    changed = _cli([*base, "--scheduler", "asha", "--eta", "2", "--n-trials", "5"], env)
    assert changed.exit_code == 2
    assert "was created with scheduler ('asha'" in changed.stderr
    lone = _cli([*base, "--min-epochs", "2", "--n-trials", "5"], env)
    assert lone.exit_code == 2
    assert "--min-epochs sets a multi-fidelity scheduler's budgets; add --scheduler" in lone.stderr


def test_cli_studies_show_gives_budgets_pruned_counts_and_decisions(tmp_path: Path) -> None:
    import json

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = metanas.create_study(
        space=SPACE, storage=url, name="shown", seed=5, scheduler="asha",
        scheduler_settings={"max_budget": 9},
    )  # fmt: skip
    study.optimize(CurveEvaluator(), n_trials=6)
    n_pruned = len(study.pruned_trials)
    assert n_pruned >= 1
    pruned = study.pruned_trials[0]
    shown = _cli(["studies", "show", "shown", "--storage", url, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["n_pruned"] == n_pruned
    assert info["scheduler"] == {"name": "asha", "min_budget": 1, "max_budget": 9, "eta": 3}
    assert info["curve"]["trial"] == study.best_trial.number
    assert [d["decision"] for d in info["curve"]["decisions"]] == [
        "continue",
        "continue",
        "complete",
    ]
    assert all(t["budget"] == 9.0 for t in info["top_trials"])
    text = _cli(["studies", "show", "shown", "--storage", url, "--trial", str(pruned.number)])
    assert text.exit_code == 0, text.output
    assert f"{n_pruned} pruned" in text.stdout
    assert f"Scheduler (trial {pruned.number}, pruned): " in text.stdout
    assert "-> stop" in text.stdout


@pytest.mark.slow
def test_cli_search_trains_with_asha(tmp_path: Path) -> None:
    import json

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    args = [
        *("search", "--data", "digits", "--space", "mlp", "--scheduler", "asha"),
        *("--min-epochs", "1", "--max-epochs", "3", "--eta", "3", "--n-trials", "3"),
        *("--storage", url, "--json"),
    ]
    out = _cli(args)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["n_complete"] + summary["n_pruned"] == 3
    assert summary["best"]["budget"] == 3.0
    study = metanas.load_study(summary["study"], storage=url)
    # --max-epochs is the trainer's epochs too
    assert study.user_attrs["evaluator"]["max_epochs"] == 3
    best = study.best_trial
    assert [s for s, _, _ in study.intermediate_values(best)] == [1, 2, 3]


class _MemoryASHA(metanas.schedulers.ASHAScheduler):
    uses_memory = True

    def set_memory(self, curves: Any) -> None:
        self.memory = [list(c) for c in curves]


def test_a_scheduler_with_uses_memory_gets_past_tasks_curves(tmp_path: Path) -> None:
    metanas.register_scheduler("test-memory-asha")(_MemoryASHA)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    past = metanas.create_study(
        space=SPACE, storage=url, task="past", seed=1, scheduler="asha",
        scheduler_settings={"max_budget": 3},
    )  # fmt: skip
    past.optimize(CurveEvaluator(), n_trials=5)
    full = [t for t in past.trials if t.budget == 3.0]
    study = metanas.create_study(
        space=SPACE, storage=url, task="now", seed=1, scheduler="test-memory-asha",
        scheduler_settings={"max_budget": 3},
    )  # fmt: skip
    assert isinstance(study.scheduler, _MemoryASHA)
    got = sorted(study.scheduler.memory)
    assert got == sorted([_value(t.arch, e) for e in (1, 2, 3)] for t in full)
    # its own task is not its memory
    study.optimize(CurveEvaluator(), n_trials=3)
    again = metanas.load_study(study.name, storage=url)
    assert isinstance(again.scheduler, _MemoryASHA)
    assert sorted(again.scheduler.memory) == got


def test_a_study_without_a_task_name_gets_no_curve_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metanas.register_scheduler("test-memory-asha")(_MemoryASHA)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    # the same data set searched before under another study name, without task=
    past = metanas.create_study(
        space=SPACE, storage=url, name="first", seed=1, scheduler="asha",
        scheduler_settings={"max_budget": 3},
    )  # fmt: skip
    past.optimize(CurveEvaluator(), n_trials=5)
    with caplog.at_level(logging.WARNING, logger="metanas.study"):
        study = metanas.create_study(
            space=SPACE, storage=url, name="second", seed=1, scheduler="test-memory-asha",
            scheduler_settings={"max_budget": 3},
        )  # fmt: skip
    assert not hasattr(study.scheduler, "memory")  # set_memory never called
    assert "has no task name" in caplog.text


def test_an_open_trial_given_back_by_a_dead_worker_resumes_from_its_budget() -> None:
    study = _study()
    study.enqueue({"w": 39})
    with pytest.raises(KeyboardInterrupt):
        study.optimize(CurveEvaluator(fail_at=2), n_trials=3)
    # what a process opening the study does to a dead worker's trial: back to the queue
    assert study.storage.requeue_trial(study.trials[0])
    reopened = metanas.load_study(study.name, storage=study.storage)
    assert reopened.trials[0].state is TrialState.WAITING
    ev = CurveEvaluator()
    reopened.optimize(ev, max_total_trials=3)
    assert ev.calls[:2] == [(39, 3.0, 1.0), (39, 9.0, 3.0)]
    assert len(reopened.trials) == 3
    first = reopened.trials[0]
    assert (first.state, first.budget, first.cost_s) == (TrialState.COMPLETE, 9.0, 9.0)


# ------------------------------------------- ASHA promotes stopped trials on a used-up space

SMALL = SearchSpace({"w": list(range(8))})


def _late_bloomer(arch: Architecture, epoch: int) -> float:
    # w=0 is the worst after 1 and 3 epochs and the best after 9: stopped at the first rung.
    if arch["w"] == 0:
        return 0.99 if epoch >= 9 else 0.0
    return round(arch["w"] / 20 * (1 - 0.5**epoch), 6)


class LateBloomer(CurveEvaluator):
    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        self.calls.append((arch["w"], float(budget or 0), resume_from))
        b = int(budget or 0)
        curve = tuple(
            {"epoch": float(e), "valid_accuracy": _late_bloomer(arch, e)} for e in range(1, b + 1)
        )
        return Result(
            metrics={"valid_accuracy": _late_bloomer(arch, b)},
            cost_s=b - (resume_from or 0.0),
            curve=curve,
        )


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_asha_trains_a_stopped_late_bloomer_to_the_end_once_the_space_is_used_up(
    scheduler: str,
) -> None:
    study = metanas.create_study(
        space=SMALL, storage="sqlite://", seed=0, scheduler=scheduler,
        scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
    )  # fmt: skip
    ev = LateBloomer()
    study.optimize(ev, n_trials=12)
    assert study.best_trial.arch["w"] == 0
    assert study.best_trial.budget == 9.0
    # the late bloomer reaches the end before any architecture is trained from scratch again
    fresh = [i for i, (_, _, r) in enumerate(ev.calls) if r is None]
    assert sorted(ev.calls[i][0] for i in fresh[:8]) == list(range(8))
    done = next(i for i, (w, b, _) in enumerate(ev.calls) if (w, b) == (0, 9.0))
    assert len(fresh) == 8 or done < fresh[8]
    events = _events(study)
    promoted = [(n, b, nb) for n, kind, b, _, nb in events if kind == "promote"]
    assert promoted, "no stopped trial was promoted"
    for _n, budget, next_budget in promoted:
        # the promoted trial resumes from the budget it had reached
        assert (next_budget, budget) in {(3.0, 1.0), (9.0, 3.0)}
    # a revived trial's cost is still the sum of its own segments: each epoch paid once
    for t in study.trials:
        assert t.cost_s == t.budget
    # replayed into a fresh scheduler, the stored decisions come out the same
    again = metanas.load_study(study.name, storage=study.storage)
    again.optimize(LateBloomer(), n_trials=0)
    assert _events(again) == events


def test_asha_promotes_by_the_papers_rule_then_the_best_of_the_lowest_rung() -> None:
    s = metanas.schedulers.ASHAScheduler(min_budget=1, max_budget=9, eta=3)
    decisions = [s.on_result(t, 1, v)[0] for t, v in enumerate([0.1, 0.5, 0.3, 0.2, 0.05, 0.0])]
    assert [d.value for d in decisions] == ["continue", "continue", *["stop"] * 4]
    # 6 results at rung 1: its top 2 are trials 1 and 2; 2 was stopped when it arrived
    assert s.promote_stopped() == (2, 3.0)
    # none left in a top 1/3: the best stopped one of the lowest rung, best first
    assert [s.promote_stopped() for _ in range(4)] == [(3, 3.0), (4, 3.0), (5, 3.0), None]
    # a failed segment is never promoted
    assert s.on_result(6, 1, None)[0] is Decision.STOP
    assert s.promote_stopped() is None


def test_a_promotion_of_a_stopped_trial_survives_a_resume() -> None:
    straight = metanas.create_study(
        space=SMALL, storage="sqlite://", seed=0, scheduler="asha",
        scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
    )  # fmt: skip
    straight.optimize(LateBloomer(), n_trials=12)
    expected = _events(straight)
    cut_at = next(i for i, e in enumerate(expected) if e[1] == "promote") + 1
    study = metanas.create_study(
        space=SMALL, storage="sqlite://", seed=0, scheduler="asha",
        scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
    )  # fmt: skip
    # the segment after the first promotion is cut off
    n_results = sum(1 for e in expected[:cut_at] if e[1] == "result")
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_Cut(n_results + 1), n_trials=12)
    reopened = metanas.load_study(study.name, storage=study.storage)
    reopened.optimize(LateBloomer(), max_total_trials=12)
    assert _events(reopened) == expected
    assert [(t.state, t.budget, t.cost_s) for t in reopened.trials] == [
        (t.state, t.budget, t.cost_s) for t in straight.trials
    ]


class _Cut(LateBloomer):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        if len(self.calls) + 1 == self.at:
            raise KeyboardInterrupt
        return super().evaluate(arch, budget=budget, resume_from=resume_from)


def _told(strategy: Strategy) -> list[tuple[str, int, float | None, float | None]]:
    assert isinstance(strategy, Recorder)
    return [("tell", o.number, o.budget, o.score) for o in strategy.told]


@pytest.mark.parametrize("cut_after", [1, 2, 3])
def test_a_resumed_strategy_is_told_what_the_uninterrupted_one_was_in_its_order(
    cut_after: int,
) -> None:
    # ASHA promotes stopped trials once the small space is used up: each is told at its stop
    # and again when it settles. The replay on resume must tell the same, in the same order.
    metanas.register_strategy("test-recorder")(Recorder)
    opts = {"min_budget": 1, "max_budget": 9, "eta": 3}

    def make() -> metanas.Study:
        return metanas.create_study(
            space=SMALL, storage="sqlite://", seed=0, strategy="test-recorder",
            scheduler="asha", scheduler_settings=opts,
        )  # fmt: skip

    straight = make()
    straight.optimize(LateBloomer(), n_trials=12)
    expected = _told(straight.strategy)
    numbers = [n for _, n, _, _ in expected]
    assert len(numbers) > len(set(numbers)), "no trial was told twice"
    events = _events(straight)
    promotes = [i for i, e in enumerate(events) if e[1] == "promote"]
    cut_at = promotes[min(cut_after, len(promotes)) - 1] + 1
    n_results = sum(1 for e in events[:cut_at] if e[1] == "result")
    study = make()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_Cut(n_results + 1), n_trials=12)
    reopened = metanas.load_study(study.name, storage=study.storage)
    told = _told(reopened.strategy)
    assert told == expected[: len(told)]
    reopened.optimize(LateBloomer(), max_total_trials=12)
    assert _told(reopened.strategy) == expected
    assert _events(reopened) == events


@pytest.mark.slow
def test_cli_search_keeps_stopped_trials_checkpoints_in_checkpoint_dir(tmp_path: Path) -> None:
    import json

    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    base = [
        *("search", "--data", "digits", "--space", "mlp", "--scheduler", "asha"),
        *("--min-epochs", "1", "--max-epochs", "3", "--eta", "3", "--n-trials", "4"),
        *("--storage", url, "--json"),
    ]
    given = tmp_path / "ck"
    out = _cli([*base, "--study", "given", "--checkpoint-dir", str(given)])
    assert out.exit_code == 0, out.output
    study = metanas.load_study(json.loads(out.stdout)["study"], storage=url)
    ev = TrainEvaluator(load_task("digits", seed=study.seed), study.space, checkpoint_dir=given)
    # a stopped trial keeps its state for a promotion; a finished one has none left
    for t in study.trials:
        assert ev.checkpoint_path(t.arch).exists() == (t.state is TrialState.PRUNED)
    assert study.pruned_trials
    # without the option: next to the SQLite file, one folder per study
    out = _cli([*base, "--study", "default"])
    assert out.exit_code == 0, out.output
    default = tmp_path / "runs-checkpoints" / "default"
    study = metanas.load_study("default", storage=url)
    assert len(list(default.glob("*.pt"))) == len(study.pruned_trials) > 0


def test_default_checkpoint_dir_is_next_to_a_sqlite_file_only(tmp_path: Path) -> None:
    from metanas.search import _default_checkpoint_dir

    db = tmp_path / "x.db"
    assert _default_checkpoint_dir(f"sqlite:///{db}", "s") == tmp_path / "x-checkpoints" / "s"
    assert _default_checkpoint_dir("sqlite://", "s") is None
    assert _default_checkpoint_dir("postgresql://u@h/db", "s") is None
    with pytest.raises(ValueError, match=r"--checkpoint-dir .* a benchmark table has none"):
        metanas.search.prepare_search(
            benchmark="task-family", dataset="digits", checkpoint_dir=tmp_path, storage="sqlite://"
        )
