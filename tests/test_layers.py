"""Imports point one way: the import-linter contracts of pyproject.toml hold, and would catch
a back-edge (docs/design.md, "Layers")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_the_import_contracts_hold() -> None:
    run = _lint(ROOT / "src")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("storage/rdb.py", "import metanas.study\n", "Layers"),  # a back-edge up the layers
        ("strategies/random.py", "import metanas.storage.rdb\n", "never the storage"),
        ("models/ops.py", "import metanas.spaces.base\n", "Models never import spaces"),
    ],
)
def test_a_back_edge_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "metanas", copy / "metanas")
    target = copy / "metanas" / module
    target.write_text(target.read_text() + "\n" + line)
    run = _lint(copy)
    assert run.returncode == 1, run.stdout
    assert "0 broken" not in run.stdout
    assert broken in run.stdout.split("Broken contracts", 1)[1]
