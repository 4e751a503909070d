"""One few-shot experiment end to end: split classes, meta-train, evaluate on test episodes."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metanas._registry import Registry
from metanas._rng import derive_seed, resolve_seed
from metanas._stored_runs import store_run
from metanas._torch import _UNSET, DEFAULT_THREADS, check_device, check_threads
from metanas.fewshot.episodes import EpisodeSampler, FewShotDataset, fewshot_dataset, split_classes

if TYPE_CHECKING:
    from metanas.fewshot.learners import FewShotLearner
    from metanas.storage.rdb import RDBStorage

__all__ = [
    "FEWSHOT",
    "METHODS",
    "FewShotResult",
    "make_learner",
    "register_fewshot",
    "register_method",
    "run_fewshot",
]


def _check_method(obj: object) -> None:
    if not callable(obj):
        raise TypeError(
            f"register_fewshot needs a FewShotLearner subclass or a factory "
            f"(**kwargs) -> FewShotLearner; got {obj!r}."
        )


#: Few-shot methods by name; ``available("fewshot")`` lists them without importing torch.
FEWSHOT: Registry[Callable[..., FewShotLearner]] = Registry(
    "fewshot",
    label="few-shot method",
    check=_check_method,
    fix="Register one with @metanas.fewshot.register_fewshot(name).",
)


def register_fewshot(
    name: str,
) -> Callable[[Callable[..., FewShotLearner]], Callable[..., FewShotLearner]]:
    """Decorator: make ``factory(**kwargs) -> FewShotLearner`` available as ``method=name``.

    The decorated object is a :class:`~metanas.fewshot.FewShotLearner` subclass or a factory.
    """
    return FEWSHOT.register(name)


def register_method(name: str, factory: Callable[..., FewShotLearner]) -> None:
    """Deprecated: use the :func:`register_fewshot` decorator (``register_fewshot(name)(f)``)."""
    warnings.warn(
        "register_method(name, factory) is deprecated; decorate the factory with "
        "@metanas.fewshot.register_fewshot(name) instead.",
        FutureWarning,
        stacklevel=2,
    )
    register_fewshot(str(name).lower())(factory)


# Built-in methods: factories, so that listing them imports no torch.
@register_fewshot("maml")
def _maml(**kwargs: Any) -> FewShotLearner:
    """MAML (Finn et al., 2017), second order."""
    from metanas.fewshot.learners import MAML

    return MAML(**kwargs)


@register_fewshot("fomaml")
def _fomaml(**kwargs: Any) -> FewShotLearner:
    """First-order MAML."""
    from metanas.fewshot.learners import MAML

    return MAML(first_order=True, **kwargs)


@register_fewshot("reptile")
def _reptile(**kwargs: Any) -> FewShotLearner:
    """Reptile (Nichol et al., 2018)."""
    from metanas.fewshot.learners import Reptile

    return Reptile(**kwargs)


@register_fewshot("protonet")
def _protonet(**kwargs: Any) -> FewShotLearner:
    """Prototypical networks (Snell et al., 2017)."""
    from metanas.fewshot.learners import PrototypicalNetwork

    return PrototypicalNetwork(**kwargs)


@register_fewshot("matching")
def _matching(**kwargs: Any) -> FewShotLearner:
    """Matching networks (Vinyals et al., 2016)."""
    from metanas.fewshot.learners import MatchingNetwork

    return MatchingNetwork(**kwargs)


@register_fewshot("metanas")
def _metanas(**kwargs: Any) -> FewShotLearner:
    """MetaNAS: a DARTS supernet with a prototypical head, architecture adapted per task."""
    from metanas.fewshot.metanas import MetaNAS

    return MetaNAS(**kwargs)


@register_fewshot("metanas-frozen")
def _metanas_frozen(**kwargs: Any) -> FewShotLearner:
    """Ablation of MetaNAS: architecture weights frozen at their uniform start (the supernet's
    weights are still meta-learned)."""
    from metanas.fewshot.metanas import MetaNAS

    return MetaNAS(**{**kwargs, "alpha_inner_lr": 0.0, "alpha_meta_lr": 0.0})


@register_fewshot("metanas-reptile")
def _metanas_reptile(**kwargs: Any) -> FewShotLearner:
    """MetaNAS as in the paper: weights and architecture adapted per task, Reptile
    meta-update, discretised at test time."""
    from metanas.fewshot.metanas import MetaNASReptile

    return MetaNASReptile(**kwargs)


#: The built-in methods of :func:`run_fewshot` (``available("fewshot")`` lists all).
METHODS = (
    "maml", "fomaml", "reptile", "protonet", "matching", "metanas", "metanas-frozen",
    "metanas-reptile",
)  # fmt: skip


def make_learner(method: str, **kwargs: Any) -> FewShotLearner:
    """A learner by name (``available("fewshot")``: the built-in :data:`METHODS` and any
    registered with :func:`register_fewshot`).

    Keyword arguments go to the learner's constructor (``seed``, ``hidden``,
    ``inner_lr`` ...).

    Raises
    ------
    UnknownNameError
        An unknown method.
    """
    key = method.lower() if isinstance(method, str) else method
    return FEWSHOT.get(key)(**kwargs)


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
    study_name: str | None = None

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
    image_size: int = 28,
    threads: int | None = DEFAULT_THREADS,
    device: str | None = None,
    storage: str | RDBStorage | None = None,
    study_name: str | None = None,
    n_threads: Any = _UNSET,
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
        ``"mnist1d"``, ``"digits"``, ``"glyphs"``, an ``(X, y)`` pair or a
        :class:`FewShotDataset`.
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
    image_size
        Side of the ``"glyphs"`` images in pixels.
    threads
        Torch CPU threads while meta-training and testing (default 1, which never
        oversubscribes a shared machine; None: torch's setting).
    device
        Torch device (see :class:`~metanas.fewshot.FewShotLearner`); a GPU that torch
        cannot use fails at once.
    storage, study_name
        With either given, the run is stored as a study (default name
        ``"{data}-{ways}way{shots}shot-{method}-s{seed}"``) whose strategy is ``method``: one
        COMPLETE trial with ``accuracy`` and ``ci95`` (the meta-learned architecture for
        ``metanas``, else the method), the settings, and the user attributes ``"fewshot"``
        (the result) and ``"episode_accuracies"`` (one per test episode).
    n_threads
        Deprecated alias of ``threads`` (FutureWarning).
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
    threads = check_threads(threads, n_threads, owner="run_fewshot")
    if device is not None:
        check_device(device)
    seed = resolve_seed(seed)
    ds = fewshot_dataset(
        data, n_samples=n_samples, seed=derive_seed(seed, 0), image_size=image_size
    )
    split = split_classes(ds, test_fraction=test_fraction, seed=derive_seed(seed, 1))
    train = EpisodeSampler(
        split.train, ways=ways, shots=shots, queries=queries, seed=derive_seed(seed, 2)
    )
    test = EpisodeSampler(
        split.test, ways=ways, shots=shots, queries=queries, seed=derive_seed(seed, 3)
    )
    from metanas.fewshot.learners import mean_ci95

    learner = make_learner(
        method, seed=derive_seed(seed, 4), threads=threads, device=device, **learner_kwargs
    )
    learner.meta_train(train, n_iterations, meta_batch)
    start = time.perf_counter()
    accs = learner.episode_accuracies(test, n_episodes)
    acc, ci = mean_ci95(accs)
    eval_s = time.perf_counter() - start
    tail = learner.history[-min(20, len(learner.history)) :]
    result = FewShotResult(
        method=str(method).lower(), data=ds.name, ways=ways, shots=shots, queries=queries,
        accuracy=acc, ci95=ci, train_time_s=learner.train_time_s, eval_time_s=eval_s,
        n_params=learner.n_params, n_iterations=n_iterations, meta_batch=meta_batch,
        episodes=n_episodes, seed=seed, train_classes=split.train_classes,
        test_classes=split.test_classes, final_loss=float(sum(tail) / len(tail)),
    )  # fmt: skip
    if storage is None and study_name is None:
        return result
    settings = {
        "ways": ways, "shots": shots, "queries": queries, "n_iterations": n_iterations,
        "meta_batch": meta_batch, "n_episodes": n_episodes, "test_fraction": test_fraction,
        "n_samples": n_samples, "seed": seed, **learner_kwargs,
    }  # fmt: skip
    name = _store(learner, result, settings, [float(a) for a in accs], storage, study_name)
    return dataclasses.replace(result, study_name=name)


def _free_name(storage: str | RDBStorage | None, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` ... when taken: a default name never collides."""
    from metanas.storage.rdb import get_storage

    taken = {s.name for s in get_storage(storage).list_studies()}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _store(
    learner: FewShotLearner,
    result: FewShotResult,
    settings: dict[str, Any],
    accs: list[float],
    storage: str | RDBStorage | None,
    study_name: str | None,
) -> str:
    """Store a finished run as a study (see :func:`run_fewshot`); returns its name."""
    from metanas.fewshot.metanas import MetaNAS, MetaNASReptile
    from metanas.spaces.architecture import Architecture
    from metanas.spaces.base import SearchSpace

    space: SearchSpace
    weights: dict[str, dict[str, float]] | None = None
    if isinstance(
        learner, MetaNAS | MetaNASReptile
    ):  # a supernet learner: its meta-learned architecture
        edges = {
            f"cell{c}.edge{e}": op
            for c, cell in enumerate(learner.genotype())
            for e, op in enumerate(cell)
        }
        space = SearchSpace({edge: list(learner.ops) for edge in edges})
        arch = Architecture(edges)
        weights = learner.supernet.weights_dict()
    else:  # a fixed backbone: the method is the whole "architecture"
        space = SearchSpace({"method": [result.method]})
        arch = Architecture({"method": result.method})
    name = study_name or _free_name(
        storage, f"{result.data}-{result.ways}way{result.shots}shot-{result.method}-s{result.seed}"
    )
    return store_run(
        storage=storage, name=name, kind="fewshot", method=result.method, task=result.data,
        task_descriptors={"ways": result.ways, "shots": result.shots}, space=space, arch=arch,
        settings=settings, seed=result.seed, objective=("accuracy", "maximize"),
        metrics={"accuracy": result.accuracy, "ci95": result.ci95},
        cost_s=result.train_time_s + result.eval_time_s,
        user_attrs={
            "fewshot": result.to_dict(), "episode_accuracies": accs,
            **({"arch_weights": [{"epoch": result.n_iterations, "weights": weights}]}
               if weights is not None else {}),
        },
    )  # fmt: skip
