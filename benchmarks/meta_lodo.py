"""Leave one data set out: does a memory of past searches make a new search faster?

The protocol of the meta-learning issue, on the 8 NAS-Bench-Graph data sets
with the full operation set. For each held-out data set the experience memory
is what a user would have: the stored trials of one 100-trial "evolution"
search on each of the 7 other data sets (never their full tables), repeated
over ``--draws`` memory draws (different seeds of those searches). Every
method then searches the held-out data set for ``--n-trials`` queries with each
of ``--seeds`` search seeds:

- cold: ``random``, ``evolution``, ``tpe``, ``bo`` (the memory is not used;
  run once per search seed);
- ``meta`` (metanas: zero-shot portfolio from the memory's predictor, then
  the ranking-weighted GP ensemble);
- ``zero-shot``: the predictor's top 5 alone (the zero-shot target);
- ``naive``: the other tasks' best architectures first, then evolution;
- Syne Tune's transfer schedulers fed the same memory through its ask/tell
  API: ``st-zeroshot`` (ZeroShotTransfer, surrogate-imputed),
  ``st-boundingbox`` (BoundingBox around each past task's 3 best, random
  search inside), ``st-quantile`` (QuantileBasedSurrogateSearcher, copula
  Thompson sampling).

    python benchmarks/meta_lodo.py                 # the full run (3 draws x 10 seeds)
    python benchmarks/meta_lodo.py --quick         # 2 data sets, 1 draw, 2 seeds, 30 queries

Search seeds are 0..N-1 and memory draws 0..D-1 (evolution seeds 1000 + draw);
the meta strategy's settings were tuned on other seeds (see ``--seed-offset``).
Strategies see validation accuracy only.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # xgboost (Syne Tune) and BLAS: one thread each

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph
from metanas.meta import TaskHistory
from metanas.meta.predictor import TransferPredictor
from metanas.spaces.architecture import Architecture
from metanas.strategies import Observation, create_strategy

SECTION = "meta-lodo"
FULL_OPS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")
COLD = ("random", "evolution", "tpe", "bo")
MEMORY_METHODS = ("meta", "zero-shot", "naive")
SYNE_TUNE = ("st-zeroshot", "st-boundingbox", "st-quantile")
METRIC = "valid_accuracy"
ZERO_SHOT_K = 5


def _task(dataset: str) -> str:
    return f"nas-bench-graph/{dataset}"


# ----------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Run:
    """One search: ``values[t]`` is the validation accuracy of query ``t`` (NaN: failed)."""

    dataset: str
    method: str
    draw: int  # -1 for cold methods
    seed: int
    values: np.ndarray
    seconds: float


@lru_cache(maxsize=16)
def _bench(dataset: str) -> NasBenchGraph:
    return NasBenchGraph(dataset)


def _drive(strategy: Any, bench: NasBenchGraph, budget: int, seed: int) -> np.ndarray:
    """Ask/tell as a Study does (reseeded per trial number), without storage."""
    values = np.full(budget, np.nan)
    for number in range(budget):
        strategy.reseed(derive_seed(seed, number))
        arch = strategy.ask()
        value = float(bench.evaluate(arch).metrics[METRIC])
        values[number] = value
        strategy.tell(
            Observation(arch=arch, score=value, scores=(value,), metrics={}, number=number)
        )
    return values


@lru_cache(maxsize=64)
def memory_search(dataset: str, draw: int, n_trials: int = 100) -> TaskHistory:
    """The stored trials of one evolution search of ``dataset`` (seed 1000 + draw)."""
    bench = _bench(dataset)
    seed = 1000 + draw
    evo = create_strategy("evolution", bench.space, seed=seed)
    archs: list[Architecture] = []
    values: list[float] = []
    for number in range(n_trials):
        evo.reseed(derive_seed(seed, number))
        arch = evo.ask()
        v = float(bench.evaluate(arch).metrics[METRIC])
        evo.tell(Observation(arch=arch, score=v, scores=(v,), metrics={}, number=number))
        archs.append(arch)
        values.append(v)
    return TaskHistory.from_evaluations(
        _task(dataset), archs, values, space=bench.space, descriptors=bench.task_descriptors()
    )


def memory_for(dataset: str, draw: int, memory_trials: int = 100) -> dict[str, TaskHistory]:
    """The memory of a held-out data set: one evolution search on each other data set."""
    return {_task(d): memory_search(d, draw, memory_trials) for d in FULL_OPS if d != dataset}


@lru_cache(maxsize=32)
def _predictor(dataset: str, draw: int, memory_trials: int) -> TransferPredictor:
    """The memory's predictor (deterministic given the memory: fitted once per process)."""
    return TransferPredictor(_bench(dataset).space).fit(memory_for(dataset, draw, memory_trials))


class _Scripted:
    """Ask a fixed list first, then delegate (the naive transfer)."""

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


def _meta_strategy(
    dataset: str, draw: int, seed: int, settings: dict[str, Any], memory_trials: int
) -> Any:
    bench = _bench(dataset)
    meta = create_strategy("meta", bench.space, seed=seed, **settings)
    meta.set_memory(
        memory_for(dataset, draw, memory_trials),
        descriptors=bench.task_descriptors(),
        task=_task(dataset),
    )
    return meta


def run_method(
    dataset: str,
    method: str,
    draw: int,
    seed: int,
    budget: int,
    settings: dict[str, Any] | None = None,
    memory_trials: int = 100,
) -> Run:
    """One search of ``dataset`` by ``method`` (memory draw ``draw``, search seed ``seed``)."""
    import torch  # noqa: F401  (imported once here so a worker's first TPE run is not slower)

    start = time.perf_counter()
    bench = _bench(dataset)
    settings = settings or {}
    if method in COLD:
        values = _drive(create_strategy(method, bench.space, seed=seed), bench, budget, seed)
    elif method == "meta":
        meta = _meta_strategy(dataset, draw, seed, settings, memory_trials)
        values = _drive(meta, bench, budget, seed)
    elif method == "zero-shot":
        model = _predictor(dataset, draw, memory_trials)
        picks = model.suggest(bench.task_descriptors(), ZERO_SHOT_K, seed=seed)
        values = np.array([bench.evaluate(s.arch).metrics[METRIC] for s in picks], dtype=float)
    elif method == "naive":
        past = memory_for(dataset, draw, memory_trials)
        first = [h.best_architectures(1)[0] for h in past.values()]
        evo = create_strategy("evolution", bench.space, seed=seed)
        values = _drive(_Scripted(first, evo), bench, budget, seed)
    elif method in SYNE_TUNE:
        values = _syne_tune(method, dataset, draw, seed, budget, memory_trials)
    else:
        raise ValueError(f"unknown method {method!r}")
    return Run(dataset, method, draw, seed, values, time.perf_counter() - start)


# ----------------------------------------------------------------------- Syne Tune
_ST_CACHE: dict[tuple[str, str, int], Any] = {}
_ST_VALUES: dict[tuple[str, str, int, int], np.ndarray] = {}


def _syne_tune(
    method: str, dataset: str, draw: int, seed: int, budget: int, memory_trials: int
) -> np.ndarray:
    """Drive a Syne Tune transfer scheduler through its ask/tell API on the table."""
    import datetime as dt

    import pandas as pd
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import choice
    from syne_tune.optimizer.schedulers.transfer_learning.transfer_learning_task_evaluation import (
        TransferLearningTaskEvaluations,
    )

    if method == "st-zeroshot" and (method, dataset, draw, budget) in _ST_VALUES:
        # Its suggestions depend on the memory alone (the scheduler is seeded by the draw and
        # never sees the search seed), so every search seed gets the same run: reuse it.
        return _ST_VALUES[(method, dataset, draw, budget)].copy()
    bench = _bench(dataset)
    space = bench.space
    names = [d.name for d in space.decisions]
    config_space = {d.name: choice(list(d.choices)) for d in space.decisions}
    past = memory_for(dataset, draw, memory_trials)
    evaluations = {}
    for task, h in past.items():
        hp = pd.DataFrame([{n: a[n] for n in names} for a in h.archs])
        evaluations[task] = TransferLearningTaskEvaluations(
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

            # Deterministic given the memory (seeded by the draw): built once per memory,
            # copied for each search seed.
            key = (method, dataset, draw)
            if key not in _ST_CACHE:
                _ST_CACHE[key] = _ZeroShot(
                    config_space=config_space, metric=METRIC,
                    transfer_learning_evaluations=evaluations, do_minimize=False,
                    use_surrogates=True, random_seed=draw,
                )  # fmt: skip
            sched: Any = copy.deepcopy(_ST_CACHE[key])
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
                sched.on_trial_add(trial)
                sched.on_trial_complete(trial, {METRIC: v})
        else:
            from syne_tune.optimizer.schedulers.transfer_learning.quantile_based.quantile_based_searcher import (  # noqa: E501
                QuantileBasedSurrogateSearcher,
            )

            # The fitted model and its 100000 candidates are built once per memory (seeded by
            # the draw); each search seed then draws its own Thompson samples.
            key = (method, dataset, draw)
            if key not in _ST_CACHE:
                built = QuantileBasedSurrogateSearcher(
                    config_space=config_space, transfer_learning_evaluations=evaluations,
                    random_seed=draw, max_fit_samples=100000,
                )  # fmt: skip
                # Syne Tune minimises this searcher's target: maximised accuracy is negated.
                built.mu_pred = -built.mu_pred
                _ST_CACHE[key] = built
            searcher = _ST_CACHE[key]
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
                cand = Architecture({n: config[n] for n in names})
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
        _ST_VALUES[(method, dataset, draw, budget)] = values.copy()
    return values


class _QuietStdout:
    """Syne Tune prints (BoundingBox); keep the benchmark's output readable."""

    def __enter__(self) -> None:
        self._old = sys.stdout
        sys.stdout = open(os.devnull, "w")

    def __exit__(self, *exc: object) -> None:
        sys.stdout.close()
        sys.stdout = self._old


# ----------------------------------------------------------------------- running
def _job(kw: dict[str, Any]) -> Run:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    import metanas.strategies.meta  # noqa: F401  (registers "meta")

    return run_method(**kw)


def _save(path: Path, runs: list[Run]) -> None:
    """Write the runs as gzipped JSON (atomically: a crash leaves the previous file)."""
    import gzip
    import json

    rows = [
        {"dataset": r.dataset, "method": r.method, "draw": r.draw, "seed": r.seed,
         "seconds": round(r.seconds, 4),
         "values": [None if math.isnan(v) else float(v) for v in r.values]}
        for r in runs
    ]  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(rows).encode()))
    tmp.replace(path)


def load_runs(path: Path) -> list[Run]:
    """Runs written by ``--save`` (gzipped JSON)."""
    import gzip
    import json

    rows = json.loads(gzip.decompress(path.read_bytes()))
    return [
        Run(r["dataset"], r["method"], r["draw"], r["seed"],
            np.array([math.nan if v is None else v for v in r["values"]], dtype=float),
            r["seconds"])
        for r in rows
    ]  # fmt: skip


def run_all(
    jobs: list[dict[str, Any]], n_jobs: int, progress: bool = True, save: Path | None = None
) -> list[Run]:
    """Run the jobs, in a pool of ``n_jobs`` spawned processes (slowest kinds first)."""
    slow = {"tpe": 0, "st-quantile": 1, "meta": 2, "bo": 3, "st-zeroshot": 4}
    order = sorted(range(len(jobs)), key=lambda i: slow.get(jobs[i]["method"], 9))
    runs: list[Run | None] = [None] * len(jobs)
    done = 0
    t0 = time.perf_counter()
    if n_jobs == 1:
        for i in order:
            runs[i] = _job(jobs[i])
            done += 1
    else:
        with ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = {pool.submit(_job, jobs[i]): i for i in order}
            for fut in as_completed(futures):
                runs[futures[fut]] = fut.result()
                done += 1
                if save is not None and done % 20 == 0:
                    _save(save, [r for r in runs if r is not None])
                if progress and (done % 50 == 0 or done == len(jobs)):
                    print(
                        f"  {done}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s",
                        file=sys.stderr, flush=True,
                    )  # fmt: skip
    out = [r for r in runs if r is not None]
    if save is not None:
        _save(save, out)
    return out


def make_jobs(
    datasets: Sequence[str],
    methods: Sequence[str],
    draws: Sequence[int],
    seeds: Sequence[int],
    budget: int,
    settings: dict[str, Any] | None = None,
    memory_trials: int = 100,
) -> list[dict[str, Any]]:
    jobs = []
    for d in datasets:
        for m in methods:
            for draw in [-1] if m in COLD else draws:
                for s in seeds:
                    jobs.append(
                        {"dataset": d, "method": m, "draw": draw, "seed": s, "budget": budget,
                         "settings": settings if m == "meta" else None,
                         "memory_trials": memory_trials}
                    )  # fmt: skip
    return jobs


# ----------------------------------------------------------------------- analysis
def regret_curve(run: Run, budget: int) -> np.ndarray:
    """Valid regret after each query (accuracy points x 100), held flat after a short run."""
    bench = _bench(run.dataset)
    opt = bench.optimum(METRIC)
    v = np.where(np.isnan(run.values), -np.inf, run.values)
    best = np.maximum.accumulate(v)
    out = np.full(budget, np.nan)
    out[: len(best)] = np.maximum(opt - best, 0.0) * 100
    if len(best) < budget:
        out[len(best) :] = out[len(best) - 1]
    return out


def queries_to_top(run: Run, budget: int, top_fraction: float = 0.005) -> int:
    thr = _bench(run.dataset).threshold(METRIC, top_fraction)
    hit = np.flatnonzero(np.nan_to_num(run.values, nan=-np.inf) >= thr)
    return int(hit[0]) + 1 if len(hit) else budget + 1


@dataclass
class Summary:
    runs: list[Run]
    budget: int

    def select(self, dataset: str, method: str) -> list[Run]:
        return [r for r in self.runs if r.dataset == dataset and r.method == method]

    @property
    def datasets(self) -> list[str]:
        return [d for d in FULL_OPS if any(r.dataset == d for r in self.runs)]

    @property
    def methods(self) -> list[str]:
        seen: list[str] = []
        for r in self.runs:
            if r.method not in seen:
                seen.append(r.method)
        order = [*COLD, "meta", "zero-shot", "naive", *SYNE_TUNE]
        return sorted(seen, key=lambda m: order.index(m) if m in order else 99)

    def regret(self, dataset: str, method: str, t: int) -> float:
        runs = self.select(dataset, method)
        if not runs:
            return math.nan
        at = min(t, self.budget) - 1
        return float(np.median([regret_curve(r, self.budget)[at] for r in runs]))

    def to_top(self, dataset: str, method: str) -> float:
        runs = self.select(dataset, method)
        if not runs:
            return math.nan
        return float(np.median([queries_to_top(r, self.budget) for r in runs]))

    def best_cold(self, dataset: str, t: int) -> tuple[float, str]:
        vals = {m: self.regret(dataset, m, t) for m in COLD if self.select(dataset, m)}
        m = min(vals, key=lambda k: vals[k])
        return vals[m], m

    def zero_shot(self, dataset: str) -> float:
        """Median over runs of the best of the predictor's top 5 (regret, points)."""
        return self.regret(dataset, "zero-shot", ZERO_SHOT_K)


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def targets(s: Summary) -> tuple[list[str], dict[str, Any]]:
    """Check the issue's targets; return Markdown lines and the raw numbers."""
    sets = s.datasets
    n = len(sets)
    lines: list[str] = []
    out: dict[str, Any] = {}
    has_st = [m for m in SYNE_TUNE if m in s.methods]
    rows = [
        "| data set | best cold @20 | meta @20 | ratio | cold to top | meta to top | "
        "best cold @50 | meta @50 | best of 5 random | zero-shot top 5 | ratio | best Syne "
        "Tune @20 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    r20, below20, top_ok, safe, zs_ok, zs_ratio, st_ok = [], 0, 0, 0, 0, [], 0
    t20, t50 = min(20, s.budget), min(50, s.budget)
    for d in sets:
        c20, c20m = s.best_cold(d, t20)
        m20 = s.regret(d, "meta", t20)
        ratio = _ratio(m20, c20)
        r20.append(ratio)
        below20 += m20 < c20
        cold_top = min(s.to_top(d, m) for m in COLD if s.select(d, m))
        meta_top = s.to_top(d, "meta")
        top_ok += meta_top <= 0.5 * cold_top
        c50, _ = s.best_cold(d, t50)
        m50 = s.regret(d, "meta", t50)
        safe += m50 <= 1.1 * c50 + 1e-12
        rnd5 = s.regret(d, "random", ZERO_SHOT_K)
        zs = s.zero_shot(d)
        zr = _ratio(zs, rnd5)
        zs_ratio.append(zr)
        zs_ok += zs < rnd5
        st_vals = [v for m in has_st if not math.isnan(v := s.regret(d, m, t20))]
        st20 = min(st_vals, default=math.nan)
        st_ok += m20 < st20
        fmt_top = lambda q: f">{s.budget}" if q > s.budget else f"{q:g}"  # noqa: E731
        rows.append(
            f"| {d} | {c20:.3f} ({c20m}) | {m20:.3f} | {ratio:.2f} | {fmt_top(cold_top)} | "
            f"{fmt_top(meta_top)} | {c50:.3f} | {m50:.3f} | {rnd5:.3f} | {zs:.3f} | {zr:.2f} | "
            f"{st20:.3f} |"
        )
    med20 = float(np.median(r20))
    medzs = float(np.median(zs_ratio))
    ok = lambda b: "**met**" if b else "**not met**"  # noqa: E731
    lines += [
        "### Targets",
        "",
        "Regrets in accuracy points (median over runs); *best cold* = the lowest median of "
        f"{', '.join(COLD)} per data set and column; queries to top: median, runs that never "
        f"reached the top 0.5 % counted as {s.budget + 1}.",
        "",
        *rows,
        "",
        f"- Regret at {t20} queries below the best cold on >= 7 of 8 and median ratio <= 0.6: "
        f"below on **{below20} of {n}**, median ratio **{med20:.2f}**: "
        f"{ok(below20 >= 7 and med20 <= 0.6)}.",
        f"- Queries to the top 0.5 % <= 1/2 of the best cold's on >= 5 of 8: **{top_ok} of {n}**: "
        f"{ok(top_ok >= 5)}.",
        f"- Safety, regret at {t50} <= 1.1 x best cold on all 8: **{safe} of {n}**: "
        f"{ok(safe == n)}.",
        f"- Zero-shot: best of the top {ZERO_SHOT_K} suggestions below the best of "
        f"{ZERO_SHOT_K} random picks on >= 7 of 8 with median ratio <= 0.7: **{zs_ok} of {n}**, "
        f"median ratio **{medzs:.2f}**: {ok(zs_ok >= 7 and medzs <= 0.7)}.",
    ]
    if has_st:
        lines.append(
            f"- Better than the best Syne Tune transfer scheduler at {t20} queries on >= 6 of 8: "
            f"**{st_ok} of {n}**: {ok(st_ok >= 6)}."
        )
    out.update(
        below20=below20, median_ratio20=med20, top_ok=top_ok, safe=safe, zs_ok=zs_ok,
        zs_median_ratio=medzs, st_ok=st_ok, n=n,
    )  # fmt: skip
    return lines, out


def table(s: Summary, checkpoints: Sequence[int]) -> list[str]:
    methods = s.methods
    lines = []
    for t in checkpoints:
        if t > s.budget:
            continue
        lines += [
            f"### Median valid regret at {t} queries (accuracy points)",
            "",
            "| data set | " + " | ".join(f"`{m}`" for m in methods) + " |",
            "|---|" + "---:|" * len(methods),
        ]
        for d in s.datasets:
            vals = [s.regret(d, m, t) for m in methods]
            finite = [v for v in vals if not math.isnan(v)]
            cells = []
            for v in vals:
                text = "-" if math.isnan(v) else f"{v:.3f}"
                cells.append(f"**{text}**" if finite and v == min(finite) else text)
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "### Median queries to the top 0.5 %",
        "",
        "| data set | " + " | ".join(f"`{m}`" for m in methods if m != "zero-shot") + " |",
        "|---|" + "---:|" * (len(methods) - ("zero-shot" in methods)),
    ]
    for d in s.datasets:
        cells = []
        for m in methods:
            if m == "zero-shot":
                continue
            q = s.to_top(d, m)
            cells.append("-" if math.isnan(q) else (f">{s.budget}" if q > s.budget else f"{q:g}"))
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot(s: Summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = s.datasets
    ncols = min(4, len(sets))
    nrows = math.ceil(len(sets) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), constrained_layout=True, squeeze=False
    )
    methods = [m for m in s.methods if m != "zero-shot"]
    x = np.arange(1, s.budget + 1)
    for ax, d in zip(axes.flat, sets, strict=False):
        for i, m in enumerate(methods):
            runs = s.select(d, m)
            if not runs:
                continue
            curves = np.vstack([regret_curve(r, s.budget) for r in runs])
            med = np.median(curves, axis=0)
            style = "-" if m in ("meta", *COLD) else "--"
            ax.plot(x, np.maximum(med, 1e-2), style, color=f"C{i}", label=m,
                    lw=2.2 if m == "meta" else 1.2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(d)
        ax.set_xlabel("queries")
        ax.set_ylabel("valid regret (points)")
    for ax in list(axes.flat)[len(sets) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    fig.suptitle("Leave one data set out: median validation regret (regret 0 drawn at 0.01)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from _report import REPO

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=3, help="memory draws 0..D-1 (3)")
    p.add_argument("--seeds", type=int, default=10, help="search seeds per draw (10)")
    p.add_argument("--seed-offset", type=int, default=0,
                   help="search seeds start here (0; tuning used 100..)")  # fmt: skip
    p.add_argument("--draw-offset", type=int, default=0, help="memory draws start here (0)")
    # --budget: the old spelling, still accepted (the saved runs keep "budget" as their key).
    p.add_argument(
        "--n-trials", "--budget", dest="budget", type=int, default=100,
        help="queries per search (100)",
    )  # fmt: skip
    p.add_argument("--datasets", default=",".join(FULL_OPS))
    p.add_argument("--methods", default=",".join([*COLD, *MEMORY_METHODS, *SYNE_TUNE]))
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="a tiny run: 2 data sets, 1 draw x 2 "
                   "seeds, 30 queries, no Syne Tune quantile; writes nothing")  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--save", type=Path, default=None,
                   help="save the runs here (gzipped JSON) as they finish")  # fmt: skip
    p.add_argument("--load", type=Path, default=None,
                   help="report the runs saved by --save instead of running")  # fmt: skip
    p.add_argument("--wall-s", type=float, default=float("nan"),
                   help="with --load: the wall time the runs took, for the report")  # fmt: skip
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--img", type=Path, default=REPO / "docs" / "img" / "meta_lodo.png")
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.draws, args.seeds, args.budget = "cora,computers", 1, 2, 30
        args.methods = ",".join(m for m in args.methods.split(",") if m != "st-quantile")
        args.no_write = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    draws = list(range(args.draw_offset, args.draw_offset + args.draws))
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    jobs = make_jobs(datasets, methods, draws, seeds, args.budget)
    t0 = time.perf_counter()
    if args.load is not None:
        runs = load_runs(args.load)
        wall = args.wall_s
        print(f"{len(runs)} of {len(jobs)} runs loaded from {args.load}", file=sys.stderr)
    else:
        print(f"{len(jobs)} runs on {args.n_jobs} process(es)", file=sys.stderr)
        runs = run_all(jobs, args.n_jobs, save=args.save)
        wall = time.perf_counter() - t0
    s = Summary(runs, args.budget)
    checkpoints = [5, 20, 50, 100]
    target_lines, _numbers = targets(s)
    body = [*target_lines, "", *table(s, checkpoints)]
    secs = {m: float(np.median([r.seconds for r in runs if r.method == m])) for m in s.methods}
    body += [
        "Median wall time per search (s, one core, table look-ups): "
        + ", ".join(f"`{m}` {v:.2f}" for m, v in secs.items()),
        "",
    ]
    text = "\n".join(body)
    print(text)
    print(f"wall time {wall:.0f} s", file=sys.stderr)
    if not args.no_write:
        from _report import header, relpath

        from metanas.benchmarking import write_section

        plot(s, args.img)
        head = header(
            "Meta-learning: leave one data set out (meta-lodo)",
            {
                "runs": (
                    f"{len(runs)} searches: {', '.join(datasets)} held out in turn; cold "
                    f"methods {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}); memory methods "
                    f"{len(draws)} memory draws x {len(seeds)} seeds; {args.budget} queries; "
                    f"{args.n_jobs} processes; {wall:.0f} s wall time"
                ),
                "memory": "per held-out data set: the stored trials of one 100-trial evolution "
                "search (seed 1000 + draw) on each of the 7 others",
                "tuning": "meta's settings were chosen on validation regret with search seeds "
                "100..109 and memory draws 5..8 (three rounds), never on the seeds or draws "
                "reported here",
            },
        )
        intro = (
            "Protocol of the meta-learning issue. Methods: cold `random`, `evolution`, `tpe`, "
            "`bo`; `meta` (zero-shot portfolio of the memory's predictor, then BO with a "
            "transfer prior weighted online, used only while it predicts the new task's "
            "results better than plain BO's GP, by leave-one-out); `zero-shot` (the "
            "predictor's top 5, no feedback); `naive` "
            "(the other data sets' best architectures, then evolution); Syne Tune 0.16's "
            "`ZeroShotTransfer` (XGBoost-imputed; its suggestions depend on the memory only, "
            "so each data set and draw is run once per worker and reused for the other "
            "search seeds), `BoundingBox` (random search in the box of "
            "each past task's 3 best) and `QuantileBasedSurrogateSearcher` (copula Thompson "
            "sampling; it does not learn online), fed the same memory as "
            "`TransferLearningTaskEvaluations` and driven by ask/tell; repeated or invalid "
            "suggestions of theirs are skipped (asked again) as metanas' strategies never "
            "repeat a network."
        )
        expected: dict[str, int] = {}
        for j in jobs:
            expected[j["method"]] = expected.get(j["method"], 0) + 1
        got = {m: sum(r.method == m for r in runs) for m in expected}
        short = [f"`{m}` {got[m]} of {n}" for m, n in expected.items() if got[m] < n]
        if short:
            intro += (
                " **Incomplete:** " + ", ".join(short) + " runs (the run was stopped for "
                "time; its medians use the runs that finished, '-' where none did)."
            )
        img = relpath(args.img, args.output.parent)
        write_section(
            args.output, SECTION,
            f"{head}\n{intro}\n\n{text}\n![meta-lodo regret curves]({img})\n",
        )  # fmt: skip
        print(f"wrote {args.output} section {SECTION!r} and {args.img}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
