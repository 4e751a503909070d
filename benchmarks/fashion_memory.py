"""A memory of related image tasks for the Fashion-MNIST meta arm (issues #15 and #18).

``benchmarks/multifidelity_real.py --memory-storage URL`` gives its ``asha+meta@5`` arm the
studies this script stores: real searches, in the same ``cnn`` space and with the same trainer
settings as the Fashion-MNIST search (bfloat16, 15 epochs, networks over 10 forward MFLOPs
rejected), of other Fashion-MNIST classification tasks made from class subsets:

* ``tops``: T-shirt/top, pullover, coat, shirt (the four classes the 10-class task confuses);
* ``others``: trouser, dress, sandal, sneaker, bag, ankle boot.

Each task draws ``--n-train`` images of its classes from Fashion-MNIST's training file (a
quarter of the full task's training images by default, so a training costs about a quarter),
and is searched by full-fidelity ``bo`` for ``--minutes`` on 2 workers. These are other tasks:
other label sets, which a user who searched sub-problems of a catalogue before would have
stored. Their images come from the same training file, so some of them are among the images
the 10-class search validates on; none is from the test file's images the reported accuracy
is measured on (the memory's own test splits are measured and never used).

Two memories are stored. ``benchmarks/results/fashion_memory.db``: this script's defaults
(10-MFLOP cap, 11 minutes a task; 9 networks each). ``benchmarks/results/fashion_memory_cap25.db``
(``--max-mflops 25 --minutes 14``; 9 networks each, best validation accuracy 85.7 % on the
tops and 97.7 % on the others): the memory of ``multifidelity_real.py``'s Fashion-MNIST
``asha+meta@5``, which searches under the same 25-MFLOP cap. Both tasks' searches take the same
``--seed``, so ``bo``'s random first proposals are the same networks on both: the memory holds
two measurements of each (one per task), not 18 different networks.

    python benchmarks/fashion_memory.py                   # about 23 min on 2 cores
    python benchmarks/fashion_memory.py --minutes 0.5 --n-train 1000 \
        --storage sqlite:////tmp/fm.db                    # a smoke test

A study already stored is continued (``load_if_exists``), so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO
from multifidelity_real import TASKS

#: The Fashion-MNIST search's trainer settings (precision, FLOPs cap), so the memory's
#: searches train as it does.
FASHION = TASKS["fashion-mnist"]

#: Memory task -> Fashion-MNIST class codes (see metanas.tasks._fashion.FASHION_CLASSES).
MEMORY_TASKS: dict[str, tuple[int, ...]] = {
    "tops": (0, 2, 4, 6),
    "others": (1, 3, 5, 7, 8, 9),
}
DEFAULT_STORAGE = f"sqlite:///{REPO / 'benchmarks' / 'results' / 'fashion_memory.db'}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--storage", default=DEFAULT_STORAGE, help="where the studies are stored")
    p.add_argument("--tasks", default=",".join(MEMORY_TASKS), help="comma-separated")
    p.add_argument("--minutes", type=float, default=11.0, help="wall time per task (11)")
    p.add_argument("--n-train", type=int, default=12000, help="images per task (12000)")
    p.add_argument("--max-epochs", type=int, default=15)
    p.add_argument(
        "--max-mflops", type=float, default=FASHION["max_mflops"],
        help=f"networks over this many forward MFLOPs fail ({FASHION['max_mflops']:g}, as the "
        "Fashion-MNIST search)",
    )  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in args.tasks:
        if t not in MEMORY_TASKS:
            p.error(f"unknown memory task {t!r}; choose from {', '.join(MEMORY_TASKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import metanas
    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    for name in args.tasks:
        task = load_task(
            "fashion-mnist", seed=args.seed, classes=MEMORY_TASKS[name], n_train=args.n_train
        )
        space = metanas.spaces.create_space("cnn")
        ev = TrainEvaluator(
            task, space, seed=args.seed, max_epochs=args.max_epochs, patience=None, threads=1,
            record_curve="valid", precision=FASHION["precision"],
            max_flops=int(args.max_mflops * 1e6),
        )  # fmt: skip
        study = metanas.create_study(
            space=space, storage=args.storage, name=f"fashion-memory-{name}", strategy="bo",
            seed=args.seed, task=task.name, load_if_exists=True,
        )  # fmt: skip
        start = time.perf_counter()
        study.optimize(ev, timeout_s=args.minutes * 60.0, n_jobs=args.n_jobs, in_flight="cancel")
        done = [t for t in study.trials if t.state is metanas.TrialState.COMPLETE]
        best = max((float(t.metrics["valid_accuracy"]) for t in done), default=float("nan"))
        print(
            f"{task.name}: {len(done)} trained, best validation accuracy {best:.4f}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
