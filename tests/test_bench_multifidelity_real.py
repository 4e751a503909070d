"""benchmarks/multifidelity_real.py: seed lists, chunked runs merged into one results file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import multifidelity_real as mfr


def test_parse_seeds_reads_lists_and_ranges() -> None:
    assert mfr.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert mfr.parse_seeds("3, 1,1") == [1, 3]
    assert mfr.parse_seeds("0-1,7") == [0, 1, 7]
    for bad in ("a", "4-2", "", "1-x"):
        with pytest.raises(ValueError, match="--seed-list"):
            mfr.parse_seeds(bad)
    with pytest.raises(SystemExit):
        mfr.parse_args(["--seed-list", "2-1"])


def fake_run(task: str, arm: str, seed: int, minutes: float, args: Any) -> dict[str, Any]:
    """A run whose chosen architecture reaches 0.98 + seed/1000 after half its time."""
    test = 0.98 + seed / 1000 + (0.004 if arm == "bo" else 0.0)
    return {
        "task": task, "arm": arm, "seed": seed, "minutes": minutes,
        "settings": mfr.run_settings(task, arm, args), "wall_s": minutes * 60,
        "n_trials": 3, "n_full": 1, "n_pruned": 1,
        "curve": [(minutes * 30, 0.9, test - 0.01), (minutes * 60 - 1, 0.95, test)],
    }  # fmt: skip


@pytest.fixture
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: list[tuple[str, str, int]] = []

    def one_search(task: str, arm: str, seed: int, minutes: float, args: Any) -> dict[str, Any]:
        calls.append((task, arm, seed))
        return fake_run(task, arm, seed, minutes, args)

    monkeypatch.setattr(mfr, "one_search", one_search)
    # The real header asks git and the machine; the rows under test come from the runs.
    monkeypatch.setattr(mfr, "header", lambda title, extra=None: f"## {title}\n\n{extra}\n")
    doc = tmp_path / "bench.md"
    doc.write_text("# benchmarks\n")
    common = ["--tasks", "mnist1d", "--results", str(tmp_path / "r.json"), "--output", str(doc)]
    return {"calls": calls, "doc": doc, "common": common, "results": tmp_path / "r.json"}


def test_chunks_merge_by_task_arm_seed_and_skip_stored_runs(chunked: dict[str, Any]) -> None:
    c = chunked
    assert mfr.main([*c["common"], "--arms", "asha", "--seed-list", "0-1"]) == 0
    assert mfr.main([*c["common"], "--arms", "asha,bo", "--seed-list", "0-2"]) == 0
    # asha 0 and 1 were stored by the first chunk: the second runs only what is missing.
    assert c["calls"] == [
        ("mnist1d", "asha", 0), ("mnist1d", "asha", 1),
        ("mnist1d", "bo", 0), ("mnist1d", "bo", 1), ("mnist1d", "asha", 2), ("mnist1d", "bo", 2),
    ]  # fmt: skip
    stored = json.loads(c["results"].read_text())["runs"]
    assert sorted((r["arm"], r["seed"]) for r in stored) == [
        ("asha", 0), ("asha", 1), ("asha", 2), ("bo", 0), ("bo", 1), ("bo", 2),
    ]  # fmt: skip
    text = c["doc"].read_text()
    assert "| mnist1d | 3 | 98.5 % | asha | 3 |" in text
    assert "| mnist1d | 9 | 98.5 % | bo | 3 |" in text
    # bo is 0.4 points better on every seed: the paired difference says so, and misses 0.3.
    assert "asha minus bo @3x (paired by seed, 3 seed(s)): -0.40" in text
    # Three seeds decide neither target: the verdict says so, and what these seeds show.
    assert (
        "within 0.3 points of bo given 3x the time: **not established** "
        "(fewer than 5 seeds; missed on these 3)" in text
    )
    # asha's median over seeds 0-2 is 98.1 %: below 98.5 %, on too few seeds.
    assert "(fewer than 5 seeds; missed on these 3), median 98.10 % over 3 seed(s)" in text
    assert "**fashion-mnist: not run**" in text
    assert "seeds per task and arm: mnist1d bo: 3, mnist1d asha: 3" in text
    c["calls"].clear()
    assert mfr.main([*c["common"], "--arms", "asha", "--seed-list", "1", "--rerun"]) == 0
    assert c["calls"] == [("mnist1d", "asha", 1)]
    assert len(json.loads(c["results"].read_text())["runs"]) == 6


def test_runs_with_other_settings_are_left_out_and_redone(chunked: dict[str, Any]) -> None:
    c = chunked
    mfr.main([*c["common"], "--arms", "asha", "--seed-list", "0", "--max-epochs", "9"])
    c["calls"].clear()
    mfr.main([*c["common"], "--arms", "asha", "--seed-list", "0-1"])
    assert c["calls"] == [("mnist1d", "asha", 0), ("mnist1d", "asha", 1)]
    stored = json.loads(c["results"].read_text())["runs"]
    assert [r["settings"]["max_epochs"] for r in stored] == [15, 15]


def test_budget_minutes_leaves_the_rest_for_the_next_chunk(
    chunked: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = chunked
    clock = iter(range(0, 10_000, 180))  # every run takes 3 minutes of the fake clock
    monkeypatch.setattr(mfr.time, "perf_counter", lambda: float(next(clock)))
    mfr.main([*c["common"], "--arms", "asha", "--seed-list", "0-4", "--budget-minutes", "10"])
    assert [s for _, _, s in c["calls"]] == [0, 1]  # a third would end after 10 minutes
    assert "left for the next invocation: mnist1d/asha/2 mnist1d/asha/3" in capsys.readouterr().out


def test_median_ci_brackets_the_median() -> None:
    m, lo, hi = mfr.median_ci([0.97, 0.98, 0.99, 0.985, 0.975])
    assert m == pytest.approx(0.98)
    assert lo <= m <= hi
    assert lo >= 0.97
    assert hi <= 0.99


def test_every_multifidelity_arm_builds_its_scheduler_and_strategy() -> None:
    assert mfr.ARMS[0] == "bo"
    assert set(mfr.ARMS[1:]) == set(mfr.MF_ARMS)
    assert mfr.arm_setup("bo", 15, 0) == ("bo", None)
    for arm, (sched, strategy, first) in mfr.MF_ARMS.items():
        got_strategy, scheduler = mfr.arm_setup(arm, 15, 0)
        assert got_strategy == strategy
        assert type(scheduler).registered_name == sched
        assert scheduler.rungs[0] == first
        assert scheduler.rungs[-1] == 15
    # The first runs' arms keep their settings (their stored runs stay in the table).
    assert mfr.MF_ARMS["asha"] == ("asha", "random", 1)
    assert mfr.MF_ARMS["asha+curve"] == ("curve", "random", 1)
    # The memory arms remember other tasks only, never the one they search.
    for task, spec in mfr.TASKS.items():
        assert task not in spec["memory"]


def test_a_later_arm_is_tabled_paired_and_its_tuning_summarised(
    chunked: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import multifidelity_real_tune as tune

    c = chunked
    monkeypatch.setattr(tune, "rank_diagnosis", lambda: [(1, 0.4, 0.55), (5, 0.93, 1.0)])
    tuning = tmp_path / "tuning.json"
    row = {"horizon_full": 25.0, "task": "mnist1d-shear", "seed": 100, "n_full": 5}
    tuning.write_text(json.dumps({"rows": [
        {**row, "candidate": "asha+bo@5", "regret": 0.0, "test": 0.95},
        {**row, "candidate": "asha+random@1", "regret": 0.01, "test": 0.94},
    ]}))  # fmt: skip
    new = next(a for a, spec in mfr.MF_ARMS.items() if spec[2] != mfr.MIN_EPOCHS)
    common = [*c["common"], "--tuning", str(tuning)]
    assert mfr.main([*common, "--arms", f"bo,{new}", "--seed-list", "0-1"]) == 0
    text = c["doc"].read_text()
    assert f"| mnist1d | 3 | 98.5 % | {new} | 2 |" in text
    assert f"{new} minus bo @3x (paired by seed, 2 seed(s)): -0.40" in text
    assert "epoch 1: Spearman 0.40, 55 % of the final top 10 % in the top third" in text
    assert "| 25 | asha+bo@5 | 1 | 0.00 | 95.00 |" in text
    assert "| 25 | asha+random@1 | 1 | 1.00 | 94.00 |" in text


def test_arm_settings_apply_to_their_arm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dict(mfr.TASKS["fashion-mnist"])
    spec["arm_settings"] = {"asha+meta@5": {"max_mflops": 25.0, "memory_storage": "m.db"}}
    monkeypatch.setitem(mfr.TASKS, "fashion-mnist", spec)
    args = mfr.parse_args(["--tasks", "fashion-mnist"])
    meta = mfr.run_settings("fashion-mnist", "asha+meta@5", args)
    bo = mfr.run_settings("fashion-mnist", "asha+bo@5", args)
    assert (meta["max_mflops"], meta["memory_storage"]) == (25.0, "m.db")
    assert bo["max_mflops"] == mfr.TASKS["fashion-mnist"]["max_mflops"]
    assert "memory_storage" not in bo
    # The stored value is the bare path (it matches on any checkout); the URL is the repo's file.
    assert mfr.storage_url("m.db") == f"sqlite:///{mfr.REPO / 'm.db'}"
    assert mfr.storage_url("sqlite:////x.db") == "sqlite:////x.db"
    # A command-line override still applies to every arm, the memory included.
    args = mfr.parse_args(["--tasks", "fashion-mnist", "--max-mflops", "12"])
    assert mfr.run_settings("fashion-mnist", "asha+meta@5", args)["max_mflops"] == 12.0


def test_memory_pair_is_read_at_the_same_time_per_seed() -> None:
    def run(arm: str, seed: int, points: list[tuple[float, float]]) -> dict[str, Any]:
        return {"arm": arm, "seed": seed, "curve": [(t, 0.9, acc) for t, acc in points]}

    runs = [
        run("asha+meta@5", 0, [(100, 0.92), (700, 0.95)]),  # 0.95 comes after the mark
        run("asha+bo@5", 0, [(300, 0.91)]),
        run("asha+meta@5", 1, []),  # nothing trained fully: counts as 0
        run("asha+bo@5", 1, [(50, 0.90)]),
        run("asha+meta@5", 2, [(10, 0.93)]),  # no asha+bo@5 run of seed 2: left out
    ]
    d = mfr.paired_arms(runs, "asha+meta@5", "asha+bo@5", 600)
    assert [s for s, _ in d] == [0, 1]
    assert d[0][1] == pytest.approx(0.01)
    assert d[1][1] == pytest.approx(-0.90)
    assert mfr.wilcoxon_text([0.01, -0.9]) == ""  # fewer than 5 pairs: no test
    assert "p = 0.062" in mfr.wilcoxon_text([0.01, 0.02, 0.03, 0.04, 0.05])


def test_curve_arm_gets_the_family_curves(monkeypatch: pytest.MonkeyPatch) -> None:
    # asha+curve once died with UnboundLocalError: a function-level import of the meta arm's
    # helper shadowed the curve helper's name in every arm.
    given: list[bool] = []
    import metanas

    def optimize(self: Any, *a: Any, **kw: Any) -> None:
        given.append(self.scheduler.model is not None)

    monkeypatch.setattr(metanas.Study, "optimize", optimize)
    args = mfr.parse_args(["--quick", "--tasks", "mnist1d"])
    run = mfr.one_search("mnist1d", "asha+curve", 0, 0.01, args)
    assert run["n_trials"] == 0
    assert given == [True]  # the model was fitted on the family's curves: not plain ASHA


def test_verdict_needs_five_seeds_to_decide() -> None:
    assert mfr.verdict(True, 5) == "**met**"
    assert mfr.verdict(False, 7) == "**missed**"
    # Two seeds that meet a target do not meet it yet: the line must not read "met".
    two = mfr.verdict(True, 2)
    assert two.startswith("**not established**")
    assert "met on these 2" in two


def test_bo_is_told_results_as_they_arrive() -> None:
    args = mfr.parse_args([])
    # A bo run made with trial-order tells (a worker idle behind the oldest trial) no longer
    # matches, so it is run again.
    assert mfr.run_settings("mnist1d", "bo", args)["tell_order"] == "finish"
    assert "tell_order" not in mfr.run_settings("mnist1d", "asha", args)
