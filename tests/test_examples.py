"""The examples run, on CPU, with a small budget, and give sensible answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_search_example_reports_nonnegative_test_regret() -> None:
    out = _load("search_nas_bench_graph").main("cora", n_trials=30)
    assert set(out) == {"random", "evolution"}
    assert all(0.0 <= v < 0.2 for v in out.values())


def test_custom_strategy_example_finds_the_known_optimum() -> None:
    best = _load("custom_space_and_strategy").main(n_trials=25)
    assert best.arch.to_dict() == {"depth": 4, "width": 256, "act": "relu"}
    assert abs(best.value - 0.95) < 1e-12
