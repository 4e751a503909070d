"""ENAS: an LSTM controller samples sub-networks of a weight-sharing supernet (Pham et al., 2018).

Each epoch alternates two phases:

1. the shared weights train on the training split, every mini-batch on a
   sub-network the controller samples (``supernet(x, choice=...)``);
2. the controller takes ``controller_steps`` REINFORCE steps: it samples
   ``controller_batch`` sub-networks, each is scored by its accuracy on a
   validation mini-batch (minus a latency penalty when a limit is given),
   and ``-(R - b) log p(choice) - entropy_weight H`` is minimised, with ``b``
   an exponential moving average of the rewards.

The final architecture is the best, by accuracy on the whole validation
split, of ``n_final`` distinct sub-networks sampled from the trained
controller (its greedy choice among them).

The controller follows strategy ``"rl"`` (:class:`~metanas.strategies.RLStrategy`):
an ``LSTMCell`` fed the embedding of the previous choice, one linear head per
decision, ``tanh_constant * tanh(logits)``, zero-initialised heads (uniform at
the start). It is a separate small module because ENAS samples with
repetition, per mini-batch, and masks candidates that do not fit a block.

This module imports torch; import it only where torch is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional

from metanas._rng import derive_seed
from metanas.oneshot._data import accuracy, task_batches
from metanas.oneshot.base import OneShotSearch
from metanas.oneshot.latency import LatencyTable
from metanas.oneshot.supernet import SpaceSuperNet
from metanas.spaces.architecture import Architecture

if TYPE_CHECKING:
    from metanas.tasks import Task

__all__ = ["Controller", "EnasSearch"]


class Controller(nn.Module):
    """An LSTM policy over a sequence of categorical decisions (choices masked per decision).

    Parameters
    ----------
    mask
        Boolean tensor ``(n_decisions, n_choices)``: the allowed choices.
    hidden_size
        LSTM state and embedding size.
    tanh_constant
        Logits become ``tanh_constant * tanh(logits)`` (None: unbounded).
    seed
        Seed of the initial weights (uniform in +-0.1; heads start at 0).
    """

    mask: torch.Tensor

    def __init__(
        self,
        mask: torch.Tensor,
        *,
        hidden_size: int = 32,
        tanh_constant: float | None = 2.5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.register_buffer("mask", mask.clone().bool())
        n_dec, n_ops = mask.shape
        self.n_decisions, self.n_choices = int(n_dec), int(n_ops)
        self.tanh_constant = tanh_constant
        self.embedding = nn.Embedding(n_dec * n_ops, hidden_size)
        self.cell = nn.LSTMCell(hidden_size, hidden_size)
        self.head = nn.Linear(hidden_size, n_dec * n_ops)
        self.start = nn.Parameter(torch.zeros(1, hidden_size))
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for p in (*self.embedding.parameters(), *self.cell.parameters(), self.start):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.2 - 0.1)
            self.head.weight.zero_()
            self.head.bias.zero_()

    def _logits(self, hidden: torch.Tensor, k: int) -> torch.Tensor:
        lo, hi = k * self.n_choices, (k + 1) * self.n_choices
        logits = functional.linear(hidden, self.head.weight[lo:hi], self.head.bias[lo:hi])
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits.masked_fill(~self.mask[k], float("-inf"))

    def _run(
        self, n: int, forced: torch.Tensor | None, generator: torch.Generator | None, greedy: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.start.expand(n, -1)
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        choices = []
        log_p = torch.zeros(n)
        entropy = torch.zeros(n)
        for k in range(self.n_decisions):
            state = self.cell(x, state)
            logp_k = torch.log_softmax(self._logits(state[0], k), dim=-1)
            if forced is not None:
                idx = forced[:, k]
            elif greedy:
                idx = logp_k.argmax(dim=1)
            else:
                idx = torch.multinomial(logp_k.exp().detach(), 1, generator=generator).squeeze(1)
            choices.append(idx)
            log_p = log_p + logp_k.gather(1, idx[:, None]).squeeze(1)
            # Masked choices have p = 0 and log p = -inf: leave them out (0 * -inf is NaN).
            safe = logp_k.masked_fill(~self.mask[k], 0.0)
            entropy = entropy - (safe.exp() * safe).masked_fill(~self.mask[k], 0.0).sum(1)
            x = self.embedding(idx + k * self.n_choices)
        return torch.stack(choices, dim=1), log_p, entropy

    def sample(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` choices ``(n, n_decisions)`` with their log-probabilities and entropies."""
        return self._run(n, None, generator, greedy=False)

    def greedy(self) -> list[int]:
        """The most likely choice at every step (along its own greedy path)."""
        with torch.no_grad():
            choice, _, _ = self._run(1, None, None, greedy=True)
        return [int(c) for c in choice[0]]

    def probabilities(self) -> list[list[float]]:
        """Per decision, the policy's choice probabilities along its greedy path."""
        out = []
        with torch.no_grad():
            x = self.start
            state: tuple[torch.Tensor, torch.Tensor] | None = None
            for k in range(self.n_decisions):
                state = self.cell(x, state)
                p = torch.softmax(self._logits(state[0], k), dim=-1)[0]
                out.append([float(v) for v in p])
                x = self.embedding(p.argmax().reshape(1) + k * self.n_choices)
        return out

    def log_prob(self, choices: Sequence[Sequence[int]]) -> torch.Tensor:
        """Log-probabilities of given choices (teacher forcing), shape ``(n,)``."""
        forced = torch.as_tensor([list(c) for c in choices], dtype=torch.long)
        _, log_p, _ = self._run(len(forced), forced, None, greedy=False)
        return log_p


class EnasSearch(OneShotSearch):
    """ENAS weight sharing on a :class:`SpaceSuperNet`, driven by a :class:`Controller`.

    Parameters
    ----------
    supernet
        The shared weights; only sampled sub-networks run (``alphas`` are unused).
    task
        Shared weights train on ``task.X_train``; rewards come from ``task.X_valid``.
    batch_size
        Samples per weight step and per reward.
    lr, weight_decay
        AdamW of the shared weights.
    controller_lr, controller_steps, controller_batch
        Adam step size of the controller, its REINFORCE steps per epoch and the
        sub-networks sampled per step.
    entropy_weight, baseline_decay, tanh_constant, hidden_size
        The policy loss' entropy bonus, the reward baseline's moving-average
        decay, the logit bound and the LSTM size.
    n_final
        Sub-networks sampled at the end; the best on the validation split wins
        (with a latency limit, the best within it).
    latency, max_latency_ms, latency_weight
        With a table and a limit the reward is ``accuracy - latency_weight *
        max(0, latency - limit) / limit`` (table estimate of the sub-network).
    seed
        Seed of the controller's weights, its sampling and the batch order.
    device
        torch device of the supernet (the controller stays on the CPU).

    References
    ----------
    Pham, H., Guan, M. Y., Zoph, B., Le, Q. V. & Dean, J. Efficient neural
    architecture search via parameter sharing. ICML 2018.
    """

    #: Latency penalty weight when none is given (see ``latency_weight``).
    default_latency_weight = 1.0

    def __init__(
        self,
        supernet: SpaceSuperNet,
        task: Task,
        *,
        batch_size: int = 64,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        controller_lr: float = 0.01,
        controller_steps: int = 20,
        controller_batch: int = 4,
        entropy_weight: float = 1e-3,
        baseline_decay: float = 0.9,
        tanh_constant: float | None = 2.5,
        hidden_size: int = 32,
        n_final: int = 16,
        latency: LatencyTable | None = None,
        max_latency_ms: float | None = None,
        latency_weight: float | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if max_latency_ms is not None and latency is None:
            raise ValueError(
                "max_latency_ms needs latency=<a LatencyTable>; build one with "
                "measure_latency_table(supernet)."
            )
        for name, value in (
            ("controller_steps", controller_steps),
            ("controller_batch", controller_batch),
            ("n_final", n_final),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
        super().__init__()
        self.supernet = supernet
        self.task = task
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.controller_lr = controller_lr
        self.controller_steps = controller_steps
        self.controller_batch = controller_batch
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.tanh_constant = tanh_constant
        self.hidden_size = hidden_size
        self.n_final = n_final
        self.latency = latency
        self.max_latency_ms = max_latency_ms
        self.latency_weight = (
            self.default_latency_weight if latency_weight is None else float(latency_weight)
        )
        self.latency_target_ms = max_latency_ms
        self.seed = seed
        self.device = torch.device(device)
        supernet.to(self.device)
        self.controller = Controller(
            supernet.mask.cpu(), hidden_size=hidden_size, tanh_constant=tanh_constant,
            seed=derive_seed(seed, 3),
        )  # fmt: skip
        self._gen = torch.Generator().manual_seed(derive_seed(seed, 4))
        self._weights = supernet.weight_parameters()
        self._w_opt = torch.optim.AdamW(self._weights, lr=lr, weight_decay=weight_decay)
        self._c_opt = torch.optim.Adam(self.controller.parameters(), lr=controller_lr)
        self._train, self._valid = task_batches(
            task, batch_size=batch_size, seed=seed, device=self.device
        )
        self.baseline: float | None = None

    @property
    def steps_per_epoch(self) -> int:
        """Shared-weight steps per epoch (one pass over the training split)."""
        return len(self._train)

    def fit(self, epochs: int) -> list[dict[str, float]]:
        """Alternate shared-weight training and controller updates for ``epochs`` epochs."""
        return super().fit(epochs)

    def _search_epoch(self, epoch: int, n_epochs: int) -> dict[str, float]:
        losses = [self.train_shared_step() for _ in range(self.steps_per_epoch)]
        rewards = [self.controller_step() for _ in range(self.controller_steps)]
        return {"train_loss": sum(losses) / len(losses), "reward": sum(rewards) / len(rewards)}

    def arch_weights(self) -> dict[str, dict[str, float]]:
        """The controller's probabilities along its greedy path, per decision."""
        probs = self.controller.probabilities()
        net = self.supernet
        return {
            name: {op: probs[d][k] for k, op in enumerate(ops) if bool(net.mask[d, k])}
            for d, (name, ops) in enumerate(net.decisions)
        }

    def alphas(self) -> dict[str, dict[str, float]]:
        """ENAS has no ``alpha``: the controller's probabilities (:meth:`arch_weights`)."""
        return self.arch_weights()

    def train_shared_step(self) -> float:
        """One AdamW step of the shared weights on a sub-network sampled by the controller."""
        with torch.no_grad():
            choice, _, _ = self.controller.sample(1, self._gen)
        self.supernet.train()
        x, y = self._train.next()
        loss = functional.cross_entropy(self.supernet(x, [int(c) for c in choice[0]]), y)
        self._w_opt.zero_grad(set_to_none=True)
        grads = torch.autograd.grad(loss, self._weights, allow_unused=True)
        for p, g in zip(self._weights, grads, strict=True):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(self._weights, 5.0)
        self._w_opt.step()
        return float(loss.item())

    def reward(self, choice: Sequence[int], x: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of sub-network ``choice`` on ``(x, y)`` minus the latency penalty."""
        self.supernet.train()  # batch statistics: the running ones mix every sub-network
        with torch.no_grad():
            r = accuracy(self.supernet(x, list(choice)), y)
        if self.latency is not None and self.max_latency_ms is not None:
            lat = self.latency.estimate(choice)
            over = max(0.0, lat - self.max_latency_ms) / self.max_latency_ms
            r -= self.latency_weight * over
        return r

    def controller_step(self) -> float:
        """One REINFORCE step with a moving-average baseline; returns the mean reward."""
        choices, log_p, entropy = self.controller.sample(self.controller_batch, self._gen)
        x, y = self._valid.next()
        rewards = torch.tensor([self.reward([int(c) for c in row], x, y) for row in choices])
        mean = float(rewards.mean().item())
        if self.baseline is None:
            self.baseline = mean
        advantage = rewards - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * mean
        loss = -(advantage * log_p).mean() - self.entropy_weight * entropy.mean()
        self._c_opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self._c_opt.step()
        return mean

    def update_controller(self, choices: Sequence[Sequence[int]], rewards: Sequence[float]) -> None:
        """One REINFORCE step on given choices and rewards (baseline: their mean)."""
        r = torch.tensor([float(v) for v in rewards])
        log_p = self.controller.log_prob(choices)
        loss = -((r - r.mean()) * log_p).mean()
        self._c_opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self._c_opt.step()

    def candidates(self) -> list[list[int]]:
        """The controller's greedy choice and up to ``n_final - 1`` distinct samples."""
        out = [self.controller.greedy()]
        seen = {tuple(out[0])}
        with torch.no_grad():
            draws, _, _ = self.controller.sample(4 * self.n_final, self._gen)
        for row in draws:
            key = tuple(int(c) for c in row)
            if len(out) >= self.n_final:
                break
            if key not in seen:
                seen.add(key)
                out.append(list(key))
        return out

    def derive(self) -> Architecture:
        """The best of :meth:`candidates` by validation reward on the whole validation split.

        With a latency limit, candidates whose table estimate is within
        :attr:`latency_target_ms` rank first.
        """
        x, y = self._valid.X, self._valid.y
        scored = []
        for choice in self.candidates():
            r = 0.0
            n = 0
            for start in range(0, len(x), 256):
                xb, yb = x[start : start + 256], y[start : start + 256]
                if len(xb) < 2:
                    continue
                r += self.reward(choice, xb, yb) * len(xb)
                n += len(xb)
            feasible = (
                self.latency is None
                or self.latency_target_ms is None
                or self.latency.estimate(choice) <= self.latency_target_ms
            )
            scored.append((r / max(n, 1), choice, feasible))
        # Within the latency target (table estimate) first, then by reward.
        best = max(scored, key=lambda t: (t[2], t[0]))
        self.final_scores = [(s, self.supernet.architecture(c)) for s, c, _ in scored]
        return self.supernet.architecture(best[1])

    def get_settings(self) -> dict[str, Any]:
        """The search settings (JSON-able), for the study's records."""
        return {
            "batch_size": self.batch_size, "lr": self.lr, "weight_decay": self.weight_decay,
            "controller_lr": self.controller_lr, "controller_steps": self.controller_steps,
            "controller_batch": self.controller_batch, "entropy_weight": self.entropy_weight,
            "baseline_decay": self.baseline_decay, "tanh_constant": self.tanh_constant,
            "hidden_size": self.hidden_size, "n_final": self.n_final,
            "max_latency_ms": self.max_latency_ms, "latency_weight": self.latency_weight,
            "seed": self.seed,
        }  # fmt: skip
