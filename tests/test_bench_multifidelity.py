"""benchmarks/multifidelity.py on a tiny synthetic task-family table (its --quick mode)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import multifidelity as mf
import scipy.stats  # imported once here: the Wilcoxon test is then fast

TASKS = ("mnist1d", "digits")


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("family") / "family.csv.gz"
    return str(mf.synthetic_table(path, TASKS, n_archs=16, seed=0))


def test_clock_charges_incremental_epochs(table_path: str) -> None:
    table = mf.load_table("mnist1d", table_path)
    clock = mf.Clock(table, horizon_s=math.inf)
    clock.charge(3, 0, 1)
    clock.charge(3, 1, 3)
    # Continuing from epoch 1 to 3 costs train_time(3) - train_time(1): in all, train_time(3).
    assert clock.now == pytest.approx(table.time[3, 2])
    assert [e for _, _, e in clock.events] == [1, 3]
    best = int(np.nanargmax(table.final))
    clock.charge(best, 0, table.n_epochs)
    assert clock.finished  # the table's best trained to the end: nothing more to measure


def test_asha_continues_runs_and_pays_only_the_extra_epochs(table_path: str) -> None:
    table = mf.load_table("mnist1d", table_path)
    clock = mf.run_metanas("asha", table, 0, table.t_all, 0)
    segments = clock.segments  # type: ignore[attr-defined]
    assert any(start > 0 for _, start, _, _ in segments)  # promoted trials were continued
    for row, start, stop, cost in segments:
        assert cost == pytest.approx(table.cost(row, start, stop))
    assert clock.now == pytest.approx(sum(c for *_, c in segments))
    assert clock.finished


def test_run_metrics_time_to_top_and_regret(table_path: str) -> None:
    table = mf.load_table("mnist1d", table_path)
    order = np.argsort(-table.final)
    best, second = int(order[0]), int(order[1])
    t_all = table.t_all
    events = [(0.5 * t_all, second, 15), (0.6 * t_all, best, 1), (0.7 * t_all, best, 15)]
    m = mf.run_metrics(table, events, horizon_s=t_all, top=table.top(0.005))
    assert table.top(0.005) == {best}  # 16 architectures: the top 0.5 % is the best one
    assert m["time_to_top_s"] == pytest.approx(0.7 * t_all)
    gap = table.final[best] - table.final[second]
    # Checkpoints 0.02 .. 0.2 precede any full training; 0.5 has the second; 1.0 the best.
    worst = table.final[best] - np.nanmin(table.final)
    assert m["regret"][:4] == pytest.approx([worst] * 4)
    assert m["regret"][4] == pytest.approx(gap)
    assert m["regret"][5] == 0.0
    assert m["test_accuracy"] == pytest.approx(table.test[best, -1])
    # Past the horizon nothing counts.
    late = mf.run_metrics(table, events, horizon_s=0.65 * t_all, top=table.top(0.005))
    assert late["time_to_top_s"] is None


def test_paired_ratio_and_wilcoxon() -> None:
    a = {s: 10.0 + s for s in range(8)}
    b = {s: 40.0 + 2 * s for s in range(8)}
    point, lo, hi, seeds, kind = mf.paired_ratio(a, b, cap=1000.0, n_boot=200)
    assert seeds == list(range(8))
    assert kind == "="
    assert point == pytest.approx(np.median(list(a.values())) / np.median(list(b.values())))
    assert lo <= point <= hi
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    assert mf.wilcoxon_p(xa, xb, alternative="less") < 0.01
    assert mf.wilcoxon_p(np.ones(5), np.ones(5), alternative="less") == 1.0
    # b's runs never got there: counted at the cap, so the ratio is an upper bound.
    censored = dict.fromkeys(range(8), math.inf)
    point, *_, kind = mf.paired_ratio(a, censored, cap=100.0, n_boot=50)
    assert kind == "<="
    assert point == pytest.approx(np.median(list(a.values())) / 100.0)
    assert mf.paired_ratio(censored, censored, cap=100.0, n_boot=50)[-1] == "?"


@pytest.mark.parametrize("arm", ["synetune-asha", "synetune-asha-space"])
def test_synetune_asha_trains_each_listed_architecture_from_scratch_once(
    table_path: str, arm: str
) -> None:
    pytest.importorskip("syne_tune")
    table = mf.load_table("mnist1d", table_path)
    clock = mf.run_synetune(arm, table, 0, horizon_s=math.inf)
    started = [row for _, row, epoch in clock.events if epoch == 1]
    # Every run starts from scratch; no architecture is started twice while any is untrained.
    assert started == list(dict.fromkeys(started))
    assert clock.finished


def test_synetune_runs_repeat_with_their_seed_and_leave_numpys_global_state(
    table_path: str,
) -> None:
    pytest.importorskip("syne_tune")
    table = mf.load_table("mnist1d", table_path)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    runs = [mf.run_synetune("synetune-asha", table, s, math.inf).events for s in (4, 4, 5)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert (np.random.get_state()[1] == before).all()


def test_synetune_asha_draws_the_listed_architectures_uniformly(table_path: str) -> None:
    pytest.importorskip("syne_tune")
    table = mf.load_table("mnist1d", table_path)
    # The first architecture of each seed's run: uniform over the 16 listed ones, whereas a
    # projection from the decision space favours some (the bias synetune-asha avoids).
    firsts = [
        next(row for _, row, _ in mf.run_synetune("synetune-asha", table, s, 1e-9).events)
        for s in range(96)
    ]
    counts = np.bincount(firsts, minlength=len(table.archs))
    assert scipy.stats.chisquare(counts).pvalue > 0.001


@pytest.mark.slow
def test_quick_run_writes_section_and_results(table_path: str, tmp_path: Path) -> None:
    out, results = tmp_path / "benchmarks.md", tmp_path / "mf.json"
    arms = "random,optuna-sha"
    rc = mf.main(
        ["--table", table_path, "--tasks", ",".join(TASKS), "--arms", arms, "--quick",
         "--n-jobs", "1", "--quiet", "--output", str(out), "--results", str(results)]
    )  # fmt: skip
    assert rc == 0
    payload = json.loads(results.read_text())
    runs = payload["runs"]
    assert len(runs) == 2 * 2 * 3  # tasks x arms x seeds (--quick: 3 seeds)
    for r in runs:
        table = mf.load_table(r["task"], table_path)
        assert r["horizon_s"] == pytest.approx(table.t_all)
        if r["arm"] == "random":
            # Without repeats, full-fidelity random has trained everything by the horizon.
            assert r["time_to_top_s"] is not None
            assert r["time_to_top_s"] <= r["horizon_s"]
            assert r["regret"][-1] == 0.0
        assert r["test_accuracy"] is None or 0.0 < r["test_accuracy"] < 1.0
    text = out.read_text()
    assert "<!-- BEGIN multifidelity -->" in text
    assert "| mnist1d | optuna-sha |" in text


@pytest.mark.slow
def test_curve_settings_are_chosen_on_the_other_tasks_and_kept_runs_are_reported(
    table_path: str, tmp_path: Path
) -> None:
    out, results = tmp_path / "benchmarks.md", tmp_path / "mf.json"
    grid = [{"rule": "incumbent", "threshold": 0.1}, {"rule": "incumbent", "threshold": 0.9}]
    common = ["--table", table_path, "--tasks", ",".join(TASKS), "--quick", "--seeds", "1",
              "--n-jobs", "1", "--quiet", "--output", str(out)]  # fmt: skip
    first = tmp_path / "first.json"
    assert mf.main([*common, "--arms", "curve+memory", "--tune-seeds", "1",
                    "--curve-grid", json.dumps(grid), "--results", str(first)]) == 0  # fmt: skip
    tuning = json.loads(first.read_text())["curve_tuning"]
    assert tuning["seeds"] == [mf.TUNE_SEED0]
    assert len(tuning["runs"]) == 2 * 2  # settings x tasks x tuning seeds
    # Each task's setting is the best on the OTHER task (here: one other task).
    for held, other in (TASKS, TASKS[::-1]):

        def score(k: int, task: str = other) -> float:
            rs = [r for r in tuning["runs"] if r["task"] == task and r["setting"] == k]
            t = [r["horizon_s"] if r["time_to_top_s"] is None else r["time_to_top_s"] for r in rs]
            return float(np.median(t))

        assert tuning["chosen"][held] == grid[min((0, 1), key=lambda k: (score(k), k))] or (
            score(0) == score(1)
        )
    # A rerun of another arm keeps these runs and reports both.
    assert mf.main([*common, "--arms", "asha", "--keep-from", str(first),
                    "--results", str(results)]) == 0  # fmt: skip
    payload = json.loads(results.read_text())
    runs = payload["runs"]
    assert sorted({r["arm"] for r in runs}) == ["asha", "curve+memory"]
    assert "kept (not rerun) from first.json" in out.read_text()
    # The kept curve+memory runs are reported with the settings chosen for them then.
    assert payload["curve_tuning"]["chosen"] == tuning["chosen"]
    assert payload["curve_tuning"]["runs"] == tuning["runs"]
    assert "setting chosen (on the other tasks)" in out.read_text()


@pytest.mark.parametrize("arm", ["asha+meta", "curve+meta"])
def test_meta_arms_remember_the_other_tasks_only(
    arm: str, table_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import _meta_harness

    asked: list[tuple[str, ...]] = []
    real = _meta_harness.memory_for

    def recording(suite: object, past: tuple[str, ...], draw: int, n: int) -> object:
        asked.append(tuple(past))
        assert (draw, n) == (0, _meta_harness.FAMILY_MEMORY_TRIALS)
        return real(suite, past, draw, n)  # type: ignore[arg-type]

    monkeypatch.setattr(_meta_harness, "memory_for", recording)
    table = mf.load_table("mnist1d", table_path)
    settings = {"rule": "incumbent", "threshold": 0.1, "with_asha": True}
    clock = mf.run_metanas(arm, table, 0, table.t_all, 0, settings if arm == "curve+meta" else None)
    assert asked == [("digits",)]  # never the searched task
    segments = clock.segments  # type: ignore[attr-defined]
    assert segments
    assert all(c == pytest.approx(table.cost(r, a, b)) for r, a, b, c in segments)
