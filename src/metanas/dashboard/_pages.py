"""HTML of the dashboard's pages and of the report (one template; every user string escaped).

Server-side text goes through :func:`html.escape`; data reaches the page as JSON inside a
``<script type="application/json">`` block whose ``<``, ``>`` and ``&`` are written as
``\\u003c`` escapes, and the page's script puts strings into the document with
``textContent`` only, so no stored name can become markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["index_page", "meta_page", "page", "script_json", "study_page"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#202124;background:#fafafa}
header{background:#1a73e8;color:#fff;padding:10px 20px}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:12px 20px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #dadce0;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f1f3f4;cursor:pointer;user-select:none}
tr.sel td{background:#e8f0fe}
tbody tr:hover td{background:#f8f9fa;cursor:pointer}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
.card{min-width:0;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:8px;
  overflow:auto}
.muted{color:#5f6368;font-size:13px}
#table-wrap{max-height:480px;overflow:auto}
input{padding:4px 8px;font-size:13px;width:320px}
"""

# The page's script (static/dashboard.js), read once: inline in every page, so a report is one file.
_JS = (Path(__file__).parent / "static" / "dashboard.js").read_text(encoding="utf-8")


def script_json(obj: Any) -> str:
    """JSON safe to put inside ``<script>``: no ``</script>``, no markup, no NaN."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(title: str, body: str, *, plotly: str, payload: Any = None) -> str:
    """A whole HTML page; ``plotly`` is a ``<script>`` tag (a URL, or the library inline)."""
    data = (
        f'<script type="application/json" id="payload">{script_json(payload)}</script>'
        f"{plotly}<script>{_JS}</script>"
        if payload is not None
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        '<header><a href="./">metanas dashboard</a></header>'
        f"<main>{body}</main>{data}</body></html>"
    )


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.5g}"
    return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows are HTML already (cells escaped by the caller)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def index_page(url: str, studies: Sequence[Any], tasks: Sequence[tuple[str, int]]) -> str:
    """The first page: the tasks and the studies of a store (StudySummary rows)."""
    from urllib.parse import quote

    rows = [
        [
            f'<a href="study?name={escape(quote(s.name, safe=""))}">{escape(s.name)}</a>',
            escape(s.task), escape(s.strategy),
            escape(", ".join(f"{d[:3]} {m}" for m, d in s.objectives)),
            str(s.n_trials), str(s.n_complete), str(s.n_failed), escape(_fmt(s.best_value)),
            escape(s.created_at.strftime("%Y-%m-%d %H:%M")),
        ]
        for s in studies
    ]  # fmt: skip
    task_rows = [[escape(t), str(n)] for t, n in tasks]
    body = (
        f'<h2>Studies</h2><p class="muted">Store: {escape(url)} · '
        '<a href="meta">meta view (task similarity)</a></p>'
        + _table(
            [
                "study",
                "task",
                "strategy",
                "objectives",
                "trials",
                "complete",
                "failed",
                "best",
                "created (UTC)",
            ],
            rows,
        )
        + "<h2>Tasks</h2>"
        + _table(["task", "studies"], task_rows)
    )
    return page("metanas dashboard", body, plotly="")


def study_page(
    header: dict[str, Any], payload: dict[str, Any], *, plotly: str, standalone: bool = False
) -> str:
    """A study's page: summary, figures, trial table and the chosen trial's architecture."""
    facts = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_fmt(v))}</td></tr>" for k, v in header.items()
    )
    warm = payload.get("warm_start") or []
    warm_html = (
        "<h3>Past tasks it could learn from (most similar first)</h3>"
        + _table(["task", "similarity"], [[escape(t), escape(f"{s:.3f}")] for t, s in warm])
        if warm
        else ""
    )
    body = (
        f"<h2>Study {escape(str(header.get('study', '')))}</h2>"
        f"<table>{facts}</table>{warm_html}"
        '<div id="figures" class="grid" style="margin-top:12px"></div>'
        '<div class="grid" style="margin-top:12px"><div class="card"><h3>Trials</h3>'
        '<input id="filter" placeholder="filter: state, architecture, value ..."> '
        '<span id="count" class="muted"></span><div id="table-wrap"><table>'
        '<thead id="thead"></thead><tbody id="tbody"></tbody></table></div></div>'
        '<div class="card"><h3 id="arch-title">Architecture</h3><div id="arch"></div></div></div>'
    )
    if standalone:
        body += '<p class="muted">Self-contained report written by <code>metanas report</code>.</p>'
    return page(f"metanas: {header.get('study', '')}", body, plotly=plotly, payload=payload)


def meta_page(payload: dict[str, Any], *, plotly: str) -> str:
    body = (
        "<h2>Meta view</h2><p class=muted>How similar the stored tasks are "
        "(metanas.meta.task_similarities on valid_accuracy: descriptors, and rank correlation "
        "on architectures both tasks evaluated).</p>"
        '<div id="figures" class="grid"></div>'
    )
    return page("metanas: meta view", body, plotly=plotly, payload=payload)
