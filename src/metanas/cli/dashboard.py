"""``metanas dashboard``: the read-only web dashboard over a store."""

from __future__ import annotations

from typing import Annotated

import typer

from metanas.cli import _console as c

__all__ = ["EPILOG", "dashboard"]

EPILOG = c.examples(
    ("the studies of runs.db at http://127.0.0.1:8080", "metanas dashboard --storage sqlite:///runs.db"),
    ("another port, reachable from other machines (read-only, no login: trusted networks only)",
     "metanas dashboard --host 0.0.0.0 --port 9000"),
)  # fmt: skip


def dashboard(
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")] = 8080,
    poll_s: Annotated[
        float,
        typer.Option("--poll-s", min=0.5, help="Seconds between a study page's update checks."),
    ] = 5.0,
) -> None:
    """Serve a web dashboard of the stored studies (read-only): tables, charts, architectures."""
    url = c.storage_url(storage)
    with c.errors():
        if c.sqlite_file_missing(url):
            c.fail(
                f"Storage {c.display_url(url)!r} does not exist; the dashboard only reads. "
                "Check --storage (or $METANAS_STORAGE)."
            )
        from metanas.dashboard import create_app

        try:
            import uvicorn
        except ImportError as exc:
            raise ImportError(
                'The dashboard needs uvicorn: pip install "metanas[dashboard]"'
            ) from exc
        app = create_app(url, poll_s=poll_s)
        c.stderr().print(f"metanas dashboard of {c.display_url(url)} at http://{host}:{port}/")
        uvicorn.run(app, host=host, port=port, log_level="warning")
