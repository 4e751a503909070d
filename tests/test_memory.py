"""The experience memory: task histories, the own task left out, files, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import metanas
from metanas import DuplicatedStudyError, TrialState, UnknownNameError
from metanas.benchmarks import NasBenchGraph
from metanas.cli import app
from metanas.evaluation import Result
from metanas.exceptions import MetanasError
from metanas.meta import (
    FORMAT_VERSION,
    ExperienceMemory,
    MemoryFileError,
    TaskHistory,
)
from metanas.spaces import NasBenchGraphSpace

DATASETS = ("cora", "citeseer", "pubmed")
N_TRIALS = 20
runner = CliRunner()


def _task(ds: str) -> str:
    return f"nas-bench-graph/{ds}"


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the main file, so a plain file copy holds every commit."""
    con = sqlite3.connect(str(path))
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


@pytest.fixture(scope="session")
def benches() -> dict[str, NasBenchGraph]:
    return {ds: NasBenchGraph(ds) for ds in DATASETS}


@pytest.fixture(scope="session")
def base_db(tmp_path_factory: pytest.TempPathFactory, benches: dict[str, NasBenchGraph]) -> Path:
    """Evolution searches of 20 trials on cora, citeseer and pubmed, in one SQLite file."""
    path = tmp_path_factory.mktemp("memory") / "base.db"
    url = f"sqlite:///{path}"
    for ds, bench in benches.items():
        study = metanas.create_study(
            name=f"{ds}-rea", storage=url, space=bench.space, strategy="evolution", seed=0,
            metric="valid_accuracy", direction="maximize", task=_task(ds),
        )  # fmt: skip
        study.optimize(bench, n_trials=N_TRIALS)
    _checkpoint(path)
    return path


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> str:
    """A private copy of the base store (tests may write to it)."""
    path = tmp_path / "memory.db"
    shutil.copy(base_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def memory(base_db: Path) -> ExperienceMemory:
    """The base store, read only."""
    return ExperienceMemory(f"sqlite:///{base_db}")


def _snapshot(mem: ExperienceMemory, space: NasBenchGraphSpace) -> dict[str, Any]:
    """Every memory answer, as plain data (to compare two stores)."""
    out: dict[str, Any] = {"tasks": [t.to_dict() for t in mem.tasks()]}
    for name in mem.task_names():
        h = mem.history(name, space=space)
        out[name] = (h.keys, h.values.tolist(), h.counts.tolist(), h.direction, h.studies)
        out[f"{name}/best"] = [a.to_string() for a in mem.best_architectures(name, k=5)]
        out[f"{name}/for"] = sorted(mem.memory_for(name, space=space))
    return out


# ==================================================================== tasks and histories


def test_tasks_have_counts_best_values_and_descriptors(
    memory: ExperienceMemory, base_db: Path
) -> None:
    infos = {t.name: t for t in memory.tasks()}
    assert list(infos) == [_task(ds) for ds in DATASETS]
    for ds in DATASETS:
        info = infos[_task(ds)]
        study = metanas.load_study(f"{ds}-rea", storage=f"sqlite:///{base_db}")
        assert (info.n_studies, info.n_trials, info.n_complete) == (1, N_TRIALS, N_TRIALS)
        assert info.best == {"valid_accuracy": study.best_trial.value}
        assert info.directions == {"valid_accuracy": "maximize"}
        assert info.descriptors == NasBenchGraph(ds).task_descriptors()


def test_history_arrays_follow_the_documented_shape(
    memory: ExperienceMemory, benches: dict[str, NasBenchGraph], base_db: Path
) -> None:
    space = benches["cora"].space
    h = memory.history(_task("cora"), space=space)
    n = len(h)
    assert h.values.shape == (n,)
    assert h.values.dtype == np.float64
    assert h.counts.shape == (n,)
    assert h.counts.dtype == np.int64
    assert len(h.archs) == len(h.keys) == n
    assert h.counts.sum() == N_TRIALS
    assert h.keys == [space.key(a) for a in h.archs]
    assert len(set(h.keys)) == n
    # values are the table's: a look-up benchmark gives the same value on every repeat
    expected = [benches["cora"].query(a, "valid_accuracy") for a in h.archs]
    np.testing.assert_allclose(h.values, expected)
    # rows in order of first evaluation
    trials = metanas.load_study("cora-rea", storage=f"sqlite:///{base_db}").completed_trials
    firsts: list[Any] = []
    for t in trials:
        if space.key(t.arch) not in firsts:
            firsts.append(space.key(t.arch))
    assert h.keys == firsts
    assert h.studies == ("cora-rea",)
    assert h.descriptors["dataset"] == "cora"
    assert h.best_value == pytest.approx(max(expected))


def test_history_without_a_space_is_keyed_by_canonical_json(memory: ExperienceMemory) -> None:
    h = memory.history(_task("citeseer"))
    assert h.keys == [a.to_string() for a in h.archs]
    assert all(isinstance(k, str) for k in h.keys)


def test_repeats_are_averaged_and_isomorphic_encodings_merged(
    nbg_space: NasBenchGraphSpace,
) -> None:
    a = nbg_space.parse("0000|gat,gat,gat,gcn")
    b = nbg_space.parse("0000|gat,gat,gcn,gat")  # the same network
    c = nbg_space.parse("0123|gcn,gin,fc,cheb")
    assert nbg_space.key(a) == nbg_space.key(b)
    h = TaskHistory.from_evaluations(
        "t", [a, c, b, a], [0.2, 0.5, 0.4, float("nan")], space=nbg_space
    )
    assert h.archs == [a, c]
    assert h.values.tolist() == pytest.approx([0.3, 0.5])
    assert h.counts.tolist() == [2, 1]
    plain = TaskHistory.from_evaluations("t", [a, c, b], [0.2, 0.5, 0.4])
    assert len(plain) == 3  # without a space, two encodings are two rows


def test_repeated_trials_of_one_task_are_averaged_in_the_store(
    db: str, small_space: metanas.SearchSpace
) -> None:
    calls = iter([1.0, 3.0, 5.0])
    arch = metanas.Architecture({"depth": 1, "act": "relu", "dropout": 0.0, "norm": True})
    study = metanas.create_study(space=small_space, storage=db, name="rep", task="rep", seed=0)
    for _ in range(2):
        study.enqueue(arch)
    study.optimize(lambda _a: next(calls), n_trials=2)
    other = metanas.create_study(space=small_space, storage=db, name="rep2", task="rep", seed=1)
    other.enqueue(arch)
    other.optimize(lambda _a: next(calls), n_trials=1)
    h = ExperienceMemory(db).history("rep")
    assert (h.values.tolist(), h.counts.tolist(), h.studies) == ([3.0], [3], ("rep", "rep2"))
    h = ExperienceMemory(db).history("rep", exclude_study="rep2")
    assert (h.values.tolist(), h.counts.tolist()) == ([2.0], [2])


def test_failed_trials_and_missing_metrics_are_left_out(
    db: str, small_space: metanas.SearchSpace
) -> None:
    def fn(arch: metanas.Architecture) -> Result:
        if arch["depth"] == 1:
            raise RuntimeError("out of memory")
        return Result(metrics={"valid_accuracy": float(arch["depth"])})

    study = metanas.create_study(space=small_space, storage=db, name="f", task="f", seed=0)
    study.optimize(fn, n_trials=12)
    n_failed = sum(t.state is TrialState.FAILED for t in study.trials)
    assert n_failed > 0
    h = ExperienceMemory(db).history("f")
    assert h.counts.sum() == 12 - n_failed
    assert all(a["depth"] != 1 for a in h.archs)


def test_history_errors_name_the_fix(memory: ExperienceMemory) -> None:
    with pytest.raises(
        UnknownNameError, match=r"Unknown task 'nas-bench-graph/coar'\. Did you mean"
    ):
        memory.history("nas-bench-graph/coar")
    with pytest.raises(
        UnknownNameError, match=r"reports metric 'valid_acc'\. Did you mean 'valid_accuracy'"
    ):
        memory.history(_task("cora"), "valid_acc")
    with pytest.raises(UnknownNameError, match=r"reports metric 'test_accuracy'"):
        memory.history(_task("cora"), "test_accuracy")  # test metrics are never read
    with pytest.raises(ValueError, match=r"No stored study optimises 'latency'.*direction="):
        memory.history(_task("cora"), "latency")
    with pytest.raises(ValueError, match=r"k must be an int >= 1; got 0"):
        memory.best_architectures(_task("cora"), k=0)
    with pytest.raises(ValueError, match=r"direction must be 'maximize' or 'minimize'; got 'up'"):
        memory.history(_task("cora"), direction="up")


def test_best_architectures_by_any_metric_and_direction(
    memory: ExperienceMemory, benches: dict[str, NasBenchGraph]
) -> None:
    bench = benches["pubmed"]
    best = memory.best_architectures(_task("pubmed"), k=3)
    h = memory.history(_task("pubmed"))
    assert [bench.query(a, "valid_accuracy") for a in best] == sorted(h.values, reverse=True)[:3]
    fast = memory.best_architectures(_task("pubmed"), k=2, metric="latency", direction="minimize")
    lat = memory.history(_task("pubmed"), "latency", direction="min")
    assert [bench.query(a, "latency") for a in fast] == sorted(lat.values)[:2]


# ==================================================================== memory_for


def test_memory_for_always_leaves_the_own_task_out(memory: ExperienceMemory) -> None:
    for ds in DATASETS:
        others = memory.memory_for(_task(ds))
        assert sorted(others) == sorted(_task(o) for o in DATASETS if o != ds)
        assert _task(ds) not in others
    assert list(memory.memory_for(_task("cora"), exclude=[_task("pubmed")])) == [_task("citeseer")]
    # a task not stored yet learns from every stored task
    assert list(memory.memory_for("nas-bench-graph/photo")) == [_task(d) for d in DATASETS]
    # the own task is left out even when asked to include nothing else
    assert _task("cora") not in memory.memory_for(_task("cora"), exclude=())


def test_memory_for_keeps_only_architectures_of_the_space(
    db: str, small_space: metanas.SearchSpace, nbg_space: NasBenchGraphSpace
) -> None:
    study = metanas.create_study(space=small_space, storage=db, name="toy", task="toy", seed=0)
    study.optimize(lambda a: float(a["depth"]), n_trials=5)
    mem = ExperienceMemory(db)
    assert "toy" in mem.memory_for(_task("cora"))
    graph_only = mem.memory_for(_task("cora"), space=nbg_space)
    assert sorted(graph_only) == [_task("citeseer"), _task("pubmed")]
    assert "toy" not in mem.memory_for(_task("cora"), min_evaluations=N_TRIALS + 1)


def test_memory_survives_a_new_storage_object(base_db: Path, nbg_space: NasBenchGraphSpace) -> None:
    url = f"sqlite:///{base_db}"
    first = _snapshot(ExperienceMemory(url), nbg_space)
    second = _snapshot(ExperienceMemory(metanas.RDBStorage(url)), nbg_space)
    assert first == second


@pytest.mark.slow
def test_memory_survives_a_process_restart(base_db: Path, tmp_path: Path) -> None:
    """A fresh interpreter reading the default store ($METANAS_STORAGE) sees the same memory."""
    url = f"sqlite:///{base_db}"
    code = (
        "import json\n"
        "from metanas.meta import ExperienceMemory\n"
        "from metanas.spaces import NasBenchGraphSpace\n"
        "m = ExperienceMemory()\n"
        "h = m.history('nas-bench-graph/cora', space=NasBenchGraphSpace())\n"
        "print(json.dumps({'tasks': [t.to_dict() for t in m.tasks()],\n"
        "                  'values': h.values.tolist(), 'keys': h.keys,\n"
        "                  'for': sorted(m.memory_for('nas-bench-graph/cora'))}))\n"
    )
    env = {**os.environ, "METANAS_STORAGE": url}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        cwd=tmp_path, check=True,
    )  # fmt: skip
    got = json.loads(out.stdout)
    mem = ExperienceMemory(url)
    h = mem.history(_task("cora"), space=NasBenchGraphSpace())
    assert got["tasks"] == [t.to_dict() for t in mem.tasks()]
    assert got["values"] == h.values.tolist()
    assert got["keys"] == h.keys
    assert got["for"] == [_task("citeseer"), _task("pubmed")]


# ==================================================================== descriptors


def test_set_descriptors_merges_replaces_and_removes(db: str) -> None:
    mem = ExperienceMemory(db)
    task = _task("cora")
    got = mem.set_descriptors(task, {"n_nodes": 1000, "n_classes": 3, "modality": "graph"})
    assert got == {
        **NasBenchGraph("cora").task_descriptors(), "n_nodes": 1000, "n_classes": 3,
        "modality": "graph",
    }  # fmt: skip
    assert "homophily" not in mem.set_descriptors(task, {"homophily": None})
    assert "homophily" not in mem.descriptors(task)
    assert mem.set_descriptors(task, {"n_nodes": 1}, replace=True) == {"n_nodes": 1}
    assert ExperienceMemory(metanas.RDBStorage(db)).descriptors(task) == {"n_nodes": 1}
    assert mem.history(task).descriptors == {"n_nodes": 1}


def test_set_descriptors_errors(db: str) -> None:
    mem = ExperienceMemory(db)
    with pytest.raises(TypeError, match=r"Descriptor 'shape' must be a number, a string"):
        mem.set_descriptors(_task("cora"), {"shape": [1, 2]})
    with pytest.raises(ValueError, match=r"Descriptor 'x' must be finite; got nan"):
        mem.set_descriptors(_task("cora"), {"x": float("nan")})
    with pytest.raises(UnknownNameError, match=r"Unknown task 'nope'"):
        mem.set_descriptors("nope", {"x": 1})


# ==================================================================== export / import


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_export_import_round_trip_gives_identical_answers(
    memory: ExperienceMemory, tmp_path: Path, nbg_space: NasBenchGraphSpace, suffix: str
) -> None:
    path = tmp_path / f"memory{suffix}"
    summary = memory.export(path)
    assert (summary.n_tasks, summary.n_studies, summary.n_trials) == (3, 3, 3 * N_TRIALS)
    assert summary.version == FORMAT_VERSION == 1
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" if suffix.endswith(".gz") else raw[:1] == b"{"
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    report = ExperienceMemory.import_file(path, into=target)
    assert report.imported == [f"{ds}-rea" for ds in DATASETS]
    assert (report.skipped, report.renamed, report.n_trials) == ([], {}, 3 * N_TRIALS)
    assert _snapshot(ExperienceMemory(target), nbg_space) == _snapshot(memory, nbg_space)
    # the studies themselves came across: same trials, resumable
    old = metanas.load_study("cora-rea", storage=memory.storage)
    new = metanas.load_study("cora-rea", storage=target)
    fields = ("number", "state", "arch", "metrics", "test_metrics", "values", "seed", "finished_at")
    for a, b in zip(old.trials, new.trials, strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert (new.seed, new.objectives, new.strategy.registered_name) == (
        0,
        old.objectives,
        "evolution",
    )
    new.optimize(NasBenchGraph("cora"), n_trials=2)
    assert len(new.trials) == N_TRIALS + 2


def test_import_twice_adds_nothing(memory: ExperienceMemory, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    memory.export(path)
    target = ExperienceMemory(f"sqlite:///{tmp_path / 'fresh.db'}")
    target.import_(path)
    before = [t.to_dict() for t in target.tasks()]
    again = target.import_(path)
    assert again.imported == []
    assert again.n_trials == 0
    assert again.skipped == [f"{ds}-rea" for ds in DATASETS]
    assert [t.to_dict() for t in target.tasks()] == before


def test_rename_policy_is_idempotent_too(memory: ExperienceMemory, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    memory.export(path, tasks=[_task("cora")])
    target = ExperienceMemory(f"sqlite:///{tmp_path / 'fresh.db'}")
    target.import_(path)
    first = target.import_(path, on_conflict="rename")
    (new_name,) = first.imported
    assert new_name.startswith("cora-rea@")
    assert len(new_name) == len("cora-rea@") + 8
    assert first.renamed == {"cora-rea": new_name}
    second = target.import_(path, on_conflict="rename")
    assert (second.imported, second.skipped) == ([], ["cora-rea"])
    info = next(t for t in target.tasks() if t.name == _task("cora"))
    assert (info.n_studies, info.n_trials) == (2, 2 * N_TRIALS)
    with pytest.raises(
        DuplicatedStudyError, match=r"Study 'cora-rea' of memory file .* on_conflict"
    ):
        target.import_(path, on_conflict="error")
    with pytest.raises(ValueError, match=r"on_conflict must be one of"):
        target.import_(path, on_conflict="merge")  # type: ignore[arg-type]


def test_skipping_a_name_held_by_another_task_warns(
    memory: ExperienceMemory, tmp_path: Path, small_space: metanas.SearchSpace
) -> None:
    path = tmp_path / "m.json"
    memory.export(path, tasks=[_task("cora")])
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    metanas.create_study(space=small_space, storage=target, name="cora-rea", task="other")
    with pytest.warns(UserWarning, match=r"'cora-rea' .* already holds task 'other'.*rename"):
        report = ExperienceMemory.import_file(path, into=target)
    assert report.skipped == ["cora-rea"]


def test_import_fills_in_descriptors_and_keeps_stored_ones(
    memory: ExperienceMemory, tmp_path: Path
) -> None:
    path = tmp_path / "m.json"
    memory.export(path, tasks=[_task("cora")])
    target = ExperienceMemory(f"sqlite:///{tmp_path / 'fresh.db'}")
    target.storage.get_or_create_task(_task("cora"), {"dataset": "mine", "n_nodes": 1})
    target.import_(path)
    # The file's descriptors fill in what is missing; the stored ones are kept.
    assert target.descriptors(_task("cora")) == {
        **NasBenchGraph("cora").task_descriptors(), "dataset": "mine", "n_nodes": 1,
    }  # fmt: skip


def test_export_of_some_tasks(memory: ExperienceMemory, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    summary = memory.export(path, tasks=[_task("pubmed"), _task("cora")])
    doc = json.loads(path.read_text())
    assert [t["name"] for t in doc["tasks"]] == [_task("cora"), _task("pubmed")]
    assert (doc["format"], doc["version"], summary.n_studies) == ("metanas-memory", 1, 2)
    trial = doc["tasks"][0]["studies"][0]["trials"][0]
    assert json.loads(trial["arch"]) == metanas.Architecture.from_json(trial["arch"]).to_dict()
    assert set(trial) >= {"number", "state", "arch", "metrics", "test_metrics", "values", "seed"}
    with pytest.raises(UnknownNameError, match=r"Unknown task 'nas-bench-graph/cor'"):
        memory.export(path, tasks=["nas-bench-graph/cor"])


def _valid_doc(memory: ExperienceMemory, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "good.json"
    memory.export(path, tasks=[_task("cora")])
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _trial0(doc: dict[str, Any]) -> dict[str, Any]:
    trial: dict[str, Any] = doc["tasks"][0]["studies"][0]["trials"][0]
    return trial


BAD_DOCS = [
    ("top-list", lambda d: [d], r"expected a JSON object at the top, got a list"),
    ("format", lambda d: {**d, "format": "optuna"}, r"not a metanas memory file"),
    ("newer", lambda d: {**d, "version": 2}, r"format version 2, newer than .*Upgrade metanas"),
    ("version-type", lambda d: {**d, "version": "1"}, r"at version: expected an int >= 1"),
    ("no-tasks", lambda d: {k: v for k, v in d.items() if k != "tasks"}, r"key 'tasks' is missing"),
    (
        "arch-type",
        lambda d: _trial0(d).update(arch=12) or d,
        r"tasks\[0\]\.studies\[0\]\.trials\[0\]\.arch: expected the architecture's canonical JSON",
    ),
    (
        "arch-text",
        lambda d: _trial0(d).update(arch="{oops") or d,
        r"trials\[0\]\.arch: Cannot read an architecture from '\{oops'",
    ),
    (
        "state",
        lambda d: _trial0(d).update(state="running") or d,
        r"expected 'complete' or 'failed'",
    ),
    (
        "values",
        lambda d: _trial0(d).update(values=None) or d,
        r"trials\[0\]\.values: a complete trial needs 1 finite objective value",
    ),
    (
        "metric-type",
        lambda d: _trial0(d)["metrics"].update(valid_accuracy="high") or d,
        r"metrics\.valid_accuracy: expected a number or null, got a string",
    ),
    (
        "seed-bool",
        lambda d: d["tasks"][0]["studies"][0].update(seed=True) or d,
        r"studies\[0\]\.seed: expected an int seed, got a boolean",
    ),
    (
        "duplicate-study",
        lambda d: d["tasks"][0]["studies"].append(d["tasks"][0]["studies"][0]) or d,
        r"study 'cora-rea' appears twice",
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "match"), BAD_DOCS, ids=[c[0] for c in BAD_DOCS])
def test_bad_files_give_one_clear_error_and_write_nothing(
    memory: ExperienceMemory, tmp_path: Path, case: str, corrupt: Any, match: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(corrupt(_valid_doc(memory, tmp_path))))
    target = tmp_path / "fresh.db"
    with pytest.raises(MemoryFileError, match=match) as info:
        ExperienceMemory.import_file(path, into=f"sqlite:///{target}")
    message = str(info.value)
    assert "\n" not in message
    assert "bad.json" in message
    assert not target.exists()  # checked before the store is even opened


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"not JSON \(Expecting value at line 1 column 1\)"),
        (b"trial,value\n1,2\n", r"not JSON"),
        (b"\xff\xfe\x00", r"not JSON text \(not UTF-8\)"),
        (b"\x1f\x8b\x08\x00garbage", r"the gzip data is damaged"),
        (
            gzip.compress(b'{"format": "metanas-memory"}', mtime=0),
            r"at version: expected an int >= 1",
        ),
    ],
    ids=["empty", "csv", "binary", "bad-gzip", "gzip-no-version"],
)
def test_unreadable_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.json.gz"
    path.write_bytes(content)
    with pytest.raises(MemoryFileError, match=match):
        ExperienceMemory.import_file(path, into="sqlite://")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MemoryFileError, match=r"'.*nothere\.json': no such file\. Check the path"):
        ExperienceMemory.import_file(tmp_path / "nothere.json", into="sqlite://")


def test_unwritable_export_path(memory: ExperienceMemory, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MemoryFileError, match=r"Cannot write memory file .*file/sub/m\.json"):
        memory.export(blocker / "sub" / "m.json")


# ==================================================================== CLI


def test_cli_memory_list(base_db: Path) -> None:
    url = f"sqlite:///{base_db}"
    result = runner.invoke(app, ["memory", "list", "--storage", url])
    assert result.exit_code == 0, result.output
    for ds in DATASETS:
        assert _task(ds) in result.stdout
    assert "max valid_accuracy" in result.stdout
    result = runner.invoke(app, ["memory", "list", "--storage", url, "--json"])
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == [_task(ds) for ds in DATASETS]
    assert records[0]["n_trials"] == N_TRIALS
    assert records[0]["n_studies"] == 1
    assert set(records[0]["best"]) == {"valid_accuracy"}


def test_cli_memory_list_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    result = runner.invoke(app, ["memory", "list", "--storage", f"sqlite:///{path}"])
    assert result.exit_code == 0
    assert "No tasks" in result.stdout
    assert not path.exists()


def test_cli_memory_export_and_import(base_db: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{base_db}"
    path = tmp_path / "m.json.gz"
    args = ["memory", "export", str(path), "--storage", url, "--task", _task("cora")]
    result = runner.invoke(app, [*args, "--task", _task("citeseer")])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 task(s), 2 stud(ies) and 40 trial(s)" in result.stderr
    assert "memory format version 1" in result.stderr
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = runner.invoke(app, ["memory", "import", str(path), "--storage", target, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["imported"] == ["cora-rea", "citeseer-rea"]
    assert report["n_trials"] == 40
    result = runner.invoke(app, ["memory", "import", str(path), "--storage", target])
    assert result.exit_code == 0
    assert "Imported 0 stud(ies)" in result.stderr
    assert "Skipped 2 stud(ies)" in result.stderr
    result = runner.invoke(
        app, ["memory", "import", str(path), "--storage", target, "--on-conflict", "error"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Study 'cora-rea' of memory file")


def test_cli_memory_errors_exit_2_with_one_line(tmp_path: Path, base_db: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "metanas-memory", "version": 7, "tasks": []}')
    result = runner.invoke(app, ["memory", "import", str(bad), "--storage", "sqlite://"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: Cannot import memory file")
    assert "version 7" in result.stderr
    assert "Upgrade metanas" in result.stderr
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    result = runner.invoke(
        app, ["memory", "export", str(tmp_path / "x.json"), "--storage", missing]
    )
    assert result.exit_code == 2
    assert "does not exist: nothing to export" in result.stderr
    url = f"sqlite:///{base_db}"
    result = runner.invoke(
        app, ["memory", "export", str(tmp_path / "x.json"), "--storage", url, "-t", "cora"]
    )
    assert result.exit_code == 2
    assert "Unknown task 'cora'" in result.stderr


# ================================================================= bad memory URLs


def test_a_bad_memory_url_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"storage must be an SQLAlchemy URL such as"):
        ExperienceMemory("not a url")
    with pytest.raises(MetanasError, match=r"Cannot open storage 'postgresql\+nodriver"):
        ExperienceMemory("postgresql+nodriver://x/y")


def test_a_meta_study_with_a_missing_memory_file_says_so(tmp_path: Path) -> None:
    """A memory is read, not created: a typo in its path must not search cold silently."""
    import metanas.strategies.meta

    missing = f"sqlite:///{tmp_path / 'no-such-memory.db'}"
    with pytest.raises(ValueError, match=r"memory 'sqlite:///.*no-such-memory.db' does not exist"):
        metanas.create_study(
            name="m", storage=f"sqlite:///{tmp_path / 'runs.db'}", space=NasBenchGraphSpace(),
            strategy="meta", task="t", memory=missing,
        )  # fmt: skip
    assert not (tmp_path / "no-such-memory.db").exists()
