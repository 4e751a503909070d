"""``run_oneshot``: search a supernet, derive the architecture, retrain it, store it as a study.

torch is imported inside the functions; ``pip install "metanas[torch]"`` provides it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metanas._rng import derive_seed, resolve_seed
from metanas._stored_runs import store_run
from metanas._torch import _UNSET, DEFAULT_THREADS, check_threads, require_torch, torch_threads
from metanas.evaluation.base import Evaluator, Result
from metanas.oneshot.base import ONESHOT, OneShotSearch
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace
from metanas.spaces.trainable import require_trainable

if TYPE_CHECKING:
    from metanas.storage.rdb import RDBStorage
    from metanas.tasks import Task

__all__ = ["METHODS", "OneShotResult", "run_oneshot"]

_logger = logging.getLogger(__name__)

#: The built-in ``method`` names of :func:`run_oneshot` (``available("oneshot")`` lists all).
METHODS = tuple(ONESHOT.names())
_DEFAULT_RETRAIN_EPOCHS = 20
_LATENCY_REPEATS = 30


@dataclass(frozen=True)
class OneShotResult:
    """What :func:`run_oneshot` found and measured.

    Attributes
    ----------
    method
        ``"darts"`` (first order), ``"darts2"`` (second order) or ``"enas"``.
    arch, arch_string
        The derived architecture and its notation in the space.
    search_s
        Wall time of the search (supernet, latency table, search, derivation,
        latency retries).
    retrain_s
        Wall time of retraining and evaluating the derived network.
    valid_accuracy, test_accuracy
        Of the retrained network (:class:`~metanas.evaluation.TrainEvaluator`).
    latency_ms
        Measured latency of the derived network (batch 1, CPU, median).
    estimated_latency_ms
        The latency table's estimate of it (None without a limit).
    max_latency_ms, meets_limit
        The limit given and whether ``latency_ms`` is within it (None: no limit).
    latency_weight
        The weight of the latency penalty.
    latency_target_ms
        The table estimate the derivation aimed at: the limit, lowered by
        retries when the measured latency was over it (None: no limit).
    study_name
        The stored study (one completed trial: the derived architecture).
    alphas
        ``{decision: {operation: value}}``: DARTS' architecture parameters, or
        for ENAS the controller's log-probabilities along its greedy path.
    history
        One row per search epoch.
    derivation
        The candidates of the last latency-constrained derivation (DARTS: architecture,
        log-probability, table estimate and validation accuracy with inherited weights);
        empty when the limit did not bind or the method keeps none.
    """

    method: str
    arch: Architecture
    arch_string: str
    search_s: float
    retrain_s: float
    valid_accuracy: float
    test_accuracy: float
    latency_ms: float
    estimated_latency_ms: float | None
    max_latency_ms: float | None
    meets_limit: bool | None
    latency_weight: float
    latency_target_ms: float | None
    study_name: str
    alphas: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    derivation: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        """Search plus retraining wall time."""
        return self.search_s + self.retrain_s


def _import_torch() -> Any:
    return require_torch("One-shot search")


def _resolve_space(space: SearchSpace | str) -> SearchSpace:
    from metanas.spaces import create_space

    if isinstance(space, str):
        return create_space(space)
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace or a space name; got {type(space).__name__}.")
    return space


def run_oneshot(
    task: Task,
    space: SearchSpace | str,
    method: str = "darts",
    *,
    epochs: int = 6,
    seed: int | None = 0,
    max_latency_ms: float | None = None,
    latency_weight: float | None = None,
    latency_retries: int = 2,
    storage: str | RDBStorage | None = None,
    study_name: str | None = None,
    retrain_epochs: int | None = None,
    skeleton: Mapping[str, Choice] | None = None,
    supernet_settings: Mapping[str, Any] | None = None,
    search_settings: Mapping[str, Any] | None = None,
    evaluator_settings: Mapping[str, Any] | None = None,
    threads: int | None = DEFAULT_THREADS,
    device: str = "cpu",
    n_threads: Any = _UNSET,
) -> OneShotResult:
    """One-shot search on ``task``: DARTS or ENAS, then retrain the derived network and store it.

    Parameters
    ----------
    task
        A :class:`metanas.tasks.Task`; the search trains weights on its
        training split and the architecture on its validation split.
    space
        ``"nb201"`` or ``"cnn"`` (or such a space object).
    method
        ``"darts"`` (first order), ``"darts2"`` (second order), ``"enas"`` or a method
        registered with :func:`~metanas.oneshot.register_oneshot`.
    epochs
        Search epochs (passes over the training split).
    seed
        Seed of the supernet, the search and the retraining (drawn when None).
    max_latency_ms
        ProxylessNAS-style latency limit (batch 1, this machine's CPU): a
        per-operation latency table is measured and ``latency_weight *
        max(0, E[latency] - limit) / limit`` joins the architecture loss
        (ENAS: the reward), and the derivation keeps the table's estimate
        within the limit (DARTS: the most likely architecture under
        ``softmax(alpha)`` within it; ENAS: candidates within it first).
        The derived network's real latency is then measured; while it is
        over the limit (the table under-estimated it), the derivation target
        is lowered by the size of the miss and the network derived again, at
        most ``latency_retries`` times.
    latency_weight
        Weight of the latency penalty; None: the search's default
        (``DartsSearch.default_latency_weight`` 0.05,
        ``EnasSearch.default_latency_weight`` 1.0).
    storage, study_name
        Where the run is stored (default storage; name
        ``"{task}-{space}-{method}-s{seed}"``): a study whose strategy is ``method``, with the
        derived architecture as its one trial (retraining metrics), the search records in the
        user attribute ``"oneshot"`` and the architecture weights after each epoch in
        ``"arch_weights"`` (``[{"epoch": 1, "weights": {decision: {operation: p}}}, ...]``).
    retrain_epochs
        Epochs of the retraining (default 20); see ``evaluator_settings``.
    skeleton
        Fixed decisions of the ``cnn`` supernet (see
        :class:`~metanas.oneshot.ChainSuperNet`).
    supernet_settings
        Keyword arguments of :func:`~metanas.oneshot.build_supernet`: ``widths`` for ``cnn``
        (search the width of every convolution too), ``channels``, ``n_cells`` for ``nb201``.
    search_settings
        Keyword arguments of :class:`~metanas.oneshot.DartsSearch` or
        :class:`~metanas.oneshot.EnasSearch` (``batch_size``, ``arch_lr``, ...). With a
        latency limit, ``{"derive_candidates": k, "candidate_score": "trained"}`` trains the
        candidates of the derivation with the retraining recipe (each timed first; one over
        the limit is not trained) and derives the best by validation accuracy; that
        training counts in ``search_s``, and the derived network's is reused as its
        retraining.
    evaluator_settings
        Keyword arguments of :class:`~metanas.evaluation.TrainEvaluator` for
        the retraining (``patience``, ``lr``, ...).
    threads
        torch CPU threads for the whole run (default 1, which never oversubscribes a
        shared machine: torch's own one-per-core default trains up to 50x slower while
        another process keeps a core busy; None: leave torch's setting).
    device
        torch device of the search and the retraining; ``"auto"``: CUDA when present.
    n_threads
        Deprecated alias of ``threads`` (FutureWarning).

    Returns
    -------
    OneShotResult

    Raises
    ------
    UnknownNameError
        For an unknown ``method``.
    ValueError
        For bad numbers.
    DuplicatedStudyError
        A study called ``study_name`` exists already.
    TypeError
        For a space without a supernet (``mlp``, tables).

    Notes
    -----
    Without a latency limit the run is deterministic on the CPU for a given
    ``seed``; with one, the measured latency table (and so the search) depends
    on the machine's load.

    References
    ----------
    Liu, H., Simonyan, K. & Yang, Y. DARTS: Differentiable architecture search. ICLR 2019.

    Pham, H. et al. Efficient neural architecture search via parameter sharing. ICML 2018.

    Cai, H., Zhu, L. & Han, S. ProxylessNAS: Direct neural architecture search on
    target task and hardware. ICLR 2019.
    """
    make = ONESHOT.get(method)  # an unknown name raises, listing the registered methods
    threads = check_threads(threads, n_threads, owner="run_oneshot")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1; got {epochs!r}.")
    if (
        isinstance(latency_retries, bool)
        or not isinstance(latency_retries, int)
        or (latency_retries < 0)
    ):
        raise ValueError(f"latency_retries must be an int >= 0; got {latency_retries!r}.")
    if max_latency_ms is not None and not (
        isinstance(max_latency_ms, int | float) and max_latency_ms > 0
    ):
        raise ValueError(
            f"max_latency_ms must be a number > 0 (ms, batch 1) or None; got {max_latency_ms!r}."
        )
    if latency_weight is not None and not latency_weight > 0:
        raise ValueError(f"latency_weight must be > 0 or None; got {latency_weight!r}.")
    torch = _import_torch()
    from metanas.evaluation.hardware import measure_latency_ms
    from metanas.evaluation.train import TrainEvaluator
    from metanas.oneshot.latency import measure_latency_table
    from metanas.oneshot.supernet import build_supernet

    the_space = require_trainable(_resolve_space(space), "One-shot search")
    the_seed = resolve_seed(seed)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    evaluator = TrainEvaluator(
        task, the_space,
        **{"max_epochs": retrain_epochs or _DEFAULT_RETRAIN_EPOCHS, "seed": the_seed,
           "threads": threads, "device": device, **dict(evaluator_settings or {})},
    )  # fmt: skip
    table = None
    estimate: float | None = None
    start = time.perf_counter()
    with torch_threads(threads):
        supernet = build_supernet(
            the_space, task.input_shape, task.n_classes, seed=derive_seed(the_seed, 0x05),
            skeleton=skeleton, **dict(supernet_settings or {}),
        )  # fmt: skip
        if max_latency_ms is not None:
            table = measure_latency_table(supernet)
            _check_limit(table, supernet, max_latency_ms)
        # latency_weight None: the method's own default (DARTS 0.05, ENAS 1.0).
        search = make(
            supernet, task, latency=table, max_latency_ms=max_latency_ms,
            latency_weight=latency_weight, seed=derive_seed(the_seed, 0x06), device=device,
            **dict(search_settings or {}),
        )  # fmt: skip
        if not isinstance(search, OneShotSearch):
            raise TypeError(
                f"One-shot method {method!r} made a {type(search).__name__}, not a OneShotSearch."
            )
        weight = search.latency_weight

        def latency_of(a: Architecture) -> float:
            model = the_space.build_model(a, task.input_shape, task.n_classes, seed=0)
            return measure_latency_ms(
                model, task.input_shape, 1, repeats=_LATENCY_REPEATS, warmup=3
            )

        if getattr(search, "measure_candidates", 0) and search.measure_latency is None:  # type: ignore[attr-defined]
            search.measure_latency = latency_of  # type: ignore[attr-defined]
        # Candidates trained during the derivation (candidate_score="trained"): the chosen
        # one's training is the retraining (same recipe and seed), and its latency is the one
        # it was judged by, so neither is repeated.
        trained: dict[Architecture, tuple[float, Result | None]] = {}

        def train_candidate(a: Architecture) -> dict[str, float]:
            if a not in trained:
                ms = latency_of(a)
                over = max_latency_ms is not None and ms > max_latency_ms
                trained[a] = (ms, None if over else _retrain(evaluator, a))
            ms, res = trained[a]
            rec = {"measured_latency_ms": ms}
            if res is not None:
                rec["valid_accuracy"] = float(res.metrics.get("valid_accuracy", math.nan))
            return rec

        if getattr(search, "candidate_score", None) == "trained" and search.train_candidate is None:  # type: ignore[attr-defined]
            search.train_candidate = train_candidate  # type: ignore[attr-defined]

        def measured(a: Architecture) -> float:
            return trained[a][0] if a in trained else latency_of(a)

        search.fit(epochs)
        arch = search.derive()
        latency = measured(arch)
        for attempt in range(latency_retries if max_latency_ms is not None else 0):
            limit = float(max_latency_ms)  # type: ignore[arg-type]
            if latency <= limit:
                break
            # The table under-estimated this network: aim lower by the size of the miss
            # and derive again (raising the penalty weight and searching on instead
            # pushed the whole mixture to pooling: 75 % instead of 95 % test accuracy).
            target = float(search.latency_target_ms or limit)
            search.latency_target_ms = target * 0.97 * limit / latency
            _logger.info(
                "Derived network: %.3f ms > limit %.3f ms; retry %d with target %.3f ms.",
                latency, limit, attempt + 1, search.latency_target_ms,
            )  # fmt: skip
            arch = search.derive()
            latency = measured(arch)
        if table is not None:
            estimate = table.estimate(supernet.choice_of(arch))
    search_s = time.perf_counter() - start
    alphas = search.alphas()
    derivation = list(getattr(search, "derivation", []))

    space_name = the_space.registered_name or type(the_space).__name__.lower()
    name = study_name or f"{task.name}-{space_name}-{method}-s{the_seed}"
    meets = None if max_latency_ms is None else bool(latency <= max_latency_ms)
    retrain_start = time.perf_counter()
    done = trained.get(arch, (latency, None))[1]
    result = _retrain(evaluator, arch) if done is None else done
    retrain_s = time.perf_counter() - retrain_start
    stored = store_run(
        storage=storage, name=name, kind="oneshot", method=method, task=task.name,
        task_descriptors=evaluator.task_descriptors(), space=the_space, arch=arch,
        settings=search.get_settings(), seed=the_seed, objective=("valid_accuracy", "maximize"),
        metrics=result.metrics, test_metrics=result.test_metrics, cost_s=result.cost_s,
        user_attrs={
            "evaluator": evaluator.get_settings(), "task_source": dict(task.source),
            "hardware": evaluator.hardware,
            "arch_weights": [
                {"epoch": e + 1, "weights": w} for e, w in enumerate(search.arch_history)
            ],
            "oneshot": {
                "method": method, "epochs": epochs, "search_s": search_s, "alphas": alphas,
                "history": search.history, "search_settings": search.get_settings(),
                "skeleton": dict(getattr(supernet, "skeleton", {})),
                "supernet_settings": dict(supernet_settings or {}),
                "latency_table": None if table is None else table.to_dict(),
                "max_latency_ms": max_latency_ms, "latency_ms": latency,
                "estimated_latency_ms": estimate, "meets_limit": meets,
                "latency_weight": weight, "latency_target_ms": search.latency_target_ms,
                "retrain_s": retrain_s, "error": result.reason, "derivation": derivation,
            },
        },
    )  # fmt: skip
    return OneShotResult(
        method=method, arch=arch, arch_string=the_space.format(arch), search_s=search_s,
        retrain_s=retrain_s,
        valid_accuracy=float(result.metrics.get("valid_accuracy", math.nan)),
        test_accuracy=float(result.test_metrics.get("test_accuracy", math.nan)),
        latency_ms=latency, estimated_latency_ms=estimate, max_latency_ms=max_latency_ms,
        meets_limit=meets, latency_weight=weight,
        latency_target_ms=search.latency_target_ms, study_name=stored, alphas=alphas,
        history=list(search.history), derivation=derivation,
    )  # fmt: skip


def _check_limit(table: Any, supernet: Any, max_latency_ms: float) -> None:
    """Warn when even the fastest derivable network's table estimate is over the limit."""
    fastest = table.fastest(supernet.derivable().cpu().numpy())
    estimate = table.estimate(fastest)
    if estimate > max_latency_ms:
        _logger.warning(
            "max_latency_ms=%g is below the fastest network of this supernet (%s, estimated at "
            "%.4g ms on this machine): the derived network will not meet it. Raise the limit, "
            "or search a skeleton with fewer or narrower blocks.",
            max_latency_ms, supernet.space.format(supernet.architecture(fastest)), estimate,
        )  # fmt: skip


def _retrain(evaluator: Evaluator, arch: Architecture) -> Result:
    """Train the derived network; an error is recorded as a failed result (the study keeps it)."""
    try:
        return evaluator.evaluate(arch)
    except Exception as exc:  # a failed retraining is stored as a FAILED trial, as studies do
        _logger.warning("Retraining the derived network failed: %r", exc)
        return Result.failed(repr(exc))
