"""One-shot search on MNIST-1D or Fashion-MNIST: DARTS, latency-aware DARTS, ENAS, baselines.

Every run searches the ``cnn`` supernet (4 blocks at 32 channels, strides
1, 2, 1, 2, residual, the default skeleton) on MNIST-1D's training split
(architecture on its validation split), derives the discrete network,
retrains it from scratch with ``TrainEvaluator`` (20 epochs, early stopping
on validation accuracy) and reports its test accuracy, with the wall time of
the search and of the retraining. The latency-aware variant adds the
ProxylessNAS-style penalty for ``--max-latency-ms`` (batch 1, this machine)
and measures the derived network's latency afterwards.

Baselines in the same skeleton (issue 18): ``random-ops`` retrains ``--random-draws``
networks whose operation per block is drawn uniformly from the supernet's allowed candidates,
``all-conv3`` the skeleton with ``conv3`` everywhere, and ``blackbox`` runs a random search over
the same operation choices for as long as the median DARTS search took (``darts`` rows of the
same run), keeping the best network by validation accuracy. Every network, searched or drawn,
is retrained with the same recipe. The summary gives each searched method's median test
accuracy minus the median random-operation network's, with a 95 % bootstrap interval.
``darts-latency-wide`` is latency-aware DARTS whose supernet also searches each block's width
(16/32/64) and, through ``identity``, its depth, on a plain (non-residual) skeleton with strides
2, 2, 1, 1 (``--latency-skeleton``).

On Fashion-MNIST (``--task fashion-mnist``, issue 18's targets: DARTS >= 91 % test accuracy
within 10 minutes, and above the median random-operation network by more than the interval),
``--search-n-train N`` lets DARTS/ENAS search on a stratified subset of N training rows (its
own train/validation split) while the derived network, like every baseline, is retrained on
the full task, as DARTS searched on half of CIFAR-10 and retrained on all of it;
``--retrain-batch-size`` and ``--retrain-time-s`` set the retraining recipe shared by every
network. Reading the data is timed apart (``data_load_s``) and named in the target line.
``--retrain-deadline-s D`` bounds a subset search and its retraining together: the derived
network trains for the epochs that fit in what the search left of D seconds (``retrain_budget_s``;
the evaluator times the first epoch and spreads its cosine schedule over the epochs that fit),
and ``--retrain-augment`` names TrainEvaluator's augmentation (``shift-flip`` for clothes).
``--seed-list 0-1`` with ``--append`` runs some seeds and merges them into the ``--raw`` file by
(method, seed, draw), so a long run is queued in chunks that share their settings (a chunk with
other settings is refused) and the table covers every stored seed.

Issue 7's target: the retrained DARTS network reaches >= 95 % test accuracy
in <= 1/3 of the wall time the black-box search of ``benchmarks/real_training.py``
needed for the same accuracy (read from ``benchmarks/results/real_training.json``
when it exists).

    python benchmarks/oneshot.py                 # everything (~11 min on 2 busy cores)
    python benchmarks/oneshot.py --quick --no-write
    python benchmarks/oneshot.py --methods darts,random-ops,all-conv3,blackbox
    python benchmarks/oneshot.py --task fashion-mnist --methods darts,random-ops,all-conv3
    python benchmarks/oneshot.py --task fashion-mnist --threads 2 --search-n-train 8000 \
        --skeleton '{"stride_1": 2, "stride_2": 2, "stride_3": 1, "stride_4": 1}' \
        --epochs 2 --retrain-epochs 2 --retrain-batch-size 256 --methods darts   # then
    ... --methods random-ops,all-conv3 --append                                # same flags
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _report import REPO, header, parse_seeds

from metanas.benchmarking import write_section
from metanas.oneshot import build_supernet, run_oneshot
from metanas.spaces import create_space
from metanas.tasks import Task, load_task

SECTION = "oneshot"
TARGET = 0.95
#: Issue 18's Fashion-MNIST target: one-shot DARTS >= 91 % test accuracy within 10 minutes.
FASHION_TARGET, FASHION_LIMIT_S = 0.91, 600.0
METHOD_NAMES = {
    "darts": "DARTS, first order",
    "darts-fast": "DARTS, first order, short (--fast-epochs, --fast-retrain-epochs)",
    "darts2": "DARTS, second order",
    "darts-latency": "DARTS, first order, latency limit",
    "enas": "ENAS",
    "darts-latency-wide": "DARTS, latency limit, width and depth searched",
    "random-ops": "random operations in the skeleton",
    "all-conv3": "all conv3 in the skeleton",
    "blackbox": "black-box (random search over the operations), DARTS's search time",
}
SEARCHED = ("darts", "darts-fast", "darts2", "enas")
BASELINES = ("random-ops", "all-conv3", "blackbox")
#: The skeleton of ``darts-latency-wide``: few multiply-adds before the first stride and no
#: residual projections (at batch 1 on a CPU, every layer call costs about as much as its
#: arithmetic); the widths and identity blocks are searched.
#: ``retrain_budget_s``: seconds kept for the latency and test passes, and the factor for the
#: per-epoch validation passes the evaluator's epoch timing leaves out.
_DEADLINE_RESERVE_S, _DEADLINE_FACTOR = 20.0, 1.1
LATENCY_WIDE = "darts-latency-wide"
LATENCY_SKELETON = (
    '{"channels_1": 64, "channels_2": 64, "channels_3": 64, "channels_4": 64, '
    '"stride_1": 2, "stride_2": 2, "stride_3": 1, "stride_4": 1, "residual": false}'
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="darts,darts-fast,darts2,darts-latency,enas")
    p.add_argument("--task", choices=("mnist1d", "fashion-mnist"), default="mnist1d")
    p.add_argument("--n-train", type=int, default=None, help="Fashion-MNIST training rows")
    p.add_argument("--downsample", type=int, default=1, help="Fashion-MNIST downsampling")
    p.add_argument(
        "--search-n-train", type=int, default=None,
        help="search on a stratified subset of this many training rows (its own train/valid "
        "split); the derived network is still retrained on the full task",
    )  # fmt: skip
    p.add_argument(
        "--retrain-time-s", type=float, default=None,
        help="training seconds per retrained network (TrainEvaluator's time_budget_s), the same "
        "for searched and baseline networks",
    )  # fmt: skip
    p.add_argument(
        "--retrain-batch-size", type=int, default=None,
        help="retraining batch (default: --batch-size, else TrainEvaluator's)",
    )  # fmt: skip
    p.add_argument(
        "--retrain-augment", default=None,
        help="training-time augmentation of every retrained network (TrainEvaluator's "
        "augment, e.g. shift or shift-flip for images; default: none)",
    )  # fmt: skip
    p.add_argument(
        "--retrain-deadline-s", type=float, default=None,
        help="with --search-n-train: search and retraining of a searched network end within "
        "this many seconds; retraining gets the time the search left (see retrain_budget_s)",
    )  # fmt: skip
    p.add_argument(
        "--seed-list", default=None,
        help="seeds to run, e.g. 0-1 or 2 (default: 0..--seeds-1); with --append the runs are "
        "merged into the --raw file by (method, seed, draw), so a long run can be queued in chunks",
    )  # fmt: skip
    p.add_argument(
        "--skeleton", default=None, help="JSON skeleton of the cnn supernet (default: its own)"
    )
    p.add_argument("--latency-skeleton", default=LATENCY_SKELETON)
    p.add_argument("--widths", default="16,32,64", help="widths of darts-latency-wide")
    p.add_argument(
        "--derive-candidates", type=int, default=1,
        help="latency methods: networks within the limit scored with inherited weights "
        "(DartsSearch's derive_candidates; 1: the most likely, unscored)",
    )  # fmt: skip
    p.add_argument(
        "--candidate-score", choices=("inherited", "trained"), default="inherited",
        help="latency methods with --derive-candidates > 1: score the candidates with the "
        "supernet's weights, or train each with the retraining recipe (timed first; over the "
        "limit: not trained) and keep the best by validation accuracy (DartsSearch's "
        "candidate_score)",
    )  # fmt: skip
    p.add_argument(
        "--measure-candidates", type=int, default=0,
        help="latency methods: time the k most likely networks near the limit and derive the "
        "first that really meets it (DartsSearch's measure_candidates; 0: off)",
    )  # fmt: skip
    p.add_argument("--random-draws", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=None, help="search and retrain batch")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--space", choices=("cnn", "nb201"), default="cnn")
    p.add_argument("--epochs", type=int, default=5, help="search epochs")
    p.add_argument("--retrain-epochs", type=int, default=20)
    p.add_argument("--fast-epochs", type=int, default=2, help="search epochs of the *-fast methods")
    p.add_argument(
        "--fast-retrain-epochs", type=int, default=8, help="retraining epochs of *-fast methods"
    )
    p.add_argument("--max-latency-ms", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--num-samples", type=int, default=None, help="MNIST-1D size (default 5000)")
    p.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--raw", type=Path, default=None, help="raw JSON (default: results/)")
    p.add_argument(
        "--reference",
        type=Path,
        default=REPO / "benchmarks" / "results" / "real_training.json",
        help="raw results of benchmarks/real_training.py (black-box time to 95 %%)",
    )
    p.add_argument(
        "--load", type=Path, default=None,
        help="report the runs of an earlier --raw file instead of running (e.g. with another "
        "--reference)",
    )  # fmt: skip
    p.add_argument(
        "--append", action="store_true",
        help="keep the other methods' runs of the --raw file (split a long run by --methods)",
    )  # fmt: skip
    p.add_argument(
        "--section", default=None,
        help="docs section to write (default: oneshot[-SPACE][-TASK]); give a longer run its "
        "own section and --raw file",
    )  # fmt: skip
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.raw is None:
        stem = "oneshot" if args.space == "cnn" else f"oneshot_{args.space}"
        stem += "" if args.task == "mnist1d" else "_" + args.task.replace("-", "_")
        args.raw = REPO / "benchmarks" / "results" / f"{stem}.json"
    if args.quick:
        args.seeds, args.epochs, args.retrain_epochs, args.num_samples = 1, 1, 2, 1000
    if args.seed_list is not None:
        try:
            args.seed_list = parse_seeds(args.seed_list)
        except ValueError as exc:
            p.error(str(exc))
    if args.retrain_deadline_s is not None and (
        args.search_n_train is None or not args.retrain_deadline_s > 0
    ):
        p.error(
            f"--retrain-deadline-s {args.retrain_deadline_s}: give a positive number of seconds "
            "together with --search-n-train (the deadline covers that search and retraining)"
        )
    return args


def seeds_of(args: argparse.Namespace) -> list[int]:
    """The seeds this invocation runs: ``--seed-list``, else ``0 .. --seeds - 1``."""
    return list(args.seed_list) if args.seed_list is not None else list(range(args.seeds))


def run_key(row: dict[str, Any]) -> tuple[str, int, int]:
    """A stored run's identity: method, seed and (random-ops) draw."""
    return (str(row["method"]), int(row["seed"]), int(row.get("draw", -1)))


def merge_runs(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with ``new`` added; a new run replaces a stored one of the same :func:`run_key`."""
    keys = {run_key(r) for r in new}
    kept = [r for r in old if run_key(r) not in keys]
    order = list(METHOD_NAMES)
    return sorted(
        kept + new,
        key=lambda r: (order.index(r["method"]) if r["method"] in order else len(order),
                       *run_key(r)[1:]),
    )  # fmt: skip


def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a run's numbers depend on; chunks merged into one file must share them."""
    return {
        "task": args.task, "space": args.space, "skeleton": args.skeleton,
        "n_train": args.n_train, "downsample": args.downsample,
        "search_n_train": args.search_n_train, "epochs": args.epochs,
        "retrain_epochs": args.retrain_epochs, "threads": args.threads,
        "batch_size": args.batch_size, "retrain_deadline_s": args.retrain_deadline_s,
        **_evaluator_settings(args),
        # Only when set, so that the raw files of earlier runs still merge.
        **(
            {"derive_candidates": args.derive_candidates, "candidate_score": args.candidate_score}
            if args.derive_candidates > 1
            else {}
        ),
    }  # fmt: skip


def retrain_budget_s(deadline_s: float, search_s: float) -> float:
    """TrainEvaluator's ``time_budget_s`` for a retraining that starts ``search_s`` into a run
    which must end within ``deadline_s`` seconds.

    The evaluator fits its epochs (and so its cosine schedule) to the budget after timing the
    first epoch's training steps, which leave out each epoch's validation pass (about a tenth
    of an epoch's training time on Fashion-MNIST's 48k/12k split) and the latency and test
    passes around the training (a few seconds): hence the reserve and the factor. At least one
    second (one epoch) when the search used up the deadline.
    """
    return max(1.0, (deadline_s - search_s - _DEADLINE_RESERVE_S) / _DEADLINE_FACTOR)


_TASKS: dict[tuple[int, bool], Task] = {}
#: Seconds spent reading each seed's data (task and search subset), reported beside the runs.
_LOAD_S: dict[int, float] = {}


def get_task(seed: int, args: argparse.Namespace, *, search: bool = False) -> Task:
    """The benchmark's task for ``seed`` (loaded once: Fashion-MNIST takes a while).

    ``search=True``: the task the supernet searches on, the ``--search-n-train`` subset when
    one is set (else the task itself).
    """
    search = search and args.search_n_train is not None
    if (seed, search) not in _TASKS:
        start = time.perf_counter()
        if args.task == "mnist1d":
            kw = {} if args.num_samples is None else {"num_samples": args.num_samples}
        else:
            kw = {"downsample": args.downsample}
            if args.n_train is not None:
                kw["n_train"] = args.n_train
        if search:
            kw["n_train"] = args.search_n_train
        _TASKS[seed, search] = load_task(args.task, seed=seed, **kw)
        _LOAD_S[seed] = _LOAD_S.get(seed, 0.0) + time.perf_counter() - start
    return _TASKS[seed, search]


def _evaluator_settings(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    batch = args.retrain_batch_size or args.batch_size
    if batch is not None:
        out["batch_size"] = batch
    if args.retrain_time_s is not None:
        out["time_budget_s"] = args.retrain_time_s
    if args.retrain_augment is not None:
        out["augment"] = args.retrain_augment
    return out


def _search_on_subset(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """DARTS/ENAS on the ``--search-n-train`` subset, the derived network retrained on the task.

    The steps of :func:`metanas.oneshot.run_oneshot` (same seeds), without a latency limit or
    storage, because that function searches and retrains on one task.
    """
    import torch

    from metanas._rng import derive_seed
    from metanas.oneshot import ONESHOT

    small = get_task(seed, args, search=True)
    get_task(seed, args)  # read before the clock starts, as run_oneshot's caller does
    space = create_space(args.space)
    skeleton = json.loads(args.skeleton) if args.skeleton else None
    settings = {} if args.batch_size is None else {"batch_size": args.batch_size}
    fast = method.endswith("-fast")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    supernet = build_supernet(
        space, small.input_shape, small.n_classes, seed=derive_seed(seed, 0x05),
        skeleton=skeleton,
    )  # fmt: skip
    search = ONESHOT.get(method.removesuffix("-fast"))(
        supernet, small, latency=None, max_latency_ms=None, latency_weight=None,
        seed=derive_seed(seed, 0x06), device="cpu", **settings,
    )  # fmt: skip
    history = search.fit(args.fast_epochs if fast else args.epochs)
    arch = search.derive()
    search_s = time.perf_counter() - start
    budget = None
    if args.retrain_deadline_s is not None:
        budget = retrain_budget_s(args.retrain_deadline_s, search_s)
    metrics, retrain_s = _retrain(
        arch, seed, args, epochs=args.fast_retrain_epochs if fast else None, time_budget_s=budget
    )
    return {
        "retrain_time_budget_s": budget,
        "arch": space.format(arch), "search_s": search_s, "retrain_s": retrain_s,
        "search_data": small.summary(), "search_valid_accuracy": history[-1]["valid_accuracy"],
        "estimated_latency_ms": None, "max_latency_ms": None, "meets_limit": None,
        "latency_weight": 0.0, "search_epochs": len(history), **metrics,
    }  # fmt: skip


def one_run(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    task = get_task(seed, args)
    if args.search_n_train is not None:
        start = time.perf_counter()
        sub = _search_on_subset(method, seed, args)
        row = {"method": method, "seed": seed, "wall_s": time.perf_counter() - start, **sub}
        row.update(data=task.summary(), data_load_s=_LOAD_S.get(seed))
        print(
            f"{method} seed {seed}: test {row['test_accuracy']:.4f} (valid "
            f"{row['valid_accuracy']:.4f}), search {row['search_s']:.0f} s + retrain "
            f"{row['retrain_s']:.0f} s  {row['arch']}",
            flush=True,
        )
        return row
    latency = method.startswith("darts-latency")
    limit = args.max_latency_ms if latency else None
    fast = method.endswith("-fast")
    skeleton = json.loads(args.skeleton) if args.skeleton else None
    supernet: dict[str, Any] = {}
    if method == "darts-latency-wide":
        skeleton = json.loads(args.latency_skeleton)
        supernet = {"widths": tuple(int(w) for w in args.widths.split(","))}
    search: dict[str, Any] = {} if args.batch_size is None else {"batch_size": args.batch_size}
    if latency:
        search["derive_candidates"] = args.derive_candidates
        search["measure_candidates"] = args.measure_candidates
        if args.derive_candidates > 1:
            search["candidate_score"] = args.candidate_score
    start = time.perf_counter()
    r = run_oneshot(
        task, args.space, method.removesuffix("-fast").split("-latency")[0],
        epochs=args.fast_epochs if fast else args.epochs, seed=seed,
        max_latency_ms=limit, storage="sqlite://", study_name=f"oneshot-{method}-s{seed}",
        retrain_epochs=args.fast_retrain_epochs if fast else args.retrain_epochs,
        threads=args.threads, skeleton=skeleton, supernet_settings=supernet,
        search_settings=search, evaluator_settings=_evaluator_settings(args),
    )  # fmt: skip
    wall = time.perf_counter() - start
    row = {
        "method": method, "seed": seed, "arch": r.arch_string, "search_s": r.search_s,
        "retrain_s": r.retrain_s, "wall_s": wall, "valid_accuracy": r.valid_accuracy,
        "test_accuracy": r.test_accuracy, "latency_ms": r.latency_ms,
        "estimated_latency_ms": r.estimated_latency_ms, "max_latency_ms": r.max_latency_ms,
        "meets_limit": r.meets_limit, "latency_weight": r.latency_weight,
        "search_epochs": len(r.history), "data": task.summary(),
        "derivation": r.derivation,
    }  # fmt: skip
    print(
        f"{method} seed {seed}: test {r.test_accuracy:.4f} (valid {r.valid_accuracy:.4f}), "
        f"search {r.search_s:.0f} s + retrain {r.retrain_s:.0f} s, latency {r.latency_ms:.3f} ms"
        f"{'' if limit is None else f' (limit {limit}: {r.meets_limit})'}  {r.arch_string}",
        flush=True,
    )
    return row


def _retrain(
    arch: Any,
    seed: int,
    args: argparse.Namespace,
    *,
    epochs: int | None = None,
    time_budget_s: float | None = None,
) -> tuple[dict[str, Any], float]:
    """Train ``arch`` with the recipe of the derived networks; its metrics and wall time.

    ``time_budget_s`` overrides ``--retrain-time-s`` (a deadline's remaining time).
    """
    from metanas.evaluation.train import TrainEvaluator

    task = get_task(seed, args)
    settings = _evaluator_settings(args)
    if time_budget_s is not None:
        settings["time_budget_s"] = time_budget_s
    ev = TrainEvaluator(
        task, create_space(args.space), max_epochs=epochs or args.retrain_epochs, seed=seed,
        threads=args.threads, device="cpu", **settings,
    )  # fmt: skip
    start = time.perf_counter()
    res = ev.evaluate(arch)
    return {
        "valid_accuracy": float(res.metrics.get("valid_accuracy", math.nan)),
        "test_accuracy": float(res.test_metrics.get("test_accuracy", math.nan)),
        "latency_ms": float(res.metrics.get("latency_ms", math.nan)),
        "retrain_epochs_done": float(res.metrics.get("epochs", math.nan)),
    }, time.perf_counter() - start


def baseline_rows(
    method: str, args: argparse.Namespace, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rows of a baseline in the searched skeleton (see the module docstring)."""
    space = create_space(args.space)
    skeleton = json.loads(args.skeleton) if args.skeleton else None
    out: list[dict[str, Any]] = []

    def nets(seed: int) -> Any:
        task = get_task(seed, args)
        return build_supernet(space, task.input_shape, task.n_classes, seed=0, skeleton=skeleton)

    def row(seed: int, arch: Any, metrics: dict[str, Any], search_s: float, retrain_s: float,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
        r = {
            "method": method, "seed": seed, "arch": space.format(arch), "search_s": search_s,
            "retrain_s": retrain_s, "wall_s": search_s + retrain_s, **metrics,
            "estimated_latency_ms": None, "max_latency_ms": None, "meets_limit": None,
            "latency_weight": 0.0, "search_epochs": 0, "data": get_task(seed, args).summary(),
            **extra,
        }  # fmt: skip
        print(f"{method} seed {seed}: test {r['test_accuracy']:.4f}  {r['arch']}", flush=True)
        return r

    seeds = seeds_of(args)
    if method == "all-conv3":
        for seed in seeds:
            net = nets(seed)
            k = [ops.index("conv3") for _, ops in net.decisions]
            arch = net.architecture(k)
            metrics, t = _retrain(arch, seed, args)
            out.append(row(seed, arch, metrics, 0.0, t))
    elif method == "random-ops":
        for j in range(args.random_draws):
            seed = seeds[j % len(seeds)]
            net = nets(seed)
            allowed = net.derivable().cpu().numpy()
            rng = np.random.default_rng([18, j])
            choice = [int(rng.choice(np.flatnonzero(a))) for a in allowed]
            arch = net.architecture(choice)
            metrics, t = _retrain(arch, seed, args)
            out.append(row(seed, arch, metrics, 0.0, t, draw=j))
    elif method == "blackbox":
        darts = [r["search_s"] for r in rows if r["method"] == "darts"]
        budget = statistics.median(darts) if darts else 60.0
        for seed in seeds:
            net = nets(seed)
            allowed = net.derivable().cpu().numpy()
            rng = np.random.default_rng([19, seed])
            start = time.perf_counter()
            best: tuple[float, Any, dict[str, Any]] | None = None
            n = 0
            while best is None or time.perf_counter() - start < budget:
                choice = [int(rng.choice(np.flatnonzero(a))) for a in allowed]
                arch = net.architecture(choice)
                metrics, _ = _retrain(arch, seed, args)
                n += 1
                if best is None or metrics["valid_accuracy"] > best[0]:
                    best = (metrics["valid_accuracy"], arch, metrics)
            spent = time.perf_counter() - start
            out.append(row(seed, best[1], best[2], spent, 0.0, budget_s=budget, n_trained=n))
    return out


def check_mergeable(
    old: list[dict[str, Any]], methods: list[str], args: argparse.Namespace
) -> None:
    """Refuse to merge runs of ``methods`` made with another :func:`recipe` into one table.

    Runs stored before the recipe was recorded carry none and are merged as before.
    """
    now = recipe(args)
    for r in old:
        if r["method"] in methods and r.get("settings", now) != now:
            changed = sorted(k for k in now if r["settings"].get(k) != now[k])
            raise SystemExit(
                f"--append: the stored {r['method']} run of seed {r['seed']} in {args.raw} was "
                f"made with other settings ({', '.join(changed)}); pass another --raw file, or "
                "the same settings, to merge chunks of one run."
            )


def bootstrap_diff(
    a: list[float], b: list[float], *, n: int = 10_000
) -> tuple[float, float, float]:
    """median(a) - median(b) and its 95 % percentile-bootstrap interval (each side resampled)."""
    rng = np.random.default_rng(0)
    x, y = np.asarray(a), np.asarray(b)
    diffs = np.median(rng.choice(x, (n, len(x))), axis=1) - np.median(
        rng.choice(y, (n, len(y))), axis=1
    )
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(np.median(x) - np.median(y)), float(lo), float(hi)


def baseline_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The comparison of each searched method with the median random-operation network."""
    rand = [r["test_accuracy"] for r in rows if r["method"] == "random-ops"]
    if not rand:
        return []
    lines = [
        "",
        f"**Searched vs random operations in the same skeleton** ({len(rand)} random draws, "
        "each retrained with the derived networks' recipe): median test accuracy of the "
        "method minus that of the random-operation networks, 95 % bootstrap interval "
        "(10,000 resamples of both sides).",
        "",
        "| method | median test | random-ops median | difference (points) | 95 % interval | "
        "beats random ops |",
        "|---|---|---|---|---|---|",
    ]
    for m in (*SEARCHED, "darts-latency-wide", "all-conv3", "blackbox"):
        acc = [r["test_accuracy"] for r in rows if r["method"] == m]
        if not acc or m == "darts-latency-wide":
            continue
        d, lo, hi = bootstrap_diff(acc, rand)
        verdict = "yes" if lo > 0 else ("no (worse)" if hi < 0 else "no (interval covers 0)")
        lines.append(
            f"| {METHOD_NAMES[m]} | {100 * statistics.median(acc):.1f} % | "
            f"{100 * statistics.median(rand):.1f} % | {100 * d:+.1f} | "
            f"[{100 * lo:+.1f}, {100 * hi:+.1f}] | {verdict} |"
        )
    return lines


def black_box_reference(path: Path) -> float | None:
    """Median seconds the black-box search needed to reach 95 % test accuracy (if recorded)."""
    if not path.exists():
        return None
    try:
        runs = json.loads(path.read_text())["mnist1d"]
        times = [r.get("time_to_target_s") for r in runs]
    except (KeyError, TypeError, ValueError):
        return None
    if not times or any(t is None for t in times):
        return None
    return float(statistics.median(times))


def _cell(arch: str) -> str:
    """An architecture string as a Markdown table cell (``|`` escaped)."""
    return "`" + arch.replace("|", "\\|") + "`"


def _target_line(
    lines: list[str], darts: list[dict[str, Any]], name: str, ref: float | None
) -> None:
    if not darts:
        return

    tot = statistics.median(r["search_s"] + r["retrain_s"] for r in darts)
    acc = statistics.median(r["test_accuracy"] for r in darts)
    text = (
        f"**Target** (>= 95 % test accuracy in <= 1/3 of the black-box search's time): "
        f"first-order DARTS (`{name}`) reaches a median {100 * acc:.1f} % in a median {tot:.0f} s "
        "(search + retraining). "
    )
    if ref is not None:
        verdict = "met" if acc >= TARGET and tot <= ref / 3 else "not met"
        text += (
            f"The black-box search (`benchmarks/real_training.py`) needed a median "
            f"{ref:.0f} s to reach 95 %: ratio {tot / ref:.2f}, target {verdict}."
        )
    else:
        text += (
            "Compare with the black-box search's time to 95 % in the real-training "
            "section (run `benchmarks/real_training.py` first to have it filled in here)."
        )
    lines.append(text)


#: The retraining-recipe comparison behind ``--retrain-deadline-s`` on Fashion-MNIST
#: (validation accuracy on seed 100, never a reported seed).
RECIPES = REPO / "benchmarks" / "results" / "oneshot_fashion_mnist_recipes.json"


def recipe_note(args: argparse.Namespace) -> list[str]:
    """How the deadline run's retraining recipe was chosen (from :data:`RECIPES`), if recorded."""
    if args.task != "fashion-mnist" or args.retrain_deadline_s is None or not RECIPES.exists():
        return []
    try:
        runs = json.loads(RECIPES.read_text())["retrain"]
        parts = [
            f"{r['augment'] or 'no augmentation'} {100 * r['valid']:.2f} %"
            for r in runs
            if isinstance(r, dict)
        ]
    except (KeyError, TypeError, ValueError):
        return []
    return [
        "",
        "**Recipe choice** (validation only, seed 100, `"
        + RECIPES.relative_to(REPO).as_posix()
        + "`): the seed-100 derived network retrained for the 7 epochs this deadline leaves, "
        "validation accuracy " + ", ".join(parts) + "; the recipe without augmentation was kept.",
    ]


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, ref: float | None) -> str:
    import torch

    from metanas.evaluation.hardware import hardware_name

    torch.set_num_threads(args.threads)  # the threads the runs measured latency with
    target = TARGET if args.task == "mnist1d" else FASHION_TARGET
    lines = [
        header(
            f"One-shot search on {'MNIST-1D' if args.task == 'mnist1d' else 'Fashion-MNIST'} "
            "(DARTS, ENAS, latency-aware DARTS, baselines in the skeleton)"
            + ("" if args.section is None else f", {args.section}"),
            {
                "setting": (
                    (
                        f"`cnn` supernet, skeleton `{args.latency_skeleton}`, widths "
                        f"{args.widths} searched, "
                        if args.space == "cnn" and {r["method"] for r in rows} == {LATENCY_WIDE}
                        else "`cnn` supernet (4 blocks x 32 channels, strides 1/2/1/2, residual), "
                        if args.space == "cnn" and not args.skeleton
                        else f"`cnn` supernet, skeleton `{args.skeleton}`, "
                        if args.space == "cnn"
                        else "`nb201` supernet (16 channels, 3 stages of 1 cell), "
                    )
                    + f"{args.epochs} search epochs"
                    + (
                        ""
                        if args.search_n_train is None
                        else f" on a stratified subset of {args.search_n_train} training rows"
                    )
                    + f", retrain {args.retrain_epochs} epochs"
                    + (
                        ""
                        if args.retrain_time_s is None
                        else f" or {args.retrain_time_s:g} s of training"
                    )
                    + (
                        ""
                        if args.retrain_deadline_s is None
                        else f", searched networks' epochs fitted to what is left of "
                        f"{args.retrain_deadline_s:g} s after the search (retrain_budget_s: "
                        f"(deadline - search - {_DEADLINE_RESERVE_S:g} s) / {_DEADLINE_FACTOR:g} "
                        "of training, cosine schedule over the fitted epochs)"
                    )
                    + f" (TrainEvaluator, early stopping; {_evaluator_settings(args)}), "
                    f"{len({r['seed'] for r in rows}) or len(seeds_of(args))} seeds, "
                    f"{args.threads} torch thread(s)"
                    + (
                        ""
                        if not args.append
                        else "; runs of several invocations (--seed-list chunks) merged by "
                        "(method, seed, draw) from the --raw file, all with the same settings"
                    )
                ),
                "latency machine": hardware_name("cpu"),
            },
        ),
        f"Task: {rows[0]['data'] if rows else 'mnist1d'}. Search: weights on the training "
        "split, architecture on the validation split; the derived network is retrained from "
        "scratch and tested on the test split. Times are wall-clock seconds on a shared "
        "machine.",
        "",
        f"| method | seeds | test accuracy (median, min-max) | >= {100 * target:.0f} % | "
        "search s | "
        "retrain s | total s (median) | latency ms | limit met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    methods = [m for m in METHOD_NAMES if any(r["method"] == m for r in rows)]
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        acc = [r["test_accuracy"] for r in rs]
        tot = [r["search_s"] + r["retrain_s"] for r in rs]
        met = [r["meets_limit"] for r in rs if r["meets_limit"] is not None]
        lines.append(
            f"| {METHOD_NAMES[m]} | {len(rs)} | {100 * statistics.median(acc):.1f} % "
            f"({100 * min(acc):.1f}-{100 * max(acc):.1f}) | "
            f"{sum(a >= target for a in acc)}/{len(acc)} | "
            f"{statistics.median(r['search_s'] for r in rs):.0f} | "
            f"{statistics.median(r['retrain_s'] for r in rs):.0f} | "
            f"{statistics.median(tot):.0f} | "
            f"{statistics.median(r['latency_ms'] for r in rs):.3f} | "
            f"{f'{sum(met)}/{len(met)}' if met else '-'} |"
        )
    lines += ["", "Per run:", "", "| method | seed | architecture | test | total s | latency ms |"]
    lines.append("|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seed']} | {_cell(r['arch'])} | "
            f"{100 * r['test_accuracy']:.1f} % | "
            f"{r['search_s'] + r['retrain_s']:.0f} | {r['latency_ms']:.3f} |"
        )
    lines += baseline_lines(rows)
    lines.append("")
    if args.task == "mnist1d":
        for variant in ("darts", "darts-fast"):
            _target_line(lines, [r for r in rows if r["method"] == variant], variant, ref)
    for variant in ("darts", "darts-fast"):
        darts = [r for r in rows if r["method"] == variant]
        if args.task == "fashion-mnist" and darts:
            acc = statistics.median(r["test_accuracy"] for r in darts)
            tot = statistics.median(r["search_s"] + r["retrain_s"] for r in darts)
            load = [r["data_load_s"] for r in darts if r.get("data_load_s") is not None]
            verdict = "met" if acc >= FASHION_TARGET and tot <= FASHION_LIMIT_S else "not met"
            lines.append(
                f"**Target** (one-shot DARTS >= 91 % test accuracy within 10 minutes): "
                f"`{variant}` reaches a median {100 * acc:.1f} % in a median {tot:.0f} s "
                f"(search + retraining"
                + (
                    f"; reading the data took a further {statistics.median(load):.0f} s"
                    if load
                    else ""
                )
                + f"): {verdict}."
            )
    lines += recipe_note(args)
    lat = [r for r in rows if r["method"].startswith("darts-latency")]
    if lat:
        lines += [
            "",
            f"**Latency**: limit {args.max_latency_ms} ms (batch 1, given up front); the "
            "derived network's latency is measured after the search (median of 30 runs), "
            "with up to 2 re-derivations at a lower table target when it is over the limit. "
            "Penalty weight "
            + ", ".join(sorted({f"{r['latency_weight']:g}" for r in lat}))
            + " (a hinge: zero while the expected latency is within the limit). When the "
            "most likely network is over the limit, the derivation "
            + (
                "picks the most likely network within it (constrained search over the latency "
                "table), judging operation families (convolution, pooling, identity) by their "
                "total mass. "
                if args.derive_candidates == 1
                else f"takes the {args.derive_candidates} most likely networks within it by "
                f"operation and the {args.derive_candidates} by operation family (constrained "
                "search over the latency table), "
                + (
                    "scores each on the validation split with the supernet's weights (batch "
                    "norm recalibrated) and keeps the most accurate. "
                    if args.candidate_score == "inherited"
                    else "times each (median of 30 runs; one over the limit is dropped), "
                    "trains the others from scratch with the retraining recipe and keeps the "
                    "best by validation accuracy (its training is the reported retraining; "
                    "candidate training counts in the search time). "
                )
            )
            + f"Met in {sum(bool(r['meets_limit']) for r in lat)}/{len(lat)} runs.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHOD_NAMES))
    if unknown:
        raise SystemExit(f"Unknown method(s) {unknown}; choose from {sorted(METHOD_NAMES)}.")
    start = time.perf_counter()
    if args.load is not None:
        earlier = json.loads(args.load.read_text())
        rows, total = earlier["runs"], float(earlier["total_s"])
    else:
        old: list[dict[str, Any]] = []
        if args.append and args.raw.exists():
            old = json.loads(args.raw.read_text())["runs"]
            check_mergeable(old, methods, args)
        new: list[dict[str, Any]] = []
        for m in methods:
            if m in BASELINES:
                new += baseline_rows(m, args, merge_runs(old, new))
            else:
                new += [one_run(m, seed, args) for seed in seeds_of(args)]
        for r in new:
            r["settings"] = recipe(args)
        rows = merge_runs(old, new)
        total = time.perf_counter() - start
    print(f"all runs: {total:.0f} s", flush=True)
    ref = black_box_reference(args.reference)
    md = markdown(rows, args, ref)
    print(md)
    if not args.no_write:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps({"runs": rows, "total_s": total}, indent=1))
        section = SECTION if args.space == "cnn" else f"{SECTION}-{args.space}"
        section += "" if args.task == "mnist1d" else "-" + args.task
        write_section(args.output, args.section or section, md)


if __name__ == "__main__":
    main()
