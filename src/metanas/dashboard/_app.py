"""The dashboard's web application (FastAPI): read-only pages and JSON over one store."""

from __future__ import annotations

import threading
import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metanas.dashboard import _data, _pages
from metanas.dashboard._payload import study_header, study_payload, view_version
from metanas.dashboard._svg import architecture_svg
from metanas.exceptions import StudyNotFoundError
from metanas.storage.rdb import RDBStorage, display_url, get_storage

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "plotly_js_path"]

_MISSING = 'The dashboard needs FastAPI and plotly: pip install "metanas[dashboard]"'
# Pages only run their own inline script and plotly from this server; nothing else loads.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def plotly_js_path() -> Path:
    """plotly.min.js as installed with the plotly package (no CDN: works offline)."""
    try:
        import plotly
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(
            f"plotly.min.js is not at {path}; reinstall plotly (pip install --force-reinstall "
            "plotly)."
        )
    return path


class _Views:
    """Study views cached by version, so polling and a page's requests read the trials once."""

    def __init__(self, storage: RDBStorage, ttl_s: float = 30.0) -> None:
        self.storage = storage
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float, _data.StudyView]] = {}
        self._importances: dict[tuple[str, str], dict[str, Any] | None] = {}

    def version(self, name: str) -> str:
        for s in self.storage.list_studies():
            if s.name == name:
                return view_version(s.n_trials, s.n_complete, s.n_failed)
        self.storage.get_study(name)  # raises StudyNotFoundError, naming the studies there
        return ""  # pragma: no cover - get_study raised

    def get(self, name: str) -> tuple[str, _data.StudyView]:
        version = self.version(name)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            # The version misses a RUNNING trial turning PRUNED: the TTL rereads it anyway.
            if hit is not None and hit[0] == version and now - hit[1] < self.ttl_s:
                return version, hit[2]
        view = _data.load_study_view(self.storage, name)
        with self._lock:
            self._cache[name] = (version, now, view)
        return version, view

    def importance(self, name: str) -> dict[str, Any] | None:
        version, view = self.get(name)
        key = (name, version)
        with self._lock:
            if key in self._importances:
                return self._importances[key]
        fig = _data.importance_figure(_data.study_importances(view))
        with self._lock:
            self._importances[key] = fig
        return fig


def create_app(storage: str | RDBStorage, *, poll_s: float = 5.0) -> FastAPI:
    """The dashboard over ``storage`` (a URL or an open store); read-only, GET only.

    Pages: ``/`` (tasks and studies), ``/study?name=...`` (one study), ``/meta`` (task
    similarity). JSON under ``/api/``: ``studies``, ``version``, ``data``, ``importance``
    and ``arch`` (``?name=...&trial=N``). No endpoint takes SQL or a path: a study is
    chosen by name, a trial by number.

    Raises
    ------
    ImportError
        FastAPI or plotly is not installed (``pip install "metanas[dashboard]"``).
    """
    try:
        from fastapi import FastAPI, Query, Request
        from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    except ImportError as exc:
        raise ImportError(_MISSING) from exc

    store = get_storage(storage)
    views = _Views(store)
    plotly_path = plotly_js_path()
    plotly_tag = '<script src="static/plotly.min.js"></script>'
    app = FastAPI(title="metanas dashboard", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    @app.exception_handler(StudyNotFoundError)
    async def _not_found(request: Request, exc: StudyNotFoundError) -> Response:
        message = str(exc.args[0]) if exc.args else str(exc)  # KeyError's str() adds quotes
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=404)
        body = f"<h2>Not found</h2><p>{escape(message)}</p>"
        return HTMLResponse(_pages.page("metanas: not found", body, plotly=""), status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        studies = store.list_studies()
        tasks: dict[str, int] = {t.name: 0 for t in store.list_tasks()}
        for s in studies:
            tasks[s.task] = tasks.get(s.task, 0) + 1
        return _pages.index_page(display_url(store.url), studies, sorted(tasks.items()))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_path, media_type="application/javascript")

    def payload(name: str) -> tuple[_data.StudyView, dict[str, Any]]:
        version, view = views.get(name)
        return view, study_payload(store, view, api="api/", version=version, poll_s=poll_s)

    @app.get("/study", response_class=HTMLResponse)
    def study(name: str = Query(..., max_length=255)) -> str:
        view, data = payload(name)
        return _pages.study_page(study_header(view), data, plotly=plotly_tag)

    @app.get("/meta", response_class=HTMLResponse)
    def meta() -> str:
        names, matrix = _data.similarity_matrix(store)
        figures = [("similarity", _data.similarity_figure(names, matrix))] if names else []
        return _pages.meta_page({"figures": figures, "api": None}, plotly=plotly_tag)

    @app.get("/api/studies")
    def api_studies() -> list[dict[str, Any]]:
        return [
            {
                "name": s.name, "task": s.task, "strategy": s.strategy,
                "objectives": [list(o) for o in s.objectives], "n_trials": s.n_trials,
                "n_complete": s.n_complete, "n_failed": s.n_failed,
                "best_value": s.best_value, "version": view_version(
                    s.n_trials, s.n_complete, s.n_failed),
            }
            for s in store.list_studies()
        ]  # fmt: skip

    @app.get("/api/version")
    def api_version(name: str = Query(..., max_length=255)) -> dict[str, str]:
        return {"version": views.version(name)}

    @app.get("/api/data")
    def api_data(name: str = Query(..., max_length=255)) -> Response:
        _view, data = payload(name)
        return Response(_pages.script_json(data), media_type="application/json")

    @app.get("/api/importance")
    def api_importance(name: str = Query(..., max_length=255)) -> Response:
        return Response(
            _pages.script_json({"figure": views.importance(name)}), media_type="application/json"
        )

    @app.get("/api/arch")
    def api_arch(name: str = Query(..., max_length=255), trial: int = Query(..., ge=0)) -> Any:
        _version, view = views.get(name)
        for t in view.trials:
            if t.number == trial:
                return {"svg": architecture_svg(t.arch, f"trial {trial}")}
        return JSONResponse(
            {"error": f"Study {name!r} has no trial {trial}; its trials are numbered "
             f"0 to {len(view.trials) - 1}."},
            status_code=404,
        )  # fmt: skip

    return app
