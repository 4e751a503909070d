"""``metanas report`` and ``metanas studies plot``: one study as a self-contained HTML file,
and its figures as PNG (matplotlib)."""

from __future__ import annotations

import base64
import functools
import gzip
import math
from pathlib import Path
from typing import Literal

from metanas.dashboard import _data, _pages
from metanas.dashboard._payload import study_header, study_payload
from metanas.storage.rdb import RDBStorage, get_storage
from metanas.trial import TrialState

__all__ = ["PLOT_KINDS", "PlotKind", "plot_study", "write_report"]

PlotKind = Literal["history", "pareto", "importance", "curves"]
#: The figures :func:`plot_study` draws.
PLOT_KINDS: tuple[str, ...] = ("history", "pareto", "importance", "curves")


def write_report(
    storage: str | RDBStorage,
    name: str,
    out: str | Path,
    *,
    max_rows: int = 10_000,
    svg_top: int = 20,
    png_dir: str | Path | None = None,
) -> Path:
    """Write study ``name`` as one self-contained HTML file (plotly.js inline, no network).

    The report has the dashboard's study page: history, regret, Pareto front, learning
    curves, architecture weights, importances, the trial table (the best ``max_rows``
    trials of larger studies) and the architectures of the ``svg_top`` best trials.
    ``png_dir`` also writes every figure :func:`plot_study` can draw as PNG there.

    Returns
    -------
    Path
        The HTML file written.

    Raises
    ------
    StudyNotFoundError
        No study ``name`` in the store.
    """
    store = get_storage(storage)
    view = _data.load_study_view(store, name)
    payload = study_payload(
        store, view, api=None, importances=True, max_rows=max_rows, svg_top=svg_top
    )
    html = _pages.study_page(study_header(view), payload, plotly=inline_plotly(), standalone=True)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    if png_dir is not None:
        for kind in PLOT_KINDS:
            target = Path(png_dir) / f"{kind}.png"
            try:
                plot_study(store, name, kind, target, view=view)  # type: ignore[arg-type]
            except ValueError:
                continue  # a figure this study has no data for (one objective: no Pareto front)
    return path


# Unpacks the gzipped library in the browser (DecompressionStream: Chromium 80, Firefox 113,
# Safari 16.4), runs it, then lets the page script start.
_UNPACK = (
    "<script>(async()=>{const t=document.getElementById('plotly-gz').textContent;"
    "const b=Uint8Array.from(atob(t),c=>c.charCodeAt(0));"
    "const s=new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip'));"
    "const e=document.createElement('script');e.textContent=await new Response(s).text();"
    "document.head.appendChild(e);window.dispatchEvent(new Event('plotly-ready'));})();</script>"
)


@functools.lru_cache(maxsize=1)
def inline_plotly() -> str:
    """plotly.min.js for a self-contained page: gzipped and base64-encoded, unpacked on load.

    The library is 4.8 MB as text (plotly 7); packed it takes about 1.9 MB, which keeps a
    10,000-trial report under 5 MB.
    """
    from metanas.dashboard._app import plotly_js_path

    packed = gzip.compress(plotly_js_path().read_bytes(), compresslevel=6, mtime=0)
    text = base64.b64encode(packed).decode("ascii")
    return f'<script type="application/octet-stream" id="plotly-gz">{text}</script>{_UNPACK}'


def plot_study(
    storage: str | RDBStorage,
    name: str,
    kind: PlotKind,
    out: str | Path,
    *,
    view: _data.StudyView | None = None,
) -> Path:
    """Draw one figure of study ``name`` as a PNG with matplotlib.

    ``kind``: ``history`` (values and best so far), ``pareto`` (first two objectives, front
    highlighted), ``importance`` (per-decision importances), ``curves`` (intermediate values;
    pruned trials end in a cross).

    Raises
    ------
    ValueError
        An unknown ``kind``, or a study without the data for it (the message says which).
    StudyNotFoundError
        No study ``name`` in the store.
    """
    if kind not in PLOT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PLOT_KINDS)}; got {kind!r}.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = get_storage(storage)
    view = view or _data.load_study_view(store, name)
    metric = view.objectives[0][0] if view.objectives else "value"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    try:
        if kind == "history":
            scored = view.scored()
            if not scored:
                raise ValueError(f"Study {name!r} has no finished trial to plot yet.")
            ax.scatter(
                [t.number for t in scored], [t.values[0] for t in scored],  # type: ignore[index]
                s=6, alpha=0.5, label="trials",
            )  # fmt: skip
            xs, ys = _data.best_so_far(view)
            ax.step(xs, ys, where="post", color="black", label="best so far")
            ax.set(xlabel="trial", ylabel=metric, title=f"{name}: history")
        elif kind == "pareto":
            if len(view.objectives) < 2:
                raise ValueError(
                    f"Study {name!r} has one objective ({metric}); a Pareto front needs two. "
                    "Use --kind history."
                )
            front = set(_data.pareto_front_numbers(view))
            pts = [t for t in view.scored() if len(t.values or ()) >= 2]
            ax.scatter(
                [t.values[0] for t in pts], [t.values[1] for t in pts],  # type: ignore[index]
                s=6, color="0.6", label="trials",
            )  # fmt: skip
            on = sorted((t for t in pts if t.number in front), key=lambda t: t.values[0])  # type: ignore[index]
            ax.step(
                [t.values[0] for t in on], [t.values[1] for t in on], where="post",  # type: ignore[index]
                color="tab:red", marker="o", label="Pareto front",
            )  # fmt: skip
            ax.set(xlabel=view.objectives[0][0], ylabel=view.objectives[1][0], title=name)
        elif kind == "importance":
            imp = _data.study_importances(view)
            if not imp:
                raise ValueError(
                    f"Study {name!r} has too few complete trials for importances (8 needed)."
                )
            names = list(imp)[::-1]
            ax.barh(names, [imp[n] for n in names])
            ax.set(xlabel="share of explained variance", title=f"{name}: decision importance")
        else:
            steps = store.get_values(view.record.id)
            if not steps:
                raise ValueError(
                    f"Study {name!r} stored no intermediate values (learning curves); run it "
                    "with an evaluator that records curves, or a scheduler."
                )
            states = {t.number: t.state for t in view.trials}
            for number, points in list(steps.items())[: _data.MAX_CURVES]:
                xs = [s for s, _v, _e in points]
                ys = [v.get(metric, next(iter(v.values()), math.nan)) for _s, v, _e in points]
                pruned = states.get(number) is TrialState.PRUNED
                ax.plot(xs, ys, lw=0.8, color="tab:orange" if pruned else "tab:blue")
                if pruned and xs:
                    ax.plot(xs[-1], ys[-1], "x", color="tab:red")
            ax.set(xlabel="step (epoch)", ylabel=metric, title=f"{name}: learning curves")
        if kind in ("history", "pareto"):
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
