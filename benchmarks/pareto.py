"""Multi-objective search on NAS-Bench-Graph: NSGA-II vs random, validation accuracy vs latency.

Runs every (data set, strategy, seed) for ``--n-trials`` queries with two
objectives (validation accuracy, maximised; latency, minimised), measures the
hypervolume of what each run found as a fraction of the hypervolume of the
table's true Pareto front ("HV ratio"), prints the tables, writes the
``pareto`` section of docs/benchmarks.md and one Pareto-front PNG per data set
(docs/img/pareto_<dataset>.png).

    python benchmarks/pareto.py                          # the full run (about a minute)
    python benchmarks/pareto.py --seeds 3 --datasets cora --no-write

The search sees validation accuracy and latency only; test accuracy plays no
part here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, relpath

import metanas.strategies.nsga2  # noqa: F401  (registers "nsga2" when not wired in yet)
from metanas.benchmarking import ParetoComparison, run_pareto_comparison, write_section
from metanas.benchmarks import NBG_DATASETS
from metanas.spaces import NasBenchGraphSpace
from metanas.strategies import create_strategy

SECTION = "pareto"
#: The 8 NAS-Bench-Graph data sets with the full operation set (proteins has a reduced one).
FULL_OP_DATASETS = NBG_DATASETS[:8]


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=30, help="seeds 0..N-1 per strategy (30)")
    # --budget: the old spelling, still accepted (commands recorded in docs/benchmarks.md).
    p.add_argument(
        "--n-trials", "--budget", dest="n_trials", type=int, default=100,
        help="queries per run (100)",
    )  # fmt: skip
    p.add_argument(
        "--datasets", type=_csv, default=list(FULL_OP_DATASETS),
        help="comma-separated NAS-Bench-Graph data sets (the 8 with the full operation set)",
    )  # fmt: skip
    p.add_argument(
        "--strategies", type=_csv, default=["nsga2", "random"],
        help="comma-separated multi-objective strategies (nsga2,random)",
    )  # fmt: skip
    p.add_argument("--plot-seed", type=int, default=0, help="seed whose fronts are drawn (0)")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes (1; -1: all CPUs)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _settings(strategy: str) -> str:
    settings = create_strategy(strategy, NasBenchGraphSpace()).get_settings()
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "(no settings)"


def headline(cmp: ParetoComparison, a: str, b: str, reference: str) -> list[str]:
    """One row per data set: both median HV ratios, the verdict and the p-value."""
    h2h = cmp.head_to_head(a, b, reference=reference)
    summary = cmp.summary(reference).set_index(["dataset", "strategy"])
    c = cmp.n_trials
    lines = [
        f"| data set | `{a}` HV ratio | `{b}` HV ratio | `{a}` >= `{b}`? | p | "
        f"front found (`{a}` / `{b}`) | true front |",
        "|---|---:|---:|:---:|---:|---:|---:|",
    ]
    for row in h2h.itertuples(index=False):
        d = row.dataset
        cells = []
        for s in (a, b):
            r = summary.loc[(d, s)]
            med, q25, q75 = r[f"hv_ratio@{c}"], r[f"hv_ratio@{c}_q25"], r[f"hv_ratio@{c}_q75"]
            cells.append(f"{med:.4f} [{q25:.4f}, {q75:.4f}]")
        verdict = "**yes**" if row.a_at_least_b else "no"
        sizes = f"{summary.loc[(d, a), 'front_size']:g} / {summary.loc[(d, b), 'front_size']:g}"
        true = int(summary.loc[(d, a), "true_front_size"])
        lines.append(
            f"| {d} | {cells[0]} | {cells[1]} | {verdict} | {row.p_value:.2g} | {sizes} | {true} |"
        )
    wins = int(h2h["a_at_least_b"].sum())
    return [*lines, "", f"`{a}` >= `{b}` (median HV ratio at {c} queries): {wins} of {len(h2h)}."]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    cmp = run_pareto_comparison(
        datasets=args.datasets, strategies=args.strategies, seeds=args.seeds,
        n_trials=args.n_trials, n_jobs=args.n_jobs, progress=not args.quiet,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    a, b = (cmp.strategies + cmp.strategies)[:2]
    worst = headline(cmp, a, b, "worst")
    nadir = headline(cmp, a, b, "nadir")
    print(f"HV ratio at {cmp.n_trials} queries, reference = the table's worst values:\n")
    print("\n".join(worst))
    print(f"\nHV ratio at {cmp.n_trials} queries, reference = the true front's nadir:\n")
    print("\n".join(nadir))
    print()
    print(cmp.to_markdown())
    print(f"{len(cmp.runs)} runs in {wall_s:.0f} s with {args.n_jobs} process(es).")
    if args.no_write:
        return 0

    out: Path = args.output
    pngs = cmp.plot_fronts(args.img_dir, seed=args.plot_seed)
    settings = {
        "runs": (
            f"{len(cmp.strategies)} strategies ({', '.join(cmp.strategies)}) x "
            f"{len(cmp.datasets)} data sets x {args.seeds} seeds (0..{args.seeds - 1}), "
            f"{cmp.n_trials} queries each; {args.n_jobs} worker process(es); {wall_s:.0f} s wall "
            "time"
        ),
        "objectives": "`valid_accuracy` (maximize), `latency` (minimize)",
        "strategies": "metanas defaults: "
        + "; ".join(f"`{s}` {_settings(s)}" for s in cmp.strategies),
    }
    parts = [
        header(
            "Multi-objective search: validation accuracy vs latency (NAS-Bench-Graph)", settings
        ),
        "**Definitions.** Each run is a study with two objectives, validation accuracy "
        "(maximised) and latency (minimised), and a budget of "
        f"{cmp.n_trials} queries. Its *hypervolume* (HV) is the area of objective space that the "
        "architectures it found dominate, bounded by a reference point. The *HV ratio* divides "
        "it by the hypervolume of the table's true Pareto front (every architecture of the "
        "table), from the same reference point: 1 means the run found the whole true front. "
        "The ratio does not depend on the units of either objective, so data sets compare. "
        "**Reference point** (the headline): the worst validation accuracy and the worst "
        "(largest) latency of the whole table, per data set. Because that point is far from "
        "the front, every reasonable search gets a high ratio; the second table uses the "
        "true front's *nadir* (its own worst accuracy and worst latency), which counts only "
        "the region of the front itself and separates the strategies more. Cells: median "
        "[25th, 75th percentile] over seeds; *p*: one-sided Mann-Whitney U that the first "
        "strategy's ratios are larger; *front found*: median number of non-dominated "
        "architectures a run found; *true front*: Pareto-optimal architectures in the table. "
        "NSGA-II's first `population_size` queries are its random initial population, drawn "
        "exactly as random search draws, so both strategies have the same numbers at 10 "
        "queries; its first generations may trail random search (see 20 queries).",
        "",
        f"### HV ratio at {cmp.n_trials} queries (reference: the table's worst values)",
        "",
        *worst,
        "",
        f"### HV ratio at {cmp.n_trials} queries (reference: the true front's nadir)",
        "",
        *nadir,
        "",
        "### HV ratio by number of queries (reference: the table's worst values)",
        "",
        cmp.to_markdown().rstrip("\n"),
        "",
        "Best median per row in bold (higher is better).",
        "",
        "### Pareto fronts",
        "",
        f"Grey: every architecture of the table; the table's true front, and the fronts that "
        f"`{a}` and `{b}` found with seed {args.plot_seed} ({cmp.n_trials} queries; faint dots: "
        "the dominated architectures they queried). Latency on a log axis where it spans "
        "more than a factor 20.",
        "",
    ]
    for p in pngs:
        d = p.stem.removeprefix("pareto_")
        parts += [f"![{d}: Pareto fronts]({relpath(p, out.parent)})", ""]
    write_section(out, SECTION, "\n".join(parts))
    print(f"Wrote section {SECTION!r} of {out} and {len(pngs)} PNGs under {args.img_dir}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
