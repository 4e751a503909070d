"""``metanas memory list | export | import``: the experience memory on the command line.

Like every command it only parses options and calls the public API
(:class:`metanas.meta.ExperienceMemory`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from metanas._json import jsonable
from metanas.cli import _console as c

__all__ = ["app"]


class OnConflict(StrEnum):
    skip = "skip"
    rename = "rename"
    error = "error"


app = typer.Typer(
    help=(
        "The experience memory: every stored task with its studies and trials. List it, "
        "and share it as a file (export, import)."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings=c.CONTEXT,
    epilog=c.examples(
        ("the tasks the memory holds", "metanas memory list"),
        ("share it as a file", "metanas memory export memory.json.gz"),
    ),
)


@app.command(
    "list",
    epilog=c.examples(
        ("the tasks of one file", "metanas memory list --storage sqlite:///runs.db"),
        ("as JSON (descriptors and best values included)", "metanas memory list --json"),
    ),
)
def memory_list(
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:
    """List the tasks in the memory, with study and trial counts and best values."""
    url = c.storage_url(storage)
    with c.errors():
        from metanas.meta import ExperienceMemory

        infos = [] if c.sqlite_file_missing(url) else ExperienceMemory(url).tasks()
    records = [i.to_dict() for i in infos]
    if json_output:
        c.echo_json(records)
        return
    out = c.stdout()
    if not records:
        out.print(f"No tasks in {c.display_url(url)}")
        return
    table = Table(title=f"Tasks in {c.display_url(url)}")
    for col, justify in (
        ("task", "left"), ("studies", "right"), ("trials", "right"), ("complete", "right"),
        ("best", "left"), ("descriptors", "left"),
    ):  # fmt: skip
        table.add_column(col, justify=justify, no_wrap=col == "task")  # type: ignore[arg-type]
    for r in records:
        best = ", ".join(f"{r['directions'][m][:3]} {m} {c.fmt(v)}" for m, v in r["best"].items())
        desc = json.dumps(jsonable(r["descriptors"])) if r["descriptors"] else ""
        table.add_row(
            c.plain(r["name"]), str(r["n_studies"]), str(r["n_trials"]), str(r["n_complete"]),
            c.plain(best or "-"), c.plain(desc),
        )  # fmt: skip
    out.print(table)


@app.command(
    "export",
    epilog=c.examples(
        ("the whole memory, compressed", "metanas memory export memory.json.gz"),
        (
            "two tasks of one file",
            "metanas memory export graphs.json --storage sqlite:///runs.db "
            "--task nas-bench-graph/cora --task nas-bench-graph/citeseer",
        ),
    ),
)
def memory_export(
    path: Annotated[
        Path, typer.Argument(help="File to write: JSON, gzip-compressed when it ends in .gz.")
    ],
    task: Annotated[
        list[str] | None,
        typer.Option("--task", "-t", help="Export only this task (repeatable); default: all."),
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:
    """Write the memory (tasks, descriptors, studies and finished trials) to a versioned file.

    Share the file; [bold]metanas memory import[/] adds it to another store.
    """
    url = c.storage_url(storage)
    with c.errors():
        if c.sqlite_file_missing(url):
            raise ValueError(
                f"Storage {c.display_url(url)!r} does not exist: nothing to export. Check "
                "--storage (or $METANAS_STORAGE)."
            )
        from metanas.meta import ExperienceMemory

        summary = ExperienceMemory(url).export(path, tasks=task)
    if json_output:
        c.echo_json(summary.to_dict())
        return
    c.stderr().print(
        f"Wrote {summary.n_tasks} task(s), {summary.n_studies} stud(ies) and "
        f"{summary.n_trials} trial(s) to {summary.path} (memory format version "
        f"{summary.version})"
    )


@app.command(
    "import",
    epilog=c.examples(
        ("add a shared memory to your store", "metanas memory import memory.json.gz"),
        (
            "keep both copies of studies whose names are taken",
            "metanas memory import memory.json.gz --storage sqlite:///runs.db --on-conflict rename",
        ),
    ),
)
def memory_import(
    path: Annotated[Path, typer.Argument(help="A file written by `metanas memory export`.")],
    on_conflict: Annotated[
        OnConflict,
        typer.Option(
            "--on-conflict", case_sensitive=False,
            help="A study whose name is already stored: skip it (importing twice adds nothing), "
            "rename it (NAME@<content hash>), or error.",
        ),
    ] = OnConflict.skip,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:  # fmt: skip
    """Add the tasks, studies and trials of a memory file to a store.

    The file is checked before anything is written; a bad file exits with code 2 and
    one line naming the problem.
    """
    url = c.storage_url(storage)
    with c.errors():
        from metanas.meta import ExperienceMemory

        report = ExperienceMemory.import_file(path, into=url, on_conflict=on_conflict.value)
    if json_output:
        c.echo_json({**report.to_dict(), "storage": c.display_url(url)})
        return
    err = c.stderr()
    err.print(
        f"Imported {len(report.imported)} stud(ies) with {report.n_trials} trial(s) of "
        f"{report.n_tasks} task(s) into {c.display_url(url)}"
    )
    for old, new in report.renamed.items():
        err.print(c.plain(f"Renamed {old!r} to {new!r}: the name was taken"))
    if report.skipped:
        shown = ", ".join(repr(s) for s in report.skipped[:10])
        more = f" and {len(report.skipped) - 10} more" if len(report.skipped) > 10 else ""
        err.print(c.plain(f"Skipped {len(report.skipped)} stud(ies) already stored: {shown}{more}"))
