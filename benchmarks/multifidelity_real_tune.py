"""Choose the settings of multifidelity_real.py's new arm on data its report never sees.

Every candidate (proposal strategy x scheduler x first rung) searches the task-family table's
MNIST-1D variants other than the family's ``mnist1d`` (``mnist1d-iid-noise``, ``-corr-noise``,
``-shear``, ``-scale``, ``-small``, ``-5class``) with seeds 100 and up, in simulated time
(benchmarks/multifidelity.py's clock: the table's training seconds of every epoch trained, a
continued run paying only its extra epochs). The horizon is ``--n-full`` full trainings' worth
of the task's mean 15-epoch time: the number of 15-epoch MNIST-1D trainings 2 workers finish in
3 minutes (bo's runs then, told in trial order: 65 to 86 in 9 minutes, so about 25 in 3). The
``curve`` candidates get a memory of the other variants' curves (leave-one-task-out, never
``mnist1d``). Scores per run: the valid regret (the table's best 15-epoch validation accuracy
minus that of the chosen architecture, the best validation accuracy among the trials trained to
15 epochs) and the chosen architecture's test accuracy on the variant's own test split. Rows are
kept in ``--results`` by (horizon, candidate, task, seed); :func:`summary` averages them.

The choice of ``asha+bo@5`` (multifidelity_real.py's new arm) was made from the stored rows:
the 25-full-training horizon on mnist1d-shear, -scale and -5class, seeds 100-101, and the
10-full-training horizon on all six variants, seeds 100-101.

    python benchmarks/multifidelity_real_tune.py --n-full 10 --candidates asha+bo@5,full+bo
    python benchmarks/multifidelity_real_tune.py --tasks mnist1d-shear --candidates asha+random@1

A ``bo`` candidate costs 15 to 30 s of CPU per run (its proposals), the others a few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import multifidelity as mf
from _report import REPO, first_table

TUNE_TASKS = (
    "mnist1d-iid-noise", "mnist1d-corr-noise", "mnist1d-shear", "mnist1d-scale",
    "mnist1d-small", "mnist1d-5class",
)  # fmt: skip
#: ``scheduler+strategy@first rung`` (``full+bo``: no scheduler, every trial 15 epochs).
CANDIDATES = (
    "full+bo", "asha+random@1", "asha+random@3", "asha+bo@1", "asha+bo@3", "asha+bo@5",
    "asha+bohb@3", "curve+random@1", "curve+bo@3", "curve+bo@5",
)  # fmt: skip


def parse(candidate: str) -> tuple[str, str, int]:
    """``"asha+bo@3"`` -> ``("asha", "bo", 3)``."""
    body, _, first = candidate.partition("@")
    sched, _, strategy = body.partition("+")
    return sched, strategy, int(first or mf.MAX_EPOCHS)


def run(task: str, candidate: str, seed: int, n_full: float) -> dict[str, Any]:
    """One simulated search of ``task``; the chosen architecture's test accuracy."""
    from metanas import create_study
    from metanas.benchmarks import TaskFamily
    from metanas.execution.inprocess import InProcessExecutor

    table = mf.load_table(task, None)
    horizon = n_full * table.t_all / len(table.archs)
    # The first table's 200 architectures, which mf.load_table reads too.
    bench = TaskFamily(task, n_archs=first_table(None))
    clock = mf.Clock(table, horizon)
    # Run to the horizon: the clock's early end (table's best trained) would favour no arm.
    clock._best = set()
    holder: list[Any] = []
    evaluator = mf.ChargedFamily(bench, table, clock, holder)
    sched_name, strategy, first = parse(candidate)
    kw: dict[str, Any] = {}
    if sched_name != "full":
        from metanas.schedulers import create_scheduler

        kw["scheduler"] = create_scheduler(
            sched_name, min_budget=first, max_budget=mf.MAX_EPOCHS, eta=mf.ETA, seed=seed
        )
    study = create_study(
        space=bench.space, storage="sqlite://", strategy=strategy, seed=seed,
        task=bench.task_name, **kw,
    )  # fmt: skip
    if sched_name == "curve":
        groups: list[str] = []
        memory = _memory(task, groups)
        study.scheduler.set_memory(memory, groups=groups)
    holder.append(study)
    try:
        with contextlib.suppress(mf.RunDoneError):
            study.optimize(
                n_trials=100_000, executor=InProcessExecutor(evaluator), catch=(Exception,),
                show_progress=False,
            )  # fmt: skip
    finally:
        study.storage.delete_study(study.name)
    m = mf.run_metrics(table, clock.events, horizon, table.top(0.005))
    best_test = float(table.test[int(np.nanargmax(table.final)), -1])
    return {
        "task": task, "candidate": candidate, "seed": seed, "test": m["test_accuracy"] or 0.0,
        "regret": _regret(table, clock.events, horizon),
        "gap": best_test - (m["test_accuracy"] or 0.0), "n_full": m["n_full"],
        "n_segments": m["n_segments"],
    }  # fmt: skip


def _regret(table: mf.Table, events: list[tuple[float, int, int]], horizon: float) -> float:
    """The table's best final validation accuracy minus the chosen architecture's."""
    finals = [
        table.final[row] for t, row, e in events if t <= horizon and e == table.n_epochs
    ]  # fmt: skip
    chosen = max(finals, default=float(np.nanmin(table.final)))
    return float(table.best_valid - chosen)


def _memory(task: str, groups: list[str]) -> list[list[float]]:
    """Complete validation curves of the other tuning variants (never ``task``, never mnist1d)."""
    out: list[list[float]] = []
    for other in TUNE_TASKS:
        if other == task:
            continue
        t = mf.load_table(other, None)
        for row in t.valid[~np.isnan(t.valid).any(axis=1)]:
            out.append([float(v) for v in row])
            groups.append(other)
    return out


def summary(rows: list[dict[str, Any]]) -> list[tuple[float, str, int, float, float]]:
    """``(horizon, candidate, runs, mean valid regret, mean test accuracy)``, sorted."""
    groups: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((float(r["horizon_full"]), r["candidate"]), []).append(r)
    return [
        (h, c, len(rs), statistics.mean(r["regret"] for r in rs),
         statistics.mean(r["test"] for r in rs))
        for (h, c), rs in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1]))
    ]  # fmt: skip


def rank_diagnosis(epochs: tuple[int, ...] = (1, 3, 5, 9)) -> list[tuple[int, float, float]]:
    """How well epoch ``e``'s validation accuracy ranks the 15-epoch one, on the tuning variants.

    Per epoch: the median over the six variants (the table's 200 architectures each) of the
    Spearman correlation with the final validation accuracy, and of the share of the final
    top 10 % that are in the top third at epoch ``e`` (what one ASHA rung with eta 3 keeps).
    """
    from scipy.stats import spearmanr

    out = []
    for e in epochs:
        rhos, kept = [], []
        for task in TUNE_TASKS:
            t = mf.load_table(task, None)
            ok = ~np.isnan(t.valid).any(axis=1)
            v, final = t.valid[ok, e - 1], t.valid[ok, -1]
            rhos.append(float(spearmanr(v, final).statistic))
            top = set(np.argsort(-final, kind="stable")[: len(final) // 10].tolist())
            third = set(np.argsort(-v, kind="stable")[: len(final) // 3].tolist())
            kept.append(len(top & third) / len(top))
        out.append((e, float(np.median(rhos)), float(np.median(kept))))
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["horizon_full"], row["candidate"], row["task"], row["seed"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", default=",".join(CANDIDATES))
    p.add_argument("--seeds", type=int, default=2, help="seeds 100..100+N-1 (2)")
    p.add_argument("--tasks", default=",".join(TUNE_TASKS), help="tuning tasks (all six)")
    p.add_argument("--n-full", type=float, default=25.0, help="horizon in full trainings (25)")
    p.add_argument(
        "--results", type=Path,
        default=REPO / "benchmarks" / "results" / "multifidelity_real_tuning.json",
    )  # fmt: skip
    args = p.parse_args(argv)
    stored = json.loads(args.results.read_text())["rows"] if args.results.exists() else []
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for cand in args.candidates.split(","):
        for task in args.tasks.split(","):
            if task not in TUNE_TASKS:
                p.error(f"--tasks: {task!r} is not a tuning task; choose from {TUNE_TASKS}")
            for seed in range(100, 100 + args.seeds):
                rows.append({"horizon_full": args.n_full, **run(task, cand, seed, args.n_full)})
        mine = [r for r in rows if r["candidate"] == cand]
        print(
            f"{cand:16s} mean test {statistics.mean(r['test'] for r in mine) * 100:.2f} %  "
            f"valid regret {statistics.mean(r['regret'] for r in mine) * 100:.2f} points  "
            f"full trainings {statistics.median(r['n_full'] for r in mine):g}  "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        # After every candidate, so a long sweep keeps what it finished; a rerun of a
        # (horizon, candidate, task, seed) replaces the stored row.
        keys = {_key(r) for r in rows}
        merged = [r for r in stored if _key(r) not in keys] + rows
        args.results.write_text(json.dumps({"rows": merged}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
