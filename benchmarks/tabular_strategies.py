"""Compare search strategies on the tabular NAS-Bench-Graph benchmark.

Runs every (data set, strategy, seed) for ``--n-trials`` queries, prints the
tables, writes the ``tabular-strategies`` section of docs/benchmarks.md and
regret curves under docs/img/.

    python benchmarks/tabular_strategies.py                 # the full run (a few minutes)
    python benchmarks/tabular_strategies.py --seeds 2 --n-trials 20 --datasets cora --no-write

The search sees validation accuracy only; test accuracy is looked up for the
incumbent chosen by validation, for the report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, relpath

from metanas.benchmarking import Comparison, run_comparison, write_section
from metanas.benchmarks import NBG_DATASETS

SECTION = "tabular-strategies"
DEFAULT_STRATEGIES = ("random", "evolution", "local", "tpe")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per strategy (10)")
    # --budget: the old spelling, still accepted (commands recorded in docs/benchmarks.md).
    p.add_argument(
        "--n-trials", "--budget", dest="n_trials", type=int, default=100,
        help="queries per run (100)",
    )  # fmt: skip
    p.add_argument(
        "--datasets", type=_csv, default=list(NBG_DATASETS),
        help="comma-separated NAS-Bench-Graph data sets (all 9)",
    )  # fmt: skip
    p.add_argument(
        "--strategies", type=_csv, default=list(DEFAULT_STRATEGIES),
        help="comma-separated strategies; tpe is always added (random,evolution,local,tpe)",
    )  # fmt: skip
    p.add_argument(
        "--checkpoints", type=lambda s: [int(x) for x in _csv(s)], default=[10, 20, 50, 100],
        help="query counts reported in the tables (10,20,50,100)",
    )  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=2, help="worker processes (2; -1: all CPUs)")
    p.add_argument("--top-fraction", type=float, default=0.005, help="top for queries-to-top")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def evolution_vs_random(comparison: Comparison, n_trials: int) -> list[str]:
    if not {"evolution", "random"} <= set(comparison.strategies):
        return []
    h2h = comparison.head_to_head("evolution", "random", n_trials)
    wins = int(h2h["a_better"].sum())
    lines = [
        f"**Does evolution beat random in median valid regret at {n_trials} queries?** "
        f"Yes on {wins} of {len(h2h)} data sets. (Lower is better; p: one-sided Mann-Whitney U "
        f"over seeds that evolution's regrets are lower; with few seeds read it as a hint.)",
        "",
    ]
    for row in h2h.itertuples(index=False):
        d = row.dataset
        ev, rnd = row.evolution_median * 100, row.random_median * 100
        verdict = "yes" if row.a_better else ("tie" if row.tie else "no")
        lines.append(
            f"- {d}: **{verdict}**, evolution {ev:.3f} vs random {rnd:.3f} accuracy points "
            f"(p = {row.p_value:.2g})"
        )
    return [*lines, ""]


FULL_OPS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")


def _median_queries(comparison: Comparison, strategy: str, dataset: str) -> tuple[float, bool]:
    """Median queries to the top, runs that never got there counted as n_trials + 1.

    Returns (value, censored): censored means the median run did not get there, so the
    true median is at least ``n_trials + 1``.
    """
    import numpy as np

    n_trials = comparison.n_trials
    q = [
        n_trials + 1 if r.queries_to_top is None else r.queries_to_top
        for r in comparison.runs
        if r.strategy == strategy and r.dataset == dataset
    ]
    med = float(np.median(q))
    return med, med > n_trials


def issue_targets(comparison: Comparison) -> list[str]:
    """The targets of the strategies issue, checked on the 8 full-operation data sets."""
    have = set(comparison.strategies)
    sets = [d for d in FULL_OPS if d in comparison.datasets]
    if not sets:
        return []
    df = comparison.summary().set_index(["dataset", "strategy"])
    n_trials = comparison.n_trials
    lines = [
        f"Checked on the {len(sets)} data sets with the full operation set ({', '.join(sets)}).",
        "",
    ]
    if {"bo", "tpe"} <= have and 50 in comparison.checkpoints:
        ratio_ok = regret_ok = 0
        rows = ["| data set | bo queries to top | tpe queries to top | ratio | bo regret @50 | "
                "tpe regret @50 |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for d in sets:
            bq, bc = _median_queries(comparison, "bo", d)
            tq, tc = _median_queries(comparison, "tpe", d)
            if bc:
                ratio, ok = "—", False  # bo never got there: no claim
            elif tc:
                bound = bq / (n_trials + 1)  # tpe's true median is at least n_trials + 1
                ratio, ok = f"<= {bound:.2f}", bound <= 0.7
            else:
                ratio, ok = f"{bq / tq:.2f}", bq / tq <= 0.7
            ratio_ok += ok
            br = df.loc[(d, "bo"), "valid_regret@50"] * 100
            tr = df.loc[(d, "tpe"), "valid_regret@50"] * 100
            regret_ok += br <= tr
            fmt = lambda v, c: f">{n_trials}" if c else f"{v:g}"  # noqa: E731
            rows.append(
                f"| {d} | {fmt(bq, bc)} | {fmt(tq, tc)} | {ratio}{' ✓' if ok else ''} | "
                f"{br:.3f}{' ✓' if br <= tr else ''} | {tr:.3f} |"
            )
        lines += [
            f"- **bo vs tpe, queries to the top 0.5 %**: median ratio <= 0.7 on **{ratio_ok} of "
            f"{len(sets)}** data sets (target: >= 6). Runs that never reached the top count as "
            f"{n_trials + 1}; where tpe's median run never got there the ratio is an upper bound.",
            f"- **bo vs tpe, median valid regret at 50 queries**: bo <= tpe on **{regret_ok} of "
            f"{len(sets)}** (target: >= 6).",
            "",
            *rows,
            "",
        ]
    for name in ("rl", "metaqnn", "evolution", "local", "bo", "nsga2"):
        if name in have and "random" in have:
            h2h = comparison.head_to_head(name, "random", n_trials)
            h2h = h2h[h2h["dataset"].isin(sets)]
            wins = int(h2h["a_better"].sum())
            target = " (target for rl and metaqnn: >= 6)" if name in ("rl", "metaqnn") else ""
            lines.append(
                f"- **{name} vs random, median valid regret at {n_trials} queries**: better on "
                f"**{wins} of {len(h2h)}**{target}."
            )
    return [*lines, ""]


def winners(comparison: Comparison, kind: str, n_trials: int) -> str:
    """'local 5, evolution 4 ...': data sets where each strategy has the lowest median regret."""
    df = comparison.summary()
    col = f"{kind}_regret@{n_trials}"
    counts = dict.fromkeys(comparison.strategies, 0)
    for _, sub in df.groupby("dataset", sort=False):
        best = sub[col].min()
        for s in sub.loc[sub[col] == best, "strategy"]:
            counts[s] += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"`{s}` {n}" for s, n in ranked)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    strategies = list(dict.fromkeys(args.strategies))
    if "tpe" not in strategies:
        strategies.append("tpe")  # the peer baseline is always compared
    start = time.perf_counter()
    comparison = run_comparison(
        datasets=args.datasets, strategies=strategies, seeds=args.seeds, n_trials=args.n_trials,
        checkpoints=args.checkpoints, n_jobs=args.n_jobs, top_fraction=args.top_fraction,
        progress=not args.quiet,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    n_trials = comparison.n_trials
    n_seeds = args.seeds
    overview = comparison.overview_markdown("valid")
    test_overview = comparison.overview_markdown("test")
    h2h = evolution_vs_random(comparison, n_trials)
    tables = comparison.to_markdown()
    print(f"Median valid regret at {n_trials} queries (accuracy points; lower is better):\n")
    print(overview)
    print("\n".join(h2h))
    print("\n".join(issue_targets(comparison)))
    print(tables)
    print(f"{len(comparison.runs)} runs in {wall_s:.0f} s with {args.n_jobs} process(es).")
    if args.no_write:
        return 0

    out: Path = args.output
    img_paths = comparison.plot_curves(args.img_dir)
    imgs = {p.stem: relpath(p, out.parent) for p in img_paths}
    overview_png = imgs.pop(next(k for k in imgs if k.endswith("_overview")))
    settings = {
        "runs": (
            f"{len(strategies)} strategies ({', '.join(strategies)}) x {len(comparison.datasets)} "
            f"data sets x {n_seeds} seeds (0..{n_seeds - 1}), {n_trials} queries each; "
            f"{args.n_jobs} worker process(es); {wall_s:.0f} s wall time"
        ),
        "strategies": "metanas defaults; `tpe` is Optuna's TPESampler with its defaults",
    }
    parts = [
        header("Search strategies on NAS-Bench-Graph (tabular)", settings),
        "**Definitions.** The search sees only validation accuracy (`valid_accuracy`). After "
        "query *t*: *valid regret* = best validation accuracy in the table - best validation "
        "accuracy found so far; *test regret* = best test accuracy in the table - test "
        "accuracy of the incumbent chosen by validation (the best-validating architecture so "
        "far, earliest on ties; test accuracy is never used to choose). *Queries to top* = the "
        f"first *t* at which the incumbent is in the table's top {args.top_fraction * 100:g} % "
        'by validation accuracy (">budget" when the median run never got there). *Overhead* '
        "= study loop time per trial minus the table look-up, with an in-memory SQLite store, "
        "measured while the worker processes ran side by side (see the overhead section for "
        "the SQLite-file numbers). Regrets are in accuracy points (x 100); cells give the "
        "median and [25th, 75th percentile] over seeds. Random, evolution and local search "
        "draw their random architectures from the same per-trial seeds, so with one seed they "
        "query the same architectures until their methods diverge (local search after 10 "
        "queries, evolution after its population of 20): equal numbers at 10 and 20 queries "
        "are expected.",
        "",
        f"### Median valid regret at {n_trials} queries",
        "",
        overview,
        f"Lowest median valid regret (data sets, ties counted for each): "
        f"{winners(comparison, 'valid', n_trials)}.",
        "",
        f"### Median test regret at {n_trials} queries",
        "",
        "Test accuracy of the architecture each search picked by validation; the search never "
        "saw it. Where validation and test disagree, a better validation regret need not give "
        "a better test regret.",
        "",
        test_overview,
        f"Lowest median test regret (data sets, ties counted for each): "
        f"{winners(comparison, 'test', n_trials)}.",
        "",
        "### Targets of the strategy issues",
        "",
        *issue_targets(comparison),
        "### Evolution vs random",
        "",
        *h2h,
        f"![validation regret curves, all data sets]({overview_png})",
        "",
        "### Per data set",
        "",
    ]
    for d in comparison.datasets:
        parts.append(comparison.to_markdown([d], notes=False).rstrip("\n"))
        key = next((k for k in imgs if k.endswith(f"_{d}")), None)
        if key:
            parts += ["", f"![{d}: regret curves]({imgs[key]})"]
        parts.append("")
    parts.append(tables.rstrip("\n").rsplit("\n", 1)[-1])  # the note explaining the cells
    write_section(out, SECTION, "\n".join(parts))
    print(f"Wrote section {SECTION!r} of {out} and {len(img_paths)} PNGs under {args.img_dir}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
