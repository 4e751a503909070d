"""Per-trial overhead of metanas (ask + tell + the SQLite write) at 1,000 trials.

For each strategy, ``--repeats`` studies of ``--trials`` trials each run on
NAS-Bench-Graph (a table look-up, so the evaluation itself costs microseconds)
with a fresh SQLite *file* in a temporary directory, opened as metanas opens
it (WAL, synchronous=NORMAL). Per trial, overhead = wall time of the study's
loop iteration - the evaluator's ``evaluate()`` time. Prints the table and
writes the ``overhead`` section of docs/benchmarks.md.

    python benchmarks/overhead.py
    python benchmarks/overhead.py --profile random    # cProfile of one run, no file written
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header

from metanas.benchmarking import run_one, write_section

SECTION = "overhead"
#: The issue's target: median overhead per trial, in ms, for these strategies.
TARGET_MS = 2.0
TARGET_STRATEGIES = ("random", "evolution")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=1000, help="trials per study (1000)")
    p.add_argument("--repeats", type=int, default=3, help="studies (seeds 0..N-1) per strategy")
    p.add_argument(
        "--strategies", type=_csv, default=["random", "evolution", "local", "tpe"],
        help="comma-separated strategies (random,evolution,local,tpe)",
    )  # fmt: skip
    p.add_argument("--dataset", default="cora", help="NAS-Bench-Graph data set (cora)")
    p.add_argument(
        "--no-memory", action="store_true", help="skip the in-memory SQLite comparison column"
    )
    p.add_argument("--profile", metavar="STRATEGY", help="cProfile one run of STRATEGY; no file")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    return p.parse_args(argv)


def measure(strategy: str, *, dataset: str, trials: int, seed: int, storage: str) -> np.ndarray:
    """Per-trial overhead in ms of one study."""
    r = run_one(dataset=dataset, strategy=strategy, seed=seed, n_trials=trials, storage=storage)
    return r.overhead_s * 1e3


def profile(strategy: str, dataset: str, trials: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'overhead.db'}"
        run_one(dataset=dataset, strategy=strategy, seed=99, n_trials=10, storage=url)  # warm up
        prof = cProfile.Profile()
        prof.enable()
        r = run_one(dataset=dataset, strategy=strategy, seed=0, n_trials=trials, storage=url)
        prof.disable()
    print(
        f"{strategy}: median overhead {np.median(r.overhead_s) * 1e3:.3f} ms/trial under cProfile "
        "(profiling slows Python code down; compare shares, not absolute times)\n"
    )
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(30)
        print(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        profile(args.profile, args.dataset, args.trials)
        return 0
    rows = []
    start = time.perf_counter()
    for strategy in args.strategies:
        file_ms, mem_ms = [], []
        for seed in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'overhead.db'}"
                file_ms.append(
                    measure(
                        strategy, dataset=args.dataset, trials=args.trials, seed=seed, storage=url
                    )
                )
            if not args.no_memory:
                mem_ms.append(
                    measure(
                        strategy,
                        dataset=args.dataset,
                        trials=args.trials,
                        seed=seed,
                        storage="sqlite://",
                    )
                )
        f = np.concatenate(file_ms)
        last = np.concatenate([x[-min(100, len(x)) :] for x in file_ms])
        median = float(np.median(f))
        target = strategy in TARGET_STRATEGIES
        rows.append(
            {
                "strategy": strategy,
                "median": median,
                "p90": float(np.percentile(f, 90)),
                "last100": float(np.median(last)),
                "memory": float(np.median(np.concatenate(mem_ms))) if mem_ms else None,
                "target": f"<= {TARGET_MS:g}" if target else "-",
                "pass": ("pass" if median <= TARGET_MS else "**FAIL**") if target else "-",
            }
        )
        print(f"{strategy}: median {median:.3f} ms, p90 {rows[-1]['p90']:.3f} ms", flush=True)
    wall_s = time.perf_counter() - start

    n_last = min(100, args.trials)
    table = [
        "| strategy | median ms/trial | p90 ms/trial | median, last "
        f"{n_last} trials | in-memory SQLite median | target (median ms) | result |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        memory = "-" if r["memory"] is None else f"{r['memory']:.3f}"
        table.append(
            f"| `{r['strategy']}` | {r['median']:.3f} | {r['p90']:.3f} | {r['last100']:.3f} | "
            f"{memory} | {r['target']} | {r['pass']} |"
        )
    settings = {
        "setup": (
            f"NAS-Bench-Graph {args.dataset} (table look-up), {args.trials:,} trials per study, "
            f"{args.repeats} studies (seeds 0..{args.repeats - 1}) per strategy, run one after "
            f"another in one process; a fresh SQLite file per study in a temporary directory "
            f"(WAL, synchronous=NORMAL); {wall_s:.0f} s wall time"
        ),
    }
    text = "\n".join(
        [
            header("Overhead per trial (ask + tell + SQLite write)", settings),
            "Per trial: wall time of one iteration of `Study.optimize` (ask: strategy proposal "
            "and the trial's INSERT; tell: the result's UPDATE and the strategy update; each "
            "write its own committed transaction) minus the evaluator's `evaluate()` time. "
            f"Median and 90th percentile over all {args.trials * args.repeats:,} trials of a "
            f"strategy; the target (median <= {TARGET_MS:g} ms for random and evolution) is "
            "from the issue. Numbers as measured, on a shared machine.",
            "",
            *table,
            "",
        ]
    )
    print()
    print(text)
    if not args.no_write:
        write_section(args.output, SECTION, text)
        print(f"Wrote section {SECTION!r} of {args.output}.")
    failed = [r["strategy"] for r in rows if r["pass"] == "**FAIL**"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
