"""Pareto utilities, each checked against a brute-force definition."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from metanas.benchmarking import (
    ParetoComparison,
    ParetoRun,
    run_pareto_comparison,
    run_pareto_one,
)
from metanas.benchmarks import NasBenchGraph
from metanas.exceptions import UnknownNameError
from metanas.pareto import (
    crowding_distance,
    hypervolume,
    non_dominated_sort,
    pareto_front,
    plot_pareto,
)

# ---------------------------------------------------------------- brute force


def _oriented(points: np.ndarray, directions: tuple[str, ...] | None) -> np.ndarray:
    if directions is None:
        return points
    return points * np.array([1.0 if d.startswith("max") else -1.0 for d in directions])


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a dominates b, everything maximised."""
    return bool(np.all(a >= b) and np.any(a > b))


def _brute_front(points: np.ndarray, directions: tuple[str, ...] | None = None) -> list[int]:
    p = _oriented(points, directions)
    return [
        i for i in range(len(p)) if not any(_dominates(p[j], p[i]) for j in range(len(p)) if j != i)
    ]


def _brute_hv(points: np.ndarray, reference: np.ndarray, directions: tuple[str, ...]) -> float:
    """Exact hypervolume by summing the cells of the coordinate grid that some point dominates."""
    s = np.array([1.0 if d.startswith("max") else -1.0 for d in directions])
    p, r = -s * points, -s * reference  # minimisation
    p = p[np.all(p < r, axis=1)]
    if len(p) == 0:
        return 0.0
    axes = [np.unique(np.append(p[:, k], r[k])) for k in range(p.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        lo = np.array([axes[k][i] for k, i in enumerate(cell)])
        hi = np.array([axes[k][i + 1] for k, i in enumerate(cell)])
        if np.any(np.all(p <= lo, axis=1)):
            total += float(np.prod(hi - lo))
    return total


def _random_points(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    # A coarse integer grid makes ties and duplicate points common.
    return rng.integers(0, 6, size=(n, m)).astype(float)


DIRECTION_SETS = {
    1: [("maximize",), ("min",)],
    2: [("maximize", "minimize"), ("min", "min"), ("max", "max")],
    3: [("maximize", "minimize", "maximize"), ("min", "min", "min")],
    4: [("max", "min", "max", "min")],
}


# ---------------------------------------------------------------- fronts


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_front_matches_brute_force(m: int) -> None:
    rng = np.random.default_rng(m)
    for trial in range(60):
        pts = _random_points(rng, int(rng.integers(1, 25)), m)
        for dirs in DIRECTION_SETS[m]:
            assert pareto_front(pts, dirs).tolist() == _brute_front(pts, dirs), (trial, dirs)
        assert pareto_front(pts).tolist() == _brute_front(pts)


def test_pareto_front_on_continuous_points_and_a_whole_table_size() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(400, 2))
    assert pareto_front(pts, ("max", "min")).tolist() == _brute_front(pts, ("max", "min"))
    big = rng.normal(size=(30_000, 2))  # the size of a NAS-Bench-Graph table
    front = pareto_front(big)
    assert 1 <= len(front) < 100
    for f in big[front]:  # nothing in the table dominates a front point
        assert not np.any(np.all(big >= f, axis=1) & np.any(big > f, axis=1))
    rest = np.delete(big, front, axis=0)[:500]
    for q in rest:  # and every other point is dominated by the front
        assert np.any(np.all(big[front] >= q, axis=1) & np.any(big[front] > q, axis=1))


def test_equal_points_are_all_on_the_front() -> None:
    pts = [[1.0, 2.0], [1.0, 2.0], [0.0, 3.0], [0.0, 1.0]]
    assert pareto_front(pts).tolist() == [0, 1, 2]
    assert pareto_front([[5.0], [5.0], [4.0]]).tolist() == [0, 1]


@pytest.mark.parametrize("m", [1, 2, 3])
def test_non_dominated_sort_matches_peeling_brute_force_fronts(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    for _ in range(40):
        pts = _random_points(rng, int(rng.integers(1, 30)), m)
        dirs = DIRECTION_SETS[m][0]
        fronts = non_dominated_sort(pts, dirs)
        left = list(range(len(pts)))
        expected = []
        while left:
            sub = [left[i] for i in _brute_front(pts[left], dirs)]
            expected.append(sub)
            left = [i for i in left if i not in sub]
        assert [f.tolist() for f in fronts] == expected
        assert sorted(int(i) for f in fronts for i in f) == list(range(len(pts)))


def test_non_dominated_sort_of_nothing() -> None:
    assert non_dominated_sort(np.zeros((0, 2))) == []
    assert pareto_front(np.zeros((0, 3))).tolist() == []


# ---------------------------------------------------------------- crowding


def _brute_crowding(p: np.ndarray) -> list[float]:
    n, m = p.shape
    if n <= 2:
        return [math.inf] * n
    out = [0.0] * n
    for j in range(m):
        order = sorted(range(n), key=lambda i: (p[i, j], i))
        lo, hi = p[order[0], j], p[order[-1], j]
        out[order[0]] = out[order[-1]] = math.inf
        for k in range(1, n - 1):
            if hi > lo and not math.isinf(out[order[k]]):
                out[order[k]] += (p[order[k + 1], j] - p[order[k - 1], j]) / (hi - lo)
    return out


def test_crowding_distance_matches_the_definition() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.normal(size=(int(rng.integers(1, 12)), int(rng.integers(1, 4))))
        assert crowding_distance(p).tolist() == pytest.approx(_brute_crowding(p))


def test_crowding_distance_edge_cases() -> None:
    assert crowding_distance([[1.0, 2.0]]).tolist() == [math.inf]
    assert crowding_distance([[1.0, 2.0], [2.0, 1.0]]).tolist() == [math.inf, math.inf]
    # An objective without spread adds nothing; the other still spaces the points.
    d = crowding_distance([[0.0, 1.0], [1.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    assert d.tolist() == [math.inf, pytest.approx(0.75), pytest.approx(0.75), math.inf]


# ---------------------------------------------------------------- hypervolume


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_matches_the_grid_brute_force(m: int) -> None:
    rng = np.random.default_rng(100 + m)
    n_max = {1: 20, 2: 25, 3: 12, 4: 7}[m]
    for _ in range(25):
        pts = _random_points(rng, int(rng.integers(1, n_max)), m)
        for dirs in DIRECTION_SETS[m]:
            ref = np.array([-1.0 if d.startswith("max") else 6.0 for d in dirs])
            ref += rng.integers(0, 3, size=m) * np.where(ref < 0, 1, -1)  # cut some points off
            got = hypervolume(pts, ref, dirs)
            assert got == pytest.approx(_brute_hv(pts, ref, dirs), abs=1e-9)


def test_hypervolume_of_simple_cases() -> None:
    assert hypervolume([[2.0, 3.0]], reference=(0.0, 0.0)) == 6.0
    assert hypervolume([[1, 3], [2, 2], [3, 1]], reference=(0, 0)) == 6.0
    # Dominated and duplicate points add nothing.
    assert hypervolume([[1, 3], [2, 2], [3, 1], [1, 1], [2, 2]], reference=(0, 0)) == 6.0
    # Points not strictly better than the reference in every objective add nothing.
    assert hypervolume([[0.0, 5.0], [-1.0, 9.0]], reference=(0.0, 0.0)) == 0.0
    assert hypervolume(np.zeros((0, 2)), reference=(0.0, 0.0)) == 0.0
    assert hypervolume([], reference=(1.0, 1.0)) == 0.0
    # Accuracy up, latency down.
    hv = hypervolume([[0.8, 0.002]], reference=(0.5, 0.004), directions=("max", "min"))
    assert hv == pytest.approx(0.3 * 0.002)


def test_hypervolume_is_invariant_to_units_as_a_ratio() -> None:
    rng = np.random.default_rng(7)
    pts = rng.random((30, 2))
    ref = np.array([0.0, 1.0])
    dirs = ("max", "min")
    full = hypervolume(pts, ref, dirs)
    part = hypervolume(pts[:10], ref, dirs)
    scale = np.array([100.0, 0.001])
    scaled = hypervolume(pts[:10] * scale, ref * scale, dirs) / hypervolume(
        pts * scale, ref * scale, dirs
    )
    assert scaled == pytest.approx(part / full)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pareto_front([1.0, 2.0]), r"2-D array of shape \(n_points, n_objectives\)"),
        (lambda: pareto_front([[1.0, math.nan]]), r"must be finite; row 0 holds nan"),
        (lambda: pareto_front([[1.0, 2.0]], ("max",)), r"one direction per objective: the"),
        (lambda: pareto_front([[1.0, 2.0]], ("max", "up")), r"'maximize' or 'minimize'.*'up'"),
        (lambda: hypervolume([[1.0, 2.0]], (0.0,)), r"reference must be 2 finite number"),
        (lambda: hypervolume([[1.0, 2.0]], (0.0, math.inf)), r"reference must be 2 finite"),
        (lambda: crowding_distance(np.zeros((3, 0))), r"at least one objective"),
    ],
)
def test_bad_input_raises_clear_errors(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


# ---------------------------------------------------------------- plots


@pytest.mark.slow
def test_plot_pareto_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.lognormal(-5, 1, 500), rng.random(500)])
    found = table[rng.choice(500, 40, replace=False)]
    front = table[pareto_front(table, ("min", "max"))]
    out = plot_pareto(
        {"true front": front, "search": found}, tmp_path / "sub" / "front.png",
        directions=("minimize", "maximize"), labels=("latency", "valid_accuracy"),
        title="test", background=table, logx=True,
    )  # fmt: skip
    assert out == tmp_path / "sub" / "front.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000


def test_plot_pareto_needs_two_objectives(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"needs 2 objectives; 'a' has 3"):
        plot_pareto({"a": np.ones((3, 3))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"give 2 directions and 2 labels"):
        plot_pareto({"a": np.ones((3, 2))}, tmp_path / "x.png", labels=("only one",))


# ---------------------------------------------------------------- the benchmark runner


@pytest.fixture(scope="module")
def small_comparison() -> ParetoComparison:
    import metanas.strategies.nsga2  # noqa: F401  (registers "nsga2")

    return run_pareto_comparison(
        datasets=["cora"], strategies=["nsga2", "random"], seeds=2, n_trials=25,
        checkpoints=(10, 20),
    )  # fmt: skip


def test_table_front_is_the_brute_force_front_of_the_table(
    small_comparison: ParetoComparison,
) -> None:
    bench = NasBenchGraph("cora")
    table = small_comparison.tables["cora"]
    acc, lat = bench.values("valid_accuracy"), bench.values("latency")
    assert table.points.tolist() == np.column_stack([acc, lat]).tolist()
    assert table.worst.tolist() == [acc.min(), lat.max()]
    front = table.points[table.front]
    assert table.nadir.tolist() == [front[:, 0].min(), front[:, 1].max()]
    # Brute force on the 2-D table: a point is optimal iff no faster point is at least as
    # accurate and no equally fast point is more accurate.
    order = np.lexsort((-acc, lat))
    best, expected = -np.inf, []
    for i in order:
        if acc[i] > best:
            expected.append(int(i))
            best = acc[i]
    assert sorted(expected) == table.front.tolist()


def test_hv_ratio_is_the_hypervolume_of_the_runs_points_over_the_true_fronts(
    small_comparison: ParetoComparison,
) -> None:
    bench = NasBenchGraph("cora")
    table = small_comparison.tables["cora"]
    ref = np.array([bench.values("valid_accuracy").min(), bench.values("latency").max()])
    true_hv = hypervolume(table.points[table.front], ref, ("max", "min"))
    for run in small_comparison.runs:
        assert run.values.shape == (25, 2)
        pts = np.array(
            [[bench.query(bench.space.parse(a), m) for m in ("valid_accuracy", "latency")]
             for a in run.archs]
        )  # fmt: skip
        assert pts.tolist() == run.values.tolist()
        ratio = small_comparison.hv_ratio(run)
        assert ratio == pytest.approx(hypervolume(pts, ref, ("max", "min")) / true_hv)
        assert 0.0 < ratio < 1.0
        curve = small_comparison.hv_curve(run)
        assert curve.shape == (25,)
        assert np.all(np.diff(curve) >= -1e-12)
        assert curve[-1] == pytest.approx(ratio)
        assert small_comparison.hv_ratio(run, reference="nadir") <= ratio


def test_the_true_front_itself_scores_one(small_comparison: ParetoComparison) -> None:
    table = small_comparison.tables["cora"]
    oracle = ParetoRun(
        benchmark="nas-bench-graph", dataset="cora", strategy="oracle", seed=0,
        n_trials=len(table.front), objectives=small_comparison.objectives,
        values=table.points[table.front],
    )  # fmt: skip
    for ref in ("worst", "nadir"):
        assert small_comparison.hv_ratio(oracle, reference=ref) == pytest.approx(1.0)


@pytest.mark.slow  # scipy.stats' import takes a second
def test_pareto_summary_and_markdown(small_comparison: ParetoComparison) -> None:
    df = small_comparison.summary()
    assert list(df["strategy"]) == ["nsga2", "random"]
    assert small_comparison.checkpoints == (10, 20, 25)
    for c in (10, 20, 25):
        assert (df[f"hv_ratio@{c}_q25"] <= df[f"hv_ratio@{c}"]).all()
        assert (df[f"hv_ratio@{c}"] <= df[f"hv_ratio@{c}_q75"]).all()
    # The first 10 queries of NSGA-II are its random initial population: random search's.
    assert df["hv_ratio@10"].iloc[0] == df["hv_ratio@10"].iloc[1]
    h2h = small_comparison.head_to_head("nsga2", "random")
    assert list(h2h["dataset"]) == ["cora"]
    # At the last query, "greater" tests nsga2's ratios against random's (one-sided).
    from scipy.stats import mannwhitneyu

    ra, rb = ([small_comparison.hv_ratio(r, 25) for r in small_comparison.select("cora", s)]
              for s in ("nsga2", "random"))  # fmt: skip
    assert h2h["nsga2_median"].iloc[0] == pytest.approx(np.median(ra))
    assert h2h["random_median"].iloc[0] == pytest.approx(np.median(rb))
    assert h2h["checkpoint"].iloc[0] == 25
    expected_p = 1.0 if len({*ra, *rb}) == 1 else mannwhitneyu(ra, rb, alternative="greater").pvalue
    assert h2h["p_value"].iloc[0] == pytest.approx(expected_p)
    md = small_comparison.to_markdown()
    assert md.startswith("| data set | queries | `nsga2` | `random` |")
    assert md.count("\n| cora |") == 3


def test_same_seed_same_pareto_run() -> None:
    import metanas.strategies.nsga2  # noqa: F401

    a = run_pareto_one(dataset="citeseer", strategy="nsga2", seed=3, n_trials=15)
    b = run_pareto_one(dataset="citeseer", strategy="nsga2", seed=3, n_trials=15)
    assert a.archs == b.archs
    assert np.array_equal(a.values, b.values)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategies": ["tpe"]}, ValueError, r"Strategy 'tpe' optimises one objective"),
        ({"objectives": "valid_accuracy:max"}, ValueError, r"needs at least 2 objectives"),
        ({"objectives": "valid_accuracy:max,test_accuracy:max"}, UnknownNameError,
         r"'test_accuracy' is a test metric"),
        ({"objectives": [("valid_accuracy",)]}, ValueError, r"\(metric, direction\) pairs"),
        ({"reference": "best"}, ValueError, r"reference must be one of \('worst', 'nadir'\)"),
        ({"datasets": ["cory"]}, UnknownNameError, r"Did you mean 'cora'\?"),
    ],
)  # fmt: skip
def test_pareto_comparison_rejects_bad_input(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    args: dict[str, object] = {"datasets": ["cora"], "strategies": ["random"], "seeds": 1,
                               "n_trials": 5, **kwargs}  # fmt: skip
    with pytest.raises(error, match=match):
        run_pareto_comparison(**args)  # type: ignore[arg-type]


@pytest.mark.slow
def test_pareto_fronts_are_plotted(small_comparison: ParetoComparison, tmp_path: Path) -> None:
    (path,) = small_comparison.plot_fronts(tmp_path, seed=1)
    assert path == tmp_path / "pareto_cora.png"
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_parallel_pareto_runs_equal_serial_ones() -> None:
    import metanas.strategies.nsga2  # noqa: F401

    kwargs: dict[str, object] = {"datasets": ["cora"], "strategies": ["nsga2"], "seeds": 2,
                                 "n_trials": 12}  # fmt: skip
    serial = run_pareto_comparison(**kwargs, n_jobs=1)  # type: ignore[arg-type]
    parallel = run_pareto_comparison(**kwargs, n_jobs=2)  # type: ignore[arg-type]
    for a, b in zip(serial.runs, parallel.runs, strict=True):
        assert (a.seed, a.archs) == (b.seed, b.archs)
