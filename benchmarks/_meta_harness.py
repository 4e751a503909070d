"""Shared machinery of the meta-learning benchmarks: suites, arms, the drive loop and statistics.

Used by ``meta_lodo.py`` (NAS-Bench-Graph, leave one data set out), ``meta_family.py`` (the
task family, leave one task out) and ``meta_growing.py`` (the task family, a memory that grows
one task at a time). Every search is a table look-up: a :class:`Suite` names the tables, a
*memory* is the stored trials of one seeded ``evolution`` search of ``M`` trials on each past
task (``M = -1``: the past task's full table, the oracle memory), and every arm is driven through
its public ask/tell API with the search seed reseeded per trial number, as a Study does.

Arms (``method``):

- cold: ``random``, ``evolution``, ``tpe``, ``bo`` (metanas) and ``optuna-gp`` (Optuna's
  ``GPSampler``, one categorical parameter per decision of the space; a suggestion outside the
  table is projected onto the nearest unseen architecture of the table (fewest differing
  decisions) and Optuna is told the architecture actually evaluated);
- ``meta`` (``create_strategy("meta", space, ...)`` + ``set_memory(past, descriptors=...)``),
  ``oracle`` (the same with full-table memories);
- ``zero-shot``: the memory's predictor's top 5 (no feedback);
- ``naive``: the union of every past task's 5 best, ordered by their mean within-task
  percentile over the past tasks that evaluated them, then ``evolution``;
- ``similar``: the single most similar past task's architectures best first (similarity from
  the task descriptors, :meth:`metanas.meta.SimilarityIndex.similarities`), then ``evolution``;
- Syne Tune's transfer schedulers fed the same memory: ``st-zeroshot``, ``st-boundingbox``,
  ``st-quantile``.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # xgboost (Syne Tune) and BLAS: one thread each

import numpy as np

from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph, TaskFamily
from metanas.benchmarks.tabular import TabularBenchmark
from metanas.meta import SimilarityIndex, TaskHistory
from metanas.meta.predictor import TransferPredictor
from metanas.spaces.architecture import Architecture
from metanas.spaces.table import TableSpace
from metanas.strategies import Observation, create_strategy

METRIC = "valid_accuracy"
ZERO_SHOT_K = 5
NBG_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")
COLD = ("random", "evolution", "tpe", "bo", "optuna-gp")
MEMORY_METHODS = ("meta", "oracle", "zero-shot", "naive", "similar")
SYNE_TUNE = ("st-zeroshot", "st-boundingbox", "st-quantile")
ORDER = [*COLD, *MEMORY_METHODS, *SYNE_TUNE]
#: Memory size meaning "the past task's full table".
FULL = -1
MEMORY_SEED = 1000  # memory draw d is the evolution search with seed MEMORY_SEED + d


# ----------------------------------------------------------------------- suites
@dataclass(frozen=True)
class Suite:
    """Which tables: ``kind`` "nbg" (NAS-Bench-Graph) or "family" (the task family at ``path``,
    its first ``n_archs`` architectures; ``None``: all the table holds)."""

    kind: str
    path: str | None = None
    n_archs: int | None = None

    def tasks(self) -> tuple[str, ...]:
        if self.kind == "nbg":
            return NBG_DATASETS
        return _family_tasks(self.path)

    def bench(self, task: str) -> TabularBenchmark:
        return _bench(self.kind, self.path, task, self.n_archs)

    def task_name(self, task: str) -> str:
        return f"{'nas-bench-graph' if self.kind == 'nbg' else 'task-family'}/{task}"


@lru_cache(maxsize=4)
def _family_tasks(path: str | None) -> tuple[str, ...]:
    from metanas.benchmarks.family import FAMILY_TABLE, FAMILY_TASKS, _read_table

    df = _read_table(os.fspath(path or os.environ.get("METANAS_FAMILY_TABLE") or FAMILY_TABLE))
    have = set(df.loc[df["seed"] == 0, "task"].astype(str))
    return tuple(t for t in FAMILY_TASKS if t in have)


@lru_cache(maxsize=32)
def _bench(kind: str, path: str | None, task: str, n_archs: int | None = None) -> TabularBenchmark:
    if kind == "nbg":
        return NasBenchGraph(task)
    if kind == "family":
        return TaskFamily(task, path=path, n_archs=n_archs)
    raise ValueError(f"unknown suite kind {kind!r}; use 'nbg' or 'family'")


@lru_cache(maxsize=32)
def table_archs(suite: Suite, task: str) -> tuple[list[Architecture], np.ndarray]:
    """Every architecture of the table and its decision-index matrix (rows, decisions)."""
    bench = suite.bench(task)
    archs = [bench.architecture(i) for i in range(len(bench))]
    decisions = bench.space.decisions
    matrix = np.array(
        [[d.choices.index(a[d.name]) for d in decisions] for a in archs], dtype=np.int32
    )
    return archs, matrix


def project(suite: Suite, task: str, choices: dict[str, Any], seen: set[Any]) -> Architecture:
    """The unseen architecture of the table that differs from ``choices`` in fewest decisions."""
    bench = suite.bench(task)
    archs, matrix = table_archs(suite, task)
    row = np.array(
        [d.choices.index(choices[d.name]) if choices[d.name] in d.choices else -1
         for d in bench.space.decisions],
        dtype=np.int32,
    )  # fmt: skip
    dist = (matrix != row).sum(axis=1).astype(float)
    for i, a in enumerate(archs):
        if bench.space.key(a) in seen:
            dist[i] = np.inf
    return archs[int(np.argmin(dist))]


# ----------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Run:
    """One search: ``values[t]`` is the validation accuracy of query ``t`` (NaN: failed).

    ``draw`` is -1 for cold arms; ``memory`` the trials per past task (0: none, -1: full
    tables); ``past`` the past tasks of the memory; ``config`` the index of meta's settings.
    """

    task: str
    method: str
    draw: int
    seed: int
    values: np.ndarray
    seconds: float
    memory: int = 0
    past: tuple[str, ...] = ()
    config: int = 0

    @property
    def dataset(self) -> str:  # the name meta_lodo used
        return self.task


def _drive(
    strategy: Any, bench: TabularBenchmark, budget: int, seed: int,
    asked: list[Architecture] | None = None,
) -> np.ndarray:  # fmt: skip
    """Ask/tell as a Study does (reseeded per trial number), without storage.

    The asked architectures are appended to ``asked`` when given.
    """
    values = np.full(budget, np.nan)
    for number in range(budget):
        strategy.reseed(derive_seed(seed, number))
        arch = strategy.ask()
        if asked is not None:
            asked.append(arch)
        value = float(bench.evaluate(arch).metrics[METRIC])
        values[number] = value
        score = value if math.isfinite(value) else -math.inf
        strategy.tell(
            Observation(arch=arch, score=score, scores=(score,), metrics={}, number=number)
        )
    return values


@lru_cache(maxsize=256)
def memory_search(suite: Suite, task: str, draw: int, n_trials: int) -> TaskHistory:
    """One past task's memory: a seeded evolution search of ``n_trials`` (FULL: the table)."""
    bench = suite.bench(task)
    if n_trials == FULL or n_trials >= len(bench):
        archs, _ = table_archs(suite, task)
        values = bench.values(METRIC)
        keep = np.isfinite(values)
        return TaskHistory.from_evaluations(
            suite.task_name(task), [a for a, k in zip(archs, keep, strict=True) if k],
            values[keep], space=bench.space, descriptors=bench.task_descriptors(),
        )  # fmt: skip
    seed = MEMORY_SEED + draw
    evo = create_strategy("evolution", bench.space, seed=seed)
    archs: list[Architecture] = []
    values = _drive(evo, bench, n_trials, seed, archs)
    keep = np.isfinite(values)
    return TaskHistory.from_evaluations(
        suite.task_name(task), [a for a, k in zip(archs, keep, strict=True) if k], values[keep],
        space=bench.space, descriptors=bench.task_descriptors(),
    )  # fmt: skip


def memory_for(
    suite: Suite, past: Sequence[str], draw: int, n_trials: int
) -> dict[str, TaskHistory]:
    """``{task name: history}`` of the past tasks (each an evolution search of ``n_trials``)."""
    return {suite.task_name(t): memory_search(suite, t, draw, n_trials) for t in past}


#: Trials per past task of :func:`family_memory` (meta-family's reported memory size).
FAMILY_MEMORY_TRIALS = 100


def family_memory(
    path: str | None, tasks: Sequence[str], n_archs: int | None = None
) -> dict[str, TaskHistory]:
    """The memory the multi-fidelity benchmarks give ``meta``: the family table's ``tasks``
    (those the table at ``path`` holds, its first ``n_archs`` architectures), each a
    :data:`FAMILY_MEMORY_TRIALS`-trial evolution search, memory draw 0."""
    suite = Suite("family", path, n_archs)
    held = suite.tasks()
    return memory_for(suite, [t for t in tasks if t in held], 0, FAMILY_MEMORY_TRIALS)


@lru_cache(maxsize=64)
def _predictor(suite: Suite, task: str, past: tuple[str, ...], draw: int, n: int) -> Any:
    bench = suite.bench(task)
    return TransferPredictor(bench.space).fit(memory_for(suite, past, draw, n))


class _Scripted:
    """Ask a fixed list first (skipping repeats), then delegate."""

    def __init__(self, first: Sequence[Architecture], inner: Any) -> None:
        self.first = list(first)
        self.inner = inner
        self.n = 0

    def reseed(self, seed: int) -> None:
        self.inner.reseed(seed)

    def ask(self) -> Architecture:
        while self.n < len(self.first):
            arch = self.first[self.n]
            self.n += 1
            if not self.inner.is_seen(arch):
                self.inner.mark_seen(arch)
                return arch
        return self.inner.ask()

    def tell(self, obs: Observation) -> None:
        self.inner.tell(obs)


def naive_order(memory: dict[str, TaskHistory], k: int = 5) -> list[Architecture]:
    """Every past task's ``k`` best, by mean within-task percentile over the tasks that saw them.

    Ties: more tasks first, then first listed.
    """
    pct: dict[Any, list[float]] = {}
    arch_of: dict[Any, Architecture] = {}
    for h in memory.values():
        if not len(h):
            continue
        ranks = np.argsort(np.argsort(h.scores, kind="stable"), kind="stable")
        q = (ranks + 1) / len(h)
        for i, key in enumerate(h.keys):
            pct.setdefault(key, []).append(float(q[i]))
            arch_of.setdefault(key, h.archs[i])
    bests: list[Any] = []
    for h in memory.values():
        for i in h.order()[:k]:
            if h.keys[i] not in bests:
                bests.append(h.keys[i])
    bests.sort(key=lambda key: (-float(np.mean(pct[key])), -len(pct[key])))
    return [arch_of[key] for key in bests]


def most_similar(memory: dict[str, TaskHistory], descriptors: dict[str, Any]) -> str:
    """The past task most similar to ``descriptors`` (the meta package's descriptor similarity)."""
    sims = SimilarityIndex(memory).similarities(descriptors, method="descriptor")
    return sims[0].task


def run_method(
    suite: Suite,
    task: str,
    method: str,
    draw: int,
    seed: int,
    budget: int,
    past: Sequence[str] = (),
    memory: int = 100,
    settings: dict[str, Any] | None = None,
    config: int = 0,
) -> Run:
    """One search of ``task`` by ``method`` with the memory ``(past, draw, memory)``."""
    start = time.perf_counter()
    bench = suite.bench(task)
    past = tuple(past)
    n_mem = FULL if method == "oracle" else memory
    if method in COLD:
        n_mem, past, draw = 0, (), -1
    if method == "optuna-gp":
        values = _optuna_gp(suite, task, seed, budget)
    elif method in COLD:
        values = _drive(create_strategy(method, bench.space, seed=seed), bench, budget, seed)
    elif method in ("meta", "oracle"):
        meta = create_strategy("meta", bench.space, seed=seed, **(settings or {}))
        meta.set_memory(
            memory_for(suite, past, draw, n_mem),
            descriptors=bench.task_descriptors(),
            task=suite.task_name(task),
        )
        values = _drive(meta, bench, budget, seed)
    elif method == "zero-shot":
        model = _predictor(suite, task, past, draw, n_mem)
        picks = model.suggest(bench.task_descriptors(), ZERO_SHOT_K, seed=seed)
        values = np.array([bench.evaluate(s.arch).metrics[METRIC] for s in picks], dtype=float)
    elif method in ("naive", "similar"):
        mem = memory_for(suite, past, draw, n_mem)
        if method == "naive":
            first = naive_order(mem)
        else:
            first = mem[most_similar(mem, bench.task_descriptors())].best_architectures(budget)
        evo = create_strategy("evolution", bench.space, seed=seed)
        values = _drive(_Scripted(first, evo), bench, budget, seed)
    elif method in SYNE_TUNE:
        values = _syne_tune(suite, method, task, past, draw, seed, budget, n_mem)
    else:
        raise ValueError(f"unknown method {method!r}; use one of {ORDER}")
    return Run(task, method, draw, seed, values, time.perf_counter() - start, n_mem, past, config)


# ----------------------------------------------------------------------- Optuna
def _optuna_gp(suite: Suite, task: str, seed: int, budget: int) -> np.ndarray:
    """Optuna's GPSampler by ask/tell, one categorical parameter per decision."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    bench = suite.bench(task)
    space = bench.space
    dists = {d.name: CategoricalDistribution(list(d.choices)) for d in space.decisions}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPSampler is experimental in some versions
        sampler = optuna.samplers.GPSampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    values = np.full(budget, np.nan)
    seen: set[Any] = set()
    for i in range(budget):
        trial = study.ask(dists)
        arch = Architecture(dict(trial.params))
        if not space.is_valid(arch) or space.key(arch) in seen:
            arch = project(suite, task, dict(trial.params), seen)
        seen.add(space.key(arch))
        v = float(bench.evaluate(arch).metrics[METRIC])
        values[i] = v
        value = v if math.isfinite(v) else 0.0
        if arch == Architecture(dict(trial.params)):
            study.tell(trial, value)
        else:
            # The model learns what was evaluated: the projected architecture, not the proposal.
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            study.add_trial(
                optuna.trial.create_trial(
                    params={d.name: arch[d.name] for d in space.decisions},
                    distributions=dists,
                    value=value,
                )
            )
    return values


# ----------------------------------------------------------------------- Syne Tune
_ST_CACHE: dict[tuple[Any, ...], Any] = {}
_ST_VALUES: dict[tuple[Any, ...], np.ndarray] = {}


def _syne_tune(
    suite: Suite, method: str, task: str, past: tuple[str, ...], draw: int, seed: int,
    budget: int, memory_trials: int,
) -> np.ndarray:  # fmt: skip
    """Drive a Syne Tune transfer scheduler through its ask/tell API on the table."""
    import datetime as dt

    import pandas as pd
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import choice
    from syne_tune.optimizer.schedulers.transfer_learning.transfer_learning_task_evaluation import (
        TransferLearningTaskEvaluations,
    )

    mem_key = (suite, method, task, past, draw, memory_trials)
    if method == "st-zeroshot" and (*mem_key, budget) in _ST_VALUES:
        # Its suggestions depend on the memory alone (the scheduler is seeded by the draw and
        # never sees the search seed), so every search seed gets the same run: reuse it.
        return _ST_VALUES[(*mem_key, budget)].copy()
    bench = suite.bench(task)
    space = bench.space
    is_table = isinstance(space, TableSpace)
    names = [d.name for d in space.decisions]
    config_space = {d.name: choice(list(d.choices)) for d in space.decisions}
    evaluations = {}
    for name, h in memory_for(suite, past, draw, memory_trials).items():
        hp = pd.DataFrame([{n: a[n] for n in names} for a in h.archs])
        evaluations[name] = TransferLearningTaskEvaluations(
            configuration_space=config_space,
            hyperparameters=hp,
            objectives_names=[METRIC],
            objectives_evaluations=np.asarray(h.values, dtype=float).reshape(-1, 1, 1, 1),
        )
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings(), _QuietStdout():
        warnings.simplefilter("ignore")
        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        if method == "st-zeroshot":
            from syne_tune.optimizer.schedulers.transfer_learning.zero_shot import (
                ZeroShotTransfer,
            )

            class _ZeroShot(ZeroShotTransfer):  # type: ignore[misc]
                # Syne Tune 0.16 samples with self.random_state before setting it when
                # use_surrogates=True (AttributeError); set it first, as it would.
                def __init__(self, **kw: Any) -> None:
                    self.random_state = np.random.RandomState(kw["random_seed"])
                    super().__init__(**kw)

            if mem_key not in _ST_CACHE:
                _ST_CACHE[mem_key] = _ZeroShot(
                    config_space=config_space, metric=METRIC,
                    transfer_learning_evaluations=evaluations, do_minimize=False,
                    use_surrogates=True, random_seed=draw,
                )  # fmt: skip
            sched: Any = copy.deepcopy(_ST_CACHE[mem_key])
            ask: Callable[[], dict[str, Any] | None] = sched.get_config

            def tell(i: int, c: dict[str, Any], v: float) -> None:
                return None
        elif method == "st-boundingbox":
            from syne_tune.optimizer.baselines import RandomSearch
            from syne_tune.optimizer.schedulers.transfer_learning.bounding_box import BoundingBox

            def scheduler_fun(cs: dict[str, Any], metric: str, do_min: bool, rs: int) -> Any:
                return RandomSearch(cs, metrics=[metric], do_minimize=do_min, random_seed=rs)

            sched = BoundingBox(
                scheduler_fun, config_space=config_space, metric=METRIC,
                transfer_learning_evaluations=evaluations, do_minimize=False,
                num_hyperparameters_per_task=3, random_seed=seed,
            )  # fmt: skip

            def ask() -> dict[str, Any] | None:
                s = sched.suggest()
                return None if s is None else dict(s.config)

            def tell(i: int, c: dict[str, Any], v: float) -> None:
                trial = Trial(trial_id=i, config=c, creation_time=dt.datetime.now())
                try:
                    sched.on_trial_add(trial)
                    sched.on_trial_complete(trial, {METRIC: v})
                except AssertionError:
                    # An architecture outside the box (a suggestion projected onto the
                    # table, or a random pick after repeats) cannot be cast to the box's
                    # space, and Syne Tune 0.16 asserts. The box's random search does not
                    # learn from results, so leaving it untold changes none of its asks.
                    pass
        else:
            from syne_tune.optimizer.schedulers.transfer_learning.quantile_based.quantile_based_searcher import (  # noqa: E501
                QuantileBasedSurrogateSearcher,
            )

            # The fitted model and its candidates are built once per memory (seeded by the
            # draw); each search seed then draws its own Thompson samples.
            if mem_key not in _ST_CACHE:
                built = QuantileBasedSurrogateSearcher(
                    config_space=config_space, transfer_learning_evaluations=evaluations,
                    random_seed=draw, max_fit_samples=100000,
                )  # fmt: skip
                # Syne Tune minimises this searcher's target: maximised accuracy is negated.
                built.mu_pred = -built.mu_pred
                _ST_CACHE[mem_key] = built
            searcher = _ST_CACHE[mem_key]
            searcher.random_state = np.random.RandomState(seed)
            ask = searcher.suggest
            tell = lambda i, c, v: None  # noqa: E731  (the searcher does not learn online)
        values = np.full(budget, np.nan)
        seen: set[Any] = set()
        fallback = False  # a seeded random pick was needed: the run depends on the search seed
        for i in range(budget):
            arch = None
            for _ in range(50):  # a scheduler may repeat itself: skip repeats, as metanas does
                config = ask()
                if config is None:
                    break
                # Syne Tune hands numpy scalars back: use the space's own choice objects.
                config = {d.name: _as_choice(d.choices, config[d.name]) for d in space.decisions}
                cand = Architecture({n: config[n] for n in names})
                if is_table and not space.is_valid(cand):
                    # Most of a sparse table's grid is not in the table: the nearest row is.
                    cand = project(suite, task, {n: config[n] for n in names}, seen)
                if space.is_valid(cand) and space.key(cand) not in seen:
                    arch = cand
                    break
            while arch is None or space.key(arch) in seen:  # exhausted or stuck: a random one
                fallback = True
                arch = space.sample(rng)
            seen.add(space.key(arch))
            v = float(bench.evaluate(arch).metrics[METRIC])
            values[i] = v
            tell(i, {n: arch[n] for n in names}, v)
    if method == "st-zeroshot" and not fallback:
        _ST_VALUES[(*mem_key, budget)] = values.copy()
    return values


def _as_choice(choices: Sequence[Any], value: Any) -> Any:
    """The element of ``choices`` equal to ``value`` (``value`` itself when none is)."""
    for c in choices:
        if c == value and isinstance(c, bool) == isinstance(value, bool | np.bool_):
            return c
    return value.item() if isinstance(value, np.generic) else value


class _QuietStdout:
    """Syne Tune prints (BoundingBox); keep the benchmark's output readable."""

    def __enter__(self) -> None:
        self._old = sys.stdout
        sys.stdout = open(os.devnull, "w")

    def __exit__(self, *exc: object) -> None:
        sys.stdout.close()
        sys.stdout = self._old


# ----------------------------------------------------------------------- running
def job(
    suite: Suite, task: str, method: str, *, draw: int = -1, seed: int, budget: int,
    past: Sequence[str] = (), memory: int = 100, settings: dict[str, Any] | None = None,
    config: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """One job (keyword arguments of :func:`run_method`)."""
    return {
        "suite": suite, "task": task, "method": method, "draw": draw, "seed": seed,
        "budget": budget, "past": tuple(past), "memory": memory,
        "settings": settings, "config": config,
    }  # fmt: skip


def _job(kw: dict[str, Any]) -> Run | str:
    """Run one job; an arm that raises returns its error text (the suite goes on, reported)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    import metanas.strategies.meta  # noqa: F401  (registers "meta")

    return safe_run(kw)


def safe_run(kw: dict[str, Any]) -> Run | str:
    """:func:`run_method`, or the error text when the arm raises."""
    try:
        return run_method(**kw)
    except Exception as exc:
        return f"{kw['method']} on {kw['task']} (draw {kw['draw']}, seed {kw['seed']}): {exc!r}"


#: Errors of the jobs that failed in the last :func:`run_all`, one line each.
FAILURES: list[str] = []


def failures_note() -> str:
    """A Markdown line on the failed jobs of the last :func:`run_all` ("" when none)."""
    if not FAILURES:
        return ""
    kinds: dict[str, int] = {}
    for f in FAILURES:
        kinds[f.split(" ", 1)[0]] = kinds.get(f.split(" ", 1)[0], 0) + 1
    return (
        f"**{len(FAILURES)} run(s) failed** and are left out ("
        + ", ".join(f"`{k}` {n}" for k, n in kinds.items())
        + f"); first error: {FAILURES[0]}\n"
    )


_SLOW = {"optuna-gp": 0, "tpe": 1, "st-quantile": 2, "oracle": 3, "meta": 3, "bo": 4}


def run_all(
    jobs: list[dict[str, Any]],
    n_jobs: int,
    progress: bool = True,
    save: Path | None = None,
    kept: Sequence[Run] = (),
) -> list[Run]:
    """Run the jobs, in a pool of ``n_jobs`` spawned processes (slowest kinds first).

    With ``save``, the finished runs are written there every 20 runs and at the end, after
    ``kept`` (runs reused from an earlier file, often the same one: a kill mid-run then loses
    neither them nor the finished new runs).
    """
    order = sorted(range(len(jobs)), key=lambda i: _SLOW.get(jobs[i]["method"], 9))
    runs: list[Run | None] = [None] * len(jobs)
    FAILURES.clear()

    def keep(i: int, got: Run | str) -> None:
        if isinstance(got, str):
            FAILURES.append(got)
            print(f"  failed: {got}", file=sys.stderr, flush=True)
        else:
            runs[i] = got

    done = 0
    t0 = time.perf_counter()

    def report() -> None:
        if save is not None and done % 20 == 0:
            save_runs(save, [*kept, *(r for r in runs if r is not None)])
        if progress and (done % 50 == 0 or done == len(jobs)):
            print(f"  {done}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip

    if n_jobs == 1:
        for i in order:
            keep(i, _job(jobs[i]))
            done += 1
            report()
    else:
        with ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = {pool.submit(_job, jobs[i]): i for i in order}
            for fut in as_completed(futures):
                keep(futures[fut], fut.result())
                done += 1
                report()
    out = [r for r in runs if r is not None]
    if save is not None:
        save_runs(save, [*kept, *out])
    return out


def save_runs(path: Path, runs: list[Run]) -> None:
    """Write the runs as gzipped JSON (atomically: a crash leaves the previous file)."""
    rows = [
        {"task": r.task, "method": r.method, "draw": r.draw, "seed": r.seed,
         "memory": r.memory, "past": list(r.past), "config": r.config,
         "seconds": round(r.seconds, 4),
         "values": [None if math.isnan(v) else float(v) for v in r.values]}
        for r in runs
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(rows).encode()))
    tmp.replace(path)


def load_runs(path: Path) -> list[Run]:
    """Runs written by :func:`save_runs` (older files name the task ``dataset``)."""
    rows = json.loads(gzip.decompress(path.read_bytes()))
    return [
        Run(r.get("task", r.get("dataset")), r["method"], r["draw"], r["seed"],
            np.array([math.nan if v is None else v for v in r["values"]], dtype=float),
            r["seconds"], r.get("memory", 100 if r["draw"] >= 0 else 0),
            tuple(r.get("past", ())), r.get("config", 0))
        for r in rows
    ]  # fmt: skip


def reused_runs(path: Path, methods: Sequence[str], budget: int) -> list[Run]:
    """The runs saved in ``path`` of every method not in ``methods`` (rerun only those).

    Read them before running: a run saves as it goes, possibly to this very file. A search
    of another length is another job (zero-shot's runs are its 5 picks, whatever the budget).
    """
    reused = [
        r
        for r in load_runs(path)
        if r.method not in methods and (len(r.values) == budget or r.method == "zero-shot")
    ]
    print(f"{len(reused)} runs of other methods reused from {path}", file=sys.stderr)
    return reused


def reused_header(reused: Sequence[Run], path: Path, methods: Sequence[str]) -> dict[str, str]:
    """The section header's row that names the reused runs (none without any)."""
    if not reused:
        return {}
    from _report import REPO, relpath

    return {
        "reused": (
            f"{len(reused)} runs of "
            + ", ".join(sorted({r.method for r in reused}, key=ORDER.index))
            + f" from `{relpath(path, REPO)}` (an earlier run of the same jobs; these arms do "
            f"not depend on what changed); the wall time is that of the {', '.join(methods)} "
            "runs"
        )
    }


# ----------------------------------------------------------------------- statistics
def expected_best_of_random(values: np.ndarray, k: int) -> float:
    """Exact expected maximum of ``k`` picks drawn uniformly without replacement from ``values``.

    With the values sorted ascending, ``P(max <= v_(i)) = C(i, k) / C(n, k)``, so
    ``E[max] = sum_i v_(i) (C(i, k) - C(i-1, k)) / C(n, k)``. NaN values (failed
    trainings) are picks too and count as the worst (a search that drew one gains nothing).
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the table's size); got {k}.")
    worst = np.nanmin(v)
    v = np.sort(np.where(np.isnan(v), worst, v))
    i = np.arange(n + 1, dtype=float)
    # log C(i, k) / C(n, k) = sum_j log((i - j) / (n - j)), -inf where i < k
    logp = np.zeros(n + 1)
    for j in range(k):
        with np.errstate(divide="ignore"):
            logp += np.log(np.maximum(i - j, 0.0)) - math.log(n - j)
    cdf = np.exp(logp)  # P(max <= v_(i)), i = 0..n
    return float(np.sum(v * np.diff(cdf)))


def expected_random_regret(bench: TabularBenchmark, k: int) -> float:
    """Exact expected regret (points) of the best of ``k`` uniform picks without replacement."""
    values = bench.values(METRIC)
    return float((bench.optimum(METRIC) - expected_best_of_random(values, k)) * 100)


def median_interval(ratios: Sequence[float], over: str) -> str:
    """``[95 % bootstrap over <over> lo, hi]``: the interval of a median over held-out tasks."""
    from _report import median_ci

    _, lo, hi = median_ci(list(ratios))
    return f"[95 % bootstrap over {over} {lo:.2f}, {hi:.2f}]"


def ratio_of_medians(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = float(np.median(a)), float(np.median(b))
    if mb == 0:
        return 1.0 if ma == 0 else math.inf
    return ma / mb


def bootstrap_ratio(
    a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.9, seed: int = 0
) -> tuple[float, float, float]:
    """Median(a) / median(b) with a paired bootstrap ``level`` interval: (ratio, low, high).

    ``a[i]`` and ``b[i]`` are one pair (same search seed and memory draw); pairs are resampled.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"a and b must be paired 1-D arrays; got shapes {a.shape}, {b.shape}.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    ma = np.median(a[idx], axis=1)
    mb = np.median(b[idx], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(mb == 0, np.where(ma == 0, 1.0, np.inf), ma / mb)
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return ratio_of_medians(a, b), float(lo), float(hi)


# ----------------------------------------------------------------------- analysis
def regret_curve(suite: Suite, run: Run, budget: int) -> np.ndarray:
    """Valid regret after each query (accuracy points x 100), held flat after a short run."""
    opt = suite.bench(run.task).optimum(METRIC)
    v = np.where(np.isnan(run.values), -np.inf, run.values)
    best = np.maximum.accumulate(v)
    out = np.full(budget, np.nan)
    out[: len(best)] = np.maximum(opt - best, 0.0) * 100
    if len(best) < budget:
        out[len(best) :] = out[len(best) - 1]
    return out


def queries_to_top(suite: Suite, run: Run, budget: int, top_fraction: float = 0.005) -> int:
    """Queries until the top ``top_fraction`` of the table; ``budget + 1`` when never reached."""
    thr = suite.bench(run.task).threshold(METRIC, top_fraction)
    hit = np.flatnonzero(np.nan_to_num(run.values, nan=-np.inf) >= thr)
    return int(hit[0]) + 1 if len(hit) else budget + 1


@dataclass
class Summary:
    """Runs of one suite, with paired look-ups by (draw, seed)."""

    suite: Suite
    runs: list[Run]
    budget: int
    _curves: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def select(
        self, task: str, method: str, memory: int | None = None, config: int | None = None
    ) -> list[Run]:
        return [
            r for r in self.runs
            if r.task == task and r.method == method
            and (memory is None or r.memory == memory) and (config is None or r.config == config)
        ]  # fmt: skip

    @property
    def tasks(self) -> list[str]:
        order = list(self.suite.tasks())
        seen = {r.task for r in self.runs}
        return [t for t in order if t in seen]

    @property
    def methods(self) -> list[str]:
        seen = {r.method for r in self.runs}
        return [m for m in ORDER if m in seen]

    def curve(self, run: Run) -> np.ndarray:
        key = id(run)
        if key not in self._curves:
            self._curves[key] = regret_curve(self.suite, run, self.budget)
        return self._curves[key]

    def at(self, runs: Sequence[Run], t: int) -> np.ndarray:
        i = min(t, self.budget) - 1
        return np.array([self.curve(r)[i] for r in runs], dtype=float)

    def regret(self, task: str, method: str, t: int, **kw: Any) -> float:
        runs = self.select(task, method, **kw)
        return float(np.median(self.at(runs, t))) if runs else math.nan

    def to_top(self, task: str, method: str, **kw: Any) -> float:
        runs = self.select(task, method, **kw)
        if not runs:
            return math.nan
        return float(np.median([queries_to_top(self.suite, r, self.budget) for r in runs]))

    def best_cold(self, task: str, t: int) -> tuple[float, str]:
        vals = {m: self.regret(task, m, t) for m in COLD if self.select(task, m)}
        if not vals:
            return math.nan, "-"
        m = min(vals, key=lambda k: vals[k])
        return vals[m], m

    def paired(
        self, task: str, runs: Sequence[Run], other: str, t: int, **kw: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Regrets at ``t`` of ``runs`` and of ``other``'s run with the same seed (and draw).

        A cold arm (no draw) is paired by seed alone; runs without a partner are left out.
        """
        by_key = {(r.draw, r.seed): r for r in self.select(task, other, **kw)}
        a, b = [], []
        for r in runs:
            partner = by_key.get((r.draw, r.seed)) or by_key.get((-1, r.seed))
            if partner is not None:
                a.append(r)
                b.append(partner)
        return self.at(a, t), self.at(b, t)

    def to_top_values(self, runs: Sequence[Run]) -> np.ndarray:
        return np.array([queries_to_top(self.suite, r, self.budget) for r in runs], dtype=float)


def fmt_ci(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"


def fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def select_config(
    summary: Summary, task: str, n_configs: int, method: str, memory: int, t: int
) -> int:
    """Nested leave-one-task-out: meta's setting for ``task`` chosen on the other tasks only.

    The setting with the lowest median (over the other held-out tasks) of the ratio of its
    median regret at ``t`` to the best cold method's; ``task``'s own runs are never read.
    """
    if n_configs <= 1:
        return 0
    scores = []
    for c in range(n_configs):
        ratios = []
        for other in summary.tasks:
            if other == task:
                continue
            cold, _ = summary.best_cold(other, t)
            mine = summary.regret(other, method, t, memory=memory, config=c)
            if not math.isnan(mine):
                ratios.append(ratio_of_medians(np.array([mine]), np.array([cold])))
        scores.append(float(np.median(ratios)) if ratios else math.inf)
    return int(np.argmin(scores))


def regret_table(summary: Summary, t: int, columns: Sequence[tuple[str, str, dict[str, Any]]]
                 ) -> list[str]:  # fmt: skip
    """Median regret at ``t`` per task: ``columns`` are (label, method, select keywords)."""
    lines = [
        f"#### Median valid regret at {t} queries (accuracy points)",
        "",
        "| task | " + " | ".join(f"`{c[0]}`" for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for task in summary.tasks:
        vals = [summary.regret(task, m, t, **kw) for _, m, kw in columns]
        finite = [v for v in vals if not math.isnan(v)]
        cells = []
        for v in vals:
            text = "-" if math.isnan(v) else f"{v:.3f}"
            cells.append(f"**{text}**" if finite and v == min(finite) else text)
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return [*lines, ""]
