"""Partial tables: the benchmark searches only the architectures the table can answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metanas
from metanas.spaces import NB201Space, TableSpace


@pytest.fixture(scope="module")
def partial_table() -> metanas.benchmarks.TabularBenchmark:
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = sorted({space.format(space.sample(rng)) for _ in range(150)})
    # A synthetic score with a single best row: the data is for the search machinery.
    acc = [0.5 + 0.4 * (a.count("nor_conv_3x3") / 6) + 0.001 * (i % 7) for i, a in enumerate(archs)]
    return metanas.benchmarks.TabularBenchmark.from_dataframe(
        pd.DataFrame({"arch": archs, "acc": acc}), space=space, metrics=["acc"], name="part"
    )


def test_partial_table_gets_a_table_space(
    partial_table: metanas.benchmarks.TabularBenchmark,
) -> None:
    space = partial_table.space
    assert isinstance(space, TableSpace)
    assert space.size == len(partial_table) == space.n_unique
    listed = {space.key(a) for a in space.enumerate()}
    rng = np.random.default_rng(1)
    for _ in range(200):
        assert space.key(space.sample(rng)) in listed
    arch = space.sample(rng)
    for n in space.neighbours(arch):
        assert space.key(n) in listed
        assert n != arch
    assert space.key(space.mutate(arch, rng)) in listed


def test_complete_tables_keep_their_space() -> None:
    bench = metanas.benchmarks.NasBenchGraph("proteins")  # complete: 2,021 of 2,021 networks
    assert not isinstance(bench.space, TableSpace)
    df = bench.to_dataframe()
    again = metanas.benchmarks.TabularBenchmark.from_dataframe(
        df, space=metanas.spaces.NasBenchGraphSpace(proteins=True), metrics=["valid_accuracy"]
    )
    assert not isinstance(again.space, TableSpace)


def test_validate_names_the_table(partial_table: metanas.benchmarks.TabularBenchmark) -> None:
    space = partial_table.space
    listed = {space.key(a) for a in space.enumerate()}
    outside = next(a for a in NB201Space().enumerate() if a not in listed)
    with pytest.raises(
        metanas.InvalidArchitectureError, match=r"not one of the \d+ architectures of table 'part'"
    ):
        space.validate(outside)
    assert not space.is_valid(outside)


@pytest.mark.parametrize("strategy", ["random", "evolution", "local", "tpe"])
def test_every_trial_is_answered_by_the_table(
    partial_table: metanas.benchmarks.TabularBenchmark, strategy: str
) -> None:
    study = metanas.create_study(
        space=partial_table.space, strategy=strategy, metric="acc", storage="sqlite://", seed=2
    )
    study.optimize(partial_table, n_trials=40)
    assert len(study.completed_trials) == 40
    if strategy != "tpe":  # Optuna's TPE may repeat itself; metanas' strategies do not
        assert len({partial_table.space.key(t.arch) for t in study.trials}) == 40


def test_a_table_study_resumes_with_the_table_space(
    partial_table: metanas.benchmarks.TabularBenchmark, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path / 'table.db'}"
    study = metanas.create_study(
        name="tbl",
        space=partial_table.space,
        strategy="evolution",
        metric="acc",
        storage=url,
        seed=0,
    )
    study.optimize(partial_table, n_trials=10)
    with pytest.raises(ValueError, match=r"Pass space=table\.space"):
        metanas.load_study("tbl", storage=url)
    with pytest.raises(ValueError, match="differs from the one study 'tbl'"):
        metanas.load_study("tbl", storage=url, space=metanas.spaces.NasBenchGraphSpace())
    again = metanas.load_study("tbl", storage=url, space=partial_table.space)
    again.optimize(partial_table, n_trials=10)
    assert [t.state for t in again.trials].count(metanas.TrialState.COMPLETE) == 20
