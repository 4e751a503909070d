"""Training precision: float32 against bfloat16 autocast, speed and accuracy, paired.

Each network is trained twice with the same seed (the same initial weights and data order),
once with ``TrainEvaluator(precision="fp32")`` and once with ``precision="bf16"``, one torch
thread, nothing else running. Reported: training seconds per epoch (the trainer's
``train_time_s`` over its epochs) and the test accuracy of the last epoch's network; the
speed-up and the accuracy difference are paired per (task, network, seed), with a 95 %
percentile-bootstrap interval of the median.

    python benchmarks/precision.py                 # ~10 min on 2 cores
    python benchmarks/precision.py --quick --no-write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, md_code, median_ci

SECTION = "precision"
#: (task, load_task arguments, networks of the ``cnn`` space without a stem)
CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "fashion-mnist", {"n_train": 12_000, "n_test": 5_000},
        (
            "conv3x32 > max_pool/2 > conv3x64 > max_pool/2 | relu, batch-norm, plain, flatten-head",
            "conv5x32/2 > conv3x64 > conv3x128/2 | relu, batch-norm, plain, avg-head",
        ),
    ),
    (
        "mnist1d", {},
        (
            "conv5x32 > conv5x64/2 > conv3x64/2 | relu, batch-norm, plain, avg-head",
            "conv7x64/2 > conv5x128/2 | gelu, batch-norm, residual, max-head",
        ),
    ),
]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, small data")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 1
    return args


def train_once(task: Any, space: Any, arch: Any, seed: int, precision: str, args: Any) -> dict:
    from metanas.evaluation.train import TrainEvaluator

    ev = TrainEvaluator(
        task, space, max_epochs=args.epochs, batch_size=args.batch_size, patience=None,
        measure_latency=False, threads=1, seed=seed, device="cpu", precision=precision,
    )  # fmt: skip
    res = ev.evaluate(arch)
    return {
        "s_per_epoch": res.metrics["train_time_s"] / res.metrics["epochs"],
        "test_accuracy": res.test_metrics["test_accuracy"],
        "valid_accuracy": res.metrics["valid_accuracy"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from metanas.evaluation.train import bf16_native
    from metanas.spaces.trainable import CNNSpace
    from metanas.tasks import load_task

    native = bf16_native(torch.device("cpu"))
    space = CNNSpace(max_blocks=4, stem_channels=0)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for name, kw, archs in CASES:
        if args.quick:
            kw = {**kw, "n_train": 1000, "n_test": 500} if name == "fashion-mnist" else kw
        for seed in range(args.seeds):
            task = load_task(name, seed=seed, **kw)
            for text in archs:
                arch = space.parse(text)
                r = {"task": name, "arch": text, "seed": seed}
                for precision in ("fp32", "bf16"):
                    r[precision] = train_once(task, space, arch, seed, precision, args)
                rows.append(r)
                print(
                    f"{name} seed {seed} {text[:40]}: fp32 {r['fp32']['s_per_epoch']:.2f} s/ep "
                    f"{r['fp32']['test_accuracy']:.4f}; bf16 {r['bf16']['s_per_epoch']:.2f} s/ep "
                    f"{r['bf16']['test_accuracy']:.4f}",
                    flush=True,
                )
    wall = time.perf_counter() - start
    lines = [
        header(
            "Training precision: float32 against bfloat16 autocast",
            {
                "runs": f"{len(rows)} pairs (task x network x seed), {args.epochs} epochs each, "
                f"batch {args.batch_size}, one torch thread, {wall / 60:.1f} min in all",
                "hardware": f"bfloat16 in hardware (AVX512-BF16 or AMX): {native}",
                "data": "Fashion-MNIST: 12,000 training images (10 % of them validation), "
                "5,000 test; MNIST-1D: the default task",
            },
        ),
        "Per (task, network): medians over seeds. *speed-up*: fp32's seconds per epoch over "
        "bf16's, per pair; *test diff*: bf16 minus fp32 test accuracy, per pair (points); "
        "brackets: 95 % bootstrap interval of the median over pairs.",
        "",
        "| task | network | seeds | fp32 s/epoch | bf16 s/epoch | speed-up | fp32 test | "
        "bf16 test | test diff (points) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, _, archs in CASES:
        for text in archs:
            rs = [r for r in rows if r["task"] == name and r["arch"] == text]
            if not rs:
                continue
            f32 = statistics.median(r["fp32"]["s_per_epoch"] for r in rs)
            b16 = statistics.median(r["bf16"]["s_per_epoch"] for r in rs)
            sp = median_ci([r["fp32"]["s_per_epoch"] / r["bf16"]["s_per_epoch"] for r in rs])
            dd = median_ci(
                [100 * (r["bf16"]["test_accuracy"] - r["fp32"]["test_accuracy"]) for r in rs]
            )
            lines.append(
                f"| {name} | {md_code(text)} | {len(rs)} | {f32:.2f} | {b16:.2f} | "
                f"{sp[0]:.2f} [{sp[1]:.2f}, {sp[2]:.2f}] | "
                f"{100 * statistics.median(r['fp32']['test_accuracy'] for r in rs):.2f} % | "
                f"{100 * statistics.median(r['bf16']['test_accuracy'] for r in rs):.2f} % | "
                f"{dd[0]:+.2f} [{dd[1]:+.2f}, {dd[2]:+.2f}] |"
            )
    for name in dict.fromkeys(r["task"] for r in rows):
        rs = [r for r in rows if r["task"] == name]
        sp = median_ci([r["fp32"]["s_per_epoch"] / r["bf16"]["s_per_epoch"] for r in rs])
        dd = median_ci(
            [100 * (r["bf16"]["test_accuracy"] - r["fp32"]["test_accuracy"]) for r in rs]
        )
        lines.append("")
        lines.append(
            f"- {name}, all {len(rs)} pairs: speed-up {sp[0]:.2f}x [{sp[1]:.2f}, {sp[2]:.2f}]; "
            f"test accuracy bf16 minus fp32 {dd[0]:+.2f} points [{dd[1]:+.2f}, {dd[2]:+.2f}]"
        )
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    if not args.no_write:
        from metanas.benchmarking import write_section

        write_section(args.output, SECTION, text)
        print(f"Wrote section {SECTION!r} of {args.output}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
