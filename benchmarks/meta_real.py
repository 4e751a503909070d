"""Meta-learning with real training: does a memory of past searches speed up a new one?

Past tasks (the memory): MNIST-1D generated with other settings (other data seeds, noise,
shear, sizes) and scikit-learn's digits. Each gets one ``evolution`` search of
``--memory-trials`` trained ``cnn`` networks, stored in one SQLite file. The new task is
MNIST-1D with the package's default arguments, which is not in the memory.

On the new task, each method runs ``--trials`` trials with the same training settings:

* ``evolution`` and ``bo``: cold searches that never read the memory.
* ``meta``: the memory warm start plus the RGPE-style transfer surrogate, reading the memory file.

Reported per method: the best validation accuracy after the budget, the test accuracy of
that trial (for reporting only), and the trials and wall time ``meta`` needed to reach the
cold search's final best validation accuracy. The time is the study's own wall time; building
the memory is not counted, since a user has the memory already.

    python benchmarks/meta_real.py               # ~15 min on 2 cores
    python benchmarks/meta_real.py --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, md_code

import metanas
from metanas.benchmarking import write_section
from metanas.evaluation.train import TrainEvaluator
from metanas.tasks import load_task

SECTION = "meta-real"
MEMORY_TASKS: list[tuple[str, dict[str, Any]]] = [
    ("mnist1d", {"data_seed": 1}),
    ("mnist1d", {"data_seed": 2, "iid_noise_scale": 0.05}),
    ("mnist1d", {"data_seed": 3, "shear_scale": 0.5, "num_samples": 3000}),
    ("digits", {}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memory-trials", type=int, default=16)
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--epochs", type=int, default=10, help="most epochs per trial")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--methods", default="evolution,bo,meta")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--raw", type=Path, default=REPO / "benchmarks" / "results" / "meta_real.json")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.memory_trials, args.trials, args.epochs = 3, 4, 2
    return args


def search(
    task: Any,
    strategy: str,
    *,
    seed: int,
    trials: int,
    epochs: int,
    url: str,
    n_jobs: int,
    memory: str | None = None,
) -> dict[str, Any]:
    space = metanas.spaces.create_space("cnn")
    ev = TrainEvaluator(task, space, max_epochs=epochs, seed=seed)
    study = metanas.create_study(
        space=space, storage=url, strategy=strategy, seed=seed, task=task.name,
        task_descriptors=task.descriptors(), metric="valid_accuracy", memory=memory,
        name=f"{task.name}-{strategy}-s{seed}",
    )  # fmt: skip
    times: list[float] = []
    start = time.perf_counter()
    study.optimize(
        ev, n_trials=trials, n_jobs=n_jobs,
        callbacks=[lambda s, t: times.append(time.perf_counter() - start)],
    )  # fmt: skip
    best_so_far, vals = -1.0, []
    for t in study.trials:  # trial order: what the strategy asked first comes first
        v = t.metrics.get("valid_accuracy") if t.state is metanas.TrialState.COMPLETE else None
        best_so_far = max(best_so_far, float(v)) if v is not None else best_so_far
        vals.append(best_so_far)
    bt = study.best_trial
    return {
        "strategy": strategy, "seed": seed, "curve": vals, "times": times,
        "wall_s": time.perf_counter() - start, "best_valid": float(bt.value or 0.0),
        "test": float(bt.test_metrics["test_accuracy"]), "arch": space.format(bt.arch),
    }  # fmt: skip


def reach(run: dict[str, Any], level: float) -> tuple[int | None, float | None]:
    for i, v in enumerate(run["curve"]):
        if v >= level - 1e-12:
            return i + 1, run["times"][min(i, len(run["times"]) - 1)]
    return None, None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        mem_url = f"sqlite:///{tmp}/memory.db"
        t0 = time.perf_counter()
        for name, kw in MEMORY_TASKS:
            task = load_task(name, seed=0, **kw)
            r = search(task, "evolution", seed=100, trials=args.memory_trials, epochs=args.epochs,
                       url=mem_url, n_jobs=args.n_jobs)  # fmt: skip
            print(
                f"memory: {task.name}: best valid {r['best_valid']:.4f} ({r['arch']})", flush=True
            )
        memory_s = time.perf_counter() - t0
        runs: list[dict[str, Any]] = []
        for seed in range(args.seeds):
            target = load_task("mnist1d", seed=seed)
            for m in methods:
                url = f"sqlite:///{tmp}/target-{m}-{seed}.db"
                r = search(target, m, seed=seed, trials=args.trials, epochs=args.epochs, url=url,
                           n_jobs=args.n_jobs, memory=mem_url if m == "meta" else None)  # fmt: skip
                runs.append(r)
                print(f"{m} seed {seed}: best valid {r['best_valid']:.4f} test {r['test']:.4f} "
                      f"in {r['wall_s']:.0f} s", flush=True)  # fmt: skip
    rows = []
    for seed in range(args.seeds):
        by = {r["strategy"]: r for r in runs if r["seed"] == seed}
        for cold in [m for m in methods if m != "meta"]:
            if "meta" not in by or cold not in by:
                continue
            level = by[cold]["best_valid"]
            n_meta, s_meta = reach(by["meta"], level)
            n_cold, s_cold = reach(by[cold], level)
            rows.append({"seed": seed, "cold": cold, "level": level, "n_meta": n_meta,
                         "s_meta": s_meta, "n_cold": n_cold, "s_cold": s_cold})  # fmt: skip
    md = markdown(args, runs, rows, memory_s)
    print(md)
    if not args.no_write:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps({"runs": runs, "rows": rows}, indent=1))
        write_section(args.output, SECTION, md)


def markdown(
    args: argparse.Namespace, runs: list[dict[str, Any]], rows: list[dict[str, Any]],
    memory_s: float,
) -> str:  # fmt: skip
    mem = ", ".join(
        name + (f"[{', '.join(f'{k}={v}' for k, v in kw.items())}]" if kw else "")
        for name, kw in MEMORY_TASKS
    )
    lines = [
        header(
            "Meta-learning with real training (MNIST-1D, `cnn` space)",
            {
                "memory": f"{mem}: one evolution search of {args.memory_trials} trials each "
                f"({memory_s / 60:.1f} min to build, not counted below)",
                "new task": "mnist1d (the package's default arguments), not in the memory",
                "budget": f"{args.trials} trials, at most {args.epochs} epochs each, "
                f"{args.n_jobs} workers",
            },
        ),
        "| seed | strategy | best valid acc | its test acc | wall time (s) | best architecture |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['strategy']} | {100 * r['best_valid']:.1f} % | "
            f"{100 * r['test']:.1f} % | {r['wall_s']:.0f} | {md_code(r['arch'])} |"
        )
    lines += ["", "Trials and wall time to reach the cold search's final best validation "
              "accuracy:", "", "| seed | cold search | its final valid acc | cold: trials (s) | "
              "meta: trials (s) |", "|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        meta = "not reached" if row["n_meta"] is None else f"{row['n_meta']} ({row['s_meta']:.0f})"
        lines.append(
            f"| {row['seed']} | {row['cold']} | {100 * row['level']:.1f} % | "
            f"{row['n_cold']} ({row['s_cold']:.0f}) | {meta} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
