"""What a study page shows, as one JSON-able payload (the dashboard and the report share it)."""

from __future__ import annotations

from typing import Any

from metanas.dashboard._data import (
    StudyView,
    arch_weight_figures,
    curves_figure,
    episode_figure,
    history_figure,
    importance_figure,
    pareto_figure,
    regret_figure,
    study_importances,
    trials_table,
    warm_start_tasks,
)
from metanas.dashboard._svg import architecture_svg
from metanas.storage.rdb import RDBStorage
from metanas.trial import TrialState

__all__ = ["best_number", "study_header", "study_payload", "view_version"]


def view_version(n_trials: int, n_complete: int, n_failed: int) -> str:
    """A study's version for polling: changes when a trial is added, completes or fails."""
    return f"{n_trials}/{n_complete}/{n_failed}"


def best_number(view: StudyView) -> int | None:
    """Number of the best COMPLETE trial by the first objective (None without one)."""
    complete = [t for t in view.scored() if t.state is TrialState.COMPLETE]
    if not complete or not view.objectives:
        return None
    sign = 1.0 if view.objectives[0][1] == "maximize" else -1.0
    return max(complete, key=lambda t: (sign * float(t.values[0]), -t.number)).number  # type: ignore[index]


def study_header(view: StudyView) -> dict[str, Any]:
    """The facts shown above a study's figures (plain strings and numbers)."""
    counts: dict[str, int] = {}
    for t in view.trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    run = view.record.user_attrs.get("stored_run")
    return {
        "study": view.name,
        "task": view.record.task.name,
        "strategy": view.record.strategy
        + (f" ({run.get('kind')} run)" if isinstance(run, dict) else ""),
        "objectives": ", ".join(f"{d} {m}" for m, d in view.objectives),
        "trials": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none",
        "created (UTC)": view.record.created_at.strftime("%Y-%m-%d %H:%M"),
        "running": "yes" if view.is_running else "no",
    }


def study_payload(
    storage: RDBStorage,
    view: StudyView,
    *,
    api: str | None,
    version: str = "",
    importances: bool = False,
    max_rows: int | None = None,
    svg_top: int = 0,
    poll_s: float = 5.0,
) -> dict[str, Any]:
    """Figures, trial table and settings of the page script for one study.

    ``api`` is the dashboard's JSON prefix (None in a report: no polling, no fetches).
    ``importances`` computes the decision importances now (the dashboard fetches them after
    the page has drawn). ``max_rows`` keeps the best rows of larger tables (reports).
    ``svg_top`` embeds the architectures of that many best trials (reports).
    """
    figures: list[tuple[str, dict[str, Any]]] = [("history", history_figure(view))]
    for key, fig in (
        ("regret", regret_figure(view)), ("pareto", pareto_figure(view)),
        ("curves", curves_figure(storage, view)), ("episodes", episode_figure(view)),
    ):  # fmt: skip
        if fig is not None:
            figures.append((key, fig))
    figures += [(f"weights-{i}", f) for i, f in enumerate(arch_weight_figures(view))]
    if importances:
        imp = importance_figure(study_importances(view))
        if imp is not None:
            figures.append(("importance", imp))
    table = trials_table(view)
    note = ""
    n = len(view.trials)
    if max_rows is not None and n > max_rows:
        first = view.objectives[0][0] if view.objectives else None
        sign = -1.0 if view.objectives and view.objectives[0][1] == "maximize" else 1.0
        values = table["rows"].get(first, [None] * n)
        keep = sorted(range(n), key=lambda i: (values[i] is None, sign * (values[i] or 0.0), i))[
            :max_rows
        ]
        keep.sort()
        table["rows"] = {c: [col[i] for i in keep] for c, col in table["rows"].items()}
        note = f"the best {max_rows} of {n} trials are in this report"
    best = best_number(view)
    svgs: dict[int, str] = {}
    if svg_top:
        by_number = {t.number: t for t in view.trials}
        sign = 1.0 if view.objectives[0][1] == "maximize" else -1.0
        complete = [t for t in view.scored() if t.state is TrialState.COMPLETE and t.values]
        ranked = sorted(
            complete,
            key=lambda t: -sign * float(t.values[0]),  # type: ignore[index]
        )[:svg_top]
        for t in ranked:
            svgs[t.number] = architecture_svg(by_number[t.number].arch, f"trial {t.number}")
    return {
        "name": view.name,
        "api": api,
        "version": version,
        "poll_s": poll_s if api else 0,
        "figures": figures,
        "importance_inline": importances,
        "table": table,
        "table_note": note,
        "best": best,
        "svgs": svgs,
        "warm_start": warm_start_tasks(storage, view),
    }
