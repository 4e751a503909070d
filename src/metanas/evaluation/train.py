"""Train architectures of a trainable space on a task, with torch.

:class:`TrainEvaluator` is the evaluator of real searches: it checks the
hardware limits on the untrained network, trains with AdamW and a warm-up +
cosine learning-rate schedule, stops early on validation accuracy (keeping
the best epoch's weights) and reports validation and test metrics computed
with scikit-learn on the predictions.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from metanas._rng import derive_seed, resolve_seed
from metanas._torch import (
    _UNSET,
    DEFAULT_THREADS,
    check_device,
    check_threads,
    require_torch,
    torch_threads,
)
from metanas.evaluation.base import Evaluator, Result, Status
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace
from metanas.spaces.trainable import TrainableSpace, require_trainable

if TYPE_CHECKING:
    import torch
    from torch import nn

    from metanas.evaluation.augment import AugmentPolicy
    from metanas.tasks import Task

__all__ = [
    "PRECISIONS",
    "RUNTIME_SETTINGS",
    "TrainEvaluator",
    "arch_seed",
    "check_precision",
    "classification_metrics",
    "predict_proba",
]

_logger = logging.getLogger(__name__)
_PREDICT_BATCH = 1024
_WARMUP_FRACTION = 0.1
_AUGMENT_KEY = 0x415547  # derive_seed key of the augmentation stream ("AUG")
#: :meth:`TrainEvaluator.get_settings` keys that change how fast a trial runs, not what it
#: measures: a resumed study may change them, and only them.
RUNTIME_SETTINGS = frozenset({"device", "threads", "n_threads", "progress"})
#: Arithmetic of :class:`TrainEvaluator`'s training steps (its ``precision``).
PRECISIONS = ("fp32", "bf16", "auto")


def check_precision(precision: object) -> Literal["fp32", "bf16", "auto"]:
    """``precision`` if it is one of :data:`PRECISIONS`; else ValueError naming the choices.

    Callers that load data first (``metanas search --data``) check it before they do.
    """
    if precision == "fp32" or precision == "bf16" or precision == "auto":
        return precision
    raise ValueError(
        f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got "
        f"{precision!r}. 'auto' uses bfloat16 where the hardware computes it."
    )


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware (CPU: AVX512-BF16 or AMX; CUDA: Ampere+).

    Without it, bfloat16 is emulated and slower than float32, so ``precision="auto"`` keeps
    float32 there.
    """
    torch = _import_torch()
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def _import_torch() -> Any:
    return require_torch("Training")


def _key_string(key: Hashable) -> str:
    if isinstance(key, Architecture):
        return key.to_string()
    return repr(key)


def arch_seed(seed: int, space: SearchSpace, arch: Architecture) -> int:
    """The training seed of ``arch``: a function of ``seed`` and the network's :meth:`key` only.

    Two encodings of one network (same key) train identically, and so does a
    later retraining (export), whatever the order of the search.
    """
    digest = hashlib.sha256(_key_string(space.key(arch)).encode("utf-8")).digest()
    return derive_seed(seed, int.from_bytes(digest[:8], "little"))


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, prefix: str) -> dict[str, float]:
    """Accuracy, macro recall, macro F1 (scikit-learn) and mean log-loss of ``proba``."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    y_true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(proba).argmax(axis=1)
    labels = list(range(proba.shape[1]))
    p_true = np.clip(proba[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    return {
        f"{prefix}_accuracy": float(accuracy_score(y_true, pred)),
        f"{prefix}_recall": float(
            recall_score(y_true, pred, labels=labels, average="macro", zero_division=0)
        ),
        f"{prefix}_f1": float(
            f1_score(y_true, pred, labels=labels, average="macro", zero_division=0)
        ),
        f"{prefix}_loss": float(-np.mean(np.log(p_true))),
    }


def predict_proba(
    model: nn.Module, X: np.ndarray, *, batch_size: int = _PREDICT_BATCH
) -> np.ndarray:
    """Class probabilities (softmax of the logits) of ``model`` for ``X``, shape ``(n, n_classes)``.

    Runs in eval mode under ``torch.inference_mode`` on the model's device;
    the training mode is restored.
    """
    torch = _import_torch()
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(X), batch_size):
                xb = torch.as_tensor(np.asarray(X[start : start + batch_size], dtype=np.float32))
                out.append(torch.softmax(model(xb.to(device)).float(), dim=1).cpu().numpy())
    finally:
        model.train(was_training)
    if not out:
        n_out = model(torch.zeros((1, *X.shape[1:]), device=device)).shape[1]
        return np.zeros((0, n_out), dtype=np.float32)
    return np.concatenate(out).astype(np.float64)


def _lr_factor(step: int, total: int) -> float:
    """Linear warm-up over the first 10 % of the steps, then cosine decay to 0."""
    warm = max(1, int(_WARMUP_FRACTION * total))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class TrainEvaluator(Evaluator):
    """Train each architecture on a task and measure it (accuracy, F1, params, FLOPs, latency).

    Parameters
    ----------
    task
        A :class:`metanas.tasks.Task` (train, validation and test splits).
    space
        A :class:`~metanas.spaces.TrainableSpace` (``"mlp"``, ``"cnn"``, ``"nb201"``).
    max_epochs
        Epochs per training unless :meth:`evaluate` gets a ``budget``.
    time_budget_s
        Seconds of training per architecture (None: no limit). After the first
        epoch the schedule is shortened to the epochs that fit.
    patience
        Stop when validation accuracy has not improved for this many epochs;
        the best epoch's weights are kept (None: never stop early).
    batch_size, lr, weight_decay, label_smoothing
        AdamW with a linear warm-up (10 % of the steps) and cosine decay.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
    threads
        torch intra-op threads while building, measuring and training (default 1,
        :data:`metanas._torch.DEFAULT_THREADS`; None: leave torch's setting). One
        thread per evaluation, and so per worker of ``n_jobs > 1``, never
        oversubscribes the cores: torch's own default (one per core) trains up to
        50x slower while another process keeps a core busy. Raise it on an idle
        machine for larger networks. The caller's setting is restored afterwards,
        and the count changes the speed (and at most the last digits of a training:
        torch sums in another order with more threads).
    n_threads
        Deprecated alias of ``threads`` (FutureWarning).
    seed
        Base seed; each architecture trains with :func:`arch_seed` of it, so
        the same network always trains identically.
    progress
        Show a rich progress bar over epochs.
    measure_latency
        Measure CPU latency (median ms at batch 1 and 64) before training.
    max_latency_ms, max_params, max_flops
        Hardware limits, checked on the untrained network before training: an
        architecture over a limit fails at once (status FAILED, the reason
        names the numbers, the measured metrics are kept) and is never trained.
    latency_repeats
        Timed runs per latency measurement (the median is reported).
    record_curve
        Also return the learning curve in :attr:`Result.curve`: per epoch the
        validation accuracy, the test accuracy (evaluated only for this, and
        never a search metric) and the seconds of training so far (each epoch's
        validation included, the test split's time left out). Off by default; it changes what is
        reported, not what is trained, so :meth:`get_settings` leaves it out. ``"valid"``
        records the validation accuracy only: no test pass per epoch (which cost 20 % of
        the training time on ``digits``); ``metanas search --data`` records that. A call
        with a ``budget`` or ``resume_from`` (multi-fidelity) records at least ``"valid"``.
    checkpoint_dir
        Where a training stopped below ``max_epochs`` (``evaluate(arch, budget=e)``) saves
        its state, so that ``evaluate(arch, budget=e2, resume_from=e)`` continues it. One
        file per network (the space's key), seed and task, overwritten by the run's latest
        stop and deleted when the run reaches ``max_epochs``. None: a fresh temporary
        directory made here, which every pickled copy (the workers of a process pool) shares
        and which is deleted when this object is garbage-collected or the interpreter exits
        (copies never delete it). Pass a directory to keep checkpoints across processes that
        do not share this object (a resumed study); it is not part of :meth:`get_settings`
        (where the state is kept does not change what a trial measures).
    precision
        Arithmetic of the training steps: ``"fp32"`` (the default), ``"bf16"`` (the forward
        pass under ``torch.autocast`` in bfloat16, the loss, the gradients' accumulation in the
        weights and the optimiser in float32; on a CPU, image batches in channels-last layout,
        the one oneDNN's bfloat16 convolutions are fast in) or ``"auto"`` (bfloat16 where the
        device computes it in hardware, see :func:`bf16_native`, float32 elsewhere). On a CPU
        with AVX512-BF16 small 2-D CNNs trained 1.9 to 2.6x faster per epoch in bfloat16
        (``benchmarks/precision.py``), 1-D CNNs about 1.2x; accuracy after
        training is usually within noise of float32, but the numbers differ, so it is part of
        :meth:`get_settings` (only when not ``"fp32"``) and of a checkpoint's identity.
        Validation, test and latency are always measured in float32.
    augment
        Training-time data augmentation (None: none, the default): the name of a registered
        policy (``available("augment")``: ``"specaugment"`` for sequence features such as
        log-mel spectrograms, ``"shift"`` and ``"shift-flip"`` for images; see
        :mod:`metanas.evaluation.augment`) or a registered policy object
        ``policy(batch, generator) -> batch``. It transforms every training batch (also of
        ``train(on="train+valid")``), never the validation or test split, with its own
        generator seeded from the network's training seed, so the same seed trains identically.
        The evaluator checks it once on a zero batch of the task's shape (a wrong shape raises
        ``ValueError``) and stores its name in :meth:`get_settings` (only when given).

    Notes
    -----
    Metrics: ``valid_accuracy``, ``valid_recall`` and ``valid_f1`` (macro),
    ``valid_loss``, ``params``, ``flops`` (forward, per sample), ``latency_ms``,
    ``latency_b64_ms``, ``train_time_s``, ``epochs``, ``best_epoch``; test
    metrics: ``test_accuracy``, ``test_recall``, ``test_f1``, ``test_loss``.
    :attr:`hardware` names the machine the latency was measured on.

    Multi-fidelity: ``evaluate(arch, budget=e)`` trains epochs 1..e of a ``max_epochs``
    schedule (the learning rate at epoch e is the one of a full run), so a run stopped after
    epoch e and resumed (``resume_from=e``) ends exactly where a straight run would. A
    resumed call restores the model, the optimiser, the schedule's step, the data order and
    dropout's random state, early stopping's best epoch and the curve so far; its
    ``cost_s`` is the seconds of this call only, its ``curve`` holds every epoch 1..e2 and
    ``train_time_s`` is the training seconds of the whole run. Without a usable checkpoint
    (deleted, written by another machine or by an evaluator with other settings) it trains
    from scratch, logs a warning, and ``cost_s`` is that whole training.
    """

    #: :meth:`evaluate` accepts ``resume_from`` (it continues a checkpointed run).
    supports_resume: ClassVar[bool] = True

    def __init__(
        self,
        task: Task,
        space: SearchSpace,
        *,
        max_epochs: int = 20,
        time_budget_s: float | None = None,
        patience: int | None = 5,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        label_smoothing: float = 0.0,
        device: str = "auto",
        threads: int | None = DEFAULT_THREADS,
        seed: int = 0,
        progress: bool = False,
        measure_latency: bool = True,
        max_latency_ms: float | None = None,
        max_params: int | None = None,
        max_flops: int | None = None,
        latency_repeats: int = 20,
        n_threads: Any = _UNSET,
        record_curve: bool | Literal["valid"] = False,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        augment: str | AugmentPolicy | None = None,
        precision: Literal["fp32", "bf16", "auto"] = "fp32",
    ) -> None:
        threads = check_threads(threads, n_threads, owner="TrainEvaluator")
        precision = check_precision(precision)
        trainable = require_trainable(space, "TrainEvaluator")
        for name, value in (("max_epochs", max_epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be an int >= 1 or None; got {patience!r}.")
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}.")
        if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}.")
        check_device(device)  # a missing GPU fails here once, not in every trial
        for name, limit in (
            ("time_budget_s", time_budget_s),
            ("max_latency_ms", max_latency_ms),
            ("max_params", max_params),
            ("max_flops", max_flops),
        ):
            if limit is not None and not limit > 0:
                raise ValueError(f"{name} must be > 0 or None; got {limit!r}.")
        self.task = task
        self.space: TrainableSpace = trainable
        self.max_epochs = max_epochs
        self.time_budget_s = time_budget_s
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.device = device
        self.threads = threads
        self.seed = resolve_seed(seed)
        self.progress = progress
        self.measure_latency = measure_latency
        self.max_latency_ms = max_latency_ms
        self.max_params = max_params
        self.max_flops = max_flops
        self.latency_repeats = latency_repeats
        self.task_name = task.name
        if record_curve not in (True, False, "valid"):
            raise ValueError(
                f"record_curve must be True, False or 'valid' (validation values only); got "
                f"{record_curve!r}."
            )
        self.record_curve: bool | Literal["valid"] = (
            "valid" if record_curve == "valid" else bool(record_curve)
        )
        self.precision: Literal["fp32", "bf16", "auto"] = precision
        self.augment: str | None = None
        self._augment: AugmentPolicy | None = None
        if augment is not None:
            from metanas.evaluation.augment import check_augment, resolve_augment

            self.augment, self._augment = resolve_augment(augment)
            with torch_threads(threads):
                check_augment(self._augment, self.augment, task.input_shape)
        if checkpoint_dir is None:
            made = tempfile.mkdtemp(prefix="metanas-checkpoints-")
            # Only the object that made the directory removes it: unpickled copies in pool
            # workers have no finalizer and write into it while the owner lives.
            self._cleanup = weakref.finalize(self, shutil.rmtree, made, ignore_errors=True)
            self.checkpoint_dir = Path(made)
        else:
            self.checkpoint_dir = Path(checkpoint_dir)

    # ------------------------------------------------------------ public API
    def get_settings(self) -> dict[str, Any]:
        """The keyword arguments of this evaluator (JSON-able), to rebuild it on the same task.

        ``TrainEvaluator(task, space, **ev.get_settings())`` trains exactly as
        ``ev`` does (export and resumed studies rely on it). ``augment`` and ``precision``
        are there only when given, so the settings of an evaluator without them read as
        before they existed.
        """
        settings: dict[str, Any] = {
            "max_epochs": self.max_epochs,
            "time_budget_s": self.time_budget_s,
            "patience": self.patience,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "label_smoothing": self.label_smoothing,
            "device": self.device,
            "threads": self.threads,
            "seed": self.seed,
            "progress": self.progress,
            "measure_latency": self.measure_latency,
            "max_latency_ms": self.max_latency_ms,
            "max_params": self.max_params,
            "max_flops": self.max_flops,
            "latency_repeats": self.latency_repeats,
        }
        if self.augment is not None:
            settings["augment"] = self.augment
        if self.precision != "fp32":
            settings["precision"] = self.precision
        return settings

    @classmethod
    def from_settings(
        cls, task: Task, space: SearchSpace, settings: Mapping[str, Any], **overrides: Any
    ) -> TrainEvaluator:
        """Rebuild an evaluator from stored :meth:`get_settings` (``overrides`` win).

        Settings stored by older versions are read too: their ``n_threads`` is ``threads``.
        """
        given = dict(settings)
        if "n_threads" in given:
            legacy = given.pop("n_threads")
            given.setdefault("threads", legacy)
        given.update(overrides)
        return cls(task, space, **given)

    def task_descriptors(self) -> dict[str, Any]:
        describe = getattr(self.task, "descriptors", None)
        return dict(describe()) if callable(describe) else {}

    @property
    def hardware(self) -> str:
        """The machine latency is measured on (CPU model and torch threads)."""
        from metanas.evaluation.hardware import hardware_name

        with torch_threads(self.threads):
            return hardware_name("cpu")

    def build(self, arch: Architecture) -> nn.Module:
        """The untrained model of ``arch`` (the weights training starts from)."""
        arch = self.space.validate(arch)
        return self.space.build_model(
            arch,
            self.task.input_shape,
            self.task.n_classes,
            seed=arch_seed(self.seed, self.space, arch),
        )

    def hardware_metrics(self, model: nn.Module) -> dict[str, float]:
        """Parameters, FLOPs and (when enabled or limited) CPU latency of ``model``."""
        from metanas.evaluation.hardware import count_flops, count_params, measure_latency_ms

        shape = self.task.input_shape
        out = {"params": float(count_params(model)), "flops": float(count_flops(model, shape))}
        if self.measure_latency or self.max_latency_ms is not None:
            out["latency_ms"] = measure_latency_ms(
                model, shape, 1, repeats=self.latency_repeats, warmup=3
            )
        if self.measure_latency:
            out["latency_b64_ms"] = measure_latency_ms(
                model, shape, 64, repeats=max(3, self.latency_repeats // 4), warmup=1
            )
        return out

    def violations(self, metrics: Mapping[str, float]) -> list[str]:
        """The hardware limits ``metrics`` break, as readable strings (empty when feasible)."""
        out = []
        for metric, limit, name in (
            ("latency_ms", self.max_latency_ms, "max_latency_ms"),
            ("params", self.max_params, "max_params"),
            ("flops", self.max_flops, "max_flops"),
        ):
            if limit is not None and metric in metrics and metrics[metric] > limit:
                out.append(f"{metric} {metrics[metric]:.4g} > {name} {limit:.4g}")
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cleanup", None)  # a copy never deletes the owner's checkpoint directory
        return state

    def evaluate(
        self,
        arch: Architecture,
        *,
        budget: float | None = None,
        resume_from: float | None = None,
    ) -> Result:
        """Check the limits, then train ``arch`` up to epoch ``budget`` and measure it.

        Parameters
        ----------
        arch
            An architecture of the space.
        budget
            Epochs to train to (default ``max_epochs``; at most ``max_epochs``).
        resume_from
            Continue the run of ``arch`` that an earlier call stopped after this many
            epochs (its checkpoint), up to ``budget``. ``cost_s`` is then this call's
            seconds; without the checkpoint it trains from scratch (a warning is logged).

        Raises
        ------
        ValueError
            ``budget`` is not a number of epochs from 1 to ``max_epochs``, or
            ``resume_from`` is not below it.
        """
        start = time.perf_counter()
        epochs = self._budget_epochs(budget)
        previous = self._resume_epochs(resume_from, epochs)
        arch = self.space.validate(arch)
        with torch_threads(self.threads):
            saved = None if previous is None else self._load_checkpoint(arch, previous)
            model = self.build(arch)
            if saved is None:
                hw = self.hardware_metrics(model)
                broken = self.violations(hw)
                if broken:
                    return Result(
                        metrics=hw,
                        cost_s=time.perf_counter() - start,
                        status=Status.FAILED,
                        reason="infeasible: " + "; ".join(broken),
                    )
            else:
                hw = dict(saved["hw"])
            _, result = self._fit(
                model,
                arch,
                epochs,
                on="train",
                hw=hw,
                start=start,
                schedule_epochs=self.max_epochs,
                saved=saved,
                checkpoint=self.checkpoint_path(arch),
                # a multi-fidelity call reports its curve: the study keeps it as the
                # trial's intermediate values
                record=self.record_curve
                or ("valid" if budget is not None or saved is not None else False),
            )
        return result

    def checkpoint_path(self, arch: Architecture) -> Path:
        """The file where a run of ``arch`` stopped below ``max_epochs`` keeps its state.

        Named after the space's key of ``arch``, the seed and the task, so two encodings of
        one network share it and other seeds or tasks never read it.
        """
        arch = self.space.validate(arch)
        name = self._checkpoint_identity(arch)
        digest = hashlib.sha256(json.dumps(name, sort_keys=True).encode("utf-8")).hexdigest()
        return self.checkpoint_dir / f"{digest[:40]}.pt"

    def train(
        self,
        arch: Architecture,
        *,
        epochs: int | None = None,
        on: Literal["train", "train+valid"] = "train",
    ) -> tuple[nn.Module, Result]:
        """Train ``arch`` and return the model (on the CPU, eval mode) with its :class:`Result`.

        ``on="train+valid"`` trains on both splits for exactly ``epochs``
        (default ``max_epochs``) without early stopping, as for a final model;
        its result then has no validation metrics. Limits are not checked.
        """
        if on not in ("train", "train+valid"):
            raise ValueError(f"on must be 'train' or 'train+valid'; got {on!r}.")
        start = time.perf_counter()
        n_epochs = self._epochs(epochs)
        arch = self.space.validate(arch)
        with torch_threads(self.threads):
            model = self.build(arch)
            hw = self.hardware_metrics(model)
            model, result = self._fit(model, arch, n_epochs, on=on, hw=hw, start=start)
        return model.cpu().eval(), result

    def predict_proba(self, model: nn.Module, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``model`` for ``X`` (see :func:`predict_proba`)."""
        with torch_threads(self.threads):
            return predict_proba(model, X)

    # -------------------------------------------------------------- internals
    def _epochs(self, budget: float | None) -> int:
        if budget is None:
            return self.max_epochs
        if not isinstance(budget, int | float) or isinstance(budget, bool) or not budget >= 1:
            raise ValueError(f"budget is a number of epochs >= 1; got {budget!r}.")
        return round(budget)

    def _budget_epochs(self, budget: float | None) -> int:
        if budget is None:
            return self.max_epochs
        epochs = self._epochs(budget)
        if epochs > self.max_epochs:
            raise ValueError(
                f"budget is a number of epochs from 1 to max_epochs={self.max_epochs}; got "
                f"{budget!r}. Pass a smaller budget, or raise max_epochs (the learning-rate "
                "schedule spans max_epochs)."
            )
        return epochs

    def _resume_epochs(self, resume_from: float | None, epochs: int) -> int | None:
        if resume_from is None:
            return None
        if (
            not isinstance(resume_from, int | float)
            or isinstance(resume_from, bool)
            or not resume_from >= 1
        ):
            raise ValueError(
                f"resume_from is the number of epochs (>= 1) an earlier call stopped at; got "
                f"{resume_from!r}. Pass resume_from=None to train from scratch."
            )
        previous = round(resume_from)
        if previous >= epochs:
            raise ValueError(
                f"resume_from must be below budget (a resumed run trains further); got "
                f"resume_from={resume_from!r} with budget {epochs} epochs. Pass a larger "
                "budget, or resume_from=None."
            )
        return previous

    def _checkpoint_identity(self, arch: Architecture) -> dict[str, Any]:
        return {
            "arch": _key_string(self.space.key(arch)),
            "seed": self.seed,
            "task": self.task_name,
        }

    def _settings_text(self) -> str:
        """The settings that change what a run computes, as text (a checkpoint must match)."""
        measured = {k: v for k, v in self.get_settings().items() if k not in RUNTIME_SETTINGS}
        return json.dumps(measured, sort_keys=True)

    def _load_checkpoint(self, arch: Architecture, previous: int) -> dict[str, Any] | None:
        """The state a run of ``arch`` saved after epoch ``previous``; None (logged) if unusable."""
        import pickle

        torch = _import_torch()
        path = self.checkpoint_path(arch)
        why = None
        saved: dict[str, Any] | None = None
        if not path.is_file():
            why = "there is no checkpoint"
        else:
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
                why = f"its checkpoint cannot be read ({exc!r})"
        if saved is not None:
            done = int(saved["epochs_done"])
            if saved.get("identity") != self._checkpoint_identity(arch):
                why = "the checkpoint belongs to another network, seed or task"
            elif saved.get("settings") != self._settings_text():
                why = "the checkpoint was trained with other settings"
            elif not (done == previous or (saved["finished"] and done <= previous)):
                why = f"the checkpoint holds the run after epoch {done}, not {previous}"
        if why is not None:
            _logger.warning(
                "Cannot resume %s after epoch %d (%s at %s): training it from scratch; this "
                "call's cost_s is the whole training.",
                self.space.format(arch), previous, why, path,
            )  # fmt: skip
            return None
        return saved

    def _save_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        torch = _import_torch()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a killed worker leaves the old checkpoint or the new
        # one, never half a file, and a reader in another process sees one of the two.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _device(self) -> torch.device:
        _import_torch()
        import torch

        name = self.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        device: torch.device = torch.device(name)
        return device

    def _fit(
        self,
        model: nn.Module,
        arch: Architecture,
        epochs: int,
        *,
        on: str,
        hw: dict[str, float],
        start: float,
        schedule_epochs: int | None = None,
        saved: Mapping[str, Any] | None = None,
        checkpoint: Path | None = None,
        record: bool | Literal["valid"] | None = None,
    ) -> tuple[nn.Module, Result]:
        """Train to epoch ``epochs`` of a ``schedule_epochs`` schedule (default ``epochs``).

        ``saved`` is a checkpoint to continue; with ``checkpoint`` a run stopped below
        ``schedule_epochs`` saves its state there (and one that reaches it removes the file).
        ``record`` overrides :attr:`record_curve`.
        """
        torch = _import_torch()
        from torch.nn import functional

        from metanas.models.networks import seeded_init

        task = self.task
        seed = arch_seed(self.seed, self.space, arch)
        device = self._device()
        X, y = task.X_train, task.y_train
        if on == "train+valid":
            X = np.concatenate([X, task.X_valid])
            y = np.concatenate([y, task.y_valid])
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
        yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
        n = len(Xt)
        validate = on == "train" and len(task.X_valid) > 0
        schedule = epochs if schedule_epochs is None else schedule_epochs
        if record is None:
            record = self.record_curve
        if saved is not None:
            model.load_state_dict(saved["model"])
        model = model.to(device)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        gen = torch.Generator().manual_seed(seed)
        # Its own stream: augmenting leaves the data order and the weights' draws as they are.
        aug_gen = torch.Generator().manual_seed(derive_seed(seed, _AUGMENT_KEY))
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        planned = schedule
        step = 0
        best: tuple[float, float] | None = None
        best_state: dict[str, Any] | None = None
        best_epoch = 0
        since_best = 0
        epochs_done = 0
        stopped = False  # early stopping ended the run
        prior_train_s = 0.0  # training seconds of the calls this run continues
        curve: list[dict[str, float]] = []
        if saved is not None:
            optimiser.load_state_dict(saved["optimiser"])
            gen.set_state(saved["data_rng"])
            if "augment_rng" in saved:
                aug_gen.set_state(saved["augment_rng"])
            planned = int(saved["planned"])
            step = int(saved["step"])
            best = None if saved["best"] is None else (saved["best"][0], saved["best"][1])
            best_state = saved["best_state"]
            best_epoch = int(saved["best_epoch"])
            since_best = int(saved["since_best"])
            epochs_done = int(saved["epochs_done"])
            stopped = bool(saved["finished"])
            prior_train_s = float(saved["train_time_s"])
            curve = [dict(point) for point in saved["curve"]]
        curve_eval_s = 0.0  # test-split time of the curve, not training time
        train_start = time.perf_counter()
        first = epochs if stopped else epochs_done
        bar = _EpochBar(self.progress, max(0, epochs - first), task.name)
        rng_devices = [device] if device.type == "cuda" else []
        rng_state: dict[str, Any] = {}
        bf16 = self.precision == "bf16" or (self.precision == "auto" and bf16_native(device))
        # oneDNN's fast bfloat16 convolutions want channels-last images; its float32 ones
        # are fast either way, so float32 keeps the layout it always had.
        channels_last = bf16 and device.type == "cpu" and Xt.dim() == 4
        if channels_last:
            # Module.to takes memory_format at run time; torch's stubs leave it out.
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        try:
            with seeded_init(seed, devices=rng_devices):
                if saved is not None:
                    torch.set_rng_state(saved["torch_rng"])
                    if rng_devices and "cuda_rng" in saved:
                        torch.cuda.set_rng_state(saved["cuda_rng"], device)
                for epoch in range(first, epochs):
                    if epoch >= planned:
                        break
                    model.train()
                    perm = torch.randperm(n, generator=gen).to(device)
                    chunks = list(torch.split(perm, self.batch_size))
                    if len(chunks) > 1 and len(chunks[-1]) < 2:
                        chunks.pop()  # a batch of one breaks batch norm
                    total_loss = 0.0
                    for idx in chunks:
                        factor = _lr_factor(step, planned * steps_per_epoch)
                        for group in optimiser.param_groups:
                            group["lr"] = self.lr * factor
                        xb = Xt[idx]
                        if self._augment is not None:
                            xb = self._augment(xb, aug_gen)
                        if channels_last:
                            xb = xb.contiguous(memory_format=torch.channels_last)
                        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                            out = model(xb)
                        loss = functional.cross_entropy(
                            out.float(), yt[idx], label_smoothing=self.label_smoothing
                        )
                        if not torch.isfinite(loss):
                            return model, Result(
                                metrics=hw,
                                cost_s=time.perf_counter() - start,
                                status=Status.FAILED,
                                reason=(
                                    f"diverged: training loss {loss.item()} at epoch {epoch + 1}"
                                ),
                            )
                        optimiser.zero_grad(set_to_none=True)
                        loss.backward()  # type: ignore[no-untyped-call]
                        optimiser.step()
                        total_loss += loss.item() * len(idx)
                        step += 1
                    epochs_done = epoch + 1
                    if epoch == 0 and self.time_budget_s is not None and planned > 1:
                        per_epoch = time.perf_counter() - train_start
                        fit = max(1, int(self.time_budget_s / max(per_epoch, 1e-9)))
                        planned = min(planned, fit)
                    if validate:
                        vm = classification_metrics(
                            task.y_valid, predict_proba(model, task.X_valid), "valid"
                        )
                        score = (vm["valid_accuracy"], -vm["valid_loss"])
                        if best is None or score > best:
                            best, best_epoch, since_best = score, epochs_done, 0
                            best_state = copy.deepcopy(model.state_dict())
                        else:
                            since_best += 1
                        if record:
                            tick = time.perf_counter()
                            trained_s = prior_train_s + (tick - train_start - curve_eval_s)
                            test_acc = float("nan")
                            if record is True and len(task.X_test) > 0:
                                proba = predict_proba(model, task.X_test)
                                test_acc = float(np.mean(proba.argmax(axis=1) == task.y_test))
                            point = {
                                "epoch": float(epochs_done),
                                "valid_accuracy": vm["valid_accuracy"],
                                "test_accuracy": test_acc,
                                "train_time_s": trained_s,
                            }
                            if record == "valid":
                                del point["test_accuracy"]
                            curve.append(point)
                            curve_eval_s += time.perf_counter() - tick
                        bar.update(f"valid acc {vm['valid_accuracy']:.3f}")
                        if self.patience is not None and since_best >= self.patience:
                            stopped = True
                            break
                    else:
                        bar.update(f"loss {total_loss / n:.3f}")
                if checkpoint is not None:
                    rng_state["torch_rng"] = torch.get_rng_state()
                    if rng_devices:
                        rng_state["cuda_rng"] = torch.cuda.get_rng_state(device)
        finally:
            bar.close()
        train_time = prior_train_s + (time.perf_counter() - train_start - curve_eval_s)
        if checkpoint is not None:
            finished = stopped or epochs_done >= planned
            if epochs_done >= schedule:
                checkpoint.unlink(missing_ok=True)  # nothing can resume past max_epochs
            else:
                self._save_checkpoint(
                    checkpoint,
                    {
                        "identity": self._checkpoint_identity(arch),
                        "settings": self._settings_text(),
                        "model": model.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "data_rng": gen.get_state(),
                        **(
                            {"augment_rng": aug_gen.get_state()}
                            if self._augment is not None
                            else {}
                        ),
                        **rng_state,
                        "planned": planned,
                        "step": step,
                        "best": None if best is None else list(best),
                        "best_state": best_state,
                        "best_epoch": best_epoch,
                        "since_best": since_best,
                        "epochs_done": epochs_done,
                        "finished": finished,
                        "train_time_s": train_time,
                        "curve": curve,
                        "hw": dict(hw),
                    },
                )
        if best_state is not None:
            model.load_state_dict(best_state)
        metrics = dict(hw)
        if validate:
            metrics.update(
                classification_metrics(task.y_valid, predict_proba(model, task.X_valid), "valid")
            )
            if not math.isfinite(metrics["valid_loss"]):
                return model, Result(
                    metrics=hw,
                    cost_s=time.perf_counter() - start,
                    status=Status.FAILED,
                    reason="diverged: validation loss is not finite",
                )
        metrics.update(
            {
                "train_time_s": train_time,
                "epochs": float(epochs_done),
                "best_epoch": float(best_epoch if validate else epochs_done),
            }
        )
        test: dict[str, float] = {}
        if len(task.X_test) > 0:
            test = classification_metrics(task.y_test, predict_proba(model, task.X_test), "test")
        _logger.debug("Trained %s in %.2f s: %s", arch, train_time, metrics)
        return model, Result(
            metrics=metrics,
            test_metrics=test,
            cost_s=time.perf_counter() - start,
            curve=tuple(curve),
        )


class _EpochBar:
    """A rich bar over epochs (nothing when disabled)."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn(f"[bold]{label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, info="")

    def update(self, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
