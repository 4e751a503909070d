"""MetaQNN: Q-learning over sequential decisions with epsilon-greedy exploration and replay."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import metanas
from conftest import SyntheticEvaluator, drive, evaluator_for
from metanas import Architecture, SearchSpace
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Evaluator, FunctionEvaluator, Result
from metanas.spaces import NasBenchGraphSpace, NB201Space, TableSpace
from metanas.strategies import Observation, RandomStrategy, create_strategy, get_strategy_class
from metanas.strategies.metaqnn import MetaQNNStrategy


def _obs(arch: Architecture, score: float | None, number: int = -1) -> Observation:
    return Observation(
        arch=arch, score=score, scores=None if score is None else (score,), number=number
    )


def _target_space() -> tuple[SearchSpace, Architecture, FunctionEvaluator]:
    """4 decisions x 5 choices (625 networks); the score counts matches with one target."""
    space = SearchSpace({f"d{i}": list(range(5)) for i in range(4)})
    target = Architecture({"d0": 3, "d1": 1, "d2": 4, "d3": 0})

    def score(arch: Architecture) -> float:
        return float(sum(arch[k] == v for k, v in target.items()))

    return space, target, FunctionEvaluator(score, metric="valid_accuracy")


# ============================================================ registry, settings


def test_registered_with_its_settings(small_space: SearchSpace) -> None:
    assert get_strategy_class("metaqnn") is MetaQNNStrategy
    strategy = create_strategy("metaqnn", small_space, seed=0)
    assert strategy.get_settings() == {
        "n_previous": 1,
        "alpha": 0.3,
        "n_random_episodes": 10,
        "n_decay_episodes": 20,
        "epsilon_min": 0.1,
        "replay_batch": 100,
        "q_init": 0.5,
        "reward": "rank",
        "n_resample": 10,
    }
    assert repr(strategy).startswith("MetaQNNStrategy(n_previous=1, alpha=0.3, ")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"n_previous": -1}, r"n_previous must be an int >= 0; got -1\."),
        ({"alpha": 0.0}, r"alpha must be a float in \(0\.0, 1\.0\]; got 0\.0\."),
        ({"alpha": 1.5}, r"alpha must be a float in \(0\.0, 1\.0\]; got 1\.5\."),
        ({"alpha": "0.1"}, r"alpha must be a float in \(0\.0, 1\.0\]; got '0\.1'\."),
        ({"alpha": True}, r"alpha must be a float in \(0\.0, 1\.0\]; got True\."),
        ({"alpha": float("nan")}, r"alpha must be a float in \(0\.0, 1\.0\]; got nan\."),
        ({"epsilon_min": -0.1}, r"epsilon_min must be a float in \[0\.0, 1\.0\]; got -0\.1\."),
        ({"epsilon_min": 2}, r"epsilon_min must be a float in \[0\.0, 1\.0\]; got 2\."),
        ({"n_random_episodes": -1}, r"n_random_episodes must be an int >= 0; got -1\."),
        ({"n_decay_episodes": 2.5}, r"n_decay_episodes must be an int >= 0; got 2\.5\."),
        ({"replay_batch": -5}, r"replay_batch must be an int >= 0; got -5\."),
        ({"n_resample": None}, r"n_resample must be an int >= 0; got None\."),
        ({"q_init": float("inf")}, r"q_init must be a finite float; got inf\."),
        (
            {"reward": "accuracy"},
            r"reward must be one of \['rank', 'minmax', 'raw'\]; got 'accuracy'\. Use 'rank'",
        ),
        ({"alpah": 0.1}, r"Strategy 'metaqnn' has no setting 'alpah'\. Did you mean 'alpha'\?"),
    ],
)
def test_bad_settings_raise_clear_errors(
    settings: dict[str, Any], match: str, small_space: SearchSpace
) -> None:
    with pytest.raises(ValueError, match=match):
        create_strategy("metaqnn", small_space, seed=0, **settings)


# ============================================================ schedule, update rule


def test_epsilon_is_one_then_falls_linearly_to_the_floor(small_space: SearchSpace) -> None:
    agent = MetaQNNStrategy(small_space, n_random_episodes=4, n_decay_episodes=3, seed=0)
    got = [agent.epsilon(e) for e in range(9)]
    assert got == pytest.approx([1, 1, 1, 1, 0.7, 0.4, 0.1, 0.1, 0.1])
    sudden = MetaQNNStrategy(small_space, n_random_episodes=2, n_decay_episodes=0, seed=0)
    assert [sudden.epsilon(e) for e in range(4)] == [1.0, 1.0, 0.1, 0.1]


def test_one_update_follows_the_q_learning_rule_backwards() -> None:
    space = SearchSpace({"a": [0, 1], "b": [0, 1, 2]})
    agent = MetaQNNStrategy(space, alpha=0.5, replay_batch=0, reward="raw", q_init=0.0, seed=0)
    agent.tell(_obs(Architecture({"a": 1, "b": 2}), 0.8))
    # Last decision: Q <- Q + alpha (r - Q); the state holds the previous choice (a=1).
    assert agent.q_values(1, (1,)).tolist() == pytest.approx([0.0, 0.0, 0.4])
    assert agent.q_values(1, (0,)).tolist() == [0.0, 0.0, 0.0]
    # First decision, updated after its successor: target max_a Q(s_1, a) = 0.4.
    assert agent.q_values(0).tolist() == pytest.approx([0.0, 0.2])
    agent.tell(_obs(Architecture({"a": 1, "b": 2}), 0.8))
    assert agent.q_values(1, (1,))[2] == pytest.approx(0.6)
    assert agent.q_values(0)[1] == pytest.approx(0.2 + 0.5 * (0.6 - 0.2))


def test_without_previous_choices_the_state_is_the_decision_index() -> None:
    space = SearchSpace({"a": [0, 1], "b": [0, 1, 2]})
    agent = MetaQNNStrategy(space, n_previous=0, alpha=1.0, replay_batch=0, reward="raw", seed=0)
    agent.tell(_obs(Architecture({"a": 0, "b": 1}), 0.9))
    assert agent.q_values(1).tolist() == pytest.approx([0.5, 0.9, 0.5])
    assert agent.q_values(1, (1,)).tolist() == pytest.approx([0.5, 0.9, 0.5])  # same state


def test_rank_rewards_spread_close_scores_over_zero_to_one(small_space: SearchSpace) -> None:
    agent = MetaQNNStrategy(small_space, seed=0)
    archs = list(small_space.enumerate())
    for i, score in enumerate([0.801, 0.803, 0.802, 0.803]):
        agent.tell(_obs(archs[i], score, number=i))
    assert agent._reward(0.801) == 0.0
    assert agent._reward(0.802) == pytest.approx(1 / 3)
    assert agent._reward(0.803) == pytest.approx((2 + 4 - 1) / 6)  # a tie shares its ranks
    assert agent._reward(None) == 0.0  # a failure is the worst outcome
    minmax = MetaQNNStrategy(small_space, reward="minmax", seed=0)
    for i, score in enumerate([0.80, 0.84, 0.81]):
        minmax.tell(_obs(archs[i], score, number=i))
    assert minmax._reward(0.81) == pytest.approx(0.25)
    assert minmax._reward(0.84) == pytest.approx(1.0)


# ============================================================ determinism, resume


def test_same_seed_same_asks_and_seeds_differ(nbg_space: NasBenchGraphSpace) -> None:
    bench = NasBenchGraph("cora")
    one = drive(MetaQNNStrategy(nbg_space, seed=7), bench, 40, seed=7)
    two = drive(MetaQNNStrategy(nbg_space, seed=7), bench, 40, seed=7)
    other = drive(MetaQNNStrategy(nbg_space, seed=8), bench, 40, seed=8)
    assert one == two
    assert sum(a != b for (a, _), (b, _) in zip(one, other, strict=True)) >= 30


def test_tell_ignores_the_ask_generator(small_space: SearchSpace) -> None:
    """Replay draws come from (seed, number of tells), not from the ask generator."""
    archs = list(small_space.enumerate())
    a = MetaQNNStrategy(small_space, seed=3)
    b = MetaQNNStrategy(small_space, seed=3)
    for i in range(20):
        a.reseed(i)
        b.reseed(1000 + i)
        score = None if i % 5 == 4 else float(i % 7)
        a.tell(_obs(archs[i], score, number=i))
        b.tell(_obs(archs[i], score, number=i))
    assert a._q == b._q
    c = MetaQNNStrategy(small_space, seed=4)
    for i in range(20):
        c.tell(_obs(archs[i], None if i % 5 == 4 else float(i % 7), number=i))
    assert c._q != a._q  # another seed replays other episodes


def test_warm_start_rebuilds_the_same_agent(nbg_space: NasBenchGraphSpace) -> None:
    bench = NasBenchGraph("cora")

    def fail(n: int) -> bool:
        return n % 4 == 3

    straight = drive(MetaQNNStrategy(nbg_space, seed=11), bench, 50, seed=11, fail=fail)
    first = drive(MetaQNNStrategy(nbg_space, seed=11), bench, 25, seed=11, fail=fail)
    resumed = MetaQNNStrategy(nbg_space, seed=11)
    resumed.warm_start([_obs(a, s, number=i) for i, (a, s) in enumerate(first)])
    rest = drive(resumed, bench, 25, seed=11, start=25, fail=fail)
    assert first + rest == straight


class _FailSome(Evaluator):
    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        if zlib.crc32(arch.to_string().encode()) % 5 == 0:
            return Result.failed("unlucky architecture")
        return self.inner.evaluate(arch)


def test_resume_through_load_study_equals_uninterrupted(
    nbg_space: NasBenchGraphSpace, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'metaqnn.db'}"
    ev = _FailSome(evaluator_for(nbg_space))

    def run(name: str, n: int) -> metanas.Study:
        study = metanas.create_study(
            name=name, storage=url, space=nbg_space, strategy="metaqnn", seed=21,
            metric="valid_accuracy", strategy_settings={"n_random_episodes": 5,
                                                        "n_decay_episodes": 5},
        )  # fmt: skip
        study.optimize(ev, n_trials=n)
        return study

    straight = [(t.arch, t.value, t.state) for t in run("straight", 30).trials]
    assert any(state is metanas.TrialState.FAILED for _, _, state in straight)
    run("halves", 15)
    again = metanas.load_study("halves", storage=url)
    assert again.strategy.get_settings()["n_decay_episodes"] == 5
    again.optimize(ev, n_trials=15)
    assert [(t.arch, t.value, t.state) for t in again.trials] == straight


# ============================================================ failures, validity, repeats


def test_failed_observations_are_accepted(small_space: SearchSpace) -> None:
    agent = MetaQNNStrategy(small_space, n_random_episodes=2, n_decay_episodes=2, seed=2)
    asked = drive(agent, SyntheticEvaluator(small_space), 12, seed=2, fail=lambda n: True)
    assert all(small_space.is_valid(a) for a, _ in asked)
    assert len({a for a, _ in asked}) == 12
    assert [s for _, s in agent.replay_memory] == [None] * 12
    # Every failure is the worst reward (0): the visited Q-values fell below q_init.
    last = agent._episodes[0][0]
    assert agent.q_values(3, last[:3])[last[3]] < 0.5
    # "raw" rewards have no worst value before a success: failures are skipped.
    raw = MetaQNNStrategy(small_space, reward="raw", seed=2)
    drive(raw, SyntheticEvaluator(small_space), 5, seed=2, fail=lambda n: True)
    assert all(q == 0.5 for row in raw._q.values() for q in row)


def test_never_repeats_a_network_while_unseen_remain(small_space: SearchSpace) -> None:
    for seed in range(3):
        agent = MetaQNNStrategy(small_space, n_random_episodes=3, n_decay_episodes=3, seed=seed)
        asked = drive(agent, SyntheticEvaluator(small_space), 36, seed=seed)
        assert len({a for a, _ in asked}) == 36 == small_space.size


def test_never_repeats_an_isomorphic_network_and_respects_constraints(
    nbg_space: NasBenchGraphSpace,
) -> None:
    agent = MetaQNNStrategy(nbg_space, n_random_episodes=5, n_decay_episodes=10, seed=0)
    asked = drive(agent, NasBenchGraph("cora"), 120, seed=0)
    assert len({nbg_space.key(a) for a, _ in asked}) == 120
    assert all(nbg_space.is_valid(a) for a, _ in asked)


def test_partial_tables_fall_back_to_listed_networks() -> None:
    base = NB201Space()
    rng = np.random.default_rng(0)
    archs = sorted({base.format(base.sample(rng)) for _ in range(80)})
    acc = [0.5 + 0.4 * a.count("nor_conv_3x3") / 6 for a in archs]
    table = metanas.benchmarks.TabularBenchmark.from_dataframe(
        pd.DataFrame({"arch": archs, "acc": acc}), space=base, metrics=["acc"], name="part"
    )
    assert isinstance(table.space, TableSpace)
    agent = MetaQNNStrategy(table.space, n_random_episodes=5, n_decay_episodes=5, seed=0)
    asked = drive(agent, table, 60, seed=0, metric="acc")
    assert all(table.space.is_valid(a) for a, _ in asked)
    assert len({table.space.key(a) for a, _ in asked}) == 60
    assert agent.n_fallbacks > 0  # most episodes leave the table: the fallbacks are used


# ============================================================ it learns


def test_greedy_policy_scores_well_above_random_on_a_known_space() -> None:
    space, target, ev = _target_space()
    greedy_scores, last_pair_right = [], 0
    for seed in range(5):
        agent = MetaQNNStrategy(space, seed=seed)
        drive(agent, ev, 100, seed=seed)
        agent.reseed(seed)
        greedy = agent._to_arch(agent._episode(0.0))
        greedy_scores.append(ev.evaluate(greedy).metrics["valid_accuracy"])
        # The state holds the previous choice only, so the last pair of decisions is
        # what the terminal reward teaches directly.
        last_pair_right += (greedy["d2"], greedy["d3"]) == (target["d2"], target["d3"])
    assert np.mean(greedy_scores) >= 2.5  # a random network scores 0.8 on average
    assert last_pair_right >= 3


@pytest.mark.slow
def test_beats_random_search_on_a_synthetic_space() -> None:
    space, target, ev = _target_space()

    def first_hit(strategy: metanas.strategies.Strategy, seed: int) -> int:
        asked = drive(strategy, ev, 150, seed=seed)
        hits = [i for i, (a, _) in enumerate(asked) if a == target]
        return hits[0] + 1 if hits else 151

    seeds = range(6)
    q = np.median([first_hit(MetaQNNStrategy(space, seed=s), s) for s in seeds])
    r = np.median([first_hit(RandomStrategy(space, seed=s), s) for s in seeds])
    # Random search hits 1 network of 625 within 150 queries with probability 0.24.
    assert q <= 100 < r


def test_later_episodes_are_better_than_the_random_ones(nbg_space: NasBenchGraphSpace) -> None:
    """On the real cora table, the exploiting phase proposes better networks than the random one."""
    bench = NasBenchGraph("cora")
    early, late = [], []
    for seed in range(3):
        asked = drive(MetaQNNStrategy(nbg_space, seed=seed), bench, 80, seed=seed)
        scores = [s for _, s in asked if s is not None]
        early.append(np.median(scores[:10]))
        late.append(np.median(scores[40:80]))
    assert np.mean(late) > np.mean(early) + 0.005
