"""``metanas memory list | export | import``: the experience memory on the command line.

Like every command it only parses options and calls the public API
(:class:`metanas.meta.ExperienceMemory`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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
        "share it as a file (export, import), and see what a new search would draw on (plan)."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings=c.CONTEXT,
    epilog=c.examples(
        ("the tasks the memory holds", "metanas memory list"),
        ("share it as a file", "metanas memory export memory.json.gz"),
        ("what a new search would learn from", "metanas memory plan --task my-task"),
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


@app.command(
    "plan",
    epilog=c.examples(
        (
            "what a search of Cora would learn from",
            "metanas memory plan --task nas-bench-graph/cora -b nas-bench-graph -d cora",
        ),
        (
            "only past tasks measured as val_acc or valid_accuracy",
            "metanas memory plan --task my-task --memory-metric val_acc "
            "--memory-metric valid_accuracy --json",
        ),
    ),
)
def memory_plan(
    task: Annotated[str, typer.Option("--task", "-t", help="The task a new search would search.")],
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    memory: Annotated[
        str | None,
        typer.Option("--memory", help="SQLAlchemy URL of the memory; default: --storage."),
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option("--benchmark", "-b", help="Built-in tabular benchmark of the task."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Data set of --benchmark, e.g. cora.")
    ] = None,
    space: Annotated[
        str | None,
        typer.Option("--space", help="Search space by name; default: the memory's studies'."),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="The new search's metric.")
    ] = "valid_accuracy",
    direction: Annotated[
        str, typer.Option("--direction", help="maximize or minimize.")
    ] = "maximize",
    memory_metric: Annotated[
        list[str] | None,
        typer.Option(
            "--memory-metric",
            help="Transfer only these metrics (repeatable; meta's memory_metrics setting).",
        ),
    ] = None,
    prior_power: Annotated[
        float,
        typer.Option(
            "--prior-power",
            help="meta's prior_power setting: the prior weights are the similarities to this "
            "power (default 1).",
        ),
    ] = 1.0,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:  # fmt: skip
    """Show which past tasks a new [bold]meta[/] search of a task would draw on, and why.

    For each stored task: whether it is used, the metric it transfers (its own objective,
    or --memory-metric), its evaluations in the space, its similarity to the task
    (descriptors; rank correlation too when the task already has results) and its prior
    weight (the weight of the first asks, before the search's own results decide).
    """
    url = c.storage_url(storage)
    mem_url = memory or url
    with c.errors():
        from metanas.meta import ExperienceMemory, prior_task_weights, task_similarities

        if c.sqlite_file_missing(mem_url):
            raise ValueError(
                f"Memory {c.display_url(mem_url)!r} does not exist: no past tasks to learn "
                "from. Check --memory / --storage (or $METANAS_STORAGE)."
            )
        mem = ExperienceMemory(mem_url)
        descriptors: dict[str, Any] = {}
        if dataset is not None or benchmark is not None:
            if dataset is None:
                raise ValueError("--benchmark needs --dataset, e.g. -b nas-bench-graph -d cora.")
            from metanas.benchmarks import load_benchmark

            bench = load_benchmark(benchmark or "nas-bench-graph", dataset)
            the_space = bench.space
            descriptors = dict(bench.task_descriptors())
        elif space is not None:
            from metanas.spaces.base import create_space

            the_space = create_space(space)
        else:
            from metanas.cli.suggest import _memory_space

            the_space = _memory_space(mem_url, task)
        if not descriptors and task in mem.task_names():
            descriptors = mem.descriptors(task)
        entries = mem.past_tasks(
            task, metric=metric, direction=direction, space=the_space,
            metrics=memory_metric or None,
        )  # fmt: skip
        used = {e.task: e.history for e in entries if e.used and e.history is not None}
        target: Any = descriptors
        if task in mem.task_names():
            own = mem.history(task, metric, direction=direction, space=the_space)
            target = own if len(own) else descriptors
        sims = {s.task: s for s in task_similarities(target, used, method="auto")} if used else {}
        prior = prior_task_weights(
            descriptors, {n: h.descriptors for n, h in used.items()}, power=prior_power
        )
    rows = []
    for e in entries:
        s = sims.get(e.task)
        rows.append({
            **e.to_dict(),
            "similarity": None if s is None else s.value,
            "similarity_method": None if s is None else s.method,
            "prior_weight": prior.get(e.task),
        })  # fmt: skip
    if json_output:
        c.echo_json({"task": task, "memory": c.display_url(mem_url), "past_tasks": rows})
        return
    out = c.stdout()
    if not rows:
        out.print(f"No other task in {c.display_url(mem_url)}: a meta search of {task} is bo.")
        return
    table = Table(title=f"What a meta search of {task} draws on ({c.display_url(mem_url)})")
    for col in ("task", "used", "metric", "evaluations", "similarity", "prior weight", "why"):
        table.add_column(col, no_wrap=col == "task")
    for r in rows:
        metric_txt = (
            f"{r['metric']} ({r['direction'][:3]})" if r["direction"] else (r["metric"] or "-")
        )
        table.add_row(
            c.plain(r["task"]), "yes" if r["used"] else "no", c.plain(metric_txt),
            str(r["n_evaluations"]), "-" if r["similarity"] is None else f"{r['similarity']:.3f}",
            "-" if r["prior_weight"] is None else f"{r['prior_weight']:.3f}", c.plain(r["reason"]),
        )  # fmt: skip
    out.print(table)
    c.stderr().print(
        "Once the search has 3 results, the weights are learned from them: each past task's "
        "model and the search's own model compete on how well they rank those results."
    )
