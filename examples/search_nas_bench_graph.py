"""Compare two strategies on one NAS-Bench-Graph data set and report test regret honestly.

Run: python examples/search_nas_bench_graph.py [dataset]
"""

from __future__ import annotations

import sys

import metanas


def main(dataset: str = "citeseer", n_trials: int = 60) -> dict[str, float]:
    bench = metanas.benchmarks.NasBenchGraph(dataset)
    best_valid = bench.optimum("valid_accuracy")
    best_test = bench.optimum("test_accuracy")
    out = {}
    for strategy in ("random", "evolution"):
        study = metanas.create_study(
            space=bench.space,
            storage="sqlite://",  # in memory: an example should not fill the user's store
            strategy=strategy,
            seed=0,
            task=bench.task_name,
        )
        study.optimize(bench, n_trials=n_trials)
        best = study.best_trial  # chosen on validation accuracy
        out[strategy] = best_test - best.test_metrics["test_accuracy"]
        print(
            f"{strategy:>10}: {bench.space.format(best.arch):28s} "
            f"valid regret {best_valid - best.value:.4f}  test regret {out[strategy]:.4f}"
        )
    return out


if __name__ == "__main__":
    main(*sys.argv[1:2])
