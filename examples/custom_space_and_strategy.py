"""Declare a space, plug in a strategy of your own, and search with a function evaluator.

Run: python examples/custom_space_and_strategy.py
"""

from __future__ import annotations

import metanas


@metanas.register_strategy("example-greedy")
class GreedyMutation(metanas.Strategy):
    """Mutate the best architecture so far; sample at random until one result is known."""

    def __init__(self, space: metanas.SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self.best: tuple[metanas.Architecture, float] | None = None

    def ask(self) -> metanas.Architecture:
        if self.best is None:
            return self.sample_unseen()
        return self.space.mutate(self.best[0], self._rng)

    def tell(self, obs: metanas.Observation) -> None:
        self.mark_seen(obs.arch)
        if obs.score is not None and (self.best is None or obs.score > self.best[1]):
            self.best = (obs.arch, obs.score)


def no_huge_nets(arch: metanas.Architecture) -> bool:
    return not (arch["depth"] == 8 and arch["width"] == 512)


def evaluate(arch: metanas.Architecture) -> dict[str, float]:
    # Stand-in for training: a smooth function of the choices with a known optimum.
    score = 0.95 - 0.02 * abs(arch["depth"] - 4) - 0.00005 * abs(arch["width"] - 256)
    score -= 0.01 if arch["act"] == "sigmoid" else 0.0
    return {"valid_accuracy": score}


def main(n_trials: int = 25) -> metanas.Trial:
    space = metanas.SearchSpace(
        {"depth": [1, 2, 4, 8], "width": [64, 128, 256, 512], "act": ["relu", "gelu", "sigmoid"]},
        constraints=[no_huge_nets],
    )
    study = metanas.create_study(
        space=space, strategy="example-greedy", seed=3, storage="sqlite://"
    )
    best = study.optimize(evaluate, n_trials=n_trials)
    assert best is not None
    print(f"best {best.arch.to_dict()} valid_accuracy={best.value:.4f} after {n_trials} trials")
    return best


if __name__ == "__main__":
    main()
