"""Are the learning-curve models calibrated on real curves? Leave one task out on the task family.

The curve models (``metanas.meta.curves``) were checked on synthetic curves only
(tests/test_curves.py). The task-family table holds real ones: every architecture of the
family's space trained for 15 epochs on 10 tasks by metanas's own trainer. Each task is held
out in turn; the models are fitted on the other 9 tasks' curves (validation accuracy) and judged
on the held-out task's:

* ``LearningCurveModel`` (the ``curve`` scheduler's default rule, "extrapolate"): after k
  epochs, does the 90 % interval of the final accuracy cover it 90 % of the time, and is its
  mean closer to the final value than "final = last value" (the naive guess)?
* ``IncumbentCurveModel`` (the "incumbent" rule that ``curve+memory`` uses on this table):
  every held-out curve against each of the task's top 20 % curves by final accuracy as the
  incumbent (never against itself; the pairs the model is trained on in a past task); is
  P(final > incumbent's final) calibrated (predicted against observed, by bins; Brier score
  against the constant base rate), and how often does a curve the rule stops (P < 0.1, the
  threshold every task chose) end above the incumbent after all?

Nothing here is searched or tuned: both models have no setting that was chosen on this table's
held-out task (their defaults; the 0.1 threshold was chosen by curve+memory's nested
leave-one-task-out on tuning seeds).

    python benchmarks/curve_calibration.py              # writes the section "curve-calibration"
    python benchmarks/curve_calibration.py --no-write
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, first_table, header

SECTION = "curve-calibration"
KS = (1, 2, 3, 5, 9, 13)
RUNGS = (1, 3, 9)  # ASHA's rungs on this table (min 1 epoch, eta 3, 15 epochs)
Z90 = 1.6448536269514722
STOP = 0.1  # curve+memory's threshold on this table
BINS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0)


def family_curves(table: str | None) -> dict[str, np.ndarray]:
    """``{task: curves}``, one row per architecture with a complete validation curve."""
    from metanas.benchmarks import TaskFamily
    from metanas.benchmarks.family import FAMILY_TASKS

    out = {}
    for task in FAMILY_TASKS:
        # The first table's 200 architectures: the section and docs/multifidelity.md's numbers.
        _, curves = TaskFamily(task, path=table, n_archs=first_table(table)).curves(
            "valid_accuracy"
        )
        out[task] = np.asarray(curves[np.isfinite(curves).all(axis=1)], dtype=float)
    return out


def extrapolate_rows(curves: dict[str, np.ndarray]) -> tuple[list[str], dict[str, list[float]]]:
    """Coverage and errors of LearningCurveModel, pooled over the held-out tasks."""
    from metanas.meta import LearningCurveModel

    sets = [*((tuple(range(1, k + 1)), f"first {k}") for k in KS), (RUNGS, "rungs 1, 3, 9")]
    cover: dict[str, list[float]] = {name: [] for _, name in sets}
    # Per held-out task: (sum of the model's absolute errors, the naive guess's, curves).
    err: dict[str, list[tuple[float, float]]] = {name: [] for _, name in sets}
    per_task: dict[str, list[float]] = {name: [] for _, name in sets}
    for task, held in curves.items():
        past = np.vstack([c for t, c in curves.items() if t != task])
        model = LearningCurveModel().fit(past)
        for eps, name in sets:
            idx = np.array(eps) - 1
            pred = np.array([model.predict(c[idx], epochs=list(eps)) for c in held])
            final = held[:, -1]
            hit = np.abs(final - pred[:, 0]) <= Z90 * pred[:, 1]
            cover[name] += hit.tolist()
            per_task[name].append(float(hit.mean()))
            err[name].append(
                (np.abs(final - pred[:, 0]).sum(), np.abs(final - held[:, idx[-1]]).sum())
            )
    lines = [
        "| epochs seen | 90 % interval covers (pooled) | lowest / highest task | MAE of the model "
        '(points) | MAE of "final = last value" (points) | model / naive [90 % CI] |',
        "|---|---:|---:|---:|---:|---:|",
    ]
    n_curves = len(cover[sets[0][1]])
    rng = np.random.default_rng(0)
    for _, name in sets:
        e = np.array(err[name])
        m, n = 100 * e[:, 0].sum() / n_curves, 100 * e[:, 1].sum() / n_curves
        # Bootstrap over the held-out tasks (a task's curves share its model: one cluster).
        boot = rng.integers(0, len(e), size=(2000, len(e)))
        lo, hi = np.percentile(e[boot, 0].sum(axis=1) / e[boot, 1].sum(axis=1), [5, 95])
        lines.append(
            f"| {name} | {100 * np.mean(cover[name]):.1f} % | "
            f"{100 * min(per_task[name]):.1f} / {100 * max(per_task[name]):.1f} % | "
            f"{m:.2f} | {n:.2f} | {m / n:.2f} [{lo:.2f}, {hi:.2f}] |"
        )
    return lines, {name: per_task[name] for _, name in sets}


def incumbent_rows(curves: dict[str, np.ndarray]) -> tuple[list[str], dict[str, float]]:
    """Calibration of IncumbentCurveModel's P(final > incumbent's final) on held-out pairs."""
    from metanas.meta.curves import IncumbentCurveModel

    sets = [((1,), "1"), ((1, 2, 3), "1-3"), (RUNGS, "1, 3, 9")]
    probs: dict[str, list[np.ndarray]] = {name: [] for _, name in sets}
    labels: dict[str, list[np.ndarray]] = {name: [] for _, name in sets}
    for task, held in curves.items():
        others = [t for t in curves if t != task]
        past = np.vstack([curves[t] for t in others])
        groups = np.concatenate([np.full(len(curves[t]), i) for i, t in enumerate(others)])
        model = IncumbentCurveModel().fit(past, groups=groups)
        n_top = max(1, round(0.2 * len(held)))
        tops = np.argsort(-held[:, -1], kind="stable")[:n_top]
        for eps, name in sets:
            idx = np.array(eps) - 1
            for t in tops:
                inc = held[t]
                rest = np.delete(held, t, axis=0)  # not the incumbent against itself
                p = np.array([model.prob_above(c[idx], list(eps), inc) for c in rest])
                probs[name].append(p)
                labels[name].append(rest[:, -1] > inc[-1])
    lines = [
        "| epochs seen | pairs | ends above the incumbent | Brier score (base rate's) | "
        f"stopped (P < {STOP}) | of those, ended above |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    summary = {}
    for _, name in sets:
        p = np.concatenate(probs[name])
        y = np.concatenate(labels[name]).astype(float)
        base = y.mean()
        stop = p < STOP
        lines.append(
            f"| {name} | {len(p):,} | {100 * base:.1f} % | {np.mean((p - y) ** 2):.4f} "
            f"({np.mean((base - y) ** 2):.4f}) | {100 * stop.mean():.1f} % | "
            f"{100 * y[stop].mean() if stop.any() else float('nan'):.2f} % |"
        )
        summary[name] = float(y[stop].mean()) if stop.any() else float("nan")
    lines += ["", "Predicted against observed, epochs 1, 3, 9 (the rungs):", ""]
    p = np.concatenate(probs["1, 3, 9"])
    y = np.concatenate(labels["1, 3, 9"]).astype(float)
    lines += ["| predicted P | pairs | mean predicted | observed |", "|---|---:|---:|---:|"]
    for lo, hi in itertools.pairwise(BINS):
        sel = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if sel.any():
            lines.append(
                f"| [{lo:.2f}, {hi:.2f}{']' if hi == 1 else ')'} | {int(sel.sum()):,} | "
                f"{100 * p[sel].mean():.1f} % | {100 * y[sel].mean():.1f} % |"
            )
    return lines, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=None, help="the family table (default: the shipped one)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    curves = family_curves(args.table)
    ext, _ = extrapolate_rows(curves)
    inc, _ = incumbent_rows(curves)
    wall = time.perf_counter() - t0
    n = sum(len(c) for c in curves.values())
    body = [
        '### `LearningCurveModel` (rule "extrapolate"): the final validation accuracy after '
        "k epochs",
        "",
        *ext,
        "",
        '### `IncumbentCurveModel` (rule "incumbent", curve+memory\'s): P(the final accuracy '
        "beats the incumbent's)",
        "",
        "Every held-out curve against each of its task's top 20 % curves (by final accuracy) "
        "as the incumbent (never against itself).",
        "",
        *inc,
        "",
    ]
    text = "\n".join(body)
    print(text)
    print(f"wall time {wall:.0f} s", file=sys.stderr)
    if not args.no_write:
        from metanas.benchmarking import write_section

        head = header(
            "Learning-curve models on real curves: leave one task out (curve-calibration)",
            {
                "data": f"the task-family table: {len(curves)} tasks, {n:,} complete validation "
                "curves of 15 epochs (each held out in turn; the models fitted on the other "
                "tasks' curves)",
                "wall time": f"{wall:.0f} s",
            },
        )
        intro = (
            "The tests check these models on synthetic curves (docs/multifidelity.md); these "
            "are the task family's real ones. Accuracies in points; the 90 % interval is the "
            "model's mean +- 1.645 sd. Nothing was tuned on these numbers."
        )
        write_section(args.output, SECTION, f"{head}\n{intro}\n\n{text}\n")
        print(f"wrote {args.output} section {SECTION!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
