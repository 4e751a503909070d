"""benchmarks/oneshot.py: seed lists merged by (method, seed), the retraining deadline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import oneshot as ob

SKELETON = '{"stride_1": 2, "stride_2": 2, "stride_3": 1, "stride_4": 1}'
#: A subset search of one epoch on 400 rows (the tests swap in a small task).
SUBSET = ["--task", "fashion-mnist", "--search-n-train", "400", "--epochs", "1", "--skeleton",
          SKELETON, "--threads", "1"]  # fmt: skip


def test_parse_seeds_and_seed_list() -> None:
    assert ob.parse_seeds("0-2") == [0, 1, 2]
    assert ob.parse_seeds("2, 0,0") == [0, 2]
    for bad in ("x", "3-1", ",", "1-y"):
        with pytest.raises(ValueError, match="--seed-list"):
            ob.parse_seeds(bad)
    assert ob.seeds_of(ob.parse_args(["--seeds", "2"])) == [0, 1]
    assert ob.seeds_of(ob.parse_args(["--seed-list", "1-2,5"])) == [1, 2, 5]
    with pytest.raises(SystemExit):
        ob.parse_args(["--seed-list", "2-1"])


def test_deadline_needs_the_subset_search_and_leaves_the_rest_to_retraining() -> None:
    with pytest.raises(SystemExit):
        ob.parse_args(["--retrain-deadline-s", "570"])  # run_oneshot has no deadline
    with pytest.raises(SystemExit):
        ob.parse_args(["--search-n-train", "800", "--retrain-deadline-s", "0"])
    # 570 s deadline, 76 s search: (570 - 76 - 20) / 1.1 s of training.
    assert ob.retrain_budget_s(570.0, 76.0) == pytest.approx(474.0 / 1.1)
    assert ob.retrain_budget_s(570.0, 600.0) == 1.0  # one epoch when the search used it all
    args = ob.parse_args(["--retrain-augment", "shift-flip", "--retrain-batch-size", "256"])
    assert ob._evaluator_settings(args) == {"batch_size": 256, "augment": "shift-flip"}


@pytest.mark.slow
def test_subset_search_retrains_within_what_the_deadline_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from metanas.tasks import Task

    rng = np.random.default_rng(0)  # 120 random 6x6 images: a real DARTS search, and quick
    small = Task.from_arrays(
        rng.normal(size=(120, 1, 6, 6)).astype(np.float32), np.arange(120) % 3, name="tiny"
    )
    monkeypatch.setattr(ob, "get_task", lambda seed, args, search=False: small)
    seen: dict[str, Any] = {}

    def fake_retrain(arch: Any, seed: int, args: Any, **kw: Any) -> Any:
        seen.update(kw)
        return {"valid_accuracy": 0.5, "test_accuracy": 0.5, "latency_ms": 0.1}, 2.0

    monkeypatch.setattr(ob, "_retrain", fake_retrain)
    args = ob.parse_args([*SUBSET, "--retrain-deadline-s", "500"])
    row = ob._search_on_subset("darts", 0, args)
    assert 0 < row["search_s"] < 60
    assert seen["time_budget_s"] == pytest.approx(ob.retrain_budget_s(500.0, row["search_s"]))
    assert row["retrain_time_budget_s"] == seen["time_budget_s"]
    seen.clear()
    ob._search_on_subset("darts", 0, ob.parse_args([*SUBSET, "--retrain-time-s", "9"]))
    assert seen["time_budget_s"] is None  # no deadline: --retrain-time-s applies as before


@pytest.fixture
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import torch

    calls: list[tuple[str, int]] = []

    def one_run(method: str, seed: int, args: Any) -> dict[str, Any]:
        calls.append((method, seed))
        return {
            "method": method, "seed": seed, "arch": f"conv3 s{seed}", "search_s": 50.0,
            "retrain_s": 400.0 + seed, "wall_s": 450.0, "valid_accuracy": 0.91,
            "test_accuracy": 0.905 + seed / 200, "latency_ms": 0.5, "meets_limit": None,
            "data": "fashion-mnist", "data_load_s": 4.0,
        }  # fmt: skip

    monkeypatch.setattr(ob, "one_run", one_run)
    monkeypatch.setattr(ob, "header", lambda title, extra=None: f"## {title}\n\n{extra}\n")
    threads = torch.get_num_threads()  # markdown() sets torch's threads; keep this process's
    doc = tmp_path / "bench.md"
    doc.write_text("# benchmarks\n")
    common = ["--task", "fashion-mnist", "--methods", "darts", "--search-n-train", "800",
              "--raw", str(tmp_path / "r.json"), "--output", str(doc), "--append",
              "--section", "x", "--threads", str(threads)]  # fmt: skip
    yield {"calls": calls, "doc": doc, "common": common, "raw": tmp_path / "r.json"}
    torch.set_num_threads(threads)


def test_seed_chunks_merge_by_method_and_seed(chunked: dict[str, Any]) -> None:
    c = chunked
    ob.main([*c["common"], "--seed-list", "0-1"])
    ob.main([*c["common"], "--seed-list", "2"])
    assert c["calls"] == [("darts", 0), ("darts", 1), ("darts", 2)]
    runs = json.loads(c["raw"].read_text())["runs"]
    assert [(r["method"], r["seed"]) for r in runs] == [("darts", 0), ("darts", 1), ("darts", 2)]
    text = c["doc"].read_text()
    # the table covers all three chunks: median 91.0 % of 90.5/91.0/91.5, in 451 s
    assert "| DARTS, first order | 3 | 91.0 % (90.5-91.5) | 2/3 |" in text
    assert "reaches a median 91.0 % in a median 451 s" in text
    assert "3 seeds" in text
    assert "merged by (method, seed, draw)" in text
    ob.main([*c["common"], "--seed-list", "1"])  # a rerun replaces its seed, keeps the others
    assert len(json.loads(c["raw"].read_text())["runs"]) == 3
    with pytest.raises(SystemExit, match="retrain_epochs"):
        ob.main([*c["common"], "--seed-list", "3", "--retrain-epochs", "7"])
    assert len(json.loads(c["raw"].read_text())["runs"]) == 3


def test_merge_runs_keeps_random_draws_apart() -> None:
    old = [{"method": "random-ops", "seed": 0, "draw": j} for j in range(3)]
    new = [{"method": "random-ops", "seed": 0, "draw": 1, "new": True}]
    merged = ob.merge_runs(old, new)
    assert [(r["draw"], "new" in r) for r in merged] == [(0, False), (1, True), (2, False)]


def test_recipe_note_reads_the_validation_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipes = tmp_path / "recipes.json"
    recipes.write_text(
        json.dumps(
            {"retrain": [{"augment": None, "valid": 0.917}, {"augment": "shift", "valid": 0.9}]}
        )
    )
    monkeypatch.setattr(ob, "RECIPES", recipes)
    monkeypatch.setattr(ob, "REPO", tmp_path)
    args = ob.parse_args(["--task", "fashion-mnist", "--search-n-train", "800",
                          "--retrain-deadline-s", "570"])  # fmt: skip
    assert "no augmentation 91.70 %, shift 90.00 %" in ob.recipe_note(args)[1]
    assert ob.recipe_note(ob.parse_args(["--task", "fashion-mnist"])) == []  # no deadline run
