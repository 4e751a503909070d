"""Keyword spotting on held-out synthetic voices: baselines, black-box search and ASHA.

Issue 19 target: >= 95 % test accuracy on held-out voices with noise within 15 minutes, and
the searched network beats the strong non-NAS baselines (or the docs say by how much not).

The task is ``load_task("keywords")``: 20 words spoken by espeak-ng (synthetic voices), voices
held out between the splits, white or pink noise at 5-20 dB SNR, log-mel ``(40, 101)`` features.

* ``generate``: the words synthesised from scratch into an empty data directory (timed).
* ``mfcc-logreg``: per-coefficient mean, standard deviation, minimum and maximum of 20 MFCCs
  and their deltas over time, then scikit-learn's ``LogisticRegression`` (C chosen on the
  validation split).
* ``small-cnn``: a hand-designed 1-D CNN over the log-mel frames (three conv3 blocks of 64,
  64, 128 channels with max pooling, batch norm, global average pooling), trained with the
  search's recipe for ``--baseline-epochs``.
* ``blackbox``: regularised evolution over the ``cnn`` space, every network trained the full
  ``--max-epochs``, ``--n-jobs`` workers, for ``--minutes``.
* ``--augment NAME``: every trained network (small CNN and searches) augments its training
  batches with that :class:`TrainEvaluator` policy (e.g. ``specaugment``); none by default.
* ``asha``: the same strategy with ASHA (``create_study(scheduler="asha")``, rungs
  ``--min-epochs`` .. ``--max-epochs``, eta 3), same workers and time.

Searches select by validation accuracy; the best-by-validation network's test accuracy is
reported. The target's verdict reads each search's best-by-validation network at the 15-minute
mark (reading the task included; trials in flight then finish later and do not count).
``--merge a.json,b.json`` reports the searches of several sittings with the same settings
together, running nothing. Every method runs on every seed (the seed sets the split of the
networks' weights and the search; the data and its voice split are fixed by ``data_seed=0``).

    python benchmarks/speech.py                         # everything, 3 seeds (~17 min)
    python benchmarks/speech.py --quick --no-write      # smoke run (< 1 min)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header, md_code

import metanas
from metanas.benchmarking import write_section
from metanas.evaluation.train import TrainEvaluator
from metanas.spaces.trainable import CNNSpace
from metanas.tasks import load_task

SECTION = "speech"
TARGET, MINUTES_TARGET = 0.95, 15.0
SMALL_CNN = (
    "conv3x64 > max_pool/2 > conv3x64 > max_pool/2 > conv3x128 | relu, batch-norm, plain, avg-head"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="generate,mfcc-logreg,small-cnn,blackbox,asha")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--strategy", default="evolution")
    p.add_argument("--minutes", type=float, default=2.0, help="wall time per search")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--min-epochs", type=float, default=2.0)
    p.add_argument("--max-epochs", type=int, default=18)
    p.add_argument("--baseline-epochs", type=int, default=18)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-blocks", type=int, default=4)
    p.add_argument("--max-mflops", type=float, default=30.0)
    p.add_argument(
        "--augment",
        default=None,
        help="TrainEvaluator augmentation policy for every trained network (e.g. specaugment)",
    )
    p.add_argument("--task-args", default="{}", help="JSON of load_task('keywords') arguments")
    p.add_argument("--quick", action="store_true", help="tiny settings (a smoke run)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--raw", type=Path, default=REPO / "benchmarks" / "results" / "speech.json")
    p.add_argument("--no-write", action="store_true")
    p.add_argument(
        "--merge",
        default=None,
        help="comma-separated raw files of earlier runs with the same settings: report their "
        "searches together (nothing is run)",
    )
    p.add_argument(
        "--section",
        default=SECTION,
        help="docs section to write (another name keeps the default run's section)",
    )
    args = p.parse_args(argv)
    args.task_kw = json.loads(args.task_args)
    if args.quick:
        args.minutes, args.max_epochs, args.baseline_epochs, args.seeds = 0.3, 3, 3, "0"
        args.min_epochs = 1.0
        args.task_kw = {"words": ["yes", "no", "up", "down"], "n_voices": 6, "n_per_word": 3}
    return args


def run_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Synthesise the task's words into an empty data directory; the wall time it takes."""
    from metanas.tasks import _speech

    old = os.environ.get("METANAS_DATA_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["METANAS_DATA_DIR"] = tmp
        try:
            _speech._keywords_arrays.cache_clear()
            t0 = time.perf_counter()
            task = load_task("keywords", **args.task_kw)
            wall = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        finally:
            if old is None:
                os.environ.pop("METANAS_DATA_DIR", None)
            else:
                os.environ["METANAS_DATA_DIR"] = old
    return {
        "wall_s": wall, "cache_mb": size / 1e6, "summary": task.summary(),
        "voices": _speech.keywords_voices(args.task_kw),
    }  # fmt: skip


def _stats(x: np.ndarray) -> np.ndarray:
    delta = np.diff(x, axis=2)
    parts = [f(a, axis=2) for a in (x, delta) for f in (np.mean, np.std, np.min, np.max)]
    return np.concatenate(parts, axis=1)


def run_logreg(args: argparse.Namespace) -> dict[str, Any]:
    """MFCC statistics + logistic regression, C chosen on the validation split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    task = load_task("keywords", **{**args.task_kw, "features": "mfcc"})
    scaler = StandardScaler().fit(_stats(task.X_train))
    xs = {s: scaler.transform(_stats(getattr(task, f"X_{s}"))) for s in ("train", "valid", "test")}
    best: tuple[float, float, Any] = (-1.0, 0.0, None)
    for c in (0.01, 0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(xs["train"], task.y_train)
        v = float(model.score(xs["valid"], task.y_valid))
        if v > best[0]:
            best = (v, c, model)
    return {
        "valid_accuracy": best[0], "C": best[1], "n_test": task.n_test,
        "test_accuracy": float(best[2].score(xs["test"], task.y_test)),
        "wall_s": time.perf_counter() - t0,
    }  # fmt: skip


def _evaluator(task: Any, space: Any, args: argparse.Namespace, seed: int, **kw: Any) -> Any:
    base: dict[str, Any] = {
        "max_epochs": args.max_epochs, "batch_size": args.batch_size, "lr": args.lr,
        "patience": None, "measure_latency": False, "seed": seed, "augment": args.augment,
    }  # fmt: skip
    base.update(kw)
    return TrainEvaluator(task, space, **base)


def run_small_cnn(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """The hand-designed CNN, trained with the search's recipe on both cores."""
    t0 = time.perf_counter()
    task = load_task("keywords", seed=seed, **args.task_kw)
    space = CNNSpace(max_blocks=5, stem_channels=0)
    ev = _evaluator(task, space, args, seed, max_epochs=args.baseline_epochs, threads=args.n_jobs)
    res = ev.evaluate(space.parse(SMALL_CNN))
    return {
        "seed": seed, "arch": SMALL_CNN, "wall_s": time.perf_counter() - t0,
        "status": res.status.name, "valid_accuracy": res.metrics.get("valid_accuracy"),
        "test_accuracy": res.test_metrics.get("test_accuracy"),
        "params": res.metrics.get("params"), "n_test": task.n_test,
    }  # fmt: skip


def run_search(args: argparse.Namespace, seed: int, asha: bool) -> dict[str, Any]:
    """One search of ``args.minutes``; the best-by-validation complete trial and its test."""
    t_load = time.perf_counter()
    task = load_task("keywords", seed=seed, **args.task_kw)
    space = CNNSpace(max_blocks=args.max_blocks, stem_channels=32)
    ev = _evaluator(task, space, args, seed, max_flops=int(args.max_mflops * 1e6), threads=1)
    sched: dict[str, Any] = {}
    if asha:
        sched = {
            "scheduler": "asha",
            "scheduler_settings": {
                "min_budget": args.min_epochs, "max_budget": args.max_epochs, "eta": 3.0,
            },
        }  # fmt: skip
    study = metanas.create_study(
        space=space, storage="sqlite://", strategy=args.strategy, seed=seed,
        task=task.name, metric="valid_accuracy", **sched,
    )  # fmt: skip
    load_s = time.perf_counter() - t_load
    curve: list[tuple[float, float, int, float | None]] = []
    best = (-1.0, -1)
    start = time.perf_counter()

    def on_trial(_study: metanas.Study, trial: metanas.Trial) -> None:
        nonlocal best
        v = trial.metrics.get("valid_accuracy")
        if trial.state is metanas.TrialState.COMPLETE and v is not None and v > best[0]:
            best = (float(v), trial.number)
            test = trial.test_metrics.get("test_accuracy")
            # The incumbent's test accuracy too, so the verdict can read it at any time mark.
            curve.append((time.perf_counter() - start + load_s, *best, test))

    study.optimize(
        ev, timeout_s=max(1.0, args.minutes * 60.0 - load_s), n_jobs=args.n_jobs,
        callbacks=[on_trial],
    )  # fmt: skip
    wall = time.perf_counter() - start + load_s
    trials = study.trials
    states = {s.name: sum(t.state is s for t in trials) for s in metanas.TrialState}
    out: dict[str, Any] = {
        "seed": seed, "method": "asha" if asha else "blackbox", "wall_s": wall,
        "n_trials": len(trials), "states": {k: v for k, v in states.items() if v},
        "epochs_trained": sum(float(t.budget or 0) for t in trials), "curve": curve,
        "n_test": task.n_test, "hardware": ev.hardware,
    }  # fmt: skip
    if not curve:
        out["best"] = None
        return out
    bt = next(t for t in trials if t.number == curve[-1][2])
    out["best"] = {
        "trial": bt.number, "arch": space.format(bt.arch),
        "valid_accuracy": bt.metrics["valid_accuracy"],
        "test_accuracy": bt.test_metrics["test_accuracy"],
        "params": bt.metrics.get("params"), "found_s": curve[-1][0],
    }  # fmt: skip
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _median(xs: list[float]) -> float:
    return float(np.median(xs)) if xs else float("nan")


def _paired_interval(a: list[float], b: list[float], seed: int = 0) -> str:
    """Median of the paired differences a - b (same seed) with a 95 % bootstrap interval."""
    if not a or len(a) != len(b):
        return "-"
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    boots = [np.median(rng.choice(d, size=len(d))) for _ in range(2000)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return f"{100 * np.median(d):+.1f} points (95 % bootstrap {100 * lo:+.1f} to {100 * hi:+.1f})"


def at_mark(run: dict[str, Any], minutes: float) -> float | None:
    """Test accuracy of the search's best-by-validation network at ``minutes`` of wall time.

    The incumbent is the last curve point at or before the mark (the clock starts before the
    task is read, so loading counts). Trials still in flight at the mark finish after it and
    are not counted. None when nothing had completed by then, or when an older run's curve
    holds no test accuracy and its incumbent at the mark is not its final best.
    """
    points = [pt for pt in run.get("curve", []) if pt[0] <= minutes * 60.0]
    if not points:
        return None
    last = points[-1]
    if len(last) > 3 and last[3] is not None:
        return float(last[3])
    best = run.get("best") or {}
    return float(best["test_accuracy"]) if best.get("trial") == last[2] else None


#: Settings that runs reported together must share.
SAME_SETTINGS = (
    "strategy", "minutes", "n_jobs", "min_epochs", "max_epochs", "batch_size", "lr",
    "max_blocks", "max_mflops", "augment", "task_kw",
)  # fmt: skip


def merge_raw(paths: list[Path]) -> dict[str, Any]:
    """The searches of several raw files, checked to share :data:`SAME_SETTINGS`.

    Raises ValueError naming the file and setting that differ, or a (method, seed) that two
    files both hold.
    """
    if not paths:
        raise ValueError("--merge: no file given; pass raw files like a.json,b.json")
    merged: dict[str, Any] = {"search": [], "small-cnn": []}
    seen: set[tuple[str, int]] = set()
    for path in paths:
        if not path.exists():
            raise ValueError(f"--merge: {path} does not exist; pass the raw files of earlier runs")
        data = json.loads(path.read_text())
        if "args" not in merged:
            merged["args"] = dict(data["args"])
        for key in SAME_SETTINGS:
            if data["args"].get(key) != merged["args"].get(key):
                raise ValueError(
                    f"--merge: {path} ran with {key}={data['args'].get(key)!r}, the first file "
                    f"with {merged['args'].get(key)!r}; merge only runs with the same settings"
                )
        merged.setdefault("sittings", []).append(
            f"{path.name} (seeds {data['args'].get('seeds')}, parts {data['args'].get('parts')})"
        )
        for r in data.get("search", []):
            key2 = (r["method"], int(r["seed"]))
            if key2 in seen:
                raise ValueError(f"--merge: {r['method']} seed {r['seed']} is in two files")
            seen.add(key2)
            merged["search"].append(r)
        merged["small-cnn"].extend(data.get("small-cnn", []))
        for part in ("generate", "mfcc-logreg"):
            if part in data and part not in merged:
                merged[part] = data[part]
    merged["search"].sort(key=lambda r: (r["seed"], r["method"]))
    return merged


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    gen = results.get("generate") or {}
    hw = next((r["hardware"] for r in results.get("search", [])), "-")
    lines = [
        header(
            "Keyword spotting on held-out synthetic voices (espeak-ng): baselines vs search"
            + ("" if args.section == SECTION else f" ({args.minutes:g} min per search)"),
            {
                "task": f"`load_task('keywords', **{args.task_kw})`: "
                f"{gen.get('summary', '-')}; voices held out between splits, noise 5-20 dB",
                "generation": (
                    f"{gen['wall_s']:.0f} s from scratch (espeak-ng, 2 processes), cache "
                    f"{gen['cache_mb']:.0f} MB; test voices {', '.join(gen['voices']['test'])}"
                    if gen
                    else "-"
                ),
                "search": f"{args.strategy}, `cnn` space (max {args.max_blocks} blocks, stem "
                f"32, over {args.max_mflops:g} MFLOPs rejected), {args.n_jobs} workers, "
                f"{args.minutes:g} min per search; ASHA rungs {args.min_epochs:g}.."
                f"{args.max_epochs} epochs, eta 3",
                "recipe": f"AdamW lr {args.lr:g}, warm-up + cosine, batch {args.batch_size}, "
                f"{args.max_epochs} epochs (black-box trials and ASHA's top rung)"
                + (f", augment={args.augment!r} on training batches" if args.augment else ""),
                "hardware": str(hw),
                **(
                    {"sittings": "; ".join(results["sittings"]) + " (same settings, merged)"}
                    if results.get("sittings")
                    else {}
                ),
            },
        ),
        "| seed | method | trials (complete / pruned / failed) | best by validation | valid "
        "acc | test acc | params | found at (min) | wall (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lr = results.get("mfcc-logreg")
    if lr:
        lines.append(
            f"| - | MFCC statistics + logistic regression (C={lr['C']:g}) | - | - | "
            f"{_pct(lr['valid_accuracy'])} | {_pct(lr['test_accuracy'])} | - | - | "
            f"{lr['wall_s'] / 60:.1f} |"
        )
    for r in results.get("small-cnn", []):
        lines.append(
            f"| {r['seed']} | small CNN (hand-designed, {args.baseline_epochs} epochs) | 1 | "
            f"{md_code(r['arch'])} | {_pct(r['valid_accuracy'])} | {_pct(r['test_accuracy'])} "
            f"| {int(r['params'] or 0):,} | - | {r['wall_s'] / 60:.1f} |"
        )
    for r in results.get("search", []):
        b = r["best"] or {}
        st = r["states"]
        lines.append(
            f"| {r['seed']} | {r['method']} | {st.get('COMPLETE', 0)} / {st.get('PRUNED', 0)} / "
            f"{st.get('FAILED', 0)} | {md_code(b['arch']) if b else 'none complete'} | "
            f"{_pct(b.get('valid_accuracy'))} | {_pct(b.get('test_accuracy'))} | "
            f"{int(b.get('params') or 0):,} | "
            f"{b['found_s'] / 60:.1f} | {r['wall_s'] / 60:.1f} |"
            if b
            else f"| {r['seed']} | {r['method']} | {st} | none complete | - | - | - | - | "
            f"{r['wall_s'] / 60:.1f} |"
        )
    lines.append("")
    test = {
        m: {
            r["seed"]: r["best"]["test_accuracy"]
            for r in results.get("search", [])
            if r["method"] == m and r["best"]
        }
        for m in ("blackbox", "asha")
    }
    cnn = {r["seed"]: r["test_accuracy"] for r in results.get("small-cnn", [])}
    for m, label in (("blackbox", "black-box search"), ("asha", "ASHA search")):
        if not test[m]:
            continue
        med = _median(list(test[m].values()))
        runs = [r for r in results["search"] if r["method"] == m]
        walls = [r["wall_s"] / 60 for r in runs]
        marks = [at_mark(r, MINUTES_TARGET) for r in runs]
        # A seed with nothing known at the mark counts as 0: it had no network then.
        med_mark = _median([x if x is not None else 0.0 for x in marks])
        ok = med_mark >= TARGET
        seeds = sorted(set(test[m]) & set(cnn))
        vs_cnn = _paired_interval([test[m][s] for s in seeds], [cnn[s] for s in seeds])
        vs_lr = (
            f"{100 * (med - lr['test_accuracy']):+.1f} points vs MFCC + logistic regression"
            if lr
            else ""
        )
        # A run of the search parts alone has no baseline to compare with: say nothing then.
        versus = [
            *([f"vs the small CNN, paired by seed: {vs_cnn}"] if seeds else []),
            *([vs_lr] if vs_lr else []),
        ]
        lines.append(
            f"- {label}: median test accuracy **{_pct(med)}** over {len(test[m])} seed(s) "
            f"(longest process {max(walls):.1f} min, trials in flight finishing after the time "
            "limit)" + "".join(f"; {v}" for v in versus) + "."
        )
        lines.append(
            f"- {label}, target >= {TARGET:.0%} within {MINUTES_TARGET:g} min: the "
            f"best-by-validation network at the {MINUTES_TARGET:g}-minute mark (reading the "
            "task included; trials still in flight then not counted) has median test accuracy "
            f"**{_pct(med_mark)}** over {len(runs)} seed(s) (per seed "
            + ", ".join(f"{r['seed']}: {_pct(x)}" for r, x in zip(runs, marks, strict=True))
            + f"): **{'met' if ok else 'missed'}**"
            + (
                f"; each seed's test split has {runs[0]['n_test']} clips, so one accuracy near "
                f"{_pct(med_mark)} carries a 95 % binomial interval of about "
                f"+-{196 * math.sqrt(med_mark * (1 - med_mark) / runs[0]['n_test']):.1f} points."
                if runs and runs[0].get("n_test")
                else "."
            )
        )
    if cnn:
        lines.append(f"- small CNN: median test accuracy {_pct(_median(list(cnn.values())))}.")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.merge:
        results = merge_raw([Path(x.strip()) for x in args.merge.split(",") if x.strip()])
        stored = argparse.Namespace(
            **{**vars(args), **{k: results["args"][k] for k in SAME_SETTINGS}}
        )
        md = markdown(results, stored)
        print(md)
        if not args.no_write:
            write_section(args.output, args.section, md)
        return
    results: dict[str, Any] = {"search": [], "small-cnn": [], "args": vars(args)}

    def save() -> None:
        if not args.no_write:
            args.raw.parent.mkdir(parents=True, exist_ok=True)
            args.raw.write_text(json.dumps(results, indent=1, default=str))

    if "generate" in parts:
        results["generate"] = run_generate(args)
        print(f"generate: {results['generate']}", flush=True)
    if "mfcc-logreg" in parts:
        results["mfcc-logreg"] = r = run_logreg(args)
        print(f"mfcc-logreg: {r}", flush=True)
        save()
    for seed in seeds:
        if "small-cnn" in parts:
            r = run_small_cnn(args, seed)
            print(f"small-cnn seed {seed}: {r}", flush=True)
            results["small-cnn"].append(r)
            save()
        for method in ("blackbox", "asha"):
            if method not in parts:
                continue
            r = run_search(args, seed, asha=method == "asha")
            b = r["best"] or {}
            print(
                f"{method} seed {seed}: {r['n_trials']} trials {r['states']} in "
                f"{r['wall_s']:.0f} s; best valid {_pct(b.get('valid_accuracy'))} test "
                f"{_pct(b.get('test_accuracy'))} {b.get('arch')}",
                flush=True,
            )
            results["search"].append(r)
            save()
    md = markdown(results, args)
    print(md)
    if not args.no_write:
        write_section(args.output, args.section, md)


if __name__ == "__main__":
    main()
