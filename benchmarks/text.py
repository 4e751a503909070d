"""Text tasks: a TF-IDF baseline, then black-box and multi-fidelity search of a sequence space.

For each text task (``load_task("langid-words")``: single words of 6 languages from Debian's
word lists; ``"langid-sentences"``: fortunes in 8 languages; ``"fortune-topics"``: 8 English
fortune files as topics), per seed (the seed of the splits and of the search):

* ``tfidf``: the baseline a practitioner tries first: character n-gram TF-IDF (``char_wb``,
  1-4 grams, sublinear tf) + logistic regression (scikit-learn), ``C`` picked on the
  validation split from (1, 10, 100), refit on train; test accuracy;
* ``evolution``: black-box search (regularised evolution) of the ``seq-cnn`` space, every
  trial trained ``--max-epochs`` epochs, for the task's minutes on a 2-worker process pool;
* ``asha``: random proposals with ASHA (min 1 epoch, max ``--max-epochs``, eta 3), runs
  continued from the trainer's checkpoints, for the same minutes.

The searched network is the trial with the best validation accuracy among those trained to the
last epoch; its test accuracy is reported (the search never sees the test split). "Time to
target" is the wall time at which the chosen network's test accuracy first reached the target.

    python benchmarks/text.py                 # the full run: about 18 minutes on 2 cores
    python benchmarks/text.py --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header

SECTION = "text"
MIN_EPOCHS, ETA = 1, 3
#: task -> load_task arguments, minutes per search arm, seeds, target test accuracy (or None)
TASKS: dict[str, dict[str, Any]] = {
    "langid-words": {"args": {}, "minutes": 2.0, "seeds": 3, "target": 0.90},
    "langid-sentences": {"args": {}, "minutes": 0.75, "seeds": 1, "target": None},
    "fortune-topics": {"args": {}, "minutes": 0.75, "seeds": 1, "target": None},
}
ARMS = ("evolution", "asha")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated (all three)")
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated (evolution,asha)")
    p.add_argument(
        "--space",
        default="seq-cnn",
        help="seq-cnn, seq-rnn, seq-attn or seq-ngram (hashed character n-grams) (seq-cnn)",
    )
    p.add_argument("--seeds", type=int, default=None, help="override every task's seeds")
    p.add_argument(
        "--seed-list",
        default=None,
        help="run only these seeds (e.g. 1,2); runs of other seeds stored in --results with the "
        "same settings are kept and reported with them",
    )
    p.add_argument(
        "--task-args",
        default=None,
        help='JSON of load_task arguments for every task, e.g. {"n_per_class": 12000}',
    )
    p.add_argument("--minutes", type=float, default=None, help="override every task's minutes")
    p.add_argument("--max-epochs", type=int, default=9, help="full fidelity (9)")
    p.add_argument("--n-jobs", type=int, default=2, help="workers of the local pool (2)")
    p.add_argument("--quick", action="store_true", help="1 seed, 0.3 min, small tasks")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "text.json")
    p.add_argument("--no-write", action="store_true", help="print only; write no file")
    p.add_argument(
        "--section",
        default=SECTION,
        help="docs section to write (another name keeps the default run's section)",
    )
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for t in args.tasks:
        if t not in TASKS:
            p.error(f"unknown task {t!r}; choose from {', '.join(TASKS)}")
    for a in args.arms:
        if a not in ARMS:
            p.error(f"unknown arm {a!r}; choose from {', '.join(ARMS)}")
    args.small = args.quick
    try:
        args.task_kw = json.loads(args.task_args) if args.task_args else {}
    except json.JSONDecodeError as exc:
        p.error(f"--task-args: not JSON ({exc}); write e.g. '{{\"n_per_class\": 12000}}'")
    if not isinstance(args.task_kw, dict):
        p.error("--task-args: give a JSON object of load_task arguments")
    args.seed_only = None
    if args.seed_list is not None:
        try:
            args.seed_only = sorted({int(x) for x in args.seed_list.split(",") if x.strip()})
        except ValueError:
            p.error(f"--seed-list: cannot read {args.seed_list!r}; write seeds like 0,2")
    if args.quick:
        args.seeds = 1
        args.minutes = 0.3 if args.minutes is None else args.minutes
        args.max_epochs = min(args.max_epochs, 3)
    return args


def load(task_name: str, seed: int, args: argparse.Namespace) -> Any:
    from metanas.tasks import load_task

    kw = {**TASKS[task_name]["args"], **args.task_kw}
    if args.small:
        kw["n_per_class"] = 100
    return load_task(task_name, seed=seed, **kw)


def decode(x: np.ndarray) -> list[str]:
    """The texts of a byte-encoded split (codes - 1, padding dropped)."""
    out = []
    for row in x.reshape(len(x), -1).astype(np.int64):
        out.append(bytes(int(c) - 1 for c in row if c > 0).decode("utf-8", errors="ignore"))
    return out


def tfidf_baseline(task: Any) -> dict[str, Any]:
    """Char n-gram TF-IDF + logistic regression; C chosen on the validation split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    train, valid, test = decode(task.X_train), decode(task.X_valid), decode(task.X_test)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1)
    xtr = vec.fit_transform(train)
    xva, xte = vec.transform(valid), vec.transform(test)
    best: tuple[float, float, Any] = (-1.0, 0.0, None)
    for c in (1.0, 10.0, 100.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(xtr, task.y_train)
        v = float(np.mean(clf.predict(xva) == task.y_valid))
        if v > best[0]:
            best = (v, c, clf)
    test_acc = float(np.mean(best[2].predict(xte) == task.y_test))
    return {
        "valid": best[0], "test": test_acc, "C": best[1],
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def one_search(
    task: Any, arm: str, seed: int, minutes: float, args: argparse.Namespace, load_s: float = 0.0
) -> dict:
    """One timed search; the chosen network's (seconds, valid, test) after each improvement.

    The clock starts ``load_s`` seconds before the search (reading the task counts): the search
    gets what is left of ``minutes`` and its curve's times include ``load_s``.
    """
    import metanas
    from metanas.evaluation.train import TrainEvaluator

    space = metanas.spaces.create_space(args.space)
    ev = TrainEvaluator(
        task, space, seed=seed, max_epochs=args.max_epochs, patience=None, threads=1,
        batch_size=128, record_curve="valid",
    )  # fmt: skip
    study_kw: dict[str, Any] = {}
    if arm == "asha":
        from metanas.schedulers import create_scheduler

        study_kw["scheduler"] = create_scheduler(
            "asha", min_budget=MIN_EPOCHS, max_budget=args.max_epochs, eta=ETA, seed=seed
        )
    study = metanas.create_study(
        space=space, storage="sqlite://", seed=seed, task=task.name,
        strategy="random" if arm == "asha" else "evolution", **study_kw,
    )  # fmt: skip
    curve: list[tuple[float, float, float, str]] = []
    best = -1.0
    start = time.perf_counter() - load_s

    def on_trial(_study: Any, trial: Any) -> None:
        nonlocal best
        full = trial.budget is None or trial.budget >= args.max_epochs
        v = trial.metrics.get("valid_accuracy")
        if trial.state is metanas.TrialState.COMPLETE and full and v is not None and v > best:
            best = float(v)
            test = float(trial.test_metrics["test_accuracy"])
            curve.append((time.perf_counter() - start, best, test, space.format(trial.arch)))

    study.optimize(
        ev, timeout_s=max(1.0, minutes * 60.0 - load_s), n_jobs=args.n_jobs,
        callbacks=[on_trial],
    )  # fmt: skip
    trials = study.trials
    study.storage.delete_study(study.name)
    return {
        "arm": arm, "seed": seed, "minutes": minutes, "wall_s": time.perf_counter() - start,
        "load_s": load_s,
        "n_trials": len(trials),
        "n_full": sum(
            t.state is metanas.TrialState.COMPLETE
            and (t.budget is None or t.budget >= args.max_epochs) for t in trials
        ),
        "curve": curve,
    }  # fmt: skip


def bootstrap_mean(xs: list[float], seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of ``xs``."""
    if len(xs) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    arr = np.asarray(xs)
    means = arr[rng.integers(0, len(arr), size=(n, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def markdown(runs: list[dict[str, Any]], args: argparse.Namespace, wall_s: float) -> str:
    settings = {
        "runs": (
            "; ".join(
                f"{t}: {len({r['seed'] for r in runs if r['task'] == t})} seed(s), "
                f"{_minutes(t, args):g} min per arm (reading the task included)"
                for t in args.tasks
            )
            + (f"; load_task arguments {json.dumps(args.task_kw)}" if args.task_kw else "")
            + f"; {args.n_jobs} workers; {wall_s / 60:.1f} min wall time in all"
        ),
        "settings": (
            f"{args.space} space, TrainEvaluator(max_epochs={args.max_epochs}, patience=None, "
            f"batch_size=128, threads=1); ASHA min {MIN_EPOCHS} epoch, eta {ETA}; baseline "
            "TF-IDF char_wb 1-4 grams + LogisticRegression, C in (1, 10, 100) by validation"
            + ("; QUICK: 100 texts per class" if args.small else "")
        ),
    }
    lines = [
        header(
            "Text: TF-IDF baseline vs searched sequence networks"
            + ("" if args.section == SECTION else f" ({args.section})"),
            settings,
        ),
        "Test accuracy (%) of the network with the best validation accuracy among the trials "
        "trained to the last epoch, median over seeds (each seed: its own splits and search); "
        "*vs tfidf*: searched minus baseline on the same splits, mean over seeds with a 95 % "
        "bootstrap interval (— with one seed). `—`: nothing trained fully in time / never "
        "reached.",
        "",
        "| task | arm | seeds | test acc | vs tfidf (points) | target | time to target (s) | "
        "trials (full) | chosen network (seed 0) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for task in args.tasks:
        spec = TASKS[task]
        base = [r for r in runs if r["task"] == task and r["arm"] == "tfidf"]
        base_by_seed = {r["seed"]: r["test"] for r in base}
        target_text = "" if spec["target"] is None else f"{spec['target'] * 100:g} %"
        if base:
            accs = [r["test"] for r in base]
            lines.append(
                f"| {task} | tfidf | {len(base)} | {statistics.median(accs) * 100:.2f} | | "
                f"{target_text} | | | "
                f"C={base[0]['C']:g} |"
            )
        for arm in args.arms:
            rs = [r for r in runs if r["task"] == task and r["arm"] == arm]
            if not rs:
                continue
            finals = [r["curve"][-1][2] if r["curve"] else None for r in rs]
            got = [f for f in finals if f is not None]
            acc = f"{statistics.median(got) * 100:.2f}" if len(got) == len(rs) else "—"
            diffs = [
                (f - base_by_seed[r["seed"]]) * 100
                for r, f in zip(rs, finals, strict=True)
                if f is not None and r["seed"] in base_by_seed
            ]
            if diffs:
                lo, hi = bootstrap_mean(diffs)
                vs = f"{statistics.mean(diffs):+.2f}" + (
                    "" if np.isnan(lo) else f" [{lo:+.2f}, {hi:+.2f}]"
                )
            else:
                vs = "—"
            target = spec["target"]
            reach = "—"
            if target is not None:
                times = [
                    next((t for t, _, test, _ in r["curve"] if test >= target), float("inf"))
                    for r in rs
                ]
                med = statistics.median(times)
                reach = "—" if med == float("inf") else f"{med:.0f}"
            chosen = next((r["curve"][-1][3] for r in rs if r["seed"] == 0 and r["curve"]), "—")
            full = statistics.median([r["n_full"] for r in rs])
            lines.append(
                f"| {task} | {arm} | {len(rs)} | {acc} | {vs} | "
                f"{target_text} | {reach} | "
                f"{statistics.median([r['n_trials'] for r in rs]):g} ({full:g}) | "
                f"`{chosen.replace('|', '/')}` |"
            )
    verdicts = []
    for task in args.tasks:
        target = TASKS[task]["target"]
        for arm in args.arms:
            rs = [r for r in runs if r["task"] == task and r["arm"] == arm]
            if target is None or not rs:
                continue
            mark = _minutes(task, args) * 60.0
            at = [at_mark(r, mark) for r in rs]
            med = statistics.median(x if x is not None else 0.0 for x in at)
            verdicts.append(
                f"- {task}, {arm}: target >= {target:.0%} test accuracy within "
                f"{mark / 60:g} min; the best-by-validation fully trained network at the "
                f"{mark / 60:g}-minute mark (reading the task included; trials in flight then not "
                f"counted) has median test accuracy **{100 * med:.2f} %** over {len(rs)} seed(s) "
                "(per seed "
                + ", ".join(
                    f"{r['seed']}: " + ("—" if x is None else f"{100 * x:.2f} %")
                    for r, x in zip(rs, at, strict=True)
                )
                + f"): **{'met' if med >= target else 'missed'}**."
            )
    if verdicts:
        lines += ["", *verdicts]
    return "\n".join(lines) + "\n"


def at_mark(run: dict[str, Any], seconds: float) -> float | None:
    """Test accuracy of the run's chosen network at ``seconds`` on its clock (None: none yet)."""
    points = [pt for pt in run["curve"] if pt[0] <= seconds]
    return float(points[-1][2]) if points else None


#: Settings that runs kept from an earlier sitting must share with this one.
SAME = ("space", "max_epochs", "n_jobs", "minutes", "task_kw", "small")


def kept_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Runs of an earlier sitting (``--seed-list``) with these settings, not rerun now."""
    if args.seed_only is None or not args.results.is_file():
        return []
    saved = json.loads(args.results.read_text())
    mine = _settings(args)
    if any(saved["settings"].get(k) != mine[k] for k in SAME):
        print(f"{args.results} holds runs with other settings: not kept", file=sys.stderr)
        return []
    return [
        r for r in saved["runs"]
        if r["task"] in args.tasks and r["seed"] not in args.seed_only
        and r["arm"] in ("tfidf", *args.arms)
    ]  # fmt: skip


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    out = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return json.loads(json.dumps(out))


def _seeds(task: str, args: argparse.Namespace) -> int:
    return int(args.seeds if args.seeds is not None else TASKS[task]["seeds"])


def _minutes(task: str, args: argparse.Namespace) -> float:
    return float(args.minutes if args.minutes is not None else TASKS[task]["minutes"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[dict[str, Any]] = kept_runs(args)
    if runs:
        print(f"{len(runs)} runs kept from {args.results}", file=sys.stderr)
    start = time.perf_counter()

    def save() -> None:
        if not args.no_write:
            args.results.parent.mkdir(parents=True, exist_ok=True)
            body = {"settings": _settings(args), "runs": runs}
            args.results.write_text(json.dumps(body, indent=1) + "\n")

    for task_name in args.tasks:
        seeds = args.seed_only if args.seed_only is not None else range(_seeds(task_name, args))
        for seed in seeds:
            t_load = time.perf_counter()
            task = load(task_name, seed, args)
            load_s = time.perf_counter() - t_load
            base = tfidf_baseline(task)
            runs.append({"task": task_name, "arm": "tfidf", "seed": seed, **base})
            print(
                f"{task.summary()} seed {seed}: tfidf test {base['test']:.4f} (C={base['C']:g}, "
                f"{base['seconds']:.0f} s)",
                flush=True,
            )
            for arm in args.arms:
                r = one_search(task, arm, seed, _minutes(task_name, args), args, load_s)
                r["task"] = task_name
                last = r["curve"][-1] if r["curve"] else None
                print(
                    f"{task_name} {arm} seed {seed}: {r['n_trials']} trials ({r['n_full']} full) "
                    f"in {r['wall_s']:.0f} s; chosen "
                    + (f"valid {last[1]:.4f} test {last[2]:.4f} {last[3]}" if last else "none"),
                    flush=True,
                )
                runs.append(r)
                save()
    runs.sort(key=lambda r: (r["task"], r["seed"], r["arm"]))
    wall_s = time.perf_counter() - start
    text = markdown(runs, args, wall_s)
    print(text)
    if args.no_write:
        return 0
    from metanas.benchmarking import write_section

    save()
    write_section(args.output, args.section, text)
    print(f"Wrote section {args.section!r} of {args.output} and {args.results}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
