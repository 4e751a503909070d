"""benchmarks/text.py: the verdict at the time mark, task arguments and runs kept by seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import text


def _run(seed: int, arm: str, curve: list[list[Any]]) -> dict[str, Any]:
    return {"task": "langid-words", "arm": arm, "seed": seed, "curve": curve, "n_trials": 5,
            "n_full": 2, "wall_s": 910.0}  # fmt: skip


def test_verdict_reads_the_network_chosen_by_the_mark() -> None:
    args = text.parse_args(["--tasks", "langid-words", "--arms", "asha", "--minutes", "15"])
    runs = [
        {"task": "langid-words", "arm": "tfidf", "seed": 0, "test": 0.88, "C": 10.0},
        # The 0.93 network finished after the 15-minute mark: it does not count.
        _run(0, "asha", [[100.0, 0.9, 0.91, "a"], [905.0, 0.95, 0.93, "b"]]),
    ]
    md = text.markdown(runs, args, 910.0)
    assert "median test accuracy **91.00 %** over 1 seed(s) (per seed 0: 91.00 %)" in md
    assert "**met**" in md
    runs[1]["curve"][0][2] = 0.89
    assert "**missed**" in text.markdown(runs, args, 910.0)
    assert text.at_mark(_run(1, "asha", [[950.0, 0.9, 0.99, "c"]]), 900.0) is None


def test_task_args_and_seed_list_are_checked() -> None:
    args = text.parse_args(["--task-args", '{"n_per_class": 50}', "--seed-list", "2,0"])
    assert args.task_kw == {"n_per_class": 50}
    assert args.seed_only == [0, 2]
    with pytest.raises(SystemExit):
        text.parse_args(["--task-args", "n_per_class=50"])
    with pytest.raises(SystemExit):
        text.parse_args(["--seed-list", "one"])


def test_a_sitting_keeps_other_seeds_with_the_same_settings_only(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    first = text.parse_args(["--tasks", "langid-words", "--arms", "asha", "--minutes", "15",
                             "--seed-list", "0", "--results", str(results)])  # fmt: skip
    old = [{"task": "langid-words", "arm": "tfidf", "seed": 0, "test": 0.9},
           _run(0, "asha", [])]  # fmt: skip
    results.write_text(json.dumps({"settings": text._settings(first), "runs": old}))
    later = text.parse_args(["--tasks", "langid-words", "--arms", "asha", "--minutes", "15",
                             "--seed-list", "1", "--results", str(results)])  # fmt: skip
    assert [r["arm"] for r in text.kept_runs(later)] == ["tfidf", "asha"]
    rerun = text.parse_args(["--tasks", "langid-words", "--arms", "asha", "--minutes", "15",
                             "--seed-list", "0", "--results", str(results)])  # fmt: skip
    assert text.kept_runs(rerun) == []  # seed 0 is run again, not kept
    other = text.parse_args(["--tasks", "langid-words", "--arms", "asha", "--minutes", "10",
                             "--seed-list", "1", "--results", str(results)])  # fmt: skip
    assert text.kept_runs(other) == []
