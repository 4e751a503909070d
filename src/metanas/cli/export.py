"""``metanas export``: retrain a study's best network and write it (weights, ONNX, loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metanas.cli import _console as c

__all__ = ["EPILOG", "export"]

EPILOG = c.examples(
    (
        "the best trial of a study, into ./iris-s-model",
        "metanas export iris-s --storage sqlite:///runs.db",
    ),
    (
        "trial 3, no ONNX file, JSON summary",
        "metanas export iris-s --trial 3 --out model --no-onnx --json",
    ),
)


def export(
    study_name: Annotated[str, typer.Argument(metavar="STUDY", help="Study to export.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output directory; default ./STUDY-model (characters other than letters, "
            "digits, '-', '_' and '.' in STUDY become '_').",
        ),
    ] = None,
    trial: Annotated[
        int | None,
        typer.Option("--trial", min=0, help="Trial number to export; default the best."),
    ] = None,
    no_onnx: Annotated[bool, typer.Option("--no-onnx", help="Skip model.onnx.")] = False,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:
    """Retrain a study's best network and write its weights, architecture and ONNX file.

    The model is retrained with the seed the search used, so it is the one the
    search measured. Load it back with one line:
    [bold]metanas.load_model("DIR")[/].
    """
    from metanas.export import default_export_dir, export_model, load_model

    url = c.storage_url(storage)
    with c.errors(url):
        study = c.open_study(study_name, url)
        path = export_model(
            study, out or default_export_dir(study_name), trial=trial, onnx=not no_onnx
        )
        info = load_model(path).info
    files = sorted(p.name for p in path.iterdir())
    summary = {
        "study": study_name, "trial": info["trial"], "arch": info["arch_string"],
        "path": str(path), "files": files, "metrics": info["metrics"],
        "test_metrics": info["test_metrics"],
        "load": f"metanas.load_model({str(path)!r})",
    }  # fmt: skip
    if json_output:
        c.echo_json(summary)
        return
    out_console = c.stdout()
    out_console.print(
        c.plain(f"Exported trial {info['trial']} of {study_name}: {info['arch_string']}")
    )
    out_console.print(c.plain(f"  {path}: {', '.join(files)}"))
    out_console.print(c.plain(f"  load it with: {summary['load']}"))
