"""``metanas studies list | show | export | delete``: the stored studies."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import metanas
from metanas._json import jsonable
from metanas.cli import _console as c
from metanas.search import trial_record

__all__ = ["app"]


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


app = typer.Typer(
    help="List, show, export, plot and delete stored studies.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings=c.CONTEXT,
    epilog=c.examples(
        ("what is stored in runs.db", "metanas studies list --storage sqlite:///runs.db"),
        ("one study's best trials", "metanas studies show cora-rea --top 5"),
    ),
)


@app.command(
    "list",
    epilog=c.examples(
        ("the studies of one file", "metanas studies list --storage sqlite:///runs.db"),
        ("as JSON, from $METANAS_STORAGE or the user's store", "metanas studies list --json"),
    ),
)
def studies_list(
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:
    """List the studies in a store, with trial counts and best values."""
    url = c.storage_url(storage)
    with c.errors():
        rows = [] if c.sqlite_file_missing(url) else metanas.storage.get_storage(url).list_studies()
    records: list[dict[str, Any]] = [
        {
            "name": s.name, "task": s.task, "strategy": s.strategy,
            "objectives": [list(o) for o in s.objectives], "n_trials": s.n_trials,
            "n_complete": s.n_complete, "n_failed": s.n_failed, "best_value": s.best_value,
            "created_at": s.created_at,
        }
        for s in rows
    ]  # fmt: skip
    if json_output:
        c.echo_json(records)
        return
    out = c.stdout()
    if not records:
        out.print(f"No studies in {c.display_url(url)}")
        return
    table = Table(title=f"Studies in {c.display_url(url)}")
    for col, justify in (
        ("name", "left"), ("task", "left"), ("strategy", "left"), ("objective", "left"),
        ("trials", "right"), ("complete", "right"), ("failed", "right"), ("best", "right"),
        ("created (UTC)", "left"),
    ):  # fmt: skip
        table.add_column(col, justify=justify, no_wrap=col == "name")  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            c.plain(r["name"]), c.plain(r["task"]), c.plain(r["strategy"]),
            c.plain(", ".join(f"{d[:3]} {m}" for m, d in r["objectives"])),
            str(r["n_trials"]), str(r["n_complete"]), str(r["n_failed"]),
            c.fmt(r["best_value"]), r["created_at"].strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    out.print(table)


@app.command(
    "show",
    epilog=c.examples(
        ("config and 10 best trials", "metanas studies show cora-rea --storage sqlite:///runs.db"),
        ("the 3 best, as JSON", "metanas studies show cora-rea --top 3 --json"),
        ("trial 7's learning curve", "metanas studies show cora-rea --trial 7"),
    ),
)
def studies_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    top: Annotated[
        int, typer.Option("--top", "-k", min=0, help="Best trials to list (0: all).")
    ] = 10,
    trial: Annotated[
        int | None,
        typer.Option(
            "--trial", "-t", min=0,
            help="Trial whose intermediate values (learning curve) to show (default: the best).",
        ),
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    table_csv: Annotated[Path | None, c.TABLE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:  # fmt: skip
    """Show a study's configuration, its best trials and one trial's learning curve."""
    url = c.storage_url(storage)
    with c.errors():
        study = c.open_study(name, url, table_csv)
        record = study.storage.get_study(name)
        trials = study.trials
        complete = [t for t in trials if t.state is metanas.TrialState.COMPLETE]
        sign = 1.0 if study.direction == "maximize" else -1.0
        ranked = sorted(complete, key=lambda t: (-sign * float(t.value or 0.0), t.number))
        shown = ranked if top == 0 else ranked[:top]
        info: dict[str, Any] = {
            "study": study.name,
            "task": study.task,
            "task_descriptors": dict(study.task_descriptors),
            "strategy": record.strategy,
            "strategy_settings": dict(record.strategy_settings),
            "seed": study.seed,
            "objectives": [list(o) for o in study.objectives],
            "space": dict(record.space)
            if record.space.get("type") != "decisions"
            else {"type": "decisions"},
            "created_at": record.created_at,
            "n_trials": len(trials),
            "n_complete": len(complete),
            "n_failed": sum(1 for t in trials if t.state is metanas.TrialState.FAILED),
            "n_pruned": sum(1 for t in trials if t.state is metanas.TrialState.PRUNED),
            "n_open": sum(1 for t in trials if not t.state.finished),
            "scheduler": None
            if record.scheduler is None
            else {"name": record.scheduler, **dict(record.scheduler_settings or {})},
            "storage": c.display_url(url),
            "top_trials": [trial_record(study, t) for t in shown],
            "curve": _curve(study, trial, ranked),
        }
    if json_output:
        c.echo_json(info)
        return
    out = c.stdout()
    grid = c.grid()
    # Stored strings are shown as plain text: no markup, control characters escaped.
    grid.add_row("Study", c.plain(info["study"]))
    grid.add_row("Task", c.plain(info["task"]))
    if info["task_descriptors"]:
        grid.add_row("Task descriptors", c.plain(json.dumps(jsonable(info["task_descriptors"]))))
    grid.add_row("Strategy", c.plain(info["strategy"]))
    if info["strategy_settings"]:
        grid.add_row("Settings", c.plain(json.dumps(jsonable(info["strategy_settings"]))))
    grid.add_row("Seed", str(info["seed"]))
    grid.add_row("Objective", c.plain(", ".join(f"{d} {m}" for m, d in info["objectives"])))
    grid.add_row("Space", c.plain(json.dumps(jsonable(info["space"]))))
    if info["scheduler"] is not None:
        grid.add_row("Scheduler", c.plain(json.dumps(jsonable(info["scheduler"]))))
    pruned = f"{info['n_pruned']} pruned, " if info["scheduler"] is not None else ""
    still = f", {info['n_open']} open" if info["n_open"] else ""
    grid.add_row(
        "Trials",
        f"{info['n_trials']}: {info['n_complete']} complete, {pruned}{info['n_failed']} "
        f"failed{still}",
    )
    grid.add_row("Created (UTC)", info["created_at"].strftime("%Y-%m-%d %H:%M:%S"))
    grid.add_row("Storage", c.plain(info["storage"]))
    out.print(grid)
    # A table look-up reports no steps: say so only when the trial was asked for.
    if info["curve"] is not None and (info["curve"]["steps"] or trial is not None):
        _print_curve(info["curve"])
    if not shown:
        out.print("No completed trial yet.")
        return
    metric_names = sorted({k for t in info["top_trials"] for k in t["metrics"]})
    test_names = sorted({k for t in info["top_trials"] for k in t["test_metrics"]})
    table = Table(title=c.plain(f"Top {len(shown)} trial(s) by {study.metric}"))
    table.add_column("#", justify="right")
    table.add_column("arch", no_wrap=True)
    budgets = info["scheduler"] is not None
    if budgets:
        table.add_column("budget", justify="right")
    for col in [*metric_names, *test_names]:
        table.add_column(c.plain(col), justify="right")
    for t in info["top_trials"]:
        table.add_row(
            str(t["number"]), c.plain(t["arch"]),
            *([c.fmt(t["budget"])] if budgets else []),
            *(c.fmt(t["metrics"].get(x)) for x in metric_names),
            *(c.fmt(t["test_metrics"].get(x)) for x in test_names),
        )  # fmt: skip
    out.print(table)


def _curve(study: metanas.Study, number: int | None, ranked: list[metanas.Trial]) -> Any:
    """``{"trial": n, "steps": [...]}`` for trial ``number`` (None: the best), or None."""
    if number is None:
        if not ranked or len(study.objectives) > 1:
            return None
        number = ranked[0].number
    elif not any(t.number == number for t in study.trials):
        numbers = [t.number for t in study.trials]
        have = f"0 to {max(numbers)}" if numbers else "none yet"
        raise ValueError(
            f"Study {study.name!r} has no trial {number} (its trials: {have}). Pass --trial one "
            "of them."
        )
    steps = [
        {"step": step, "elapsed_s": elapsed, "values": values}
        for step, values, elapsed in study.intermediate_values(number)
    ]
    t = next(t for t in study.trials if t.number == number)
    decisions = [
        {"budget": e.budget, "kind": e.kind, "decision": e.decision, "cost_s": e.cost_s}
        for e in study.storage.get_events(study.storage.get_study(study.name).id)
        if e.number == number
    ]
    return {
        "trial": number, "state": t.state.value, "budget": t.budget, "steps": steps,
        "decisions": decisions,
    }  # fmt: skip


def _print_curve(curve: dict[str, Any], limit: int = 30) -> None:
    """One line per metric: ``step: value`` pairs (the last ``limit`` steps)."""
    out = c.stdout()
    steps = curve["steps"]
    if not steps:
        out.print(c.plain(f"Trial {curve['trial']} reported no intermediate values."))
        return
    grid = c.grid()
    names = sorted({k for s in steps for k in s["values"]})
    shown = steps[-limit:]
    more = "... " if len(steps) > limit else ""
    for name in names:
        pairs = "  ".join(f"{s['step']}: {c.fmt(s['values'].get(name))}" for s in shown)
        grid.add_row(c.plain(name), c.plain(more + pairs))
    elapsed = steps[-1]["elapsed_s"]
    took = "" if elapsed is None else f", {c.fmt(elapsed, 3)} s at step {steps[-1]['step']}"
    out.print(c.plain(f"Learning curve of trial {curve['trial']} ({len(steps)} steps{took}):"))
    out.print(grid)
    if curve.get("decisions"):
        said = ", ".join(f"{c.fmt(d['budget'])} -> {d['decision']}" for d in curve["decisions"])
        out.print(c.plain(f"Scheduler (trial {curve['trial']}, {curve['state']}): {said}"))


@app.command(
    "export",
    epilog=c.examples(
        ("CSV on stdout", "metanas studies export cora-rea > cora-rea.csv"),
        ("JSON records", "metanas studies export cora-rea --format json --output cora-rea.json"),
    ),
)
def studies_export(
    name: Annotated[str, typer.Argument(help="Study name.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format", "-f", case_sensitive=False,
            help="csv or json (default: from the --output suffix, else csv).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    table_csv: Annotated[Path | None, c.TABLE_OPTION] = None,
) -> None:  # fmt: skip
    """Export every trial of a study, one row per trial (CSV, or JSON records)."""
    url = c.storage_url(storage)
    with c.errors():
        study = c.open_study(name, url, table_csv)
        df = study.trials_dataframe()
        if fmt is None:
            is_json = output is not None and output.suffix.lower() == ".json"
            fmt = ExportFormat.json if is_json else ExportFormat.csv
        if fmt is ExportFormat.csv:
            text = df.to_csv(index=False) if len(df.columns) else ""
        else:
            text = (
                json.dumps(
                    [jsonable(r) for r in df.to_dict(orient="records")], indent=2, allow_nan=False
                )
                + "\n"
            )
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        write_text(output, text)
    c.stderr().print(c.plain(f"Wrote {len(df)} trial(s) of study {name!r} to {output}"))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (folders created); an unwritable path is one ValueError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        # FileExistsError/NotADirectoryError (a file where a folder must be), IsADirectoryError,
        # PermissionError ...: the user can fix each by choosing another --output.
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise ValueError(
            f"Cannot write {str(path)!r}: {reason}{where}. Pass --output a file path in a "
            "folder you may write to."
        ) from exc


@app.command(
    "delete",
    epilog=c.examples(
        ("no questions asked", "metanas studies delete cora-rea --yes --storage sqlite:///runs.db"),
    ),
)
def studies_delete(
    name: Annotated[str, typer.Argument(help="Study name.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
) -> None:
    """Delete a study and all its trials (cannot be undone)."""
    url = c.storage_url(storage)
    with c.errors():
        if c.sqlite_file_missing(url):
            c.open_study(name, url)  # raises: no such study
        store = metanas.storage.get_storage(url)
        record = store.get_study(name)  # raises with close names when missing
        if not yes:
            if not sys.stdin.isatty():
                raise ValueError(
                    f"Deleting study {name!r} cannot be undone: pass --yes to confirm."
                )
            typer.confirm(
                f"Delete study {name!r} ({record.task.name}) from {c.display_url(url)}?",
                abort=True,
            )
        store.delete_study(name)
    c.stderr().print(f"Deleted study {name!r} from {c.display_url(url)}")


class PlotKind(StrEnum):
    history = "history"
    pareto = "pareto"
    importance = "importance"
    curves = "curves"


@app.command(
    "plot",
    epilog=c.examples(
        ("values and best so far", "metanas studies plot cora-rea --out history.png"),
        ("which decisions matter", "metanas studies plot cora-rea --kind importance --out imp.png"),
    ),
)
def studies_plot(
    name: Annotated[str, typer.Argument(help="Study name.")],
    kind: Annotated[
        PlotKind, typer.Option("--kind", "-k", help="Which figure.")
    ] = PlotKind.history,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("plot.png"),
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
) -> None:
    """Draw one figure of a study as PNG: history, pareto, importance or curves."""
    url = c.storage_url(storage)
    with c.errors():
        if c.sqlite_file_missing(url):
            c.open_study(name, url)  # raises: no such study
        from metanas.dashboard import plot_study

        path = plot_study(url, name, kind.value, out)
    c.stderr().print(f"Wrote {path}")
