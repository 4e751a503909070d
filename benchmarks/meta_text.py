"""Meta-learning across languages: a memory of language-identification searches, real training.

The family: ``langid-words`` over four languages (single words from Debian's word lists,
``n_per_class`` words per language, splits seeded 0), searched in the ``seq-cnn`` space. Six
languages are *known* (``de en es fr it nl``); three are *new* (``pl pt sv``).

* Memory: the six past tasks are the cyclic runs of four consecutive known languages
  (``de en es fr``, ``en es fr it``, ... ``nl de en es``); on each, one ``evolution`` search of
  ``--memory`` real trainings (seed 1000), run with metanas and stored as a study in a SQLite
  file (``--memory-db``, kept between runs: a rerun trains only the trials still missing). No
  past task has any new language.
* Held-out task ``i``: new language ``i`` with three known ones (``pl de en es``,
  ``pt es fr it``, ``sv it nl de``): a language no search in the memory has seen.

On each held-out task, per seed, two studies of ``--n-trials`` trainings each, run in one
process with one torch thread:

* ``bo``: cold, reads no memory;
* ``meta``: ``create_study(strategy="meta", memory=<the memory file>)``.

Both arms of a pair use the same search seed and the same training seed, so an architecture both
arms pick gets the same result in both. Measured per pair: the time each arm needed to reach
cold ``bo``'s final best validation accuracy. Time is the search process's CPU time (study
creation, which reads the memory, asks, tells and training): on this shared 2-core machine that
is what the search would take in wall time on an idle core, independent of the work beside it;
the wall time is recorded too. Reported, as in ``meta_family_real.py``: the median of meta's
time over bo's (``meta`` never reaching the level counts as infinitely slow), a bootstrap 90 %
interval over the pairs, and a Wilcoxon signed-rank test of the paired times. Test accuracy of
each arm's best-by-validation network is reported, never searched on.

    python benchmarks/meta_text.py    # 3 held-out tasks x 3 seeds: ~10 CPU minutes in all
    python benchmarks/meta_text.py --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header
from meta_family_real import paired_time_to_level, run_line

SECTION = "meta-text"
KNOWN = ("de", "en", "es", "fr", "it", "nl")
NEW = ("pl", "pt", "sv")
ARMS = ("bo", "meta")
MEMORY_SEED = 1000
SPACE = "seq-cnn"


def past_languages() -> list[tuple[str, ...]]:
    """The memory's tasks: every cyclic run of four consecutive known languages."""
    return [tuple(sorted(KNOWN[(i + j) % len(KNOWN)] for j in range(4))) for i in range(6)]


def held_out_languages() -> list[tuple[str, ...]]:
    """Held-out task ``i``: new language ``i`` and known languages ``2i .. 2i + 2`` (cyclic)."""
    return [
        tuple(sorted((new, *(KNOWN[(2 * i + j) % len(KNOWN)] for j in range(3)))))
        for i, new in enumerate(NEW)
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--held-out", type=int, default=3, help="held-out tasks, first N of 3 (3)")
    p.add_argument("--seeds", type=int, default=3, help="search seeds 0..N-1 (3)")
    p.add_argument("--n-trials", type=int, default=12, help="trainings per search (12)")
    p.add_argument("--memory", type=int, default=12, help="trainings per past task (12)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per training (4)")
    p.add_argument("--n-per-class", type=int, default=500, help="words per language (500)")
    p.add_argument("--n-jobs", type=int, default=2, help="searches side by side (2)")
    p.add_argument("--quick", action="store_true", help="1 task, 1 seed, 3 trials of 1 epoch")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--fresh", action="store_true", help="rerun the searches already saved")
    p.add_argument("--wall-s", type=float, default=None,
                   help="when every search is kept from --save: the wall time they took, for "
                   "the header")  # fmt: skip
    p.add_argument("--memory-db", type=Path, default=None, help="the memory's SQLite file")
    p.add_argument("--save", type=Path, default=REPO / "benchmarks" / "results" / "meta_text.json")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    if args.quick:
        args.held_out, args.seeds, args.n_trials, args.epochs = 1, 1, 3, 1
        args.memory, args.n_per_class, args.no_write = 4, 60, True
    if not 1 <= args.held_out <= len(NEW):
        p.error(f"--held-out must be 1 to {len(NEW)}; got {args.held_out}")
    if args.memory_db is None:
        # One file per training setting: memories trained differently are never mixed.
        stamp = f"{args.n_per_class}-{args.epochs}-{SPACE}"
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        args.memory_db = cache / "metanas" / "meta-text" / f"memory-{stamp}.db"
    return args


def _task(languages: tuple[str, ...], job: dict[str, Any]) -> Any:
    from metanas.tasks import load_task

    return load_task("langid-words", languages=languages, n_per_class=job["n_per_class"], seed=0)


def _trainer(task: Any, train_seed: int, job: dict[str, Any]) -> Any:
    from metanas.evaluation.train import TrainEvaluator
    from metanas.spaces import create_space

    return TrainEvaluator(
        task, create_space(SPACE), seed=train_seed, max_epochs=job["epochs"], patience=None,
        threads=1, batch_size=64, measure_latency=False,
    )  # fmt: skip


def memory_study(job: dict[str, Any]) -> tuple[Any, Any]:
    """The memory study of one past task (created, or loaded from the file) and its trainer."""
    import metanas

    task = _task(tuple(job["languages"]), job)
    ev = _trainer(task, MEMORY_SEED, job)
    study = metanas.create_study(
        space=metanas.spaces.create_space(SPACE), storage=f"sqlite:///{job['db']}",
        name=f"memory-{task.name}", task=task.name, task_descriptors=ev.task_descriptors(),
        strategy="evolution", seed=MEMORY_SEED, load_if_exists=True,
    )  # fmt: skip
    return study, ev


def memory_search(job: dict[str, Any]) -> dict[str, Any]:
    """Bring the memory study of one past task up to ``job["memory"]`` finished trainings."""
    import torch

    import metanas

    torch.set_num_threads(1)
    study, ev = memory_study(job)
    done = sum(t.state is metanas.TrialState.COMPLETE for t in study.trials)
    cpu0 = time.process_time()
    if done < job["memory"]:
        study.optimize(ev, n_trials=job["memory"] - done, n_jobs=1)
    return {
        "task": study.task, "trained": max(0, job["memory"] - done),
        "cpu": time.process_time() - cpu0, "best": study.best_trial.metrics["valid_accuracy"],
    }  # fmt: skip


def search(job: dict[str, Any]) -> dict[str, Any]:
    """One study of the held-out task by ``job["arm"]``: per trial its times and accuracies."""
    import torch

    import metanas

    torch.set_num_threads(1)
    task = _task(tuple(job["languages"]), job)
    seed, arm = job["seed"], job["arm"]
    ev = _trainer(task, 10_000 + seed, job)
    rows: list[dict[str, Any]] = []
    # The clock starts before the study exists: meta reads the memory while it is created.
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def on_trial(_study: Any, trial: Any) -> None:
        valid = trial.metrics.get("valid_accuracy", math.nan)
        rows.append(
            {
                "arch": trial.arch.to_string(),
                "valid": float(valid) if valid is not None else math.nan,
                "test": float(trial.test_metrics.get("test_accuracy", math.nan)),
                "cpu": time.process_time() - cpu0,
                "wall": time.perf_counter() - wall0,
            }
        )

    study = metanas.create_study(
        space=metanas.spaces.create_space(SPACE), storage="sqlite://", seed=seed,
        name=f"{arm}-{task.name}-{seed}", task=task.name,
        task_descriptors=ev.task_descriptors(), strategy=arm,
        memory=f"sqlite:///{job['db']}" if arm == "meta" else None,
    )  # fmt: skip
    study.optimize(ev, n_trials=job["n_trials"], n_jobs=1, callbacks=[on_trial])
    return {**job, "task": task.name, "trials": rows}


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    rows, numbers, bullets = paired_time_to_level(
        runs, lambda run: " ".join(run["languages"]), args.n_trials
    )
    bullets[-1] += "."
    lines = [
        f"Per pair (held-out languages, seed): *level* = cold `bo`'s best validation accuracy "
        f"after {args.n_trials} trainings; the CPU seconds each arm took to reach it; the test "
        "accuracy of each arm's best-by-validation network (reported, never searched on); the "
        "CPU seconds of the whole search. Each held-out task has one language no past task "
        f"had ({', '.join(NEW)}).",
        "",
        "| held-out languages | seed | level | bo: s to level | meta: s to level | ratio | "
        "bo best: test | meta best: valid | meta best: test | bo total s | meta total s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *bullets,
        "",
    ]
    return "\n".join(lines), numbers


#: Settings a saved search must share with this run to be kept.
_SAME = ("n_trials", "memory", "epochs", "n_per_class", "memory_db")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def save(args: argparse.Namespace, runs: list[dict[str, Any]], numbers: Any) -> None:
    """Write the searches so far (and the summary, once there is one) to ``args.save``."""
    args.save.parent.mkdir(parents=True, exist_ok=True)
    body = {"settings": _settings(args), "numbers": numbers, "runs": runs}
    args.save.write_text(json.dumps(body, indent=1) + "\n")


def kept_runs(args: argparse.Namespace, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The searches of ``jobs`` that a cut-off run with these settings saved (none: ``--fresh``)."""
    if args.fresh or args.no_write or not args.save.is_file():
        return []
    saved = json.loads(args.save.read_text())
    mine = _settings(args)
    if any(saved["settings"].get(k) != mine[k] for k in _SAME):
        return []
    wanted = {(tuple(j["languages"]), j["seed"], j["arm"]) for j in jobs}
    return [r for r in saved["runs"] if (tuple(r["languages"]), r["seed"], r["arm"]) in wanted]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.memory_db.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = {
        "n_per_class": args.n_per_class, "epochs": args.epochs, "db": str(args.memory_db),
    }  # fmt: skip
    held = held_out_languages()[: args.held_out]
    jobs = [
        {**base, "languages": langs, "seed": s, "arm": a, "n_trials": args.n_trials}
        for s in range(args.seeds) for langs in held for a in ARMS
    ]  # fmt: skip
    runs = kept_runs(args, jobs)
    done = {(tuple(r["languages"]), r["seed"], r["arm"]) for r in runs}
    jobs = [j for j in jobs if (tuple(j["languages"]), j["seed"], j["arm"]) not in done]
    print(f"{len(runs)} searches kept, {len(jobs)} to run", file=sys.stderr)
    if jobs:
        with ProcessPoolExecutor(args.n_jobs) as pool:
            mem_jobs = [
                {**base, "languages": langs, "memory": args.memory} for langs in past_languages()
            ]
            # Creating a study writes its schema and records: one at a time, before the pool.
            for job in mem_jobs:
                memory_study(job)
            for m in pool.map(memory_search, mem_jobs):
                print(
                    f"memory {m['task']}: {m['trained']} trained ({m['cpu']:.0f} CPU s), best "
                    f"valid {m['best']:.4f}",
                    file=sys.stderr,
                )
            # Seeds outermost: a run cut off has whole pairs of every held-out task so far.
            for run in pool.map(search, jobs):
                runs.append(run)
                print(run_line(run), file=sys.stderr)
                if not args.no_write:
                    save(args, runs, None)
    wall = time.perf_counter() - t0
    if not jobs and args.wall_s is not None:
        wall = args.wall_s
    body, numbers = report(runs, args)
    print(body)
    print(json.dumps(numbers), file=sys.stderr)
    if not args.no_write:
        from metanas.benchmarking import write_section

        save(args, runs, numbers)
        head = header(
            "Meta-learning across languages with real training (meta-text)",
            {
                "family": f"`langid-words`, four languages per task, {args.n_per_class} words "
                f"per language (60/20/20 splits, seed 0), `{SPACE}` space; known languages "
                f"{' '.join(KNOWN)}, new {' '.join(NEW)}",
                "memory": "six past tasks (cyclic runs of four known languages), one "
                f"`evolution` study of {args.memory} trainings each (seed {MEMORY_SEED}), "
                "stored in one SQLite file; no past task has a new language",
                "search": f"{args.n_trials} trainings per study ({args.epochs} epochs, batch 64, "
                f"no early stopping, one torch thread, training seed 10000 + seed), "
                f"{args.held_out} held-out tasks x {args.seeds} seeds x (bo, meta), "
                f"{args.n_jobs} studies side by side; {wall:.0f} s wall time in all (memory "
                "studies and searches saved by an earlier sitting kept)",
            },
        )
        write_section(args.output, SECTION, head + "\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
