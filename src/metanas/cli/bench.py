"""``metanas bench``: compare search strategies on a tabular benchmark (several seeds each)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import metanas
from metanas._json import jsonable
from metanas.cli import _console as c

__all__ = ["EPILOG", "bench"]

_BENCH_STRATEGIES = "random,evolution,local,tpe"

EPILOG = c.examples(
    (
        "four strategies, 10 seeds, 100 trials, on two data sets",
        "metanas bench --datasets cora,citeseer --seeds 10 --n-trials 100",
    ),
    (
        "all data sets, in parallel, writing a docs section and curve plots",
        "metanas bench --n-jobs 8 --output docs/benchmarks.md --plots docs/img",
    ),
    (
        "machine-readable summary",
        "metanas bench --datasets cora --strategies random,evolution --seeds 3 --n-trials 50 "
        "--json",
    ),
)


def bench(
    benchmark: Annotated[
        str,
        typer.Option(
            "--benchmark", "-b",
            help=f"Tabular benchmark to compare on: {', '.join(c.benchmark_names())}.",
        ),
    ] = "nas-bench-graph",
    datasets: Annotated[
        str | None,
        typer.Option("--datasets", "-d", help="Comma-separated data sets (default: all)."),
    ] = None,
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies", "-s",
            help="Comma-separated strategies to compare, of: "
            f"{', '.join(c.choices('strategy'))}. The list replaces the default set (which "
            "includes Optuna's tpe as the peer baseline): name tpe to keep it.",
        ),
    ] = _BENCH_STRATEGIES,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Repeats per strategy and data set (0..N-1).")
    ] = 10,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", "-n", min=1, help="Trials per run (default 100)."),
    ] = None,
    budget: Annotated[int | None, c.BUDGET_OPTION] = None,
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", "-j", min=1, help="Runs in parallel (processes).")
    ] = 1,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Markdown file whose 'cli-bench' section is written."),
    ] = None,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Directory to write regret-curve plots to.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: Annotated[bool, c.VERBOSE_OPTION] = False,
) -> None:  # fmt: skip
    """Compare search strategies on a tabular benchmark (several seeds each).

    Every (data set, strategy, seed) run searches [bold]--n-trials[/] trials in memory; the
    summary gives the regret to the table optimum at a few checkpoints.
    """
    err = c.stderr()
    with c.errors(), c.logging_to(err, c.log_level(quiet, verbose)):
        from metanas.benchmarking import run_comparison, write_section

        n = c.renamed(n_trials, budget, "--n-trials", "--budget")
        n = 100 if n is None else n
        known = metanas.benchmarks.available_benchmarks()
        key = benchmark.lower().replace("_", "-")
        if datasets is None and key not in known:
            from metanas.exceptions import closest

            raise metanas.UnknownNameError(
                f"Unknown benchmark {benchmark!r}.{closest(key, known)} Benchmarks: "
                f"{sorted(known)!r}."
            )
        sets = c.split_list(datasets, "--datasets") or list(known[key])
        names = c.split_list(strategies, "--strategies") or []
        checkpoints = (*(x for x in (10, 20, 50, 100, 200, 500, 1000) if x < n), n)
        cmp = run_comparison(
            benchmark=key, datasets=sets, strategies=names, seeds=seeds, n_trials=n,
            checkpoints=checkpoints, n_jobs=n_jobs,
            # the runner draws its bar on stdout: keep it out of redirected output
            progress=c.interactive(quiet) and sys.stdout.isatty(),
        )  # fmt: skip
        summary = cmp.summary()
        written: dict[str, Any] = {}
        if output is not None:
            write_section(output, "cli-bench", cmp.to_markdown())
            written["output"] = str(output)
        if plots is not None:
            written["plots"] = [str(p) for p in cmp.plot_curves(plots)]
    if json_output:
        c.echo_json({"summary": summary.to_dict(orient="records"), **written})
        return
    c.stdout().print(_bench_table(summary, f"{key}: {n} trials x {seeds} seed(s)"))
    if "output" in written:
        err.print(f"Wrote section 'cli-bench' of {written['output']}")
    for p in written.get("plots", []):
        err.print(f"Wrote {p}")


def _bench_table(summary: Any, title: str) -> Table:
    """The headline columns of :meth:`Comparison.summary`: median regrets, queries to top."""
    cols = [str(x) for x in summary.columns]
    tests = [x for x in cols if x.startswith("test_regret@") and not x.endswith(("_q25", "_q75"))]
    keep = [
        x
        for x in cols
        if x in ("dataset", "strategy", "n_seeds", "queries_to_top", "n_reached_top")
        or x in ("overhead_ms",)
        or (x.startswith("valid_regret@") and not x.endswith(("_q25", "_q75")))
        or (tests and x == tests[-1])
    ]
    table = Table(title=f"{title}; regret: median over seeds", title_justify="left")
    for x in keep:
        numeric = str(summary[x].dtype).startswith(("float", "int"))
        header = x.replace("valid_regret", "valid regret ").replace("test_regret", "test regret ")
        table.add_column(header.replace("_", " "), justify="right" if numeric else "left")
    for row in summary[keep].itertuples(index=False):
        table.add_row(*(c.fmt(jsonable(v)) for v in row))
    return table
