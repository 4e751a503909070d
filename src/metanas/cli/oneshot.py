"""``metanas oneshot``: search a supernet on data (DARTS, ENAS), retrain the result, store it.

Like every command it only parses options and calls the library
(:func:`metanas.search.search_oneshot`); the summary is printed as ``metanas search``
prints its own.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from metanas._torch import DEFAULT_THREADS
from metanas.cli import _console as c

__all__ = ["EPILOG", "ONESHOT_METHODS", "oneshot", "run"]

# This command trains in one process: its threads are the whole run's (no --n-jobs here).
_THREADS_HELP = (
    "Torch CPU threads of the run; default 1, which never oversubscribes a shared machine."
)


def methods() -> list[str]:
    """The one-shot method names (``--method`` choices)."""
    from metanas.search import oneshot_methods

    return oneshot_methods()


ONESHOT_METHODS = tuple(methods())

EPILOG = c.examples(
    ("first-order DARTS on a small CNN space, 6 search epochs",
     "metanas oneshot --method darts --data mnist1d --space cnn --epochs 6"),
    ("ENAS on the NAS-Bench-201 cell, under 2 ms per sample, JSON summary",
     "metanas oneshot --method enas --data digits --space nb201 --max-latency-ms 2 --json"),
    ("a search setting (read as JSON), stored in runs.db",
     "metanas oneshot --method darts2 --data iris --setting batch_size=32 "
     "--storage sqlite:///runs.db --study iris-darts2"),
)  # fmt: skip


def run(
    *,
    method: str,
    data: str,
    space: str | None,
    target: str | None,
    epochs: int | None,
    retrain_epochs: int | None,
    seed: int | None,
    max_latency_ms: float | None,
    url: str,
    study_name: str | None,
    device: str,
    settings: dict[str, Any],
    json_output: bool,
    threads: int = DEFAULT_THREADS,
    encoding: str | None = None,
) -> None:
    """Run a one-shot search and print its summary (shared by ``search --strategy darts``)."""
    from metanas.cli._summary import finish_search
    from metanas.search import search_oneshot

    summary = search_oneshot(
        data=data, method=method, space=space, target=target, epochs=epochs,
        retrain_epochs=retrain_epochs, seed=seed, max_latency_ms=max_latency_ms, storage=url,
        study_name=study_name, device=device, settings=settings, threads=threads,
        encoding=encoding,
    )  # fmt: skip
    finish_search(summary, json_output)


def oneshot(
    method: Annotated[
        str,
        typer.Option("--method", "-m", help="One-shot method: " + ", ".join(ONESHOT_METHODS) + "."),
    ] = "darts",
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d", help=f"Data to train on: {', '.join(c.task_names())}, or a CSV "
            "file (with --target).",
        ),
    ] = "mnist1d",
    space: Annotated[
        str | None, typer.Option("--space", help="Supernet space: cnn (default) or nb201.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Label column of a CSV.")] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Supernet search epochs (default 6).")
    ] = None,
    retrain_epochs: Annotated[
        int | None,
        typer.Option("--retrain-epochs", min=1, help="Epochs to retrain the derived network."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed (default 0).")] = None,
    max_latency_ms: Annotated[
        float | None,
        typer.Option(
            "--max-latency-ms", min=0.0, help="Latency limit at batch 1 on this machine; the "
            "search trades accuracy for speed to meet it.",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting", metavar="KEY=VALUE",
            help="Search setting (repeatable), value read as JSON: batch_size=32.",
        ),
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    study_name: Annotated[
        str | None,
        typer.Option("--study", help="Study name; default DATA-SPACE-METHOD-sSEED."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu or cuda.")
    ] = "auto",
    threads: Annotated[int, typer.Option("--threads", min=1, help=_THREADS_HELP)] = DEFAULT_THREADS,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Text encoding of a --data CSV file (default utf-8)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings.")] = False,
    verbose: Annotated[bool, c.VERBOSE_OPTION] = False,
) -> None:  # fmt: skip
    """Search a supernet on data with a one-shot method, retrain the result and store it.

    The search trains shared weights and architecture weights together, derives one
    network, retrains it and stores it as a study named after the method, with one trial
    and the architecture weights of every epoch, so [bold]metanas export[/] and
    [bold]metanas studies show[/] work on it.
    """
    url = c.storage_url(storage)
    with c.errors(url), c.logging_to(c.stderr(), c.log_level(quiet, verbose)):
        run(
            method=method, data=data, space=space, target=target, epochs=epochs,
            retrain_epochs=retrain_epochs, seed=seed, max_latency_ms=max_latency_ms, url=url,
            study_name=study_name, device=device,
            settings=c.parse_settings(setting, "--setting"), json_output=json_output,
            threads=threads, encoding=encoding,
        )  # fmt: skip
