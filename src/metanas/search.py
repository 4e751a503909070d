"""Run or resume a stored search from plain options: what ``metanas search`` does, from Python.

Three kinds of search, chosen by the arguments:

* ``benchmark``/``dataset``: look architectures up in a built-in tabular benchmark;
* ``table`` (with ``space``): look them up in a CSV of measured architectures;
* ``data``: train real networks on a data set (:class:`~metanas.evaluation.TrainEvaluator`).

A study of the same name is resumed, and refused when an argument given now (strategy,
seed, objectives, task, strategy settings) differs from the stored one. One-shot
supernet searches have their own entry point, :func:`search_oneshot`.

Examples
--------
>>> from metanas.search import run_search
>>> summary = run_search(dataset="cora", strategy="evolution", n_trials=5,
...                      storage="sqlite://", study_name="search-doc")
>>> summary["n_complete"], summary["task"], summary["resumed"]
(5, 'nas-bench-graph/cora', False)
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from metanas._json import jsonable
from metanas._torch import DEFAULT_THREADS, check_threads
from metanas.exceptions import (
    DuplicatedStudyError,
    StudyNotFoundError,
    UnknownNameError,
    closest,
    unknown,
)
from metanas.trial import TrialState

if TYPE_CHECKING:
    from metanas.benchmarks import TabularBenchmark
    from metanas.evaluation.train import TrainEvaluator
    from metanas.execution import Executor
    from metanas.spaces.base import SearchSpace
    from metanas.study import Study
    from metanas.tasks import Task
    from metanas.trial import Trial

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_SEED",
    "DEFAULT_STRATEGY",
    "ONESHOT_SPACES",
    "TRAINABLE_SPACES",
    "SearchRun",
    "build_benchmark",
    "create_or_resume",
    "parse_objectives_spec",
    "prepare_search",
    "run_search",
    "oneshot_methods",
    "search_oneshot",
    "search_summary",
    "trial_record",
]

DEFAULT_STRATEGY = "random"
DEFAULT_SEED = 0
DEFAULT_METRIC = "valid_accuracy"
#: Spaces whose architectures can be built and trained (``data=`` searches); the ``seq-``
#: spaces read token codes (the text tasks: ``langid-words``, ``Task.from_texts`` ...).
TRAINABLE_SPACES = ("mlp", "cnn", "nb201", "seq-cnn", "seq-rnn", "seq-attn", "seq-ngram")
#: Spaces with a supernet (one-shot searches).
ONESHOT_SPACES = ("nb201", "cnn")
_DEFAULT_EPOCHS = 30
_DEFAULT_ONESHOT_EPOCHS = 6

Objectives = tuple[tuple[str, str], ...]


@dataclass
class SearchRun:
    """A created or resumed study, ready to run the trials it still lacks.

    Built by :func:`prepare_search`; :meth:`run` optimises and returns the summary.
    A caller that shows progress reads :attr:`study` and :attr:`n_new` first.
    """

    study: Study
    evaluator: Any
    storage: str
    n_trials: int
    resumed: bool
    n_new: int
    benchmark: TabularBenchmark | None = None
    task: Task | None = None
    timeout_s: float | None = None
    n_jobs: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    #: Where the trials run (built by the caller, e.g. a RayExecutor); None: n_jobs decides.
    executor: Executor | None = None
    #: What ``timeout_s`` does to the trials still running (see :meth:`Study.optimize`).
    in_flight: Literal["finish", "cancel"] = "finish"
    #: When the strategy hears of a result with several workers (see :meth:`Study.optimize`).
    tell_order: Literal["trial", "finish"] = "trial"

    def run(self, callbacks: Sequence[Callable[..., Any]] = ()) -> dict[str, Any]:
        """Evaluate the missing trials, then return :func:`search_summary` of the study."""
        start = time.perf_counter()
        if self.n_new:
            # n_trials is the study's total, whoever runs it: several processes sharing the
            # study stop together at exactly n_trials trials.
            if self.task is None:  # table look-ups: serial, no time limit
                self.study.optimize(
                    self.evaluator, max_total_trials=self.n_trials, callbacks=list(callbacks),
                    executor=self.executor,
                )  # fmt: skip
            else:
                self.study.optimize(
                    self.evaluator, max_total_trials=self.n_trials, callbacks=list(callbacks),
                    n_jobs=self.n_jobs if self.executor is None else 1, timeout_s=self.timeout_s,
                    executor=self.executor, in_flight=self.in_flight,
                    tell_order=self.tell_order,
                )  # fmt: skip
        wall_s = time.perf_counter() - start
        self.study.refresh()
        summary = search_summary(
            self.study, self.benchmark, self.storage, self.n_trials, self.resumed, self.n_new,
            wall_s,
        )  # fmt: skip
        if self.task is not None:
            summary["data"] = self.task.summary()
            summary["hardware"] = self.study.user_attrs.get(
                "hardware", getattr(self.evaluator, "hardware", None)
            )
            summary["preprocessing"] = list(self.task.report)
        return summary


def run_search(**kwargs: Any) -> dict[str, Any]:
    """Create or resume a study and run it up to ``n_trials`` finished trials.

    Takes the arguments of :func:`prepare_search` and returns the summary of
    :meth:`SearchRun.run` (the dict ``metanas search --json`` prints).
    """
    return prepare_search(**kwargs).run()


def prepare_search(
    *,
    benchmark: str | None = None,
    dataset: str | None = None,
    table: str | Path | None = None,
    space: str | None = None,
    space_settings: Mapping[str, Any] | None = None,
    arch_column: str = "arch",
    test_metrics: Sequence[str] = (),
    minimize: Sequence[str] = (),
    task: str | None = None,
    data: str | None = None,
    target: str | None = None,
    strategy: str | None = None,
    settings: Mapping[str, Any] | None = None,
    n_trials: int = 100,
    seed: int | None = None,
    metric: str | None = None,
    direction: str | None = None,
    objectives: str | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    epochs: int | None = None,
    timeout_s: float | None = None,
    max_latency_ms: float | None = None,
    max_params: int | None = None,
    max_flops: int | None = None,
    n_jobs: int = 1,
    device: str = "auto",
    threads: int | None = DEFAULT_THREADS,
    encoding: str | None = None,
    scheduler: str | None = None,
    min_epochs: float | None = None,
    max_epochs: int | None = None,
    eta: float | None = None,
    checkpoint_dir: str | Path | None = None,
    augment: str | None = None,
    precision: str | None = None,
) -> SearchRun:
    """Create or resume the study a search describes, without running a trial yet.

    Parameters
    ----------
    benchmark, dataset
        A built-in tabular benchmark (default ``"nas-bench-graph"``) and its data set.
    table, space, space_settings, arch_column, test_metrics, minimize
        A CSV of measured architectures instead: its search space (name and settings),
        the column of architectures, report-only columns, columns where lower is better.
    task
        Task name stored with the study (default: the benchmark's, or the data's).
    data, target
        Train real networks on ``data`` (a built-in data set or a CSV with label column
        ``target``); ``space`` is then one of :data:`TRAINABLE_SPACES` (default ``"mlp"``).
    strategy, settings
        Registered strategy name and its settings (new studies: :data:`DEFAULT_STRATEGY`;
        resumed ones: the stored strategy).
    n_trials
        Finished trials the study should have; a resumed study runs the rest.
    seed
        Seed of a new study (default :data:`DEFAULT_SEED`).
    metric, direction
        The objective (default :data:`DEFAULT_METRIC`, in the metric's own direction);
        ``metric`` may be a spec such as ``"valid_accuracy:max,latency:min"``.
    objectives
        Several objectives as ``"valid_accuracy:max,latency"`` (a metric without a
        direction takes its own); replaces ``metric`` and ``direction``.
    storage, study_name
        Where the study is stored (default: the user's store) and its name (default
        ``STEM-STRATEGY-sSEED``, an existing study is resumed).
    epochs, timeout_s, max_latency_ms, max_params, max_flops, n_jobs, device
        Training searches only: most epochs per trial (default 30), seconds after which
        no trial starts, hardware limits, trials trained at once (``-1``: one per core),
        torch device (``"cuda"`` is checked once, before the search).
    threads
        Training searches only: torch CPU threads per trained network, so per worker with
        ``n_jobs > 1`` (default 1, which never oversubscribes a shared machine: torch's
        own default of one per core trains up to 50x slower while another process keeps
        a core busy; None: torch's setting). A resumed study may change it.
    encoding
        Text encoding of a CSV ``data`` file (default UTF-8), e.g. ``"latin-1"``.
    scheduler, min_epochs, max_epochs, eta
        A multi-fidelity scheduler (``"asha"``, ``"sh"``, ``"hyperband"``, ``"median"``,
        ...; see docs/multifidelity.md) and its budgets in epochs: the first rung
        (default 1), the full budget and the reduction factor (default 3). ``max_epochs``
        also sets the trainer's epochs (``epochs``, if given, must agree); on a table
        that records epochs (``task-family``) it defaults to the table's epochs.
    checkpoint_dir
        Where a scheduled training search (``data`` with a ``scheduler``) keeps the state of
        trials stopped below the full budget, so that a promoted trial continues from it,
        also in a later process resuming the study. None: ``<file>-checkpoints/<study>``
        next to a SQLite file storage, else a temporary directory removed when the search's
        evaluator is (at the end of the process at the latest). Only with ``data``.
    augment
        Training-time data augmentation of a ``data`` search: a registered policy name
        (``available("augment")``, e.g. ``"specaugment"`` for spectrogram features,
        ``"shift-flip"`` for images); it is stored with the study, and a resumed study
        must be given the same one or none. Only with ``data``.
    precision
        Arithmetic of a ``data`` search's training steps: ``"fp32"`` (None: the default),
        ``"bf16"`` or ``"auto"`` (bfloat16 where the hardware computes it), as
        :class:`~metanas.evaluation.train.TrainEvaluator`'s ``precision``; stored with the
        study like ``augment``. Only with ``data``.

    Returns
    -------
    SearchRun
        The study with what it still needs; call :meth:`SearchRun.run`.

    Raises
    ------
    ValueError, UnknownNameError
        Conflicting or unknown arguments, or a resume whose arguments differ from the
        stored study's (strategy, seed, objectives, task, strategy settings, and for
        ``data`` the training settings: epochs, hardware limits, batch size, learning
        rate ...; the message names the option and the fix).
    """
    # Cheap checks first: a typo must not wait for data, tables or torch to load.
    _check_n_trials(n_trials)
    _check_n_jobs(n_jobs)
    threads = check_threads(threads, owner="prepare_search")
    import metanas.strategies
    from metanas.storage.rdb import default_storage_url

    url = storage or default_storage_url()
    if strategy is not None:
        metanas.strategies.get_strategy_class(strategy)  # unknown name: fail before loading
    training = {
        "--target": target, "--epochs": epochs, "--timeout-min": timeout_s,
        "--max-latency-ms": max_latency_ms, "--max-params": max_params,
        "--max-flops": max_flops, "--encoding": encoding,
    }  # fmt: skip
    if data is None:
        for option, value in training.items():
            if value is not None:
                raise ValueError(
                    f"{option} goes with --data (real training), e.g. --data digits --space mlp."
                )
    wanted = parse_objectives_spec(objectives, metric, direction)
    settings = dict(settings or {})
    objectives_given = metric is not None or direction is not None or wanted is not None
    fidelity = _check_fidelity(scheduler, min_epochs, max_epochs, eta, epochs)
    if checkpoint_dir is not None and data is None:
        raise ValueError(
            f"--checkpoint-dir {checkpoint_dir} keeps the state of networks trained on --data; "
            "a benchmark table has none. Leave it out, or search --data."
        )
    if augment is not None and data is None:
        raise ValueError(
            f"--augment {augment} changes the training batches of networks trained on --data; "
            "a benchmark table trains nothing. Leave it out, or search --data."
        )
    if precision is not None and data is None:
        raise ValueError(
            f"--precision {precision} sets the arithmetic of networks trained on --data; a "
            "benchmark table trains nothing. Leave it out, or search --data."
        )
    if precision is not None:
        from metanas.evaluation.train import check_precision

        check_precision(precision)  # before the data loads
    if data is not None:
        return _prepare_training(
            data=data, target=target, space=space, benchmark=benchmark, dataset=dataset,
            table=table, task=task, strategy=strategy, settings=settings, n_trials=n_trials,
            seed=seed, wanted=wanted, metric=metric, direction=direction, url=url,
            study_name=study_name, epochs=epochs, timeout_s=timeout_s,
            max_latency_ms=max_latency_ms, max_params=max_params, max_flops=max_flops,
            n_jobs=n_jobs, device=device, objectives_given=objectives_given, threads=threads,
            encoding=encoding, fidelity=fidelity, checkpoint_dir=checkpoint_dir,
            augment=augment, precision=precision,
        )  # fmt: skip
    if wanted is not None:  # the benchmark below only needs the metric names
        metric = ",".join(f"{m}:{d or 'max'}" for m, d in wanted)
    bench, stem = build_benchmark(
        benchmark=benchmark, dataset=dataset, table=table, space=space,
        space_settings=dict(space_settings or {}), arch_column=arch_column, metric=metric,
        test_metrics=list(test_metrics), minimize=list(minimize), task=task,
    )  # fmt: skip
    if wanted is not None:
        metric = ",".join(
            f"{m}:{d or (bench.direction(m) if m in bench.metrics else 'max')}" for m, d in wanted
        )
    checked = _benchmark_objectives(bench, metric, direction)
    task_name = task or bench.task_name or stem
    name = study_name or _default_study_name(stem, strategy, seed, checked)
    if fidelity is not None and "max_budget" not in fidelity[1]:
        table_epochs = getattr(bench, "n_epochs", None)
        if not isinstance(table_epochs, int):
            raise ValueError(
                f"--scheduler {fidelity[0]} needs --max-epochs: the benchmark "
                f"{type(bench).__name__} records no epochs. Pass --max-epochs, or search a "
                "table with per-epoch results (--benchmark task-family)."
            )
        fidelity[1]["max_budget"] = table_epochs
    study, resumed = create_or_resume(
        name=name, storage=url, space=bench.space, task_descriptors=bench.task_descriptors(),
        task=task_name, strategy=strategy, settings=settings, seed=seed, objectives=checked,
        objectives_given=objectives_given, scheduler=fidelity,
    )  # fmt: skip
    return SearchRun(
        study=study, evaluator=bench, storage=url, n_trials=n_trials, resumed=resumed,
        n_new=max(0, n_trials - study.n_finished), benchmark=bench,
    )  # fmt: skip


def _prepare_training(
    *,
    data: str,
    target: str | None,
    space: str | None,
    benchmark: str | None,
    dataset: str | None,
    table: str | Path | None,
    task: str | None,
    strategy: str | None,
    settings: dict[str, Any],
    n_trials: int,
    seed: int | None,
    wanted: list[tuple[str, str | None]] | None,
    metric: str | None,
    direction: str | None,
    url: str,
    study_name: str | None,
    epochs: int | None,
    timeout_s: float | None,
    max_latency_ms: float | None,
    max_params: int | None,
    max_flops: int | None,
    n_jobs: int,
    device: str,
    objectives_given: bool,
    threads: int | None,
    encoding: str | None,
    fidelity: tuple[str, dict[str, Any]] | None = None,
    checkpoint_dir: str | Path | None = None,
    augment: str | None = None,
    precision: str | None = None,
) -> SearchRun:
    """A study whose trials train networks on ``data``."""
    from metanas._torch import check_device
    from metanas.evaluation.train import TrainEvaluator, check_precision
    from metanas.spaces.base import create_space
    from metanas.study import parse_objectives
    from metanas.tasks import load_task

    for option, value in (("--benchmark", benchmark), ("--dataset", dataset), ("--table", table)):
        if value is not None:
            raise ValueError(
                f"--data trains networks on data; {option} searches a benchmark table. Give one "
                "of them."
            )
    space = space or "mlp"
    if space not in TRAINABLE_SPACES:
        raise ValueError(
            f"--space {space!r} cannot be trained; with --data use one of "
            f"{list(TRAINABLE_SPACES)!r}."
        )
    reader = _csv_reader(data, encoding)
    check_device(device)  # before the data loads; a missing GPU fails here, not every trial
    the_seed = DEFAULT_SEED if seed is None else seed
    the_task = load_task(data, target=target, seed=the_seed, **reader)
    search_space = create_space(space)
    _check_token_codes(the_task, space, search_space)
    if fidelity is not None:
        # The scheduler's full budget is the trainer's epochs (one LR schedule for both).
        fidelity[1].setdefault("max_budget", epochs or _DEFAULT_EPOCHS)
        epochs = int(fidelity[1]["max_budget"])
    name = study_name or f"{the_task.name}-{space}-{strategy or DEFAULT_STRATEGY}-s{the_seed}"
    if checkpoint_dir is None and fidelity is not None:
        checkpoint_dir = _default_checkpoint_dir(url, name)
    evaluator: TrainEvaluator = TrainEvaluator(
        the_task, search_space, max_epochs=epochs or _DEFAULT_EPOCHS, seed=the_seed,
        device=device, max_latency_ms=max_latency_ms, max_params=max_params,
        max_flops=max_flops, threads=threads, progress=False, record_curve="valid",
        checkpoint_dir=checkpoint_dir, augment=augment,
        precision=check_precision(precision or "fp32"),
    )  # fmt: skip
    if wanted is not None:
        spec = ",".join(f"{m}:{d or _metric_direction(m)}" for m, d in wanted)
        objectives = parse_objectives(spec, "maximize")
    else:
        m = metric or DEFAULT_METRIC
        objectives = parse_objectives(m, direction or _metric_direction(m))
    for m_name, _ in objectives:
        if m_name.startswith("test_"):
            raise ValueError(
                f"{m_name!r} is a test metric, reserved for reporting; search on a validation "
                "metric such as valid_accuracy, valid_f1 or latency_ms."
            )
    study, resumed = create_or_resume(
        name=name, storage=url, space=search_space,
        task_descriptors=dict(evaluator.task_descriptors()), task=task or the_task.name,
        strategy=strategy, settings=settings, seed=seed, objectives=tuple(objectives),
        objectives_given=objectives_given, scheduler=fidelity,
    )  # fmt: skip
    if not resumed:
        study.set_user_attr("evaluator", evaluator.get_settings())
        study.set_user_attr("task_source", dict(the_task.source))
        study.set_user_attr("hardware", evaluator.hardware)
    else:
        if study.seed != the_seed:  # resumed without --seed: the stored seed's splits
            the_task = load_task(data, target=target, seed=study.seed, **reader)
        evaluator = _resumed_evaluator(
            study, the_task, search_space, evaluator,
            given={"--epochs": ("max_epochs", epochs), "--max-latency-ms": (
                "max_latency_ms", max_latency_ms), "--max-params": ("max_params", max_params),
                "--max-flops": ("max_flops", max_flops), "--augment": ("augment", augment),
                "--precision": ("precision", precision)},
            checkpoint_dir=checkpoint_dir,
        )  # fmt: skip
    return SearchRun(
        study=study, evaluator=evaluator, storage=url, n_trials=n_trials, resumed=resumed,
        n_new=max(0, n_trials - study.n_finished), task=the_task, timeout_s=timeout_s,
        n_jobs=n_jobs,
    )  # fmt: skip


def _check_token_codes(task: Task, name: str, space: SearchSpace) -> None:
    """A ``seq-`` space embeds token codes: refuse data that holds anything else."""
    import numpy as np

    vocab = getattr(space, "vocab_size", None)
    if not name.startswith("seq-") or vocab is None:
        return
    X = np.asarray(task.X_train)
    if X.size and (
        not np.all(np.isfinite(X))
        or not np.array_equal(X, np.round(X))
        or X.min() < 0
        or X.max() >= vocab
    ):
        raise ValueError(
            f"--space {name} embeds token codes (integers 0 .. {vocab - 1}); the data "
            f"{task.name!r} holds other values (from {X.min():g} to {X.max():g}). Use a text "
            "task (langid-words, langid-sentences, fortune-topics, or Task.from_texts for your "
            "own), or a space for numbers: mlp or cnn."
        )


def _csv_reader(data: str, encoding: str | None) -> dict[str, str]:
    """The reader keywords of ``load_task``; ``encoding`` only for a CSV ``data`` file."""
    from metanas.tasks import available_tasks

    if encoding is None:
        return {}
    if data in available_tasks():
        raise ValueError(
            f"--encoding is for a CSV --data file; {data!r} is a built-in data set. Drop "
            "--encoding."
        )
    return {"encoding": encoding}


def _default_checkpoint_dir(url: str, study: str) -> Path | None:
    """``<db>-checkpoints/<study>`` next to a SQLite file; None (a temporary directory) else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or ":memory:" in url:
        return None
    db = Path(url[len(prefix) :].split("?", 1)[0])
    return db.parent / f"{db.stem}-checkpoints" / study


def _resumed_evaluator(
    study: Study,
    task: Task,
    space: SearchSpace,
    evaluator: TrainEvaluator,
    given: Mapping[str, tuple[str, Any]],
    checkpoint_dir: str | Path | None = None,
) -> TrainEvaluator:
    """The evaluator of a resumed training study: its stored settings, this run's device and
    threads. An option given now that changes what a trial measures must match the stored one.

    ``given`` maps each option to ``(setting, value given now or None)``; ``checkpoint_dir``
    is this run's (None: the evaluator's own temporary directory).
    """
    from metanas.evaluation.train import RUNTIME_SETTINGS, TrainEvaluator

    stored = study.user_attrs.get("evaluator")
    if not isinstance(stored, Mapping):
        return evaluator  # stored by hand or an old version: nothing to compare with (its
        # checkpoint_dir is this run's already)
    fix = f"Drop the option to resume study {study.name!r}, or pass a new --study name."
    # A setting the stored ones leave out (augment when there is none, one added since the
    # study was made) is the constructor's default: from_settings rebuilds it that way.
    defaults = {
        name: param.default
        for name, param in inspect.signature(TrainEvaluator).parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    for option, (key, value) in given.items():
        before = stored.get(key, defaults.get(key))
        if value is not None and jsonable(before) != jsonable(value):
            was = f"without {option}" if before is None else f"with {option} {before}"
            raise ValueError(
                f"Study {study.name!r} was created {was}, not {option} {value}; one study "
                f"measures every trial the same way. {fix}"
            )
    measured = {k: v for k, v in stored.items() if k not in RUNTIME_SETTINGS}
    return TrainEvaluator.from_settings(
        task, space, measured, device=evaluator.device, threads=evaluator.threads,
        progress=evaluator.progress, record_curve=evaluator.record_curve,
        checkpoint_dir=checkpoint_dir,
    )  # fmt: skip


def _check_fidelity(
    scheduler: str | None,
    min_epochs: float | None,
    max_epochs: int | None,
    eta: float | None,
    epochs: int | None,
) -> tuple[str, dict[str, Any]] | None:
    """``(scheduler name, scheduler settings)`` of ``--scheduler`` and its options, checked."""
    given = {"--min-epochs": min_epochs, "--max-epochs": max_epochs, "--eta": eta}
    if scheduler is None:
        for option, value in given.items():
            if value is not None:
                raise ValueError(
                    f"{option} sets a multi-fidelity scheduler's budgets; add --scheduler "
                    "(e.g. --scheduler asha), or drop the option."
                )
        return None
    from metanas.schedulers import get_scheduler_class

    get_scheduler_class(scheduler)  # an unknown name: the registry's error lists the choices
    if max_epochs is not None and epochs is not None and max_epochs != epochs:
        raise ValueError(
            f"--epochs {epochs} and --max-epochs {max_epochs} disagree: with --scheduler the "
            "full budget is the trainer's epochs. Give one of them."
        )
    settings: dict[str, Any] = {}
    if min_epochs is not None:
        settings["min_budget"] = min_epochs
    if max_epochs is not None or epochs is not None:
        settings["max_budget"] = max_epochs if max_epochs is not None else epochs
    if eta is not None:
        settings["eta"] = eta
    return scheduler, settings


def _check_n_trials(n_trials: int) -> None:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be an int >= 1; got {n_trials!r}. Pass --n-trials 100.")


def _check_n_jobs(n_jobs: int) -> None:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise ValueError(
            f"n_jobs must be -1 (one per core) or an int >= 1; got {n_jobs!r}. Pass --n-jobs 1 "
            "(trials one at a time) or the processes to train on."
        )


def _metric_direction(metric: str) -> str:
    """A trained network's metric direction: costs and errors go down, the rest up."""
    low = metric.lower()
    if any(k in low for k in ("latency", "params", "flops", "loss", "time", "error")):
        return "minimize"
    return "maximize"


def _default_study_name(
    stem: str, strategy: str | None, seed: int | None, objectives: Objectives
) -> str:
    """``cora-evolution-s0``; a non-default objective is appended: ``cora-random-s0-latency``."""
    name = f"{stem}-{strategy or DEFAULT_STRATEGY}-s{DEFAULT_SEED if seed is None else seed}"
    metrics = [m for m, _ in objectives]
    if metrics != [DEFAULT_METRIC]:
        name += "-" + "+".join(metrics)
    return name


def build_benchmark(
    *,
    benchmark: str | None = None,
    dataset: str | None = None,
    table: str | Path | None = None,
    space: str | None = None,
    space_settings: Mapping[str, Any] | None = None,
    arch_column: str = "arch",
    metric: str | None = None,
    test_metrics: Sequence[str] = (),
    minimize: Sequence[str] = (),
    task: str | None = None,
) -> tuple[TabularBenchmark, str]:
    """The table evaluator of a search, and the stem of its default study names.

    A ``table`` CSV needs its ``space``; a built-in ``benchmark`` (default
    ``"nas-bench-graph"``) needs its ``dataset`` and defines space and metrics itself.
    """
    import metanas.benchmarks
    from metanas.spaces.base import available_spaces, create_space
    from metanas.study import parse_objectives

    space_settings = dict(space_settings or {})
    if table is not None:
        if benchmark is not None or dataset is not None:
            raise ValueError(
                "Give either --benchmark/--dataset or --table, not both; got --table "
                f"{str(table)!r} with --benchmark {benchmark!r} --dataset {dataset!r}."
            )
        if space is None:
            raise ValueError(
                f"--table needs --space, the search space of its architectures: one of "
                f"{available_spaces()!r}, e.g. --space nb201."
            )
        search_space = create_space(space, **space_settings)
        metric_columns = [m for m, _ in parse_objectives(metric or DEFAULT_METRIC, "maximize")]
        bench = metanas.benchmarks.TabularBenchmark.from_csv(
            table, space=search_space, arch_column=arch_column, metrics=metric_columns,
            test_metrics=list(test_metrics), minimize=list(minimize), name=task,
        )  # fmt: skip
        return bench, Path(table).stem
    for option, value in (
        ("--space", space),
        ("--space-setting", space_settings or None),
        ("--test-metric", list(test_metrics) or None),
        ("--minimize", list(minimize) or None),
    ):
        if value is not None:
            raise ValueError(
                f"{option} only goes with --table; built-in benchmarks define their own "
                "space and metrics."
            )
    known = metanas.benchmarks.available_benchmarks()
    if dataset is None:
        sets = ", ".join(known.get(benchmark or "nas-bench-graph", ()))
        raise ValueError(
            "Say what to search: --benchmark nas-bench-graph --dataset NAME (data sets: "
            f"{sets}), or --table PATH.csv --space NAME."
        )
    bench = metanas.benchmarks.load_benchmark(benchmark or "nas-bench-graph", dataset)
    return bench, dataset.lower()


def parse_objectives_spec(
    spec: str | None, metric: str | None = None, direction: str | None = None
) -> list[tuple[str, str | None]] | None:
    """``"a:max,b"`` -> ``[("a", "maximize"), ("b", None)]`` (None: the metric's own direction).

    Examples
    --------
    >>> parse_objectives_spec("valid_accuracy:max,latency")
    [('valid_accuracy', 'maximize'), ('latency', None)]
    """
    if spec is None:
        return None
    if metric is not None or direction is not None:
        raise ValueError(
            "--objectives replaces --metric and --direction: give either --objectives "
            "'valid_accuracy:max,latency:min' or --metric/--direction, not both."
        )
    parts = [s.strip() for s in spec.split(",") if s.strip()]
    if not parts:
        raise ValueError(f"--objectives needs a comma-separated list of names; got {spec!r}.")
    out: list[tuple[str, str | None]] = []
    for part in parts:
        name, sep, d = (x.strip() for x in part.partition(":"))
        key = d.lower()
        if not name or (sep and key not in ("max", "min", "maximize", "minimize")):
            raise ValueError(
                f"Cannot read objective {part!r} of --objectives: write METRIC, METRIC:max or "
                "METRIC:min, comma-separated, e.g. 'valid_accuracy:max,latency:min'."
            )
        if name in [m for m, _ in out]:
            raise ValueError(f"--objectives names {name!r} twice; give each metric once.")
        out.append((name, ("maximize" if key.startswith("max") else "minimize") if sep else None))
    return out


def _benchmark_objectives(
    bench: TabularBenchmark, metric: str | None, direction: str | None
) -> Objectives:
    """Objectives checked against the table's metrics, with each metric's own direction."""
    from metanas.study import parse_objectives

    spec = metric or DEFAULT_METRIC
    if ":" in spec:
        if direction is not None:
            raise ValueError(
                f"--direction does not go with an objective spec ({spec!r}): write each "
                "direction in the spec, as in 'valid_accuracy:max,latency:min'."
            )
        objectives = parse_objectives(spec, "maximize")
    else:
        objectives = ((spec, direction or ""),)
    out = []
    for name, d in objectives:
        if name in bench.test_metrics:
            raise ValueError(
                f"Metric {name!r} is a test metric of {bench.name!r}, reserved for reporting; "
                f"search on one of {bench.metrics!r}."
            )
        if name not in bench.metrics:
            raise UnknownNameError(
                f"Unknown metric {name!r} for {bench.name!r}.{closest(name, bench.metrics)} "
                f"Search metrics: {bench.metrics!r}."
            )
        out.append((name, d or bench.direction(name)))
    return tuple(out)


def create_or_resume(
    *,
    name: str,
    storage: str,
    space: SearchSpace,
    task_descriptors: Mapping[str, Any],
    task: str,
    strategy: str | None,
    settings: Mapping[str, Any],
    seed: int | None,
    objectives: Objectives,
    objectives_given: bool,
    scheduler: tuple[str, Mapping[str, Any]] | None = None,
) -> tuple[Study, bool]:
    """Load study ``name``, or create it; ``True`` when it was resumed.

    A resumed study keeps its strategy, seed, objectives and scheduler: an argument given
    now that differs from the stored one (``strategy``, ``seed``, ``objectives`` when
    ``objectives_given``, ``task``, a strategy setting, ``scheduler`` and its settings)
    raises :class:`ValueError`.
    """
    from metanas.schedulers import create_scheduler
    from metanas.study import create_study, load_study

    try:
        study = load_study(name, storage=storage, space=space)
    except StudyNotFoundError:
        try:
            study = create_study(
                name=name, storage=storage, space=space, strategy=strategy or DEFAULT_STRATEGY,
                seed=DEFAULT_SEED if seed is None else seed,
                metric=[m for m, _ in objectives], direction=[d for _, d in objectives],
                task=task, task_descriptors=dict(task_descriptors),
                strategy_settings=dict(settings),
                scheduler=None if scheduler is None else scheduler[0],
                scheduler_settings=None if scheduler is None else dict(scheduler[1]),
            )  # fmt: skip
            return study, False
        except DuplicatedStudyError:
            # Workers started together: another one created it first. Join it as a resume.
            study = load_study(name, storage=storage, space=space)
    stored_strategy = study.strategy.registered_name
    fix = f"Drop the option to resume study {name!r}, or pass a new --study name."
    if strategy is not None and strategy != stored_strategy:
        raise ValueError(
            f"Study {name!r} was created with --strategy {stored_strategy}, not {strategy}. {fix}"
        )
    if seed is not None and seed != study.seed:
        raise ValueError(f"Study {name!r} was created with --seed {study.seed}, not {seed}. {fix}")
    if objectives_given and tuple(objectives) != tuple(study.objectives):
        stored = ",".join(f"{m}:{d[:3]}" for m, d in study.objectives)
        given = ",".join(f"{m}:{d[:3]}" for m, d in objectives)
        raise ValueError(
            f"Study {name!r} optimises {stored}, not {given} (--metric/--direction/--objectives). "
            f"{fix}"
        )
    if study.task != study.name and study.task != task:
        raise ValueError(
            f"Study {name!r} searches task {study.task!r}, but this run evaluates {task!r}; "
            "one study holds one task. Pass the original --dataset/--table, or a new --study name."
        )
    if scheduler is not None:
        wanted = (scheduler[0], create_scheduler(scheduler[0], **scheduler[1]).settings())
        have = study.scheduler
        stored_sched = None if have is None else (have.registered_name, have.settings())
        if stored_sched != wanted:
            was = (
                "without --scheduler" if stored_sched is None else f"with scheduler {stored_sched}"
            )
            raise ValueError(
                f"Study {name!r} was created {was}, not scheduler {wanted}; its stored "
                f"decisions were made by the stored one. {fix}"
            )
    stored_settings = jsonable(study.strategy.get_settings())
    for key, value in settings.items():
        if key not in stored_settings or stored_settings[key] != jsonable(value):
            raise ValueError(
                f"Study {name!r} was created with strategy setting {key}="
                f"{json.dumps(stored_settings.get(key))}, not {json.dumps(jsonable(value))}. "
                f"{fix}"
            )
    return study, True


def trial_record(study: Study, t: Trial) -> dict[str, Any]:
    """One trial as plain values: number, state, architecture string, values, metrics."""
    return {
        "number": t.number,
        "state": t.state.value,
        "arch": study.space.format(t.arch),
        "values": None if t.values is None else list(t.values),
        "metrics": dict(t.metrics),
        "test_metrics": dict(t.test_metrics),
        "duration_s": t.duration_s,
        "error": t.error,
        "budget": t.budget,
        "cost_s": t.cost_s,
    }


def search_summary(
    study: Study,
    bench: TabularBenchmark | None,
    url: str,
    n_trials: int,
    resumed: bool,
    n_new: int,
    wall_s: float,
) -> dict[str, Any]:
    """What a search did: the study, its trial counts, the best trial or the Pareto front.

    ``bench`` (a table) adds the table optimum and the best trial's regret. The key
    ``budget`` holds ``n_trials`` (the name ``metanas search --json`` has always printed).
    """
    from metanas.storage.rdb import display_url

    trials = study.trials
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    failed = [t for t in trials if t.state is TrialState.FAILED]
    best: dict[str, Any] | None = None
    optimum = regret = None
    pareto: list[dict[str, Any]] | None = None
    if len(study.objectives) == 1 and complete:
        bt = study.best_trial
        best = trial_record(study, bt)
        best["value"] = bt.value
        if bench is not None:
            optimum = bench.optimum(study.metric, study.direction)
            regret = bench.regret(float(bt.value or 0.0), study.metric, study.direction)
    elif complete:
        # Best first by the first objective, then the second ... (ties: trial number).
        signs = [1.0 if d == "maximize" else -1.0 for _, d in study.objectives]
        front = sorted(
            study.best_trials,
            key=lambda t: (
                *(-s * v for s, v in zip(signs, t.values or (), strict=False)),
                t.number,
            ),
        )
        pareto = [trial_record(study, t) for t in front]
    return {
        "study": study.name,
        "task": study.task,
        "strategy": study.strategy.registered_name,
        "strategy_settings": study.strategy.get_settings(),
        "seed": study.seed,
        "objectives": [list(o) for o in study.objectives],
        "metric": study.metric,
        "direction": study.direction,
        "budget": n_trials,
        "resumed": resumed,
        "n_new_trials": n_new,
        "n_trials": len(trials),
        "n_finished": study.n_finished,
        "n_complete": len(complete),
        "n_failed": len(failed),
        "n_pruned": sum(1 for t in trials if t.state is TrialState.PRUNED),
        # WAITING or RUNNING: cut off at a time limit, or a scheduled trial between segments.
        "n_open": sum(1 for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)),
        "scheduler": None
        if study.scheduler is None
        else {"name": study.scheduler.registered_name, **study.scheduler.settings()},
        "best": best,
        "pareto_front": pareto,
        "optimum": optimum,
        "regret": regret,
        "wall_time_s": wall_s,
        "storage": display_url(url),
        "first_error": next(([t.number, t.error] for t in trials if t.error), None),
    }


def oneshot_methods() -> list[str]:
    """Names of the registered one-shot methods (``available("oneshot")``)."""
    from metanas._registry import registry

    return registry("oneshot").names()


def search_oneshot(
    *,
    data: str,
    method: str,
    space: str | None = None,
    target: str | None = None,
    epochs: int | None = None,
    retrain_epochs: int | None = None,
    seed: int | None = None,
    max_latency_ms: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    device: str = "cpu",
    settings: Mapping[str, Any] | None = None,
    threads: int | None = DEFAULT_THREADS,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Run a one-shot search on ``data`` and return its search summary.

    The summary has the keys of :func:`search_summary` plus ``data``, ``hardware`` and
    ``oneshot``: method, search and retraining seconds, measured latency, the limit and
    whether it is met, the final architecture weights. ``settings`` go to the search
    (:class:`~metanas.oneshot.DartsSearch` / ``EnasSearch``). ``threads``: torch CPU
    threads of the run (default 1; see :func:`~metanas.oneshot.run_oneshot`);
    ``encoding``: text encoding of a CSV ``data`` file.

    Raises
    ------
    ValueError
        An unknown method, or a space without a supernet.
    """
    threads = check_threads(threads, owner="search_oneshot")
    from metanas._torch import check_device
    from metanas.oneshot.run import run_oneshot
    from metanas.storage.rdb import default_storage_url
    from metanas.study import load_study
    from metanas.tasks import load_task

    known = oneshot_methods()
    if method not in known:
        raise unknown("one-shot method", method, known, "Pass --method with one of them.")
    space = space or "cnn"
    if space not in ONESHOT_SPACES:
        raise ValueError(
            f"One-shot method {method} searches a supernet of --space nb201 or cnn; got "
            f"{space!r}. Search other spaces with a black-box strategy such as evolution."
        )
    reader = _csv_reader(data, encoding)
    check_device(device)
    the_seed = DEFAULT_SEED if seed is None else seed
    task = load_task(data, target=target, seed=the_seed, **reader)
    start = time.perf_counter()
    result = run_oneshot(
        task, space, method, epochs=epochs or _DEFAULT_ONESHOT_EPOCHS, seed=the_seed,
        max_latency_ms=max_latency_ms, storage=storage, study_name=study_name,
        retrain_epochs=retrain_epochs, search_settings=dict(settings or {}), device=device,
        threads=threads,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    study = load_study(result.study_name, storage=storage)
    summary = search_summary(study, None, storage or default_storage_url(), 1, False, 1, wall_s)
    summary["strategy"] = method
    summary["data"] = task.summary()
    summary["hardware"] = study.user_attrs.get("hardware")
    summary["oneshot"] = {
        "method": result.method,
        "arch": result.arch_string,
        "search_s": result.search_s,
        "retrain_s": result.retrain_s,
        "latency_ms": result.latency_ms,
        "estimated_latency_ms": result.estimated_latency_ms,
        "max_latency_ms": result.max_latency_ms,
        "meets_limit": result.meets_limit,
        "latency_weight": result.latency_weight,
        "alphas": result.alphas,
    }
    return summary
