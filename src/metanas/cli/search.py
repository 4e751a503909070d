"""``metanas search``: parse the options, run :func:`metanas.search.prepare_search`, print.

``--strategy darts|darts2|enas`` is a deprecated alias of ``metanas oneshot --method``;
``--budget`` and ``--time-budget-min`` are deprecated spellings of ``--n-trials`` and
``--timeout-min``.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from metanas._torch import DEFAULT_THREADS, THREADS_HELP
from metanas.cli import _console as c
from metanas.cli._summary import finish_search
from metanas.search import DEFAULT_METRIC, DEFAULT_SEED, DEFAULT_STRATEGY, TRAINABLE_SPACES

__all__ = ["EPILOG", "Direction", "search"]

_DEFAULT_N_TRIALS = 100


class Direction(StrEnum):
    maximize = "maximize"
    minimize = "minimize"


class TellOrder(StrEnum):
    trial = "trial"
    finish = "finish"


def _strategies() -> str:
    return ", ".join(c.choices("strategy"))


def _spaces() -> str:
    return ", ".join(c.choices("space"))


EPILOG = c.examples(
    (
        "REA on NAS-Bench-Graph Cora, 100 trials, stored in runs.db",
        "metanas search --benchmark nas-bench-graph --dataset cora --strategy evolution "
        "--n-trials 100 --seed 0 --storage sqlite:///runs.db --study cora-rea",
    ),
    (
        "resume the same study up to 300 finished trials",
        "metanas search --dataset cora --n-trials 300 --storage sqlite:///runs.db --study cora-rea",
    ),
    (
        "strategy settings (values are read as JSON)",
        "metanas search --dataset citeseer --strategy evolution --setting population_size=20 "
        "--setting sample_size=5",
    ),
    (
        "minimise latency instead, JSON summary",
        "metanas search --dataset pubmed --metric latency --n-trials 50 --json",
    ),
    (
        "two objectives with NSGA-II: prints the Pareto front (accuracy vs latency)",
        "metanas search --dataset cora --strategy nsga2 --objectives "
        "valid_accuracy:max,latency:min --n-trials 100",
    ),
    (
        "your own table of measured NAS-Bench-201 cells",
        "metanas search --table nb201.csv --space nb201 --arch-column arch --metric acc "
        "--test-metric test_acc --strategy tpe --n-trials 50",
    ),
    (
        "train real networks on data, at most 10 minutes",
        "metanas search --data digits --space mlp --n-trials 20 --epochs 10 --timeout-min 10",
    ),
)


def search(
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark", "-b",
            help=f"Built-in tabular benchmark: {', '.join(c.benchmark_names())} (default "
            "nas-bench-graph when --dataset is set).",
            rich_help_panel="Task",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", "-d",
            help="Data set of the benchmark: cora, citeseer, pubmed, cs, physics, photo, "
            "computers, arxiv, proteins (nas-bench-graph); mnist1d, mnist1d-iid-noise, "
            "mnist1d-corr-noise, mnist1d-shear, mnist1d-scale, mnist1d-small, mnist1d-5class, "
            "digits, fashion-7x7, fashion-7x7-tops (task-family).",
            rich_help_panel="Task",
        ),
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option(
            "--table",
            help="CSV of measured architectures (one row each), instead of --benchmark.",
            rich_help_panel="Task",
        ),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(
            "--space", help=f"Search space of the --table architectures: {_spaces()}.",
            rich_help_panel="Task",
        ),
    ] = None,
    space_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--space-setting", metavar="KEY=VALUE",
            help="Setting of the --space (repeatable), e.g. proteins=true for nas-bench-graph.",
            rich_help_panel="Task",
        ),
    ] = None,
    arch_column: Annotated[
        str,
        typer.Option(
            "--arch-column", help="Column of the --table holding architectures (space notation).",
            rich_help_panel="Task",
        ),
    ] = "arch",
    test_metric: Annotated[
        list[str] | None,
        typer.Option(
            "--test-metric", metavar="COLUMN",
            help="Report-only column of the --table (repeatable); never shown to the strategy.",
            rich_help_panel="Task",
        ),
    ] = None,
    minimize: Annotated[
        list[str] | None,
        typer.Option(
            "--minimize", metavar="COLUMN",
            help="Column of the --table where lower is better (repeatable).",
            rich_help_panel="Task",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="Task name stored with the study; default: the benchmark's, "
            "e.g. nas-bench-graph/cora.", rich_help_panel="Task",
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", "-s",
            help=f"Search strategy: {_strategies()} (new studies: {DEFAULT_STRATEGY}; "
            "resumed: the stored one).",
            rich_help_panel="Search",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting", metavar="KEY=VALUE",
            help="Strategy setting (repeatable), value read as JSON: population_size=20.",
            rich_help_panel="Search",
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option(
            "--n-trials", "-n", min=1,
            help=f"Total finished trials the study should have (default {_DEFAULT_N_TRIALS}), "
            "counting every worker sharing it; a resumed study runs the rest.",
            rich_help_panel="Search",
        ),
    ] = None,
    budget: Annotated[int | None, c.BUDGET_OPTION] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=0, help=f"Seed of the study (new studies: {DEFAULT_SEED}).",
            rich_help_panel="Search",
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", "-m",
            help=f"Objective metric (default {DEFAULT_METRIC}); several as "
            "'valid_accuracy:max,latency:min'.",
            rich_help_panel="Search",
        ),
    ] = None,
    direction: Annotated[
        Direction | None,
        typer.Option(
            "--direction", help="Optimisation direction; default: the metric's own "
            "(accuracy: maximize, latency/params/--minimize columns: minimize).",
            rich_help_panel="Search", case_sensitive=False,
        ),
    ] = None,
    objectives_spec: Annotated[
        str | None,
        typer.Option(
            "--objectives", metavar="METRIC[:max|min],...",
            help="Several objectives at once, e.g. 'valid_accuracy:max,latency:min' (a metric "
            "without :max/:min takes its own direction); prints the Pareto front. Search with "
            "a multi-objective strategy: nsga2 or random.",
            rich_help_panel="Search",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", envvar="METANAS_STORAGE",
            help="SQLAlchemy URL of the store, e.g. sqlite:///runs.db; default: the user's "
            "store (~/.local/share/metanas/metanas.db).",
            rich_help_panel="Storage",
        ),
    ] = None,
    study_name: Annotated[
        str | None,
        typer.Option(
            "--study", help="Study name; an existing study is resumed. Default: "
            "DATASET-STRATEGY-sSEED.", rich_help_panel="Storage",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help=f"Train real networks on data: {', '.join(c.task_names())}, or a "
            "CSV file (with --target); --space is then "
            f"{', '.join(TRAINABLE_SPACES)}.",
            rich_help_panel="Training",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Label column of a --data CSV.", rich_help_panel="Training"),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs", min=1, help="Most epochs per trial (early stopping on validation "
            "accuracy); default 30.", rich_help_panel="Training",
        ),
    ] = None,
    timeout_min: Annotated[
        float | None,
        typer.Option(
            "--timeout-min", min=0.01, help="Stop starting trials after this many minutes.",
            rich_help_panel="Training",
        ),
    ] = None,
    cancel_at_timeout: Annotated[
        bool,
        typer.Option(
            "--cancel-at-timeout", help="With --timeout-min: end the search at the limit, "
            "cutting off the trials still training (they are queued again and run first when "
            "the study is resumed); without it they finish, which can take one more training.",
            rich_help_panel="Training",
        ),
    ] = False,
    tell_order: Annotated[
        TellOrder,
        typer.Option(
            "--tell-order", help="With --n-jobs > 1 and no scheduler: 'trial' tells the "
            "strategy results in trial order (a seeded search is reproducible, but a worker "
            "whose trial finished waits for the oldest one still training); 'finish' tells "
            "each result as it arrives and never leaves a worker idle (the trials then depend "
            "on the order results arrive).", rich_help_panel="Execution",
        ),
    ] = TellOrder.trial,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help=f"Multi-fidelity scheduler: {', '.join(c.choices('scheduler'))}. "
            "Trials train in segments (epochs) and the scheduler stops the weak ones early "
            "(docs/multifidelity.md).", rich_help_panel="Multi-fidelity",
        ),
    ] = None,
    min_epochs: Annotated[
        float | None,
        typer.Option(
            "--min-epochs", min=0.0, help="Budget of the first rung, in epochs (default 1).",
            rich_help_panel="Multi-fidelity",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(
            "--max-epochs", min=1, help="Full budget in epochs; also the trainer's epochs "
            "(default: --epochs, or the table's epochs with --benchmark task-family).",
            rich_help_panel="Multi-fidelity",
        ),
    ] = None,
    eta: Annotated[
        float | None,
        typer.Option(
            "--eta", help="Reduction factor: about 1/eta of the trials at a rung go on to the "
            "next, eta times the budget (default 3).", rich_help_panel="Multi-fidelity",
        ),
    ] = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-dir", help="Where --data training with a --scheduler keeps stopped "
            "trials' state, so promoted trials (also in a resumed search) continue from it "
            "(default: <db>-checkpoints/<study> next to a SQLite file, else a temporary "
            "directory removed at the end).", rich_help_panel="Multi-fidelity",
        ),
    ] = None,
    augment: Annotated[
        str | None,
        typer.Option(
            "--augment", metavar="POLICY",
            help="--data: training-time data augmentation, a registered policy: specaugment, "
            "specaugment-vtlp (spectrogram features), shift, shift-flip (images). Stored with "
            "the study; a resumed study takes the same one or none.",
            rich_help_panel="Training",
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision", metavar="P",
            help="--data: arithmetic of the training steps: fp32 (default), bf16 (bfloat16 "
            "autocast; 1.9-2.6x faster 2-D CNN training measured on a CPU with AVX512-BF16) or "
            "auto (bf16 where the hardware computes it). Stored with the study.",
            rich_help_panel="Training",
        ),
    ] = None,
    time_budget_min: Annotated[
        float | None,
        typer.Option(
            "--time-budget-min", min=0.01, help="Deprecated spelling of --timeout-min.",
            rich_help_panel="Deprecated",
        ),
    ] = None,
    max_latency_ms: Annotated[
        float | None,
        typer.Option(
            "--max-latency-ms", min=0.0, help="Reject architectures slower than this at batch "
            "1 on this machine (measured before training).", rich_help_panel="Training",
        ),
    ] = None,
    max_params: Annotated[
        int | None,
        typer.Option("--max-params", min=1, help="Most parameters.", rich_help_panel="Training"),
    ] = None,
    max_flops: Annotated[
        int | None,
        typer.Option(
            "--max-flops", min=1, help="Most FLOPs per sample.", rich_help_panel="Training"
        ),
    ] = None,
    n_jobs: Annotated[
        int,
        typer.Option(
            "--n-jobs", help="Trials trained at once on local processes (-1: one per core).",
            rich_help_panel="Training",
        ),
    ] = 1,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor", help="Where trials run: inprocess, local (--n-jobs processes) or ray "
            "(--n-jobs Ray tasks at once; pip install \"metanas\\[ray]\"). Default: local with "
            "--n-jobs > 1, else inprocess.", rich_help_panel="Execution",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Ray cluster of --executor ray: auto (the one `ray start` runs "
            "here), ray://HOST:10001 or HOST:6379. Default: $RAY_ADDRESS, else a new local "
            "cluster.", rich_help_panel="Execution",
        ),
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            "--device", help="auto (CUDA when present, else CPU), cpu or cuda (checked once, "
            "before the search).", rich_help_panel="Training",
        ),
    ] = "auto",
    threads: Annotated[
        int,
        typer.Option("--threads", min=1, help=THREADS_HELP, rich_help_panel="Training"),
    ] = DEFAULT_THREADS,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding", help="Text encoding of a --data CSV file (default utf-8), e.g. "
            "latin-1 or cp1252.", rich_help_panel="Training",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings.")
    ] = False,
    verbose: Annotated[bool, c.VERBOSE_OPTION] = False,
) -> None:  # fmt: skip
    """Search a benchmark, a table of measured architectures, or real networks on data.

    With [bold]--data[/] every trial trains a network (early stopping on the
    validation split) and reports validation and test accuracy, macro recall
    and F1, parameters, FLOPs and latency; hardware limits reject architectures
    before they are trained.

    The study is stored as it runs: interrupt it at any time and re-run the same
    command to resume. [bold]--n-trials[/] is the total number of finished trials the
    study should have, so re-running with a larger number continues the search. A
    resumed --data study keeps its training settings (--epochs, limits); giving a
    different one is refused. [bold]--threads[/] (default 1 per trained network) and
    --device may change.
    """
    from metanas.cli import oneshot as _oneshot

    url = c.storage_url(storage)
    err = c.stderr()
    with c.errors(url), c.logging_to(err, c.log_level(quiet, verbose)):
        n_trials = c.renamed(n_trials, budget, "--n-trials", "--budget")
        timeout_min = c.renamed(timeout_min, time_budget_min, "--timeout-min", "--time-budget-min")
        # Errors about the time limit name the spelling the user typed, not its new name.
        timeout_option = "--timeout-min" if time_budget_min is None else "--time-budget-min"
        if cancel_at_timeout and timeout_min is None:
            raise ValueError(
                "--cancel-at-timeout cuts off the trials running at the time limit: give the "
                "limit with --timeout-min M, or drop --cancel-at-timeout."
            )
        settings = c.parse_settings(setting, "--setting")
        if strategy is not None and strategy in _oneshot.methods():
            if augment is not None or precision is not None:
                flag = "--augment" if augment is not None else "--precision"
                raise ValueError(
                    f"{flag} is for black-box searches; --strategy {strategy} is a one-shot "
                    f"method. Drop {flag}, or pick a black-box --strategy."
                )
            typer.echo(
                f"Deprecated: metanas search --strategy {strategy} is now metanas oneshot "
                f"--method {strategy}.",
                err=True,
            )
            _forward_oneshot(
                strategy, data=data, space=space, target=target, epochs=epochs, seed=seed,
                max_latency_ms=max_latency_ms, url=url, study_name=study_name, device=device,
                settings=settings, json_output=json_output, objectives_spec=objectives_spec,
                max_params=max_params, max_flops=max_flops, timeout_min=timeout_min,
                timeout_option=timeout_option, threads=threads, encoding=encoding,
            )  # fmt: skip
            return
        if timeout_min is not None and data is None:
            raise ValueError(
                f"{timeout_option} goes with --data (real training), e.g. --data digits "
                "--space mlp."
            )
        from metanas.search import prepare_search

        run = prepare_search(
            benchmark=benchmark, dataset=dataset, table=table, space=space,
            space_settings=c.parse_settings(space_setting, "--space-setting"),
            arch_column=arch_column, test_metrics=test_metric or (), minimize=minimize or (),
            task=task, data=data, target=target, strategy=strategy, settings=settings,
            n_trials=_DEFAULT_N_TRIALS if n_trials is None else n_trials, seed=seed,
            metric=metric, direction=None if direction is None else direction.value,
            objectives=objectives_spec, storage=url, study_name=study_name, epochs=epochs,
            timeout_s=None if timeout_min is None else timeout_min * 60.0,
            max_latency_ms=max_latency_ms, max_params=max_params, max_flops=max_flops,
            n_jobs=n_jobs, device=device, threads=threads, encoding=encoding,
            scheduler=scheduler, min_epochs=min_epochs, max_epochs=max_epochs, eta=eta,
            checkpoint_dir=checkpoint_dir, augment=augment, precision=precision,
        )  # fmt: skip
        from metanas._progress import TrialProgress

        run.executor = _build_executor(executor, address, run.evaluator, n_jobs, run.n_new > 0)
        if cancel_at_timeout:
            run.in_flight = "cancel"
        run.tell_order = "finish" if tell_order is TellOrder.finish else "trial"
        show = c.interactive(quiet)
        if run.n_new and show and run.task is not None:
            err.print(f"[bold]{run.task.summary()}[/]")
            for line in run.task.report:
                err.print(f"  {line}")
        with (
            TrialProgress(show and run.n_new > 0, run.study, run.n_new, console=err) as bar,
            contextlib.ExitStack() as stack,
        ):
            if run.executor is not None:
                stack.enter_context(run.executor)
            summary = run.run(callbacks=[bar.update])
    finish_search(summary, json_output)


def _build_executor(
    name: str | None, address: str | None, evaluator: Any, n_jobs: int, needed: bool
) -> Any:
    """The executor ``--executor``/``--address`` ask for; None leaves the choice to --n-jobs.

    Options are checked even when no trial is left to run (``needed`` False), but no
    executor (no Ray cluster) is started then.
    """
    if address is not None and name != "ray":
        raise ValueError(
            f"--address {address} names a Ray cluster: add --executor ray, or leave --address out."
        )
    if name is None:
        return None
    from metanas.execution import create_executor, get_executor_class, resolve_n_jobs

    get_executor_class(name)  # an unknown name: the registry's error lists the choices
    n_workers = resolve_n_jobs(n_jobs)
    if not needed:
        return None
    if name == "ray":
        from metanas.execution import RayExecutor

        return RayExecutor(evaluator, n_workers=n_workers, address=address)
    return create_executor(name, evaluator, n_workers=n_workers)


def _forward_oneshot(
    method: str,
    *,
    data: str | None,
    objectives_spec: str | None,
    max_params: int | None,
    max_flops: int | None,
    timeout_min: float | None,
    timeout_option: str = "--timeout-min",
    **kwargs: Any,
) -> None:
    """``search --strategy darts`` -> ``oneshot --method darts``, refusing what it cannot take."""
    from metanas.cli import oneshot as _oneshot

    if data is None:
        raise ValueError(
            f"--strategy {method} trains a supernet: it needs --data (e.g. --data mnist1d "
            "--space cnn), not a benchmark table."
        )
    for option, value in (
        ("--objectives", objectives_spec), ("--max-params", max_params),
        ("--max-flops", max_flops), (timeout_option, timeout_min),
    ):  # fmt: skip
        if value is not None:
            raise ValueError(
                f"{option} does not go with --strategy {method} (a one-shot search "
                "optimises validation accuracy, with --max-latency-ms as its only limit)."
            )
    _oneshot.run(method=method, data=data, retrain_epochs=None, **kwargs)
