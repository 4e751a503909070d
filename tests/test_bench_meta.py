"""The meta-learning benchmark harness (benchmarks/_meta_harness.py) on tiny synthetic tables."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _meta_harness as h
import _report
import meta_growing
import scipy.stats

from metanas.benchmarks.family import FAMILY_TASKS, family_architectures, family_space

TASKS = tuple(FAMILY_TASKS)[:3]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> h.Suite:
    """3 family tasks x 24 architectures; tasks share a quality, plus task noise."""
    import pandas as pd

    rng = np.random.default_rng(0)
    space = family_space()
    archs = family_architectures(24)
    q = rng.normal(size=len(archs))
    rows = []
    for task in TASKS:
        v = 0.6 + 0.1 * (q + 0.3 * rng.normal(size=len(archs)))
        for i, a in enumerate(archs):
            for e in (1, 2):
                rows.append({
                    "task": task, "seed": 0, "arch_id": i, "arch": space.format(a), "epoch": e,
                    "valid_accuracy": v[i], "test_accuracy": v[i], "train_time_s": float(e),
                    "params": 1.0, "flops": 1.0, "latency_ms": 0.1,
                })  # fmt: skip
    path = tmp_path_factory.mktemp("family") / "family.csv.gz"
    pd.DataFrame(rows).to_csv(path, index=False)
    return h.Suite("family", str(path))


def test_expected_best_of_random_matches_enumeration() -> None:
    values = np.array([0.3, 0.1, 0.7, 0.5, 0.5, 0.9])
    for k in (1, 2, 3, 6):
        brute = np.mean([max(c) for c in itertools.combinations(values, k)])
        assert h.expected_best_of_random(values, k) == pytest.approx(brute, rel=1e-12)
    with pytest.raises(ValueError, match=r"k must be in 1\.\.6"):
        h.expected_best_of_random(values, 7)


def test_expected_best_counts_failed_trainings_as_worst() -> None:
    values = np.array([np.nan, 0.2, 0.8])
    brute = np.mean([max(c) for c in itertools.combinations([0.2, 0.2, 0.8], 2)])
    assert h.expected_best_of_random(values, 2) == pytest.approx(brute)


def test_bootstrap_ratio_and_wilcoxon() -> None:
    a = np.array([1.0, 2.0, 1.0, 3.0, 2.0, 1.0, 2.0, 1.0])
    r, lo, hi = h.bootstrap_ratio(a, 2 * a)
    assert r == pytest.approx(0.5)
    assert lo == pytest.approx(0.5)
    assert hi == pytest.approx(0.5)
    r, lo, hi = h.bootstrap_ratio(np.zeros(4), np.zeros(4))
    assert (r, lo, hi) == (1.0, 1.0, 1.0)
    assert _report.wilcoxon_p(a, a) == 1.0
    assert _report.wilcoxon_p(a, a + 1.0) < 0.05
    # Ties at 0 count (split between the signs): 5 wins among 15 pairs is weaker evidence
    # than 5 wins among the 5 pairs that differ, which is what scipy's default would test.
    wins = np.array([1.0] * 5 + [0.0] * 10)
    assert _report.wilcoxon_p(wins, np.zeros(15)) > scipy.stats.wilcoxon(wins).pvalue
    # A pair with no finite difference (a run that never got there) is left out, not NaN.
    assert _report.wilcoxon_p(np.append(a, np.inf), np.append(a + 1.0, np.inf)) < 0.05
    with pytest.raises(ValueError, match="paired"):
        h.bootstrap_ratio(a, a[:3])


def test_memory_search_is_seeded_and_full_table_is_oracle(suite: h.Suite) -> None:
    first = h.memory_search(suite, TASKS[0], 0, 10)
    again = h.memory_search.__wrapped__(suite, TASKS[0], 0, 10)
    assert len(first) == 10
    assert first.keys == again.keys
    assert h.memory_search(suite, TASKS[0], 1, 10).keys != first.keys
    full = h.memory_search(suite, TASKS[0], 0, h.FULL)
    assert len(full) == 24
    assert full.best_value == pytest.approx(suite.bench(TASKS[0]).optimum(h.METRIC))


def test_a_suite_of_the_first_n_architectures(suite: h.Suite) -> None:
    first = h.Suite("family", suite.path, 12)
    bench = first.bench(TASKS[0])
    assert len(bench) == 12
    keys = {bench.space.key(a) for a in family_architectures(12)}
    assert {bench.space.key(a) for a in bench.space.enumerate()} == keys
    full = h.memory_search(first, TASKS[1], 0, h.FULL)
    assert len(full) == 12
    assert set(full.keys) == keys
    run = h.run_method(first, TASKS[0], "random", 0, 0, 12)
    assert len(run.values) == 12  # every one of the 12, nothing outside them
    # the exact best of 12 random picks out of 12 is the optimum of those 12: regret 0
    assert h.expected_random_regret(bench, 12) == pytest.approx(0.0, abs=1e-12)
    assert h.expected_random_regret(suite.bench(TASKS[0]), 12) > 0.0


def test_naive_order_ranks_by_mean_percentile(suite: h.Suite) -> None:
    mem = h.memory_for(suite, TASKS[1:], 0, h.FULL)
    order = h.naive_order(mem, k=2)
    assert 2 <= len(order) <= 4
    pct = []
    for arch in order:
        qs = []
        for hist in mem.values():
            ranks = np.argsort(np.argsort(hist.scores))
            qs.append((ranks[hist.index()[suite.bench(TASKS[0]).space.key(arch)]] + 1) / len(hist))
        pct.append(np.mean(qs))
    assert pct == sorted(pct, reverse=True)


def test_similar_replays_the_most_similar_task_first(suite: h.Suite) -> None:
    past = TASKS[1:]
    mem = h.memory_for(suite, past, 0, h.FULL)
    best = mem[h.most_similar(mem, suite.bench(TASKS[0]).task_descriptors())].best_value
    run = h.run_method(suite, TASKS[0], "similar", 0, 0, 5, past=past, memory=h.FULL)
    bench = suite.bench(TASKS[0])
    first = mem[h.most_similar(mem, bench.task_descriptors())].best_architectures(1)[0]
    assert run.values[0] == pytest.approx(bench.query(first, h.METRIC))
    assert best is not None


@pytest.mark.parametrize("method", ["random", "evolution", "naive"])
def test_runs_never_repeat_and_are_seeded(suite: h.Suite, method: str) -> None:
    kw = {"past": TASKS[1:], "memory": 10}
    a = h.run_method(suite, TASKS[0], method, 0, 3, 12, **kw)
    b = h.run_method(suite, TASKS[0], method, 0, 3, 12, **kw)
    np.testing.assert_array_equal(a.values, b.values)
    curve = h.regret_curve(suite, a, 12)
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] >= 0


def test_project_picks_the_nearest_unseen_row(suite: h.Suite) -> None:
    archs, _ = h.table_archs(suite, TASKS[0])
    space = suite.bench(TASKS[0]).space
    target = dict(archs[5])
    assert h.project(suite, TASKS[0], target, set()) == archs[5]
    got = h.project(suite, TASKS[0], target, {space.key(archs[5])})
    assert got != archs[5]


def test_summary_pairs_by_seed_and_selects_configs(suite: h.Suite) -> None:
    runs = []
    for seed in range(4):
        for cfg, shift in ((0, 0.0), (1, 0.05)):
            vals = np.full(5, 0.5 + shift)
            runs.append(h.Run(TASKS[0], "meta", 0, seed, vals, 0.0, 10, TASKS[1:], cfg))
            runs.append(h.Run(TASKS[1], "meta", 0, seed, vals, 0.0, 10, TASKS[:1], cfg))
        runs.append(h.Run(TASKS[0], "bo", -1, seed, np.full(5, 0.4), 0.0))
        runs.append(h.Run(TASKS[1], "bo", -1, seed, np.full(5, 0.4), 0.0))
    s = h.Summary(suite, runs, 5)
    a, b = s.paired(TASKS[0], s.select(TASKS[0], "meta", config=0), "bo", 5)
    assert len(a) == len(b) == 4
    assert np.all(a < b)
    # config 1 is better on the other task, so nested leave-one-task-out picks it for TASKS[0]
    assert h.select_config(s, TASKS[0], 2, "meta", 10, 5) == 1
    assert h.select_config(s, TASKS[0], 1, "meta", 10, 5) == 0


def test_save_and_load_round_trip(suite: h.Suite, tmp_path: Path) -> None:
    run = h.Run(TASKS[0], "meta", 1, 2, np.array([0.5, np.nan]), 0.1, 25, TASKS[1:], 1)
    h.save_runs(tmp_path / "r.json.gz", [run])
    (back,) = h.load_runs(tmp_path / "r.json.gz")
    assert (back.task, back.method, back.draw, back.seed, back.memory, back.past, back.config) == (
        run.task, run.method, run.draw, run.seed, run.memory, run.past, run.config
    )  # fmt: skip
    assert back.values[0] == 0.5
    assert np.isnan(back.values[1])


def test_growing_orders_and_jobs(suite: h.Suite) -> None:
    orders = meta_growing.orders(TASKS, 3)
    assert all(sorted(o) == sorted(TASKS) for o in orders)
    args = meta_growing.parse_args(["--quick", "--table", suite.path or ""])
    jobs = meta_growing.make_jobs(args, suite)
    assert {len(j["past"]) for j in jobs} == {0, 1, 2}
    assert all(j["method"] == "meta" and j["draw"] in (0, 1) for j in jobs)


def test_a_failing_arm_is_reported_not_fatal(suite: h.Suite) -> None:
    got = h.safe_run(h.job(suite, TASKS[0], "no-such-arm", seed=0, budget=3))
    assert isinstance(got, str)
    assert "no-such-arm" in got
    assert "unknown method" in got


def test_family_targets_on_made_up_runs(suite: h.Suite) -> None:
    import meta_family

    args = meta_family.parse_args(["--table", suite.path or "", "--n-trials", "20"])
    bench = {t: suite.bench(t) for t in TASKS}
    runs = []
    for t in TASKS:
        best = float(np.nanmax(bench[t].values(h.METRIC)))
        for seed in range(6):
            cold = np.full(20, best - 0.02 - 0.001 * seed)  # 2 points of regret and more
            runs.append(h.Run(t, "bo", -1, seed, cold, 0.0))
            meta = np.full(20, best - 0.002)
            meta[4:] = best  # the optimum at query 5
            past = tuple(x for x in TASKS if x != t)
            runs.append(h.Run(t, "meta", 0, seed, meta, 0.0, meta_family.MAIN_SIZE, past))
            runs.append(h.Run(t, "similar", 0, seed, np.full(20, best - 0.01), 0.0, 100, past))
    s = h.Summary(suite, runs, 20)
    lines, numbers = meta_family.report(s, args)
    assert numbers["n"] == 3
    assert numbers["half"] == 3
    assert numbers["ci_below1"] == 3
    assert numbers["not_worse"] == 3
    assert numbers["median_top_ratio"] == pytest.approx(5 / 21)
    text = "\n".join(lines)
    assert text.count("**met**") == 3
    assert "nothing was chosen on these runs" in text


def test_numpy_scalars_become_the_spaces_choices() -> None:
    got = h._as_choice((16, 32, 64), np.int64(32))
    assert got == 32
    assert type(got) is int
    assert h._as_choice((True, False), np.bool_(False)) is False
    assert h._as_choice((1, True), True) is True


def test_growing_verdict_counts_a_fall_to_the_floor_and_not_noise(suite: h.Suite) -> None:
    """A memory that takes most runs to regret 0 falls; equal distributions do not."""
    args = meta_growing.parse_args(["--table", suite.path or "", "--n-trials", "20"])
    bench = {t: suite.bench(t) for t in TASKS}
    best = {t: float(np.nanmax(bench[t].values(h.METRIC))) for t in TASKS}
    rng = np.random.default_rng(0)

    def runs(regret: dict[int, list[float]]) -> list[h.Run]:
        out = []
        for k, values in regret.items():
            for i, r in enumerate(values):
                t = TASKS[i % len(TASKS)]
                out.append(h.Run(t, "meta", 0, i, np.full(20, best[t] - r), 0.0, 100, TASKS[:k]))
        return out

    # Half the empty-memory runs already at 0: the first row's interval starts at the floor.
    cold = [0.0] * 20 + list(0.01 + 0.02 * rng.random(20))
    lines, numbers = meta_growing.report(h.Summary(suite, runs({0: cold, 1: [0.0] * 40}), 20), args)
    assert numbers["falls"]
    assert not numbers["intervals_apart"]
    assert numbers["p_mannwhitney"] < 0.05
    assert "overlap at the floor" in "\n".join(lines)
    _, same = meta_growing.report(h.Summary(suite, runs({0: cold, 1: cold}), 20), args)
    assert not same["falls"]
