"""Ray executor: trials per minute with 1 and 2 workers, and metanas's overhead per trial.

Each trial sleeps ``--eval-s`` seconds (1 s), so the machine's cores are not what limits the
rate: what the numbers show is how well the study keeps its Ray workers busy. A local Ray
cluster (2 CPUs, one per trial) is started once and warmed up (its worker processes
started) before anything is timed; each run is a new study of ``--trials`` trials on a SQLite
file, with the random strategy.

Per run: trials per minute = trials / wall time of ``optimize`` x 60; overhead per trial =
(workers x wall time - the evaluations' own time) / trials, the worker time a trial costs
beyond its evaluation (ask, storage writes, Ray's scheduling and transfer, idle slots). Prints
the table and writes the ``ray-scaling`` section of docs/benchmarks.md.

    python benchmarks/ray_scaling.py
    python benchmarks/ray_scaling.py --trials 10 --repeats 1 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header

import metanas
from metanas import Architecture, Result
from metanas.benchmarking import write_section
from metanas.evaluation import Evaluator
from metanas.execution import RayExecutor

SECTION = "ray-scaling"
#: The issue's targets: 2 workers give >= 1.8x the trials per minute of 1; overhead <= 20 ms.
TARGET_RATIO = 1.8
TARGET_OVERHEAD_MS = 20.0
SPACE = metanas.SearchSpace({"a": list(range(100)), "b": list(range(100))})


class Sleepy(Evaluator):
    """A trial that only waits: ``eval_s`` seconds of sleep, measured."""

    def __init__(self, eval_s: float) -> None:
        self.eval_s = eval_s

    def evaluate(self, arch: Architecture, *, budget: float | None = None) -> Result:
        start = time.perf_counter()
        time.sleep(self.eval_s)
        took = time.perf_counter() - start
        return Result(metrics={"score": float(arch["a"] + arch["b"]), "eval_s": took})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20, help="trials per study (20)")
    p.add_argument("--repeats", type=int, default=5, help="studies per worker count (5)")
    p.add_argument(
        "--profile", action="store_true", help="print a cProfile of the driver of one run"
    )
    p.add_argument("--eval-s", type=float, default=1.0, help="seconds each trial sleeps (1)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    return p.parse_args(argv)


def run(
    n_workers: int, trials: int, eval_s: float, seed: int, profile: cProfile.Profile | None = None
) -> dict[str, float]:
    """One study on Ray: trials per minute and the overhead per trial in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        study = metanas.create_study(
            name=f"ray-{n_workers}-{seed}", storage=f"sqlite:///{Path(tmp) / 'ray.db'}",
            space=SPACE, strategy="random", seed=seed, metric="score",
        )  # fmt: skip
        with RayExecutor(Sleepy(eval_s), n_workers=n_workers) as ex:
            if profile is not None:
                profile.enable()
            start = time.perf_counter()
            study.optimize(executor=ex, n_trials=trials)
            wall = time.perf_counter() - start
            if profile is not None:
                profile.disable()
        evals = [t.metrics["eval_s"] for t in study.trials]
        if len(evals) != trials:
            raise RuntimeError(f"expected {trials} finished trials, got {len(evals)}")
    return {
        "per_min": trials / wall * 60.0,
        "overhead_ms": (n_workers * wall - sum(evals)) / trials * 1e3,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2,
        logging_level=logging.WARNING,
    )  # fmt: skip
    # The module's functions travel by value: Ray's workers do not import this script.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        run(2, 4, 0.05, seed=99)  # warm-up: Ray starts its worker processes
        if args.profile:
            # The driver's own time per trial, by function (evaluations of 0 s: all overhead).
            prof = cProfile.Profile()
            run(1, 100, 0.0, seed=98, profile=prof)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
            print("Driver profile, 1 worker, 100 trials of 0 s:\n" + out.getvalue(), flush=True)
        results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        for seed in range(args.repeats):
            for n_workers in (1, 2):
                r = run(n_workers, args.trials, args.eval_s, seed)
                results[n_workers].append(r)
                print(
                    f"{n_workers} worker(s), seed {seed}: {r['per_min']:.1f} trials/min, "
                    f"overhead {r['overhead_ms']:.1f} ms/trial, {r['wall_s']:.1f} s",
                    flush=True,
                )
    finally:
        ray.shutdown()

    def mean(n: int, key: str) -> float:
        return float(np.mean([r[key] for r in results[n]]))

    ratio = mean(2, "per_min") / mean(1, "per_min")
    # Paired by seed: a bootstrap over the seeds of the ratio of mean rates.
    rng = np.random.default_rng(0)
    one = np.array([r["per_min"] for r in results[1]])
    two = np.array([r["per_min"] for r in results[2]])
    picks = rng.integers(len(one), size=(10_000, len(one)))
    boot = two[picks].mean(1) / one[picks].mean(1)
    lo, hi = np.percentile(boot, [5, 95])
    worst_overhead = max(r["overhead_ms"] for rs in results.values() for r in rs)
    ratio_ok = ratio >= TARGET_RATIO
    overhead_ok = worst_overhead <= TARGET_OVERHEAD_MS
    table = [
        "| Ray workers | trials/min (mean) | overhead ms/trial (mean) | overhead ms/trial "
        "(median run) | overhead ms/trial (worst run) | wall s per study (mean) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in (1, 2):
        over = [r["overhead_ms"] for r in results[n]]
        table.append(
            f"| {n} | {mean(n, 'per_min'):.1f} | {mean(n, 'overhead_ms'):.1f} | "
            f"{float(np.median(over)):.1f} | {max(over):.1f} | {mean(n, 'wall_s'):.1f} |"
        )
    verdict = [
        f"- 2 workers / 1 worker: **{ratio:.2f}x** the trials per minute (90 % bootstrap "
        f"interval over the seeds {lo:.2f}-{hi:.2f}; target >= {TARGET_RATIO:g}x): "
        f"{'pass' if ratio_ok else '**FAIL**'}.",
        f"- Overhead per trial, worst run: **{worst_overhead:.1f} ms** (target <= "
        f"{TARGET_OVERHEAD_MS:g} ms): {'pass' if overhead_ok else '**FAIL**'}.",
    ]
    settings = {
        "setup": (
            f"local Ray {ray.__version__} cluster, 2 CPUs, 1 CPU per trial; each trial sleeps "
            f"{args.eval_s:g} s; {args.trials} trials per study, {args.repeats} studies per "
            "worker count (seeds 0.."
            f"{args.repeats - 1}), random strategy, a SQLite file per study"
        ),
    }
    text = "\n".join(
        [
            header("Ray executor: 1 and 2 workers", settings),
            "Trials per minute: trials / wall time of `Study.optimize` x 60 (Ray started and "
            "its workers warmed up before). Overhead per trial: (workers x wall time - the "
            "evaluations' own time) / trials: the worker time a trial costs beyond its "
            "evaluation: the strategy's ask, the storage writes, Ray's scheduling and transfer, "
            "and any slot left idle. Numbers as measured, on a shared machine.",
            "",
            *table,
            "",
            *verdict,
            "",
        ]
    )
    print()
    print(text)
    if not args.no_write:
        write_section(args.output, SECTION, text)
        print(f"Wrote section {SECTION!r} of {args.output}.")
    return 0 if ratio_ok and overhead_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
