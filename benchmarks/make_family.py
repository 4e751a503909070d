"""Generate the task-family table: every family architecture trained on every family task.

Each (task, training seed) is one ordinary stored metanas study (``family-<task>-seed<s>``)
with every architecture enqueued, so the run can be stopped and re-run: it continues where it
stopped (a trial cut off runs again; finished ones are kept). Seed 0 trains every architecture;
seed 1 trains every ``--noise-every``-th one again, for the noise figure. The trainer's
per-epoch curve (``TrainEvaluator(record_curve=True)``) is appended to
``<work>/curves/<study>.jsonl`` by the evaluator itself before the study stores the trial; the
export joins the studies' finished trials with those curves and writes the compressed CSV that
:class:`metanas.benchmarks.TaskFamily` reads.

    python benchmarks/make_family.py --n-jobs 16                 # the full table (CPU-hours)
    python benchmarks/make_family.py --tasks mnist1d,digits --max-archs 10 --out /tmp/f.csv.gz
    python benchmarks/make_family.py --export-only               # rewrite the CSV from the studies
    python benchmarks/make_family.py --write-fashion-npz fashion_family.npz   # from Debian's files
    python benchmarks/make_family.py --fashion-npz fashion_family.npz ...     # on another machine
    python benchmarks/make_family.py --export-only --docs docs/benchmarks.md  # its docs section

Only metanas and its dependencies are imported (torch, numpy, pandas, SQLAlchemy ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import header

import metanas
from metanas.benchmarks.family import (
    FAMILY_COLUMNS,
    FAMILY_EPOCHS,
    FAMILY_TABLE,
    FAMILY_TASKS,
    FAMILY_TRAINING,
    CurveRecorder,
    family_architectures,
    family_rows,
    family_space,
    family_task,
)
from metanas.spaces import Architecture, TableSpace

_logger = logging.getLogger("make_family")
SECTION = "task-family"
N_ARCHS = 500  # 200 until 2026-11-28; the list grows as a prefix (--first-arch, --base-table)
NOISE_EVERY = 4


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(FAMILY_TASKS), help="comma-separated task names")
    p.add_argument("--n-archs", type=int, default=N_ARCHS, help="size of the architecture list")
    p.add_argument("--max-archs", type=int, default=None, help="train only the first N")
    p.add_argument(
        "--first-arch",
        type=int,
        default=0,
        help="train only the architectures from this index on (the list's first ones are in "
        "--base-table): the list is the same prefix for every --n-archs, so a table can grow",
    )
    p.add_argument(
        "--base-table",
        type=Path,
        default=None,
        help="a table made earlier of the same list: the export keeps its rows for every "
        "(task, seed, architecture) this run's studies do not hold",
    )
    p.add_argument("--epochs", type=int, default=FAMILY_EPOCHS)
    p.add_argument(
        "--noise-every",
        type=int,
        default=NOISE_EVERY,
        help="seed 1 retrains every k-th architecture (0: no second seed)",
    )
    p.add_argument("--n-jobs", type=int, default=1, help="parallel trainings (process pool)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training")
    p.add_argument(
        "--work",
        type=Path,
        default=Path("family_work"),
        help="folder of the default storage and of the curve files",
    )
    p.add_argument("--storage", default=None, help="SQLAlchemy URL (default: <work>/family.db)")
    p.add_argument("--out", type=Path, default=FAMILY_TABLE, help="the CSV (.csv.gz) to write")
    p.add_argument(
        "--fashion-npz",
        type=Path,
        default=None,
        help="read Fashion-MNIST from this subset file instead of Debian's files",
    )
    p.add_argument("--export-only", action="store_true", help="only rewrite the CSV")
    p.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="also rewrite the 'task-family' section of this Markdown file from the table",
    )
    p.add_argument(
        "--write-fashion-npz",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the Fashion-MNIST subset the family needs to OUT and stop",
    )
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in args.tasks if t not in FAMILY_TASKS]
    if unknown:
        p.error(f"unknown task(s) {unknown}; choose from {list(FAMILY_TASKS)}")
    for name in ("n_archs", "epochs", "n_jobs", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.max_archs is not None and args.max_archs < 1:
        p.error(f"--max-archs must be >= 1; got {args.max_archs}")
    if not 0 <= args.first_arch < min(args.n_archs, args.max_archs or args.n_archs):
        p.error(f"--first-arch must be >= 0 and below --n-archs/--max-archs; got {args.first_arch}")
    if args.base_table is not None and not args.base_table.is_file():
        p.error(f"--base-table {str(args.base_table)!r} is not a file")
    if args.base_table is not None and args.base_table.resolve() == args.out.resolve():
        p.error("--base-table and --out are the same file: write the grown table elsewhere")
    if args.noise_every < 0:
        p.error(f"--noise-every must be >= 0 (0: no second seed); got {args.noise_every}")
    if args.storage is None:
        args.storage = f"sqlite:///{(args.work / 'family.db').resolve()}"
    return args


def study_name(task: str, seed: int) -> str:
    return f"family-{task}-seed{seed}"


def plan(args: argparse.Namespace) -> list[tuple[str, int, list[Architecture]]]:
    """(task, training seed, architectures) of every study of this run."""
    archs = family_architectures(args.n_archs)[args.first_arch : args.max_archs]
    out = []
    for task in args.tasks:
        out.append((task, 0, archs))
        if args.noise_every > 0:
            out.append((task, 1, archs[:: args.noise_every]))
    return out


def run_study(
    args: argparse.Namespace, task_name: str, seed: int, archs: list[Architecture]
) -> None:
    from metanas.evaluation.train import TrainEvaluator

    space = family_space()
    name = study_name(task_name, seed)
    task = family_task(task_name, fashion_path=args.fashion_npz)
    study = metanas.create_study(
        space=TableSpace(space, archs, "task-family"),
        name=name,
        storage=args.storage,
        strategy="random",
        seed=seed,
        metric="valid_accuracy",
        task=task.name,
        load_if_exists=True,
    )
    present = {space.key(t.arch) for t in study.trials}
    for arch in archs:
        if space.key(arch) not in present:
            study.enqueue(arch)
    settings = {**FAMILY_TRAINING, "max_epochs": args.epochs, "threads": args.threads}
    trainer = TrainEvaluator(task, space, seed=seed, record_curve=True, **settings)
    curves = args.work / "curves" / f"{name}.jsonl"
    curves.parent.mkdir(parents=True, exist_ok=True)
    evaluator = CurveRecorder(trainer, curves, space)
    left = len(archs) - study.n_finished
    if left <= 0:
        print(f"{name}: done ({study.n_finished} trials)", flush=True)
        return
    # The recorded seconds depend on how many trainings share the machine: keep that with them.
    runs = [*study.user_attrs.get("runs", []), {"n_jobs": args.n_jobs, "threads": args.threads}]
    study.set_user_attr("runs", runs)
    start = time.perf_counter()
    study.optimize(evaluator, max_total_trials=len(archs), n_jobs=args.n_jobs)
    wall = time.perf_counter() - start
    print(f"{name}: {left} trainings in {wall:.0f} s wall ({args.n_jobs} jobs)", flush=True)


def read_curves(path: Path) -> dict[str, dict[str, Any]]:
    """The last line per architecture of one curve file (a re-run trial appends a second)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                out[rec["arch"]] = rec
    return out


def export(args: argparse.Namespace) -> dict[str, Any]:
    """Write the CSV from the stored studies and their curve files; return a summary."""
    import pandas as pd

    from metanas.storage import get_storage
    from metanas.trial import TrialState

    space = family_space()
    every = family_architectures(args.n_archs)
    arch_ids = {space.format(a): i for i, a in enumerate(every)}
    table_space = TableSpace(space, every, "task-family")
    storage = get_storage(args.storage)
    stored = {s.name for s in storage.list_studies()}
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    runs: set[tuple[int, int]] = set()
    for task, seed, _ in plan(args):
        name = study_name(task, seed)
        if name not in stored:
            continue
        study = metanas.load_study(name, storage=storage, space=table_space)
        curves = read_curves(args.work / "curves" / f"{name}.jsonl")
        finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.FAILED)]
        records: dict[str, dict[str, Any]] = {}
        missing = 0
        for t in finished:
            fmt = space.format(t.arch)
            if fmt not in arch_ids:
                continue
            if fmt not in curves:
                missing += 1
                continue
            records[fmt] = curves[fmt]
        if missing:
            _logger.warning(
                "%s: %d finished trial(s) have no curve in %s; they are left out.",
                name,
                missing,
                args.work / "curves",
            )
        epochs = max((len(r.get("curve") or []) for r in records.values()), default=0)
        rows.extend(family_rows(task, seed, arch_ids, records, epochs))
        times = [r["curve"][-1]["train_time_s"] for r in records.values() if r.get("curve")]
        for run in study.user_attrs.get("runs", []):
            runs.add((int(run["n_jobs"]), int(run["threads"])))
        summary[name] = {
            "archs": len(records),
            "failed": sum(t.state is TrialState.FAILED for t in finished),
            "median_train_s": float(sorted(times)[len(times) // 2]) if times else math.nan,
        }
    df = pd.DataFrame(rows, columns=list(FAMILY_COLUMNS))
    if args.base_table is not None:
        df = pd.concat([merge_base(args.base_table, df, arch_ids), df], ignore_index=True)
        summary["base_table"] = str(args.base_table)
    df = df.sort_values(["task", "seed", "arch_id", "epoch"], kind="stable")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime 0: the same table gives the same bytes.
    df.to_csv(
        args.out,
        index=False,
        float_format="%.6g",
        compression={"method": "gzip", "mtime": 0, "compresslevel": 9},
    )
    summary["runs"] = sorted(runs)
    summary["rows"] = len(df)
    summary["bytes"] = os.path.getsize(args.out)
    return summary


def merge_base(base: Path, new: Any, arch_ids: dict[str, int]) -> Any:
    """The rows of the earlier table ``base`` that ``new`` (this run's rows) does not hold.

    Each base row's architecture must sit at the same ``arch_id`` in this run's list
    (the list grows as a prefix), else the tables are of different lists and are refused.
    """
    from metanas.benchmarks.family import _read_table

    old = _read_table(str(base))
    wrong = old[[arch_ids.get(a) != i for a, i in zip(old["arch"], old["arch_id"], strict=True)]]
    if not wrong.empty:
        first = wrong.iloc[0]
        raise SystemExit(
            f"--base-table {str(base)!r} is not a table of this architecture list: its arch_id "
            f"{int(first['arch_id'])} is {first['arch']!r}, which this list places at "
            f"{arch_ids.get(str(first['arch']))}. Use the --n-archs list it was made with."
        )
    key = ["task", "seed", "arch_id"]
    taken = set(map(tuple, new[key].drop_duplicates().itertuples(index=False)))
    keep = [k not in taken for k in old[key].itertuples(index=False)]
    return old[keep]


def report(args: argparse.Namespace, summary: dict[str, Any]) -> str:
    """The docs section: per task, the table's size, accuracies, seconds and noise."""
    import pandas as pd
    from scipy.stats import spearmanr

    df = pd.read_csv(args.out)
    last = df[df["epoch"] == df.groupby(["task", "seed"])["epoch"].transform("max")]
    main_rows = last[last["seed"] == 0]
    extra = {
        "table": f"`{args.out.name}`: {len(df):,} rows, {os.path.getsize(args.out) / 1e6:.1f} MB",
        "training": (
            f"{int(df['epoch'].max())} epochs, AdamW lr {FAMILY_TRAINING['lr']}, batch "
            f"{FAMILY_TRAINING['batch_size']}, no early stopping; (trainings at once, torch "
            f"threads each) of the generating runs: {summary['runs']}"
        ),
    }
    lines = [
        header("Task family: every architecture trained on every task", extra),
        "| task | archs | failed | median / best valid acc | median train s (max) "
        "| 2nd seed: archs, sd of one training, Spearman |",
        "|---|---|---|---|---|---|",
    ]
    valid = main_rows.pivot(index="arch_id", columns="task", values="valid_accuracy")
    for task in [t for t in FAMILY_TASKS if t in set(main_rows["task"])]:
        rows = main_rows[main_rows["task"] == task]
        acc = rows["valid_accuracy"]
        noise = "-"
        second = last[(last["task"] == task) & (last["seed"] == 1)]
        pair = rows.merge(second, on="arch_id", suffixes=("", "_2")).dropna(
            subset=["valid_accuracy", "valid_accuracy_2"]
        )
        if len(pair) >= 2:
            diff = pair["valid_accuracy"] - pair["valid_accuracy_2"]
            rho = spearmanr(pair["valid_accuracy"], pair["valid_accuracy_2"]).statistic
            noise = f"{len(pair)}, {diff.std(ddof=1) / math.sqrt(2):.3f}, {rho:.2f}"
        lines.append(
            f"| {task} | {rows['arch_id'].nunique()} | {int(acc.isna().sum())} "
            f"| {acc.median():.3f} / {acc.max():.3f} "
            f"| {rows['train_time_s'].median():.2f} ({rows['train_time_s'].max():.1f}) "
            f"| {noise} |"
        )
    if valid.shape[1] >= 2:
        rho = valid.corr(method="spearman")
        names = list(rho.columns)
        lines += [
            "",
            "Spearman rank correlation of the last epoch's validation accuracy between tasks "
            "(seed 0):",
            "",
            "| | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            *(
                f"| {a} | " + " | ".join(f"{rho.loc[a, b]:.2f}" for b in names) + " |"
                for a in names
            ),
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.write_fashion_npz is not None:
        from metanas.tasks._fashion import save_fashion_subset

        variants = [a for builtin, a in FAMILY_TASKS.values() if builtin == "fashion-mnist"]
        out = save_fashion_subset(args.write_fashion_npz, variants, path=args.fashion_npz)
        print(f"wrote {out} ({os.path.getsize(out)} bytes)")
        return {"npz": str(out)}
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.export_only:
        for task, seed, archs in plan(args):
            run_study(args, task, seed, archs)
    summary = export(args)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")
    if args.docs is not None:
        from metanas.benchmarking import write_section

        write_section(args.docs, SECTION, report(args, summary))
        print(f"wrote the {SECTION!r} section of {args.docs}")
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
