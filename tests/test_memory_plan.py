"""`metanas memory plan` and ExperienceMemory.past_tasks: what a new meta search draws on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import metanas
from metanas.cli import app
from metanas.meta import ExperienceMemory

SPACE = metanas.SearchSpace({"a": [0, 1, 2, 3], "b": [0, 1, 2]})
OTHER = metanas.SearchSpace({"z": ["x", "y", "w"]})

runner = CliRunner()


def _store(url: str, *, other_space: bool = True) -> None:
    for task, metric, n in (("t1", "val_acc", 10), ("t2", "valid_accuracy", 8), ("t3", "acc", 2)):
        study = metanas.create_study(
            name=task, storage=url, space=SPACE, strategy="random", seed=0, task=task,
            metric=metric, task_descriptors={"n": n},
        )  # fmt: skip
        study.optimize(lambda a: a["a"] + a["b"], n_trials=n)
    if not other_space:
        return
    other = metanas.create_study(
        name="elsewhere", storage=url, space=OTHER, strategy="random", seed=0, task="t4",
        metric="loss", direction="minimize",
    )  # fmt: skip
    other.optimize(lambda a: float(len(a["z"])), n_trials=3)


def test_past_tasks_say_what_each_task_transfers_and_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mem.db'}"
    _store(url)
    entries = ExperienceMemory(url).past_tasks("new", metric="valid_accuracy", space=SPACE)
    assert [(e.task, e.metric, e.used, e.n_evaluations, e.reason) for e in entries[:3]] == [
        ("t1", "val_acc", True, 10, "its own study's objective"),
        ("t2", "valid_accuracy", True, 8, "the new study's metric"),
        ("t3", "acc", False, 2,
         "only 2 evaluated architecture(s) of this space in 'acc' (needs >= 3)"),
    ]  # fmt: skip
    # A task of another space is skipped quietly (no warning: it is no memory of this space).
    assert entries[3].task == "t4"
    assert not entries[3].used
    assert not entries[3].in_space


def test_memory_plan_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mem.db'}"
    _store(url, other_space=False)
    args = ["memory", "plan", "--task", "new", "--storage", url, "--space", "__unused__"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2  # an unknown space name is a usage error
    out = runner.invoke(
        app, ["memory", "plan", "--task", "t2", "--storage", url, "--memory-metric", "val_acc",
              "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    rows = {r["task"]: r for r in doc["past_tasks"]}
    assert set(rows) == {"t1", "t3"}  # never the task itself
    assert rows["t1"]["used"]
    assert rows["t1"]["metric"] == "val_acc"
    assert rows["t1"]["prior_weight"] == 1.0
    assert rows["t1"]["similarity"] is not None
    assert rows["t3"]["reason"] == "reports none of memory_metrics ['val_acc'] (it reports ['acc'])"
    table = runner.invoke(app, ["memory", "plan", "--task", "t2", "--storage", url])
    assert table.exit_code == 0, table.output
    assert "its own study's objective" in table.stdout


def test_memory_plan_prior_power(tmp_path: Path) -> None:
    """--prior-power shows the prior weights of a meta search with that prior_power."""
    url = f"sqlite:///{tmp_path / 'mem.db'}"
    for task, n in (("near", 10.0), ("far", 100.0), ("new", 12.0)):
        study = metanas.create_study(
            name=task, storage=url, space=SPACE, strategy="random", seed=0, task=task,
            task_descriptors={"n": n},
        )  # fmt: skip
        study.optimize(lambda a: a["a"] + a["b"], n_trials=4)

    def weights(*extra: str) -> dict[str, float]:
        out = runner.invoke(app, ["memory", "plan", "--task", "new", "--storage", url,
                                  "--json", *extra])  # fmt: skip
        assert out.exit_code == 0, out.output
        return {r["task"]: r["prior_weight"] for r in json.loads(out.stdout)["past_tasks"]}

    default, sharp = weights(), weights("--prior-power", "3")
    assert default == weights("--prior-power", str(metanas.meta.PRIOR_POWER))
    assert default["near"] > default["far"]
    assert sharp["near"] > default["near"]
    assert sum(sharp.values()) == pytest.approx(1.0)
    bad = runner.invoke(app, ["memory", "plan", "--task", "new", "--storage", url,
                              "--prior-power", "0"])  # fmt: skip
    assert bad.exit_code == 2
    assert "power must be a finite number > 0" in bad.output
