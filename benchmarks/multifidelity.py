"""Multi-fidelity search on the task-family table: exact, simulated time, with Optuna and Syne Tune.

Every arm searches one task of the task-family table (``metanas.benchmarks.TaskFamily``: per
architecture and epoch the validation and test accuracy and the training seconds so far) on one
simulated worker. Simulated time is the sum of the table's training seconds of every epoch any
arm trains: a full-fidelity trial pays ``train_time(15)``, a trial stopped after epoch ``e`` pays
``train_time(e)``, and a trial continued from epoch ``a`` to ``b`` pays
``train_time(b) - train_time(a)`` (every multi-fidelity arm continues its runs, as the trainer
does from a checkpoint). Every arm sees validation accuracy only; test accuracy is looked up for
the report.

    python benchmarks/multifidelity.py                       # full run, ~35 min (parts timed)
    python benchmarks/multifidelity.py --quick --no-write    # 2 tasks x 3 seeds

Arms: full-fidelity ``random``, ``evolution`` and ``bo`` (15 epochs per trial); metanas
schedulers ``sh``, ``asha``, ``hyperband`` (random proposals), ``asha+bohb``, ``median``,
``curve`` without a memory and ``curve+memory`` (a memory of the OTHER tasks' curves:
leave-one-task-out), ``asha+meta`` (ASHA with the ``meta`` strategy's proposals and a memory of
the OTHER tasks' final accuracies: a 100-trial evolution search on each) and ``curve+meta`` (both
memories: curve+memory's scheduler with asha+meta's proposals); peers Optuna
(TPESampler with HyperbandPruner or SuccessiveHalvingPruner, ``trial.report`` per epoch) and
Syne Tune (ASHA and BOHB driven through their scheduler API, ``suggest``/``on_trial_result``,
with this script's clock; ``synetune-asha`` draws the table's
architectures as one categorical, as metanas's random strategy draws them, and
``synetune-asha-space`` in the space's decisions, projected onto the table). Multi-fidelity
settings for every arm: min 1 epoch, max 15, eta 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, first_table, header, wilcoxon_p

from metanas.evaluation.base import Evaluator, Result
from metanas.spaces.architecture import Architecture

SECTION = "multifidelity"
MIN_EPOCHS, MAX_EPOCHS, ETA = 1, 15, 3
FULL_ARMS = ("random", "evolution", "bo")
METANAS_MF_ARMS = (
    "sh", "asha", "hyperband", "asha+bohb", "median", "curve", "curve+memory", "asha+meta",
    "curve+meta",
)  # fmt: skip
#: Arms run with curve+memory's scheduler settings (chosen by nested leave-one-task-out).
CURVE_MEMORY_ARMS = ("curve+memory", "curve+meta")

PEER_ARMS = (
    "optuna-hyperband", "optuna-sha", "synetune-asha", "synetune-asha-space", "synetune-bohb",
)  # fmt: skip
ALL_ARMS = (*FULL_ARMS, *METANAS_MF_ARMS, *PEER_ARMS)
#: asha+bohb is left out by default: its proposals (the tpe strategy's, projected onto the
#: 200-architecture table after up to 20 rejected Optuna asks each) cost minutes per run.
DEFAULT_ARMS = tuple(a for a in ALL_ARMS if a != "asha+bohb")
#: The arms the issue's targets compare; the others may run fewer seeds (--other-seeds).
TARGET_ARMS = ("evolution", "asha", "curve+memory", "optuna-hyperband", "synetune-asha")
#: Arms no target compares that still run as many seeds: Syne Tune's ASHA proposing in the
#: decision space (projected onto the table), reported next to the target's comparison.
FULL_SEED_ARMS = (*TARGET_ARMS, "synetune-asha-space", "asha+meta", "curve+meta")
#: Times at which regret is reported, as fractions of the time to train every architecture once.
CHECKPOINTS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


# --------------------------------------------------------------------------- the table


@dataclass
class Table:
    """One task of the table as arrays: row i is architecture ``archs[i]``, column e-1 epoch e."""

    task: str
    path: str
    archs: list[Architecture]
    valid: np.ndarray
    test: np.ndarray
    time: np.ndarray  # cumulative training seconds after each epoch
    codes: np.ndarray  # (n, decisions) index of each decision's choice, for projections
    decisions: list[tuple[str, tuple[Any, ...]]]
    index: dict[Architecture, int] = field(default_factory=dict)

    @property
    def n_epochs(self) -> int:
        return int(self.valid.shape[1])

    @property
    def final(self) -> np.ndarray:
        return self.valid[:, -1]

    @property
    def best_valid(self) -> float:
        return float(np.nanmax(self.final))

    def top(self, fraction: float) -> set[int]:
        """Rows in the top ``fraction`` by final validation accuracy (at least one; ties in)."""
        ok = np.flatnonzero(~np.isnan(self.final))
        k = max(1, math.ceil(fraction * len(ok)))
        cut = np.sort(self.final[ok])[::-1][k - 1]
        return {int(i) for i in ok if self.final[i] >= cut}

    @property
    def t_all(self) -> float:
        """Seconds to train every architecture of the task to the last epoch once."""
        return float(np.nansum(self.time[:, -1]))

    def cost(self, i: int, start: int, stop: int) -> float:
        """Seconds to train row ``i`` from epoch ``start`` (0: from scratch) to epoch ``stop``."""
        t = self.time[i]
        before = 0.0 if start <= 0 else float(np.nan_to_num(t[start - 1]))
        return max(0.0, float(np.nan_to_num(t[stop - 1])) - before)

    def nearest(self, choices: dict[str, Any], seen: set[int], rng: np.random.Generator) -> int:
        """The unseen row closest (fewest differing decisions) to ``choices``; ties at random."""
        want = np.array(
            [opts.index(choices[name]) if choices[name] in opts else -1
             for name, opts in self.decisions]
        )  # fmt: skip
        dist = (self.codes != want).sum(axis=1).astype(float)
        if len(seen) < len(self.archs):  # repeats only once every architecture was trained
            dist[list(seen)] = np.inf
        best = np.flatnonzero(dist == dist.min())
        return int(best[int(rng.integers(len(best)))])


@lru_cache(maxsize=16)
def load_table(task: str, path: str | None) -> Table:
    from metanas.benchmarks import TaskFamily

    # The section was made on the first table's 200 architectures; the grown table is a
    # different benchmark, so the command in its header keeps reproducing it.
    bench = TaskFamily(task, path=path, n_archs=first_table(path))
    space = bench.space
    archs = list(space.enumerate())
    curves = [bench.curve(a) for a in archs]
    decisions = [(d.name, tuple(d.choices)) for d in space.decisions]
    codes = np.array(
        [[opts.index(a[name]) for name, opts in decisions] for a in archs], dtype=np.int16
    )
    table = Table(
        task=task,
        path=bench.path,
        archs=archs,
        valid=np.array([c["valid_accuracy"] for c in curves]),
        test=np.array([c["test_accuracy"] for c in curves]),
        time=np.array([c["train_time_s"] for c in curves]),
        codes=codes,
        decisions=decisions,
    )
    table.index = {a: i for i, a in enumerate(archs)}
    return table


# --------------------------------------------------------------------------- the clock


class RunDoneError(Exception):
    """The run reached its horizon or trained the table's best architecture: stop it."""


class Clock:
    """Simulated time of one run: every trained segment ``(row, from epoch, to epoch)``."""

    def __init__(self, table: Table, horizon_s: float) -> None:
        self.table = table
        self.horizon_s = horizon_s
        self.now = 0.0
        self.events: list[tuple[float, int, int]] = []  # (time after, row, epoch reached)
        self._best = set(np.flatnonzero(table.final == table.best_valid).tolist())
        self.finished = False

    def charge(self, row: int, start: int, stop: int, cost: float | None = None) -> None:
        """Account for training ``row`` from epoch ``start`` to ``stop`` (``cost``: as charged)."""
        self.now += self.table.cost(row, start, stop) if cost is None else cost
        self.events.append((self.now, row, stop))
        # Once the table's best is trained to the end nothing the report measures can change.
        if self.now >= self.horizon_s or (stop == self.table.n_epochs and row in self._best):
            self.finished = True

    def check(self) -> None:
        if self.finished:
            raise RunDoneError


def run_metrics(
    table: Table, events: Sequence[tuple[float, int, int]], horizon_s: float, top: set[int]
) -> dict[str, Any]:
    """Time to the top, regret at the checkpoints and the chosen architecture's test accuracy."""
    last = table.n_epochs
    best, worst = table.best_valid, float(np.nanmin(table.final))
    t_top: float | None = None
    incumbent = -1
    inc_at: list[tuple[float, int]] = []  # (time, row) each time the incumbent changed
    for t, row, epoch in events:
        if t > horizon_s:
            break
        if epoch != last or math.isnan(table.final[row]):
            continue
        if t_top is None and row in top:
            t_top = t
        if incumbent < 0 or table.final[row] > table.final[incumbent]:
            incumbent = row
            inc_at.append((t, row))
    regrets = []
    for frac in CHECKPOINTS:
        c = frac * table.t_all
        rows = [r for t, r in inc_at if t <= c]
        # No fully trained architecture yet: the largest regret the table allows.
        regrets.append(best - (table.final[rows[-1]] if rows else worst))
    return {
        "time_to_top_s": t_top,
        "regret": [float(r) for r in regrets],
        "test_accuracy": float(table.test[incumbent, -1]) if incumbent >= 0 else None,
        "n_segments": len(events),
        "n_full": sum(1 for _, _, e in events if e == last),
        "sim_time_s": float(events[-1][0]) if events else 0.0,
    }


# --------------------------------------------------------------------------- metanas arms


class ChargedFamily(Evaluator):
    """The task-family evaluator, charging the clock with the ``cost_s`` each result reports."""

    #: The family table continues a run (charging only the extra epochs); the study reads this
    #: from the class.
    supports_resume: ClassVar[bool] = True

    def __init__(self, inner: Any, table: Table, clock: Clock, study: list[Any]) -> None:
        self.inner = inner
        self.table = table
        self.clock = clock
        self.study = study  # [Study] once created: stop() it when the run is done
        self.segments: list[tuple[int, int, int, float]] = []  # (row, from, to, cost_s)
        self.task_name = inner.task_name

    def task_descriptors(self) -> dict[str, Any]:
        return dict(self.inner.task_descriptors())

    def evaluate(
        self, arch: Architecture, *, budget: float | None = None, resume_from: float | None = None
    ) -> Result:
        if self.clock.finished:
            # The study finishes segments in flight after stop(): they cost nothing more.
            raise RunDoneError
        kw = {} if resume_from is None else {"resume_from": resume_from}
        result = self.inner.evaluate(arch, budget=budget, **kw)
        row = self.table.index[arch]
        stop = self.table.n_epochs if budget is None else round(budget)
        start = 0 if resume_from is None else round(resume_from)
        self.segments.append((row, start, stop, float(result.cost_s)))
        self.clock.charge(row, start, stop, float(result.cost_s))
        if self.clock.finished and self.study:
            self.study[0].stop()
        return result


def memory_curves(
    task: str, path: str | None, per_task: int, groups: list[str] | None = None
) -> list[list[float]]:
    """Validation curves of every OTHER task (leave-one-task-out), ``per_task`` of each
    (``groups``, when given, receives each curve's task)."""
    from metanas.benchmarks.family import FAMILY_TASKS

    out: list[list[float]] = []
    for other in FAMILY_TASKS:
        if other == task:
            continue
        try:
            t = load_table(other, path)
        except ValueError:  # a partial table without this task
            continue
        ok = np.flatnonzero(~np.isnan(t.valid).any(axis=1))
        # A fixed, spread-out subset: the first rows are as random as any (seeded list).
        for i in ok[:per_task]:
            out.append([float(v) for v in t.valid[i]])
            if groups is not None:
                groups.append(other)
    return out


def run_metanas(
    arm: str,
    table: Table,
    seed: int,
    horizon_s: float,
    memory_per_task: int,
    curve_settings: dict[str, Any] | None = None,
) -> Clock:
    from metanas import create_study
    from metanas.benchmarks import TaskFamily
    from metanas.execution.inprocess import InProcessExecutor

    n_archs = first_table(table.path)  # the architectures load_table read
    bench = TaskFamily(table.task, path=table.path, n_archs=n_archs)
    clock = Clock(table, horizon_s)
    holder: list[Any] = []
    if not getattr(type(bench), "supports_resume", False):
        raise SystemExit("TaskFamily cannot resume a run in this checkout: update metanas.")
    evaluator = ChargedFamily(bench, table, clock, holder)
    kw: dict[str, Any] = {}
    strategy = arm
    memory: list[list[float]] | None = None
    if arm not in FULL_ARMS:
        from metanas.schedulers import create_scheduler

        name, _, strat = arm.partition("+")
        strategy = strat if strat and strat != "memory" else "random"
        extra = dict(curve_settings or {}) if arm in CURVE_MEMORY_ARMS else {}
        kw["scheduler"] = create_scheduler(
            name, min_budget=MIN_EPOCHS, max_budget=MAX_EPOCHS, eta=ETA, seed=seed, **extra
        )
        groups: list[str] = []
        if kw["scheduler"].uses_memory:
            memory = memory_curves(table.task, table.path, memory_per_task, groups) if strat else []
    # One in-memory database per process holds every run's study (deleted after the run);
    # the task's name keeps a study's own curves out of any memory read from it.
    study = create_study(
        space=bench.space, storage="sqlite://", strategy=strategy, seed=seed,
        task=bench.task_name, **kw,
    )  # fmt: skip
    if memory is not None:
        # The study gave the scheduler the curves of its storage; this arm's memory is exactly
        # the other tasks' table curves (curve+memory) or nothing (curve).
        study.scheduler.set_memory(memory, groups=groups)
    if strategy == "meta":
        # The study gave the strategy the (empty) memory of its own storage; this arm's is
        # the other tasks' final validation accuracies, as meta-family's memory draw 0 holds
        # them (leave-one-task-out): never the searched task.
        from _meta_harness import Suite, family_memory

        past = [t for t in Suite("family", table.path, n_archs).tasks() if t != table.task]
        study.strategy.set_memory(
            family_memory(table.path, past, n_archs=n_archs),
            descriptors=bench.task_descriptors(), task=bench.task_name,
        )  # fmt: skip
    holder.append(study)
    clock.segments = evaluator.segments  # type: ignore[attr-defined]
    executor = InProcessExecutor(evaluator)
    try:
        with contextlib.suppress(RunDoneError):
            study.optimize(
                n_trials=100_000, executor=executor, catch=(Exception,), show_progress=False
            )
    finally:
        study.storage.delete_study(study.name)
    return clock


# --------------------------------------------------------------------------- peers


def run_optuna(arm: str, table: Table, seed: int, horizon_s: float) -> Clock:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if arm == "optuna-hyperband":
        pruner: Any = optuna.pruners.HyperbandPruner(
            min_resource=MIN_EPOCHS, max_resource=MAX_EPOCHS, reduction_factor=ETA
        )
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=MIN_EPOCHS, reduction_factor=ETA, min_early_stopping_rate=0
        )
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner
    )
    dists = {
        name: optuna.distributions.CategoricalDistribution(list(opts))
        for name, opts in table.decisions
    }
    rng = np.random.default_rng(seed)
    clock = Clock(table, horizon_s)
    seen: set[int] = set()
    last = table.n_epochs
    while not clock.finished:
        trial = study.ask(dists)
        row = table.index.get(Architecture((n, trial.params[n]) for n, _ in table.decisions), -1)
        if row < 0 or row in seen:
            # TPE proposed an architecture the table lacks (or one it trained): it is told that
            # proposal failed, and trains the closest unseen listed one, enqueued so that TPE's
            # history holds what was trained.
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            row = table.nearest(dict(trial.params), seen, rng)
            study.enqueue_trial(dict(table.archs[row]))
            trial = study.ask(dists)
        seen.add(row)
        state, value = None, None
        for e in range(1, last + 1):
            clock.charge(row, e - 1, e)
            v = float(table.valid[row, e - 1])
            if math.isnan(v):
                state = optuna.trial.TrialState.FAIL
                break
            trial.report(v, e)
            value = v
            if clock.finished:
                break
            if e < last and trial.should_prune():
                state = optuna.trial.TrialState.PRUNED
                break
        if state is None:
            study.tell(trial, value)
        else:
            study.tell(trial, state=state)
    return clock


def run_synetune(arm: str, table: Table, seed: int, horizon_s: float) -> Clock:
    # Syne Tune's random searcher samples from numpy's global generator (``Domain.sample()``
    # without its ``random_state``), so ``random_seed`` alone does not make a run repeatable
    # and forked workers would share one stream: the run gets that generator seeded, and the
    # caller's state back afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return _run_synetune(arm, table, seed, horizon_s)
    finally:
        np.random.set_state(state)


def _run_synetune(arm: str, table: Table, seed: int, horizon_s: float) -> Clock:
    import datetime
    import logging
    import warnings

    from syne_tune.backend.trial_status import Trial as StTrial
    from syne_tune.config_space import choice
    from syne_tune.optimizer.baselines import ASHA, BOHB
    from syne_tune.optimizer.scheduler import SchedulerDecision

    # Its searcher warns on every construction and pandas/statsmodels on every KDE fit.
    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)

    # Choices as strings: Syne Tune's categorical values are cast to one type.
    labels = {name: [str(c) for c in opts] for name, opts in table.decisions}
    config_space = {name: choice(ls) for name, ls in labels.items()}
    # ASHA's searcher is random search. In the decision space (2.4e9 configurations, 200 in
    # the table) each draw is projected onto the closest listed architecture, which weights
    # an architecture by how many configurations lie closest to it: 4-block networks get 45 %
    # of the draws for 27 % of the table, and the mean final accuracy of a draw is higher than
    # the table's on every task. That prior comes from this script, not from Syne Tune;
    # metanas's random strategy draws the listed architectures uniformly. So synetune-asha
    # searches the table's list (one categorical), as metanas does, and synetune-asha-space
    # keeps the projection for comparison.
    by_index = arm == "synetune-asha"
    if by_index:
        config_space = {"arch": choice([str(i) for i in range(len(table.archs))])}
    cls = BOHB if arm == "synetune-bohb" else ASHA
    sched = cls(
        config_space, metric="valid_accuracy", time_attr="epoch", max_t=MAX_EPOCHS,
        do_minimize=False, random_seed=seed, grace_period=MIN_EPOCHS, reduction_factor=ETA,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    clock = Clock(table, horizon_s)
    seen: set[int] = set()
    last = table.n_epochs
    number = 0
    while not clock.finished:
        suggestion = sched.suggest()
        cfg = suggestion.config
        if by_index:
            row = int(cfg["arch"])
            if row in seen:  # a repeat: an untrained listed one, uniformly (as metanas's random)
                left = [i for i in range(len(table.archs)) if i not in seen]
                row = int(left[int(rng.integers(len(left)))]) if left else row
            config = {"arch": str(row)}
        else:
            choices = {
                name: opts[labels[name].index(str(cfg[name]))] for name, opts in table.decisions
            }
            row = table.index.get(Architecture(choices.items()), -1)
            if row < 0 or row in seen:
                row = table.nearest(choices, seen, rng)
            arch = table.archs[row]
            config = {name: str(arch[name]) for name, _ in table.decisions}
        seen.add(row)
        # The trial carries the architecture trained, so the searcher models that one.
        trial = StTrial(trial_id=number, config=config, creation_time=datetime.datetime.now())
        number += 1
        sched.on_trial_add(trial)
        for e in range(1, last + 1):
            clock.charge(row, e - 1, e)
            v = float(table.valid[row, e - 1])
            if math.isnan(v):
                sched.on_trial_error(trial)
                break
            result = {"valid_accuracy": v, "epoch": e}
            if e == last:
                sched.on_trial_complete(trial, result)
                break
            if sched.on_trial_result(trial, result) == SchedulerDecision.STOP or clock.finished:
                break
    return clock


# --------------------------------------------------------------------------- runs


def run_one(job: tuple[Any, ...]) -> dict[str, Any]:
    """One (task, arm, seed) run: its metrics and its wall time.

    ``job``: (task, arm, seed, table path, horizon fraction, top fraction, memory per task)
    and optionally curve+memory's scheduler settings (a dict).
    """
    task, arm, seed, path, horizon_frac, top_fraction, memory_per_task = job[:7]
    curve_settings = job[7] if len(job) > 7 else None
    table = load_table(task, path)
    horizon_s = horizon_frac * table.t_all
    start, cpu = time.perf_counter(), time.process_time()
    if arm in PEER_ARMS:
        runner: Callable[..., Clock] = run_optuna if arm.startswith("optuna") else run_synetune
        clock = runner(arm, table, seed, horizon_s)
    else:
        clock = run_metanas(arm, table, seed, horizon_s, memory_per_task, curve_settings)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {
        "task": task, "arm": arm, "seed": seed, "wall_s": wall, "cpu_s": cpu,
        "horizon_s": horizon_s,
    }  # fmt: skip
    out.update(run_metrics(table, clock.events, horizon_s, table.top(top_fraction)))
    return out


def run_all(jobs: list[tuple[Any, ...]], n_jobs: int, progress: bool) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if n_jobs == 1:
        it: Iterable[dict[str, Any]] = map(run_one, jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=n_jobs)
        # Jobs are sorted by task, so each process loads few tables; chunks keep that.
        it = pool.map(run_one, jobs, chunksize=max(1, len(jobs) // (8 * n_jobs)))
    t0 = time.perf_counter()
    for i, r in enumerate(it, 1):
        results.append(r)
        if progress and (i % 10 == 0 or i == len(jobs)):
            print(
                f"  {i}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                flush=True,
            )  # fmt: skip
    if n_jobs != 1:
        pool.shutdown()
    return results


# --------------------------------------------------------------------------- tuning

#: curve+memory's settings chosen from by nested leave-one-task-out (see tune_curve).
CURVE_GRID: tuple[dict[str, Any], ...] = (
    {"rule": "incumbent", "threshold": 0.1},
    {"rule": "incumbent", "threshold": 0.05, "with_asha": True},
    {"rule": "incumbent", "threshold": 0.1, "with_asha": True},
    {"rule": "incumbent", "threshold": 0.2, "with_asha": True},
    {"rule": "incumbent", "threshold": 0.1, "with_asha": True, "every_epoch": True},
)
#: The tuning seeds start here: far from the reported seeds 0..N-1.
TUNE_SEED0 = 1000


def _tune_seeds(args: argparse.Namespace) -> list[int]:
    return list(range(TUNE_SEED0, TUNE_SEED0 + args.tune_seeds))


def tune_curve(
    tasks: list[str], path: str | None, args: argparse.Namespace
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """curve+memory's settings for each task, chosen without that task's runs.

    Every setting of ``args.curve_grid`` runs on every task with the tuning seeds (disjoint
    from the reported ones). For a held-out task, the setting with the lowest mean over the
    OTHER tasks of log(median time to the top) wins (censored runs at the horizon; ties: lower
    mean regret, then grid order). Returns the choice per task and the tuning runs.
    """
    grid = [dict(g) for g in args.curve_grid]
    if len(grid) == 1:
        return dict.fromkeys(tasks, grid[0]), []
    jobs = [
        (task, "curve+memory", seed, path, args.horizon, args.top_fraction,
         args.memory_per_task, g)
        for task in tasks
        for g in grid
        for seed in _tune_seeds(args)
    ]  # fmt: skip
    runs = run_all(jobs, args.n_jobs, not args.quiet)
    score: dict[tuple[str, int], tuple[float, float]] = {}
    for job, r in zip(jobs, runs, strict=True):
        r["setting"] = grid.index(job[7])
    for task in tasks:
        for k in range(len(grid)):
            rs = [r for r in runs if r["task"] == task and r["setting"] == k]
            t = [r["horizon_s"] if r["time_to_top_s"] is None else r["time_to_top_s"] for r in rs]
            score[task, k] = (
                math.log(float(np.median(t))),
                float(np.median([np.mean(r["regret"]) for r in rs])),
            )
    chosen = {}
    for held in tasks:
        others = [t for t in tasks if t != held] or [held]
        best = min(
            range(len(grid)),
            key=lambda k: (
                np.mean([score[t, k][0] for t in others]),
                np.mean([score[t, k][1] for t in others]),
                k,
            ),
        )
        chosen[held] = grid[best]
    return chosen, runs


# --------------------------------------------------------------------------- statistics


def _times(results: list[dict[str, Any]], task: str, arm: str) -> dict[int, float]:
    """Seed -> time to the top; a run that never got there counts as +inf (censored)."""
    return {
        r["seed"]: math.inf if r["time_to_top_s"] is None else r["time_to_top_s"]
        for r in results
        if r["task"] == task and r["arm"] == arm
    }


def paired_ratio(
    a: dict[int, float], b: dict[int, float], cap: float, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, list[int], str]:
    """median(a) / median(b) over the seeds both have, with a bootstrap 90 % interval (seeds
    resampled together, so the pairing is kept).

    Runs that never got there (+inf) count as ``cap`` (the horizon). The last item says what
    the ratio is: ``"="`` exact; ``"<="`` an upper bound (b's median run never got there);
    ``">="`` a lower bound (a's never did); ``"?"`` neither got there.
    """
    seeds = sorted(set(a) & set(b))
    xa = np.minimum(np.array([a[s] for s in seeds]), cap)
    xb = np.minimum(np.array([b[s] for s in seeds]), cap)

    def ratio(ia: np.ndarray) -> float:
        return float(np.median(xa[ia]) / np.median(xb[ia]))

    point = ratio(np.arange(len(seeds)))
    rng = np.random.default_rng(seed)
    boots = np.array([ratio(rng.integers(len(seeds), size=len(seeds))) for _ in range(n_boot)])
    lo, hi = np.quantile(boots, [0.05, 0.95])
    ca, cb = bool(np.median(xa) >= cap), bool(np.median(xb) >= cap)
    kind = "?" if ca and cb else ">=" if ca else "<=" if cb else "="
    return point, float(lo), float(hi), seeds, kind


def _log_times(t: dict[int, float], seeds: list[int], cap: float) -> np.ndarray:
    # Censored runs are ranked at the horizon (their time is at least that).
    return np.log(np.array([min(t[s], cap) for s in seeds]))


def mean_regret(results: list[dict[str, Any]], task: str, arm: str) -> dict[int, float]:
    """Seed -> regret averaged over the checkpoints (equal simulated times for every arm)."""
    return {
        r["seed"]: float(np.mean(r["regret"]))
        for r in results
        if r["task"] == task and r["arm"] == arm
    }


def _fmt_time(v: float, horizon: float) -> str:
    return f">{horizon:.0f}" if math.isinf(v) else f"{v:.0f}"


def ratio_target(
    results: list[dict[str, Any]], tasks: list[str], arm: str, base: str, bound: float
) -> tuple[list[str], dict[str, Any]]:
    """Per task: median time-to-top ratio arm/base with its interval and the one-sided Wilcoxon
    p that arm's time < bound x base's (paired by seed); overall: the median of the ratios."""
    rows = [
        f"| task | {arm} median s | {base} median s | ratio [90 % CI] | p (ratio < {bound:g}) |",
        "|---|---:|---:|---:|---:|",
    ]
    ratios: list[float] = []
    within = 0
    per_task: dict[str, Any] = {}
    for task in tasks:
        a, b = _times(results, task, arm), _times(results, task, base)
        if not a or not b:
            continue
        horizon = max(r["horizon_s"] for r in results if r["task"] == task)
        cap = horizon * 1.0001
        point, lo, hi, seeds, kind = paired_ratio(a, b, cap)
        la, lb = _log_times(a, seeds, cap), _log_times(b, seeds, cap)
        p = wilcoxon_p(la, lb + math.log(bound), alternative="less")
        ma, mb = np.median([a[s] for s in seeds]), np.median([b[s] for s in seeds])
        # A lower bound or two censored medians make no claim that the target is met.
        ok = kind in ("=", "<=") and point <= bound
        shown = "—" if kind == "?" else f"{'' if kind == '=' else kind + ' '}{point:.2f}"
        rows.append(
            f"| {task} | {_fmt_time(ma, horizon)} | {_fmt_time(mb, horizon)} | "
            f"{shown} [{lo:.2f}, {hi:.2f}]"
            f"{' ✓' if ok else ''} | {p:.2g} |"
        )
        ratios.append(point)
        within += ok
        per_task[task] = {
            "ratio": point, "kind": kind, "ci90": [lo, hi], "p": p, "n_seeds": len(seeds),
        }  # fmt: skip
    overall = float(np.median(ratios)) if ratios else math.nan
    summary = {
        "arm": arm, "base": base, "bound": bound, "median_ratio": overall,
        "n_tasks_within": within, "n_tasks": len(ratios),
        "passed": bool(ratios) and overall <= bound, "per_task": per_task,
    }  # fmt: skip
    return rows, summary


def ahead_target(
    results: list[dict[str, Any]], tasks: list[str], arm: str, peers: Sequence[str]
) -> tuple[list[str], dict[str, Any]]:
    """Tasks where ``arm``'s median regret, averaged over the checkpoints, is below each peer's."""
    rows = [
        f"| task | {arm} | " + " | ".join(peers) + " |",
        "|---|---:|" + "---:|" * len(peers),
    ]
    wins = dict.fromkeys(peers, 0)
    n = 0
    detail: dict[str, Any] = {}
    for task in tasks:
        a = mean_regret(results, task, arm)
        if not a:
            continue
        n += 1
        cells = [f"{np.median(list(a.values())) * 100:.3f}"]
        detail[task] = {}
        for peer in peers:
            b = mean_regret(results, task, peer)
            if not b:
                cells.append("—")
                continue
            seeds = sorted(set(a) & set(b))
            xa, xb = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
            ahead = float(np.median(xa)) < float(np.median(xb))
            p = wilcoxon_p(xa, xb, alternative="less")
            wins[peer] += ahead
            cells.append(f"{np.median(xb) * 100:.3f}{' (behind)' if not ahead else ''} p={p:.2g}")
            detail[task][peer] = {"ahead": ahead, "p": p}
        rows.append(f"| {task} | " + " | ".join(cells) + " |")
    summary = {
        "arm": arm, "n_tasks": n, "wins": wins,
        "passed": n > 0 and all(w >= 0.75 * n for w in wins.values()), "per_task": detail,
    }  # fmt: skip
    return rows, summary


def curve_tuning_lines(args: argparse.Namespace) -> list[str]:
    """How curve+memory's settings were chosen, and the choice per task."""
    chosen: dict[str, dict[str, Any]] = getattr(args, "curve_chosen", {})
    if not chosen:
        return []
    grid = [dict(g) for g in args.curve_grid]

    def fmt(g: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in g.items())

    seeds = _tune_seeds(args)
    lines = [
        "curve+memory's scheduler settings (`CurveScheduler`: `rule`, `threshold`, "
        "`with_asha`, `every_epoch`) are chosen by **nested leave-one-task-out**: every "
        f"setting of the grid ({'; '.join(fmt(g) for g in grid)}) ran on every task with the "
        f"tuning seeds {seeds[0]}..{seeds[-1]} (never reported); for each task the setting "
        "with the lowest mean over the OTHER tasks of log(median time to top) is the one its "
        "reported seeds run with. Its memory is the other tasks' curves (leave-one-task-out), "
        "grouped by task.",
        "",
        "| task | setting chosen (on the other tasks) |",
        "|---|---|",
    ]
    lines += [f"| {task} | {fmt(g)} |" for task, g in chosen.items()]
    return [*lines, ""]


def summary_table(results: list[dict[str, Any]], tasks: list[str], arms: list[str]) -> list[str]:
    """Per arm: median time to top (s), runs reaching it, median regret at each checkpoint."""
    cp = " | ".join(f"regret @{c:g}" for c in CHECKPOINTS)
    lines = [
        f"| task | arm | median time to top (s) | reached | {cp} | test acc | CPU s/run |",
        "|---|---|---:|---:|" + "---:|" * (len(CHECKPOINTS) + 2),
    ]
    for task in tasks:
        for arm in arms:
            rs = [r for r in results if r["task"] == task and r["arm"] == arm]
            if not rs:
                continue
            t = np.array([math.inf if r["time_to_top_s"] is None else r["time_to_top_s"]
                          for r in rs])  # fmt: skip
            med = float(np.median(t))
            reg = np.median(np.array([r["regret"] for r in rs]), axis=0) * 100
            tests = [r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
            test = f"{np.median(tests) * 100:.2f}" if tests else "—"
            lines.append(
                f"| {task} | {arm} | {'>horizon' if math.isinf(med) else f'{med:.0f}'} | "
                f"{int(np.isfinite(t).sum())}/{len(rs)} | "
                + " | ".join(f"{v:.2f}" for v in reg)
                + f" | {test} | {np.mean([r['cpu_s'] for r in rs]):.2f} |"
            )
    return lines


# --------------------------------------------------------------------------- synthetic table


def synthetic_table(
    path: str | os.PathLike[str], tasks: Sequence[str], n_archs: int = 30, seed: int = 0
) -> Path:
    """Write a small task-family-shaped table with made-up but related learning curves.

    For tests and development before the real table exists: architecture quality is shared
    across tasks (plus a task-specific part), curves saturate exponentially with an
    architecture-specific rate, epoch times scale with a per-architecture cost.
    """
    import pandas as pd

    from metanas.benchmarks.family import family_architectures, family_space

    rng = np.random.default_rng(seed)
    space = family_space()
    archs = family_architectures(n_archs, seed=0)
    quality = rng.normal(size=n_archs)
    rate = rng.uniform(0.15, 0.8, size=n_archs)
    per_epoch = rng.uniform(0.1, 0.6, size=n_archs)
    rows = []
    for task in tasks:
        q = 0.8 * quality + 0.6 * rng.normal(size=n_archs)
        final = 0.8 + 0.04 * q
        for i, a in enumerate(archs):
            noise = rng.normal(scale=0.004, size=MAX_EPOCHS)
            for e in range(1, MAX_EPOCHS + 1):
                v = final[i] * (1 - 0.9 * math.exp(-rate[i] * e)) + noise[e - 1]
                rows.append({
                    "task": task, "seed": 0, "arch_id": i, "arch": space.format(a), "epoch": e,
                    "valid_accuracy": v, "test_accuracy": v + rng.normal(scale=0.003),
                    "train_time_s": per_epoch[i] * e, "params": 1000.0, "flops": 1e5,
                    "latency_ms": 0.1,
                })  # fmt: skip
    out = Path(path)
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


# --------------------------------------------------------------------------- main


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from metanas.benchmarks.family import FAMILY_TASKS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=None, help="the task-family CSV (default: the shipped one)")
    p.add_argument("--tasks", type=_csv, default=list(FAMILY_TASKS), help="comma-separated")
    p.add_argument(
        "--arms", type=_csv, default=list(DEFAULT_ARMS),
        help=f"comma-separated, from {','.join(ALL_ARMS)} (default: all but asha+bohb)",
    )  # fmt: skip
    p.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per (task, arm) (20)")
    p.add_argument(
        "--other-seeds", type=int, default=20,
        help="seeds of the arms no target compares (20, as reported; fewer for a quicker "
        "look: at 20 they take about 13 of the full run's minutes on 2 cores)",
    )  # fmt: skip
    p.add_argument(
        "--horizon", type=float, default=1.0,
        help="simulated time per run, as a fraction of the time to train every architecture "
        "of the task once (1.0)",
    )  # fmt: skip
    p.add_argument("--top-fraction", type=float, default=0.005, help="the top to reach (0.005)")
    p.add_argument(
        "--memory-per-task", type=int, default=200,
        help="curves per other task in curve+memory's memory (200: all)",
    )  # fmt: skip
    p.add_argument(
        "--curve-grid", type=json.loads, default=list(CURVE_GRID),
        help="JSON list of curve+memory's scheduler settings to choose from by nested "
        "leave-one-task-out on the tuning seeds (default: the script's CURVE_GRID)",
    )  # fmt: skip
    p.add_argument(
        "--tune-seeds", type=int, default=5,
        help=f"tuning seeds {TUNE_SEED0}..{TUNE_SEED0}+N-1 of curve+memory's settings (5); "
        "disjoint from the reported seeds",
    )  # fmt: skip
    p.add_argument(
        "--keep-from", type=Path, default=None,
        help="a results JSON of an earlier run: its runs of the arms not in --arms are kept "
        "(not rerun) and reported with the new ones",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="2 tasks, 3 seeds (development)")
    p.add_argument("--n-jobs", type=int, default=2, help="worker processes (2)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument(
        "--results", type=Path, default=REPO / "benchmarks" / "results" / "multifidelity.json"
    )
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.quick:  # the first 2 of --tasks that the table holds (see main)
        args.seeds = min(args.seeds, 3)
    if args.quick:
        args.other_seeds = args.seeds
    return args


def available_arms(arms: Sequence[str]) -> tuple[list[str], list[str]]:
    """The arms this checkout can run, and the others with the reason."""
    from metanas import available

    try:
        schedulers = set(available("scheduler"))
    except Exception:  # a checkout without schedulers
        schedulers = set()
    strategies = set(available("strategy"))
    ok, skipped = [], []
    for arm in arms:
        if arm in FULL_ARMS:
            good = arm in strategies
        elif arm in METANAS_MF_ARMS:
            name, _, strat = arm.partition("+")
            good = name in schedulers and (strat in ("", "memory") or strat in strategies)
        elif arm.startswith("synetune"):
            good = _importable("syne_tune")
        elif arm.startswith("optuna"):
            good = _importable("optuna")
        else:
            raise SystemExit(f"unknown arm {arm!r}; choose from {', '.join(ALL_ARMS)}")
        (ok if good else skipped).append(arm)
    return ok, skipped


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    arms, skipped = available_arms(args.arms)
    path = None if args.table is None else os.fspath(args.table)
    tasks = []
    for task in args.tasks:
        try:
            load_table(task, path)
            tasks.append(task)
        except ValueError as exc:  # a partial table: say so, run the tasks it holds
            print(f"skipping task {task!r}: {exc}", file=sys.stderr)
        if args.quick and len(tasks) == 2:
            break
    if not tasks:
        raise SystemExit("no task of --tasks is in the table")
    if skipped:
        print(f"arms not available in this checkout (skipped): {', '.join(skipped)}")
    start = time.perf_counter()
    chosen: dict[str, dict[str, Any]] = {}
    tuning: list[dict[str, Any]] = []
    old_tuning: dict[str, Any] = {}
    if args.keep_from is not None:
        old_tuning = json.loads(args.keep_from.read_text()).get("curve_tuning", {})
    if "curve+memory" in arms:
        chosen, tuning = tune_curve(tasks, path, args)
    elif "curve+meta" in arms and old_tuning.get("chosen"):
        # curve+memory's runs are kept: curve+meta runs with the settings chosen for them.
        chosen = {t: g for t, g in old_tuning["chosen"].items() if t in tasks}
    elif "curve+meta" in arms:
        chosen, tuning = tune_curve(tasks, path, args)
    jobs = [
        (task, arm, seed, path, args.horizon, args.top_fraction, args.memory_per_task,
         chosen.get(task) if arm in CURVE_MEMORY_ARMS else None)
        for task in tasks
        for arm in arms
        for seed in range(args.seeds if arm in FULL_SEED_ARMS else args.other_seeds)
    ]  # fmt: skip
    results = run_all(jobs, args.n_jobs, not args.quiet)
    wall_s = time.perf_counter() - start
    args.curve_chosen = chosen
    args.kept_arms = []
    if args.keep_from is not None:
        old = json.loads(args.keep_from.read_text())
        kept = [r for r in old["runs"] if r["arm"] not in arms and r["task"] in tasks]
        args.kept_arms = [a for a in ALL_ARMS if any(r["arm"] == a for r in kept)]
        results += kept
        arms = [a for a in ALL_ARMS if a in arms or a in args.kept_arms]
        if "curve+memory" in args.kept_arms and (not chosen or not tuning):
            # Its kept runs used the settings chosen then: report those, with their tuning.
            chosen = {t: g for t, g in old_tuning.get("chosen", {}).items() if t in tasks}
            tuning = old_tuning.get("runs", [])
            args.curve_chosen = chosen
            if old_tuning.get("grid"):
                args.curve_grid = old_tuning["grid"]
            if old_tuning.get("seeds"):
                args.tune_seeds = len(old_tuning["seeds"])
    report, targets = make_report(results, tasks, arms, skipped, args, wall_s)
    print(report)
    if args.no_write:
        return 0
    from metanas.benchmarking import write_section

    args.results.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": {
            "tasks": tasks, "arms": arms, "seeds": args.seeds, "other_seeds": args.other_seeds,
            "target_arms": list(TARGET_ARMS), "horizon": args.horizon,
            "top_fraction": args.top_fraction, "min_epochs": MIN_EPOCHS,
            "max_epochs": MAX_EPOCHS, "eta": ETA, "checkpoints": list(CHECKPOINTS),
            "table": load_table(tasks[0], path).path, "wall_s": wall_s,
        },
        "targets": targets,
        "curve_tuning": {
            "grid": args.curve_grid, "seeds": _tune_seeds(args), "chosen": chosen,
            "runs": tuning,
        },
        "runs": results,
    }  # fmt: skip
    args.results.write_text(json.dumps(payload, indent=1, allow_nan=True) + "\n")
    write_section(args.output, SECTION, report)
    print(f"Wrote section {SECTION!r} of {args.output} and {args.results}.")
    return 0


def make_report(
    results: list[dict[str, Any]],
    tasks: list[str],
    arms: list[str],
    skipped: list[str],
    args: argparse.Namespace,
    wall_s: float,
) -> tuple[str, dict[str, Any]]:
    settings = {
        "runs": (
            f"{len(arms)} arms x {len(tasks)} tasks; {args.seeds} seeds (0..{args.seeds - 1}) "
            f"for the arms of the targets ({', '.join(TARGET_ARMS)}), {args.other_seeds} for "
            f"the others; {args.n_jobs} process(es); {wall_s:.0f} s wall time"
        ),
        "protocol": (
            f"1 simulated worker; simulated time = the table's training seconds of every epoch "
            f"trained; horizon {args.horizon:g} x the time to train every architecture once; "
            f"multi-fidelity arms: min {MIN_EPOCHS} epoch, max {MAX_EPOCHS}, eta {ETA}"
        ),
        "skipped arms": ", ".join(skipped) if skipped else "none",
    }
    if getattr(args, "kept_arms", None):
        n_seeds = {
            a: len({(r["task"], r["seed"]) for r in results if r["arm"] == a}) // len(tasks)
            for a in arms
        }
        settings["runs"] = (
            f"{len(arms)} arms x {len(tasks)} tasks; rerun here ({args.n_jobs} process(es), "
            f"{wall_s:.0f} s wall time): "
            + ", ".join(f"{a} ({n_seeds[a]} seeds)" for a in arms if a not in args.kept_arms)
            + f"; kept (not rerun) from {args.keep_from.name}, an earlier run of this script "
            "(simulated time: a rerun gives the same runs): "
            + ", ".join(f"{a} ({n_seeds[a]} seeds)" for a in args.kept_arms)
        )
    parts = [
        header("Multi-fidelity search on the task family (tabular, simulated time)", settings),
        "**Definitions.** Each run searches one task on one simulated worker until the table's "
        "best architecture (by validation accuracy after epoch 15) has been trained to epoch "
        "15 or the horizon passes. *Time to top*: simulated seconds until an architecture in "
        f"the task's top {args.top_fraction * 100:g} % by final validation accuracy has been "
        "trained to epoch 15 (`>horizon` when the median run never got there). *Regret @f*: the "
        "table's best final validation accuracy minus the best final validation accuracy of the "
        "architectures trained to epoch 15 by simulated time f x (time to train every architecture "
        "once), in accuracy points (before any full training: the table's best minus its worst). "
        "*Test acc*: test accuracy after epoch 15 of the best-validating fully trained architecture"
        " at the end of the run. Ratios are of medians over seeds, with a bootstrap 90 % interval "
        "(seeds resampled in pairs); p values are one-sided Wilcoxon signed-rank tests paired by "
        "seed (censored runs ranked at the horizon). Optuna, Syne Tune's BOHB and "
        "`synetune-asha-space` propose architectures in the space's decisions; a proposal the table"
        " lacks (or one already trained) is replaced by the closest untrained listed architecture "
        "(fewest differing decisions, ties at random), and that is what they are told. That "
        "projection weights an architecture by the share of the decision space closest to it "
        "(4-block networks: 45 % of random draws, 27 % of the table; a draw's mean final accuracy "
        "is above the table's on every task), a prior of this script, not of the peer; so "
        "`synetune-asha` (Syne Tune's ASHA with its random searcher, the target's peer) searches "
        "the table's list as one categorical, drawn uniformly as metanas's random strategy draws it"
        " (a repeat: an untrained listed architecture, uniformly). Syne Tune's random searcher "
        "draws from numpy's global generator, not its `random_seed`: each Syne Tune run seeds that "
        "generator with its seed. Syne Tune's ASHA and BOHB run through their scheduler API "
        "(`suggest`, `on_trial_add`, `on_trial_result`, `on_trial_complete`) on this script's "
        "clock, not its simulator backend, so every arm is charged by the same code.",
        "",
        "### Targets",
        "",
    ]
    targets: dict[str, Any] = {}
    if {"asha", "evolution"} <= set(arms):
        rows, s = ratio_target(results, tasks, "asha", "evolution", 0.4)
        targets["asha_vs_evolution"] = s
        parts += [
            f"- **ASHA time to top <= 0.4 x full-fidelity evolution (median)**: median over "
            f"tasks of the per-task ratio **{s['median_ratio']:.2f}** "
            f"({'pass' if s['passed'] else 'fail'}; within 0.4 on {s['n_tasks_within']} of "
            f"{s['n_tasks']} tasks).",
            "",
            *rows,
            "",
        ]
    if {"curve+memory", "asha"} <= set(arms):
        rows, s = ratio_target(results, tasks, "curve+memory", "asha", 0.7)
        targets["curve_memory_vs_asha"] = s
        parts += [
            f"- **curve stopping with a memory <= 0.7 x plain ASHA (time to top, median)**: "
            f"**{s['median_ratio']:.2f}** ({'pass' if s['passed'] else 'fail'}; within 0.7 on "
            f"{s['n_tasks_within']} of {s['n_tasks']} tasks).",
            "",
            *rows,
            "",
            *curve_tuning_lines(args),
        ]
    peers = [p for p in ("optuna-hyperband", "synetune-asha") if p in arms]
    from _meta_harness import FAMILY_MEMORY_TRIALS

    for arm in ("asha", "curve+memory", "asha+meta", "curve+meta"):
        if arm in arms and peers:
            rows, s = ahead_target(results, tasks, arm, peers)
            targets[f"{arm}_ahead_of_peers"] = s
            wins = ", ".join(f"{p}: {w} of {s['n_tasks']}" for p, w in s["wins"].items())
            parts += [
                f"- **{arm} ahead of {' and '.join(peers)} on >= 75 % of tasks at equal "
                f"simulated time** ({'pass' if s['passed'] else 'fail'}; {wins}). Ahead on a "
                "task: lower median over seeds of the regret averaged over the checkpoints "
                f"({', '.join(f'{c:g}' for c in CHECKPOINTS)} x the time to train everything "
                "once); cells: median averaged regret (points), p: Wilcoxon that "
                f"{arm}'s is lower.",
                *(
                    [
                        "",
                        "asha+meta is metanas's memory at work: ASHA (the same settings) with the "
                        "`meta` strategy's proposals, its memory the other tasks' results "
                        f"(leave-one-task-out; per task a {FAMILY_MEMORY_TRIALS}-trial evolution "
                        "search, meta-family's memory draw 0), `meta` with its library defaults "
                        "(nothing chosen on these runs; its portfolio_noise was chosen on this "
                        "table with other memory draws and seeds, docs/meta.md). The peers search "
                        "without a memory.",
                    ]
                    if arm == "asha+meta"
                    else [
                        "",
                        "curve+meta is curve+memory (the same scheduler, settings and curve "
                        "memory) with asha+meta's proposals: both memories at once.",
                    ]
                    if arm == "curve+meta"
                    else []
                ),
                "",
                *rows,
                "",
            ]
    if "synetune-asha-space" in arms:
        for arm in ("asha", "curve+memory"):
            if arm not in arms:
                continue
            rows, s = ahead_target(results, tasks, arm, ["synetune-asha-space"])
            targets[f"{arm}_vs_synetune_asha_space"] = {**s, "passed": None}
            parts += [
                f"- Not a target, for comparison: **{arm} against Syne Tune's ASHA proposing in "
                "the decision space** (`synetune-asha-space`, the projection above; the peer "
                f"of this target before 2026-11-27): ahead on "
                f"{s['wins']['synetune-asha-space']} of {s['n_tasks']} tasks.",
                "",
                *rows,
                "",
            ]
    parts += ["### All arms", "", *summary_table(results, tasks, arms), ""]
    return "\n".join(parts), targets


if __name__ == "__main__":
    raise SystemExit(main())
