"""Console helpers shared by the command modules: the only place that writes to the terminal.

Errors become one ``Error: ...`` line on stderr (exit 2, or 1 when the job itself
failed), warnings one ``Warning: ...`` line; ``--json`` output goes through
:func:`metanas._json.jsonable`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import metanas
from metanas._json import jsonable
from metanas.exceptions import MetanasError, StudyNotFoundError

if TYPE_CHECKING:
    from metanas.spaces import SearchSpace
    from metanas.study import Study

_ERRORS = (MetanasError, ValueError, TypeError, FileNotFoundError, ImportError)
_PIPE_WIDTH = 200  # console width when writing to a file or pipe: never cut values short

STORAGE_OPTION = typer.Option(
    "--storage", envvar="METANAS_STORAGE",
    help="SQLAlchemy URL of the store, e.g. sqlite:///runs.db; default: the user's store.",
)  # fmt: skip
JSON_OPTION = typer.Option("--json", help="Print JSON on stdout.")
TABLE_OPTION = typer.Option(
    "--table", help="The CSV a search --table study searched, if it has moved (default: the "
    "path the study recorded).",
)  # fmt: skip
VERBOSE_OPTION = typer.Option("--verbose", "-v", help="Log more (INFO).")
#: ``--budget`` counted trials before ``budget`` came to mean fidelity only; kept as an alias.
BUDGET_OPTION = typer.Option(
    "--budget", min=1, help="Deprecated spelling of --n-trials.", rich_help_panel="Deprecated"
)
CONTEXT = {"help_option_names": ["-h", "--help"]}


def stdout() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def printable(value: object) -> str:
    """``value`` with control characters escaped (``\\x1b``), safe to show on a terminal."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def plain(value: object) -> Text:
    """A table cell of a stored string: control characters escaped, ``[...]`` not read as markup."""
    return Text(printable(value))


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"Error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def renamed(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """The value of an option or of its deprecated spelling (which prints one stderr line)."""
    if old is None:
        return new
    if new is not None:
        raise ValueError(f"{old_name} is the old spelling of {new_name}: give only {new_name}.")
    typer.echo(f"Deprecated: {old_name} is now {new_name}.", err=True)
    return old


def echo_json(obj: Any) -> None:
    typer.echo(json.dumps(jsonable(obj), indent=2, allow_nan=False))


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def examples(*pairs: tuple[str, str]) -> str:
    """A help epilog: ``(comment, command)`` pairs under an Examples heading."""
    parts = ["[bold]Examples[/]"]
    for comment, command in pairs:
        parts += [f"  [dim]# {comment}[/]", f"  {command}"]
    return "\n\n".join(parts)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    typer.echo(f"Warning: {one_line(message)}", err=True)


@contextlib.contextmanager
def errors(storage: str | None = None) -> Iterator[None]:
    """Turn API errors into one ``Error: ...`` line (exit 2); Ctrl-C into exit 1.

    Python warnings raised meanwhile are printed as one ``Warning: ...`` line each.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    except KeyboardInterrupt:
        where = f" in {display_url(storage)}" if storage else ""
        resume = " Re-run the same command to resume." if storage else ""
        typer.echo(f"Interrupted; finished trials are saved{where}.{resume}", err=True)
        raise typer.Exit(1) from None
    except _ERRORS as exc:
        # An error may carry its own wording for the command line (CLI options, not kwargs).
        fail(getattr(exc, "cli_message", None) or str(exc) or type(exc).__name__)


@contextlib.contextmanager
def logging_to(console: Console, level: int) -> Iterator[None]:
    """Show metanas log records (failed trials ...) on stderr while a command runs."""
    from rich.logging import RichHandler

    logger = logging.getLogger("metanas")
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
    else:  # one plain line per record in files and pipes
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(level)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, old_level) if old_level else level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def log_level(quiet: bool, verbose: bool) -> int:
    if quiet:
        return logging.ERROR
    return logging.INFO if verbose else logging.WARNING


def interactive(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {"True": True, "False": False, "None": None}.get(raw, raw)


def parse_settings(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["population_size=20", "mutate=true"]`` -> ``{"population_size": 20, "mutate": True}``."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(
                f"{option} expects KEY=VALUE, e.g. {option} population_size=20; got {item!r}."
            )
        out[key] = parse_value(raw.strip())
    return out


def split_list(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{option} needs a comma-separated list of names; got {text!r}.")
    return items


def display_url(url: str | None) -> str:
    """The storage URL with any password hidden (:func:`metanas.storage.rdb.display_url`)."""
    from metanas.storage.rdb import display_url as hide_password

    return hide_password(url) if url else ""


def storage_url(storage: str | None) -> str:
    return storage or metanas.default_storage_url()


def sqlite_file_missing(url: str) -> bool:
    """True for a ``sqlite:///path`` URL whose file does not exist (reading must not create it)."""
    if not url.startswith("sqlite:") or "://" not in url:
        return False
    try:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
    except Exception:
        return False
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).expanduser().exists()


def open_study(name: str, storage: str, table: Path | None = None) -> Study:
    """Load study ``name``; ``table``: the CSV a ``search --table`` study searched, if moved."""
    if sqlite_file_missing(storage):
        raise StudyNotFoundError(
            f"No study named {name!r}: storage {display_url(storage)!r} does not exist. "
            "Check --storage (or $METANAS_STORAGE)."
        )
    space = table_space(name, storage, table)
    return metanas.load_study(name, storage=storage, space=space)


def table_space(name: str, storage: str, table: Path | None = None) -> SearchSpace | None:
    """The space of a study that searched a table, else None (``load_study`` rebuilds it).

    A table's architectures are not stored with its study: a built-in benchmark's table is
    reloaded by its stored name (``task-family/digits``), a CSV from the path its study
    recorded, or from ``table`` (``--table PATH``) when the file has moved. The error of a
    CSV that cannot be read again names the file and ``--table``.
    """
    from metanas.spaces import TableSourceError, table_space_from_config

    config = metanas.storage.get_storage(storage).get_study(name).space
    if config.get("type") != "table":
        if table is not None:
            raise ValueError(
                f"--table {str(table)!r} is for studies that searched a CSV table; study "
                f"{name!r} searched space {config.get('type')!r}. Leave --table out."
            )
        return None
    bench, _, dataset = str(config.get("table", "")).partition("/")
    if table is None and "source" not in config and bench in benchmark_names() and dataset:
        space: SearchSpace = metanas.benchmarks.load_benchmark(bench, dataset).space
        return space
    try:
        return table_space_from_config(config, path=table)
    except TableSourceError as exc:
        fix = (
            "Pass --table PATH.csv, the table this study searched."
            if table is None
            else "Pass --table the CSV file this study searched."
        )
        exc.cli_message = f"{exc.problem} {fix}"
        raise


def choices(kind: str) -> list[str]:
    """Registered plug-in names of ``kind`` (``metanas._registry.available``), for --help."""
    from metanas._registry import registry

    return registry(kind).names()


def benchmark_names() -> list[str]:
    """Names of the built-in tabular benchmarks."""
    return choices("benchmark")


def task_names() -> list[str]:
    """Names of the built-in tasks (``metanas.tasks.available_tasks``), for ``--data`` help."""
    from metanas.tasks import available_tasks

    return available_tasks()
