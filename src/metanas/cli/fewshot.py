"""``metanas fewshot``: meta-train a few-shot learner and test it on held-out classes.

Like every command it only parses options and calls the public API
(:func:`metanas.fewshot.run_fewshot`); the run is stored as a study (``metanas studies show``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from metanas._torch import DEFAULT_THREADS
from metanas.cli import _console as c

__all__ = ["EPILOG", "fewshot"]

EPILOG = c.examples(
    ("MAML, 5-way 1-shot on MNIST-1D", "metanas fewshot --data mnist1d --ways 5 --shots 1 "
     "--method maml"),
    ("MetaNAS on unseen glyph classes, 16 x 16 images", "metanas fewshot --data glyphs "
     "--image-size 16 --method metanas --test-fraction 0.3"),
    ("prototypical networks on digits, as JSON", "metanas fewshot --data digits --shots 5 "
     "--method protonet --json"),
    ("MetaNAS stored in runs.db as study digits-metanas, then shown",
     "metanas fewshot --data digits --method metanas --storage sqlite:///runs.db "
     "--study digits-metanas && metanas studies show digits-metanas --storage sqlite:///runs.db"),
)  # fmt: skip

# This command trains in one process: its threads are the whole run's (no --n-jobs here).
_THREADS_HELP = (
    "Torch CPU threads of the run; default 1, which never oversubscribes a shared machine."
)


def _classes(classes: tuple[int, ...]) -> str:
    # the glyphs have hundreds of classes per split: a count reads better than the list
    return f"classes {list(classes)}" if len(classes) <= 20 else f"{len(classes)} classes"


def fewshot(
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d",
            help="Data set: mnist1d or digits (10 classes each), or glyphs (725 "
            "Omniglot-like classes).",
        ),
    ] = "mnist1d",
    method: Annotated[
        str,
        typer.Option(
            "--method", "-m",
            help=", ".join(c.choices("fewshot"))
            + " (fomaml: first-order MAML).",
        ),
    ] = "protonet",
    ways: Annotated[int, typer.Option("--ways", "-w", min=1, help="Classes per episode.")] = 5,
    shots: Annotated[
        int, typer.Option("--shots", "-k", min=1, help="Support examples per class.")
    ] = 1,
    queries: Annotated[
        int, typer.Option("--queries", min=1, help="Query examples per class.")
    ] = 15,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", min=1, help="Meta-training updates.")
    ] = 500,
    meta_batch: Annotated[
        int, typer.Option("--meta-batch", min=1, help="Episodes per meta-update.")
    ] = 4,
    episodes: Annotated[
        int, typer.Option("--episodes", min=1, help="Test episodes (held-out classes).")
    ] = 600,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", help="Fraction of the classes held out for testing.")
    ] = 0.5,
    image_size: Annotated[
        int, typer.Option("--image-size", min=8, help="Side of the glyph images in pixels.")
    ] = 28,
    seed: Annotated[int, typer.Option("--seed", help="Seed of split, episodes, weights.")] = 0,
    threads: Annotated[int, typer.Option("--threads", min=1, help=_THREADS_HELP)] = DEFAULT_THREADS,
    device: Annotated[
        str | None, typer.Option("--device", help="Torch device (default: cuda if available).")
    ] = None,
    storage: Annotated[str | None, c.STORAGE_OPTION] = None,
    study_name: Annotated[
        str | None,
        typer.Option("--study", help="Study name; default DATA-WAYSwaySHOTSshot-METHOD-sSEED."),
    ] = None,
    json_output: Annotated[bool, c.JSON_OPTION] = False,
) -> None:  # fmt: skip
    """Meta-train a few-shot learner and report its accuracy on held-out classes.

    The data set's classes are split into disjoint meta-training and meta-test
    classes (5 + 5 for the 10-class data sets, so 5-way test episodes use the
    5 unseen classes). The accuracy is the mean over [bold]--episodes[/] test
    episodes, with a 95 % confidence interval. The run is stored as a study named after
    the method (accuracy, settings, per-episode accuracies; MetaNAS: its architecture).
    """
    url = c.storage_url(storage)
    with c.errors(url):
        from metanas.fewshot import run_fewshot

        result = run_fewshot(
            data, ways, shots, method, n_iterations=iterations, seed=seed, queries=queries,
            meta_batch=meta_batch, n_episodes=episodes, test_fraction=test_fraction,
            threads=threads, device=device, storage=url, study_name=study_name,
            image_size=image_size,
        )  # fmt: skip
    if json_output:
        c.echo_json(result.to_dict())
        return
    c.stdout().print(
        f"{result.method} on {result.data}, {ways}-way {shots}-shot: accuracy "
        f"[bold]{100 * result.accuracy:.2f} %[/] ± {100 * result.ci95:.2f} (95 % CI, "
        f"{episodes} test episodes on {_classes(result.test_classes)}; meta-trained "
        f"{iterations} x {meta_batch} episodes on {_classes(result.train_classes)} in "
        f"{result.train_time_s:.1f} s; {result.n_params:,} parameters); stored as study "
        f"{result.study_name!r}"
    )
