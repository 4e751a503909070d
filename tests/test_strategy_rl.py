"""The "rl" strategy: an LSTM controller trained by REINFORCE."""

from __future__ import annotations

import builtins
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import metanas  # noqa: E402
from conftest import SyntheticEvaluator, drive  # noqa: E402
from metanas import Architecture, SearchSpace  # noqa: E402
from metanas.benchmarks import NasBenchGraph  # noqa: E402
from metanas.evaluation import Evaluator, Result  # noqa: E402
from metanas.spaces import NasBenchGraphSpace, NB201Space, TableSpace  # noqa: E402
from metanas.strategies import Observation, RandomStrategy, create_strategy  # noqa: E402
from metanas.strategies.rl import RLStrategy  # noqa: E402


def _tell(strategy: RLStrategy, arch: Architecture, score: float | None, number: int = -1) -> None:
    scores = None if score is None else (score,)
    strategy.tell(Observation(arch=arch, score=score, scores=scores, number=number))


def _params(strategy: RLStrategy) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in strategy._params]


def _grid_space() -> SearchSpace:
    """4 decisions x 6 choices = 1,296 architectures."""
    return SearchSpace({f"d{i}": list(range(6)) for i in range(4)})


# ==================================================================== registry, settings


def test_registered_with_its_defaults(small_space: SearchSpace) -> None:
    strategy = create_strategy("rl", small_space, seed=0)
    assert isinstance(strategy, RLStrategy)
    assert metanas.strategies.get_strategy_class("rl") is RLStrategy
    assert strategy.get_settings() == {
        "hidden_size": 32,
        "learning_rate": 0.03,
        "baseline_decay": 0.9,
        "entropy_weight": 0.01,
        "batch_size": 1,
        "temperature": 1.0,
        "tanh_constant": 2.5,
        "reward_normalization": "zscore",
        "n_resample": 64,
    }


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"hidden_size": 0}, r"hidden_size must be an int >= 1; got 0\."),
        ({"hidden_size": 8.0}, r"hidden_size must be an int >= 1; got 8\.0\."),
        ({"learning_rate": 0}, r"learning_rate must be a finite number in \(0, inf\); got 0\."),
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number .*got nan"),
        ({"learning_rate": "0.1"}, r"learning_rate must be a finite number .*got '0\.1'"),
        ({"baseline_decay": 1.0}, r"baseline_decay must be a finite number in \[0, 1\); got 1\.0"),
        ({"baseline_decay": -0.1}, r"baseline_decay must be .*\[0, 1\); got -0\.1"),
        ({"entropy_weight": -1e-3}, r"entropy_weight must be a finite number in \[0, inf\)"),
        ({"batch_size": 0}, r"batch_size must be an int >= 1; got 0\."),
        ({"temperature": 0.0}, r"temperature must be a finite number in \(0, inf\); got 0\.0"),
        ({"tanh_constant": -2.5}, r"tanh_constant must be a finite number in \(0, inf\)"),
        ({"tanh_constant": True}, r"tanh_constant must be a finite number .*got True"),
        (
            {"reward_normalization": "rank"},
            r"reward_normalization must be one of \['zscore', 'none'\]; got 'rank'\.",
        ),
        ({"n_resample": 0}, r"n_resample must be an int >= 1; got 0\."),
        ({"learning_rat": 0.1}, r"no setting 'learning_rat'\. Did you mean 'learning_rate'\?"),
    ],
)
def test_bad_settings_raise_clear_errors(
    settings: dict[str, Any], match: str, small_space: SearchSpace
) -> None:
    with pytest.raises(ValueError, match=match):
        create_strategy("rl", small_space, seed=0, **settings)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match=r'pip install "metanas\[torch\]"'):
        RLStrategy(SearchSpace({"a": [1, 2]}), seed=0)


def test_settings_survive_a_stored_study(small_space: SearchSpace, db_url: str) -> None:
    settings = {"learning_rate": 0.02, "batch_size": 2, "tanh_constant": 2.5, "hidden_size": 16}
    metanas.create_study(
        name="rl-settings", storage=db_url, space=small_space, strategy="rl", seed=0,
        strategy_settings=settings,
    )  # fmt: skip
    again = metanas.load_study("rl-settings", storage=db_url, space=small_space)
    assert isinstance(again.strategy, RLStrategy)
    got = again.strategy.get_settings()
    assert {k: got[k] for k in settings} == settings


# ==================================================================== determinism, resume


def test_same_seed_same_asks_and_different_seeds_differ(cora: NasBenchGraph) -> None:
    one = drive(RLStrategy(cora.space, seed=3), cora, 25, seed=3)
    two = drive(RLStrategy(cora.space, seed=3), cora, 25, seed=3)
    other = drive(RLStrategy(cora.space, seed=4), cora, 25, seed=4)
    assert one == two
    assert sum(a != b for (a, _), (b, _) in zip(one, other, strict=True)) >= 20


def test_the_policy_depends_only_on_the_told_history(cora: NasBenchGraph) -> None:
    asked = RLStrategy(cora.space, seed=7)
    history = drive(asked, cora, 20, seed=7, fail=lambda n: n % 5 == 4)
    told_only = RLStrategy(cora.space, seed=7)
    for number, (arch, score) in enumerate(history):
        _tell(told_only, arch, score, number)
    # Bit-identical weights: asking draws from the sampling generator only.
    for a, b in zip(_params(asked), _params(told_only), strict=True):
        np.testing.assert_array_equal(a, b)
    assert asked.n_updates == told_only.n_updates == 16  # failures do not update


def test_warm_start_then_continue_equals_uninterrupted(cora: NasBenchGraph) -> None:
    def fail(n: int) -> bool:
        return n % 4 == 3

    straight = drive(RLStrategy(cora.space, seed=11), cora, 30, seed=11, fail=fail)
    first = drive(RLStrategy(cora.space, seed=11), cora, 15, seed=11, fail=fail)
    resumed = RLStrategy(cora.space, seed=11)
    resumed.warm_start(
        [Observation(arch=a, score=s, scores=None if s is None else (s,)) for a, s in first]
    )
    rest = drive(resumed, cora, 15, seed=11, start=15, fail=fail)
    assert first + rest == straight


class _FailSome(Evaluator):
    """Fails a fixed fifth of the architectures (by their canonical string)."""

    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        if zlib.crc32(arch.to_string().encode()) % 5 == 0:
            return Result.failed("unlucky architecture")
        return self.inner.evaluate(arch)


def test_resume_through_load_study_equals_uninterrupted(
    cora: NasBenchGraph, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    ev = _FailSome(cora)
    settings = {"batch_size": 2}  # a half-filled batch must be rebuilt on resume too

    def run(name: str, n: int) -> metanas.Study:
        study = metanas.create_study(
            name=name, storage=url, space=cora.space, strategy="rl", seed=21,
            strategy_settings=settings, metric="valid_accuracy",
        )  # fmt: skip
        study.optimize(ev, n_trials=n)
        return study

    straight = [(t.arch, t.value, t.state) for t in run("straight", 30).trials]
    assert any(state is metanas.TrialState.FAILED for _, _, state in straight)
    run("halves", 15)
    again = metanas.load_study("halves", storage=url)
    assert len(again.trials) == 15
    again.optimize(ev, n_trials=15)
    assert [(t.arch, t.value, t.state) for t in again.trials] == straight


def test_global_torch_state_is_left_alone(small_space: SearchSpace) -> None:
    rng_state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    strategy = RLStrategy(small_space, seed=0)
    drive(strategy, SyntheticEvaluator(small_space), 10, seed=0)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


# ==================================================================== asks


@pytest.mark.parametrize("make_space", [NB201Space, NasBenchGraphSpace])
def test_asks_are_valid_and_never_repeat_a_network(make_space: Any) -> None:
    space = make_space()
    ev = NasBenchGraph("cora") if isinstance(space, NasBenchGraphSpace) else None
    asked = drive(RLStrategy(space, seed=0), ev or SyntheticEvaluator(space), 60, seed=0)
    assert all(space.validate(a) == a for a, _ in asked)
    assert len({space.key(a) for a, _ in asked}) == 60


def test_a_small_space_is_exhausted_without_repeats(small_space: SearchSpace) -> None:
    # The policy soon keeps drawing seen architectures; the fallback finds the unseen ones.
    strategy = RLStrategy(small_space, seed=1, learning_rate=0.3)
    asked = drive(strategy, SyntheticEvaluator(small_space), 36, seed=1)
    assert len({a for a, _ in asked}) == 36 == small_space.size


def test_a_partial_table_is_searched_within_its_rows() -> None:
    base = NasBenchGraphSpace()
    rng = np.random.default_rng(0)
    space = TableSpace(base, [base.sample(rng) for _ in range(300)], name="sample")
    ev = SyntheticEvaluator(space)
    asked = drive(RLStrategy(space, seed=0), ev, 40, seed=0)
    assert all(space.is_valid(a) for a, _ in asked)
    assert len({space.key(a) for a, _ in asked}) == 40


def test_failed_observations_are_accepted_and_skip_the_update(cora: NasBenchGraph) -> None:
    strategy = RLStrategy(cora.space, seed=2)
    before = _params(strategy)
    only_failed = drive(strategy, cora, 8, seed=2, fail=lambda n: True)
    assert all(cora.space.is_valid(a) for a, _ in only_failed)
    assert len({cora.space.key(a) for a, _ in only_failed}) == 8  # remembered as seen
    assert strategy.n_updates == 0
    for a, b in zip(before, _params(strategy), strict=True):
        np.testing.assert_array_equal(a, b)
    _tell(strategy, cora.space.sample(np.random.default_rng(0)), float("nan"))
    assert strategy.n_updates == 0


def test_batch_size_counts_successful_results(small_space: SearchSpace) -> None:
    strategy = RLStrategy(small_space, seed=0, batch_size=3)
    archs = list(small_space.enumerate())
    for i, arch in enumerate(archs[:10]):
        _tell(strategy, arch, None if i % 2 else 0.1 * i)
    assert strategy.n_updates == 1  # 5 successes: one full batch of 3, 2 waiting
    assert len(strategy._buffer) == 2


# ==================================================================== the learner


def test_the_first_policy_is_uniform(cora: NasBenchGraph) -> None:
    strategy = RLStrategy(cora.space, seed=0)
    arch = cora.space.parse("0123|gcn,gin,fc,cheb")
    for decision, probs in zip(cora.space.decisions, strategy.probabilities(arch), strict=True):
        assert probs == pytest.approx(np.full(len(decision.choices), 1 / len(decision.choices)))


def test_reinforce_moves_probability_towards_better_rewards() -> None:
    space = _grid_space()
    strategy = RLStrategy(space, seed=0, entropy_weight=0.0)

    def p(arch: Architecture) -> float:
        probs = strategy.probabilities(arch)
        return float(np.prod([probs[k][int(arch[d.name])] for k, d in enumerate(space.decisions)]))

    start, good, bad = (Architecture({f"d{i}": v for i in range(4)}) for v in (0, 1, 2))
    _tell(strategy, start, 0.50)  # the baseline starts at the first reward: no update signal
    p_good, p_bad = p(good), p(bad)
    _tell(strategy, good, 0.51)  # above the baseline
    assert p(good) > 1.2 * p_good
    p_bad, p_good = p(bad), p(good)
    _tell(strategy, bad, 0.49)  # below the baseline
    assert p(bad) < p_bad / 1.2
    assert p(good) > p_good


def test_rewards_are_standardised_against_the_ema_baseline(small_space: SearchSpace) -> None:
    strategy = RLStrategy(small_space, seed=0, baseline_decay=0.5)
    assert strategy._advantage(0.80) == 0.0  # the baseline starts at the first reward
    # baseline 0.80, running std of (0.80, 0.82) is 0.01: (0.82 - 0.80) / 0.01 = 2.
    assert strategy._advantage(0.82) == pytest.approx(2.0)
    assert strategy._baseline == pytest.approx(0.81)
    for _ in range(15):
        strategy._advantage(0.80)
        strategy._advantage(0.82)
    # One broken network among good ones: about -5.5 standard deviations, clipped to -5.
    assert strategy._advantage(0.0) == -5.0
    plain = RLStrategy(small_space, seed=0, baseline_decay=0.5, reward_normalization="none")
    plain._advantage(0.80)
    assert plain._advantage(0.82) == pytest.approx(0.02)


@pytest.mark.slow
def test_the_controller_learns_a_synthetic_landscape() -> None:
    """The policy's mass moves onto the best 5 %; its late asks beat random's (3 seeds)."""
    space = _grid_space()
    ev = SyntheticEvaluator(space, seed=5)
    archs = list(space.enumerate())
    scores = np.array([ev.score(a) for a in archs])
    top = scores >= np.percentile(scores, 95)
    rows = [[d.index(a[d.name]) for d in space.decisions] for a in archs]

    def mass_on_top(strategy: RLStrategy) -> float:
        with torch.no_grad():
            log_p, _ = strategy._log_prob_entropy(rows)
        p = np.exp(log_p.numpy().astype(np.float64))
        assert p.sum() == pytest.approx(1.0, abs=1e-4)  # a distribution over the space
        return float(p[top].sum())

    late_rl, late_random, mass = [], [], []
    for seed in range(3):
        rl = RLStrategy(space, seed=seed)
        assert mass_on_top(rl) == pytest.approx(0.05, abs=0.01)  # uniform at first
        asked = drive(rl, ev, 80, seed=seed)
        mass.append(mass_on_top(rl))
        late_rl.append(np.mean([s for _, s in asked[40:]]))
        randoms = drive(RandomStrategy(space, seed=seed), ev, 80, seed=seed)
        late_random.append(np.mean([s for _, s in randoms[40:]]))
    # After 80 results every run's policy puts > 6x the uniform mass on the top 5 %.
    assert min(mass) > 0.3
    assert np.median(mass) > 0.6
    # Every run's late proposals beat every random run's; on average they are top quartile.
    assert min(late_rl) > max(late_random)
    assert np.mean(late_rl) > np.percentile(scores, 75) > np.mean(late_random)
