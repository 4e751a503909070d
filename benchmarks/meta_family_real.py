"""Meta-learning with real training on the task family (issue #14, suite d).

The memory is what a user would have after searching the other tasks of the family: for each
held-out task, an evolution search of ``--memory`` trials on each of the other nine tasks of
the shipped family table (memory draw ``seed % 3``, exactly as in ``meta_family.py``). The
new search then trains networks for real on the held-out task, with the trainer settings the
table was made with (:data:`metanas.benchmarks.family.FAMILY_TRAINING`) but another training
seed, so none of its results is a table look-up. Both arms search the family's 200
architectures.

* ``bo``: cold, never reads the memory.
* ``meta``: ``create_strategy("meta", space)`` + ``set_memory`` of the other tasks.

Both arms of a pair use the same search seed and the same training seed, so an architecture
both arms pick gets the same result in both. Measured per pair: the time each arm needed to
reach cold ``bo``'s final best validation accuracy. Time is the search process's CPU time
(asks, tells and training, one torch thread): on this shared 2-core machine that is what the
search would take in wall time on an idle core, and it does not depend on the other work
running beside it; the wall time is recorded too. Reported: the median of meta's time over
bo's (``meta`` never reaching the level counts as infinitely slow), a bootstrap 90 % interval
over the pairs, and a Wilcoxon signed-rank test of the paired times. Test accuracy of each
arm's best-by-validation network is reported, never searched on.

    python benchmarks/meta_family_real.py               # 4 held-out tasks x 5 seeds, ~30 CPU-min
    python benchmarks/meta_family_real.py --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _meta_harness import Suite, memory_for
from _report import REPO, header, wilcoxon_p

SECTION = "meta-family-real"
#: Every third task of the family (a rule fixed before any run, not a choice by result).
DEFAULT_TASKS = ("mnist1d", "mnist1d-shear", "mnist1d-5class", "fashion-7x7-tops")
ARMS = ("bo", "meta")
MEMORY_DRAWS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="held-out tasks")
    p.add_argument("--seeds", type=int, default=5, help="search seeds 0..N-1 (5)")
    p.add_argument("--n-trials", type=int, default=20, help="trainings per search (20)")
    p.add_argument("--memory", type=int, default=100, help="trials per past task (100)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per training (the table's)")
    p.add_argument("--n-jobs", type=int, default=2, help="searches side by side (2)")
    p.add_argument("--quick", action="store_true", help="1 task, 1 seed, 4 trials of 2 epochs")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--load", type=Path, default=None, help="report saved runs instead")
    p.add_argument(
        "--wall-s",
        type=float,
        default=None,
        help="with --load: the wall time the saved runs took, for the header",
    )
    p.add_argument(
        "--fresh", action="store_true", help="ignore the searches already in --save (resumed)"
    )
    p.add_argument(
        "--save", type=Path, default=REPO / "benchmarks" / "results" / "meta_family_real.json"
    )
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.quick:
        args.tasks, args.seeds, args.n_trials, args.epochs = args.tasks[:1], 1, 4, 2
        args.memory, args.no_write = 20, True
    return args


def search(job: dict[str, Any]) -> dict[str, Any]:
    """One search of ``job["task"]`` by ``job["arm"]``: per trial its times and accuracies."""
    import torch

    from metanas._rng import derive_seed
    from metanas.benchmarks.family import (
        FAMILY_TRAINING,
        FIRST_TABLE_ARCHS,
        TaskFamily,
        family_space,
        family_task,
    )
    from metanas.evaluation.train import TrainEvaluator
    from metanas.strategies import Observation, create_strategy

    torch.set_num_threads(1)
    task, arm, seed = job["task"], job["arm"], job["seed"]
    # The first table's 200 architectures, which the section ran on (the table grew later).
    suite = Suite("family", None, FIRST_TABLE_ARCHS)
    space = TaskFamily(task, n_archs=FIRST_TABLE_ARCHS).space
    settings = {**FAMILY_TRAINING, "measure_latency": False}
    if job["epochs"] is not None:
        settings["max_epochs"] = job["epochs"]
    trainer = TrainEvaluator(family_task(task), family_space(), seed=10_000 + seed, **settings)
    strategy = create_strategy(arm, space, seed=seed)
    if arm == "meta":
        past = [t for t in suite.tasks() if t != task]
        strategy.set_memory(
            memory_for(suite, past, seed % MEMORY_DRAWS, job["memory"]),
            descriptors=TaskFamily(task).task_descriptors(),
            task=suite.task_name(task),
        )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    rows = []
    for number in range(job["n_trials"]):
        strategy.reseed(derive_seed(seed, number))
        arch = strategy.ask()
        result = trainer.evaluate(arch)
        valid = float(result.metrics["valid_accuracy"])
        score = valid if math.isfinite(valid) else -math.inf
        strategy.tell(
            Observation(arch=arch, score=score, scores=(score,), metrics={}, number=number)
        )
        rows.append(
            {
                "arch": arch.to_string(),
                "valid": valid,
                "test": float(result.test_metrics.get("test_accuracy", math.nan)),
                "cpu": time.process_time() - cpu0,
                "wall": time.perf_counter() - wall0,
            }
        )
    return {**job, "trials": rows}


def time_to(run: dict[str, Any], level: float, clock: str = "cpu") -> float:
    """Seconds until the run's best validation accuracy first reached ``level`` (inf: never)."""
    for row in run["trials"]:
        if row["valid"] >= level - 1e-12:
            return float(row[clock])
    return math.inf


def best(run: dict[str, Any]) -> dict[str, Any]:
    """The run's best trial by validation accuracy (the first of ties)."""
    return max(run["trials"], key=lambda r: (r["valid"], -r["cpu"]))


def run_line(run: dict[str, Any]) -> str:
    """The progress line of one finished search."""
    return (
        f"{run['task']} seed {run['seed']} {run['arm']}: best valid "
        f"{best(run)['valid']:.4f} in {run['trials'][-1]['cpu']:.0f} CPU s"
    )


def bootstrap_median(x: np.ndarray, *, n_boot: int = 4000, seed: int = 0) -> tuple[float, float]:
    """A 90 % bootstrap interval of the median of ``x`` (infinite values kept as such)."""
    rng = np.random.default_rng(seed)
    med = np.median(x[rng.integers(0, len(x), size=(n_boot, len(x)))], axis=1)
    lo, hi = np.quantile(med, [0.05, 0.95], method="inverted_cdf")  # inf-safe
    return float(lo), float(hi)


def flops_of(runs: list[dict[str, Any]]) -> list[float]:
    """Forward FLOPs (from the family table) of every network the runs trained."""
    from metanas.benchmarks.family import TaskFamily
    from metanas.spaces import Architecture

    return [
        float(TaskFamily(r["task"]).evaluate(Architecture.from_json(t["arch"])).metrics["flops"])
        for r in runs
        for t in r["trials"]
    ]


def fmt_s(x: float) -> str:
    return "not reached" if not math.isfinite(x) else f"{x:.0f}"


def paired_time_to_level(
    runs: list[dict[str, Any]], first_cell: Callable[[dict[str, Any]], str], n_trials: int
) -> tuple[list[str], dict[str, Any], list[str]]:
    """Per (task, seed) pair of ``bo`` and ``meta`` searches: table rows, numbers and bullets.

    *Level* is cold ``bo``'s best validation accuracy; each arm's CPU time to reach it; the
    ratio's median with a bootstrap interval and a Wilcoxon test of the paired times (meta's
    "not reached" counted as slowest). ``first_cell`` names a pair's held-out task in a row.
    The last bullet (the whole search's CPU-time ratio) ends without a full stop, so a caller
    can add its reading.
    """
    by = {(r["task"], r["seed"], r["arm"]): r for r in runs}
    pairs = sorted({(r["task"], r["seed"]) for r in runs})
    rows, ratios, t_meta, t_bo, wall_ratios, totals = [], [], [], [], [], []
    for task, seed in pairs:
        bo, meta = by.get((task, seed, "bo")), by.get((task, seed, "meta"))
        if bo is None or meta is None:
            continue
        level = best(bo)["valid"]
        tb, tm = time_to(bo, level), time_to(meta, level)
        ratios.append(tm / tb)
        wall_ratios.append(time_to(meta, level, "wall") / time_to(bo, level, "wall"))
        t_meta.append(tm)
        t_bo.append(tb)
        totals.append(meta["trials"][-1]["cpu"] / bo["trials"][-1]["cpu"])
        bb, mb = best(bo), best(meta)
        rows.append(
            f"| {first_cell(bo)} | {seed} | {100 * level:.1f} % | {fmt_s(tb)} | {fmt_s(tm)} | "
            f"{tm / tb:.2f} | {100 * bb['test']:.1f} % | {100 * mb['valid']:.1f} % | "
            f"{100 * mb['test']:.1f} % | {bo['trials'][-1]['cpu']:.0f} | "
            f"{meta['trials'][-1]['cpu']:.0f} |"
        )
    r = np.array(ratios)
    med = float(np.median(r)) if len(r) else math.nan
    lo, hi = bootstrap_median(r) if len(r) else (math.nan, math.nan)
    finite = np.isfinite(np.array(t_meta, dtype=float))
    big = 10 * max([*t_bo, *np.array(t_meta)[finite]], default=1.0)
    p = wilcoxon_p(np.where(finite, t_meta, big), np.array(t_bo)) if len(r) else math.nan
    wmed = float(np.median(wall_ratios)) if wall_ratios else math.nan
    tmed = float(np.median(totals)) if totals else math.nan
    wlo, whi = bootstrap_median(np.array(wall_ratios)) if wall_ratios else (math.nan, math.nan)
    tlo, thi = bootstrap_median(np.array(totals)) if totals else (math.nan, math.nan)
    met = "**met**" if med <= 0.5 else "**not met**"
    numbers = {
        "median_ratio": med, "ci90": [lo, hi], "wilcoxon_p": p, "pairs": len(r),
        "not_reached": int((~finite).sum()), "median_wall_ratio": wmed,
        "wall_ci90": [wlo, whi], "median_total_cpu_ratio": tmed, "total_ci90": [tlo, thi],
    }  # fmt: skip
    bullets = [
        f"- Time to reach cold `bo`'s final validation accuracy <= 0.5 x cold `bo`'s, median "
        f"over {len(r)} pairs: **{med:.2f}** [90 % bootstrap interval {lo:.2f}, {hi:.2f}]; "
        f"meta did not reach the level in {int((~finite).sum())} of {len(r)}; Wilcoxon "
        f"signed-rank p = {p:.3g} (paired times, not reached counted as slowest): {met}.",
        f"- The same ratio in wall-clock seconds (the machine was shared; CPU time is the "
        f"figure above): median {wmed:.2f} [90 % bootstrap interval {wlo:.2f}, {whi:.2f}].",
        f"- The whole search ({n_trials} trainings): meta's CPU time over bo's, median {tmed:.2f} "
        f"[90 % bootstrap interval {tlo:.2f}, {thi:.2f}]",
    ]
    return rows, numbers, bullets


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    rows, numbers, bullets = paired_time_to_level(runs, lambda run: run["task"], args.n_trials)
    size = {arm: float(np.median(flops_of([r for r in runs if r["arm"] == arm]))) for arm in ARMS}
    bullets[-1] += (
        f": meta reaches the level sooner but trains larger networks on the way (median "
        f"{size['meta'] / 1e6:.2f} MFLOPs per trained network against bo's "
        f"{size['bo'] / 1e6:.2f}, from the table), so its full budget costs more."
    )
    lines = [
        f"Per pair (held-out task, seed): *level* = cold `bo`'s best validation accuracy after "
        f"{args.n_trials} trainings; the CPU seconds each arm took to reach it; the test "
        "accuracy of each arm's best-by-validation network (reported, never searched on); the "
        "CPU seconds of the whole search.",
        "",
        "| held-out task | seed | level | bo: s to level | meta: s to level | ratio | "
        "bo best: test | meta best: valid | meta best: test | bo total s | meta total s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *bullets,
        "",
    ]
    return "\n".join(lines), numbers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    if args.load is not None:
        runs = json.loads(args.load.read_text())["runs"]
    else:
        jobs = [
            {"task": t, "seed": s, "arm": a, "n_trials": args.n_trials, "memory": args.memory,
             "epochs": args.epochs}
            for t in args.tasks for s in range(args.seeds) for a in ARMS
        ]  # fmt: skip
        runs = []
        n_kept = 0
        if args.save.exists() and not args.fresh:
            # A run cut off by a session keeps its finished searches: pick up after them.
            saved = json.loads(args.save.read_text())["runs"]
            wanted = {(j["task"], j["seed"], j["arm"]) for j in jobs}
            runs = [r for r in saved if (r["task"], r["seed"], r["arm"]) in wanted]
            done = {(r["task"], r["seed"], r["arm"]) for r in runs}
            jobs = [j for j in jobs if (j["task"], j["seed"], j["arm"]) not in done]
            n_kept = len(runs)
            print(f"{len(runs)} searches kept from {args.save}", file=sys.stderr)
        print(f"{len(jobs)} searches on {args.n_jobs} process(es)", file=sys.stderr)
        with ProcessPoolExecutor(args.n_jobs) as pool:
            for run in pool.map(search, jobs):
                runs.append(run)
                print(run_line(run), file=sys.stderr)
                if not args.no_write:
                    args.save.write_text(json.dumps({"runs": runs}))
    wall = time.perf_counter() - t0
    body, numbers = report(runs, args)
    print(body)
    print(json.dumps(numbers), file=sys.stderr)
    if not args.no_write:
        from metanas.benchmarking import write_section

        head = header(
            "Meta-learning with real training on the task family (meta-family-real)",
            {
                "held out": ", ".join(args.tasks) + " (every third task of the family)",
                "memory": f"per held-out task: the other nine tasks, one evolution search of "
                f"{args.memory} table look-ups each (draw = seed mod {MEMORY_DRAWS}, as in "
                "meta-family)",
                "search": f"{args.n_trials} real trainings per search (the table's trainer "
                f"settings, training seed 10000 + seed, one torch thread), {args.seeds} seeds, "
                f"{args.n_jobs} searches side by side; "
                + (
                    f"{wall:.0f} s wall time in the last sitting"
                    + (
                        f" ({n_kept} searches saved by earlier sittings kept)"
                        if n_kept
                        else " (every search run in it)"
                    )
                    if args.load is None
                    else f"reported from {args.load.name}: the {numbers['pairs']} pairs that "
                    "finished (a run cut off keeps the searches it finished)"
                    + ("" if args.wall_s is None else f"; {args.wall_s:.0f} s wall time")
                ),
            },
        )
        write_section(args.output, SECTION, head + "\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
