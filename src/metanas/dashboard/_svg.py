"""Architectures drawn as SVG: cells as graphs, chains as boxes, anything else as a list.

The drawing depends only on the architecture's decision names, so trials of any stored study
can be drawn without rebuilding its space: ``"j<-i"`` decisions (NAS-Bench-201 style cells)
are edges of a DAG, ``link`` + ``op1..op4`` (NAS-Bench-Graph) a wiring of computing nodes,
``n_blocks``/``op_i`` or ``n_layers``/``width_i`` a chain. Every text is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["architecture_svg"]

_EDGE = re.compile(r"^(\d+)<-(\d+)$")
_BOX_W, _BOX_H, _GAP = 120, 34, 26


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-family="sans-serif">{escape(s)}</text>'
    )


def _box(x: float, y: float, label: str, sub: str = "", *, fill: str = "#e8f0fe") -> str:
    parts = [
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
        f'fill="{fill}" stroke="#3367d6"/>',
        _text(x + _BOX_W / 2, y + (14 if sub else 21), label[:18]),
    ]
    if sub:
        parts.append(_text(x + _BOX_W / 2, y + 28, sub[:20], size=10))
    return "".join(parts)


def _svg(width: float, height: float, body: Sequence[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" style="max-width:100%;height:auto" role="img">'
        f"<title>{escape(title)}</title>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>' + "".join(body) + "</svg>"
    )


def _arrow(x1: float, y1: float, x2: float, y2: float, label: str = "") -> str:
    out = (
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555" '
        'stroke-width="1.4" marker-end="url(#arrow)"/>'
    )
    if label:
        out += _text((x1 + x2) / 2 + 4, (y1 + y2) / 2 - 4, label, size=10, anchor="start")
    return out


def _dag(
    nodes: Sequence[tuple[str, str]], edges: Sequence[tuple[int, int, str]], title: str
) -> str:
    """Nodes in columns by depth (longest path from a source), edges as labelled arrows."""
    depth = [0] * len(nodes)
    for _ in nodes:  # longest-path relaxation; graphs here have < 20 nodes
        for src, dst, _label in edges:
            depth[dst] = max(depth[dst], depth[src] + 1)
    columns: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        columns.setdefault(d, []).append(i)
    col_w, row_h = _BOX_W + 90, _BOX_H + _GAP
    pos: dict[int, tuple[float, float]] = {}
    n_rows = max(len(v) for v in columns.values())
    for d, members in columns.items():
        top = 20 + (n_rows - len(members)) * row_h / 2
        for k, i in enumerate(members):
            pos[i] = (20 + d * col_w, top + k * row_h)
    body = []
    for src, dst, label in edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        body.append(_arrow(x1 + _BOX_W, y1 + _BOX_H / 2, x2, y2 + _BOX_H / 2, label))
    for i, (label, sub) in enumerate(nodes):
        body.append(_box(*pos[i], label, sub))
    width = 40 + (max(depth) + 1) * col_w - 90
    return _svg(width, 40 + n_rows * row_h - _GAP, body, title)


def _cell(arch: Mapping[str, Any], title: str) -> str:
    edges = []
    for name, op in arch.items():
        match = _EDGE.match(name)
        if match and str(op) not in ("none", "zero"):
            edges.append((int(match.group(2)), int(match.group(1)), str(op)))
    n = 1 + max(int(_EDGE.match(k).group(1)) for k in arch if _EDGE.match(k))  # type: ignore[union-attr]
    nodes = [
        (f"node {i}", "input" if i == 0 else ("output" if i == n - 1 else "")) for i in range(n)
    ]
    return _dag(nodes, edges, title)


def _nas_bench_graph(arch: Mapping[str, Any], title: str) -> str:
    link = str(arch["link"])
    ops = [str(arch[f"op{k}"]) for k in range(1, 5)]
    nodes = [
        ("input", "graph"),
        *((op, f"node {k}") for k, op in enumerate(ops, 1)),
        ("output", ""),
    ]
    used = {int(c) for c in link}
    edges = [(int(c), k, "") for k, c in enumerate(link, 1)]
    # Leaves (nodes no other node reads) feed the output, as in NAS-Bench-Graph.
    edges += [(k, 5, "") for k in range(1, 5) if k not in used]
    return _dag(nodes, edges, title)


def _chain(arch: Mapping[str, Any], count: str, prefix: str, title: str) -> str:
    n = int(arch[count])
    blocks: list[tuple[str, str]] = [("input", "")]
    for i in range(1, n + 1):
        if prefix == "op":
            sub = ", ".join(
                f"{k.rsplit('_', 1)[0]} {arch[k]}"
                for k in (f"channels_{i}", f"stride_{i}")
                if k in arch
            )
            blocks.append((str(arch[f"op_{i}"]), sub.replace("channels ", "ch ")))
        else:
            blocks.append((f"{arch[f'{prefix}_{i}']}", f"layer {i}"))
    used = {count, *(f"{p}_{i}" for p in ("op", "channels", "stride", "width") for i in range(99))}
    rest = ", ".join(f"{k}={v}" for k, v in arch.items() if k not in used)
    blocks.append(("output", rest))
    edges = [(i, i + 1, "") for i in range(len(blocks) - 1)]
    return _dag(blocks, edges, title)


def _generic(arch: Mapping[str, Any], title: str) -> str:
    body = []
    for k, (name, value) in enumerate(arch.items()):
        y = 10 + k * (_BOX_H + 6)
        body.append(_box(10, y, str(name), fill="#f1f3f4"))
        body.append(_box(10 + _BOX_W + 10, y, str(value)))
    return _svg(30 + 2 * _BOX_W, 20 + len(arch) * (_BOX_H + 6), body, title)


def architecture_svg(arch: Mapping[str, Any], title: str = "architecture") -> str:
    """An SVG drawing of ``arch`` (a mapping of decision names to choices).

    Cells whose decisions are named ``"j<-i"`` (edge from node i to node j) are drawn as a
    DAG with the operations on the edges; NAS-Bench-Graph architectures (``link``,
    ``op1``..``op4``) as their wiring of computing nodes; chains (``n_blocks`` + ``op_i``,
    or ``n_layers`` + ``width_i``) as a row of boxes; anything else as name/value boxes.

    Examples
    --------
    >>> svg = architecture_svg({"depth": 2, "act": "<b>relu</b>"})
    >>> svg.startswith("<svg") and "&lt;b&gt;relu&lt;/b&gt;" in svg
    True
    """
    try:
        if arch and all(_EDGE.match(str(k)) for k in arch):
            return _cell(arch, title)
        if "link" in arch and all(f"op{k}" in arch for k in range(1, 5)):
            return _nas_bench_graph(arch, title)
        if "n_blocks" in arch and "op_1" in arch:
            return _chain(arch, "n_blocks", "op", title)
        if "n_layers" in arch and "width_1" in arch:
            return _chain(arch, "n_layers", "width", title)
    except (ValueError, KeyError, TypeError):
        pass  # an unexpected encoding of a known shape: the generic drawing still shows it
    return _generic(arch, title)
