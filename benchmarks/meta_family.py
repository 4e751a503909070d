"""Task family, leave one task out: does a memory of related tasks make a new search faster?

For each held-out task of the task family (``metanas.benchmarks.TaskFamily``), the memory
holds the other tasks, each as the stored trials of one ``M``-trial evolution search
(seed 1000 + draw; ``M`` in ``--sizes``) or, for the ``oracle`` arm, as its full table.
Every arm (see ``benchmarks/_meta_harness.py``) then searches the held-out task for
``--n-trials`` queries with each search seed. The targets of issue #14 are checked with
paired bootstrap intervals and Wilcoxon signed-rank tests; meta's setting (when
``--meta-configs`` lists several) is chosen per held-out task by nested leave-one-task-out.

    python benchmarks/meta_family.py                 # the full run
    python benchmarks/meta_family.py --quick         # 3 tasks, 1 draw, 2 seeds; writes nothing
    python benchmarks/meta_family.py --table /tmp/family_partial.csv.gz --quick
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _meta_harness import (
    COLD,
    FULL,
    SYNE_TUNE,
    Suite,
    Summary,
    bootstrap_ratio,
    expected_random_regret,
    failures_note,
    fmt_ci,
    fmt_p,
    job,
    load_runs,
    median_interval,
    met,
    regret_table,
    reused_header,
    reused_runs,
    run_all,
    save_runs,
    select_config,
)
from _report import wilcoxon_p

SECTION = "meta-family"
MAIN_SIZE = 100  # the memory size the targets are checked on (a user's 100-trial searches)
SLOW_COLD = ("tpe", "optuna-gp")


def make_jobs(args: argparse.Namespace, suite: Suite, tasks: list[str]) -> list[dict[str, Any]]:
    draws = list(range(args.draws))
    seeds = list(range(args.seeds))
    slow_seeds = seeds[: args.slow_seeds]
    configs: list[dict[str, Any]] = args.configs
    jobs = []
    all_tasks = suite.tasks()
    for task in tasks:
        past = tuple(t for t in all_tasks if t != task)
        for m in args.methods:
            if m in COLD:
                for s in slow_seeds if m in SLOW_COLD else seeds:
                    jobs.append(job(suite, task, m, seed=s, budget=args.budget))
            elif m == "meta":
                for size in args.sizes:
                    use = seeds if size >= MAIN_SIZE else seeds[: args.small_seeds]
                    for c, settings in enumerate(configs):
                        for d in draws:
                            for s in use:
                                jobs.append(job(suite, task, m, draw=d, seed=s,
                                                budget=args.budget, past=past, memory=size,
                                                settings=settings, config=c))  # fmt: skip
            elif m == "oracle":  # full tables: the draw does not matter
                for c, settings in enumerate(configs):
                    for s in seeds:
                        kw = {"past": past, "memory": FULL, "settings": settings, "config": c}
                        jobs.append(job(suite, task, m, draw=0, seed=s, budget=args.budget, **kw))
            else:
                # st-zeroshot's suggestions depend on the memory alone: one search per draw.
                for d in draws:
                    for s in seeds[:1] if m == "st-zeroshot" else seeds:
                        jobs.append(job(suite, task, m, draw=d, seed=s, budget=args.budget,
                                        past=past, memory=MAIN_SIZE))  # fmt: skip
    return jobs


def training_sd(s: Summary, task: str) -> float:
    """The sd of one training of the same architecture on ``task``, in accuracy points (NaN:
    the table holds no second training)."""
    from metanas.benchmarks import TaskFamily

    bench = s.suite.bench(task)
    if not isinstance(bench, TaskFamily):
        return math.nan
    try:
        return 100.0 * float(bench.noise()["sd"])
    except ValueError:  # a table without a second training (a test's tiny table)
        return math.nan


def report(s: Summary, args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    n_cfg = len(args.configs)
    t5, t20 = min(5, s.budget), min(20, s.budget)
    chosen = {t: select_config(s, t, n_cfg, "meta", MAIN_SIZE, t20) for t in s.tasks}
    rows = [
        f"| held-out task | best cold @{t20} | meta @{t20} | ratio [90 % CI] | Wilcoxon p | "
        f"similar @{t5} | meta @{t5} | similar @{t20} | p vs similar @{t20} | oracle @{t20} | "
        f"exact random @{t20} | cold to top | meta to top | sd of one training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ci_reaches1: list[str] = []
    half, ci_below1, not_worse, top_ratios = 0, 0, 0, []
    cold_above0, half_above0 = 0, 0  # a reading of the ratio where it can fall below 1
    numbers: dict[str, Any] = {"tasks": {}}
    for task in s.tasks:
        c = chosen[task]
        meta_runs = s.select(task, "meta", memory=MAIN_SIZE, config=c)
        c20, cold_m = s.best_cold(task, t20)
        if not meta_runs or cold_m == "-":
            continue
        a, b = s.paired(task, meta_runs, cold_m, t20)
        ratio = bootstrap_ratio(a, b)
        p = wilcoxon_p(a, b)
        m5, m20 = s.regret(task, "meta", t5, memory=MAIN_SIZE, config=c), float(np.median(a))
        sim5, sim20 = s.regret(task, "similar", t5), s.regret(task, "similar", t20)
        sa, sb = s.paired(task, meta_runs, "similar", t20)
        p_sim = wilcoxon_p(sa, sb) if len(sa) else math.nan
        orc = s.regret(task, "oracle", t20, config=c)
        rnd = expected_random_regret(s.suite.bench(task), t20)
        cold_top = min(s.to_top(task, m) for m in COLD if s.select(task, m))
        meta_top = s.to_top(task, "meta", memory=MAIN_SIZE, config=c)
        half += ratio[0] <= 0.5
        if c20 > 0:
            cold_above0 += 1
            half_above0 += ratio[0] <= 0.5
        ci_below1 += ratio[2] < 1
        sd = training_sd(s, task)
        if ratio[2] >= 1:
            share0 = float(np.mean(a == 0))
            ci_reaches1.append(
                f"{task} (meta {m20:.3f}, {cold_m} {c20:.3f}; meta at 0 in {share0:.0%} of its "
                f"runs, {cold_m} in {float(np.mean(b == 0)):.0%} of the pairs; one training's "
                f"sd {sd:.2f})"
            )
        nw = (math.isnan(sim5) or m5 <= sim5) and (math.isnan(sim20) or m20 <= sim20)
        not_worse += nw
        top_ratios.append(meta_top / cold_top)
        fmt_top = lambda q: f">{s.budget}" if q > s.budget else f"{q:g}"  # noqa: E731
        rows.append(
            f"| {task} | {c20:.3f} ({cold_m}) | {m20:.3f} | {fmt_ci(ratio)} | {fmt_p(p)} | "
            f"{sim5:.3f} | {m5:.3f} | {sim20:.3f} | {fmt_p(p_sim)} | {orc:.3f} | {rnd:.3f} | "
            f"{fmt_top(cold_top)} | {fmt_top(meta_top)} | {sd:.2f} |"
        )
        numbers["tasks"][task] = {
            "config": c, "best_cold": cold_m, "ratio20": ratio, "p20": p, "meta5": m5,
            "meta20": m20, "similar5": sim5, "similar20": sim20, "oracle20": orc,
            "random20_exact": rnd, "cold_to_top": cold_top, "meta_to_top": meta_top,
        }  # fmt: skip
    n = len(top_ratios)
    med_top = float(np.median(top_ratios)) if top_ratios else math.nan
    top_ci = median_interval(top_ratios, "tasks")
    need = math.ceil(0.75 * n)
    cfg_note = (
        f"meta's setting chosen per held-out task by nested leave-one-task-out among "
        f"{n_cfg} candidates {json.dumps(args.configs)} (lowest median ratio at {t20} queries "
        f"over the other held-out tasks; chosen: "
        + ", ".join(f"{t} {chosen[t]}" for t in s.tasks)
        + ")"
        if n_cfg > 1
        else "meta ran with its library defaults; one of them, portfolio_noise = 1.0, was chosen "
        "on the first table (200 architectures, the first 200 of today's list) with memory "
        "draws 5-9 and search seeds 100-101, which no run reported "
        'here uses (docs/meta.md, "The portfolio\'s noise"); nothing was chosen on these runs'
    )
    lines = [
        "### Targets",
        "",
        f"Memory of {MAIN_SIZE} trials per past task; regrets in accuracy points, median over "
        f"runs; *best cold* = the lowest median of {', '.join(COLD)} at {t20} queries; the "
        "ratio is meta's median over the best cold arm's, paired by search seed, with a paired "
        "bootstrap 90 % interval, and the two-sided Wilcoxon signed-rank p of the paired "
        "differences; *similar* replays the most similar past task's (by descriptors) "
        "architectures best first; *exact random* is the expected regret of the best of "
        f"{t20} uniform picks without replacement, computed from the table; queries to the "
        f"top 0.5 %: median, runs that never reached it counted as {s.budget + 1}; *sd of one "
        "training*: the spread of the validation accuracy between two trainings of the same "
        "architecture (the table's second training seed; docs/benchmarks.md, Task family). "
        f"{cfg_note}.",
        "",
        *rows,
        "",
        f"- Regret at {t20} <= 0.5 x best cold on >= 75 % of held-out tasks (>= {need} of {n}) "
        f"with the interval's upper end < 1 on all: <= 0.5 on **{half} of {n}**, upper end < 1 "
        f"on **{ci_below1} of {n}**: {met(half >= need and ci_below1 == n)}.",
        *(
            [
                "  Where the upper end reaches 1 (median regrets at "
                f"{t20}, the share of runs at the optimum, and the sd of one training of the "
                "same architecture, all in accuracy points): " + "; ".join(ci_reaches1) + "."
            ]
            if ci_reaches1
            else []
        ),
        f"  (Where the best cold arm's median regret at {t20} is 0, the ratio is 1 at best: "
        f"on the {cold_above0} held-out tasks where it is above 0, meta's ratio is <= 0.5 on "
        f"{half_above0}. This reading does not replace the target.)",
        f"- Never worse than replaying the most similar past task at {t5} and {t20} queries "
        f"(median regret): on **{not_worse} of {n}**: {met(not_worse == n)}.",
        f"- Median queries to the top 0.5 % <= 1/3 of the best cold method's (median over "
        f"held-out tasks of the per-task ratio): **{med_top:.2f}** {top_ci}, <= 1/3 on "
        f"**{sum(r <= 1 / 3 for r in top_ratios)} of {n}**: {met(med_top <= 1 / 3)}.",
        "",
    ]
    numbers.update(half=half, ci_below1=ci_below1, not_worse=not_worse, n=n,
                   median_top_ratio=med_top, cold_above0=cold_above0,
                   half_above0=half_above0)  # fmt: skip
    return lines, numbers


def tables(s: Summary, args: argparse.Namespace) -> list[str]:
    # Every arm with runs: the ones run now and the ones reused (--reuse).
    have = set(args.methods) | set(s.methods)
    cols: list[tuple[str, str, dict[str, Any]]] = [(m, m, {}) for m in COLD if m in have]
    if "meta" in have:
        cols += [(f"meta M={m}", "meta", {"memory": m, "config": 0}) for m in args.sizes]
    if "oracle" in have:
        cols.append(("oracle", "oracle", {"config": 0}))
    cols += [(m, m, {}) for m in ("naive", "similar", *SYNE_TUNE) if m in have]
    out = []
    for t in sorted({5, 20, s.budget}):
        if t <= s.budget:
            out += regret_table(s, t, cols)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from _report import REPO

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=None, help="the family table (default: the shipped one)")
    p.add_argument(
        "--n-archs",
        type=int,
        default=None,
        help="search the first N architectures of the table's list (default: all it holds; "
        "200: the first shipped table)",
    )
    p.add_argument(
        "--section",
        default=SECTION,
        help=f"the docs section to write ({SECTION}); with --load, old runs get their own",
    )
    p.add_argument("--tasks", default="", help="held-out tasks (default: every task)")
    p.add_argument("--draws", type=int, default=3, help="memory draws 0..D-1 (3)")
    p.add_argument("--seeds", type=int, default=10, help="search seeds 0..N-1 (10)")
    p.add_argument("--slow-seeds", type=int, default=5,
                   help="seeds of the slow cold arms tpe and optuna-gp (5)")  # fmt: skip
    p.add_argument("--sizes", default="25,100", help="memory sizes of meta (25,100)")
    p.add_argument("--small-seeds", type=int, default=5,
                   help="seeds of meta with memories smaller than 100 (5, for time)")  # fmt: skip
    p.add_argument("--n-trials", dest="budget", type=int, default=30, help="queries (30)")
    p.add_argument("--methods", default=",".join(
        [*COLD, "meta", "oracle", "naive", "similar", *SYNE_TUNE]))  # fmt: skip
    p.add_argument("--meta-configs", default="[{}]",
                   help="JSON list of meta settings to choose from per held-out task by nested "
                   "leave-one-task-out ([{}]: the defaults only)")  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 tasks, 1 draw x 2 seeds, 20 queries, no st-quantile; writes nothing",
    )
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--load", type=Path, default=None, help="report saved runs instead")
    p.add_argument("--wall-s", type=float, default=float("nan"),
                   help="with --load: the wall time the runs took, for the report")  # fmt: skip
    p.add_argument("--reuse", type=Path, default=None,
                   help="add the runs saved in this file of every method not in --methods "
                   "(e.g. rerun only meta and oracle after a change to meta; the other arms "
                   "do not depend on it)")  # fmt: skip
    p.add_argument(
        "--save", type=Path, default=REPO / "benchmarks" / "results" / "meta_family.json.gz"
    )
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    args.configs = json.loads(args.meta_configs)
    if not isinstance(args.configs, list) or not args.configs:
        p.error("--meta-configs must be a non-empty JSON list of settings dicts")
    if args.quick:
        args.draws, args.seeds, args.slow_seeds, args.budget = 1, 2, 1, 20
        args.small_seeds = 2
        args.methods = [m for m in args.methods if m != "st-quantile"]
        args.no_write = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suite = Suite("family", args.table, args.n_archs)
    tasks = [t for t in args.tasks.split(",") if t] or list(suite.tasks())
    if args.quick and not args.tasks:
        tasks = tasks[:3]
    jobs = make_jobs(args, suite, tasks)
    reused = [] if args.reuse is None else reused_runs(args.reuse, args.methods, args.budget)
    t0 = time.perf_counter()
    if args.load is not None:
        runs = load_runs(args.load)
        wall = args.wall_s
    else:
        print(f"{len(jobs)} runs on {args.n_jobs} process(es)", file=sys.stderr)
        runs = run_all(jobs, args.n_jobs, save=None if args.no_write else args.save, kept=reused)
        wall = time.perf_counter() - t0
    if reused:
        runs = reused + runs
        if not args.no_write:
            save_runs(args.save, runs)
    s = Summary(suite, runs, args.budget)
    target_lines, _ = report(s, args)
    secs = {m: float(np.median([r.seconds for r in runs if r.method == m])) for m in s.methods}
    body = [
        *target_lines,
        *tables(s, args),
        "Median wall time per search (s, one core, table look-ups): "
        + ", ".join(f"`{m}` {v:.2f}" for m, v in secs.items()),
        "",
    ]
    text = "\n".join(body) + failures_note()
    print(text)
    print(f"wall time {wall:.0f} s", file=sys.stderr)
    if not args.no_write:
        from _report import REPO, header, relpath

        from metanas.benchmarking import write_section

        head = header(
            f"Meta-learning: task family, leave one task out ({args.section})",
            {
                "runs": (
                    f"{len(runs)} searches; held out in turn: {', '.join(tasks)}; cold arms "
                    f"{args.seeds} seeds (tpe, optuna-gp {min(args.slow_seeds, args.seeds)}, "
                    "for time); memory "
                    f"arms {args.draws} draws x {args.seeds} seeds (oracle: 1 draw, its memory "
                    f"is the full tables); {args.budget} queries; {args.n_jobs} processes; "
                    f"{wall:.0f} s wall time"
                    + (
                        f" (reported from the runs saved in `{relpath(args.load, REPO)}`)"
                        if args.load is not None
                        else ""
                    )
                ),
                "table": f"{len(suite.bench(tasks[0])):,} architectures "
                + (
                    "(all the table holds)"
                    if args.n_archs is None
                    else f"(the first {args.n_archs} of the table's list: --n-archs)"
                ),
                "memory": f"per held-out task: one evolution search of M trials (seed 1000 + "
                f"draw) on each other task, M in {args.sizes} (M < {MAIN_SIZE}: "
                f"{min(args.small_seeds, args.seeds)} seeds, for time); naive, similar and "
                f"Syne Tune arms get M = {MAIN_SIZE}",
                **reused_header(reused, args.reuse, args.methods),
            },
        )
        intro = (
            "Arms: cold `random`, `evolution`, `tpe`, `bo`, `optuna-gp` (Optuna's GPSampler, "
            "one categorical parameter per decision, a suggestion outside the table projected "
            "onto the nearest unseen architecture of the table and Optuna told that one); "
            "`meta` (`create_strategy('meta', space)` + `set_memory`) with M-trial memories; "
            "`oracle` (meta with the other tasks' full tables); `naive` (every past task's 5 "
            "best, by mean within-task percentile, then evolution); `similar` (the most similar "
            "past task's architectures by descriptors, best first, then evolution); Syne "
            "Tune's `ZeroShotTransfer` (depends on the memory only: one search per memory "
            "draw), `BoundingBox` and `QuantileBasedSurrogateSearcher`, fed the same memory "
            "(off-table suggestions projected as for optuna-gp)."
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_section(args.output, args.section, f"{head}\n{intro}\n\n{text}\n")
        print(f"wrote {args.output} section {args.section!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
