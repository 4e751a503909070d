"""How a finished search is shown: the summary table (or JSON) of `search` and `oneshot`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from metanas.cli import _console as c

__all__ = ["finish_search"]

_HARDWARE_METRICS = ("params", "flops", "latency_ms", "latency_b64_ms", "train_time_s", "epochs")


def finish_search(summary: dict[str, Any], json_output: bool) -> None:
    """Print a search summary (table or JSON); exit 1 when no trial completed."""
    if json_output:
        c.echo_json(summary)
    else:
        _print_summary(summary)
    if summary["n_complete"] == 0:
        first = summary.get("first_error")
        reason = f" Trial {first[0]} failed with: {first[1]}" if first else ""
        n_open = summary.get("n_trials", 0) - summary["n_finished"]
        scheduler = summary.get("scheduler") or {}
        if not first and n_open > 0 and scheduler.get("n_cohort"):
            # A promotion scheduler (sh) pauses every trial until its cohort is full.
            cohort = scheduler["n_cohort"]
            reason = (
                f" {n_open} trial(s) wait, paused, for a full cohort of {cohort} trials "
                f"({scheduler.get('name')}): run again with --n-trials {cohort} or more."
            )
        c.fail(
            f"No trial of study {summary['study']!r} completed ({summary['n_failed']} "
            f"failed).{reason}",
            code=1,
        )


def _print_summary(s: Mapping[str, Any]) -> None:
    grid = c.grid()
    how = f"resumed, {s['n_new_trials']} new trial(s)" if s["resumed"] else "new"
    grid.add_row("Study", f"{s['study']} ({how})")
    grid.add_row("Task", s["task"])
    grid.add_row("Strategy", f"{s['strategy']} (seed {s['seed']})")
    grid.add_row("Objective", ", ".join(f"{d} {m}" for m, d in s["objectives"]))
    grid.add_row(
        "Trials",
        f"{s['n_finished']} finished: {s['n_complete']} complete, "
        + (f"{s['n_pruned']} pruned, " if s.get("n_pruned") else "")
        + f"{s['n_failed']} failed (target {s['budget']})"
        + (
            f"; {s['n_open']} not finished (the same command continues them)"
            if s.get("n_open")
            else ""
        ),
    )
    best = s["best"]
    if best is not None:
        grid.add_row("Best trial", f"#{best['number']}")
        grid.add_row("  architecture", best["arch"])
        grid.add_row(f"  {s['metric']}", c.fmt(best["value"]))
        for k, v in best["test_metrics"].items():
            grid.add_row(f"  {k}", c.fmt(v))
        for k in _HARDWARE_METRICS:
            if k in best["metrics"] and k != s["metric"]:
                grid.add_row(f"  {k}", c.fmt(best["metrics"][k]))
        if s.get("hardware"):
            grid.add_row("  measured on", s["hardware"])
        if s["regret"] is not None:
            grid.add_row("Regret", f"{c.fmt(s['regret'])} (table optimum {c.fmt(s['optimum'])})")
    elif s["pareto_front"]:
        grid.add_row(
            "Pareto front", f"{len(s['pareto_front'])} non-dominated trial(s), listed below"
        )
    grid.add_row("Wall time", f"{s['wall_time_s']:.2f} s")
    grid.add_row("Storage", s["storage"])
    out = c.stdout()
    out.print(grid)
    if s["pareto_front"]:
        out.print(_pareto_table(s))


def _pareto_table(s: Mapping[str, Any], limit: int = 50) -> Table:
    """The Pareto front: architecture, each objective, then the report-only test metrics."""
    front = s["pareto_front"]
    names = [m for m, _ in s["objectives"]]
    tests = sorted({k for t in front for k in t["test_metrics"]})
    table = Table(
        title=f"Pareto front ({', '.join(f'{d[:3]} {m}' for m, d in s['objectives'])}), "
        f"best {names[0]} first",
        title_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("arch", no_wrap=True)
    for col in [*names, *tests]:
        table.add_column(col, justify="right")
    for t in front[:limit]:
        values = list(t["values"] or [None] * len(names))
        table.add_row(
            str(t["number"]), t["arch"], *(c.fmt(v) for v in values),
            *(c.fmt(t["test_metrics"].get(x)) for x in tests),
        )  # fmt: skip
    if len(front) > limit:
        table.caption = f"... and {len(front) - limit} more (all of them with --json)"
    return table
