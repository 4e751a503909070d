"""Reports of benchmark comparisons: Markdown tables, PNG plots, generated docs sections."""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas.exceptions import unknown

if TYPE_CHECKING:
    from metanas.benchmarking.multi_objective import ParetoComparison
    from metanas.benchmarking.regret import Comparison

__all__ = [
    "machine_info",
    "pareto_markdown",
    "plot_pareto_fronts",
    "plot_regret_curves",
    "regret_markdown",
    "regret_overview_markdown",
    "write_section",
]


# ---------------------------------------------------------------- regret
def regret_markdown(
    cmp: Comparison, datasets: Sequence[str] | None = None, *, notes: bool = True
) -> str:
    """Readable Markdown tables: one per data set, strategies side by side, best in bold.

    Cells are ``median [25th, 75th percentile]`` over seeds. Regret of an
    accuracy is shown in accuracy points (x 100).

    Parameters
    ----------
    datasets
        The data sets to include (default: all, in run order).
    notes
        End with a line explaining the cells.
    """
    if datasets is None:
        datasets = cmp.datasets
    elif isinstance(datasets, str):
        datasets = [datasets]
    for d in datasets:
        if d not in cmp.datasets:
            raise unknown("data set in this comparison", d, cmp.datasets)
    df = cmp.summary()
    scale, unit = (100.0, "accuracy points") if _percent(cmp) else (1.0, "")
    strategies = cmp.strategies
    top = cmp.runs[0].top_fraction
    out: list[str] = []
    for d in datasets:
        sub: Any = df[df["dataset"] == d].set_index("strategy")
        present = [s for s in strategies if s in sub.index]
        out.append(f"#### {d} ({int(sub['n_seeds'].min())} seeds, budget {cmp.n_trials})")
        out.append("")
        out.append("| | " + " | ".join(f"`{s}`" for s in present) + " |")
        out.append("|---|" + "---:|" * len(present))
        for kind, label in (("valid", "valid regret"), ("test", "test regret")):
            for c in cmp.checkpoints:
                meds = [float(sub.at[s, f"{kind}_regret@{c}"]) for s in present]
                cells = []
                for s, med in zip(present, meds, strict=True):
                    q25 = sub.at[s, f"{kind}_regret@{c}_q25"]
                    q75 = sub.at[s, f"{kind}_regret@{c}_q75"]
                    text = f"{med * scale:.3f} [{q25 * scale:.3f}, {q75 * scale:.3f}]"
                    cells.append(_bold(text, med, meds))
                out.append(f"| {label} @{c} | " + " | ".join(cells) + " |")
        tops = [float(sub.at[s, "queries_to_top_median"]) for s in present]
        cells = [
            _bold(
                f"{sub.at[s, 'queries_to_top']} ({sub.at[s, 'n_reached_top']}/"
                f"{sub.at[s, 'n_seeds']})",
                t,
                tops,
            )
            for s, t in zip(present, tops, strict=True)
        ]
        out.append(f"| queries to top {top * 100:g} % | " + " | ".join(cells) + " |")
        ovh = [float(sub.at[s, "overhead_ms"]) for s in present]
        cells = [_bold(f"{o:.2f}", o, ovh) for o in ovh]
        out.append("| overhead ms/trial (median) | " + " | ".join(cells) + " |")
        out.append("")
    if not notes:
        return "\n".join(out)
    note = (
        f"Cells: median [25th, 75th percentile] over seeds; regret in {unit}"
        if unit
        else "Cells: median [25th, 75th percentile] over seeds"
    )
    out.append(
        note + f"; queries to top: median number of queries until the incumbent is in the "
        f"table's top {top * 100:g} % by validation (n reached / n seeds); best in bold "
        "(lower is better everywhere)."
    )
    return "\n".join(out) + "\n"


def regret_overview_markdown(
    cmp: Comparison, kind: str = "valid", checkpoint: int | None = None
) -> str:
    """One Markdown table: data sets x strategies, median ``kind`` regret at ``checkpoint``.

    ``kind`` is ``"valid"`` or ``"test"``; ``checkpoint`` defaults to the
    ``n_trials``. The best median per data set is bold.
    """
    if kind not in ("valid", "test"):
        raise ValueError(f"kind must be 'valid' or 'test'; got {kind!r}.")
    c = cmp.checkpoint(checkpoint)
    scale = 100.0 if _percent(cmp) else 1.0
    strategies = cmp.strategies
    lines = [
        "| data set | " + " | ".join(f"`{s}`" for s in strategies) + " |",
        "|---|" + "---:|" * len(strategies),
    ]
    for d in cmp.datasets:
        meds = []
        for s in strategies:
            runs = cmp.select(d, s)
            vals = [getattr(r, f"{kind}_regret")[c - 1] for r in runs]
            meds.append(float(np.nanmedian(vals)) if runs else math.nan)
        cells = ["-" if math.isnan(v) else _bold(f"{v * scale:.3f}", v, meds) for v in meds]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_regret_curves(cmp: Comparison, directory: str | os.PathLike[str]) -> list[Path]:
    """Write PNG regret curves: one per data set (valid and test), plus an overview grid.

    Each strategy is drawn as the median over seeds with its 25th-75th
    percentile band, on a log y axis; regret 0 (the table's best found) is
    drawn at the bottom of the axis.

    Returns
    -------
    The paths written: ``regret_<benchmark>_<dataset>.png`` per data set,
    then ``regret_<benchmark>_overview.png``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if matplotlib.get_backend().lower() != "agg":
        plt.switch_backend("Agg")
    outdir = Path(directory)
    outdir.mkdir(parents=True, exist_ok=True)
    bench = cmp.runs[0].benchmark
    scale, unit = (100.0, " (accuracy points)") if _percent(cmp) else (1.0, "")
    colours = {s: f"C{i}" for i, s in enumerate(cmp.strategies)}
    paths: list[Path] = []
    for d in cmp.datasets:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for ax, kind in zip(axes, ("valid", "test"), strict=True):
            _draw_regret(cmp, ax, d, kind, scale, colours)
            ax.set_title(f"{d}: {kind} regret")
            ax.set_xlabel("queries")
            ax.set_ylabel(f"{kind} regret{unit}")
        axes[0].legend(loc="upper right", fontsize=8)
        path = outdir / f"regret_{bench}_{d}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    n = len(cmp.datasets)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), constrained_layout=True,
        squeeze=False,
    )  # fmt: skip
    for ax, d in zip(axes.flat, cmp.datasets, strict=False):
        _draw_regret(cmp, ax, d, "valid", scale, colours)
        ax.set_title(d)
        ax.set_xlabel("queries")
        ax.set_ylabel(f"valid regret{unit}")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    fig.suptitle(f"{bench}: validation regret, median and 25-75 % band over seeds")
    path = outdir / f"regret_{bench}_overview.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
    return paths


def _draw_regret(
    cmp: Comparison, ax: Any, dataset: str, kind: str, scale: float, colours: dict[str, str]
) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    x = np.arange(1, cmp.n_trials + 1)
    bands = {}
    for s in cmp.strategies:
        runs = cmp.select(dataset, s)
        if not runs:
            continue
        curves = np.vstack([getattr(r, f"{kind}_regret")[: cmp.n_trials] for r in runs]) * scale
        bands[s] = np.nanpercentile(curves, [25, 50, 75], axis=0)
    positive = np.concatenate([b[b > 0] for b in bands.values()] or [np.array([])])
    floor = float(positive.min()) / 2 if positive.size else 1e-3 * scale
    for s, (q25, med, q75) in bands.items():
        ax.fill_between(
            x, np.maximum(q25, floor), np.maximum(q75, floor), color=colours[s], alpha=0.18,
            linewidth=0,
        )  # fmt: skip
        ax.plot(x, np.maximum(med, floor), color=colours[s], label=s, linewidth=1.6)
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    narrow = hi / max(lo, 1e-300) < 15  # about a decade: label more ticks
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    if any((b == 0).any() for b in bands.values()):
        ax.axhline(floor, color="0.5", linestyle=":", linewidth=0.8)
        ax.text(
            x[-1], floor, "regret 0 (table best found)", ha="right", va="bottom", fontsize=7,
            color="0.4",
        )  # fmt: skip
    ax.set_xlim(1, cmp.n_trials)
    ax.grid(True, which="major", alpha=0.3)


def _percent(cmp: Comparison) -> bool:
    """True when every run searched an accuracy: regrets are then shown x 100."""
    return all("acc" in r.metric.lower() for r in cmp.runs)


def _bold(text: str, value: float, values: Sequence[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if len(values) > 1 and finite and value == min(finite) and not all(v == value for v in values):
        return f"**{text}**"
    return text


# ---------------------------------------------------------------- Pareto
def pareto_markdown(cmp: ParetoComparison, reference: str | None = None) -> str:
    """A Markdown table: data sets x strategies, median [IQR] HV ratio at each checkpoint.

    The best median per data set and checkpoint is bold (higher is better).
    """
    df = cmp.summary(reference)
    strategies = cmp.strategies
    head = "| data set | queries | " + " | ".join(f"`{s}`" for s in strategies) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(strategies)]
    for d in cmp.datasets:
        sub: Any = df[df["dataset"] == d].set_index("strategy")
        for c in cmp.checkpoints:
            meds = [
                float(sub.at[s, f"hv_ratio@{c}"]) if s in sub.index else math.nan
                for s in strategies
            ]
            best = max((m for m in meds if not math.isnan(m)), default=math.nan)
            cells = []
            for s, med in zip(strategies, meds, strict=True):
                if math.isnan(med):
                    cells.append("-")
                    continue
                q25, q75 = sub.at[s, f"hv_ratio@{c}_q25"], sub.at[s, f"hv_ratio@{c}_q75"]
                text = f"{med:.4f} [{q25:.4f}, {q75:.4f}]"
                bold = med == best and len(set(meds)) > 1
                cells.append(f"**{text}**" if bold else text)
            lines.append(f"| {d} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_pareto_fronts(
    cmp: ParetoComparison,
    directory: str | os.PathLike[str],
    *,
    seed: int | None = None,
    strategies: Sequence[str] | None = None,
) -> list[Path]:
    """One PNG per data set: the table (grey), its true front and each strategy's front.

    The x axis is the second objective, the y axis the first (for the
    default objectives: latency on a log axis, validation accuracy). Each
    strategy is drawn for one seed (default: the smallest seed run).

    Returns
    -------
    The paths written: ``pareto_<dataset>.png`` per data set.
    """
    from metanas.pareto import plot_pareto

    if len(cmp.objectives) != 2:
        raise ValueError(
            f"plot_fronts draws 2 objectives; this comparison has {len(cmp.objectives)}."
        )
    outdir = Path(directory)
    names = list(strategies) if strategies is not None else cmp.strategies
    (m0, d0), (m1, d1) = cmp.objectives
    paths = []
    for d in cmp.datasets:
        table = cmp.tables[d]
        sets: dict[str, np.ndarray] = {"table's true front": table.points[table.front][:, ::-1]}
        for s in names:
            runs = cmp.select(d, s)
            if not runs:
                continue
            run = next((r for r in runs if r.seed == seed), runs[0])
            sets[f"{s} (seed {run.seed}, {run.n_trials} queries)"] = run.found()[:, ::-1]
        spread = table.points[:, 1]
        logx = bool(spread.min() > 0 and spread.max() / spread.min() > 20)
        path = plot_pareto(
            sets, outdir / f"pareto_{d}.png", directions=(d1, d0), labels=(m1, m0),
            title=f"{cmp.runs[0].benchmark}/{d}: {m0} vs {m1}",
            background=table.points[:, ::-1],
            background_label=f"whole table ({len(table.points)} architectures)", logx=logx,
        )  # fmt: skip
        paths.append(path)
    return paths


# ---------------------------------------------------------------- docs
def write_section(path: str | os.PathLike[str], section: str, markdown: str) -> None:
    """Replace one generated section of a Markdown file, leaving the rest untouched.

    The section is the text between ``<!-- BEGIN {section} -->`` and
    ``<!-- END {section} -->``. A missing section is appended; a missing file
    is created with a ``# Benchmarks`` title.

    Raises
    ------
    ValueError
        A bad section name, or markers that are unpaired, repeated or out of order.
    """
    if not isinstance(section, str) or not section.strip() or "--" in section or "\n" in section:
        raise ValueError(
            f"section must be a one-line name without '--', e.g. 'tabular-strategies'; got "
            f"{section!r}."
        )
    p = Path(path)
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    block = f"{begin}\n{markdown.strip(chr(10))}\n{end}"
    text = p.read_text(encoding="utf-8") if p.exists() else "# Benchmarks\n"
    nb, ne = text.count(begin), text.count(end)
    if nb == 0 and ne == 0:
        new = text.rstrip("\n") + "\n\n" + block + "\n"
    elif nb == 1 and ne == 1 and text.index(begin) < text.index(end):
        i, j = text.index(begin), text.index(end) + len(end)
        new = text[:i] + block + text[j:]
    else:
        raise ValueError(
            f"{str(p)!r} has {nb} {begin!r} and {ne} {end!r} marker(s) (or END before BEGIN); "
            "a section needs exactly one of each, in order. Fix the markers by hand, then "
            "run again."
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def machine_info() -> dict[str, str]:
    """CPU model, cores, OS and versions of Python and the main libraries (for reports)."""
    import platform

    import optuna

    from metanas._version import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "optuna": optuna.__version__,
        "metanas": __version__,
    }
