"""The ``metanas`` command line: search, compare strategies, manage stored studies.

One module per command group (``search``, ``oneshot``, ``fewshot``, ``bench``,
``studies``, ``memory``, ``suggest``, ``export``), mounted here; console helpers live in
:mod:`metanas.cli._console`, the only place that writes to the terminal. Commands parse
options, call the library and print the results (rich tables, or ``--json``).

Exit codes: 0 success, 1 the job failed (no trial completed, interrupted),
2 usage error or bad input (unknown name, unreadable table, missing study).
"""

from __future__ import annotations

from typing import Annotated

import typer

import metanas
from metanas.cli import _console as c
from metanas.cli import bench as _bench
from metanas.cli import dashboard as _dashboard
from metanas.cli import export as _export
from metanas.cli import fewshot as _fewshot
from metanas.cli import memory as _memory
from metanas.cli import oneshot as _oneshot
from metanas.cli import report as _report
from metanas.cli import search as _search
from metanas.cli import studies as _studies
from metanas.cli import suggest as _suggest

__all__ = ["app", "main"]

app = typer.Typer(
    name="metanas",
    help=(
        "Neural architecture search guided by meta-learning.\n\n"
        "Every search is stored (SQLite by default, see [bold]--storage[/]); "
        "re-running a search with the same study name resumes it."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings=c.CONTEXT,
    epilog=c.examples(
        ("search NAS-Bench-Graph Cora with regularised evolution, 100 trials",
         "metanas search --dataset cora --strategy evolution --n-trials 100"),
        ("DARTS on real data", "metanas oneshot --method darts --data digits"),
        ("the studies stored so far", "metanas studies list"),
    ),
)  # fmt: skip
app.command("search", epilog=_search.EPILOG)(_search.search)
app.command("oneshot", epilog=_oneshot.EPILOG)(_oneshot.oneshot)
app.command("fewshot", epilog=_fewshot.EPILOG)(_fewshot.fewshot)
app.command("bench", epilog=_bench.EPILOG)(_bench.bench)
app.add_typer(_studies.app, name="studies")
app.add_typer(_memory.app, name="memory")
app.command("suggest", epilog=_suggest.EPILOG)(_suggest.suggest)
app.command("export", epilog=_export.EPILOG)(_export.export)
app.command("dashboard", epilog=_dashboard.EPILOG)(_dashboard.dashboard)
app.command("report", epilog=_report.EPILOG)(_report.report)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"metanas {metanas.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Show the version and exit.",
            callback=_version_callback, is_eager=True,
        ),
    ] = False,
) -> None:  # fmt: skip
    """Neural architecture search guided by meta-learning.

    Every search is stored (SQLite by default, see [bold]--storage[/]); re-running a search
    with the same study name resumes it.
    """


def main() -> None:
    """Entry point of the ``metanas`` command."""
    app(prog_name="metanas")


if __name__ == "__main__":  # pragma: no cover
    main()
