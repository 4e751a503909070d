"""``metanas suggest``: zero-shot architectures for a task, from the experience memory.

Like every command it only parses options and calls the public API
(:func:`metanas.meta.predictor.suggest`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from metanas.cli import _console as c

if TYPE_CHECKING:
    from metanas.spaces.base import SearchSpace

__all__ = ["EPILOG", "suggest"]

EPILOG = c.examples(
    (
        "five architectures for Cora, learned from the other tasks in runs.db",
        "metanas suggest --task nas-bench-graph/cora -b nas-bench-graph -d cora "
        "--storage sqlite:///runs.db",
    ),
    (
        "ten, from a separate memory, as JSON",
        "metanas suggest --task my-task --space nb201 --k 10 --memory sqlite:///memory.db --json",
    ),
)


def _memory_space(url: str, task: str) -> SearchSpace:
    """The space of the memory's studies of other tasks (one space, or ask for --space)."""
    from metanas.spaces.base import space_from_config
    from metanas.storage.rdb import get_storage

    records = [r for r in get_storage(url).list_study_records() if r.task.name != task]
    configs = Counter(json.dumps(dict(r.space), sort_keys=True) for r in records)
    if not configs:
        raise ValueError(
            f"The memory {c.display_url(url)!r} holds no study of a task other than "
            f"{task!r}: nothing to suggest from. Run searches of other tasks first, or import "
            "a memory (metanas memory import FILE)."
        )
    if len(configs) > 1:
        names = sorted({str(json.loads(x).get("type", x)) for x in configs})
        raise ValueError(
            f"The memory holds studies of {len(configs)} different spaces ({', '.join(names)}); "
            "say which one to suggest for with --space NAME (or --benchmark/--dataset)."
        )
    return space_from_config(json.loads(next(iter(configs))))


def suggest(
    task: Annotated[
        str, typer.Option("--task", "-t", help="The task to suggest for (never learned from).")
    ],
    k: Annotated[
        int,
        typer.Option(
            "--k", "-k", min=1, help="How many architectures (at most the candidates: the "
            "memory's, mutations of past bests and 500 random; fewer are said on stderr).",
        ),
    ] = 5,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    memory: Annotated[
        str | None,
        typer.Option("--memory", help="SQLAlchemy URL of the memory; default: --storage."),
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark", "-b",
            help="Built-in tabular benchmark of the task (gives its space and descriptors).",
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Data set of --benchmark, e.g. cora.")
    ] = None,
    space: Annotated[
        str | None,
        typer.Option("--space", help="Search space by name; default: the memory's studies'."),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Metric the past results are read as.")
    ] = "valid_accuracy",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the candidate pool.")] = 0,
    noise: Annotated[
        float | None,
        typer.Option(
            "--noise",
            help="How far the task may stray from each past task, in the portfolio "
            "(normal-score sd; 0: the literal cover; default: the library's, 1.0).",
        ),
    ] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:  # fmt: skip
    """Suggest K architectures for a task from what past tasks taught (zero-shot).

    A predictor trained on every other task of the memory ranks candidates for
    this task's descriptors (stored with the task, or those of --benchmark/--dataset);
    the K are diversified. Evaluate them first, then search on (strategy [bold]meta[/]
    does both).
    """
    url = c.storage_url(storage)
    mem_url = memory or url
    with c.errors():
        from metanas.meta import ExperienceMemory
        from metanas.meta.predictor import suggest as _suggest

        if c.sqlite_file_missing(mem_url):
            raise ValueError(
                f"Memory {c.display_url(mem_url)!r} does not exist: no past tasks to learn "
                "from. Check --memory / --storage (or $METANAS_STORAGE)."
            )
        descriptors: dict[str, Any] | None = None
        if dataset is not None or benchmark is not None:
            if dataset is None:
                raise ValueError("--benchmark needs --dataset, e.g. -b nas-bench-graph -d cora.")
            from metanas.benchmarks import load_benchmark

            bench = load_benchmark(benchmark or "nas-bench-graph", dataset)
            the_space = bench.space
            descriptors = bench.task_descriptors()
        elif space is not None:
            from metanas.spaces.base import create_space

            the_space = create_space(space)
        else:
            the_space = _memory_space(mem_url, task)
        from metanas.meta import PORTFOLIO_NOISE

        picks = _suggest(
            ExperienceMemory(mem_url), the_space, task, descriptors=descriptors, k=k,
            metric=metric, seed=seed, noise=PORTFOLIO_NOISE if noise is None else noise,
        )  # fmt: skip
    rows = [{"rank": i + 1, **p.to_dict(the_space)} for i, p in enumerate(picks)]
    if len(rows) < k:
        # The pool (memory architectures, mutations of past bests, random ones) is finite.
        c.stderr().print(
            f"Only {len(rows)} distinct candidate architectures to rank for {task!r} (those "
            f"of the memory, mutations of past tasks' best and random ones); showing all "
            f"{len(rows)}, not --k {k}."
        )
    if json_output:
        c.echo_json({"task": task, "k": k, "metric": metric, "suggestions": rows})
        return
    table = Table(title=f"Zero-shot suggestions for {task} (predicted {metric} rank score)")
    table.add_column("rank", justify="right")
    table.add_column("architecture", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("best past task", justify="left")
    for r in rows:
        per = r["per_task"]
        top = max(per, key=per.get) if per else "-"
        table.add_row(str(r["rank"]), r["arch"], f"{r['score']:.3f}", top)
    c.stdout().print(table)
    c.stderr().print(
        "Score: predicted normal score of the rank on the new task (0: a median "
        "architecture of the past tasks, 1: about the top 16 %, 2: the top 2 %)."
    )
