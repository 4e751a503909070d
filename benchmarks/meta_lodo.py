"""Leave one data set out on NAS-Bench-Graph: does a memory of past searches cost nothing?

The "no harm, modest gain" suite of the meta-learning issue, on the 8 NAS-Bench-Graph data sets
with the full operation set (its data sets rank the best architectures differently, so a wide
margin is not expected here; the task family, ``meta_family.py``, is the suite of related
tasks). For each held-out data set the experience memory is what a user would have: the stored
trials of one 100-trial "evolution" search on each of the 7 other data sets (never their full
tables), repeated over ``--draws`` memory draws (different seeds of those searches). Every arm
of ``benchmarks/_meta_harness.py`` then searches the held-out data set for ``--n-trials``
queries with each of ``--seeds`` search seeds: cold ``random``, ``evolution``, ``tpe``, ``bo``,
``optuna-gp``; ``meta``; ``zero-shot`` (the predictor's top 5); ``naive`` and ``similar``
replays; Syne Tune's transfer schedulers fed the same memory.

    python benchmarks/meta_lodo.py                 # the full run (3 draws x 10 seeds)
    python benchmarks/meta_lodo.py --quick         # 2 data sets, 1 draw, 2 seeds, 30 queries

Search seeds are 0..N-1 and memory draws 0..D-1 (evolution seeds 1000 + draw). meta runs with
its defaults unless ``--meta-configs`` lists candidates, then its setting is chosen per held-out
data set by nested leave-one-data-set-out (never on the reported data set).
Strategies see validation accuracy only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _meta_harness import (
    COLD,
    NBG_DATASETS,
    SYNE_TUNE,
    ZERO_SHOT_K,
    Run,
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

SECTION = "meta-lodo"
FULL_OPS = NBG_DATASETS
SUITE = Suite("nbg")
MEMORY_TRIALS = 100
MEMORY_METHODS = ("meta", "zero-shot", "naive", "similar")
SLOW_COLD = ("optuna-gp",)

__all__ = ["FULL_OPS", "Run", "load_runs", "main", "save_runs"]


def make_jobs(
    datasets: Sequence[str], methods: Sequence[str], draws: Sequence[int],
    seeds: Sequence[int], budget: int, configs: Sequence[dict[str, Any]] = ({},),
    slow_seeds: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    jobs = []
    for d in datasets:
        past = tuple(x for x in FULL_OPS if x != d)
        for m in methods:
            if m in COLD:
                use = seeds[:slow_seeds] if m in SLOW_COLD and slow_seeds else seeds
                jobs += [job(SUITE, d, m, seed=s, budget=budget) for s in use]
                continue
            for c, settings in enumerate(configs if m == "meta" else [{}]):
                for draw in draws:
                    # st-zeroshot's suggestions depend on the memory alone: one search per draw.
                    for s in seeds[:1] if m == "st-zeroshot" else seeds:
                        jobs.append(job(SUITE, d, m, draw=draw, seed=s, budget=budget,
                                        past=past, memory=MEMORY_TRIALS,
                                        settings=settings or None, config=c))  # fmt: skip
    return jobs


def targets(s: Summary, n_configs: int = 1) -> tuple[list[str], dict[str, Any]]:
    """Check the issue's targets; return Markdown lines and the raw numbers."""
    t20, t50 = min(20, s.budget), min(50, s.budget)
    chosen = {d: select_config(s, d, n_configs, "meta", MEMORY_TRIALS, t20) for d in s.tasks}
    rows = [
        f"| data set | best cold @{t20} | meta @{t20} | ratio [90 % CI] | p | best cold @{t50} | "
        f"meta @{t50} | ratio [90 % CI] | p | exact best of 5 random | zero-shot top 5 | ratio "
        f"| best Syne Tune @{t20} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    r20s, safe_point, safe_ci, zs_ratios = [], 0, 0, []
    numbers: dict[str, Any] = {"datasets": {}}
    has_st = [m for m in SYNE_TUNE if m in s.methods]
    for d in s.tasks:
        runs = s.select(d, "meta", config=chosen[d])
        c20, m20n = s.best_cold(d, t20)
        c50, m50n = s.best_cold(d, t50)
        if not runs or m20n == "-":
            continue
        a20, b20 = s.paired(d, runs, m20n, t20)
        a50, b50 = s.paired(d, runs, m50n, t50)
        r20, r50 = bootstrap_ratio(a20, b20), bootstrap_ratio(a50, b50)
        p20, p50 = wilcoxon_p(a20, b20), wilcoxon_p(a50, b50)
        r20s.append(r20[0])
        safe_point += r50[0] <= 1.05
        safe_ci += r50[1] <= 1.05
        rnd5 = expected_random_regret(s.suite.bench(d), ZERO_SHOT_K)
        zs = s.regret(d, "zero-shot", ZERO_SHOT_K)
        zr = zs / rnd5 if rnd5 > 0 else math.nan
        if not math.isnan(zr):
            zs_ratios.append(zr)
        st20 = min((v for m in has_st if not math.isnan(v := s.regret(d, m, t20))),
                   default=math.nan)  # fmt: skip
        rows.append(
            f"| {d} | {c20:.3f} ({m20n}) | {np.median(a20):.3f} | {fmt_ci(r20)} | {fmt_p(p20)} "
            f"| {c50:.3f} ({m50n}) | {np.median(a50):.3f} | {fmt_ci(r50)} | {fmt_p(p50)} | "
            f"{rnd5:.3f} | {zs:.3f} | {zr:.2f} | {st20:.3f} |"
        )
        numbers["datasets"][d] = {
            "ratio20": r20, "ratio50": r50, "p20": p20, "p50": p50, "random5_exact": rnd5,
            "zero_shot5": zs, "config": chosen[d],
        }  # fmt: skip
    n = len(r20s)
    med20 = float(np.median(r20s)) if r20s else math.nan
    medzs = float(np.median(zs_ratios)) if zs_ratios else math.nan
    ci20, cizs = median_interval(r20s, "data sets"), median_interval(zs_ratios, "data sets")
    cfg = (
        f"meta's setting chosen per held-out data set by nested leave-one-data-set-out among "
        f"{n_configs} candidates (chosen: " + ", ".join(f"{d} {c}" for d, c in chosen.items()) + ")"
        if n_configs > 1 else "meta ran with its library defaults (nothing was chosen on these "
        "tables; portfolio_noise = 1.0, used by meta and zero-shot, was chosen on the task "
        "family, docs/meta.md)"
    )  # fmt: skip
    lines = [
        "### Targets",
        "",
        "Regrets in accuracy points (median over runs); *best cold* = the lowest median of "
        f"{', '.join(m for m in COLD if m in s.methods)} per data set and column; ratios are "
        "meta's median over the best cold arm's, paired by search seed, with a paired bootstrap "
        "90 % interval and the two-sided Wilcoxon signed-rank p; *exact best of 5 random* is "
        "the expected regret of the best of 5 uniform picks without replacement, computed "
        f"from the table. {cfg}.",
        "",
        *rows,
        "",
        f"- No harm: regret at {t50} <= 1.05 x best cold on 8/8, interval-aware (the "
        f"interval's lower end <= 1.05): **{safe_ci} of {n}** (point ratio <= 1.05 on "
        f"{safe_point} of {n}): {met(safe_ci == n == 8)}.",
        f"- Median ratio at {t20} queries <= 0.9: **{med20:.2f}** {ci20}: {met(med20 <= 0.9)}.",
        f"- Zero-shot top {ZERO_SHOT_K} against the exact best-of-{ZERO_SHOT_K}-random regret, "
        f"median ratio <= 0.75: **{medzs:.2f}** {cizs}: {met(medzs <= 0.75)}.",
        "",
    ]
    numbers.update(median_ratio20=med20, safe_ci=safe_ci, safe_point=safe_point,
                   zs_median_ratio=medzs, n=n)  # fmt: skip
    return lines, numbers


def table(s: Summary, checkpoints: Sequence[int]) -> list[str]:
    cols: list[tuple[str, str, dict[str, Any]]] = [
        (m, m, {"config": 0} if m == "meta" else {}) for m in s.methods
    ]
    lines: list[str] = []
    for t in checkpoints:
        if t <= s.budget:
            lines += regret_table(s, t, cols)
    methods = [m for m in s.methods if m != "zero-shot"]
    lines += [
        "#### Median queries to the top 0.5 %",
        "",
        "| data set | " + " | ".join(f"`{m}`" for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for d in s.tasks:
        cells = []
        for m in methods:
            q = s.to_top(d, m, **({"config": 0} if m == "meta" else {}))
            cells.append("-" if math.isnan(q) else (f">{s.budget}" if q > s.budget else f"{q:g}"))
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot(s: Summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = s.tasks
    ncols = min(4, len(sets))
    nrows = math.ceil(len(sets) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), constrained_layout=True, squeeze=False
    )
    methods = [m for m in s.methods if m != "zero-shot"]
    x = np.arange(1, s.budget + 1)
    for ax, d in zip(axes.flat, sets, strict=False):
        for i, m in enumerate(methods):
            runs = s.select(d, m)
            if not runs:
                continue
            med = np.median(np.vstack([s.curve(r) for r in runs]), axis=0)
            style = "-" if m in ("meta", *COLD) else "--"
            ax.plot(x, np.maximum(med, 1e-2), style, color=f"C{i}", label=m,
                    lw=2.2 if m == "meta" else 1.2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(d)
        ax.set_xlabel("queries")
        ax.set_ylabel("valid regret (points)")
    for ax in list(axes.flat)[len(sets) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    fig.suptitle("Leave one data set out: median validation regret (regret 0 drawn at 0.01)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from _report import REPO

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=3, help="memory draws 0..D-1 (3)")
    p.add_argument("--seeds", type=int, default=10, help="search seeds per draw (10)")
    p.add_argument("--slow-seeds", type=int, default=5, help="seeds of optuna-gp (5, for time)")
    p.add_argument("--seed-offset", type=int, default=0, help="search seeds start here (0)")
    p.add_argument("--draw-offset", type=int, default=0, help="memory draws start here (0)")
    # --budget: the old spelling, still accepted (the saved runs keep "budget" as their key).
    p.add_argument(
        "--n-trials", "--budget", dest="budget", type=int, default=50,
        help="queries per search (50: the targets read 5, 20 and 50)",
    )  # fmt: skip
    p.add_argument("--datasets", default=",".join(FULL_OPS))
    p.add_argument("--methods", default=",".join([*COLD, *MEMORY_METHODS, *SYNE_TUNE]))
    p.add_argument("--meta-configs", default="[{}]",
                   help="JSON list of meta settings, chosen per held-out data set by nested "
                   "leave-one-data-set-out ([{}]: the defaults only)")  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="a tiny run: 2 data sets, 1 draw x 2 "
                   "seeds, 30 queries, no Syne Tune quantile; writes nothing")  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument(
        "--save", type=Path, default=None,
        help="save the runs here (gzipped JSON) as they finish (default: "
        "benchmarks/results/meta_lodo_runs.json.gz when the section is written; given "
        "explicitly, also with --no-write)",
    )  # fmt: skip
    p.add_argument("--load", type=Path, default=None,
                   help="report the runs saved by --save instead of running (several files: "
                   "comma-separated)")  # fmt: skip
    p.add_argument("--reuse", type=Path, default=None,
                   help="add the runs saved in this file of every method not in --methods "
                   "(e.g. rerun only meta after a change to it; the cold arms do not depend "
                   "on it)")  # fmt: skip
    p.add_argument("--wall-s", type=float, default=float("nan"),
                   help="with --load: the wall time the runs took, for the report")  # fmt: skip
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--img", type=Path, default=REPO / "docs" / "img" / "meta_lodo.png")
    args = p.parse_args(argv)
    args.explicit_save = args.save is not None
    if args.save is None:
        args.save = REPO / "benchmarks" / "results" / "meta_lodo_runs.json.gz"
    args.configs = json.loads(args.meta_configs)
    if not isinstance(args.configs, list) or not args.configs:
        p.error("--meta-configs must be a non-empty JSON list of settings dicts")
    if args.quick:
        args.datasets, args.draws, args.seeds, args.budget = "cora,computers", 1, 2, 30
        args.slow_seeds = 1
        args.methods = ",".join(m for m in args.methods.split(",") if m != "st-quantile")
        args.no_write = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    draws = list(range(args.draw_offset, args.draw_offset + args.draws))
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    jobs = make_jobs(datasets, methods, draws, seeds, args.budget, args.configs, args.slow_seeds)
    reused = [] if args.reuse is None else reused_runs(args.reuse, methods, args.budget)
    t0 = time.perf_counter()
    save = args.save if args.explicit_save or not args.no_write else None
    if args.load is not None:
        runs = [r for path in str(args.load).split(",") for r in load_runs(Path(path))]
        wall = args.wall_s
        print(f"{len(runs)} of {len(jobs)} runs loaded from {args.load}", file=sys.stderr)
    else:
        print(f"{len(jobs)} runs on {args.n_jobs} process(es)", file=sys.stderr)
        runs = run_all(jobs, args.n_jobs, save=save, kept=reused)
        wall = time.perf_counter() - t0
    if reused:
        runs = reused + runs
        if save is not None:
            save_runs(save, runs)
    s = Summary(SUITE, runs, args.budget)
    target_lines, _numbers = targets(s, len(args.configs))
    body = [*target_lines, *table(s, sorted({5, 20, 50, s.budget}))]
    secs = {m: float(np.median([r.seconds for r in runs if r.method == m])) for m in s.methods}
    body += [
        "Median wall time per search (s, one core, table look-ups): "
        + ", ".join(f"`{m}` {v:.2f}" for m, v in secs.items()),
        "",
    ]
    text = "\n".join(body) + failures_note()
    print(text)
    print(f"wall time {wall:.0f} s", file=sys.stderr)
    if not args.no_write:
        from _report import header, relpath

        from metanas.benchmarking import write_section

        plot(s, args.img)
        head = header(
            "Meta-learning: leave one data set out (meta-lodo)",
            {
                "runs": (
                    f"{len(runs)} searches: {', '.join(datasets)} held out in turn; cold "
                    f"arms {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}; optuna-gp "
                    f"{min(args.slow_seeds, len(seeds))}, for time); memory arms {len(draws)} "
                    f"memory draws x {len(seeds)} seeds; {args.budget} queries; "
                    f"{args.n_jobs} processes; {wall:.0f} s wall time"
                ),
                "memory": f"per held-out data set: the stored trials of one {MEMORY_TRIALS}-"
                "trial evolution search (seed 1000 + draw) on each of the 7 others",
                **reused_header(reused, args.reuse, methods),
            },
        )
        intro = (
            'The "no harm, modest gain" suite. Arms: cold `random`, `evolution`, `tpe`, `bo`, '
            "`optuna-gp` (Optuna's GPSampler, one categorical parameter per decision); `meta`; "
            "`zero-shot` (the memory predictor's top 5, no feedback); `naive` (every past data "
            "set's 5 best, by mean within-task percentile, then evolution); `similar` (the "
            "most similar past data set's architectures by descriptors, best first, then "
            "evolution); Syne Tune's `ZeroShotTransfer` (its suggestions depend on the memory "
            "only, so it runs once per memory draw, with search seed 0), `BoundingBox` "
            "(random search in the box of each past task's 3 best) and "
            "`QuantileBasedSurrogateSearcher` (copula Thompson sampling, no online learning), "
            "fed the same memory and driven by ask/tell; their repeated suggestions are asked "
            "again, as metanas' strategies never repeat a network. Nothing of `meta` was chosen "
            "on these numbers: it runs with its library defaults, and its last change (the new "
            "task's own model put on the past models' shared scale, docs/meta.md) was diagnosed "
            "on search seeds 100-103 of cora, not on the reported seeds."
        )
        expected: dict[str, int] = {}
        for j in jobs:
            expected[j["method"]] = expected.get(j["method"], 0) + 1
        got = {m: sum(r.method == m for r in runs) for m in expected}
        short = [f"`{m}` {got[m]} of {n}" for m, n in expected.items() if got[m] < n]
        if short:
            intro += (
                " **Incomplete:** " + ", ".join(short) + " runs (the run was stopped for "
                "time; its medians use the runs that finished, '-' where none did)."
            )
        img = relpath(args.img, args.output.parent)
        write_section(
            args.output, SECTION,
            f"{head}\n{intro}\n\n{text}\n![meta-lodo regret curves]({img})\n",
        )  # fmt: skip
        print(f"wrote {args.output} section {SECTION!r} and {args.img}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
