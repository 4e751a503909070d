"""``metanas report``: one study as a self-contained HTML file (and its figures as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metanas.cli import _console as c

__all__ = ["EPILOG", "report"]

EPILOG = c.examples(
    ("cora-rea as one HTML file",
     "metanas report cora-rea --storage sqlite:///runs.db --out cora.html"),
    ("and its figures as PNG files in figs/", "metanas report cora-rea --out cora.html --png figs"),
)  # fmt: skip


def report(
    name: Annotated[str, typer.Argument(metavar="STUDY", help="Study name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write the figures as PNG into this folder.")
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
) -> None:
    """Write a study's report: one HTML file with plotly inline (opens offline)."""
    url = c.storage_url(storage)
    with c.errors():
        if c.sqlite_file_missing(url):
            c.fail(
                f"No study named {name!r}: storage {c.display_url(url)!r} does not exist. "
                "Check --storage (or $METANAS_STORAGE)."
            )
        from metanas.dashboard import write_report

        path = write_report(url, name, out, png_dir=png)
    size = path.stat().st_size / 1e6
    c.stdout().print(
        f"Wrote {path} ({size:.1f} MB)" + (f" and PNG figures in {png}" if png else "")
    )
