"""The ``metanas`` command line: search, compare strategies, manage stored studies.

This is the only module that writes to the console. It parses options, calls
the public API and renders the results (rich tables, or ``--json``).

Exit codes: 0 success, 1 the job failed (no trial completed, interrupted),
2 usage error or bad input (unknown name, unreadable table, missing study).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

import metanas
from metanas._cli_memory import memory_app
from metanas._cli_meta import suggest as _cli_suggest
from metanas._cli_train import export as _cli_export
from metanas._progress import TrialProgress
from metanas.cli import fewshot as _fewshot
from metanas.cli import oneshot as _oneshot
from metanas.exceptions import MetanasError, StudyNotFoundError

if TYPE_CHECKING:
    from metanas.benchmarks import TabularBenchmark
    from metanas.study import Study
    from metanas.trial import Trial

__all__ = ["app", "main"]

_ERRORS = (MetanasError, ValueError, TypeError, FileNotFoundError, ImportError)
_DEFAULT_STRATEGY = "random"
_DEFAULT_SEED = 0
_DEFAULT_METRIC = "valid_accuracy"
_BENCH_STRATEGIES = "random,evolution,local,tpe"


class Direction(StrEnum):
    maximize = "maximize"
    minimize = "minimize"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


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
    context_settings={"help_option_names": ["-h", "--help"]},
)
studies_app = typer.Typer(
    help="List, show, export and delete stored studies.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(studies_app, name="studies")
app.add_typer(memory_app, name="memory")
app.command("export")(_cli_export)
app.command("fewshot", epilog=_fewshot.EPILOG)(_fewshot.fewshot)
app.command("oneshot", epilog=_oneshot.EPILOG)(_oneshot.oneshot)
app.command("suggest")(_cli_suggest)


# ---------------------------------------------------------------- console helpers
_PIPE_WIDTH = 200  # console width when writing to a file or pipe: never cut values short


def _stdout() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"Error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(_jsonable(obj), indent=2, allow_nan=False))


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: NaN/inf -> None, datetimes -> ISO 8601, numpy scalars -> Python."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dt.datetime | dt.date):
        return None if obj != obj else obj.isoformat()  # NaT != NaT
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / pandas scalars
        try:
            return _jsonable(obj.item())
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "isoformat"):  # pandas Timestamp
        return None if obj != obj else obj.isoformat()
    return str(obj)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    typer.echo(f"Warning: {_one_line(message)}", err=True)


def _examples(*pairs: tuple[str, str]) -> str:
    """A help epilog: ``(comment, command)`` pairs under an Examples heading."""
    parts = ["[bold]Examples[/]"]
    for comment, command in pairs:
        parts += [f"  [dim]# {comment}[/]", f"  {command}"]
    return "\n\n".join(parts)


@contextlib.contextmanager
def _errors(storage: str | None = None) -> Iterator[None]:
    """Turn API errors into one ``Error: ...`` line (exit 2); Ctrl-C into exit 1.

    Python warnings raised meanwhile are printed as one ``Warning: ...`` line each.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    except KeyboardInterrupt:
        where = f" in {_display_url(storage)}" if storage else ""
        resume = " Re-run the same command to resume." if storage else ""
        typer.echo(f"Interrupted; finished trials are saved{where}.{resume}", err=True)
        raise typer.Exit(1) from None
    except _ERRORS as exc:
        _fail(str(exc) or type(exc).__name__)


@contextlib.contextmanager
def _logging(console: Console, level: int) -> Iterator[None]:
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


def _log_level(quiet: bool, verbose: bool) -> int:
    if quiet:
        return logging.ERROR
    return logging.INFO if verbose else logging.WARNING


def _interactive(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


# ---------------------------------------------------------------- parsing helpers
def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {"True": True, "False": False, "None": None}.get(raw, raw)


def _parse_settings(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["population_size=20", "mutate=true"]`` -> ``{"population_size": 20, "mutate": True}``."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(
                f"{option} expects KEY=VALUE, e.g. {option} population_size=20; got {item!r}."
            )
        out[key] = _parse_value(raw.strip())
    return out


def _split_list(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{option} needs a comma-separated list of names; got {text!r}.")
    return items


def _display_url(url: str | None) -> str:
    """The storage URL with any password hidden."""
    if not url:
        return ""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: show it as given
        return url


def _storage_url(storage: str | None) -> str:
    return storage or metanas.default_storage_url()


def _sqlite_file_missing(url: str) -> bool:
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


def _open_study(name: str, storage: str) -> Study:
    if _sqlite_file_missing(storage):
        raise StudyNotFoundError(
            f"No study named {name!r}: storage {_display_url(storage)!r} does not exist. "
            "Check --storage (or $METANAS_STORAGE)."
        )
    return metanas.load_study(name, storage=storage)


# ---------------------------------------------------------------- version / root
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


# ---------------------------------------------------------------- search
_SEARCH_EPILOG = _examples(
    (
        "REA on NAS-Bench-Graph Cora, 100 trials, stored in runs.db",
        "metanas search --benchmark nas-bench-graph --dataset cora --strategy evolution "
        "--budget 100 --seed 0 --storage sqlite:///runs.db --study cora-rea",
    ),
    (
        "resume the same study up to 300 finished trials",
        "metanas search --dataset cora --budget 300 --storage sqlite:///runs.db --study cora-rea",
    ),
    (
        "strategy settings (values are read as JSON)",
        "metanas search --dataset citeseer --strategy evolution --setting population_size=20 "
        "--setting sample_size=5",
    ),
    (
        "minimise latency instead, JSON summary",
        "metanas search --dataset pubmed --metric latency --budget 50 --json",
    ),
    (
        "two objectives with NSGA-II: prints the Pareto front (accuracy vs latency)",
        "metanas search --dataset cora --strategy nsga2 --objectives "
        "valid_accuracy:max,latency:min --budget 100",
    ),
    (
        "your own table of measured NAS-Bench-201 cells",
        "metanas search --table nb201.csv --space nb201 --arch-column arch --metric acc "
        "--test-metric test_acc --strategy tpe --budget 50",
    ),
)


@app.command(epilog=_SEARCH_EPILOG)
def search(
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark", "-b",
            help="Built-in tabular benchmark: nas-bench-graph (the default when --dataset is set).",
            rich_help_panel="Task",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", "-d",
            help="Data set of the benchmark: cora, citeseer, pubmed, cs, physics, photo, "
            "computers, arxiv, proteins.",
            rich_help_panel="Task",
        ),
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option(
            "--table",
            help="CSV of measured architectures (one row each), instead of --benchmark.",
            rich_help_panel="Task",
        ),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(
            "--space", help="Search space of the --table architectures: nb201, nas-bench-graph.",
            rich_help_panel="Task",
        ),
    ] = None,
    space_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--space-setting", metavar="KEY=VALUE",
            help="Setting of the --space (repeatable), e.g. proteins=true for nas-bench-graph.",
            rich_help_panel="Task",
        ),
    ] = None,
    arch_column: Annotated[
        str,
        typer.Option(
            "--arch-column", help="Column of the --table holding architectures (space notation).",
            rich_help_panel="Task",
        ),
    ] = "arch",
    test_metric: Annotated[
        list[str] | None,
        typer.Option(
            "--test-metric", metavar="COLUMN",
            help="Report-only column of the --table (repeatable); never shown to the strategy.",
            rich_help_panel="Task",
        ),
    ] = None,
    minimize: Annotated[
        list[str] | None,
        typer.Option(
            "--minimize", metavar="COLUMN",
            help="Column of the --table where lower is better (repeatable).",
            rich_help_panel="Task",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="Task name stored with the study; default: the benchmark's, "
            "e.g. nas-bench-graph/cora.", rich_help_panel="Task",
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", "-s",
            help=f"Search strategy: random, evolution, local, tpe ... (new studies: "
            f"{_DEFAULT_STRATEGY}; resumed: the stored one).",
            rich_help_panel="Search",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting", metavar="KEY=VALUE",
            help="Strategy setting (repeatable), value read as JSON: population_size=20.",
            rich_help_panel="Search",
        ),
    ] = None,
    budget: Annotated[
        int,
        typer.Option(
            "--budget", "-n", min=1,
            help="Total finished trials the study should have; a resumed study runs the rest.",
            rich_help_panel="Search",
        ),
    ] = 100,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=0, help=f"Seed of the study (new studies: {_DEFAULT_SEED}).",
            rich_help_panel="Search",
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", "-m",
            help=f"Objective metric (default {_DEFAULT_METRIC}); several as "
            "'valid_accuracy:max,latency:min'.",
            rich_help_panel="Search",
        ),
    ] = None,
    direction: Annotated[
        Direction | None,
        typer.Option(
            "--direction", help="Optimisation direction; default: the metric's own "
            "(accuracy: maximize, latency/params/--minimize columns: minimize).",
            rich_help_panel="Search", case_sensitive=False,
        ),
    ] = None,
    objectives_spec: Annotated[
        str | None,
        typer.Option(
            "--objectives", metavar="METRIC[:max|min],...",
            help="Several objectives at once, e.g. 'valid_accuracy:max,latency:min' (a metric "
            "without :max/:min takes its own direction); prints the Pareto front. Search with "
            "a multi-objective strategy: nsga2 or random.",
            rich_help_panel="Search",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", envvar="METANAS_STORAGE",
            help="SQLAlchemy URL of the store, e.g. sqlite:///runs.db; default: the user's "
            "store (~/.local/share/metanas/metanas.db).",
            rich_help_panel="Storage",
        ),
    ] = None,
    study_name: Annotated[
        str | None,
        typer.Option(
            "--study", help="Study name; an existing study is resumed. Default: "
            "DATASET-STRATEGY-sSEED.", rich_help_panel="Storage",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="Train real networks on data: mnist1d, digits, wine, breast_cancer, "
            "iris, or a CSV file (with --target); --space is then mlp, cnn or nb201.",
            rich_help_panel="Training",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Label column of a --data CSV.", rich_help_panel="Training"),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs", min=1, help="Most epochs per trial (early stopping on validation "
            "accuracy); default 30.", rich_help_panel="Training",
        ),
    ] = None,
    time_budget_min: Annotated[
        float | None,
        typer.Option(
            "--time-budget-min", min=0.01, help="Stop starting trials after this many minutes.",
            rich_help_panel="Training",
        ),
    ] = None,
    max_latency_ms: Annotated[
        float | None,
        typer.Option(
            "--max-latency-ms", min=0.0, help="Reject architectures slower than this at batch "
            "1 on this machine (measured before training).", rich_help_panel="Training",
        ),
    ] = None,
    max_params: Annotated[
        int | None,
        typer.Option("--max-params", min=1, help="Most parameters.", rich_help_panel="Training"),
    ] = None,
    max_flops: Annotated[
        int | None,
        typer.Option(
            "--max-flops", min=1, help="Most FLOPs per sample.", rich_help_panel="Training"
        ),
    ] = None,
    n_jobs: Annotated[
        int,
        typer.Option(
            "--n-jobs", help="Trials trained at once on local processes (-1: one per core).",
            rich_help_panel="Training",
        ),
    ] = 1,
    device: Annotated[
        str,
        typer.Option(
            "--device", help="auto (CUDA when present, else CPU), cpu or cuda.",
            rich_help_panel="Training",
        ),
    ] = "auto",
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more (INFO).")] = False,
) -> None:  # fmt: skip
    """Search a benchmark, a table of measured architectures, or real networks on data.

    With [bold]--data[/] every trial trains a network (early stopping on the
    validation split) and reports validation and test accuracy, macro recall
    and F1, parameters, FLOPs and latency; hardware limits reject architectures
    before they are trained.

    The study is stored as it runs: interrupt it at any time and re-run the same
    command to resume. [bold]--budget[/] is the total number of finished trials the
    study should have, so re-running with a larger budget continues the search.
    """
    url = _storage_url(storage)
    err = _stderr()
    training = {
        "--target": target, "--epochs": epochs, "--time-budget-min": time_budget_min,
        "--max-latency-ms": max_latency_ms, "--max-params": max_params,
        "--max-flops": max_flops,
    }  # fmt: skip
    with _errors(url), _logging(err, _log_level(quiet, verbose)):
        settings = _parse_settings(setting, "--setting")
        oneshot = strategy in _ONESHOT
        if strategy is not None and not oneshot:
            metanas.strategies.get_strategy_class(strategy)  # unknown name: fail before loading
        if oneshot and data is None:
            raise ValueError(
                f"--strategy {strategy} trains a supernet: it needs --data (e.g. --data mnist1d "
                "--space cnn), not a benchmark table."
            )
        if data is None:
            for option, value in training.items():
                if value is not None:
                    raise ValueError(
                        f"{option} goes with --data (real training), e.g. --data digits "
                        "--space mlp."
                    )
        wanted = _objectives_flag(objectives_spec, metric, direction)
        if oneshot and data is not None and strategy is not None:
            from metanas.oneshot import search_oneshot

            for option, value in (
                ("--objectives", objectives_spec), ("--max-params", max_params),
                ("--max-flops", max_flops), ("--time-budget-min", time_budget_min),
            ):  # fmt: skip
                if value is not None:
                    raise ValueError(
                        f"{option} does not go with --strategy {strategy} (a one-shot search "
                        "optimises validation accuracy, with --max-latency-ms as its only limit)."
                    )
            summary = search_oneshot(
                data=data, strategy=strategy, space=space, target=target, epochs=epochs,
                seed=seed, max_latency_ms=max_latency_ms, url=url, study_name=study_name,
                device=device, settings=settings,
            )  # fmt: skip
            _finish_search(summary, json_output)
            return
        if data is not None:
            from metanas._cli_train import search_training

            summary = search_training(
                data=data, target=target, space=space, benchmark=benchmark, dataset=dataset,
                table=table, task=task, strategy=strategy, settings=settings, budget=budget,
                seed=seed, wanted=wanted, metric=metric, direction=direction, url=url,
                study_name=study_name, epochs=epochs, time_budget_min=time_budget_min,
                max_latency_ms=max_latency_ms, max_params=max_params, max_flops=max_flops,
                n_jobs=n_jobs, device=device, interactive=_interactive(quiet), console=err,
            )  # fmt: skip
            _finish_search(summary, json_output)
            return
        if wanted is not None:  # the evaluator below only needs the metric names
            metric = ",".join(f"{m}:{d or 'max'}" for m, d in wanted)
        bench, default_name = _build_evaluator(
            benchmark=benchmark, dataset=dataset, table=table, space=space,
            space_settings=_parse_settings(space_setting, "--space-setting"),
            arch_column=arch_column, metric=metric, test_metrics=test_metric or [],
            minimize=minimize or [], task=task,
        )  # fmt: skip
        if wanted is not None:
            metric = ",".join(
                f"{m}:{d or (bench.direction(m) if m in bench.metrics else 'max')}"
                for m, d in wanted
            )
        objectives = _objectives(bench, metric, direction)
        task_name = task or bench.task_name or default_name
        name = study_name or _default_study_name(default_name, strategy, seed, objectives)
        study, resumed = _create_or_resume(
            name=name, url=url, bench=bench, task=task_name, strategy=strategy,
            settings=settings, seed=seed, objectives=objectives,
            objectives_given=metric is not None or direction is not None
            or objectives_spec is not None,
        )  # fmt: skip
        n_new = max(0, budget - study.n_finished)
        start = time.perf_counter()
        if n_new:
            with TrialProgress(_interactive(quiet), study, n_new, console=err) as bar:
                study.optimize(bench, n_trials=n_new, callbacks=[bar.update])
        wall_s = time.perf_counter() - start
        study.refresh()
        summary = _search_summary(study, bench, url, budget, resumed, n_new, wall_s)
    _finish_search(summary, json_output)


def _finish_search(summary: dict[str, Any], json_output: bool) -> None:
    if json_output:
        _echo_json(summary)
    else:
        _print_search_summary(summary)
    if summary["n_complete"] == 0:
        first = summary.get("first_error")
        reason = f" Trial {first[0]} failed with: {first[1]}" if first else ""
        _fail(
            f"No trial of study {summary['study']!r} completed ({summary['n_failed']} "
            f"failed).{reason}",
            code=1,
        )


def _default_study_name(
    stem: str, strategy: str | None, seed: int | None, objectives: tuple[tuple[str, str], ...]
) -> str:
    """``cora-evolution-s0``; a non-default objective is appended: ``cora-random-s0-latency``."""
    name = f"{stem}-{strategy or _DEFAULT_STRATEGY}-s{_DEFAULT_SEED if seed is None else seed}"
    metrics = [m for m, _ in objectives]
    if metrics != [_DEFAULT_METRIC]:
        name += "-" + "+".join(metrics)
    return name


def _build_evaluator(
    *,
    benchmark: str | None,
    dataset: str | None,
    table: Path | None,
    space: str | None,
    space_settings: dict[str, Any],
    arch_column: str,
    metric: str | None,
    test_metrics: list[str],
    minimize: list[str],
    task: str | None,
) -> tuple[TabularBenchmark, str]:
    """The evaluator and the stem of default study names."""
    if table is not None:
        if benchmark is not None or dataset is not None:
            raise ValueError(
                "Give either --benchmark/--dataset or --table, not both; got --table "
                f"{str(table)!r} with --benchmark {benchmark!r} --dataset {dataset!r}."
            )
        if space is None:
            raise ValueError(
                f"--table needs --space, the search space of its architectures: one of "
                f"{metanas.spaces.available_spaces()!r}, e.g. --space nb201."
            )
        search_space = metanas.spaces.create_space(space, **space_settings)
        metric_columns = [m for m, _ in metanas.study.parse_objectives(
            metric or _DEFAULT_METRIC, "maximize")]  # fmt: skip
        bench = metanas.benchmarks.TabularBenchmark.from_csv(
            table, space=search_space, arch_column=arch_column, metrics=metric_columns,
            test_metrics=test_metrics, minimize=minimize, name=task,
        )  # fmt: skip
        return bench, Path(table).stem
    for option, value in (
        ("--space", space),
        ("--space-setting", space_settings or None),
        ("--test-metric", test_metrics or None),
        ("--minimize", minimize or None),
    ):
        if value is not None:
            raise ValueError(
                f"{option} only goes with --table; built-in benchmarks define their own "
                "space and metrics."
            )
    known = metanas.benchmarks.available_benchmarks()
    if dataset is None:
        sets = ", ".join(known.get(benchmark or "nas-bench-graph", ()))
        raise ValueError(
            "Say what to search: --benchmark nas-bench-graph --dataset NAME (data sets: "
            f"{sets}), or --table PATH.csv --space NAME."
        )
    bench = metanas.benchmarks.load_benchmark(benchmark or "nas-bench-graph", dataset)
    return bench, dataset.lower()


def _objectives_flag(
    spec: str | None, metric: str | None, direction: Direction | None
) -> list[tuple[str, str | None]] | None:
    """``--objectives a:max,b`` -> ``[("a", "maximize"), ("b", None)]`` (None: the metric's own)."""
    if spec is None:
        return None
    if metric is not None or direction is not None:
        raise ValueError(
            "--objectives replaces --metric and --direction: give either --objectives "
            "'valid_accuracy:max,latency:min' or --metric/--direction, not both."
        )
    out: list[tuple[str, str | None]] = []
    for part in _split_list(spec, "--objectives") or []:
        name, sep, d = (x.strip() for x in part.partition(":"))
        key = d.lower()
        if not name or (sep and key not in ("max", "min", "maximize", "minimize")):
            raise ValueError(
                f"Cannot read objective {part!r} of --objectives: write METRIC, METRIC:max or "
                "METRIC:min, comma-separated, e.g. 'valid_accuracy:max,latency:min'."
            )
        if name in [m for m, _ in out]:
            raise ValueError(f"--objectives names {name!r} twice; give each metric once.")
        out.append((name, ("maximize" if key.startswith("max") else "minimize") if sep else None))
    return out


def _objectives(
    bench: TabularBenchmark, metric: str | None, direction: Direction | None
) -> tuple[tuple[str, str], ...]:
    """Objectives checked against the evaluator's metrics, with each metric's own direction."""
    spec = metric or _DEFAULT_METRIC
    if ":" in spec:
        if direction is not None:
            raise ValueError(
                f"--direction does not go with an objective spec ({spec!r}): write each "
                "direction in the spec, as in 'valid_accuracy:max,latency:min'."
            )
        objectives = metanas.study.parse_objectives(spec, "maximize")
    else:
        d = direction.value if direction is not None else None
        objectives = ((spec, d or ""),)
    out = []
    for name, d in objectives:
        if name in bench.test_metrics:
            raise ValueError(
                f"Metric {name!r} is a test metric of {bench.name!r}, reserved for reporting; "
                f"search on one of {bench.metrics!r}."
            )
        if name not in bench.metrics:
            from metanas.exceptions import closest

            raise metanas.UnknownNameError(
                f"Unknown metric {name!r} for {bench.name!r}.{closest(name, bench.metrics)} "
                f"Search metrics: {bench.metrics!r}."
            )
        out.append((name, d or bench.direction(name)))
    return tuple(out)


def _create_or_resume(
    *,
    name: str,
    url: str,
    bench: TabularBenchmark,
    task: str,
    strategy: str | None,
    settings: dict[str, Any],
    seed: int | None,
    objectives: tuple[tuple[str, str], ...],
    objectives_given: bool,
) -> tuple[Study, bool]:
    try:
        study = metanas.load_study(name, storage=url, space=bench.space)
    except StudyNotFoundError:
        study = metanas.create_study(
            name=name, storage=url, space=bench.space, strategy=strategy or _DEFAULT_STRATEGY,
            seed=_DEFAULT_SEED if seed is None else seed,
            metric=[m for m, _ in objectives], direction=[d for _, d in objectives],
            task=task, task_descriptors=bench.task_descriptors(), strategy_settings=settings,
        )  # fmt: skip
        return study, False
    stored_strategy = study.strategy.registered_name
    fix = f"Drop the option to resume study {name!r}, or pass a new --study name."
    if strategy is not None and strategy != stored_strategy:
        raise ValueError(
            f"Study {name!r} was created with --strategy {stored_strategy}, not {strategy}. {fix}"
        )
    if seed is not None and seed != study.seed:
        raise ValueError(f"Study {name!r} was created with --seed {study.seed}, not {seed}. {fix}")
    if objectives_given and tuple(objectives) != tuple(study.objectives):
        stored = ",".join(f"{m}:{d[:3]}" for m, d in study.objectives)
        given = ",".join(f"{m}:{d[:3]}" for m, d in objectives)
        raise ValueError(
            f"Study {name!r} optimises {stored}, not {given} (--metric/--direction/--objectives). "
            f"{fix}"
        )
    if study.task != study.name and study.task != task:
        raise ValueError(
            f"Study {name!r} searches task {study.task!r}, but this run evaluates {task!r}; "
            "one study holds one task. Pass the original --dataset/--table, or a new --study name."
        )
    stored_settings = _jsonable(study.strategy.get_settings())
    for key, value in settings.items():
        if key not in stored_settings or stored_settings[key] != _jsonable(value):
            raise ValueError(
                f"Study {name!r} was created with strategy setting {key}="
                f"{json.dumps(stored_settings.get(key))}, not {json.dumps(_jsonable(value))}. "
                f"{fix}"
            )
    return study, True


def _trial_record(study: Study, t: Trial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.value,
        "arch": study.space.format(t.arch),
        "values": None if t.values is None else list(t.values),
        "metrics": dict(t.metrics),
        "test_metrics": dict(t.test_metrics),
        "duration_s": t.duration_s,
        "error": t.error,
    }


def _search_summary(
    study: Study,
    bench: TabularBenchmark | None,
    url: str,
    budget: int,
    resumed: bool,
    n_new: int,
    wall_s: float,
) -> dict[str, Any]:
    trials = study.trials
    complete = [t for t in trials if t.state is metanas.TrialState.COMPLETE]
    failed = [t for t in trials if t.state is metanas.TrialState.FAILED]
    single = len(study.objectives) == 1
    best: dict[str, Any] | None = None
    optimum = regret = None
    pareto: list[dict[str, Any]] | None = None
    if single and complete:
        bt = study.best_trial
        best = _trial_record(study, bt)
        best["value"] = bt.value
        if bench is not None:
            optimum = bench.optimum(study.metric, study.direction)
            regret = bench.regret(float(bt.value or 0.0), study.metric, study.direction)
    elif complete:
        # Best first by the first objective, then the second ... (ties: trial number).
        signs = [1.0 if d == "maximize" else -1.0 for _, d in study.objectives]
        front = sorted(
            study.best_trials,
            key=lambda t: (
                *(-s * v for s, v in zip(signs, t.values or (), strict=False)),
                t.number,
            ),
        )
        pareto = [_trial_record(study, t) for t in front]
    return {
        "study": study.name,
        "task": study.task,
        "strategy": study.strategy.registered_name,
        "strategy_settings": study.strategy.get_settings(),
        "seed": study.seed,
        "objectives": [list(o) for o in study.objectives],
        "metric": study.metric,
        "direction": study.direction,
        "budget": budget,
        "resumed": resumed,
        "n_new_trials": n_new,
        "n_trials": len(trials),
        "n_finished": study.n_finished,
        "n_complete": len(complete),
        "n_failed": len(failed),
        "best": best,
        "pareto_front": pareto,
        "optimum": optimum,
        "regret": regret,
        "wall_time_s": wall_s,
        "storage": _display_url(url),
        "first_error": next(([t.number, t.error] for t in trials if t.error), None),
    }


#: One-shot strategies: a supernet search, then one retrained trial (``metanas.oneshot``).
_ONESHOT = ("darts", "darts2", "enas")

_HARDWARE_METRICS = ("params", "flops", "latency_ms", "latency_b64_ms", "train_time_s", "epochs")


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _print_search_summary(s: Mapping[str, Any]) -> None:
    grid = _grid()
    how = f"resumed, {s['n_new_trials']} new trial(s)" if s["resumed"] else "new"
    grid.add_row("Study", f"{s['study']} ({how})")
    grid.add_row("Task", s["task"])
    grid.add_row("Strategy", f"{s['strategy']} (seed {s['seed']})")
    grid.add_row("Objective", ", ".join(f"{d} {m}" for m, d in s["objectives"]))
    grid.add_row(
        "Trials",
        f"{s['n_finished']} finished: {s['n_complete']} complete, {s['n_failed']} failed "
        f"(budget {s['budget']})",
    )
    best = s["best"]
    if best is not None:
        grid.add_row("Best trial", f"#{best['number']}")
        grid.add_row("  architecture", best["arch"])
        grid.add_row(f"  {s['metric']}", _fmt(best["value"]))
        for k, v in best["test_metrics"].items():
            grid.add_row(f"  {k}", _fmt(v))
        for k in _HARDWARE_METRICS:
            if k in best["metrics"] and k != s["metric"]:
                grid.add_row(f"  {k}", _fmt(best["metrics"][k]))
        if s.get("hardware"):
            grid.add_row("  measured on", s["hardware"])
        if s["regret"] is not None:
            grid.add_row("Regret", f"{_fmt(s['regret'])} (table optimum {_fmt(s['optimum'])})")
    elif s["pareto_front"]:
        grid.add_row(
            "Pareto front", f"{len(s['pareto_front'])} non-dominated trial(s), listed below"
        )
    grid.add_row("Wall time", f"{s['wall_time_s']:.2f} s")
    grid.add_row("Storage", s["storage"])
    out = _stdout()
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
            str(t["number"]), t["arch"], *(_fmt(v) for v in values),
            *(_fmt(t["test_metrics"].get(c)) for c in tests),
        )  # fmt: skip
    if len(front) > limit:
        table.caption = f"... and {len(front) - limit} more (all of them with --json)"
    return table


# ---------------------------------------------------------------- bench
_BENCH_EPILOG = _examples(
    (
        "four strategies, 10 seeds, 100 trials, on two data sets",
        "metanas bench --datasets cora,citeseer --seeds 10 --budget 100",
    ),
    (
        "all data sets, in parallel, writing a docs section and curve plots",
        "metanas bench --n-jobs 8 --output docs/benchmarks.md --plots docs/img",
    ),
    (
        "machine-readable summary",
        "metanas bench --datasets cora --strategies random,evolution --seeds 3 --budget 50 --json",
    ),
)


@app.command(epilog=_BENCH_EPILOG)
def bench(
    benchmark: Annotated[
        str, typer.Option("--benchmark", "-b", help="Tabular benchmark to compare on.")
    ] = "nas-bench-graph",
    datasets: Annotated[
        str | None,
        typer.Option("--datasets", "-d", help="Comma-separated data sets (default: all)."),
    ] = None,
    strategies: Annotated[
        str, typer.Option("--strategies", "-s", help="Comma-separated strategies to compare.")
    ] = _BENCH_STRATEGIES,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Repeats per strategy and data set (0..N-1).")
    ] = 10,
    budget: Annotated[int, typer.Option("--budget", "-n", min=1, help="Trials per run.")] = 100,
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more (INFO).")] = False,
) -> None:  # fmt: skip
    """Compare search strategies on a tabular benchmark (several seeds each).

    Every (data set, strategy, seed) run searches [bold]--budget[/] trials in memory; the
    summary gives the regret to the table optimum at a few checkpoints.
    """
    err = _stderr()
    with _errors(), _logging(err, _log_level(quiet, verbose)):
        from metanas.benchmarking import run_comparison, write_section

        known = metanas.benchmarks.available_benchmarks()
        key = benchmark.lower().replace("_", "-")
        if datasets is None and key not in known:
            from metanas.exceptions import closest

            raise metanas.UnknownNameError(
                f"Unknown benchmark {benchmark!r}.{closest(key, known)} Benchmarks: "
                f"{sorted(known)!r}."
            )
        sets = _split_list(datasets, "--datasets") or list(known[key])
        names = _split_list(strategies, "--strategies") or []
        checkpoints = (*(c for c in (10, 20, 50, 100, 200, 500, 1000) if c < budget), budget)
        cmp = run_comparison(
            benchmark=key, datasets=sets, strategies=names, seeds=seeds, budget=budget,
            checkpoints=checkpoints, n_jobs=n_jobs,
            # the runner draws its bar on stdout: keep it out of redirected output
            progress=_interactive(quiet) and sys.stdout.isatty(),
        )  # fmt: skip
        summary = cmp.summary()
        written: dict[str, Any] = {}
        if output is not None:
            write_section(output, "cli-bench", cmp.to_markdown())
            written["output"] = str(output)
        if plots is not None:
            written["plots"] = [str(p) for p in cmp.plot_curves(plots)]
    if json_output:
        _echo_json({"summary": summary.to_dict(orient="records"), **written})
        return
    out = _stdout()
    out.print(_bench_table(summary, f"{key}: {budget} trials x {seeds} seed(s)"))
    if "output" in written:
        err.print(f"Wrote section 'cli-bench' of {written['output']}")
    for p in written.get("plots", []):
        err.print(f"Wrote {p}")


def _bench_table(summary: Any, title: str) -> Table:
    """The headline columns of :meth:`Comparison.summary`: median regrets, queries to top."""
    cols = [str(c) for c in summary.columns]
    tests = [c for c in cols if c.startswith("test_regret@") and not c.endswith(("_q25", "_q75"))]
    keep = [
        c
        for c in cols
        if c in ("dataset", "strategy", "n_seeds", "queries_to_top", "n_reached_top")
        or c in ("overhead_ms",)
        or (c.startswith("valid_regret@") and not c.endswith(("_q25", "_q75")))
        or (tests and c == tests[-1])
    ]
    table = Table(title=f"{title}; regret: median over seeds", title_justify="left")
    for c in keep:
        numeric = str(summary[c].dtype).startswith(("float", "int"))
        header = c.replace("valid_regret", "valid regret ").replace("test_regret", "test regret ")
        table.add_column(header.replace("_", " "), justify="right" if numeric else "left")
    for row in summary[keep].itertuples(index=False):
        table.add_row(*(_fmt(_jsonable(v)) for v in row))
    return table


# ---------------------------------------------------------------- studies
_STORAGE_OPTION = typer.Option(
    "--storage", envvar="METANAS_STORAGE",
    help="SQLAlchemy URL of the store, e.g. sqlite:///runs.db; default: the user's store.",
)  # fmt: skip


@studies_app.command(
    "list",
    epilog=_examples(
        ("the studies of one file", "metanas studies list --storage sqlite:///runs.db"),
        ("as JSON, from $METANAS_STORAGE or the user's store", "metanas studies list --json"),
    ),
)
def studies_list(
    storage: Annotated[str | None, _STORAGE_OPTION] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List the studies in a store, with trial counts and best values."""
    url = _storage_url(storage)
    with _errors():
        rows = [] if _sqlite_file_missing(url) else metanas.storage.get_storage(url).list_studies()
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
        _echo_json(records)
        return
    out = _stdout()
    if not records:
        out.print(f"No studies in {_display_url(url)}")
        return
    table = Table(title=f"Studies in {_display_url(url)}")
    for col, justify in (
        ("name", "left"), ("task", "left"), ("strategy", "left"), ("objective", "left"),
        ("trials", "right"), ("complete", "right"), ("failed", "right"), ("best", "right"),
        ("created (UTC)", "left"),
    ):  # fmt: skip
        table.add_column(col, justify=justify, no_wrap=col == "name")  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            r["name"], r["task"], r["strategy"],
            ", ".join(f"{d[:3]} {m}" for m, d in r["objectives"]),
            str(r["n_trials"]), str(r["n_complete"]), str(r["n_failed"]),
            _fmt(r["best_value"]), r["created_at"].strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    out.print(table)


@studies_app.command(
    "show",
    epilog=_examples(
        ("config and 10 best trials", "metanas studies show cora-rea --storage sqlite:///runs.db"),
        ("the 3 best, as JSON", "metanas studies show cora-rea --top 3 --json"),
    ),
)
def studies_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    top: Annotated[
        int, typer.Option("--top", "-k", min=0, help="Best trials to list (0: all).")
    ] = 10,
    storage: Annotated[str | None, _STORAGE_OPTION] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show a study's configuration and its best trials."""
    url = _storage_url(storage)
    with _errors():
        study = _open_study(name, url)
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
            "storage": _display_url(url),
            "top_trials": [_trial_record(study, t) for t in shown],
        }
    if json_output:
        _echo_json(info)
        return
    out = _stdout()
    grid = _grid()
    grid.add_row("Study", info["study"])
    grid.add_row("Task", info["task"])
    if info["task_descriptors"]:
        grid.add_row("Task descriptors", json.dumps(_jsonable(info["task_descriptors"])))
    grid.add_row("Strategy", info["strategy"])
    if info["strategy_settings"]:
        grid.add_row("Settings", json.dumps(_jsonable(info["strategy_settings"])))
    grid.add_row("Seed", str(info["seed"]))
    grid.add_row("Objective", ", ".join(f"{d} {m}" for m, d in info["objectives"]))
    grid.add_row("Space", json.dumps(_jsonable(info["space"])))
    grid.add_row(
        "Trials",
        f"{info['n_trials']}: {info['n_complete']} complete, {info['n_failed']} failed",
    )
    grid.add_row("Created (UTC)", info["created_at"].strftime("%Y-%m-%d %H:%M:%S"))
    grid.add_row("Storage", info["storage"])
    out.print(grid)
    if not shown:
        out.print("No completed trial yet.")
        return
    metric_names = sorted({k for t in info["top_trials"] for k in t["metrics"]})
    test_names = sorted({k for t in info["top_trials"] for k in t["test_metrics"]})
    table = Table(title=f"Top {len(shown)} trial(s) by {study.metric}")
    table.add_column("#", justify="right")
    table.add_column("arch", no_wrap=True)
    for col in [*metric_names, *test_names]:
        table.add_column(col, justify="right")
    for t in info["top_trials"]:
        table.add_row(
            str(t["number"]), t["arch"],
            *(_fmt(t["metrics"].get(c)) for c in metric_names),
            *(_fmt(t["test_metrics"].get(c)) for c in test_names),
        )  # fmt: skip
    out.print(table)


@studies_app.command(
    "export",
    epilog=_examples(
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
    storage: Annotated[str | None, _STORAGE_OPTION] = None,
) -> None:  # fmt: skip
    """Export every trial of a study, one row per trial (CSV, or JSON records)."""
    url = _storage_url(storage)
    with _errors():
        study = _open_study(name, url)
        df = study.trials_dataframe()
        if fmt is None:
            is_json = output is not None and output.suffix.lower() == ".json"
            fmt = ExportFormat.json if is_json else ExportFormat.csv
        if fmt is ExportFormat.csv:
            text = df.to_csv(index=False) if len(df.columns) else ""
        else:
            text = (
                json.dumps(
                    [_jsonable(r) for r in df.to_dict(orient="records")], indent=2, allow_nan=False
                )
                + "\n"
            )
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    _stderr().print(f"Wrote {len(df)} trial(s) of study {name!r} to {output}")


@studies_app.command(
    "delete",
    epilog=_examples(
        ("no questions asked", "metanas studies delete cora-rea --yes --storage sqlite:///runs.db"),
    ),
)
def studies_delete(
    name: Annotated[str, typer.Argument(help="Study name.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
    storage: Annotated[str | None, _STORAGE_OPTION] = None,
) -> None:
    """Delete a study and all its trials (cannot be undone)."""
    url = _storage_url(storage)
    with _errors():
        if _sqlite_file_missing(url):
            _open_study(name, url)  # raises: no such study
        store = metanas.storage.get_storage(url)
        record = store.get_study(name)  # raises with close names when missing
        if not yes:
            if not sys.stdin.isatty():
                raise ValueError(
                    f"Deleting study {name!r} cannot be undone: pass --yes to confirm."
                )
            typer.confirm(
                f"Delete study {name!r} ({record.task.name}) from {_display_url(url)}?",
                abort=True,
            )
        store.delete_study(name)
    _stderr().print(f"Deleted study {name!r} from {_display_url(url)}")


def main() -> None:
    """Entry point of the ``metanas`` command."""
    app(prog_name="metanas")


if __name__ == "__main__":  # pragma: no cover
    main()
