"""The dashboard with a 10,000-trial study: response times of its pages and the report's size.

Builds a temporary SQLite store holding one NAS-Bench-Graph Cora study of ``--trials``
random architectures (looked up in the table, written in one transaction with
``RDBStorage.import_study``) and a few small studies, then times the dashboard's HTTP
responses with FastAPI's test client (in process: the time of the application, without a
network). "cold" is a fresh application (the trials are read from the database); "warm" the
same page again (the study view is cached until the study changes). Also times and measures
``metanas report``. Targets (issue #17): index < 1 s, study page < 2 s, report < 5 MB.

    python benchmarks/dashboard.py
    python benchmarks/dashboard.py --trials 2000 --repeats 3 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, header

from metanas.benchmarking import write_section
from metanas.benchmarks import NasBenchGraph
from metanas.storage import get_storage
from metanas.trial import Trial, TrialState

SECTION = "dashboard"


def build_store(url: str, n_trials: int, seed: int) -> str:
    """One big study (n_trials random table rows) and three 50-trial ones; the big one's name."""
    bench = NasBenchGraph("cora")
    store = get_storage(url)
    task = store.get_or_create_task(bench.name, bench.task_descriptors())
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1)
    for name, n in (("cora-big", n_trials), *((f"cora-small-{i}", 50) for i in range(3))):
        trials = []
        for number in range(n):
            arch = bench.space.sample(rng)
            result = bench.evaluate(arch)
            value = result.metrics["valid_accuracy"]
            trials.append(
                Trial(
                    number=number, state=TrialState.COMPLETE, arch=arch, metrics=result.metrics,
                    test_metrics=result.test_metrics, values=(value,), cost_s=result.cost_s,
                    seed=number, started_at=start + dt.timedelta(seconds=number),
                    finished_at=start + dt.timedelta(seconds=number + 1),
                )
            )  # fmt: skip
        store.import_study(
            name=name, task=task, space=bench.space.to_config(), strategy="random",
            strategy_settings={}, objectives=[("valid_accuracy", "maximize")], seed=seed,
            user_attrs={}, created_at=start, trials=trials,
        )  # fmt: skip
    return "cora-big"


def timed(fn: object, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="Print only; leave the docs alone.")
    args = p.parse_args()

    from fastapi.testclient import TestClient

    from metanas.dashboard import create_app, write_report

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'runs.db'}"
        t0 = time.perf_counter()
        big = build_store(url, args.trials, args.seed)
        build_s = time.perf_counter() - t0
        rows: list[tuple[str, list[float], str]] = []

        def check(response: object) -> None:
            status = getattr(response, "status_code", None)
            if status != 200:
                raise RuntimeError(f"{response!r} answered {status}")

        def cold(path: str, **params: object) -> None:
            check(TestClient(create_app(url)).get(path, params=params))

        client = TestClient(create_app(url))
        check(client.get("/study", params={"name": big}))  # fills the cache for "warm"
        rows.append(("index `/`", timed(lambda: cold("/"), args.repeats), "< 1 s"))
        rows.append(("study page, cold", timed(lambda: cold("/study", name=big), args.repeats),
                     "< 2 s"))  # fmt: skip
        rows.append(("study page, warm",
                     timed(lambda: check(client.get("/study", params={"name": big})), args.repeats),
                     "< 2 s"))  # fmt: skip
        rows.append(("`/api/version` (poll)",
                     timed(lambda: check(client.get("/api/version", params={"name": big})),
                           args.repeats), ""))  # fmt: skip
        rows.append(("`/api/importance` (first call)",
                     timed(lambda: check(client.get("/api/importance", params={"name": big})), 1),
                     "after the page"))  # fmt: skip
        page_bytes = len(client.get("/study", params={"name": big}).content)
        report = Path(tmp) / "report.html"
        report_s = timed(lambda: write_report(url, big, report), 1)[0]
        report_mb = report.stat().st_size / 1e6

    lines = [
        header(
            f"Dashboard: a {args.trials:,}-trial study",
            {
                "store": f"temporary SQLite file; study of {args.trials:,} random NAS-Bench-Graph "
                f"Cora trials + 3 of 50 (built in {build_s:.1f} s)",
                "repeats": f"{args.repeats} (median, min, max)",
            },
        ),
        "| response | median (s) | min (s) | max (s) | target |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {name} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} | {target} |"
            for name, t, target in rows
        ),
        "",
        f"Study page HTML (data inline): {page_bytes / 1e6:.2f} MB. "
        f"`metanas report` of the same study: {report_mb:.2f} MB (target < 5 MB: plotly.js "
        f"is inline, gzipped and base64-encoded), written in {report_s:.1f} s (decision "
        "importances included).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(args.output, SECTION, text)


if __name__ == "__main__":
    main()
