"""MetaQNN: Q-learning over sequential decisions (Baker, Gupta, Naik & Raskar, ICLR 2017)."""

from __future__ import annotations

import bisect
import math

import numpy as np

from metanas._checks import check_positive_int
from metanas._rng import derive_seed, make_rng
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["MetaQNNStrategy"]

_REWARDS = ("rank", "minmax", "raw")

# A state: (decision index, indices of the previous ``n_previous`` choices).
_State = tuple[int, tuple[int, ...]]


def _check_float(name: str, value: object, low: float, high: float, *, open_low: bool) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        x = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(x) and (x > low if open_low else x >= low) and x <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be a float in {bracket}{low}, {high}]; got {value!r}.")
    return float(value)  # type: ignore[arg-type]


@register_strategy("metaqnn")
class MetaQNNStrategy(Strategy):
    """Q-learning over the space's decisions, epsilon-greedy, with experience replay.

    An architecture is an episode: the agent makes the space's decisions in
    order (``space.decisions``), one action per decision. The state before
    decision ``i`` is ``(i, previous choices)``, the indices of the last
    ``n_previous`` choices made (MetaQNN's state is the layer depth plus the
    previous layer; ``n_previous=0`` keeps the depth only). The only reward is the
    terminal one, computed from the architecture's score, and the discount
    is 1, so a Q-value estimates the best reward reachable from that state
    and action.

    Asking runs one epsilon-greedy episode over the Q-table (ties broken at
    random). Epsilon is 1 for the first ``n_random_episodes`` episodes, then
    falls linearly to ``epsilon_min`` over ``n_decay_episodes`` episodes (the
    paper's schedule holds 1.0 for 1,500 models and steps down to 0.1 over a
    few thousand more; the defaults, 10 random episodes and epsilon reaching
    0.1 at episode 30, scale it to budgets of about 100). An
    episode that yields an architecture already seen, or an invalid one
    (constraints, a partial :class:`~metanas.spaces.TableSpace`), is re-run
    up to ``n_resample`` times with epsilon raised a little at each try, so
    proposals stay near the greedy policy; after that an unseen valid
    neighbour of the first proposal (``space.neighbours``: for a partial
    table, the nearest listed networks) is proposed, or, when there is none,
    a random unseen architecture. Off-policy Q-learning learns from whatever was
    evaluated, so these fallbacks are learned from like any other episode.

    Telling stores the episode in the replay memory, applies the Q update
    to it, then replays ``replay_batch`` episodes drawn (with replacement)
    from the memory, each updated from the last decision back to the first
    as in the paper's algorithm: ``Q(s_T, a_T) += alpha (r - Q(s_T, a_T))``
    and ``Q(s_t, a_t) += alpha (max_a Q(s_{t+1}, a) - Q(s_t, a_t))``. The
    replay draws come from a generator seeded by the study seed and the
    number of tells, and rewards are recomputed from the told history at each
    replay, so the whole state is a function of the told history and a
    resumed study continues exactly.

    Rewards: validation accuracies of different networks often differ by
    only 1e-2, far too little for a Q-table to separate them, so by default
    (``reward="rank"``) the reward is the score's rank among all told
    scores, scaled to [0, 1] (the best so far gets 1). ``"minmax"`` scales
    the score linearly between the worst and best told scores; ``"raw"``
    uses the score itself (the paper's choice, for scores already in
    [0, 1]). Failed trials get the worst reward (0, or the lowest told
    score under ``"raw"``), so the agent learns to avoid them.

    With a short state the Q-values are Markov in the last choices: the
    terminal reward teaches the last ``n_previous + 1`` decisions directly,
    and earlier ones only learn which choices lead to states with a good
    continuation. That is MetaQNN's design; raise ``n_previous`` up to the
    number of decisions to make every prefix its own state (a search tree).

    Parameters
    ----------
    space
        The search space; any space works, through ``space.decisions``.
    n_previous
        Number of previous choices in the state (0: the decision index only).
    alpha
        Q-learning rate, in (0, 1]. The paper's 0.01 suits thousands of
        models; 0.3 learns within a budget of 100 (with 0.01 the agent was no
        better than random search at 100 queries on NAS-Bench-Graph).
    n_random_episodes
        Episodes with epsilon = 1 (uniform random architectures; the paper
        spends about half its budget so).
    n_decay_episodes
        Episodes over which epsilon then falls linearly from 1 to
        ``epsilon_min`` (0: it drops at once).
    epsilon_min
        Final exploration rate (the paper's 0.1).
    replay_batch
        Episodes replayed from memory after each tell (the paper's 100;
        0 disables replay).
    q_init
        Initial Q-value (the paper's 0.5, the middle of the reward scale).
    reward
        ``"rank"``, ``"minmax"`` or ``"raw"`` (see above).
    n_resample
        Re-runs of an episode that gave a seen or invalid architecture
        before a random unseen one is proposed.
    seed
        Seed of the random generators.

    Examples
    --------
    >>> import metanas
    >>> space = metanas.SearchSpace({"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]})
    >>> agent = MetaQNNStrategy(space, n_random_episodes=3, n_decay_episodes=3, seed=0)
    >>> for number in range(8):
    ...     agent.reseed(number)
    ...     arch = agent.ask()
    ...     score = float(arch["a"] + arch["b"] + arch["c"])
    ...     agent.tell(Observation(arch=arch, score=score, scores=(score,), number=number))
    >>> agent.epsilon(0), agent.epsilon(3), agent.epsilon(6)
    (1.0, 0.7, 0.1)
    >>> len(agent.replay_memory)
    8

    References
    ----------
    Baker, B., Gupta, O., Naik, N. & Raskar, R. Designing neural network
    architectures using reinforcement learning. ICLR 2017.

    Watkins, C. J. C. H. & Dayan, P. Q-learning. Machine Learning 8, 1992.

    Lin, L.-J. Self-improving reactive agents based on reinforcement
    learning, planning and teaching. Machine Learning 8, 1992 (experience
    replay).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_previous: int = 1,
        alpha: float = 0.3,
        n_random_episodes: int = 10,
        n_decay_episodes: int = 20,
        epsilon_min: float = 0.1,
        replay_batch: int = 100,
        q_init: float = 0.5,
        reward: str = "rank",
        n_resample: int = 10,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.n_previous = check_positive_int("n_previous", n_previous, 0)
        self.alpha = _check_float("alpha", alpha, 0.0, 1.0, open_low=True)
        self.n_random_episodes = check_positive_int("n_random_episodes", n_random_episodes, 0)
        self.n_decay_episodes = check_positive_int("n_decay_episodes", n_decay_episodes, 0)
        self.epsilon_min = _check_float("epsilon_min", epsilon_min, 0.0, 1.0, open_low=False)
        self.replay_batch = check_positive_int("replay_batch", replay_batch, 0)
        if (
            isinstance(q_init, bool)
            or not isinstance(q_init, int | float | np.integer | np.floating)
            or not math.isfinite(float(q_init))
        ):
            raise ValueError(f"q_init must be a finite float; got {q_init!r}.")
        self.q_init = float(q_init)
        if reward not in _REWARDS:
            raise ValueError(
                f"reward must be one of {list(_REWARDS)!r}; got {reward!r}. "
                "Use 'rank' unless the scores are already spread over [0, 1]."
            )
        self.reward = reward
        self.n_resample = check_positive_int("n_resample", n_resample, 0)
        self._replay_seed = 0 if seed is None else int(seed)
        self._n_actions = [len(d.choices) for d in space.decisions]
        self._q: dict[_State, list[float]] = {}
        self._episodes: list[tuple[tuple[int, ...], float | None]] = []
        # The Q-table rows each episode passes through, in decision order (shared lists).
        self._episode_rows: list[list[list[float]]] = []
        self._sorted_scores: list[float] = []
        #: Asks answered by a fallback (a neighbour or a random unseen architecture).
        self.n_fallbacks = 0

    # ---------------------------------------------------------------- public
    @property
    def replay_memory(self) -> list[tuple[tuple[int, ...], float | None]]:
        """The told episodes in order: (choice index per decision, score or None if failed)."""
        return list(self._episodes)

    def epsilon(self, episode: int) -> float:
        """The exploration rate of episode number ``episode`` (0-based)."""
        if episode < self.n_random_episodes:
            return 1.0
        if self.n_decay_episodes == 0:
            return self.epsilon_min
        done = min(1.0, (episode - self.n_random_episodes + 1) / self.n_decay_episodes)
        return round(1.0 - (1.0 - self.epsilon_min) * done, 12)

    def q_values(self, decision: int, previous: tuple[int, ...] = ()) -> np.ndarray:
        """A copy of the Q-values of decision ``decision`` after the choice indices ``previous``."""
        return np.array(self._row(self._state(decision, previous)))

    # ----------------------------------------------------------------- state
    def _state(self, i: int, previous: tuple[int, ...]) -> _State:
        if self.n_previous == 0:
            return (i, ())
        return (i, tuple(previous[max(0, i - self.n_previous) : i]))

    def _row(self, state: _State) -> list[float]:
        row = self._q.get(state)
        if row is None:
            row = [self.q_init] * self._n_actions[state[0]]
            self._q[state] = row
        return row

    def _indices(self, arch: Architecture) -> tuple[int, ...]:
        return tuple(d.index(arch[d.name]) for d in self.space.decisions)

    # ------------------------------------------------------------------- ask
    def _episode(self, eps: float) -> tuple[int, ...]:
        chosen: list[int] = []
        for i, n in enumerate(self._n_actions):
            if self._rng.random() < eps:
                a = int(self._rng.integers(n))
            else:
                row = self._q.get(self._state(i, tuple(chosen)))
                if row is None:
                    a = int(self._rng.integers(n))
                else:
                    top = max(row) - 1e-12
                    best = [j for j, q in enumerate(row) if q >= top]
                    a = best[int(self._rng.integers(len(best)))]
            chosen.append(a)
        return tuple(chosen)

    def _to_arch(self, idx: tuple[int, ...]) -> Architecture:
        return Architecture(
            (d.name, d.choices[i]) for d, i in zip(self.space.decisions, idx, strict=True)
        )

    def ask(self) -> Architecture:
        eps = self.epsilon(len(self._episodes))
        arch: Architecture | None = None
        first: Architecture | None = None
        for attempt in range(self.n_resample + 1):
            # Each re-run explores a little more, staying close to the greedy policy.
            e = eps + (1.0 - eps) * attempt / (self.n_resample + 1)
            candidate = self._to_arch(self._episode(e))
            first = candidate if first is None else first
            if self.space.is_valid(candidate) and not self.is_seen(candidate):
                arch = candidate
                break
        if arch is None and first is not None:
            # The policy's own proposal is seen or invalid: its closest valid unseen
            # neighbours (for a partial table, the nearest listed networks).
            options = [n for n in self.space.neighbours(first) if not self.is_seen(n)]
            if options:
                arch = options[int(self._rng.integers(len(options)))]
                self.n_fallbacks += 1
        if arch is None:
            arch = self.sample_unseen()
            self.n_fallbacks += 1
        self.mark_seen(arch)
        return arch

    # ------------------------------------------------------------------ tell
    def _reward(self, score: float | None) -> float | None:
        ranked = self._sorted_scores
        n = len(ranked)
        if self.reward == "raw":
            if score is not None:
                return score
            return ranked[0] if n else None
        if score is None:
            return 0.0
        if self.reward == "rank":
            if n <= 1:
                return 0.5
            lo = bisect.bisect_left(ranked, score)
            hi = bisect.bisect_right(ranked, score)
            return (lo + hi - 1) / (2.0 * (n - 1))
        span = ranked[-1] - ranked[0]
        return 0.5 if span <= 0 else (score - ranked[0]) / span

    def _update(self, k: int, r: float) -> None:
        """One Q-learning pass over episode ``k``, from its last decision back to its first."""
        alpha = self.alpha
        idx = self._episodes[k][0]
        rows = self._episode_rows[k]
        last, a = rows[-1], idx[-1]
        last[a] += alpha * (r - last[a])
        for t in range(len(idx) - 2, -1, -1):
            row, a = rows[t], idx[t]
            row[a] += alpha * (max(rows[t + 1]) - row[a])

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        n_told = len(self._episodes)
        score = None if obs.score is None or not math.isfinite(obs.score) else float(obs.score)
        idx = self._indices(obs.arch)
        self._episodes.append((idx, score))
        self._episode_rows.append([self._row(self._state(i, idx)) for i in range(len(idx))])
        if score is not None:
            bisect.insort(self._sorted_scores, score)
        r = self._reward(score)
        if r is not None:
            self._update(n_told, r)
        if self.replay_batch == 0:
            return
        rng = make_rng(derive_seed(self._replay_seed, n_told))
        picks = rng.integers(len(self._episodes), size=self.replay_batch).tolist()
        for k in picks:
            r = self._reward(self._episodes[k][1])
            if r is not None:
                self._update(k, r)
