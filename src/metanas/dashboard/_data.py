"""Read-only views of stored studies, and the plotly figures (plain dicts) drawn from them.

Everything here reads through :class:`~metanas.storage.RDBStorage` (``list_studies``,
``get_study``, ``get_trials``, ``get_values``); nothing writes. Figures are plotly's JSON
(``{"data": [...], "layout": {...}}``) built without importing plotly, so a page costs the
query and the arithmetic only.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metanas.storage.rdb import RDBStorage, StudyRecord
from metanas.trial import Trial, TrialState

__all__ = [
    "StudyView",
    "arch_weight_figures",
    "curves_figure",
    "episode_figure",
    "history_figure",
    "importance_figure",
    "load_study_view",
    "pareto_figure",
    "regret_figure",
    "similarity_matrix",
    "study_importances",
    "trials_table",
    "warm_start_tasks",
]

_logger = logging.getLogger(__name__)

#: Learning curves drawn at most (the best ones, then every pruned one up to this count).
MAX_CURVES = 60
_STATE_COLOURS = {
    "complete": "#1a73e8", "pruned": "#f29900", "failed": "#d93025", "running": "#188038",
    "waiting": "#80868b",
}  # fmt: skip


@dataclass(frozen=True)
class StudyView:
    """One study as read at one moment: its record, its trials and their printed architectures."""

    record: StudyRecord
    trials: list[Trial]
    arch_text: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        return self.record.objectives

    @property
    def is_running(self) -> bool:
        return any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in self.trials)

    def scored(self) -> list[Trial]:
        """Finished trials with finite objective values (COMPLETE, and PRUNED when present)."""
        return self._scored

    @functools.cached_property
    def _scored(self) -> list[Trial]:
        return [
            t
            for t in self.trials
            if t.state.finished
            and t.state is not TrialState.FAILED
            and t.values is not None
            and all(math.isfinite(v) for v in t.values)
        ]


def _format_all(record: StudyRecord, trials: Sequence[Trial]) -> list[str]:
    from metanas.spaces.base import space_from_config

    config = record.space
    if config.get("type") == "table" and isinstance(config.get("base"), dict):
        # A table's rows are not stored, but its architectures print as its base space's do.
        config = config["base"]
    try:
        space = space_from_config(config)
    except (ValueError, TypeError, KeyError) as exc:
        # A space no longer registered (a plug-in not imported) cannot be rebuilt.
        _logger.debug(
            "study %r: space not rebuilt (%s); raw architecture strings", record.name, exc
        )
        return [t.arch.to_string() for t in trials]
    out = []
    for t in trials:
        try:
            out.append(space.format(t.arch))
        except Exception:  # any space's format error: the raw string still shows it
            out.append(t.arch.to_string())
    return out


def load_study_view(storage: RDBStorage, name: str) -> StudyView:
    """Read study ``name`` and its trials (raises StudyNotFoundError, naming the studies)."""
    record = storage.get_study(name)
    trials = storage.get_trial_summaries(record.id)
    return StudyView(record, trials, _format_all(record, trials))


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def trials_table(view: StudyView) -> dict[str, Any]:
    """The trials as columns (compact JSON: one list per column, not one object per row)."""
    cols: dict[str, list[Any]] = {
        "number": [t.number for t in view.trials],
        "state": [t.state.value for t in view.trials],
    }
    for k, (metric, _direction) in enumerate(view.objectives):
        cols[metric] = [
            None if t.values is None or k >= len(t.values) else _num(t.values[k])
            for t in view.trials
        ]
    cols["budget"] = [_num(getattr(t, "budget", None)) for t in view.trials]
    cols["cost_s"] = [_num(t.cost_s) for t in view.trials]
    cols["architecture"] = list(view.arch_text)
    if all(b is None for b in cols["budget"]):
        del cols["budget"]
    return {"columns": list(cols), "rows": cols}


def _sign(direction: str) -> float:
    return 1.0 if direction == "maximize" else -1.0


def best_so_far(view: StudyView) -> tuple[list[int], list[float]]:
    """The incumbent's first objective after each scored trial, in trial-number order."""
    if not view.objectives:
        return [], []
    sign = _sign(view.objectives[0][1])
    xs, ys = [], []
    best: float | None = None
    for t in view.scored():
        v = float(t.values[0])  # type: ignore[index]
        if best is None or sign * v > sign * best:
            best = v
        xs.append(t.number)
        ys.append(best)
    return xs, ys


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title}, "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}}, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "height": 360, "legend": {"orientation": "h"}, **extra,
    }  # fmt: skip


def history_figure(view: StudyView) -> dict[str, Any]:
    """Every scored trial's first objective, and the best-so-far line."""
    metric = view.objectives[0][0] if view.objectives else "value"
    data: list[dict[str, Any]] = []
    by_state: dict[str, tuple[list[int], list[float | None]]] = {}
    for t in view.scored():
        xs, ys = by_state.setdefault(t.state.value, ([], []))
        xs.append(t.number)
        ys.append(_num(t.values[0]))  # type: ignore[index]
    for state, (xs, ys) in by_state.items():
        data.append({
            "type": "scatter", "mode": "markers", "name": state, "x": xs, "y": ys,
            "marker": {"size": 4, "color": _STATE_COLOURS.get(state, "#555"), "opacity": 0.6},
        })  # fmt: skip
    bx, by = best_so_far(view)
    data.append({
        "type": "scatter", "mode": "lines", "name": "best so far", "x": bx, "y": by,
        "line": {"shape": "hv", "color": "#202124"},
    })  # fmt: skip
    return {"data": data, "layout": _layout("Optimisation history", "trial", metric)}


@functools.lru_cache(maxsize=16)
def _benchmark(name: str, dataset: str) -> Any:
    from metanas.benchmarks import load_benchmark

    return load_benchmark(name, dataset)


def benchmark_optimum(view: StudyView) -> float | None:
    """The best value of the study's first objective in its benchmark's table, when known.

    Known for studies of a built-in tabular benchmark, whose task descriptors name it
    (``benchmark`` and ``dataset`` for NAS-Bench-Graph, ``task`` for the task family).
    """
    desc = view.record.task.descriptors
    bench_name, dataset = desc.get("benchmark"), desc.get("dataset", desc.get("task"))
    if not view.objectives or not isinstance(bench_name, str) or not isinstance(dataset, str):
        return None
    metric, direction = view.objectives[0]
    try:
        bench = _benchmark(bench_name, dataset)
        if metric not in bench.metrics:
            return None
        return float(bench.optimum(metric, direction))
    except Exception as exc:  # a missing table only hides the regret plot
        _logger.info("No optimum for study %r: %s", view.name, exc)
        return None


def regret_figure(view: StudyView) -> dict[str, Any] | None:
    """Simple regret (optimum minus incumbent, oriented, >= 0) per trial; None if unknown."""
    optimum = benchmark_optimum(view)
    if optimum is None:
        return None
    sign = _sign(view.objectives[0][1])
    xs, ys = best_so_far(view)
    regret = [max(0.0, sign * (optimum - y)) for y in ys]
    layout = _layout(f"Regret (optimum {optimum:.4g})", "trial", "regret")
    layout["yaxis"]["type"] = "log" if regret and min(regret) > 0 else "linear"
    return {
        "data": [{"type": "scatter", "mode": "lines", "name": "regret", "x": xs, "y": regret,
                  "line": {"shape": "hv"}}],
        "layout": layout,
    }  # fmt: skip


def pareto_front_numbers(view: StudyView) -> list[int]:
    """Numbers of the scored trials on the Pareto front of the study's objectives."""
    from metanas.pareto import pareto_front

    scored = [t for t in view.scored() if len(t.values or ()) == len(view.objectives)]
    if len(view.objectives) < 2 or not scored:
        return []
    points = np.array([t.values for t in scored], dtype=float)
    idx = pareto_front(points, [d for _m, d in view.objectives])
    return [scored[int(i)].number for i in idx]


def pareto_figure(view: StudyView) -> dict[str, Any] | None:
    """The first two objectives of every scored trial, front highlighted; None for one."""
    if len(view.objectives) < 2:
        return None
    front = set(pareto_front_numbers(view))
    (m0, _), (m1, _) = view.objectives[:2]
    rest = [t for t in view.scored() if t.number not in front]
    best = sorted((t for t in view.scored() if t.number in front), key=lambda t: t.values[0])  # type: ignore[index]
    data = []
    for label, group, mode, colour in (
        ("trials", rest, "markers", "#9aa0a6"), ("Pareto front", best, "lines+markers", "#d93025")
    ):  # fmt: skip
        data.append({
            "type": "scatter", "mode": mode, "name": label,
            "x": [_num(t.values[0]) for t in group],  # type: ignore[index]
            "y": [_num(t.values[1]) for t in group],  # type: ignore[index]
            "text": [f"trial {t.number}" for t in group], "marker": {"size": 5, "color": colour},
            "line": {"shape": "hv"},
        })  # fmt: skip
    return {"data": data, "layout": _layout("Pareto front", m0, m1)}


def study_importances(view: StudyView, *, seed: int = 0) -> dict[str, float]:
    """Per-decision importances of the first objective (see :func:`decision_importances`)."""
    from metanas.dashboard._importance import decision_importances

    scored = [t for t in view.scored() if t.state is TrialState.COMPLETE]
    if not scored:
        return {}
    values = [float(t.values[0]) for t in scored if t.values is not None]
    return decision_importances([t.arch for t in scored], values, seed=seed)


def importance_figure(importances: Mapping[str, float]) -> dict[str, Any] | None:
    if not importances:
        return None
    names = list(importances)[::-1]
    layout = _layout("Decision importance", "share of explained variance", "")
    layout["height"] = max(200, 60 + 22 * len(names))
    return {
        "data": [{"type": "bar", "orientation": "h", "y": names,
                  "x": [round(importances[n], 4) for n in names], "name": "importance"}],
        "layout": layout,
    }  # fmt: skip


def _events(storage: RDBStorage, view: StudyView) -> dict[int, list[tuple[float, str]]]:
    """Scheduler decisions per trial ``{number: [(budget, decision), ...]}``, when stored.

    The events table of the multi-fidelity scheduler may be absent (older stores, or
    studies run without a scheduler): then there is nothing to mark but PRUNED states.
    """
    getter = getattr(storage, "get_events", None)
    if getter is None:
        return {}
    try:
        rows = getter(view.record.id)
    except Exception as exc:  # marks are optional; curves still draw
        _logger.debug("no scheduler events for %r: %s", view.name, exc)
        return {}
    out: dict[int, list[tuple[float, str]]] = {}
    for r in rows:
        get = r.get if isinstance(r, Mapping) else (lambda k, _r=r: getattr(_r, k, None))
        number, budget = get("number"), get("budget")
        kind, decision = str(get("kind") or ""), str(get("decision") or "")
        if kind == "promote" or decision == "continue":
            mark = "promote"
        elif kind == "stop" or decision == "stop":
            mark = "stop"
        else:
            continue
        if number is not None and budget is not None:
            out.setdefault(int(number), []).append((float(budget), mark))
    return out


def curves_figure(storage: RDBStorage, view: StudyView) -> dict[str, Any] | None:
    """Learning curves (intermediate values) of the best and the pruned trials; marks stops.

    PRUNED trials end in a cross; scheduler decisions other than "continue" are marked at
    their budget (promotions as triangles, stops as crosses) when the store keeps them.
    """
    steps = storage.get_values(view.record.id)
    if not steps:
        return None
    metric = view.objectives[0][0] if view.objectives else "value"
    sign = _sign(view.objectives[0][1]) if view.objectives else 1.0
    by_number = {t.number: t for t in view.trials}
    ranked = sorted(
        steps,
        key=lambda n: (
            by_number[n].state is not TrialState.PRUNED if n in by_number else True,
            -sign * float((by_number[n].values or (0.0,))[0]) if n in by_number else 0.0,
        ),
    )
    pruned = [n for n in ranked if n in by_number and by_number[n].state is TrialState.PRUNED]
    best = [n for n in ranked if n not in pruned]
    chosen = sorted(
        set(best[: MAX_CURVES // 2] + pruned[: MAX_CURVES - min(len(best), MAX_CURVES // 2)])
    )
    events = _events(storage, view)
    data: list[dict[str, Any]] = []
    stop_x: list[float] = []
    stop_y: list[float | None] = []
    promo_x: list[float] = []
    promo_y: list[float | None] = []
    for n in chosen:
        points = steps[n]
        key = metric if any(metric in v for _s, v, _e in points) else None
        xs = [s for s, _v, _e in points]
        ys = [_num(v.get(key) if key else next(iter(v.values()), None)) for _s, v, _e in points]
        state = by_number[n].state.value if n in by_number else "unknown"
        data.append({
            "type": "scatter", "mode": "lines", "name": f"trial {n} ({state})", "x": xs, "y": ys,
            "line": {"width": 1, "color": _STATE_COLOURS.get(state, "#555")},
            "showlegend": False,
        })  # fmt: skip
        if state == "pruned" and xs:
            stop_x.append(xs[-1])
            stop_y.append(ys[-1])
        for budget, decision in events.get(n, []):
            at = min(range(len(xs)), key=lambda i: abs(xs[i] - budget)) if xs else None
            if at is None:
                continue
            if decision == "stop" and state != "pruned":
                stop_x.append(xs[at])
                stop_y.append(ys[at])
            elif decision == "promote" and at < len(xs) - 1:
                promo_x.append(xs[at])
                promo_y.append(ys[at])
    if stop_x:
        data.append({"type": "scatter", "mode": "markers", "name": "stopped (pruned)",
                     "x": stop_x, "y": stop_y,
                     "marker": {"symbol": "x", "size": 9, "color": "#d93025"}})  # fmt: skip
    if promo_x:
        marker = {"symbol": "triangle-up", "size": 8, "color": "#188038"}
        data.append({"type": "scatter", "mode": "markers", "name": "promoted", "x": promo_x,
                     "y": promo_y, "marker": marker})  # fmt: skip
    title = f"Learning curves ({len(chosen)} of {len(steps)} trials)"
    return {"data": data, "layout": _layout(title, "step (epoch)", metric)}


def arch_weight_figures(view: StudyView, max_decisions: int = 12) -> list[dict[str, Any]]:
    """One heatmap per decision of a one-shot run's architecture weights over its epochs.

    Read from the study attribute ``arch_weights`` (``[{"epoch": e, "weights":
    {decision: {op: weight}}}, ...]``) that ``metanas oneshot`` and few-shot MetaNAS store.
    """
    history = view.record.user_attrs.get("arch_weights")
    if not isinstance(history, list) or not history:
        return []
    epochs = [row.get("epoch") for row in history if isinstance(row, Mapping)]
    weights = [row.get("weights", {}) for row in history if isinstance(row, Mapping)]
    decisions = list(dict.fromkeys(d for w in weights if isinstance(w, Mapping) for d in w))
    figures = []
    for decision in decisions[:max_decisions]:
        ops = list(dict.fromkeys(op for w in weights for op in (w.get(decision) or {})))
        z = [[_num((w.get(decision) or {}).get(op)) for w in weights] for op in ops]
        layout = _layout(f"Architecture weights: {decision}", "epoch", "candidate")
        layout["height"] = max(220, 80 + 24 * len(ops))
        figures.append({
            "data": [{"type": "heatmap", "x": epochs, "y": ops, "z": z, "colorscale": "Blues",
                      "zmin": 0, "zmax": 1}],
            "layout": layout,
        })  # fmt: skip
    return figures


def episode_figure(view: StudyView) -> dict[str, Any] | None:
    """Histogram of a few-shot run's per-episode test accuracies (study attribute)."""
    accs = view.record.user_attrs.get("episode_accuracies")
    if not isinstance(accs, list) or not accs:
        return None
    xs = [_num(float(a)) for a in accs if isinstance(a, int | float)]
    return {
        "data": [{"type": "histogram", "x": xs, "name": "episodes"}],
        "layout": _layout(f"Few-shot accuracy per episode ({len(xs)} episodes)", "accuracy",
                          "episodes"),
    }  # fmt: skip


def similarity_matrix(
    storage: RDBStorage, *, metric: str = "valid_accuracy", max_tasks: int = 30
) -> tuple[list[str], list[list[float | None]]]:
    """Task names and their pairwise similarity (:func:`metanas.meta.task_similarities`).

    Row ``i`` holds how similar each task is to task ``i`` when ``i`` is the target
    (descriptors and, where both tasks ranked common architectures, their responses);
    the diagonal is 1. Only the first ``max_tasks`` tasks are compared.
    """
    from metanas.meta import ExperienceMemory, TaskHistory, task_similarities

    memory = ExperienceMemory(storage)
    names = memory.task_names()[:max_tasks]
    histories: dict[str, TaskHistory] = {}
    for task in names:
        try:
            histories[task] = memory.history(task, metric)
        except Exception as exc:  # a task without this metric is compared by descriptors
            _logger.debug("task %r has no %r history: %s", task, metric, exc)
    matrix: list[list[float | None]] = []
    for a in names:
        row: list[float | None] = [None] * len(names)
        row[names.index(a)] = 1.0
        others = {b: h for b, h in histories.items() if b != a}
        if others:
            target: Any = histories.get(a, memory.descriptors(a))
            try:
                for s in task_similarities(target, others):
                    row[names.index(s.task)] = _num(s.value)
            except Exception as exc:  # one task's failure leaves its row empty
                _logger.debug("similarity of %r: %s", a, exc)
        matrix.append(row)
    return names, matrix


def warm_start_tasks(storage: RDBStorage, view: StudyView) -> list[tuple[str, float]]:
    """For a study whose strategy learns from past tasks: those tasks, most similar first.

    These are the tasks of the store's memory the strategy could learn from (all but the
    study's own task), ranked as :func:`metanas.meta.rank_tasks` ranks them; empty for a
    strategy that does not use the memory.
    """
    from metanas.meta import ExperienceMemory, rank_tasks
    from metanas.strategies.base import STRATEGIES

    try:
        uses_memory = bool(STRATEGIES.get(view.record.strategy).uses_memory)
    except Exception:  # a one-shot method or a strategy no longer registered
        return []
    if not uses_memory or not view.objectives:
        return []
    memory = ExperienceMemory(storage)
    task = view.record.task.name
    metric, direction = view.objectives[0]
    try:
        past = memory.memory_for(task, metric=metric, direction=direction)
        if not past:
            return []
        return [(t, float(s)) for t, s in rank_tasks(dict(view.record.task.descriptors), past)]
    except Exception as exc:  # the page still shows the study without the list
        _logger.info("warm-start tasks of %r: %s", view.name, exc)
        return []


def similarity_figure(
    names: Sequence[str], matrix: Sequence[Sequence[float | None]]
) -> dict[str, Any]:
    layout = _layout("Task similarity (row: target task)", "past task", "target task")
    layout["height"] = max(300, 120 + 24 * len(names))
    return {
        "data": [{"type": "heatmap", "x": list(names), "y": list(names),
                  "z": [list(r) for r in matrix], "colorscale": "RdBu", "zmin": -1, "zmax": 1}],
        "layout": layout,
    }  # fmt: skip
