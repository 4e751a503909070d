"""Scale past this machine, by simulation: a 1,000,000-trial memory, 8 processes, ASHA on Ray.

Three measurements (issue #16's last targets):

1. **Experience memory**: a store of ``--memory-tasks`` tasks (1,000) x ``--memory-trials``
   trials (1,000 each: 1,000,000 trials) is built once by bulk inserts (cached under
   ``--cache``), then the time from ``create_study(strategy="meta", memory=URL)`` to the
   first ``ask()`` returning is measured (target <= 2 s).
2. **Many processes, one study**: 1, 2, 4, 8 processes work one study with an instant
   evaluator (the random strategy), on SQLite in WAL mode and, when ``.ci/postgres.sh`` can
   start a throwaway server, on PostgreSQL: finished trials per second.
3. **ASHA on Ray, 2 workers** on the task-family table (:class:`metanas.benchmarks.TaskFamily`),
   each call sleeping its incremental cost x ``--sleep-scale``: the fraction of each worker's
   time spent idle while a trial waits for a promotion decision (target <= 5 %).

Prints the tables and writes the ``scale`` section of docs/benchmarks.md.

    python benchmarks/scale.py
    python benchmarks/scale.py --only memory --no-write     # one part, a quick look
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from _report import REPO, header

import metanas
from metanas.benchmarking import write_section

SECTION = "scale"
TARGET_FIRST_ASK_S = 2.0
TARGET_IDLE = 0.05
#: The memory's space: 6 choices x 5 places (7,776 architectures), so that 1,000 trials of a
#: task are mostly distinct architectures.
MEMORY_SPACE = {f"p{i}": list(range(6)) for i in range(5)}


# ============================================================== 1. experience memory
def build_memory(path: Path, n_tasks: int, n_trials: int) -> None:
    """Write ``n_tasks`` tasks x ``n_trials`` COMPLETE trials (one study per task) by bulk inserts.

    Each task's metric is a random linear function of the choices plus noise, so tasks
    differ and are related (a shared component), as past searches are.
    """

    from metanas.storage import _models as m
    from metanas.storage.rdb import RDBStorage

    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    storage = RDBStorage(f"sqlite:///{tmp}")  # creates the schema (Alembic)
    rng = np.random.default_rng(0)
    now = datetime.now(UTC).replace(tzinfo=None)
    names = list(MEMORY_SPACE)
    shared = rng.normal(size=(len(names), 6))
    with storage.engine.begin() as conn:
        conn.execute(
            m.tasks.insert(),
            [
                {"name": f"mem/task{t:04d}", "descriptors": {"n_samples": int(100 + t)},
                 "created_at": now}
                for t in range(n_tasks)
            ],
        )  # fmt: skip
        conn.execute(
            m.studies.insert(),
            [
                {
                    "name": f"mem/task{t:04d}-search", "task_id": t + 1, "space": MEMORY_SPACE,
                    "strategy": "random", "strategy_settings": {},
                    "objectives": [["acc", "maximize"]], "seed": t, "user_attrs": {},
                    "created_at": now,
                }
                for t in range(n_tasks)
            ],
        )  # fmt: skip
    for t in range(n_tasks):
        w = shared + 0.7 * rng.normal(size=shared.shape)
        idx = rng.integers(6, size=(n_trials, len(names)))
        acc = w[np.arange(len(names)), idx].sum(1) + 0.3 * rng.normal(size=n_trials)
        rows = [
            {
                "study_id": t + 1, "number": j, "state": "complete",
                "arch": json.dumps(dict(zip(names, map(int, idx[j]), strict=True))),
                "value": float(acc[j]), "values": [float(acc[j])],
                "metrics": {"acc": float(acc[j])}, "test_metrics": {}, "user_attrs": {},
                "cost_s": 1.0, "started_at": now, "finished_at": now,
            }
            for j in range(n_trials)
        ]  # fmt: skip
        with storage.engine.begin() as conn:
            conn.execute(m.trials.insert(), rows)
    storage.engine.dispose()
    tmp.rename(path)


def first_ask(url: str, *, profile: bool = False) -> tuple[float, float, str]:
    """Seconds to the first ask of a "meta" study on memory ``url``, and to create it."""
    space = metanas.SearchSpace(MEMORY_SPACE)
    prof = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        if prof:
            prof.enable()
        study = metanas.create_study(
            space=space, storage=f"sqlite:///{tmp}/new.db", name="new", task="mem/new",
            metric="acc", strategy="meta", memory=url, seed=0,
        )  # fmt: skip
        created = time.perf_counter() - start
        study.ask()
        took = time.perf_counter() - start
        if prof:
            prof.disable()
        n_past = len(getattr(study.strategy, "past_tasks", []))
        study.storage.engine.dispose()
    report = ""
    if prof:
        import io

        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
        report = out.getvalue()
    return took, created, f"{n_past}" + ("\n" + report if report else "")


def memory_part(args: argparse.Namespace) -> list[str]:
    from metanas.storage.rdb import RDBStorage

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"memory-{args.memory_tasks}x{args.memory_trials}.db"
    if not path.exists():
        print(f"Building {path} ({args.memory_tasks} x {args.memory_trials} trials) ...")
        start = time.perf_counter()
        build_memory(path, args.memory_tasks, args.memory_trials)
        print(f"  built in {time.perf_counter() - start:.0f} s")
    url = f"sqlite:///{path}"
    RDBStorage(url)  # the first open of a store in a process checks its schema: not timed
    runs = [first_ask(url, profile=args.profile and i == 0) for i in range(args.repeats)]
    if args.profile:
        print(runs[0][2])
    times = [r[0] for r in runs]
    # The read alone, as the study does it: what the rest of the first ask adds is the models.
    from metanas.meta import ExperienceMemory
    from metanas.strategies.meta import MetaStrategy

    space = metanas.SearchSpace(MEMORY_SPACE)
    meta = MetaStrategy(space)
    rows, max_tasks = meta.memory_rows_per_task, meta.memory_max_tasks
    start = time.perf_counter()
    ExperienceMemory(url).past_tasks(
        "mem/new", metric="acc", space=space, max_rows_per_task=rows, max_tasks=max_tasks
    )
    read_s = time.perf_counter() - start
    n_past = runs[0][2].split("\n")[0]
    best, worst = min(times), max(times)
    ok = worst <= TARGET_FIRST_ASK_S
    n_total = args.memory_tasks * args.memory_trials
    return [
        '### Experience memory: time to the first ask of a "meta" study',
        "",
        f"A SQLite memory of {args.memory_tasks:,} tasks x {args.memory_trials:,} COMPLETE trials "
        f"({n_total:,} trials, one study per task, a space of 7,776 architectures). Timed: "
        '`create_study(strategy="meta", memory=URL, task=...)` to the first `ask()` '
        f"returning, {args.repeats} runs (the store opened once before, untimed). The "
        f"strategy's defaults: it learns from at most `max_past_tasks` = {max_tasks} past "
        "tasks, the most similar by descriptors (the new task has none here: the first "
        f"{max_tasks} in memory order), and the study reads only those.",
        "",
        f"| past tasks used (of {args.memory_tasks:,}) | first ask, best (s) | first ask, worst "
        f"(s) | create_study (s) | of which the memory read ({rows} rows per task) (s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {n_past} | {best:.2f} | {worst:.2f} | {np.mean([r[1] for r in runs]):.2f} "
        f"| {read_s:.2f} |",
        "",
        f"- Worst run **{worst:.2f} s** (target <= {TARGET_FIRST_ASK_S:g} s): "
        f"{'pass' if ok else '**FAIL**'}.",
        "",
    ]


# ============================================================== 2. many processes
_WORKER = """
import cProfile, json, pstats, sys, time
import metanas
url, n, start, prof_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
space = metanas.SearchSpace({"a": list(range(100)), "b": list(range(100))})
study = metanas.create_study(
    space=space, name="shared", storage=url, load_if_exists=True, seed=0, strategy="random",
    metric="score",
)
time.sleep(max(0.0, start - time.time()))
prof = cProfile.Profile() if prof_path else None
if prof:
    prof.enable()
study.optimize(lambda a: float(a["a"] + a["b"]), n_trials=n)
if prof:
    prof.disable()
    prof.dump_stats(prof_path)
"""


def workers_run(url: str, n_procs: int, total: int, profile: str = "") -> float:
    """Finished trials per second of ``n_procs`` processes sharing one new study."""
    import subprocess

    from metanas.storage.rdb import RDBStorage

    metanas.create_study(
        space=metanas.SearchSpace({"a": list(range(100)), "b": list(range(100))}),
        name="shared", storage=url, seed=0, strategy="random", metric="score",
    )  # fmt: skip
    start = time.time() + 2.0 * n_procs  # every interpreter imported metanas, opened the study
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                url,
                str(total // n_procs),
                str(start),
                profile if i == 0 else "",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(n_procs)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("a worker failed: " + outs[0][1].decode()[-800:])
    store = RDBStorage(url)
    trials = store.get_trials(store.get_study("shared").id)
    store.engine.dispose()
    numbers = sorted(t.number for t in trials)
    n_done = (total // n_procs) * n_procs
    if numbers != list(range(n_done)):
        raise RuntimeError(f"expected trials 0..{n_done - 1}, got {len(numbers)} numbers")
    # From the first trial's start to the last one's end: an interpreter that is still
    # importing when the others start (8 on 2 cores) would otherwise count as work time.
    first = min(t.started_at for t in trials if t.started_at is not None)
    last = max(t.finished_at for t in trials if t.finished_at is not None)
    return n_done / (last - first).total_seconds()


def _postgres() -> tuple[str, str] | None:
    import subprocess

    try:
        out = subprocess.run(
            ["bash", str(REPO / ".ci" / "postgres.sh"), "start"], capture_output=True,
            text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"No PostgreSQL server ({exc}); its rows are left out.")
        return None
    env = dict(
        line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
    )
    env = {k: v.strip("'\"") for k, v in env.items()}
    return env["METANAS_TEST_POSTGRES_URL"], env["METANAS_TEST_POSTGRES_DIR"]


def workers_part(args: argparse.Namespace) -> list[str]:
    import subprocess

    import sqlalchemy as sa

    counts = [1, 2, 4, 8]
    rows: dict[str, list[float]] = {}
    prof = str(Path(tempfile.gettempdir()) / "metanas-scale-worker.prof")
    with tempfile.TemporaryDirectory() as tmp:
        rows["SQLite (WAL), one file"] = [
            workers_run(f"sqlite:///{tmp}/w{n}.db", n, args.worker_trials) for n in counts
        ]
    pg = _postgres()
    if pg is not None:
        admin, folder = pg
        try:
            rates = []
            for n in counts:
                engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(sa.text(f"CREATE DATABASE scale{n}"))
                engine.dispose()
                url = str(sa.engine.make_url(admin).set(database=f"scale{n}").render_as_string(
                    hide_password=False))  # fmt: skip
                rates.append(workers_run(url, n, args.worker_trials, prof if n == 8 else ""))
            rows["PostgreSQL, loopback"] = rates
        finally:
            subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "stop", folder],
                           capture_output=True, check=False, timeout=120)  # fmt: skip
        out = __import__("io").StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print("One of 8 PostgreSQL workers, by own time:\n" + out.getvalue())
    return [
        "### Many processes, one study: finished trials per second",
        "",
        f"{args.worker_trials} trials of an instant evaluator (`arch -> float`), the random "
        "strategy, shared among N processes started together on one new study; rate = "
        "trials / (last trial's end - first trial's start). Every run checked: trials "
        "0..n-1, none lost or duplicated.",
        "",
        "| store | " + " | ".join(f"{n} process{'es' if n > 1 else ''}" for n in counts) + " |",
        "|---|" + "---:|" * len(counts),
        *(f"| {k} | " + " | ".join(f"{v:.0f}" for v in vs) + " |" for k, vs in rows.items()),
        "",
    ]


# ============================================================== 3. ASHA on Ray
class SleepingFamily:
    """The task-family table as an evaluator that sleeps each call's incremental cost x scale.

    Each result also carries when (``time.time()``) and in which process its sleep ran,
    so the driver can find each worker's idle gaps.
    """

    supports_resume = True

    def __init__(self, task: str, scale: float) -> None:
        from metanas.benchmarks import TaskFamily
        from metanas.benchmarks.family import FIRST_TABLE_ARCHS

        # The first table's 200 architectures, which the section ran on.
        self.inner = TaskFamily(task, n_archs=FIRST_TABLE_ARCHS)
        self.space = self.inner.space
        self.scale = scale

    def evaluate(
        self, arch: Any, *, budget: float | None = None, resume_from: float | None = None
    ) -> Any:
        import dataclasses

        r = self.inner.evaluate(arch, budget=budget, resume_from=resume_from)
        t0 = time.time()
        time.sleep(float(r.cost_s or 0.0) * self.scale)
        t1 = time.time()
        metrics = {**r.metrics, "t_start": t0, "t_end": t1, "pid": float(os.getpid())}
        return dataclasses.replace(r, metrics=metrics)


def asha_run(
    args: argparse.Namespace, n_trials: int, seed: int, queue_ahead: int = 1
) -> dict[str, float]:
    from metanas.evaluation import Evaluator
    from metanas.execution import RayExecutor

    class Sleeping(SleepingFamily, Evaluator):
        pass

    ev = Sleeping("mnist1d", args.sleep_scale)
    spans: list[tuple[float, float, float]] = []  # (worker pid, sleep start, sleep end)

    def record(fut: Any) -> None:
        if fut.exception() is None:
            m = fut.result().metrics
            spans.append((m["pid"], m["t_start"], m["t_end"]))

    class Recording(RayExecutor):
        """Collects each segment's sleep span as its result arrives at the driver."""

        def submit(self, arch: Any, budget: Any, *, resume_from: Any = None) -> Any:
            fut = super().submit(arch, budget, resume_from=resume_from)
            fut.add_done_callback(record)
            return fut

    with tempfile.TemporaryDirectory() as tmp:
        study = metanas.create_study(
            space=ev.space, storage=f"sqlite:///{tmp}/asha.db", name="asha", seed=seed,
            strategy="random", metric="valid_accuracy", scheduler="asha",
            scheduler_settings={"min_budget": 1, "max_budget": 9, "eta": 3},
        )  # fmt: skip
        with Recording(ev, n_workers=2, queue_ahead=queue_ahead) as ex:
            start = time.time()
            study.optimize(executor=ex, n_trials=n_trials)
            wall = time.time() - start
        n_complete = sum(t.state.value == "complete" for t in study.trials)
    by_pid: dict[float, list[tuple[float, float]]] = {}
    for pid, t0, t1 in spans:
        by_pid.setdefault(pid, []).append((t0, t1))
    first = min(t0 for _p, t0, _t in spans)
    last = max(t1 for _p, _t, t1 in spans)
    idle = []
    for segs in by_pid.values():
        segs.sort()
        gaps = sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(segs))
        idle.append(gaps / (last - first))
    busy = sum(t1 - t0 for _p, t0, t1 in spans)
    return {
        "wall_s": wall, "segments": float(len(spans)), "workers": float(len(by_pid)),
        "idle_max": max(idle), "idle_mean": float(np.mean(idle)),
        "busy_frac": busy / (2 * (last - first)), "complete": float(n_complete),
    }  # fmt: skip


def asha_part(args: argparse.Namespace) -> list[str]:
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2,
        logging_level=logging.WARNING,
    )  # fmt: skip
    # The module's classes travel by value: Ray's workers do not import this script.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        asha_run(args, 4, seed=99)  # warm-up: Ray starts its worker processes
        # Paired: each seed with the default (segments queued ahead) and without.
        runs = [
            (seed, q, asha_run(args, args.asha_trials, seed, queue_ahead=q))
            for seed in range(args.asha_repeats)
            for q in (1, 0)
        ]
    finally:
        ray.shutdown()
    worst = max(r["idle_max"] for _s, q, r in runs if q == 1)
    worst_0 = max(r["idle_max"] for _s, q, r in runs if q == 0)
    ok = worst <= TARGET_IDLE
    return [
        "### ASHA on Ray, 2 workers, the task-family table",
        "",
        f"Task `mnist1d` of the task family, the random strategy, ASHA (rungs 1, 3, 9 epochs, "
        f"eta 3), {args.asha_trials} trials per study; each call sleeps the table's training "
        f"seconds for its epochs x {args.sleep_scale:g} (a promoted trial resumes: only the "
        "new epochs). A worker's idle time is the sum of the gaps between the end of one of "
        "its sleeps and the start of its next (the driver receiving the result, the "
        "scheduler deciding, storing, asking and sending the next segment), over the span "
        "from the first sleep to the last; the tail after a worker's last segment is not "
        "counted. `queue ahead` is the executor's `queue_ahead`: 1 (the default) keeps one "
        "segment more than the workers submitted (the 2-CPU cluster fits 2 trials, so Ray "
        "holds it and starts it on the worker that frees); 0 is the loop without it (each "
        "worker waits for the study to store, decide and submit), run on the same seed for "
        "comparison.",
        "",
        "| seed | queue ahead | wall s | segments | trials complete (9 epochs) | "
        "busy (2 workers) | idle, mean worker | idle, worst worker |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {i} | {q} | {r['wall_s']:.1f} | {r['segments']:.0f} | {r['complete']:.0f} | "
            f"{100 * r['busy_frac']:.1f} % | {100 * r['idle_mean']:.1f} % | "
            f"{100 * r['idle_max']:.1f} % |"
            for i, q, r in runs
        ),
        "",
        f"- Worst worker idle with queue ahead 1 **{100 * worst:.1f} %** (target <= "
        f"{100 * TARGET_IDLE:g} %): {'pass' if ok else '**FAIL**'}. Without it (queue ahead "
        f"0, same seeds): {100 * worst_0:.1f} %.",
        "",
    ]


# ============================================================== main
#: Each part's subsection, by the start of its heading.
PART_TITLES = {
    "memory": "### Experience memory",
    "workers": "### Many processes",
    "asha": "### ASHA on Ray",
}


def kept_parts(path: Path, parts: list[str]) -> dict[str, list[str]]:
    """The subsections of the parts not run now, from the section's last run in ``path``.

    ``--only`` reruns some parts; the others keep their last numbers, marked as such.
    """
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        return {}
    old = text[text.index(begin) + len(begin) : text.index(end)].strip("\n").split("\n")
    dates = [line for line in old if line.startswith("| date |")]
    when = dates[0].split("|")[2].strip() if dates else "an earlier run"
    out: dict[str, list[str]] = {}
    for part, title in PART_TITLES.items():
        starts = [i for i, line in enumerate(old) if line.startswith(title)]
        if part in parts or not starts:
            continue
        i = starts[0]
        j = next((k for k in range(i + 1, len(old)) if old[k].startswith("### ")), len(old))
        block = old[i:j]
        note = f"_Kept from the run of {when}: not rerun by this command._"
        # A part kept before keeps the date of the run that measured it.
        if any(line.startswith("_Kept from the run of") for line in block):
            out[part] = list(block)
        else:
            rest = block[2:] if block[1:2] == [""] else block[1:]
            out[part] = [block[0], "", note, "", *rest]
        if out[part][-1] != "":
            out[part].append("")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["memory", "workers", "asha"], action="append")
    p.add_argument("--memory-tasks", type=int, default=1000)
    p.add_argument("--memory-trials", type=int, default=1000)
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "metanas-scale"))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="print a cProfile of one first ask")
    p.add_argument("--worker-trials", type=int, default=400)
    p.add_argument("--asha-trials", type=int, default=60)
    p.add_argument("--asha-repeats", type=int, default=2)
    p.add_argument("--sleep-scale", type=float, default=0.5)
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("metanas").setLevel(logging.ERROR)
    parts = args.only or ["memory", "workers", "asha"]
    kept = {} if args.no_write else kept_parts(args.output, parts)
    run = {"memory": memory_part, "workers": workers_part, "asha": asha_part}
    body: list[str] = []
    for part, measure in run.items():
        if part in parts:
            body += measure(args)
        elif part in kept:
            body += kept[part]
    text = "\n".join([header("Scale: a large memory, many processes, ASHA on Ray"), *body])
    print()
    print(text)
    if not args.no_write:
        write_section(args.output, SECTION, text)
        print(f"Wrote section {SECTION!r} of {args.output}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
