"""The language family of benchmarks/meta_text.py and its paired report, on made-up runs."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import meta_text
import scipy.stats  # noqa: F401  (imported once here: the Wilcoxon test is then fast)


def test_no_past_task_has_a_held_out_language() -> None:
    past = meta_text.past_languages()
    held = meta_text.held_out_languages()
    assert len(past) == len(set(past)) == 6
    assert len(held) == 3
    seen = {lang for langs in past for lang in langs}
    assert seen == set(meta_text.KNOWN)
    for langs, new in zip(held, meta_text.NEW, strict=True):
        assert len(langs) == 4
        assert new in langs
        assert set(langs) - seen == {new}


def _run(arm: str, seed: int, valid: list[float], cpu: list[float]) -> dict[str, object]:
    trials = [
        {"arch": "{}", "valid": v, "test": v - 0.01, "cpu": c, "wall": 2 * c}
        for v, c in zip(valid, cpu, strict=True)
    ]
    return {"languages": ["de", "en", "es", "pl"], "task": "t", "seed": seed, "arm": arm,
            "trials": trials}  # fmt: skip


def test_report_pairs_by_seed_and_counts_not_reached_as_slowest() -> None:
    runs = [
        _run("bo", 0, [0.5, 0.8, 0.9], [10.0, 20.0, 30.0]),
        _run("meta", 0, [0.9, 0.7, 0.6], [6.0, 12.0, 18.0]),  # level 0.9 at 6 s of 30: 0.2
        _run("bo", 1, [0.7, 0.6, 0.5], [10.0, 20.0, 30.0]),
        _run("meta", 1, [0.6, 0.6, 0.6], [10.0, 20.0, 30.0]),  # never reaches 0.7
        _run("bo", 2, [0.5, 0.6, 0.8], [10.0, 20.0, 40.0]),
        _run("meta", 2, [0.5, 0.8, 0.5], [10.0, 20.0, 30.0]),  # 20 s of 40: 0.5
    ]
    body, numbers = meta_text.report(runs, argparse.Namespace(n_trials=3))
    assert numbers["pairs"] == 3
    assert numbers["not_reached"] == 1
    assert numbers["median_ratio"] == 0.5
    assert math.isinf(numbers["ci90"][1])
    assert "**met**" in body
    assert "not reached" in body
