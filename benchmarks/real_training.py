"""Real training: searches that train networks on MNIST-1D and digits (issue 5 targets).

Parts (each can be run alone with --parts):

* ``mnist1d``: MNIST-1D with the package's default generation arguments
  (4,000 train / 1,000 test; validation carved from the 4,000), the ``cnn``
  space, ``--mnist-minutes`` of wall time per seed on a 2-worker local process
  pool. The best-found architecture is the trial with the best *validation*
  accuracy; its test accuracy is reported, with the curve of that value
  against wall time. Target: >= 95 % (median of the seeds) within 15 minutes.
* ``digits``: scikit-learn's 8x8 digits, ``cnn`` space, ``--digits-minutes``.
  Target: >= 98 % test accuracy within 5 minutes.
* ``latency``: MNIST-1D under ``--max-latency-ms`` (batch 1, this machine);
  the returned model's latency is measured again after the search.
* ``proxies``: Spearman correlation of zero-cost proxies (at initialisation,
  one batch) with trained validation/test accuracy on a random sample of
  MNIST-1D ``cnn`` architectures.

    python benchmarks/real_training.py                 # everything (~45 min on 2 cores)
    python benchmarks/real_training.py --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, md_code, relpath

import metanas
from metanas.benchmarking import write_section
from metanas.evaluation.train import TrainEvaluator
from metanas.tasks import load_task

SECTION = "real-training"
MNIST_TARGET, MNIST_MINUTES_TARGET = 0.95, 15.0
DIGITS_TARGET, DIGITS_MINUTES_TARGET = 0.98, 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="mnist1d,digits,latency,proxies")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--strategy", default="evolution")
    p.add_argument("--mnist-minutes", type=float, default=8.0)
    p.add_argument("--digits-minutes", type=float, default=3.0)
    p.add_argument("--latency-minutes", type=float, default=5.0)
    p.add_argument(
        "--max-latency-ms",
        type=float,
        default=None,
        help="limit for the latency part; default: 1/2 of the unconstrained best's",
    )
    p.add_argument("--proxy-archs", type=int, default=40)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument(
        "--epochs", type=int, default=None, help="most epochs per trial (default: evaluator's)"
    )
    p.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--plots", type=Path, default=REPO / "docs" / "img")
    p.add_argument(
        "--raw", type=Path, default=REPO / "benchmarks" / "results" / "real_training.json"
    )
    p.add_argument(
        "--load", type=Path, default=None,
        help="merge the parts of an earlier --raw file that this run does not redo",
    )  # fmt: skip
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.mnist_minutes, args.digits_minutes = 1, 0.5, 0.3
        args.latency_minutes, args.proxy_archs = 0.3, 6
    return args


def timed_search(
    task: Any,
    space_name: str,
    *,
    seed: int,
    minutes: float,
    strategy: str,
    n_jobs: int,
    epochs: int | None,
    **limits: Any,
) -> dict[str, Any]:
    """One search with a wall-time budget; the curve of the best-so-far (by validation)."""
    space = metanas.spaces.create_space(space_name)
    kw = {} if epochs is None else {"max_epochs": epochs}
    ev = TrainEvaluator(task, space, seed=seed, **kw, **limits)
    study = metanas.create_study(
        space=space, storage="sqlite://", strategy=strategy, seed=seed,
        task=task.name, metric="valid_accuracy",
    )  # fmt: skip
    curve: list[tuple[float, float, float, int]] = []  # (seconds, best valid, its test, trial)
    best = (-1.0, float("nan"), -1)
    start = time.perf_counter()

    def on_trial(_study: metanas.Study, trial: metanas.Trial) -> None:
        nonlocal best
        v = trial.metrics.get("valid_accuracy")
        if trial.state is metanas.TrialState.COMPLETE and v is not None and v > best[0]:
            best = (float(v), float(trial.test_metrics["test_accuracy"]), trial.number)
        curve.append((time.perf_counter() - start, best[0], best[1], trial.number))

    study.optimize(ev, timeout_s=minutes * 60.0, n_jobs=n_jobs, callbacks=[on_trial])
    wall = time.perf_counter() - start
    bt = study.best_trial
    n_failed = sum(t.state is metanas.TrialState.FAILED for t in study.trials)
    return {
        "seed": seed, "wall_s": wall, "n_trials": len(study.trials), "n_failed": n_failed,
        "best_arch": space.format(bt.arch), "arch": dict(bt.arch),
        "valid_accuracy": bt.metrics["valid_accuracy"],
        "test_accuracy": bt.test_metrics["test_accuracy"],
        "test_f1": bt.test_metrics.get("test_f1"),
        "test_recall": bt.test_metrics.get("test_recall"),
        "params": bt.metrics.get("params"), "flops": bt.metrics.get("flops"),
        "latency_ms": bt.metrics.get("latency_ms"), "train_time_s": bt.metrics.get("train_time_s"),
        "curve": curve, "hardware": ev.hardware,
        "errors": sorted({(t.error or "")[:120] for t in study.trials if t.error})[:5],
    }  # fmt: skip


def first_time_at(curve: list[Any], target: float) -> float | None:
    for t, _, test, _ in curve:
        if test >= target:
            return float(t)
    return None


def part_search(
    name: str, args: argparse.Namespace, minutes: float, target: float
) -> list[dict[str, Any]]:
    runs = []
    for seed in range(args.seeds):
        task = load_task(name, seed=seed)
        r = timed_search(
            task,
            "cnn",
            seed=seed,
            minutes=minutes,
            strategy=args.strategy,
            n_jobs=args.n_jobs,
            epochs=args.epochs,
        )
        r["time_to_target_s"] = first_time_at(r["curve"], target)
        print(
            f"{name} seed {seed}: {r['n_trials']} trials in {r['wall_s']:.0f} s, best valid "
            f"{r['valid_accuracy']:.4f} test {r['test_accuracy']:.4f} ({r['best_arch']})",
            flush=True,
        )
        runs.append(r)
    return runs


def part_latency(args: argparse.Namespace, reference: list[dict[str, Any]]) -> dict[str, Any]:
    from metanas.evaluation.hardware import measure_latency_ms

    limit = args.max_latency_ms
    if limit is None:
        lats = [r["latency_ms"] for r in reference if r.get("latency_ms")]
        limit = round(0.5 * statistics.median(lats), 3) if lats else 0.2
    task = load_task("mnist1d", seed=0)
    r = timed_search(
        task,
        "cnn",
        seed=0,
        minutes=args.latency_minutes,
        strategy=args.strategy,
        n_jobs=args.n_jobs,
        epochs=args.epochs,
        max_latency_ms=limit,
    )
    space = metanas.spaces.create_space("cnn")
    model = space.build_model(space.validate(r["arch"]), task.input_shape, task.n_classes, seed=0)
    import os

    import torch

    # The same threads as a search worker had, and more repeats than during the search.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.n_jobs))
    r["latency_again_ms"] = measure_latency_ms(model, task.input_shape, 1, repeats=200)
    r["limit_ms"] = limit
    print(
        f"latency <= {limit} ms: best test {r['test_accuracy']:.4f}, latency "
        f"{r['latency_ms']:.3f} ms (again {r['latency_again_ms']:.3f} ms), "
        f"{r['n_failed']} of {r['n_trials']} rejected",
        flush=True,
    )
    return r


def part_proxies(args: argparse.Namespace) -> dict[str, Any]:
    from scipy.stats import spearmanr

    from metanas.evaluation.proxies import ProxyEvaluator

    task = load_task("mnist1d", seed=0)
    space = metanas.spaces.create_space("cnn")
    rng = np.random.default_rng(123)
    archs, seen = [], set()
    while len(archs) < args.proxy_archs:
        a = space.sample(rng)
        if space.key(a) not in seen:
            seen.add(space.key(a))
            archs.append(a)
    names = ("synflow", "naswot", "snip", "grad_norm")
    proxies = {n: ProxyEvaluator(task, space, proxy=n, seed=0) for n in names}
    kw = {} if args.epochs is None else {"max_epochs": args.epochs}
    trainer = TrainEvaluator(task, space, seed=0, **kw)
    rows = []
    t0 = time.perf_counter()
    for a in archs:
        res = trainer.evaluate(a)
        if not res.ok:
            continue
        row = {
            "valid": res.metrics["valid_accuracy"],
            "test": res.test_metrics["test_accuracy"],
            "params": res.metrics["params"],
        }
        for n, pe in proxies.items():
            pr = pe.evaluate(a)
            row[n] = pr.metrics[n] if pr.ok else float("nan")
            row[f"{n}_s"] = pr.cost_s
        rows.append(row)
    out = {"n": len(rows), "train_s": time.perf_counter() - t0, "rho": {}, "cost_s": {}}
    for n in (*names, "params"):
        xs = np.array([r[n] for r in rows], dtype=float)
        ok = np.isfinite(xs)
        valid = np.array([r["valid"] for r in rows])[ok]
        test = np.array([r["test"] for r in rows])[ok]
        out["rho"][n] = {
            "valid": float(spearmanr(xs[ok], valid)[0]),
            "test": float(spearmanr(xs[ok], test)[0]),
        }
        if n != "params":
            out["cost_s"][n] = float(np.median([r[f"{n}_s"] for r in rows]))
    print("proxies:", json.dumps(out["rho"]), flush=True)
    return out


def plot_curves(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [p for p in ("mnist1d", "digits") if p in results]
    fig, axes = plt.subplots(1, len(parts), figsize=(5.5 * len(parts), 3.8), squeeze=False)
    for ax, part in zip(axes[0], parts, strict=True):
        target = MNIST_TARGET if part == "mnist1d" else DIGITS_TARGET
        for r in results[part]:
            c = [(t / 60.0, test) for t, v, test, _ in r["curve"] if v >= 0]
            if c:
                ax.step(
                    [x for x, _ in c], [y for _, y in c], where="post", label=f"seed {r['seed']}"
                )
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:.0%}")
        ax.set_title(f"{part}: test accuracy of the best-by-validation trial")
        ax.set_xlabel("wall time (min), 2 cores")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def markdown(results: dict[str, Any], args: argparse.Namespace, plot: Path | None) -> str:
    lines = [
        header(
            "Real training (MNIST-1D, digits): search by validation, report test",
            {
                "strategy": args.strategy,
                "workers": str(args.n_jobs),
                "hardware": results.get("hardware", "?"),
            },
        )
    ]
    for part, target, minutes_target, minutes in (
        ("mnist1d", MNIST_TARGET, MNIST_MINUTES_TARGET, args.mnist_minutes),
        ("digits", DIGITS_TARGET, DIGITS_MINUTES_TARGET, args.digits_minutes),
    ):
        runs = results.get(part)
        if not runs:
            continue
        minutes = results.get(f"{part}_minutes", minutes)
        lines += [
            f"### {part}: `cnn` space, {minutes:g} min per seed",
            "",
            "| seed | trials | best architecture (by validation) | valid acc | test acc | "
            "test F1 | params | latency b1 (ms) | first reached target (min) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            tt = r["time_to_target_s"]
            reached = "never" if tt is None else f"{tt / 60:.1f}"
            lines.append(
                f"| {r['seed']} | {r['n_trials']} | {md_code(r['best_arch'])} "
                f"| {_pct(r['valid_accuracy'])} | {_pct(r['test_accuracy'])} "
                f"| {_pct(r['test_f1'])} | {int(r['params'] or 0):,} "
                f"| {r['latency_ms'] or float('nan'):.3f} | {reached} |"
            )
        med = statistics.median(r["test_accuracy"] for r in runs)
        ok = med >= target and minutes <= minutes_target
        lines += [
            "",
            f"Median best-found test accuracy after {minutes:g} min: **{_pct(med)}** "
            f"(target >= {target:.0%} within {minutes_target:g} min: "
            f"**{'met' if ok else 'not met'}**).",
            "",
        ]
    if plot is not None:
        lines += [
            f"![best test accuracy against wall time]({relpath(plot, args.output.parent)})",
            "",
        ]
    lat = results.get("latency")
    if lat:
        lines += [
            "### Latency-constrained search (MNIST-1D, `cnn`)",
            "",
            f"Limit: **{lat['limit_ms']} ms** at batch 1 on this machine (half the median "
            "latency of the unconstrained best models unless given). Architectures over the "
            "limit are rejected before training.",
            "",
            f"- best found: `{lat['best_arch']}`, test accuracy **{_pct(lat['test_accuracy'])}**"
            f" (valid {_pct(lat['valid_accuracy'])}), {int(lat['params'] or 0):,} params",
            f"- latency at search time {lat['latency_ms']:.3f} ms, measured again after the "
            f"search {lat['latency_again_ms']:.3f} ms: "
            f"**{'meets' if lat['latency_again_ms'] <= lat['limit_ms'] else 'misses'} the limit**",
            f"- {lat['n_failed']} of {lat['n_trials']} proposals were rejected by the limit "
            f"in {results.get('latency_minutes', args.latency_minutes):g} min",
            "",
        ]
    prox = results.get("proxies")
    if prox:
        lines += [
            "### Zero-cost proxies vs trained accuracy (MNIST-1D, `cnn`)",
            "",
            f"{prox['n']} random architectures, each trained with the default TrainEvaluator; "
            "proxies computed at initialisation on one batch of 64 training samples.",
            "",
            "| proxy | Spearman vs valid acc | Spearman vs test acc | median cost (s) |",
            "|---|---|---|---|",
        ]
        for n, rho in prox["rho"].items():
            cost = prox["cost_s"].get(n)
            lines.append(
                f"| {n} | {rho['valid']:.3f} | {rho['test']:.3f} | "
                f"{'-' if cost is None else f'{cost:.3f}'} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict[str, Any] = {}
    if args.load is not None:
        earlier = json.loads(args.load.read_text())
        results.update({k: v for k, v in earlier.items() if k not in parts})
    if "mnist1d" in parts:
        results["mnist1d"] = part_search("mnist1d", args, args.mnist_minutes, MNIST_TARGET)
        results["mnist1d_minutes"] = args.mnist_minutes
        results["hardware"] = results["mnist1d"][0]["hardware"]
    if "digits" in parts:
        results["digits"] = part_search("digits", args, args.digits_minutes, DIGITS_TARGET)
        results["digits_minutes"] = args.digits_minutes
        results.setdefault("hardware", results["digits"][0]["hardware"])
    if "latency" in parts:
        results["latency"] = part_latency(args, results.get("mnist1d", []))
        results["latency_minutes"] = args.latency_minutes
    if "proxies" in parts:
        results["proxies"] = part_proxies(args)
    plot = None
    if not args.no_write:
        if "mnist1d" in results or "digits" in results:
            plot = args.plots / "real_training_curves.png"
            plot_curves(results, plot)
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps(results, indent=1, default=str))
    md = markdown(results, args, plot)
    print(md)
    if not args.no_write:
        write_section(args.output, SECTION, md)


if __name__ == "__main__":
    main()
