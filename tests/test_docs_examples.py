"""What README.md and docs/ show a user works as written (the doc audit's regressions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metanas.cli import app

runner = CliRunner()


def test_search_help_names_the_ray_extra() -> None:
    # Rich reads "[ray]" as markup and dropped it: the help said `pip install "metanas"`.
    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert 'pip install "metanas[ray]"' in result.output


@pytest.mark.slow
def test_studies_show_and_export_open_a_task_family_study(tmp_path: Path) -> None:
    # docs/multifidelity.md: search -b task-family ... then `metanas studies show NAME`.
    url = f"sqlite:///{tmp_path / 'mf.db'}"
    args = ["search", "-b", "task-family", "-d", "digits", "--scheduler", "asha"]
    result = runner.invoke(app, [*args, "-n", "4", "--storage", url, "--json", "-q"])
    assert result.exit_code == 0, result.output
    name = json.loads(result.stdout)["study"]

    shown = runner.invoke(app, ["studies", "show", name, "--storage", url, "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["task"] == "task-family/digits"
    assert info["n_trials"] == 4

    exported = runner.invoke(app, ["studies", "export", name, "--storage", url])
    assert exported.exit_code == 0, exported.output
    assert len(exported.stdout.strip().splitlines()) == 1 + 4


def test_oneshot_and_fewshot_threads_help_names_no_missing_option() -> None:
    # Their --threads help said "per worker with --n-jobs", an option neither command has.
    for command in ("oneshot", "fewshot"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert "--n-jobs" not in result.output
        assert "Torch CPU threads of the run" in result.output


def test_sh_below_its_cohort_says_how_many_trials_fill_it(tmp_path: Path) -> None:
    # `sh` pauses every trial until its cohort is full (docs/multifidelity.md); with fewer
    # trials nothing completes, and the one error line said only "0 failed".
    url = f"sqlite:///{tmp_path / 'sh.db'}"
    args = ["search", "-b", "task-family", "-d", "digits", "--scheduler", "sh", "-n", "3"]
    result = runner.invoke(app, [*args, "--storage", url, "-q"])
    assert result.exit_code == 1, result.output
    assert "3 trial(s) wait, paused, for a full cohort of 27 trials (sh)" in result.stderr
    assert "--n-trials 27 or more" in result.stderr
