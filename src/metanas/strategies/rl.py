"""Reinforcement learning with an RNN controller (Zoph & Le 2017; the ENAS controller)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from metanas._checks import check_positive_int
from metanas._rng import derive_seed
from metanas._torch import require_torch, torch_threads
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.spaces.table import TableSpace
from metanas.strategies.base import Observation, Strategy, register_strategy

__all__ = ["RLStrategy"]

_logger = logging.getLogger(__name__)

_NORMALIZATIONS = ("zscore", "none")
# Standardised advantages are clipped: one broken network (accuracy 0.1 among
# 0.8s) must not swamp the Adam moments for the rest of the search.
_ADVANTAGE_CLIP = 5.0
# Key that separates the weight-initialisation seed from the per-trial seeds.
_INIT_KEY = 0x524C  # "RL"


def _check_float(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Validate a real-valued setting, naming it and its interval in the error."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok and math.isfinite(x := float(value)):  # type: ignore[arg-type]
        above = x > low if low_open else x >= low
        below = x < high if high_open else x <= high
        if above and below:
            return x
    left = "(" if low_open else "["
    right = ")" if high_open or high == math.inf else "]"
    hi = "inf" if high == math.inf else f"{high:g}"
    raise ValueError(
        f"{name} must be a finite number in {left}{low:g}, {hi}{right}; got {value!r}."
    )


def _import_torch() -> Any:
    return require_torch('The "rl" strategy')


# The controller's torch work runs on one intra-op thread (``torch_threads(1)``): its tensors
# are tiny (a batch of at most ``n_resample`` rows, a few thousand weights), yet softmax, matmul
# and ``sqrt`` over them already enter torch's OpenMP pool; on a busy machine each of those
# parallel regions waits for a descheduled worker (measured on 2 shared cores: 120 ms per ask
# with 2 threads, 15 ms with 1).


@register_strategy("rl")
class RLStrategy(Strategy):
    """An LSTM controller that emits one decision at a time, trained by REINFORCE.

    The controller reads the space's decisions in order. At step *k* an
    ``LSTMCell`` receives the embedding of the choice made at step *k - 1* (a
    learned start vector at step 0) and a linear head of size
    ``len(decisions[k].choices)`` turns its hidden state into logits, which
    are divided by ``temperature``, optionally squashed as
    ``tanh_constant * tanh(logits)`` (ENAS), and sampled. The heads start at
    zero, so the first proposals are uniform at random.

    Each told result is a reward ``R = obs.score`` (larger is better). The
    advantage is ``R - b`` with ``b`` an exponential moving average of the
    rewards (``b <- decay * b + (1 - decay) * R``, started at the first
    reward); with ``reward_normalization="zscore"`` it is divided by the
    running standard deviation of all rewards so far (and clipped to
    +-5), so that the accuracy differences of 0.01 that separate good from
    very good networks still give a signal of order one. Every
    ``batch_size`` results the controller takes one Adam step on::

        loss = -mean(advantage * log p(arch)) - entropy_weight * mean(H(arch))

    where ``log p(arch)`` and the summed per-step entropies ``H`` are
    recomputed by teacher forcing the told architecture through the
    controller, so the update depends only on the told history (a resumed
    study rebuilds the same controller by replaying its trials). Failed
    trials are remembered as seen but do not update the controller.

    Asking draws up to ``n_resample`` architectures from the policy (8, then
    the rest if needed) and proposes the first that is valid and not yet
    evaluated (identity by ``space.key``, so isomorphic networks count
    once). When none is, a partial table (:class:`~metanas.spaces.TableSpace`)
    proposes an unseen listed architecture nearest to a drawn one, other
    spaces a random unseen architecture; the controller then learns from
    that off-policy proposal like from any other.

    Parameters
    ----------
    space
        The search space (any: the controller is sized by ``space.decisions``).
    hidden_size
        Size of the LSTM state and of the choice embeddings.
    learning_rate
        Adam's step size. Far above ENAS' 3.5e-4, which assumes thousands of
        cheap rewards; a search of about 100 queries must learn from few.
        Without ``tanh_constant``, 0.05 already makes the policy collapse
        onto one architecture within about 20 results.
    baseline_decay
        Decay of the moving-average reward baseline, in [0, 1).
    entropy_weight
        Weight of the entropy bonus that keeps the policy from collapsing early.
    batch_size
        Results per policy update (1: update after every told result).
    temperature
        Logits are divided by this before sampling (> 1 explores more).
    tanh_constant
        When set, logits become ``tanh_constant * tanh(logits)`` (ENAS' 2.5
        by default), which bounds how peaked a decision can become: with 2.5
        a 9-way decision keeps at least 0.6 % on each choice, so the policy
        keeps exploring near its mode instead of collapsing. None: no bound.
    reward_normalization
        ``"zscore"``: divide the advantage by the running standard deviation
        of the rewards; ``"none"``: use ``R - b`` as is.
    n_resample
        Policy draws per ask to find a valid, unseen architecture before
        falling back.
    seed
        Seed of the sampling generator. The controller's initial weights are
        drawn from a generator seeded by ``seed`` too (by 0 when ``seed`` is
        None), so a study is replayed exactly from its stored seed.

    Attributes
    ----------
    n_updates
        Policy updates (Adam steps) taken so far.

    Notes
    -----
    The controller's torch work (sampling, the update) runs on one intra-op
    thread and restores the caller's ``torch.get_num_threads()`` afterwards:
    its tensors are so small that more threads only add synchronisation,
    which on a busy machine costs tens of milliseconds per ask. A median ask
    plus tell takes a few milliseconds on a CPU.

    References
    ----------
    Zoph, B. & Le, Q. V. Neural architecture search with reinforcement
    learning. ICLR 2017.

    Pham, H., Guan, M. Y., Zoph, B., Le, Q. V. & Dean, J. Efficient neural
    architecture search via parameter sharing. ICML 2018.

    Williams, R. J. Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 1992.

    Examples
    --------
    >>> import metanas
    >>> space = metanas.SearchSpace({"depth": [1, 2, 3], "act": ["relu", "gelu"]})
    >>> rl = RLStrategy(space, seed=0)
    >>> arch = rl.ask()
    >>> space.is_valid(arch)
    True
    >>> rl.tell(Observation(arch=arch, score=0.5))
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        hidden_size: int = 32,
        learning_rate: float = 0.03,
        baseline_decay: float = 0.9,
        entropy_weight: float = 0.01,
        batch_size: int = 1,
        temperature: float = 1.0,
        tanh_constant: float | None = 2.5,
        reward_normalization: str = "zscore",
        n_resample: int = 64,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.learning_rate = _check_float("learning_rate", learning_rate, low=0.0, low_open=True)
        self.baseline_decay = _check_float(
            "baseline_decay", baseline_decay, low=0.0, high=1.0, high_open=True
        )
        self.entropy_weight = _check_float("entropy_weight", entropy_weight, low=0.0)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.temperature = _check_float("temperature", temperature, low=0.0, low_open=True)
        if tanh_constant is not None:
            tanh_constant = _check_float("tanh_constant", tanh_constant, low=0.0, low_open=True)
        self.tanh_constant = tanh_constant
        if reward_normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"reward_normalization must be one of {list(_NORMALIZATIONS)!r}; "
                f"got {reward_normalization!r}."
            )
        self.reward_normalization = reward_normalization
        self.n_resample = check_positive_int("n_resample", n_resample)

        torch = _import_torch()
        self._torch = torch
        self._sizes = [len(d.choices) for d in space.decisions]
        self._offsets = np.cumsum([0, *self._sizes]).tolist()
        init_gen = torch.Generator().manual_seed(
            derive_seed(0 if seed is None else seed, _INIT_KEY)
        )
        self._build(init_gen)
        # Sampling generator: reseeded by the study before every ask.
        self._gen = torch.Generator().manual_seed(int(self._rng.integers(2**63 - 1)))

        # Reward statistics (raw rewards): EMA baseline and Welford mean/variance.
        self._baseline: float | None = None
        self._n_rewards = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._buffer: list[tuple[list[int], float]] = []
        self.n_updates = 0

    # ----------------------------------------------------------- the model
    def _build(self, gen: Any) -> None:
        torch = self._torch
        nn = torch.nn
        h = self.hidden_size
        n_total = int(self._offsets[-1])
        # skip_init: building the modules must not draw from torch's global RNG.
        self._embedding = nn.utils.skip_init(nn.Embedding, n_total, h)
        self._cell = nn.utils.skip_init(nn.LSTMCell, h, h)
        self._head = nn.utils.skip_init(nn.Linear, h, n_total)
        self._start = nn.Parameter(torch.empty(1, h))
        with torch.no_grad():
            for p in (*self._embedding.parameters(), *self._cell.parameters(), self._start):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.2 - 0.1)  # ENAS: U(-0.1, 0.1)
            # Zero heads: the first proposals are uniform at random.
            self._head.weight.zero_()
            self._head.bias.zero_()
        self._params = [
            *self._embedding.parameters(),
            *self._cell.parameters(),
            *self._head.parameters(),
            self._start,
        ]
        self._optimizer = torch.optim.Adam(self._params, lr=self.learning_rate)

    def _logits(self, hidden: Any, k: int) -> Any:
        lo, hi = self._offsets[k], self._offsets[k + 1]
        w, b = self._head.weight[lo:hi], self._head.bias[lo:hi]
        logits = self._torch.nn.functional.linear(hidden, w, b)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * self._torch.tanh(logits)
        return logits

    def _sample(self, n: int) -> np.ndarray:
        """``n`` architectures drawn from the policy, as choice indices (shape ``(n, K)``)."""
        torch = self._torch
        out = np.empty((n, len(self._sizes)), dtype=np.int64)
        with torch.no_grad():
            x = self._start.expand(n, -1)
            state = None
            for k in range(len(self._sizes)):
                state = self._cell(x, state)
                probs = torch.softmax(self._logits(state[0], k), dim=-1)
                idx = torch.multinomial(probs, 1, generator=self._gen).squeeze(1)
                out[:, k] = idx.numpy()
                x = self._embedding(idx + self._offsets[k])
        return out

    def _log_prob_entropy(self, indices: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        """Teacher-forced log-probabilities and summed entropies of architectures."""
        torch = self._torch
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        n = idx.shape[0]
        x = self._start.expand(n, -1)
        state = None
        log_p = torch.zeros(n)
        entropy = torch.zeros(n)
        for k in range(len(self._sizes)):
            state = self._cell(x, state)
            logp_k = torch.log_softmax(self._logits(state[0], k), dim=-1)
            log_p = log_p + logp_k.gather(1, idx[:, k : k + 1]).squeeze(1)
            entropy = entropy - (logp_k.exp() * logp_k).sum(dim=1)
            x = self._embedding(idx[:, k] + self._offsets[k])
        return log_p, entropy

    def probabilities(self, arch: Architecture) -> list[np.ndarray]:
        """The policy's distribution over each decision's choices along ``arch``.

        Entry *k* is the softmax of decision *k* given the choices of ``arch``
        for decisions ``0 .. k - 1`` (teacher forcing).
        """
        torch = self._torch
        idx = self._indices(self.space.validate(arch))
        out = []
        with torch.no_grad(), torch_threads(1):
            x = self._start
            state = None
            for k in range(len(self._sizes)):
                state = self._cell(x, state)
                out.append(torch.softmax(self._logits(state[0], k), dim=-1)[0].numpy().copy())
                x = self._embedding(torch.tensor([idx[k] + self._offsets[k]]))
        return out

    # ----------------------------------------------------------- ask/tell
    def reseed(self, seed: int) -> None:
        super().reseed(seed)
        self._gen.manual_seed(int(seed))

    def _indices(self, arch: Architecture) -> list[int]:
        return [d.index(arch[d.name]) for d in self.space.decisions]

    def _from_indices(self, row: Sequence[int]) -> Architecture:
        return Architecture(
            (d.name, d.choices[int(i)]) for d, i in zip(self.space.decisions, row, strict=True)
        )

    def ask(self) -> Architecture:
        with torch_threads(1):
            return self._ask()

    def _ask(self) -> Architecture:
        # A small first batch usually holds an acceptable draw; the rest only when not.
        draws: list[Architecture] = []
        first = min(self.n_resample, 8)
        for size in (first, self.n_resample - first):
            for row in self._sample(size) if size else ():
                arch = self._from_indices(row)
                if self.space.is_valid(arch) and not self.is_seen(arch):
                    self.mark_seen(arch)
                    return arch
                draws.append(arch)
        choice: Architecture | None = None
        if isinstance(self.space, TableSpace):
            # The policy keeps drawing outside a partial table: move to the listed
            # architecture nearest to a draw.
            for arch in draws:
                options = [a for a in self.space.nearest(arch) if not self.is_seen(a)]
                if options:
                    choice = options[int(self._rng.integers(len(options)))]
                    break
        if choice is None:
            _logger.debug("rl: %d policy draws were all seen or invalid.", self.n_resample)
            choice = self.sample_unseen()
        self.mark_seen(choice)
        return choice

    def tell(self, obs: Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.score is None or not math.isfinite(obs.score):
            return
        reward = float(obs.score)
        advantage = self._advantage(reward)
        self._buffer.append((self._indices(obs.arch), advantage))
        if len(self._buffer) >= self.batch_size:
            with torch_threads(1):
                self._update()

    def _advantage(self, reward: float) -> float:
        """``R - b`` (scaled by the running std), then update the baseline and statistics."""
        if self._baseline is None:
            self._baseline = reward
        advantage = reward - self._baseline
        self._baseline = self.baseline_decay * self._baseline + (1 - self.baseline_decay) * reward
        # Welford's running mean and variance.
        self._n_rewards += 1
        delta = reward - self._mean
        self._mean += delta / self._n_rewards
        self._m2 += delta * (reward - self._mean)
        if self.reward_normalization == "zscore":
            std = math.sqrt(self._m2 / self._n_rewards) if self._n_rewards > 1 else 0.0
            if std <= 1e-12:
                return 0.0
            advantage = max(-_ADVANTAGE_CLIP, min(_ADVANTAGE_CLIP, advantage / std))
        return advantage

    def _update(self) -> None:
        torch = self._torch
        indices = [row for row, _ in self._buffer]
        advantages = torch.tensor([a for _, a in self._buffer], dtype=torch.float32)
        self._buffer.clear()
        log_p, entropy = self._log_prob_entropy(indices)
        loss = -(advantages * log_p).mean() - self.entropy_weight * entropy.mean()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        self.n_updates += 1
