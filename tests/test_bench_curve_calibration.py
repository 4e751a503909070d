"""benchmarks/curve_calibration.py on synthetic task families (the real run reads the table)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import curve_calibration as cc


def _task(n: int, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(1, 16)
    top = np.clip(level + rng.normal(0, 0.05, (n, 1)), 0.1, 0.99)
    gain = rng.uniform(0.1, 0.4, (n, 1))
    rate = rng.uniform(0.3, 1.5, (n, 1))
    return np.clip(top - gain * t**-rate + rng.normal(0, 0.008, (n, 15)), 0, 1)


@pytest.fixture(scope="module")
def curves() -> dict[str, np.ndarray]:
    return {f"t{i}": _task(40, lv, i) for i, lv in enumerate((0.6, 0.7, 0.8))}


def test_the_extrapolation_table_reports_coverage_and_beats_the_naive_guess(
    curves: dict[str, np.ndarray],
) -> None:
    lines, per_task = cc.extrapolate_rows(curves)
    rows = [ln for ln in lines if ln.startswith("| first") or ln.startswith("| rungs")]
    assert len(rows) == len(cc.KS) + 1
    for name, covers in per_task.items():
        assert len(covers) == len(curves)
        assert 0.6 <= float(np.mean(covers)) <= 1.0, name
    # model / naive (last column, "ratio [lo, hi]") is below 1 while few epochs are seen
    ratio, lo, hi = map(float, re.findall(r"[\d.]+", rows[0].split("|")[-2]))
    assert ratio < 0.8
    assert lo <= ratio <= hi


def test_the_incumbent_table_counts_every_pair_but_the_incumbent_itself(
    curves: dict[str, np.ndarray],
) -> None:
    lines, stopped_above = cc.incumbent_rows(curves)
    n_top = round(0.2 * 40)
    pairs = len(curves) * n_top * 39
    row = next(ln for ln in lines if ln.startswith("| 1, 3, 9 |"))
    assert row.split("|")[2].strip() == f"{pairs:,}"
    # A stopped curve (P < 0.1) rarely ends above the incumbent.
    assert stopped_above["1, 3, 9"] < 0.1
