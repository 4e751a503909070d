"""NSGA-II: settings, determinism, resume, selection rules, and that it learns."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import metanas
from conftest import SyntheticEvaluator, drive
from metanas import Architecture, SearchSpace
from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph
from metanas.cli import app
from metanas.evaluation import Evaluator, Result
from metanas.pareto import hypervolume, pareto_front
from metanas.strategies import Observation, RandomStrategy, create_strategy, get_strategy_class
from metanas.strategies.nsga2 import NSGA2Strategy

TWO = "valid_accuracy:max,latency:min"


def _tell(s: NSGA2Strategy, arch: Architecture, scores: tuple[float, ...] | None) -> None:
    single = scores is not None and len(scores) == 1
    s.tell(
        Observation(
            arch=arch,
            score=scores[0] if single and scores else None,
            scores=scores,
        )
    )


def _grid(n_decisions: int = 4, n_choices: int = 3) -> SearchSpace:
    return SearchSpace({f"d{i}": list(range(n_choices)) for i in range(n_decisions)})


class _TwoObjectives(Evaluator):
    """Two conflicting linear scores of the one-hot encoding (both maximised)."""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.space = space
        w = rng.normal(size=space.encoding_size)
        self.w = np.stack([w, -w + 0.7 * rng.normal(size=space.encoding_size)])

    def scores(self, arch: Architecture) -> tuple[float, float]:
        a, b = self.w @ self.space.encode(arch)
        return float(a), float(b)

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        a, b = self.scores(arch)
        return Result(metrics={"f1": a, "f2": b})


def _drive_two(
    strategy: NSGA2Strategy | RandomStrategy, ev: _TwoObjectives, n: int, seed: int
) -> np.ndarray:
    pts = []
    for number in range(n):
        strategy.reseed(derive_seed(seed, number))
        arch = strategy.ask()
        scores = ev.scores(arch)
        strategy.tell(Observation(arch=arch, score=None, scores=scores, number=number))
        pts.append(scores)
    return np.array(pts)


# ---------------------------------------------------------------- registry, settings


def test_registered_as_a_multi_objective_strategy(small_space: SearchSpace) -> None:
    assert get_strategy_class("nsga2") is NSGA2Strategy
    assert NSGA2Strategy.multi_objective
    s = create_strategy("nsga2", small_space, seed=0)
    assert s.get_settings() == {"population_size": 10, "crossover_prob": 0.0}
    assert repr(s) == "NSGA2Strategy(population_size=10, crossover_prob=0.0)"
    assert (
        create_strategy("nsga2", small_space, crossover_prob=1).get_settings()["crossover_prob"]
        == 1.0
    )


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"population_size": 1}, r"population_size must be an int >= 2; got 1\."),
        ({"population_size": 2.5}, r"population_size must be an int >= 2; got 2\.5"),
        ({"population_size": True}, r"population_size must be an int >= 2; got True"),
        (
            {"crossover_prob": -0.1},
            r"crossover_prob must be a number in \[0, 1\]; got -0\.1\. "
            r"Pass 0 for mutation only\.",
        ),
        ({"crossover_prob": 1.5}, r"crossover_prob must be a number in \[0, 1\]; got 1\.5"),
        ({"crossover_prob": "0.5"}, r"crossover_prob must be a number in \[0, 1\]; got '0\.5'"),
        ({"crossover_prob": True}, r"crossover_prob must be a number in \[0, 1\]; got True"),
        ({"populaton_size": 10}, r"no setting 'populaton_size'\. Did you mean 'population_size'"),
    ],
)
def test_bad_settings_are_rejected(
    settings: dict[str, object], match: str, small_space: SearchSpace
) -> None:
    with pytest.raises(ValueError, match=match):
        create_strategy("nsga2", small_space, seed=0, **settings)


# ---------------------------------------------------------------- determinism, resume


def test_same_seed_same_asks_on_two_objectives(cora: NasBenchGraph, study_name: str) -> None:
    def run(name: str, seed: int) -> list[tuple[Architecture, tuple[float, ...] | None]]:
        study = metanas.create_study(
            name=name, storage="sqlite://", space=cora.space, strategy="nsga2", seed=seed,
            metric=TWO, strategy_settings={"population_size": 5},
        )  # fmt: skip
        study.optimize(cora, n_trials=25)
        return [(t.arch, t.values) for t in study.trials]

    one, two, other = run(study_name + "a", 4), run(study_name + "b", 4), run(study_name + "c", 5)
    assert one == two
    assert sum(a != b for (a, _), (b, _) in zip(one, other, strict=True)) >= 20


class _FailSome(Evaluator):
    """Fails a fixed sixth of the architectures (by their canonical string)."""

    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        if zlib.crc32(arch.to_string().encode()) % 6 == 0:
            return Result.failed("unlucky architecture")
        return self.inner.evaluate(arch)


@pytest.mark.parametrize("split", [7, 15])
def test_resume_through_load_study_equals_uninterrupted(
    cora: NasBenchGraph, tmp_path: Path, split: int
) -> None:
    url = f"sqlite:///{tmp_path / 'nsga2.db'}"
    ev = _FailSome(cora)

    def create(name: str) -> metanas.Study:
        return metanas.create_study(
            name=name, storage=url, space=cora.space, strategy="nsga2", seed=8, metric=TWO,
            strategy_settings={"population_size": 4, "crossover_prob": 0.5},
        )  # fmt: skip

    straight = create("straight")
    straight.optimize(ev, n_trials=30)
    expected = [(t.arch, t.values, t.state) for t in straight.trials]
    assert any(state is metanas.TrialState.FAILED for _, _, state in expected)
    assert straight.strategy.n_generations >= 3  # type: ignore[attr-defined]

    create("halves").optimize(ev, n_trials=split)
    again = metanas.load_study("halves", storage=url)
    assert isinstance(again.strategy, NSGA2Strategy)
    assert again.strategy.get_settings() == {"population_size": 4, "crossover_prob": 0.5}
    again.optimize(ev, n_trials=30 - split)
    assert [(t.arch, t.values, t.state) for t in again.trials] == expected
    assert again.strategy.parents == straight.strategy.parents  # type: ignore[attr-defined]


def test_warm_start_rebuilds_the_same_state(cora: NasBenchGraph) -> None:
    ev = _TwoObjectives(cora.space)
    s = NSGA2Strategy(cora.space, population_size=6, seed=1)
    _drive_two(s, ev, 40, seed=1)
    history = [
        Observation(arch=a, score=None, scores=sc) for a, sc in [(m[0], m[1]) for m in s.parents]
    ]
    assert len(history) == 6
    rebuilt = NSGA2Strategy(cora.space, population_size=6, seed=1)
    # Telling the same 6 results makes them the (random-start) parents, ranked alike.
    rebuilt.warm_start(history)
    assert rebuilt.parents == s.parents
    assert rebuilt.n_generations == 0


# ---------------------------------------------------------------- the algorithm


def test_initial_population_is_random_search(small_space: SearchSpace) -> None:
    ev = SyntheticEvaluator(small_space)
    for seed in range(3):
        ga = drive(NSGA2Strategy(small_space, population_size=8, seed=seed), ev, 8, seed=seed)
        rnd = drive(RandomStrategy(small_space, seed=seed), ev, 8, seed=seed)
        assert [a for a, _ in ga] == [a for a, _ in rnd]


def test_failures_do_not_count_towards_a_generation() -> None:
    space = _grid()
    s = NSGA2Strategy(space, population_size=3, seed=0)
    drive(s, SyntheticEvaluator(space), 6, seed=0, fail=lambda n: True)
    assert s.parents == []
    drive(s, SyntheticEvaluator(space), 5, seed=0, start=6, fail=lambda n: n % 2 == 0)
    assert s.parents == []  # 2 successes of 3 needed
    drive(s, SyntheticEvaluator(space), 1, seed=0, start=11)
    assert len(s.parents) == 3
    assert all(sc is not None for _, sc in s.parents)


def test_environmental_selection_keeps_fronts_then_the_least_crowded() -> None:
    space = _grid(4, 4)
    archs = list(space.enumerate())[:8]
    s = NSGA2Strategy(space, population_size=4, seed=0)
    parents = [(0.0, 10.0), (10.0, 0.0), (5.0, 5.0), (1.0, 1.0)]
    children = [(1.0, 9.5), (8.0, 1.0), (5.0, 7.0), (0.0, 0.0)]
    for arch, sc in zip(archs[:4], parents, strict=True):
        _tell(s, arch, sc)
    assert [a for a, _ in s.parents] == archs[:4]
    assert s.n_generations == 0
    for arch, sc in zip(archs[4:], children, strict=True):
        _tell(s, arch, sc)
    assert s.n_generations == 1
    # Front 0 has 5 members: (0, 10), (10, 0), (1, 9.5), (8, 1), (5, 7); (5, 5) is dominated
    # by (5, 7). Crowding: the extremes are infinite, (5, 7) 1.55, (8, 1) 1.2, (1, 9.5) 0.8:
    # the most crowded, (1, 9.5), is dropped.
    assert s.parents == [
        (archs[0], (0.0, 10.0)), (archs[1], (10.0, 0.0)), (archs[5], (8.0, 1.0)),
        (archs[6], (5.0, 7.0)),
    ]  # fmt: skip


def test_environmental_selection_prefers_lower_rank_over_crowding() -> None:
    space = _grid(4, 4)
    archs = list(space.enumerate())[:6]
    s = NSGA2Strategy(space, population_size=3, seed=0)
    for arch, sc in zip(archs, [(1.0,), (2.0,), (3.0,), (0.5,), (2.5,), (4.0,)], strict=True):
        _tell(s, arch, sc)
    # One objective: the best three of parents and children survive (elitism), by rank.
    assert [sc for _, sc in s.parents] == [(4.0,), (3.0,), (2.5,)]


def test_children_come_from_tournament_winners() -> None:
    space = _grid(4, 3)
    good = Architecture({"d0": 0, "d1": 0, "d2": 0, "d3": 0})
    bad = Architecture({"d0": 2, "d1": 2, "d2": 2, "d3": 2})
    for seed in range(20):
        s = NSGA2Strategy(space, population_size=2, seed=seed)
        _tell(s, good, (1.0, 1.0))
        _tell(s, bad, (0.0, 0.0))  # dominated: rank 1
        s.reseed(seed)
        child = s.ask()
        # A binary tournament over both parents always picks the non-dominated one.
        assert child in space.neighbours(good)


def test_crossover_mixes_two_parents() -> None:
    space = _grid(6, 3)
    a = Architecture({f"d{i}": 0 for i in range(6)})
    b = Architecture({f"d{i}": 2 for i in range(6)})
    mixed = 0
    for seed in range(40):
        s = NSGA2Strategy(space, population_size=2, crossover_prob=1.0, seed=seed)
        _tell(s, a, (1.0, 0.0))
        _tell(s, b, (0.0, 1.0))  # both on the front: both win tournaments
        s.reseed(seed)
        child = s.ask()
        assert space.is_valid(child)
        mixed += sum(v == 0 for v in child.values()) not in (0, 1, 5, 6)
    # Half the time both tournaments pick the same parent (nothing to mix).
    assert mixed >= 10


def test_children_are_unseen_until_the_space_is_exhausted(small_space: SearchSpace) -> None:
    s = NSGA2Strategy(small_space, population_size=4, seed=0)
    asked = [a for a, _ in drive(s, SyntheticEvaluator(small_space), 36, seed=0)]
    assert len(set(asked)) == 36 == small_space.size
    assert small_space.is_valid(s.ask())  # nothing unseen is left: still a valid ask


def test_a_change_in_the_number_of_objectives_is_an_error(small_space: SearchSpace) -> None:
    s = NSGA2Strategy(small_space, seed=0)
    arch = small_space.sample(np.random.default_rng(0))
    _tell(s, arch, (1.0, 2.0))
    with pytest.raises(ValueError, match=r"told 2 objective\(s\) so far, then 3"):
        _tell(s, arch, (1.0, 2.0, 3.0))


def test_nsga2_finds_a_larger_hypervolume_than_random() -> None:
    space = _grid(5, 5)  # 3,125 architectures
    ev = _TwoObjectives(space, seed=1)
    every = np.array([ev.scores(a) for a in space.enumerate()])
    ref = every.min(axis=0)
    wins, ratios = 0, []
    for seed in range(8):
        ga = _drive_two(NSGA2Strategy(space, population_size=8, seed=seed), ev, 80, seed)
        rnd = _drive_two(RandomStrategy(space, seed=seed), ev, 80, seed)
        hv_ga, hv_rnd = hypervolume(ga, ref), hypervolume(rnd, ref)
        wins += hv_ga > hv_rnd
        ratios.append(hv_ga / hv_rnd)
    assert wins >= 7
    assert np.median(ratios) > 1.02


def test_single_objective_is_a_genetic_algorithm_that_beats_random() -> None:
    space = _grid(5, 5)
    ev = SyntheticEvaluator(space, seed=4)
    best_ga, best_rnd = [], []
    for seed in range(8):
        ga = drive(NSGA2Strategy(space, population_size=8, seed=seed), ev, 60, seed=seed)
        rnd = drive(RandomStrategy(space, seed=seed), ev, 60, seed=seed)
        best_ga.append(max(s for _, s in ga if s is not None))
        best_rnd.append(max(s for _, s in rnd if s is not None))
    assert np.median(best_ga) > np.median(best_rnd)
    assert sum(g >= r for g, r in zip(best_ga, best_rnd, strict=True)) >= 6


def test_a_two_objective_study_reports_its_pareto_front(
    cora: NasBenchGraph, study_name: str
) -> None:
    study = metanas.create_study(
        name=study_name, storage="sqlite://", space=cora.space, strategy="nsga2", seed=0,
        metric=TWO, task=cora.name,
    )  # fmt: skip
    assert study.optimize(cora, n_trials=40) is None
    front = study.best_trials
    pts = np.array([t.values for t in study.completed_trials])
    expected = [study.completed_trials[i].number for i in pareto_front(pts, ("max", "min"))]
    assert [t.number for t in front] == expected
    assert len(front) >= 2
    assert study.strategy.n_generations == 3  # type: ignore[attr-defined]


# ---------------------------------------------------------------- command line

_runner = CliRunner()


def _search(url: str, *extra: str) -> Any:
    return _runner.invoke(
        app, ["search", "--dataset", "cora", "--strategy", "nsga2", "--storage", url, *extra]
    )


def test_cli_objectives_reports_the_pareto_front_as_json(db_url: str) -> None:
    result = _search(db_url, "--objectives", TWO, "--n-trials", "30", "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert s["objectives"] == [["valid_accuracy", "maximize"], ["latency", "minimize"]]
    assert s["strategy"] == "nsga2"
    assert s["best"] is None
    study = metanas.load_study(s["study"], storage=db_url)
    assert isinstance(study.strategy, NSGA2Strategy)
    done = study.completed_trials
    pts = np.array([t.values for t in done])
    expected = {done[i].number for i in pareto_front(pts, ("max", "min"))}
    front = s["pareto_front"]
    assert {t["number"] for t in front} == expected
    accs = [t["metrics"]["valid_accuracy"] for t in front]
    assert accs == sorted(accs, reverse=True)  # best first by the first objective
    bench = NasBenchGraph("cora")
    for t in front:
        arch = bench.space.parse(t["arch"])
        assert t["values"] == [t["metrics"]["valid_accuracy"], t["metrics"]["latency"]]
        assert t["test_metrics"]["test_accuracy"] == pytest.approx(
            bench.query(arch, "test_accuracy")
        )
    # Re-running resumes the same study, with each metric's own direction by default.
    again = _search(db_url, "--objectives", "valid_accuracy,latency", "--n-trials", "40", "--json")
    assert again.exit_code == 0, again.output
    s2 = json.loads(again.stdout)
    assert (s2["study"], s2["resumed"], s2["n_trials"]) == (s["study"], True, 40)


def test_cli_objectives_prints_a_pareto_table(db_url: str) -> None:
    result = _search(db_url, "--objectives", TWO, "--n-trials", "20")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Pareto front (max valid_accuracy, min latency), best valid_accuracy first" in out
    header = next(line for line in out.splitlines() if "arch" in line and "latency" in line)
    assert header.index("valid_accuracy") < header.index("latency") < header.index("test_acc")
    study = metanas.load_study("cora-nsga2-s0-valid_accuracy+latency", storage=db_url)
    for t in study.best_trials:
        assert study.space.format(t.arch) in out


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--objectives", TWO, "--metric", "latency"], "--objectives replaces --metric"),
        (["--objectives", TWO, "--direction", "minimize"], "--objectives replaces --metric"),
        (["--objectives", "valid_accuracy:up"], "Cannot read objective 'valid_accuracy:up'"),
        (["--objectives", "latency,latency:min"], "names 'latency' twice"),
        (["--objectives", "valid_acc,latency"], "Did you mean 'valid_accuracy'?"),
        (["--objectives", "valid_accuracy,test_accuracy"], "'test_accuracy' is a test metric"),
        (["--objectives", ","], "--objectives needs a comma-separated list"),
    ],
)
def test_cli_objectives_errors(db_url: str, extra: list[str], fragment: str) -> None:
    result = _search(db_url, *extra, "--n-trials", "5")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]


def test_cli_single_objective_strategy_with_objectives_is_refused(db_url: str) -> None:
    result = _runner.invoke(
        app, ["search", "--dataset", "cora", "--strategy", "tpe", "--objectives", TWO,
              "--storage", db_url, "--n-trials", "5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "optimises one objective but 2 were given" in result.stderr
