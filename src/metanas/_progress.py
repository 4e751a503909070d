"""Progress bars (rich), shared by the study loop, the CLI and the benchmark runner.

Off unless asked for: a library must not draw on a console it does not own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from metanas.trial import Trial

__all__ = ["CountProgress", "TrialProgress"]


class _StudyView(Protocol):
    """What a progress bar reads of a study (a Protocol: this module sits below ``study``)."""

    @property
    def name(self) -> str: ...

    @property
    def direction(self) -> str: ...

    @property
    def metric(self) -> str: ...

    @property
    def objectives(self) -> Sequence[tuple[str, str]]: ...


def _bar(label: str, *, console: Any = None, extra: bool = False) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [
        TextColumn(f"[bold]{label}" if label else "[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if extra:
        columns.append(TextColumn("{task.fields[best]}"))
    return Progress(*columns, console=console)


class CountProgress:
    """A bar counting ``total`` steps (or nothing when disabled)."""

    def __init__(self, enabled: bool, total: int | None, label: str, *, console: Any = None):
        self._bar: Any = None
        if enabled:
            self._bar = _bar(label, console=console)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> CountProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrialProgress:
    """A bar over a study's trials showing the best value so far (kept incrementally)."""

    def __init__(
        self, enabled: bool, study: _StudyView, total: int | None, *, console: Any = None
    ) -> None:
        self._bar: Any = None
        self._best: float | None = None
        self._sign = 1.0 if study.direction == "maximize" else -1.0
        self._single = len(study.objectives) == 1
        self._metric = study.metric
        if enabled:
            self._bar = _bar("", console=console, extra=True)
            self._bar.start()
            self._task = self._bar.add_task(study.name, total=total, best="")

    def update(self, study: _StudyView, trial: Trial) -> None:
        if self._bar is None:
            return
        v = trial.value
        if (
            self._single
            and v is not None
            and (self._best is None or self._sign * v > self._sign * self._best)
        ):
            self._best = v
        best = "" if self._best is None else f"best {self._metric}={self._best:.4g}"
        self._bar.update(self._task, advance=1, best=best)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> TrialProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
