"""Built-in tasks (scikit-learn's bundled sets, MNIST-1D generated offline), CSV loading, rebuild.

Examples
--------
>>> from metanas.tasks import load_task
>>> load_task("iris").summary()
'iris: tabular (4,), 3 classes, 90/30/30 train/valid/test'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from metanas._rng import keep_global_random_state, resolve_seed
from metanas.exceptions import unknown
from metanas.tasks import _fashion, _text
from metanas.tasks.task import Task

__all__ = ["MNIST1D_ARGS", "available_tasks", "load_task", "rebuild_task"]

#: Generation arguments of MNIST-1D that ``load_task("mnist1d", **kw)`` accepts, with the
#: package's defaults (``data_seed`` is its ``seed``).
MNIST1D_ARGS: dict[str, Any] = {
    "num_samples": 5000,
    "train_split": 0.8,
    "template_len": 12,
    "padding": (36, 60),
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2,
    "shear_scale": 0.75,
    "shuffle_seq": False,
    "final_seq_length": 40,
    "data_seed": 42,
}
_SPLIT_ARGS = ("test_size", "valid_size")


def _sklearn_loader(name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        data = bunch.images[:, None] if name == "digits" else bunch.data
        return np.asarray(data, dtype=np.float64), np.asarray(bunch.target)

    return load


_SKLEARN = ("breast_cancer", "digits", "iris", "wine")
_BUILTINS = (*_SKLEARN, "fashion-mnist", "keywords", "mnist1d", *_text.TEXT_TASKS)


def available_tasks() -> list[str]:
    """Names of the built-in tasks.

    Examples
    --------
    >>> available_tasks()  # doctest: +NORMALIZE_WHITESPACE
    ['breast_cancer', 'digits', 'fashion-mnist', 'fortune-topics', 'iris', 'keywords',
     'langid-sentences', 'langid-words', 'mnist1d', 'wine']
    """
    return sorted(_BUILTINS)


@functools.lru_cache(maxsize=8)
def _mnist1d(args: tuple[tuple[str, Any], ...]) -> dict[str, np.ndarray]:
    """Generate MNIST-1D once per argument set (about a second each)."""
    from mnist1d.data import get_dataset_args, make_dataset

    spec = get_dataset_args()
    for key, value in args:
        setattr(spec, "seed" if key == "data_seed" else key, value)
    spec.padding = list(spec.padding)
    with keep_global_random_state():  # make_dataset seeds the global generators
        data = make_dataset(spec)
    out = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    for arr in out.values():
        arr.flags.writeable = False
    return out


def _mnist1d_task(seed: int | None, valid_size: float, kw: Mapping[str, Any]) -> Task:
    kw = dict(kw)
    classes = kw.pop("classes", None)
    bad = sorted(set(kw) - set(MNIST1D_ARGS))
    if bad:
        raise unknown(
            "mnist1d argument",
            bad[0],
            [*MNIST1D_ARGS, "classes", "valid_size"],
            "Pass only these (test rows come from train_split).",
        )
    args = {**MNIST1D_ARGS, **kw}
    if isinstance(args["padding"], list):
        args["padding"] = tuple(args["padding"])
    changed = {k: v for k, v in args.items() if v != MNIST1D_ARGS[k]}
    data = _mnist1d(tuple(sorted(args.items())))
    if classes is not None:  # a class subset, recoded 0..k-1
        data, classes = _fashion.subset_classes(data, classes, 10, "mnist1d")
        changed["classes"] = classes
    return _arrays_task("mnist1d", data, changed, seed, valid_size, "sequence")


def _fashion_task(seed: int | None, valid_size: float, kw: Mapping[str, Any]) -> Task:
    data, args = _fashion.fashion_arrays(kw)
    changed = {k: v for k, v in args.items() if v != _fashion.FASHION_ARGS[k] and k != "path"}
    path = {} if args["path"] is None else {"path": str(args["path"])}
    return _arrays_task("fashion-mnist", data, changed, seed, valid_size, "image", path)


def _text_task(base: str, seed: int | None, kw: Mapping[str, Any]) -> Task:
    kw = dict(kw)
    split = {k: kw.pop(k) for k in _SPLIT_ARGS if k in kw}
    texts, labels, args = _text.text_arrays(base, kw)
    changed = {k: v for k, v in args.items() if v != _text.TEXT_TASKS[base][k]}
    name = base
    if changed:
        name += "[" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) + "]"
    task = Task.from_texts(
        texts, labels, name=name, encoding=args["encoding"], max_len=args["max_len"],
        seed=seed, **split,
    )  # fmt: skip
    source = {
        "kind": "builtin",
        "name": base,
        "seed": task.seed,
        **split,
        "args": {k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()},
    }
    return _with_source(task, source)


def _keywords_task(seed: int | None, kw: Mapping[str, Any]) -> Task:
    from metanas.tasks import _speech

    task, args = _speech.keywords_task(Task, resolve_seed(seed), kw)
    changed = {k: v for k, v in args.items() if v != _speech.KEYWORDS_ARGS[k] and k != "n_jobs"}
    name = "keywords"
    if changed:
        name += "[" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) + "]"
    source = {
        "kind": "builtin",
        "name": "keywords",
        "seed": task.seed,
        "args": {k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()},
    }
    from dataclasses import replace

    return replace(_with_source(task, source), name=name)


def _arrays_task(
    base: str,
    data: Mapping[str, np.ndarray],
    changed: dict[str, Any],
    seed: int | None,
    valid_size: float,
    modality: str,
    unnamed: Mapping[str, Any] | None = None,
) -> Task:
    """A built-in task from generated arrays: named ``base[changed args]``, with its source.

    ``unnamed`` arguments (a file's path) are kept in the source but not in the name.
    """
    name = base
    if changed:
        name += "[" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) + "]"
    task = Task.from_arrays(
        data["x"], data["y"], X_test=data["x_test"], y_test=data["y_test"], name=name,
        valid_size=valid_size, seed=seed, modality=modality,
    )  # fmt: skip
    args = {**changed, **(unnamed or {})}
    source = {
        "kind": "builtin",
        "name": base,
        "seed": task.seed,
        "valid_size": valid_size,
        "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()},
    }
    return _with_source(task, source)


def _with_source(task: Task, source: dict[str, Any]) -> Task:
    from dataclasses import replace

    return replace(task, source=source, _meta={})


def load_task(
    name_or_path: str | os.PathLike[str],
    *,
    target: str | None = None,
    seed: int | None = 0,
    **kw: Any,
) -> Task:
    """Load a built-in task by name, or a CSV file.

    Parameters
    ----------
    name_or_path
        ``"digits"`` (image ``(1, 8, 8)``), ``"wine"``, ``"breast_cancer"``,
        ``"iris"`` (tabular), ``"mnist1d"`` (sequence ``(1, 40)``),
        ``"fashion-mnist"`` (image ``(1, 28, 28)``, read offline from Debian's
        ``dataset-fashion-mnist`` files), ``"keywords"`` (20 spoken words
        synthesised offline by espeak-ng, log-mel ``(40, 101)``; arguments in
        :data:`metanas.tasks._speech.KEYWORDS_ARGS`, splits by voice fixed by
        ``data_seed``; see docs/text-speech.md), or the path of a CSV file (a name
        ending in ``.csv`` or an existing file).
    target
        The label column of a CSV file (required for files, refused otherwise).
    seed
        Seed of the splits.
    **kw
        ``test_size``/``valid_size`` (fractions, default 0.2 each; MNIST-1D has
        its own test split and takes only ``valid_size``); for MNIST-1D the
        generation arguments of :data:`MNIST1D_ARGS` (``num_samples``,
        ``iid_noise_scale``, ``data_seed`` ...) and ``classes`` (a subset of
        the codes 0..9, recoded 0..k-1); for Fashion-MNIST ``n_train`` and
        ``n_test`` (seeded stratified subsets, seed ``data_seed``), ``classes``,
        ``downsample`` (2: 14x14, 4: 7x7, average pooling), ``path`` (a
        directory of the IDX files, default ``$METANAS_FASHION_MNIST`` or
        Debian's) and ``valid_size`` (carved from the train rows; the official
        test set is the test split); for the text tasks ``"langid-words"``,
        ``"langid-sentences"`` and ``"fortune-topics"`` (read offline from
        Debian's word lists and fortune files; see docs/text-speech.md) the
        arguments of :data:`metanas.tasks._text.TEXT_TASKS` (``languages`` or
        ``topics``, ``n_per_class``, ``max_len``, ``encoding`` ...) and
        ``test_size``/``valid_size``; for CSV files ``name`` and
        ``pandas.read_csv`` options.

    Returns
    -------
    Task
        Named after the built-in (``"mnist1d[iid_noise_scale=0.05]"`` when the
        generation differs from the defaults) or the file's stem.

    Raises
    ------
    UnknownNameError
        Unknown task name or keyword (the closest valid one is suggested).
    ValueError
        A CSV file without ``target``, or the problems of the Task builders.
    FileNotFoundError
        Fashion-MNIST's files are not installed (the message says how to get them).
    """
    text = os.fspath(name_or_path)
    if text in _BUILTINS:
        if target is not None:
            raise ValueError(
                f"target= is only for CSV files; the built-in task {text!r} has its own labels. "
                "Leave target out."
            )
        if text == "mnist1d":
            valid_size = kw.pop("valid_size", 0.2)
            return _mnist1d_task(seed, valid_size, kw)
        if text == "fashion-mnist":
            return _fashion_task(seed, kw.pop("valid_size", 0.2), kw)
        if text == "keywords":
            return _keywords_task(seed, kw)
        if text in _text.TEXT_TASKS:
            return _text_task(text, seed, kw)
        bad = sorted(set(kw) - set(_SPLIT_ARGS))
        if bad:
            raise unknown(f"{text} argument", bad[0], _SPLIT_ARGS)
        x, y = _sklearn_loader(text)()
        task = Task.from_arrays(x, y, name=text, seed=seed, **kw)
        source = {"kind": "builtin", "name": text, "seed": task.seed, **kw}
        return _with_source(task, source)
    path = Path(text).expanduser()
    if text.lower().endswith((".csv", ".tsv", ".txt")) or path.is_file():
        if target is None:
            hint = ""
            if path.is_file():
                import pandas as pd

                try:
                    reader = {k: kw[k] for k in ("encoding", "sep") if k in kw}
                    columns = list(pd.read_csv(path, nrows=0, **reader).columns)
                    hint = f" The file's columns are: {[str(c) for c in columns]!r}."
                except (ValueError, UnicodeDecodeError):
                    hint = ""
            raise ValueError(f"Loading the CSV file {text!r} needs target=<label column>.{hint}")
        return Task.from_csv(path, target, seed=seed, **kw)
    raise unknown(
        "task", text, _BUILTINS, "Pass a built-in name or the path of a CSV file (with target=)."
    )


def rebuild_task(source: Mapping[str, Any] | Task) -> Task:
    """Rebuild a task, identical arrays included, from its ``source`` (or the task itself).

    Raises
    ------
    ValueError
        The task was built from in-memory arrays or a DataFrame, which are not
        stored.
    """
    if isinstance(source, Task):
        source = source.source
    kind = source.get("kind") if isinstance(source, Mapping) else None
    if kind == "builtin":
        extra = dict(source.get("args", {}))
        split = {k: source[k] for k in _SPLIT_ARGS if k in source}
        return load_task(str(source["name"]), seed=source.get("seed", 0), **split, **extra)
    if kind == "csv":
        return Task.from_csv(
            source["path"],
            source["target"],
            name=source.get("name"),
            seed=source.get("seed", 0),
            test_size=source.get("test_size", 0.2),
            valid_size=source.get("valid_size", 0.2),
            **dict(source.get("read_csv", {})),
        )
    if kind in (None, "arrays", "dataframe"):
        raise ValueError(
            "This task was built from in-memory arrays; pass the task itself (its source "
            f"{dict(source) if isinstance(source, Mapping) else source!r} cannot be rebuilt)."
        )
    raise ValueError(f"Unknown task source kind {kind!r}; expected 'builtin' or 'csv'.")
