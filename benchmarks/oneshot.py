"""One-shot search on MNIST-1D: DARTS (first and second order), latency-aware DARTS, ENAS.

Every run searches the ``cnn`` supernet (4 blocks at 32 channels, strides
1, 2, 1, 2, residual, the default skeleton) on MNIST-1D's training split
(architecture on its validation split), derives the discrete network,
retrains it from scratch with ``TrainEvaluator`` (20 epochs, early stopping
on validation accuracy) and reports its test accuracy, with the wall time of
the search and of the retraining. The latency-aware variant adds the
ProxylessNAS-style penalty for ``--max-latency-ms`` (batch 1, this machine)
and measures the derived network's latency afterwards.

Issue 7's target: the retrained DARTS network reaches >= 95 % test accuracy
in <= 1/3 of the wall time the black-box search of ``benchmarks/real_training.py``
needed for the same accuracy (read from ``benchmarks/results/real_training.json``
when it exists).

    python benchmarks/oneshot.py                 # everything (~11 min on 2 busy cores)
    python benchmarks/oneshot.py --quick --no-write
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

from metanas.benchmarking import write_section
from metanas.oneshot import run_oneshot
from metanas.tasks import load_task

SECTION = "oneshot"
TARGET = 0.95
METHOD_NAMES = {
    "darts": "DARTS, first order",
    "darts-fast": "DARTS, first order, short (--fast-epochs, --fast-retrain-epochs)",
    "darts2": "DARTS, second order",
    "darts-latency": "DARTS, first order, latency limit",
    "enas": "ENAS",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="darts,darts-fast,darts2,darts-latency,enas")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--space", choices=("cnn", "nb201"), default="cnn")
    p.add_argument("--epochs", type=int, default=5, help="search epochs")
    p.add_argument("--retrain-epochs", type=int, default=20)
    p.add_argument("--fast-epochs", type=int, default=2, help="search epochs of the *-fast methods")
    p.add_argument(
        "--fast-retrain-epochs", type=int, default=8, help="retraining epochs of *-fast methods"
    )
    p.add_argument("--max-latency-ms", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--num-samples", type=int, default=None, help="MNIST-1D size (default 5000)")
    p.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--raw", type=Path, default=None, help="raw JSON (default: results/)")
    p.add_argument(
        "--reference",
        type=Path,
        default=REPO / "benchmarks" / "results" / "real_training.json",
        help="raw results of benchmarks/real_training.py (black-box time to 95 %%)",
    )
    p.add_argument(
        "--load", type=Path, default=None,
        help="report the runs of an earlier --raw file instead of running (e.g. with another "
        "--reference)",
    )  # fmt: skip
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.raw is None:
        stem = "oneshot" if args.space == "cnn" else f"oneshot_{args.space}"
        args.raw = REPO / "benchmarks" / "results" / f"{stem}.json"
    if args.quick:
        args.seeds, args.epochs, args.retrain_epochs, args.num_samples = 1, 1, 2, 1000
    return args


def one_run(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    kw = {} if args.num_samples is None else {"num_samples": args.num_samples}
    task = load_task("mnist1d", seed=seed, **kw)
    limit = args.max_latency_ms if method == "darts-latency" else None
    fast = method.endswith("-fast")
    start = time.perf_counter()
    r = run_oneshot(
        task, args.space, method.removesuffix("-fast").removesuffix("-latency"),
        epochs=args.fast_epochs if fast else args.epochs, seed=seed,
        max_latency_ms=limit, storage="sqlite://", study_name=f"oneshot-{method}-s{seed}",
        retrain_epochs=args.fast_retrain_epochs if fast else args.retrain_epochs,
        threads=args.threads,
    )  # fmt: skip
    wall = time.perf_counter() - start
    row = {
        "method": method, "seed": seed, "arch": r.arch_string, "search_s": r.search_s,
        "retrain_s": r.retrain_s, "wall_s": wall, "valid_accuracy": r.valid_accuracy,
        "test_accuracy": r.test_accuracy, "latency_ms": r.latency_ms,
        "estimated_latency_ms": r.estimated_latency_ms, "max_latency_ms": r.max_latency_ms,
        "meets_limit": r.meets_limit, "latency_weight": r.latency_weight,
        "search_epochs": len(r.history), "data": task.summary(),
    }  # fmt: skip
    print(
        f"{method} seed {seed}: test {r.test_accuracy:.4f} (valid {r.valid_accuracy:.4f}), "
        f"search {r.search_s:.0f} s + retrain {r.retrain_s:.0f} s, latency {r.latency_ms:.3f} ms"
        f"{'' if limit is None else f' (limit {limit}: {r.meets_limit})'}  {r.arch_string}",
        flush=True,
    )
    return row


def black_box_reference(path: Path) -> float | None:
    """Median seconds the black-box search needed to reach 95 % test accuracy (if recorded)."""
    if not path.exists():
        return None
    try:
        runs = json.loads(path.read_text())["mnist1d"]
        times = [r.get("time_to_target_s") for r in runs]
    except (KeyError, TypeError, ValueError):
        return None
    if not times or any(t is None for t in times):
        return None
    return float(statistics.median(times))


def _cell(arch: str) -> str:
    """An architecture string as a Markdown table cell (``|`` escaped)."""
    return "`" + arch.replace("|", "\\|") + "`"


def _target_line(
    lines: list[str], darts: list[dict[str, Any]], name: str, ref: float | None
) -> None:
    if not darts:
        return

    tot = statistics.median(r["search_s"] + r["retrain_s"] for r in darts)
    acc = statistics.median(r["test_accuracy"] for r in darts)
    text = (
        f"**Target** (>= 95 % test accuracy in <= 1/3 of the black-box search's time): "
        f"first-order DARTS (`{name}`) reaches a median {100 * acc:.1f} % in a median {tot:.0f} s "
        "(search + retraining). "
    )
    if ref is not None:
        verdict = "met" if acc >= TARGET and tot <= ref / 3 else "not met"
        text += (
            f"The black-box search (`benchmarks/real_training.py`) needed a median "
            f"{ref:.0f} s to reach 95 %: ratio {tot / ref:.2f}, target {verdict}."
        )
    else:
        text += (
            "Compare with the black-box search's time to 95 % in the real-training "
            "section (run `benchmarks/real_training.py` first to have it filled in here)."
        )
    lines.append(text)


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, ref: float | None) -> str:
    import torch

    from metanas.evaluation.hardware import hardware_name

    torch.set_num_threads(args.threads)  # the threads the runs measured latency with
    lines = [
        header(
            "One-shot search on MNIST-1D (DARTS, ENAS, latency-aware DARTS)",
            {
                "setting": (
                    (
                        "`cnn` supernet (4 blocks x 32 channels, strides 1/2/1/2, residual), "
                        if args.space == "cnn"
                        else "`nb201` supernet (16 channels, 3 stages of 1 cell), "
                    )
                    + f"{args.epochs} search epochs, retrain {args.retrain_epochs} epochs "
                    f"(TrainEvaluator, early stopping), {args.seeds} seeds, "
                    f"{args.threads} torch thread(s)"
                ),
                "latency machine": hardware_name("cpu"),
            },
        ),
        f"Task: {rows[0]['data'] if rows else 'mnist1d'}. Search: weights on the training "
        "split, architecture on the validation split; the derived network is retrained from "
        "scratch and tested on the test split. Times are wall-clock seconds on a shared "
        "machine.",
        "",
        "| method | seeds | test accuracy (median, min-max) | >= 95 % | search s | "
        "retrain s | total s (median) | latency ms | limit met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    methods = [m for m in METHOD_NAMES if any(r["method"] == m for r in rows)]
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        acc = [r["test_accuracy"] for r in rs]
        tot = [r["search_s"] + r["retrain_s"] for r in rs]
        met = [r["meets_limit"] for r in rs if r["meets_limit"] is not None]
        lines.append(
            f"| {METHOD_NAMES[m]} | {len(rs)} | {100 * statistics.median(acc):.1f} % "
            f"({100 * min(acc):.1f}-{100 * max(acc):.1f}) | "
            f"{sum(a >= TARGET for a in acc)}/{len(acc)} | "
            f"{statistics.median(r['search_s'] for r in rs):.0f} | "
            f"{statistics.median(r['retrain_s'] for r in rs):.0f} | "
            f"{statistics.median(tot):.0f} | "
            f"{statistics.median(r['latency_ms'] for r in rs):.3f} | "
            f"{f'{sum(met)}/{len(met)}' if met else '-'} |"
        )
    lines += ["", "Per run:", "", "| method | seed | architecture | test | total s | latency ms |"]
    lines.append("|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seed']} | {_cell(r['arch'])} | "
            f"{100 * r['test_accuracy']:.1f} % | "
            f"{r['search_s'] + r['retrain_s']:.0f} | {r['latency_ms']:.3f} |"
        )
    lines.append("")
    for variant in ("darts", "darts-fast"):
        _target_line(lines, [r for r in rows if r["method"] == variant], variant, ref)
    lat = [r for r in rows if r["method"] == "darts-latency"]
    if lat:
        lines += [
            "",
            f"**Latency**: limit {args.max_latency_ms} ms (batch 1, given up front); the "
            "derived network's latency is measured after the search (median of 30 runs), "
            "with up to 2 re-derivations at a lower table target when it is over the limit. "
            "Penalty weight "
            + ", ".join(sorted({f"{r['latency_weight']:g}" for r in lat}))
            + "; the derivation picks the most likely network within the limit, judging "
            "operation families (convolution, pooling, identity) by their total mass. "
            f"Met in {sum(bool(r['meets_limit']) for r in lat)}/{len(lat)} runs.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHOD_NAMES))
    if unknown:
        raise SystemExit(f"Unknown method(s) {unknown}; choose from {sorted(METHOD_NAMES)}.")
    start = time.perf_counter()
    if args.load is not None:
        earlier = json.loads(args.load.read_text())
        rows, total = earlier["runs"], float(earlier["total_s"])
    else:
        rows = [one_run(m, seed, args) for m in methods for seed in range(args.seeds)]
        total = time.perf_counter() - start
    print(f"all runs: {total:.0f} s", flush=True)
    ref = black_box_reference(args.reference)
    md = markdown(rows, args, ref)
    print(md)
    if not args.no_write:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps({"runs": rows, "total_s": total}, indent=1))
        section = SECTION if args.space == "cnn" else f"{SECTION}-{args.space}"
        write_section(args.output, section, md)


if __name__ == "__main__":
    main()
