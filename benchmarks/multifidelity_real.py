"""Multi-fidelity search with real training: full-fidelity bo vs ASHA vs ASHA + curve model.

For MNIST-1D (``load_task("mnist1d")``, its default generation) and Fashion-MNIST
(``load_task("fashion-mnist")``, Debian's ``dataset-fashion-mnist`` read offline), the ``cnn``
space, a 2-worker local process pool and ``--seeds`` seeds, three arms search for a fixed wall
time each:

* ``bo``: full fidelity (every trial trains ``--max-epochs`` epochs), given ``--bo-factor`` x
  the wall time of the others, so its best at 1x and at that factor are both read off its curve;
* ``asha``: random proposals, ASHA (min 1 epoch, max ``--max-epochs``, eta 3), continued runs
  resumed from the trainer's checkpoints;
* ``asha+curve``: the ``curve`` scheduler with a memory of related tasks' learning curves: the
  task-family table's validation curves (``metanas.benchmarks.TaskFamily``) of the MNIST-1D
  variants other than the family's ``mnist1d`` for MNIST-1D, and of the family's Fashion-MNIST
  tasks for Fashion-MNIST (never the searched task itself; the family's tasks are smaller,
  differently generated or downsampled versions).

Reported per task and arm (median over seeds): wall time until the chosen architecture (best
validation accuracy among the trials trained to the last epoch) reaches the stated test accuracy,
and its test accuracy at the fixed wall time. The search sees validation accuracy only.

    python benchmarks/multifidelity_real.py                  # the full run: many hours
    python benchmarks/multifidelity_real.py --quick --no-write

The full run (5 seeds; Fashion-MNIST 20 min per multi-fidelity arm and 60 min for bo; MNIST-1D
3 and 9 min) takes about 8.5 hours on 2 cores.
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

from _report import REPO, header

SECTION = "multifidelity-real"
MIN_EPOCHS, ETA = 1, 3
#: (task, load_task arguments, minutes per multi-fidelity arm, target test accuracy, memory tasks)
TASKS: dict[str, dict[str, Any]] = {
    "mnist1d": {
        "args": {}, "minutes": 3.0, "target": 0.985,
        "memory": ("mnist1d-iid-noise", "mnist1d-corr-noise", "mnist1d-shear", "mnist1d-scale",
                   "mnist1d-small", "mnist1d-5class"),
    },
    "fashion-mnist": {
        "args": {}, "minutes": 20.0, "target": 0.92,
        "memory": ("fashion-7x7", "fashion-7x7-tops"),
    },
}  # fmt: skip
ARMS = ("bo", "asha", "asha+curve")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated (both)")
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated (bo,asha,asha+curve)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (5)")
    p.add_argument("--max-epochs", type=int, default=15, help="full fidelity (15, as the family)")
    p.add_argument("--bo-factor", type=float, default=3.0, help="bo's wall time multiple (3)")
    p.add_argument("--minutes", type=float, default=None, help="override every task's minutes")
    p.add_argument("--n-jobs", type=int, default=2, help="workers of the local pool (2)")
    p.add_argument("--table", default=None, help="task-family CSV for the memory (shipped one)")
    p.add_argument(
        "--fashion-train", type=int, default=None,
        help="Fashion-MNIST training images (default: all 60,000)",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="1 seed, 0.5 min, small Fashion subset")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument(
        "--results", type=Path, default=REPO / "benchmarks" / "results" / "multifidelity_real.json"
    )
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for t in args.tasks:
        if t not in TASKS:
            p.error(f"unknown task {t!r}; choose from {', '.join(TASKS)}")
    for a in args.arms:
        if a not in ARMS:
            p.error(f"unknown arm {a!r}; choose from {', '.join(ARMS)}")
    if args.quick:
        args.seeds = 1
        args.minutes = 0.5 if args.minutes is None else args.minutes
        args.bo_factor = 1.0
        args.fashion_train = args.fashion_train or 2000
    return args


def family_memory(tasks: tuple[str, ...], table: str | None) -> list[list[float]]:
    """Validation curves of the task-family tasks ``tasks`` (those the table holds)."""
    import numpy as np

    from metanas.benchmarks import TaskFamily

    curves: list[list[float]] = []
    for name in tasks:
        try:
            bench = TaskFamily(name, path=table)
        except (ValueError, FileNotFoundError) as exc:
            print(f"memory: skipping {name!r}: {exc}", file=sys.stderr)
            continue
        for arch in bench.space.enumerate():
            v = bench.curve(arch)["valid_accuracy"]
            if not np.isnan(v).any():
                curves.append([float(x) for x in v])
    return curves


def one_search(
    task_name: str, arm: str, seed: int, minutes: float, args: argparse.Namespace
) -> dict[str, Any]:
    """One timed search; the curve of the chosen architecture's test accuracy over wall time."""
    import metanas
    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    spec = TASKS[task_name]
    kw = dict(spec["args"])
    if task_name == "fashion-mnist" and args.fashion_train:
        kw.update(n_train=args.fashion_train, n_test=max(1000, args.fashion_train // 2))
    task = load_task(task_name, seed=seed, **kw)
    space = metanas.spaces.create_space("cnn")
    ev = TrainEvaluator(
        task, space, seed=seed, max_epochs=args.max_epochs, patience=None, threads=1,
        record_curve="valid",
    )  # fmt: skip
    study_kw: dict[str, Any] = {}
    strategy = "bo" if arm == "bo" else "random"
    if arm != "bo":
        from metanas.schedulers import create_scheduler

        study_kw["scheduler"] = create_scheduler(
            "curve" if arm == "asha+curve" else "asha",
            min_budget=MIN_EPOCHS, max_budget=args.max_epochs, eta=ETA, seed=seed,
        )  # fmt: skip
    study = metanas.create_study(
        space=space, storage="sqlite://", strategy=strategy, seed=seed, task=task.name,
        **study_kw,
    )  # fmt: skip
    if arm == "asha+curve":
        # After create_study, which gave the scheduler the curves of its own (empty) storage.
        study.scheduler.set_memory(family_memory(spec["memory"], args.table))
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

    study.optimize(ev, timeout_s=minutes * 60.0, n_jobs=args.n_jobs, callbacks=[on_trial])
    trials = study.trials
    study.storage.delete_study(study.name)  # the in-memory database is shared by the runs
    return {
        "task": task_name, "arm": arm, "seed": seed, "minutes": minutes,
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


def markdown(runs: list[dict[str, Any]], args: argparse.Namespace, wall_s: float) -> str:
    settings = {
        "runs": (
            f"{len(args.tasks)} task(s) x {len(args.arms)} arm(s) x {args.seeds} seed(s); "
            f"{args.n_jobs} workers; {wall_s / 60:.0f} min wall time"
        ),
        "settings": (
            f"cnn space, TrainEvaluator(max_epochs={args.max_epochs}, patience=None, threads=1); "
            f"schedulers: min {MIN_EPOCHS} epoch, max {args.max_epochs}, eta {ETA}; bo runs "
            f"{args.bo_factor:g} x the minutes of the others"
            + (
                f"; Fashion-MNIST with {args.fashion_train} training images"
                if args.fashion_train
                else ""
            )
        ),
    }
    lines = [
        header("Multi-fidelity search with real training", settings),
        "Chosen architecture: the best validation accuracy among trials trained to the last "
        "epoch; its test accuracy is reported. Cells: median over seeds (`—`: nothing trained "
        "fully in time / never reached). *bo @1x* reads the full-fidelity run at the others' "
        f"wall time, *bo @{args.bo_factor:g}x* at its end.",
        "",
        "| task | minutes | target | arm | time to target (s) | test acc @1x | "
        f"test acc @{args.bo_factor:g}x | trials (full / pruned) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for task in args.tasks:
        spec = TASKS[task]
        for arm in args.arms:
            rs = [r for r in runs if r["task"] == task and r["arm"] == arm]
            if not rs:
                continue
            minutes = rs[0]["minutes"] / (args.bo_factor if arm == "bo" else 1.0)
            reach = [time_to(r["curve"], spec["target"]) for r in rs]
            # A run that never reached the target ranks after every run that did.
            med_reach = statistics.median([float("inf") if x is None else x for x in reach])
            acc1 = [at_time(r["curve"], minutes * 60) for r in rs]
            accf = [at_time(r["curve"], r["minutes"] * 60) for r in rs]

            def med(xs: list[float | None]) -> str:
                vals = [-1.0 if x is None else x for x in xs]
                m = statistics.median(vals)
                return "—" if m < 0 else f"{m * 100:.2f}"

            full = statistics.median([r["n_full"] for r in rs])
            pruned = statistics.median([r["n_pruned"] for r in rs])
            lines.append(
                f"| {task} | {minutes:g} | {spec['target'] * 100:g} % | {arm} | "
                f"{'—' if med_reach == float('inf') else f'{med_reach:.0f}'} | {med(acc1)} | "
                f"{med(accf) if arm == 'bo' else ''} | {full:g} / {pruned:g} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    for task in args.tasks:
        base = args.minutes if args.minutes is not None else TASKS[task]["minutes"]
        for seed in range(args.seeds):
            for arm in args.arms:
                minutes = base * (args.bo_factor if arm == "bo" else 1.0)
                r = one_search(task, arm, seed, minutes, args)
                last = r["curve"][-1][2] if r["curve"] else float("nan")
                print(
                    f"{task} {arm} seed {seed}: {r['n_trials']} trials ({r['n_full']} full, "
                    f"{r['n_pruned']} pruned) in {r['wall_s']:.0f} s; chosen test {last:.4f}",
                    flush=True,
                )
                runs.append(r)
    wall_s = time.perf_counter() - start
    text = markdown(runs, args, wall_s)
    print(text)
    if args.no_write:
        return 0
    from metanas.benchmarking import write_section

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "settings": vars(args) | {"output": str(args.output), "results": str(args.results)},
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )
    write_section(args.output, SECTION, text)
    print(f"Wrote section {SECTION!r} of {args.output} and {args.results}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
