"""benchmarks/speech.py: the verdict read at the time mark, and merging runs of several sittings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import speech

SETTINGS = {
    "strategy": "evolution", "minutes": 15.0, "n_jobs": 2, "min_epochs": 2.0, "max_epochs": 18,
    "batch_size": 64, "lr": 0.003, "max_blocks": 4, "max_mflops": 30.0,
    "augment": "specaugment-vtlp", "task_kw": {},
}  # fmt: skip


def _run(seed: int, curve: list[list[Any]], best_trial: int, best_test: float) -> dict[str, Any]:
    return {
        "seed": seed, "method": "asha", "wall_s": 930.0, "n_trials": 10,
        "states": {"COMPLETE": 5}, "curve": curve, "n_test": 420, "hardware": "cpu",
        "best": {"trial": best_trial, "arch": "a", "valid_accuracy": curve[-1][1],
                 "test_accuracy": best_test, "params": 1, "found_s": curve[-1][0]},
    }  # fmt: skip


def test_at_mark_reads_the_incumbent_at_the_mark_not_the_final_best() -> None:
    # The final best completed after 15 min (in flight at the mark): the mark sees the earlier one.
    run = _run(0, [[100.0, 0.90, 3, 0.91], [400.0, 0.93, 7, 0.94], [905.0, 0.97, 9, 0.96]], 9, 0.96)
    assert speech.at_mark(run, 15.0) == pytest.approx(0.94)
    assert speech.at_mark(run, 1.0) is None
    # An older run's curve has no test column: only its final best's test is known.
    old = _run(1, [[100.0, 0.90, 3], [400.0, 0.93, 7]], 7, 0.95)
    assert speech.at_mark(old, 15.0) == pytest.approx(0.95)
    assert speech.at_mark(old, 5.0) is None


def test_verdict_uses_the_mark_and_counts_an_unknown_seed_as_missing(tmp_path: Path) -> None:
    runs = [
        _run(0, [[300.0, 0.95, 4, 0.955]], 4, 0.955),
        _run(1, [[300.0, 0.95, 4, 0.96]], 4, 0.96),
        # Best found only after the mark: at 15 min this seed had the 0.90 network.
        _run(2, [[200.0, 0.90, 1, 0.90], [950.0, 0.97, 8, 0.97]], 8, 0.97),
    ]
    args = speech.parse_args(["--section", "x", "--minutes", "15"])
    md = speech.markdown({"search": runs, "small-cnn": []}, args)
    assert "at the 15-minute mark" in md
    assert "**95.5 %** over 3 seed(s) (per seed 0: 95.5 %, 1: 96.0 %, 2: 90.0 %): **met**" in md
    runs[1]["curve"] = [[300.0, 0.95, 4, 0.93]]
    md = speech.markdown({"search": runs, "small-cnn": []}, args)
    assert "**93.0 %**" in md
    assert "**missed**" in md


def test_merge_joins_runs_with_the_same_settings_and_refuses_others(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"args": SETTINGS, "search": [_run(0, [[1.0, 0.9, 1, 0.9]], 1, 0.9)]}))
    b.write_text(json.dumps({"args": SETTINGS, "search": [_run(1, [[1.0, 0.9, 1, 0.9]], 1, 0.9)]}))
    merged = speech.merge_raw([b, a])
    assert [r["seed"] for r in merged["search"]] == [0, 1]
    with pytest.raises(ValueError, match="asha seed 0 is in two files"):
        speech.merge_raw([a, a])
    b.write_text(json.dumps({"args": {**SETTINGS, "augment": None}, "search": []}))
    with pytest.raises(ValueError, match="augment=None"):
        speech.merge_raw([a, b])
    with pytest.raises(ValueError, match="does not exist"):
        speech.merge_raw([tmp_path / "missing.json"])
