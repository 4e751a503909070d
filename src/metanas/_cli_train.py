"""``metanas search --data ...`` (real training) and ``metanas export``: the CLI side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import metanas
from metanas._progress import TrialProgress

__all__ = ["export", "search_training"]

_TRAINABLE = ("mlp", "cnn", "nb201")
_DEFAULT_EPOCHS = 30


def search_training(
    *,
    data: str,
    target: str | None,
    space: str | None,
    benchmark: str | None,
    dataset: str | None,
    table: Path | None,
    task: str | None,
    strategy: str | None,
    settings: dict[str, Any],
    budget: int,
    seed: int | None,
    wanted: list[tuple[str, str | None]] | None,
    metric: str | None,
    direction: Any,
    url: str,
    study_name: str | None,
    epochs: int | None,
    time_budget_min: float | None,
    max_latency_ms: float | None,
    max_params: int | None,
    max_flops: int | None,
    n_jobs: int,
    device: str,
    interactive: bool,
    console: Console,
) -> dict[str, Any]:
    """Run (or resume) a study that trains networks on ``data``; returns the CLI summary."""
    from metanas.cli import (
        _DEFAULT_METRIC,
        _DEFAULT_SEED,
        _DEFAULT_STRATEGY,
        _create_or_resume,
        _search_summary,
    )
    from metanas.evaluation.train import TrainEvaluator
    from metanas.tasks import load_task

    for option, value in (("--benchmark", benchmark), ("--dataset", dataset), ("--table", table)):
        if value is not None:
            raise ValueError(
                f"--data trains networks on data; {option} searches a benchmark table. Give one "
                "of them."
            )
    if space is None:
        space = "mlp"
    if space not in _TRAINABLE:
        raise ValueError(
            f"--space {space!r} cannot be trained; with --data use one of {list(_TRAINABLE)!r}."
        )
    the_seed = _DEFAULT_SEED if seed is None else seed
    the_task = load_task(data, target=target, seed=the_seed)
    search_space = metanas.spaces.create_space(space)
    evaluator = TrainEvaluator(
        the_task, search_space, max_epochs=epochs or _DEFAULT_EPOCHS, seed=the_seed,
        device=device, max_latency_ms=max_latency_ms, max_params=max_params,
        max_flops=max_flops, progress=False,
    )  # fmt: skip
    if wanted is not None:
        spec = ",".join(f"{m}:{d or _direction(m)}" for m, d in wanted)
        objectives = metanas.study.parse_objectives(spec, "maximize")
    else:
        m = metric or _DEFAULT_METRIC
        objectives = metanas.study.parse_objectives(
            m, direction.value if direction is not None else _direction(m)
        )
    for m_name, _ in objectives:
        if m_name.startswith("test_"):
            raise ValueError(
                f"{m_name!r} is a test metric, reserved for reporting; search on a validation "
                "metric such as valid_accuracy, valid_f1 or latency_ms."
            )
    task_name = task or the_task.name
    stem = f"{the_task.name}-{space}"
    name = study_name or f"{stem}-{strategy or _DEFAULT_STRATEGY}-s{the_seed}"
    bench = _Shim(search_space, evaluator)
    study, resumed = _create_or_resume(
        name=name, url=url, bench=bench, task=task_name,  # type: ignore[arg-type]
        strategy=strategy, settings=settings, seed=seed, objectives=objectives,
        objectives_given=metric is not None or direction is not None or wanted is not None,
    )  # fmt: skip
    if not resumed:
        study.set_user_attr("evaluator", evaluator.get_settings())
        study.set_user_attr("task_source", dict(the_task.source))
        study.set_user_attr("hardware", evaluator.hardware)
    n_new = max(0, budget - study.n_finished)
    start = time.perf_counter()
    if n_new:
        if interactive:
            console.print(f"[bold]{the_task.summary()}[/]")
            for line in the_task.report:
                console.print(f"  {line}")
        with TrialProgress(interactive, study, n_new, console=console) as bar:
            study.optimize(
                evaluator, n_trials=n_new, callbacks=[bar.update], n_jobs=n_jobs,
                timeout=None if time_budget_min is None else time_budget_min * 60.0,
            )  # fmt: skip
    wall_s = time.perf_counter() - start
    study.refresh()
    summary = _search_summary(study, None, url, budget, resumed, n_new, wall_s)
    summary["data"] = the_task.summary()
    summary["hardware"] = study.user_attrs.get("hardware", evaluator.hardware)
    summary["preprocessing"] = list(the_task.report)
    return summary


def _direction(metric: str) -> str:
    low = metric.lower()
    if any(k in low for k in ("latency", "params", "flops", "loss", "time", "error")):
        return "minimize"
    return "maximize"


class _Shim:
    """What _create_or_resume reads from an evaluator: the space and the task's descriptors."""

    def __init__(self, space: Any, evaluator: Any) -> None:
        self.space = space
        self._ev = evaluator

    def task_descriptors(self) -> dict[str, Any]:
        return dict(self._ev.task_descriptors())


def export(
    study_name: Annotated[str, typer.Argument(metavar="STUDY", help="Study to export.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output directory; default ./STUDY-model."),
    ] = None,
    trial: Annotated[
        int | None,
        typer.Option("--trial", min=0, help="Trial number to export; default the best."),
    ] = None,
    no_onnx: Annotated[bool, typer.Option("--no-onnx", help="Skip model.onnx.")] = False,
    storage: Annotated[
        str | None,
        typer.Option("--storage", envvar="METANAS_STORAGE", help="SQLAlchemy URL of the store."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Retrain a study's best network and write its weights, architecture and ONNX file.

    The model is retrained with the seed the search used, so it is the one the
    search measured. Load it back with one line:
    [bold]metanas.load_model("DIR")[/].
    """
    from metanas.cli import _echo_json, _errors, _open_study, _stdout, _storage_url
    from metanas.export import export_model, load_model

    url = _storage_url(storage)
    with _errors(url):
        study = _open_study(study_name, url)
        path = export_model(
            study, out or Path(f"{study_name}-model"), trial=trial, onnx=not no_onnx
        )
        info = load_model(path).info
    files = sorted(p.name for p in path.iterdir())
    summary = {
        "study": study_name, "trial": info["trial"], "arch": info["arch_string"],
        "path": str(path), "files": files, "metrics": info["metrics"],
        "test_metrics": info["test_metrics"],
        "load": f"metanas.load_model({str(path)!r})",
    }  # fmt: skip
    if json_output:
        _echo_json(summary)
        return
    out_console = _stdout()
    out_console.print(f"Exported trial {info['trial']} of {study_name}: {info['arch_string']}")
    out_console.print(f"  {path}: {', '.join(files)}")
    out_console.print(f"  load it with: {summary['load']}")
