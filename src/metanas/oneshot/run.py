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
from metanas._torch import require_torch, torch_threads
from metanas.spaces.architecture import Architecture, Choice
from metanas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from metanas.storage.rdb import RDBStorage
    from metanas.study import Study
    from metanas.tasks import Task

__all__ = ["METHODS", "OneShotResult", "run_oneshot"]

_logger = logging.getLogger(__name__)

#: ``method`` names of :func:`run_oneshot`.
METHODS = ("darts", "darts2", "enas")
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
    search_settings: Mapping[str, Any] | None = None,
    evaluator_settings: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    device: str = "cpu",
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
        ``"darts"`` (first order), ``"darts2"`` (second order) or ``"enas"``.
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
        Where the study goes (default storage; name
        ``"{task}-{space}-{method}-s{seed}"``).
    retrain_epochs
        Epochs of the retraining (default 20); see ``evaluator_settings``.
    skeleton
        Fixed decisions of the ``cnn`` supernet (see
        :class:`~metanas.oneshot.ChainSuperNet`).
    search_settings
        Keyword arguments of :class:`~metanas.oneshot.DartsSearch` or
        :class:`~metanas.oneshot.EnasSearch` (``batch_size``, ``arch_lr``, ...).
    evaluator_settings
        Keyword arguments of :class:`~metanas.evaluation.TrainEvaluator` for
        the retraining (``patience``, ``lr``, ...).
    n_threads
        torch threads for the whole run (None: leave torch's setting).
    device
        torch device of the search and the retraining; ``"auto"``: CUDA when present.

    Returns
    -------
    OneShotResult

    Raises
    ------
    ValueError
        For an unknown ``method`` or bad numbers.
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
    if method not in METHODS:
        from metanas.exceptions import unknown

        raise unknown("method", method, METHODS, "Use 'darts', 'darts2' or 'enas'.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1; got {epochs!r}.")
    if (
        isinstance(latency_retries, bool)
        or not isinstance(latency_retries, int)
        or (latency_retries < 0)
    ):
        raise ValueError(f"latency_retries must be an int >= 0; got {latency_retries!r}.")
    if max_latency_ms is not None and not max_latency_ms > 0:
        raise ValueError(f"max_latency_ms must be > 0 or None; got {max_latency_ms!r}.")
    if latency_weight is not None and not latency_weight > 0:
        raise ValueError(f"latency_weight must be > 0 or None; got {latency_weight!r}.")
    torch = _import_torch()
    from metanas.evaluation.hardware import measure_latency_ms
    from metanas.evaluation.train import TrainEvaluator
    from metanas.oneshot.darts import DartsSearch
    from metanas.oneshot.enas import EnasSearch
    from metanas.oneshot.latency import measure_latency_table
    from metanas.oneshot.supernet import build_supernet

    the_space = _resolve_space(space)
    the_seed = resolve_seed(seed)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    evaluator = TrainEvaluator(
        task, the_space,
        **{"max_epochs": retrain_epochs or _DEFAULT_RETRAIN_EPOCHS, "seed": the_seed,
           "n_threads": n_threads, "device": device, **dict(evaluator_settings or {})},
    )  # fmt: skip
    search: DartsSearch | EnasSearch
    table = None
    estimate: float | None = None
    if latency_weight is None:  # each search's own default (DARTS 0.05, ENAS 1.0)
        latency_weight = (EnasSearch if method == "enas" else DartsSearch).default_latency_weight
    weight = float(latency_weight)
    start = time.perf_counter()
    with torch_threads(n_threads):
        supernet = build_supernet(
            the_space, task.input_shape, task.n_classes, seed=derive_seed(the_seed, 0x05),
            skeleton=skeleton,
        )  # fmt: skip
        if max_latency_ms is not None:
            table = measure_latency_table(supernet)
        common: dict[str, Any] = {
            "latency": table, "max_latency_ms": max_latency_ms, "latency_weight": weight,
            "seed": derive_seed(the_seed, 0x06), "device": device, **dict(search_settings or {}),
        }  # fmt: skip
        if method == "enas":
            search = EnasSearch(supernet, task, **common)
        else:
            search = DartsSearch(supernet, task, order=2 if method == "darts2" else 1, **common)
        search.fit(epochs)
        arch = search.derive()

        def latency_of(a: Architecture) -> float:
            model = the_space.build_model(  # type: ignore[attr-defined]
                a, task.input_shape, task.n_classes, seed=0
            )
            return measure_latency_ms(
                model, task.input_shape, 1, repeats=_LATENCY_REPEATS, warmup=3
            )

        latency = latency_of(arch)
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
            latency = latency_of(arch)
        if table is not None:
            estimate = table.estimate(supernet.choice_of(arch))
    search_s = time.perf_counter() - start
    if isinstance(search, EnasSearch):
        probs = search.controller.probabilities()
        alphas = {
            name: {op: probs[d][k] for k, op in enumerate(ops) if bool(supernet.mask[d, k])}
            for d, (name, ops) in enumerate(supernet.decisions)
        }
    else:
        alphas = supernet.alphas_dict()

    space_name = the_space.registered_name or type(the_space).__name__.lower()
    name = study_name or f"{task.name}-{space_name}-{method}-s{the_seed}"
    meets = None if max_latency_ms is None else bool(latency <= max_latency_ms)
    study, retrain_s = _store(
        task, the_space, evaluator, arch, name=name, storage=storage, seed=the_seed,
        oneshot={
            "method": method, "epochs": epochs, "search_s": search_s, "alphas": alphas,
            "history": search.history, "search_settings": search.get_settings(),
            "skeleton": dict(getattr(supernet, "skeleton", {})),
            "latency_table": None if table is None else table.to_dict(),
            "max_latency_ms": max_latency_ms, "latency_ms": latency,
            "estimated_latency_ms": estimate, "meets_limit": meets,
            "latency_weight": weight, "latency_target_ms": search.latency_target_ms,
        },
    )  # fmt: skip
    trial = study.trials[-1]
    return OneShotResult(
        method=method, arch=arch, arch_string=the_space.format(arch), search_s=search_s,
        retrain_s=retrain_s,
        valid_accuracy=float(trial.metrics.get("valid_accuracy", math.nan)),
        test_accuracy=float(trial.test_metrics.get("test_accuracy", math.nan)),
        latency_ms=latency, estimated_latency_ms=estimate, max_latency_ms=max_latency_ms,
        meets_limit=meets, latency_weight=weight,
        latency_target_ms=search.latency_target_ms, study_name=study.name, alphas=alphas,
        history=list(search.history),
    )  # fmt: skip


def _store(
    task: Task,
    space: SearchSpace,
    evaluator: Any,
    arch: Architecture,
    *,
    name: str,
    storage: str | RDBStorage | None,
    seed: int,
    oneshot: dict[str, Any],
) -> tuple[Study, float]:
    """A study holding ``arch`` as its one trial, retrained by ``evaluator`` (export-ready)."""
    from metanas.study import create_study

    study = create_study(
        space=space, name=name, storage=storage, strategy="random", seed=seed,
        metric="valid_accuracy", direction="maximize", task=task.name,
        task_descriptors=evaluator.task_descriptors(),
        user_attrs={
            "evaluator": evaluator.get_settings(), "task_source": dict(task.source),
            "hardware": evaluator.hardware, "oneshot": _jsonable(oneshot),
        },
    )  # fmt: skip
    study.enqueue(arch)
    start = time.perf_counter()
    study.optimize(evaluator, n_trials=1)
    retrain_s = time.perf_counter() - start
    study.refresh()
    return study, retrain_s


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
