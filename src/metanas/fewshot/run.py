"""One few-shot experiment end to end: split classes, meta-train, evaluate on test episodes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metanas._rng import derive_seed, resolve_seed
from metanas.exceptions import unknown
from metanas.fewshot.episodes import EpisodeSampler, FewShotDataset, fewshot_dataset, split_classes

if TYPE_CHECKING:
    from metanas.fewshot.learners import FewShotLearner

__all__ = ["METHODS", "FewShotResult", "make_learner", "register_method", "run_fewshot"]

#: Built-in methods of :func:`run_fewshot` (``fomaml``: first-order MAML; ``metanas``:
#: a DARTS supernet with a prototypical head, architecture adapted per task).
METHODS = ("maml", "fomaml", "reptile", "protonet", "matching", "metanas")

_REGISTRY: dict[str, Callable[..., FewShotLearner]] = {}


def register_method(name: str, factory: Callable[..., FewShotLearner]) -> None:
    """Make ``factory(**kwargs) -> FewShotLearner`` available as ``method=name``."""
    if not callable(factory):
        raise TypeError(f"factory must be callable; got {type(factory).__name__}.")
    _REGISTRY[str(name).lower()] = factory


def _builtin(method: str) -> Callable[..., FewShotLearner]:
    from metanas.fewshot import learners

    if method == "metanas":
        from metanas.fewshot.metanas import MetaNAS

        return MetaNAS
    if method == "fomaml":
        return lambda **kw: learners.MAML(first_order=True, **kw)
    classes: dict[str, Callable[..., FewShotLearner]] = {
        "maml": learners.MAML,
        "reptile": learners.Reptile,
        "protonet": learners.PrototypicalNetwork,
        "matching": learners.MatchingNetwork,
    }
    return classes[method]


def available_methods() -> tuple[str, ...]:
    return (*METHODS, *(m for m in _REGISTRY if m not in METHODS))


def make_learner(method: str, **kwargs: Any) -> FewShotLearner:
    """A learner by name (one of :data:`METHODS` or a registered one).

    Keyword arguments go to the learner's constructor (``seed``, ``hidden``,
    ``inner_lr`` ...).

    Raises
    ------
    UnknownNameError
        An unknown method.
    """
    key = str(method).lower()
    if key in _REGISTRY:
        return _REGISTRY[key](**kwargs)
    if key in METHODS:
        return _builtin(key)(**kwargs)
    raise unknown("method", method, available_methods())


@dataclass(frozen=True)
class FewShotResult:
    """Outcome of :func:`run_fewshot`: test accuracy with its 95 % CI, and costs."""

    method: str
    data: str
    ways: int
    shots: int
    queries: int
    accuracy: float
    ci95: float
    train_time_s: float
    eval_time_s: float
    n_params: int
    n_iterations: int
    meta_batch: int
    episodes: int
    seed: int
    train_classes: tuple[int, ...]
    test_classes: tuple[int, ...]
    final_loss: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        d = dataclasses.asdict(self)
        d["train_classes"] = list(self.train_classes)
        d["test_classes"] = list(self.test_classes)
        return d


def run_fewshot(
    data: str | FewShotDataset | tuple[Any, Any],
    ways: int,
    shots: int,
    method: str,
    *,
    n_iterations: int = 500,
    seed: int | None = 0,
    queries: int = 15,
    meta_batch: int = 4,
    n_episodes: int = 600,
    test_fraction: float = 0.5,
    n_samples: int = 10_000,
    n_threads: int | None = 1,
    device: str | None = None,
    **learner_kwargs: Any,
) -> FewShotResult:
    """Meta-train ``method`` on the meta-training classes; test on held-out classes.

    The classes are split once (:func:`split_classes`, ``test_fraction`` of
    them held out: 5 of the 10 MNIST-1D or digits classes by default, so
    5-way test episodes always use exactly the 5 unseen classes). Training
    episodes come from the training classes, test episodes (the first
    ``n_episodes`` of a seeded stream) from the test classes; with the same
    ``seed`` every method sees the same split and the same test episodes.

    Parameters
    ----------
    data
        ``"mnist1d"``, ``"digits"``, an ``(X, y)`` pair or a :class:`FewShotDataset`.
    ways, shots, queries
        Episode shape (N-way, K-shot, query examples per class).
    method
        See :func:`make_learner`.
    n_iterations, meta_batch
        Outer updates and episodes per update.
    seed
        Seeds the split, the episodes and the initial weights.
    n_episodes
        Test episodes (600 by convention).
    test_fraction
        Fraction of the classes held out for meta-testing.
    n_samples
        MNIST-1D examples to generate.
    n_threads, device
        Torch threads and device (see :class:`~metanas.fewshot.FewShotLearner`).
    **learner_kwargs
        Passed to the learner (``hidden``, ``inner_lr``, ``meta_lr`` ...).

    Returns
    -------
    FewShotResult

    Raises
    ------
    ValueError
        ``ways`` larger than the number of test or training classes, or
        ``shots + queries`` larger than some class.
    """
    seed = resolve_seed(seed)
    ds = fewshot_dataset(data, n_samples=n_samples, seed=derive_seed(seed, 0))
    split = split_classes(ds, test_fraction=test_fraction, seed=derive_seed(seed, 1))
    train = EpisodeSampler(
        split.train, ways=ways, shots=shots, queries=queries, seed=derive_seed(seed, 2)
    )
    test = EpisodeSampler(
        split.test, ways=ways, shots=shots, queries=queries, seed=derive_seed(seed, 3)
    )
    learner = make_learner(
        method, seed=derive_seed(seed, 4), n_threads=n_threads, device=device, **learner_kwargs
    )
    learner.meta_train(train, n_iterations, meta_batch)
    start = time.perf_counter()
    acc, ci = learner.evaluate(test, n_episodes)
    eval_s = time.perf_counter() - start
    tail = learner.history[-min(20, len(learner.history)) :]
    return FewShotResult(
        method=str(method).lower(), data=ds.name, ways=ways, shots=shots, queries=queries,
        accuracy=acc, ci95=ci, train_time_s=learner.train_time_s, eval_time_s=eval_s,
        n_params=learner.n_params, n_iterations=n_iterations, meta_batch=meta_batch,
        episodes=n_episodes, seed=seed, train_classes=split.train_classes,
        test_classes=split.test_classes, final_loss=float(sum(tail) / len(tail)),
    )  # fmt: skip
