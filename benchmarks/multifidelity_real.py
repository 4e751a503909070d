"""Multi-fidelity search with real training: full-fidelity bo vs ASHA vs ASHA + curve model.

For MNIST-1D (``load_task("mnist1d")``, its default generation) and Fashion-MNIST
(``load_task("fashion-mnist")``, Debian's ``dataset-fashion-mnist`` read offline), the ``cnn``
space, a 2-worker local process pool and ``--seeds`` seeds, the arms search for a fixed wall
time each:

* ``bo``: full fidelity (every trial trains ``--max-epochs`` epochs), given ``--bo-factor`` x
  the wall time of the others, so its best at 1x and at that factor are both read off its curve;
  its results are told as they arrive (``optimize(tell_order="finish")``), so neither worker
  waits for the other's trial, as in the schedulers' loop of the other arms;
* ``asha``: random proposals, ASHA (min 1 epoch, max ``--max-epochs``, eta 3), continued runs
  resumed from the trainer's checkpoints;
* ``asha+curve``: the ``curve`` scheduler with a memory of related tasks' learning curves: the
  task-family table's validation curves (``metanas.benchmarks.TaskFamily``) of the MNIST-1D
  variants other than the family's ``mnist1d`` for MNIST-1D, and of the family's Fashion-MNIST
  tasks for Fashion-MNIST (never the searched task itself; the family's tasks are smaller,
  differently generated or downsampled versions).
* the arms of :data:`MF_ARMS` added later (named ``scheduler+strategy@first rung``, e.g.
  ``asha+bo@3``: ASHA with the ``bo`` strategy's proposals, the first rung at 3 epochs; the
  study tells ``bo`` each settled trial's score at the highest rung it reached). Their settings
  were chosen by benchmarks/multifidelity_real_tune.py on the task family's other MNIST-1D
  variants (simulated time, seeds >= 100), never on this script's tasks. ``asha+meta@5`` is
  ``asha+bo@5`` with the ``meta`` strategy (library defaults) proposing from a memory of the
  same related tasks' table results (a 100-trial evolution search on each); on Fashion-MNIST
  it instead proposes from the class-subset searches of benchmarks/fashion_memory.py, under a
  25-MFLOP cap (the task's ``arm_settings``).

Reported per task and arm (median over seeds): wall time until the chosen architecture (best
validation accuracy among the trials trained to the last epoch) reaches the stated test accuracy,
and its test accuracy at the fixed wall time. The search sees validation accuracy only.

    python benchmarks/multifidelity_real.py                  # the full run: many hours
    python benchmarks/multifidelity_real.py --quick --no-write
    # in chunks: each invocation adds its runs to --results (keyed by task, arm and seed),
    # skips those already stored with the same settings, and writes the table from all of them
    python benchmarks/multifidelity_real.py --tasks mnist1d --arms asha,asha+curve \
        --seed-list 0-4 --budget-minutes 15

``--memory-storage URL`` gives ``asha+meta@5`` the studies of that storage as its memory
(benchmarks/fashion_memory.py writes one for Fashion-MNIST: searches of class-subset tasks in
the same space). ``--max-mflops``, ``--stem-channels`` and ``--augment`` override a task's
settings for a tuning run (they are stored with each run, so such runs never mix with the
reported ones).
Each search ends at its deadline (``optimize(in_flight="cancel")``).

The full run (5 seeds; Fashion-MNIST 20 min per multi-fidelity arm and 60 min for bo; MNIST-1D
3 and 9 min) takes about 10 hours on 2 cores with the four arms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, first_table, header, median_ci, parse_seeds, wilcoxon_p

SECTION = "multifidelity-real"
MIN_EPOCHS, ETA = 1, 3
#: (task, load_task arguments, minutes per multi-fidelity arm, target test accuracy, memory tasks)
TASKS: dict[str, dict[str, Any]] = {
    "mnist1d": {
        "args": {}, "minutes": 3.0, "target": 0.985,
        "memory": ("mnist1d-iid-noise", "mnist1d-corr-noise", "mnist1d-shear", "mnist1d-scale",
                   "mnist1d-small", "mnist1d-5class"),
    },
    # bf16: 2.6x faster steps on this machine's AVX512-BF16 cores (float32: 40 s per epoch of
    # a 7.7-MFLOP CNN on one thread); the cap keeps a 15-epoch training within about a quarter
    # of the 20 minutes at that speed (about 2 s per forward MFLOP per epoch). Both follow from
    # the budget and the hardware, not from any Fashion-MNIST accuracy.
    "fashion-mnist": {
        "args": {}, "minutes": 20.0, "target": 0.92,
        "memory": ("fashion-7x7", "fashion-7x7-tops"),
        "precision": "bf16", "max_mflops": 10.0,
        # With a memory the search trains few networks, so it can afford larger ones: chosen on
        # tuning seed 100 (validation only; benchmarks/results/
        # multifidelity_real_fashion_tuning.json), the memory built by
        # benchmarks/fashion_memory.py --max-mflops 25.
        "arm_settings": {
            "asha+meta@5": {
                "max_mflops": 25.0,
                "memory_storage": "benchmarks/results/fashion_memory_cap25.db",
            },
        },
    },
}  # fmt: skip
#: Multi-fidelity arms: (scheduler, proposal strategy, first rung in epochs). ``asha`` and
#: ``asha+curve`` are the first runs' arms; the others were added with settings chosen on the
#: task family's other MNIST-1D variants (benchmarks/multifidelity_real_tune.py), never on a
#: task of this table.
MF_ARMS: dict[str, tuple[str, str, int]] = {
    "asha": ("asha", "random", MIN_EPOCHS),
    "asha+curve": ("curve", "random", MIN_EPOCHS),
    "asha+bo@5": ("asha", "bo", 5),
    # asha+bo@5 with the memory proposing: ``meta`` (library defaults) remembers the task's
    # "memory" tasks of the family table (a 100-trial evolution search on each, as the tabular
    # benchmark's asha+meta), never the searched task; a task's ``arm_settings`` may give it
    # a stored memory instead (Fashion-MNIST: benchmarks/fashion_memory.py's searches).
    "asha+meta@5": ("asha", "meta", 5),
}
ARMS = ("bo", *MF_ARMS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated (both)")
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated (bo,asha,asha+curve)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (5)")
    p.add_argument(
        "--seed-list", default=None,
        help="seeds as a list and/or ranges, e.g. 0-4 or 1,3 (overrides --seeds)",
    )  # fmt: skip
    p.add_argument(
        "--budget-minutes", type=float, default=None,
        help="start no run that would end after this many minutes of this invocation "
        "(the rest is left for the next one)",
    )  # fmt: skip
    p.add_argument("--rerun", action="store_true", help="rerun runs already in --results")
    p.add_argument("--max-epochs", type=int, default=15, help="full fidelity (15, as the family)")
    p.add_argument("--bo-factor", type=float, default=3.0, help="bo's wall time multiple (3)")
    p.add_argument("--minutes", type=float, default=None, help="override every task's minutes")
    p.add_argument("--n-jobs", type=int, default=2, help="workers of the local pool (2)")
    p.add_argument("--table", default=None, help="task-family CSV for the memory (shipped one)")
    p.add_argument(
        "--fashion-train", type=int, default=None,
        help="Fashion-MNIST training images (default: all 60,000)",
    )  # fmt: skip
    p.add_argument(
        "--max-mflops", type=float, default=None,
        help="reject networks over this many forward MFLOPs (default: the task's; Fashion 10)",
    )  # fmt: skip
    p.add_argument(
        "--stem-channels", type=int, default=None,
        help="the cnn space's stem channels (default: the space's, 32)",
    )  # fmt: skip
    p.add_argument(
        "--augment", default=None,
        help="training augmentation policy, e.g. shift-flip (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--memory-storage", default=None,
        help="asha+meta@5's memory: the studies of this storage (benchmarks/fashion_memory.py "
        "writes one) instead of the task-family table's tasks",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="1 seed, 0.5 min, small Fashion subset")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument(
        "--results", type=Path, default=REPO / "benchmarks" / "results" / "multifidelity_real.json"
    )
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument(
        "--tuning", type=Path,
        default=REPO / "benchmarks" / "results" / "multifidelity_real_tuning.json",
        help="tuning runs of multifidelity_real_tune.py, summarised under the table",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if args.seed_list is not None:
        try:
            args.seed_list = parse_seeds(args.seed_list)
        except ValueError as exc:
            p.error(str(exc))
    for t in args.tasks:
        if t not in TASKS:
            p.error(f"unknown task {t!r}; choose from {', '.join(TASKS)}")
    for a in args.arms:
        if a not in ARMS:
            p.error(f"unknown arm {a!r}; choose from {', '.join(ARMS)}")
    if args.quick:
        args.seeds = 1
        args.seed_list = None
        args.minutes = 0.5 if args.minutes is None else args.minutes
        args.bo_factor = 1.0
        args.fashion_train = args.fashion_train or 2000
    return args


def seeds_of(args: argparse.Namespace) -> list[int]:
    return list(args.seed_list) if args.seed_list is not None else list(range(args.seeds))


def base_minutes(task: str, args: argparse.Namespace) -> float:
    """Wall time of the multi-fidelity arms on ``task`` (bo gets ``--bo-factor`` x this)."""
    return float(args.minutes if args.minutes is not None else TASKS[task]["minutes"])


def run_settings(task: str, arm: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a stored run must share with this invocation to count in its table."""
    out = {
        "base_minutes": base_minutes(task, args), "max_epochs": args.max_epochs,
        "bo_factor": args.bo_factor if arm == "bo" else None, "n_jobs": args.n_jobs,
        "fashion_train": args.fashion_train if task == "fashion-mnist" else None,
    }  # fmt: skip
    if arm == "bo":
        # Told as results arrive, as the schedulers' loop does for the other arms: in trial
        # order a worker sat idle while the oldest trial trained (runs made so are redone).
        out["tell_order"] = "finish"
    # Only where set, so the runs stored before these settings existed still match.
    spec = task_spec(task, args, arm)
    for key in ("precision", "max_mflops", "stem_channels", "augment"):
        if key in spec:
            out[key] = spec[key]
    stored = memory_storage(spec, args)
    if arm == "asha+meta@5" and stored:
        out["memory_storage"] = stored
    return out


def memory_storage(spec: dict[str, Any], args: argparse.Namespace) -> str | None:
    """The storage whose studies are asha+meta@5's memory (None: the task-family table's).

    ``--memory-storage`` wins; a task's own ``memory_storage`` is a path under the repository
    (stored as given, so runs on another checkout still match).
    """
    return args.memory_storage or spec.get("memory_storage")


def storage_url(name: str) -> str:
    """A URL for :func:`memory_storage`'s value (a bare path is the repository's file)."""
    return name if "://" in name else f"sqlite:///{REPO / name}"


def task_settings(spec: dict[str, Any]) -> str:
    """A task's training settings in words, for the section's header."""
    out = f"precision {spec.get('precision', 'fp32')}"
    if "stem_channels" in spec:
        out += f", cnn stem of {spec['stem_channels']} channels"
    if "augment" in spec:
        out += f", augmentation {spec['augment']}"
    if "max_mflops" in spec:
        out += (
            f", networks over {spec['max_mflops']:g} forward MFLOPs rejected before training "
            "(a failed trial)"
        )
    return out


def arm_settings_text(task: str, arm: str, args: argparse.Namespace) -> str:
    """:func:`task_settings` of ``arm``'s own settings, with its memory storage if any."""
    spec = task_spec(task, args, arm)
    stored = memory_storage(spec, args)
    return task_settings(spec) + (f", memory: the studies of {stored}" if stored else "")


def task_spec(task: str, args: argparse.Namespace, arm: str | None = None) -> dict[str, Any]:
    """``TASKS[task]`` with ``arm``'s own settings and this invocation's overrides.

    The overrides (--max-mflops, --stem-channels, ...) apply to every arm.
    """
    spec = dict(TASKS[task])
    spec.update(spec.pop("arm_settings", {}).get(arm, {}))
    for key in ("max_mflops", "stem_channels", "augment"):
        if getattr(args, key, None) is not None:
            spec[key] = getattr(args, key)
    return spec


def load_runs(path: Path) -> list[dict[str, Any]]:
    """Runs stored by earlier invocations (none when the file does not exist)."""
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["runs"])


def merge_runs(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with ``new`` added; a new run replaces a stored one of the same task, arm, seed."""
    keys = {(r["task"], r["arm"], r["seed"]) for r in new}
    kept = [r for r in old if (r["task"], r["arm"], r["seed"]) not in keys]
    return sorted(kept + new, key=lambda r: (list(TASKS).index(r["task"]), r["arm"], r["seed"]))


def matching(runs: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The stored runs made with this invocation's settings (the others are left out)."""
    return [r for r in runs if r.get("settings") == run_settings(r["task"], r["arm"], args)]


def family_curves(tasks: tuple[str, ...], table: str | None) -> list[list[float]]:
    """Validation curves of the task-family tasks ``tasks`` (those the table holds)."""
    import numpy as np

    from metanas.benchmarks import TaskFamily

    curves: list[list[float]] = []
    for name in tasks:
        try:
            # The first table's 200 architectures: the section's memory (the table grew later).
            bench = TaskFamily(name, path=table, n_archs=first_table(table))
        except (ValueError, FileNotFoundError) as exc:
            print(f"memory: skipping {name!r}: {exc}", file=sys.stderr)
            continue
        for arch in bench.space.enumerate():
            v = bench.curve(arch)["valid_accuracy"]
            if not np.isnan(v).any():
                curves.append([float(x) for x in v])
    return curves


def arm_setup(arm: str, max_epochs: int, seed: int) -> tuple[str, Any]:
    """``arm``'s proposal strategy and scheduler (None: full fidelity, ``bo``)."""
    if arm == "bo":
        return "bo", None
    from metanas.schedulers import create_scheduler

    sched, strategy, first = MF_ARMS[arm]
    return strategy, create_scheduler(
        sched, min_budget=first, max_budget=max_epochs, eta=ETA, seed=seed
    )


def one_search(
    task_name: str, arm: str, seed: int, minutes: float, args: argparse.Namespace
) -> dict[str, Any]:
    """One timed search; the curve of the chosen architecture's test accuracy over wall time."""
    import metanas
    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    spec = task_spec(task_name, args, arm)
    kw = dict(spec["args"])
    if task_name == "fashion-mnist" and args.fashion_train:
        kw.update(n_train=args.fashion_train, n_test=max(1000, args.fashion_train // 2))
    task = load_task(task_name, seed=seed, **kw)
    space = metanas.spaces.create_space(
        "cnn", **({"stem_channels": spec["stem_channels"]} if "stem_channels" in spec else {})
    )
    max_flops = int(spec["max_mflops"] * 1e6) if "max_mflops" in spec else None
    ev = TrainEvaluator(
        task, space, seed=seed, max_epochs=args.max_epochs, patience=None, threads=1,
        record_curve="valid", precision=spec.get("precision", "fp32"), max_flops=max_flops,
        augment=spec.get("augment"),
    )  # fmt: skip
    strategy, scheduler = arm_setup(arm, args.max_epochs, seed)
    study_kw: dict[str, Any] = {} if scheduler is None else {"scheduler": scheduler}
    study = metanas.create_study(
        space=space, storage="sqlite://", strategy=strategy, seed=seed, task=task.name,
        **study_kw,
    )  # fmt: skip
    if strategy == "meta":
        # After create_study, which gave the strategy the memory of its own (empty) storage.
        from _meta_harness import family_memory

        stored = memory_storage(spec, args)
        if stored:
            from metanas.meta import ExperienceMemory

            memory = ExperienceMemory(storage_url(stored)).memory_for(task.name, space=space)
        else:
            memory = family_memory(args.table, spec["memory"], n_archs=first_table(args.table))
        study.strategy.set_memory(memory, descriptors=task.descriptors(), task=task.name)
    if study_kw and study.scheduler.uses_memory:
        # After create_study, which gave the scheduler the curves of its own (empty) storage.
        study.scheduler.set_memory(family_curves(spec["memory"], args.table))
    curve: list[tuple[float, float, float]] = []  # (seconds, chosen valid, its test)
    best = (-1.0, float("nan"))
    start = time.perf_counter()

    def on_trial(_study: Any, trial: Any) -> None:
        nonlocal best
        full = trial.budget is None or trial.budget >= args.max_epochs
        v = trial.metrics.get("valid_accuracy")
        if trial.state is metanas.TrialState.COMPLETE and full and v is not None and v > best[0]:
            best = (float(v), float(trial.test_metrics["test_accuracy"]))
            curve.append((time.perf_counter() - start, best[0], best[1]))

    # in_flight="cancel": what a trial would finish after the deadline never counts, so the
    # run ends at it instead of waiting minutes for the trainings in flight. tell_order=
    # "finish" (used by bo; the schedulers' loop always works so): no worker waits for
    # another's trial.
    study.optimize(
        ev, timeout_s=minutes * 60.0, n_jobs=args.n_jobs, callbacks=[on_trial],
        in_flight="cancel", tell_order="finish",
    )  # fmt: skip
    trials = study.trials
    study.storage.delete_study(study.name)  # the in-memory database is shared by the runs
    return {
        "task": task_name, "arm": arm, "seed": seed, "minutes": minutes,
        "settings": run_settings(task_name, arm, args),
        "wall_s": time.perf_counter() - start, "n_trials": len(trials),
        "n_full": sum(
            t.state is metanas.TrialState.COMPLETE
            and (t.budget is None or t.budget >= args.max_epochs) for t in trials
        ),
        "n_pruned": sum(t.state.value == "pruned" for t in trials),
        "curve": curve,
    }  # fmt: skip


def at_time(curve: list[Any], seconds: float) -> float | None:
    """Test accuracy of the chosen architecture at ``seconds`` (None: nothing trained fully)."""
    out = None
    for t, _, test in curve:
        if t <= seconds:
            out = test
    return out


def time_to(curve: list[Any], target: float) -> float | None:
    return next((float(t) for t, _, test in curve if test >= target), None)


def acc_at(run: dict[str, Any], seconds: float) -> float:
    """:func:`at_time`, with a search that trained nothing fully by then counted as 0."""
    acc = at_time(run["curve"], seconds)
    return 0.0 if acc is None else float(acc)


def pct_ci(values: list[float], points: bool = False) -> str:
    """``median [lo, hi]`` in percent (or in percentage points, signed)."""
    m, lo, hi = median_ci(values)
    if m != m:
        return "—"
    f = "{:+.2f}" if points else "{:.2f}"
    return f"{f.format(m * 100)} [{f.format(lo * 100)}, {f.format(hi * 100)}]"


def paired(
    runs: list[dict[str, Any]], task: str, arm: str, args: argparse.Namespace, bo_at: float
) -> list[tuple[int, float]]:
    """Per seed held by both: ``arm``'s test accuracy at its end minus bo's at ``bo_at`` x."""
    base = base_minutes(task, args) * 60.0
    task_runs = [r for r in runs if r["task"] == task]
    return paired_arms(task_runs, arm, "bo", base, ref_seconds=bo_at * base)


#: (arm, reference): the same scheduler with and without the memory proposing.
MEMORY_PAIRS = (("asha+meta@5", "asha+bo@5"),)


def paired_arms(
    runs: list[dict[str, Any]],
    arm: str,
    ref: str,
    seconds: float,
    ref_seconds: float | None = None,
) -> list[tuple[int, float]]:
    """Per seed held by both: ``arm``'s test accuracy at ``seconds`` minus ``ref``'s at
    ``ref_seconds`` (default: the same time)."""
    at = seconds if ref_seconds is None else ref_seconds
    other = {r["seed"]: r for r in runs if r["arm"] == ref}
    return [
        (r["seed"], acc_at(r, seconds) - acc_at(other[r["seed"]], at))
        for r in sorted(runs, key=lambda r: r["seed"])
        if r["arm"] == arm and r["seed"] in other
    ]


def wilcoxon_text(diffs: list[float]) -> str:
    """``; Wilcoxon signed-rank p = ...`` (two-sided), or nothing with fewer than 5 pairs."""
    if len(diffs) < 5 or not any(diffs):
        return ""
    return f"; Wilcoxon signed-rank p = {wilcoxon_p(diffs, 0.0):.3f} (two-sided)"


def pairs_text(d: list[tuple[int, float]]) -> str:
    """``median [lo, hi] points (per seed s: x, ...)`` of per-seed paired differences."""
    per_seed = ", ".join(f"{s}: {x * 100:+.2f}" for s, x in d)
    return f"{pct_ci([x for _, x in d], points=True)} points (per seed {per_seed})"


def verdict(ok: bool, n_seeds: int, needed: int = 5) -> str:
    """A target's verdict; on fewer than ``needed`` seeds the target is not decided either way."""
    word = "met" if ok else "missed"
    if n_seeds >= needed:
        return f"**{word}**"
    return f"**not established** (fewer than {needed} seeds; {word} on these {n_seeds})"


def markdown(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The section, from ``runs`` (every stored run made with this invocation's settings)."""
    f = args.bo_factor
    counts = ", ".join(
        f"{t} {a}: {len({r['seed'] for r in runs if r['task'] == t and r['arm'] == a})}"
        for t in TASKS
        for a in ARMS
        if any(r["task"] == t and r["arm"] == a for r in runs)
    )
    settings = {
        "runs": (
            f"seeds per task and arm: {counts or 'none'}; {args.n_jobs} workers; "
            f"{sum(r['wall_s'] for r in runs) / 60:.0f} min of searches in all, run in chunks "
            "whose results are merged by (task, arm, seed)"
        ),
        "settings": (
            f"cnn space, TrainEvaluator(max_epochs={args.max_epochs}, patience=None, threads=1); "
            f"multi-fidelity arms (scheduler, proposals, first rung): "
            + "; ".join(
                f"{a}: {sc}, {st}, {mn} epoch(s)"
                for a, (sc, st, mn) in MF_ARMS.items()
                if any(r["arm"] == a for r in runs)
            )
            + f"; max {args.max_epochs} epochs, eta {ETA}; bo runs "
            f"{f:g} x the minutes of the others"
            + (
                f"; Fashion-MNIST with {args.fashion_train} training images"
                if args.fashion_train
                else ""
            )
            + "".join(
                f"; {t}: {task_settings(task_spec(t, args))}"
                for t in TASKS
                if any(r["task"] == t for r in runs)
            )
            + "".join(
                f"; {t} {a} instead: {arm_settings_text(t, a, args)}"
                for t in TASKS
                for a in TASKS[t].get("arm_settings", {})
                if any(r["task"] == t and r["arm"] == a for r in runs)
            )
        ),
    }
    lines = [
        header("Multi-fidelity search with real training", settings),
        "Chosen architecture: the best validation accuracy among trials trained to the last "
        "epoch; its test accuracy is reported (a search with no fully trained trial by then "
        "counts as 0). Cells: median over seeds with a 95 % bootstrap interval. *@1x*: at the "
        f"multi-fidelity arms' wall time (bo read off its own run at that time); *bo @{f:g}x*: "
        "at the end of bo's run. *reached*: seeds whose chosen architecture reached the target "
        "test accuracy within the arm's own wall time; *time to target*: median over seeds, a "
        "seed that never reached it ranking last (`—`: the median seed never reached it).",
        "",
        "| task | minutes | target | arm | seeds | test acc @1x (%) | "
        f"test acc @{f:g}x (%) | reached | time to target (s) | trials (full / pruned) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for task in TASKS:
        spec = TASKS[task]
        task_runs = [r for r in runs if r["task"] == task]
        if not task_runs:
            notes.append(
                f"**{task}: not run** (no stored run with these settings); no claim is made "
                "about its targets."
            )
            continue
        base = base_minutes(task, args)
        for arm in ARMS:
            rs = sorted((r for r in task_runs if r["arm"] == arm), key=lambda r: r["seed"])
            if not rs:
                continue
            reach = [time_to(r["curve"], spec["target"]) for r in rs]
            within = sum(
                x is not None and x <= r["minutes"] * 60 for x, r in zip(reach, rs, strict=True)
            )
            med_reach = statistics.median([float("inf") if x is None else x for x in reach])
            full = statistics.median([r["n_full"] for r in rs])
            pruned = statistics.median([r["n_pruned"] for r in rs])
            lines.append(
                f"| {task} | {rs[0]['minutes']:g} | {spec['target'] * 100:g} % | {arm} | "
                f"{len(rs)} | {pct_ci([acc_at(r, base * 60) for r in rs])} | "
                f"{pct_ci([acc_at(r, f * base * 60) for r in rs]) if arm == 'bo' else ''} | "
                f"{within}/{len(rs)} | "
                f"{'—' if med_reach == float('inf') else f'{med_reach:.0f}'} | "
                f"{full:g} / {pruned:g} |"
            )
        lines.append("")
        for arm in MF_ARMS:
            for at in (f, 1.0):
                d = paired(task_runs, task, arm, args, at)
                if d:
                    lines.append(
                        f"- {task}, {arm} minus bo @{at:g}x (paired by seed, {len(d)} seed(s)): "
                        f"{pairs_text(d)}"
                    )
        for arm, ref in MEMORY_PAIRS:
            d = paired_arms(task_runs, arm, ref, base * 60)
            if d:
                lines.append(
                    f"- {task}, {arm} minus {ref} at {base:g} min (the memory and the arm's own "
                    f"settings in the header, if any; paired by seed, {len(d)} seed(s)): "
                    f"{pairs_text(d)}{wilcoxon_text([x for _, x in d])}"
                )
        for arm in MF_ARMS:
            rs = [r for r in task_runs if r["arm"] == arm]
            if not rs:
                continue
            m = median_ci([acc_at(r, base * 60) for r in rs])[0]
            lines.append(
                f"- Target {task}, {arm}: >= {spec['target'] * 100:g} % test accuracy within "
                f"{base:g} min (median of >= 5 seeds): "
                f"{verdict(m >= spec['target'], len(rs))}, median {m * 100:.2f} % "
                f"over {len(rs)} seed(s)"
            )
            d = paired(task_runs, task, arm, args, f)
            if d:
                dm = median_ci([x for _, x in d])[0]
                lines.append(
                    f"- Target {task}, {arm}: final test accuracy within 0.3 points of bo given "
                    f"{f:g}x the time: {verdict(dm >= -0.003, len(d))}, median paired "
                    f"difference {dm * 100:+.2f} points over {len(d)} seed(s)"
                )
            else:
                lines.append(
                    f"- Target {task}, {arm}: within 0.3 points of bo at {f:g}x: **not measured** "
                    "(no bo run with a seed in common)"
                )
        lines.append("")
    lines.extend(notes)
    if any(r["arm"] in MF_ARMS and MF_ARMS[r["arm"]][2] != MIN_EPOCHS for r in runs):
        lines.extend(["", *tuning_lines(args.tuning)])
    return "\n".join(lines).rstrip() + "\n"


def tuning_lines(path: Path) -> list[str]:
    """How the later arms' settings were chosen: the rank diagnosis and the tuning runs."""
    import multifidelity_real_tune as tune

    lines = [
        "**How the later arms' settings were chosen** (benchmarks/multifidelity_real_tune.py; "
        "no MNIST-1D run of this table was looked at). Diagnosis on the task-family table's "
        "MNIST-1D variants other than `mnist1d` (200 architectures each, no training): how "
        "well epoch e's validation accuracy ranks the 15-epoch one (median over the 6 "
        "variants): "
        + "; ".join(
            f"epoch {e}: Spearman {rho:.2f}, {kept * 100:.0f} % of the final top 10 % in the "
            "top third"
            for e, rho, kept in tune.rank_diagnosis()
        )
        + ". A 1-epoch rung drops about half of the best architectures; from 5 epochs on the "
        "ranking is nearly the final one. 2 workers finish about 25 full (15-epoch) MNIST-1D "
        "trainings in 3 minutes (bo's runs at the time of the choice, told in trial order: "
        "65 to 86 in 9 minutes).",
    ]
    if not path.exists():
        return [*lines, "", f"(No tuning runs stored in {path.name}.)"]
    rows = json.loads(path.read_text())["rows"]
    lines += [
        "",
        "Simulated searches of those variants (seeds >= 100; horizon in full trainings' worth "
        "of the table's training time): mean valid regret (the table's best 15-epoch validation "
        "accuracy minus the chosen architecture's) and the chosen architecture's mean test "
        "accuracy on the variants' own test splits. Candidates are `scheduler+strategy@first "
        "rung`.",
        "",
        "| horizon (full trainings) | candidate | runs | valid regret (points) | test acc (%) |",
        "|---:|---|---:|---:|---:|",
    ]
    for h, cand, n, regret, test in tune.summary(rows):
        lines.append(f"| {h:g} | {cand} | {n} | {regret * 100:.2f} | {test * 100:.2f} |")
    lines += [
        "",
        "Choice: `asha+bo@5`. bo's proposals beat random ones at the realistic horizon (valid "
        "regret 0 for every bo candidate against 0.05 and 1.25 points for random at 1 and 3 "
        "epochs); at the tighter horizon the 5-epoch first rung has the smallest regret, and it "
        "trains the most architectures to 15 epochs, where the chosen one must come from. The "
        "differences between the bo candidates are within the noise of so few runs.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stored = [] if args.no_write else load_runs(args.results)
    done = {(r["task"], r["arm"], r["seed"]): r.get("settings") for r in stored}
    plan = [
        (task, arm, seed)
        for task in args.tasks
        for seed in seeds_of(args)
        for arm in args.arms
        if args.rerun or done.get((task, arm, seed)) != run_settings(task, arm, args)
    ]
    skipped = len(args.tasks) * len(args.arms) * len(seeds_of(args)) - len(plan)
    if skipped:
        print(f"{skipped} run(s) already in {args.results}: skipped (--rerun to redo)")
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    for i, (task, arm, seed) in enumerate(plan):
        minutes = base_minutes(task, args) * (args.bo_factor if arm == "bo" else 1.0)
        # A run overruns its timeout by the trials in flight (and loads its task): half a minute
        # covers a full 15-epoch MNIST-1D trial on these cores.
        elapsed = (time.perf_counter() - start) / 60.0
        if args.budget_minutes is not None and elapsed + minutes + 0.5 > args.budget_minutes:
            left = " ".join(f"{t}/{a}/{s}" for t, a, s in plan[i:])
            print(f"--budget-minutes {args.budget_minutes:g} reached; left for the next "
                  f"invocation: {left}")  # fmt: skip
            break
        r = one_search(task, arm, seed, minutes, args)
        last = r["curve"][-1][2] if r["curve"] else float("nan")
        print(
            f"{task} {arm} seed {seed}: {r['n_trials']} trials ({r['n_full']} full, "
            f"{r['n_pruned']} pruned) in {r['wall_s']:.0f} s; chosen test {last:.4f}",
            flush=True,
        )
        runs.append(r)
        if not args.no_write:
            # After every run, so a chunk killed at its time limit keeps what it finished.
            stored = merge_runs(stored, [r])
            save_runs(args, stored)
    all_runs = matching(merge_runs(stored, runs), args)
    text = markdown(all_runs, args)
    print(text)
    if args.no_write:
        return 0
    from metanas.benchmarking import write_section

    write_section(args.output, SECTION, text)
    print(f"Wrote section {SECTION!r} of {args.output} and {args.results}.")
    return 0


def save_runs(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    """Write ``runs`` to ``--results`` (through a temporary file: a kill leaves the old one)."""
    args.results.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results.with_suffix(".tmp")
    tmp.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    tmp.replace(args.results)


if __name__ == "__main__":
    raise SystemExit(main())
