"""Time per trial of a small real-training search at 1 and 2 torch threads, idle and busy.

Each configuration (threads x load) runs ``--repeats`` searches of ``--trials`` trials
(``metanas.search.prepare_search(data=..., space=..., threads=...)``, in-memory SQLite,
seeds 0..repeats-1, the same seeds in every configuration, so each configuration trains
the same networks). "busy" starts one other process spinning on a core
(``python -c 'while True: pass'``) for the duration of the search, as any other job on
a shared machine would. Per trial = the search's wall time / its trials; the table gives
the median over the repeats. Prints the table and writes the ``threads`` section of
docs/benchmarks.md.

    python benchmarks/threads.py
    python benchmarks/threads.py --threads 1,2,4 --repeats 5 --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header

from metanas.benchmarking import write_section

SECTION = "threads"
LOADS = ("idle", "busy")


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="digits", help="built-in data set (digits)")
    p.add_argument("--space", default="mlp", help="trainable space (mlp)")
    p.add_argument("--trials", type=int, default=3, help="trials per search (3)")
    p.add_argument("--epochs", type=int, default=10, help="most epochs per trial (10)")
    p.add_argument("--repeats", type=int, default=5, help="searches per configuration (5)")
    p.add_argument("--threads", type=_ints, default=[1, 2], help="torch threads to time (1,2)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    return p.parse_args(argv)


def one_search(args: argparse.Namespace, threads: int, load: str, seed: int) -> dict[str, Any]:
    """One search of ``args.trials`` trials; its wall time per trial and best accuracy."""
    from metanas.search import prepare_search

    run = prepare_search(
        data=args.data, space=args.space, n_trials=args.trials, epochs=args.epochs, seed=seed,
        threads=threads, storage="sqlite://", study_name=f"threads-{threads}-{load}-s{seed}",
        device="cpu",
    )  # fmt: skip
    if run.n_new != args.trials:
        raise RuntimeError(f"study {run.study.name!r} exists already; nothing would be timed")
    start = time.perf_counter()
    summary = run.run()
    wall = time.perf_counter() - start
    return {
        "per_trial_s": wall / run.n_new,
        "best": (summary["best"] or {}).get("value"),
    }


def measure(args: argparse.Namespace, threads: int, load: str) -> dict[str, Any]:
    """The repeats of one configuration, with a spinning process alive during each when busy."""
    rows = []
    for seed in range(args.repeats):
        busy = None
        if load == "busy":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)  # let it reach its core
        try:
            rows.append(one_search(args, threads, load, seed))
        finally:
            if busy is not None:
                busy.terminate()
                busy.wait()
        print(f"  threads={threads} {load} seed={seed}: {rows[-1]['per_trial_s']:.2f} s/trial")
    times = [r["per_trial_s"] for r in rows]
    return {
        "threads": threads,
        "load": load,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times": times,
        "best": [r["best"] for r in rows],
    }


def paired_ratio(times: list[float], base: list[float]) -> tuple[float, float, float]:
    """Median over seeds of ``times[i] / base[i]`` (the same seed at another thread count), with
    a 90 % bootstrap interval over the seeds."""
    ratios = np.asarray(times) / np.asarray(base)
    rng = np.random.default_rng(0)
    boot = np.median(rng.choice(ratios, size=(10_000, len(ratios)), replace=True), axis=1)
    return float(np.median(ratios)), float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))


def to_markdown(args: argparse.Namespace, results: list[dict[str, Any]], load1: str) -> str:
    settings = {
        "search": (
            f"`{args.data}`, `{args.space}` space, {args.trials} trials x {args.repeats} repeats "
            f"(seeds 0..{args.repeats - 1}), at most {args.epochs} epochs per trial, random "
            "strategy, CPU"
        ),
        "busy": "one other process spinning (`python -c 'while True: pass'`) during each search",
        "load average before": load1,
    }
    base = {r["load"]: r["times"] for r in results if r["threads"] == 1}
    lines = [
        header("Threads: time per trial, idle and with one busy process", settings),
        "| torch threads | load | per trial (s), median | min .. max | vs 1 thread, same load "
        "and seed: median [90 % bootstrap] | best valid acc per seed |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["load"] in base:
            mid, lo, hi = paired_ratio(r["times"], base[r["load"]])
            ratio = f"{mid:.2f}x [{lo:.2f}, {hi:.2f}]"
        else:
            ratio = "-"
        best = ", ".join("-" if b is None else f"{100 * b:.1f} %" for b in r["best"])
        lines.append(
            f"| {r['threads']} | {r['load']} | {r['median_s']:.2f} | {r['min_s']:.2f} .. "
            f"{r['max_s']:.2f} | {ratio} | {best} |"
        )
    same = len({tuple(r["best"]) for r in results}) == 1
    accuracy = (
        "The best accuracies are the same at every thread count."
        if same
        else "The best accuracies can differ in the last digits between thread counts: torch "
        "sums in another order with more threads, so training is reproducible for one thread "
        "count, not across them."
    )
    lines += [
        "",
        "The default is 1 thread per trained network (`--threads`, `threads=`; "
        f'[training.md](training.md#threads)). {accuracy} The machine is shared, so "idle" '
        "means no process started by this script (see the load average above: other jobs may "
        "run, and a second thread then waits for them as it does for the busy process).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load1 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results = []
    for load in LOADS:
        for threads in args.threads:
            results.append(measure(args, threads, load))
    text = to_markdown(args, results, load1)
    print(text)
    if not args.no_write:
        write_section(args.output, SECTION, text)
        print(f"Wrote section {SECTION!r} of {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
