"""Shared fixtures of the metanas test suite.

Nothing here writes to the user's store: the whole session points
``METANAS_STORAGE`` (and ``XDG_DATA_HOME``) at a temporary directory, so a test
that forgets ``storage=`` still cannot touch ``~/.local/share/metanas``.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import metanas
from metanas._rng import derive_seed
from metanas.benchmarks import NasBenchGraph
from metanas.evaluation import Evaluator, FunctionEvaluator, Result
from metanas.meta import TaskHistory
from metanas.spaces import NasBenchGraphSpace, NB201Space, SearchSpace
from metanas.storage import rdb
from metanas.strategies import Observation, Strategy

_COUNTER = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the default store at a temporary file for the whole session."""
    home = tmp_path_factory.mktemp("metanas-home")
    old = {k: os.environ.get(k) for k in ("METANAS_STORAGE", "XDG_DATA_HOME")}
    os.environ["METANAS_STORAGE"] = f"sqlite:///{home / 'default.db'}"
    os.environ["XDG_DATA_HOME"] = str(home / "xdg")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# ---------------------------------------------------------------- names, storages
@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    """A study name unique in this process (in-memory storages are shared per process)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"{base}-{os.getpid()}-{next(_COUNTER)}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    """A fresh SQLite file URL."""
    return f"sqlite:///{db_path}"


POSTGRES_ENV = "METANAS_TEST_POSTGRES_URL"
_NO_SERVER = (
    f"{POSTGRES_ENV} is not set: start a throwaway server with "
    '`eval "$(.ci/postgres.sh start)"` (see docs/distributed.md) to run the PostgreSQL tests'
)


def postgres_admin_url() -> str:
    """The server URL of ``METANAS_TEST_POSTGRES_URL``; the test is skipped without one."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(_NO_SERVER)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped (with its connections) after the test."""
    admin_url = postgres_admin_url()
    name = f"metanas_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
        yield url
        engine = rdb._ENGINES.pop(url, None)
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def read_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows read through a raw sqlite3 connection (independent of metanas' engine)."""
    con = sqlite3.connect(str(path), timeout=30)
    try:
        return list(con.execute(sql, params).fetchall())
    finally:
        con.close()


@pytest.fixture
def raw_rows() -> Callable[..., list[tuple[Any, ...]]]:
    return read_rows


# ---------------------------------------------------------------- spaces, benchmarks
def nb201_cells(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct NAS-Bench-201 cells in the space's notation, in sampling order."""
    space = NB201Space()
    rng = np.random.default_rng(seed)
    cells: list[str] = []
    while len(cells) < n:
        text = space.format(space.sample(rng))
        if text not in cells:
            cells.append(text)
    return cells


def make_small_space() -> SearchSpace:
    """A 3 x 3 x 2 x 2 = 36 architecture dict space with int, str, float and bool choices."""
    return SearchSpace(
        {
            "depth": [1, 2, 3],
            "act": ["relu", "gelu", "tanh"],
            "dropout": [0.0, 0.5],
            "norm": [True, False],
        }
    )


@pytest.fixture
def small_space() -> SearchSpace:
    return make_small_space()


@pytest.fixture(scope="session")
def cora() -> NasBenchGraph:
    return NasBenchGraph("cora")


@pytest.fixture(scope="session")
def nb201() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="session")
def nbg_space() -> NasBenchGraphSpace:
    return NasBenchGraphSpace()


class SyntheticEvaluator(Evaluator):
    """A deterministic, smooth-ish score for any space: a fixed linear function of the one-hot."""

    def __init__(self, space: SearchSpace, seed: int = 0, metric: str = "valid_accuracy") -> None:
        self.space = space
        self.metric = metric
        self._w = np.random.default_rng(seed).normal(size=space.encoding_size)
        self.task_name = None

    def score(self, arch: metanas.Architecture) -> float:
        return float(self.space.encode(arch) @ self._w)

    def evaluate(self, arch: metanas.Architecture, *, budget: float | None = None) -> Result:
        return Result(metrics={self.metric: self.score(arch)})


def evaluator_for(space: SearchSpace) -> Evaluator:
    """The real table for the NAS-Bench-Graph space, a synthetic score elsewhere."""
    if isinstance(space, NasBenchGraphSpace) and not space.proteins:
        return NasBenchGraph("cora")
    return SyntheticEvaluator(space)


def table_history(
    dataset: str,
    n: int,
    seed: int,
    *,
    space: SearchSpace | None = None,
    name: str | None = None,
    descriptors: bool = True,
) -> TaskHistory:
    """``n`` distinct random architectures of a NAS-Bench-Graph table as a past task's history.

    Named ``nas-bench-graph/<dataset>`` unless ``name`` is given; with the
    benchmark's task descriptors unless ``descriptors=False``. ``space`` (default:
    the table's) draws the architectures.
    """
    bench = NasBenchGraph(dataset)
    space = bench.space if space is None else space
    rng = np.random.default_rng(seed)
    archs: list[metanas.Architecture] = []
    keys: set[object] = set()
    while len(archs) < n:
        a = space.sample(rng)
        if space.key(a) not in keys:
            keys.add(space.key(a))
            archs.append(a)
    values = [bench.query(a, "valid_accuracy") for a in archs]
    return TaskHistory.from_evaluations(
        name or f"nas-bench-graph/{dataset}", archs, values, space=space,
        descriptors=bench.task_descriptors() if descriptors else None,
    )  # fmt: skip


def drive(
    strategy: Strategy,
    evaluator: Evaluator,
    n: int,
    *,
    seed: int,
    start: int = 0,
    metric: str = "valid_accuracy",
    fail: Callable[[int], bool] = lambda _: False,
) -> list[tuple[metanas.Architecture, float | None]]:
    """Ask/tell by hand exactly as a Study does: reseed with (seed, trial number) before each ask.

    ``fail(number)`` True makes that observation a failure (score None).
    """
    out: list[tuple[metanas.Architecture, float | None]] = []
    for number in range(start, start + n):
        strategy.reseed(derive_seed(seed, number))
        arch = strategy.ask()
        result = evaluator.evaluate(arch)
        score = None if fail(number) else float(result.metrics[metric])
        strategy.tell(
            Observation(
                arch=arch,
                score=score,
                scores=None if score is None else (score,),
                metrics=dict(result.metrics),
                number=number,
            )
        )
        out.append((arch, score))
    return out


@pytest.fixture
def drive_strategy() -> Callable[..., list[tuple[metanas.Architecture, float | None]]]:
    return drive


@pytest.fixture
def constant_evaluator() -> FunctionEvaluator:
    return FunctionEvaluator(lambda arch: 0.5, metric="valid_accuracy")
