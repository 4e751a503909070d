"""A task: a labelled data set split into train, validation and test, with meta-features."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._rng import resolve_seed
from metanas.exceptions import closest
from metanas.tasks._build import (
    MODALITIES,
    check_fraction,
    check_modality,
    check_split_sizes,
    encode_targets,
    infer_modality,
    shape_for_modality,
    split_indices,
)
from metanas.tasks._preprocess import (
    ColumnPipeline,
    Preprocessor,
    Standardiser,
    is_missing,
    to_numeric_array,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODALITIES", "CSVEncodingError", "Task"]

_logger = logging.getLogger(__name__)


class CSVEncodingError(ValueError):
    """A CSV file that is not text in the encoding it was read with (UTF-8 by default).

    The message names ``encoding=``; :attr:`cli_message` names the CLI's ``--encoding``.
    """

    def __init__(self, path: Path, encoding: str | None, exc: UnicodeDecodeError) -> None:
        self.path = path
        self.encoding = encoding or "utf-8"
        where = f"byte {exc.object[exc.start : exc.start + 1]!r} at position {exc.start}"
        head = f"Could not read {str(path)!r} as {self.encoding} text ({where})"
        self.cli_message = (
            f"{head}. Pass --encoding with the file's encoding, e.g. --encoding latin-1 "
            "(Western Europe) or --encoding cp1252 (Windows)."
        )
        super().__init__(
            f"{head}. Pass encoding= with the file's encoding, e.g. encoding='latin-1' "
            "(Western Europe) or encoding='cp1252' (Windows)."
        )


@dataclass(frozen=True, eq=False)
class Task:
    """A classification task with fixed, seeded splits.

    ``X_*`` are float32 arrays of shape ``(n, *input_shape)``; ``y_*`` are
    int64 class codes ``0 .. n_classes - 1``; ``classes[code]`` is the original
    label, so predictions map back (:meth:`decode_labels`). Splits are made
    once, stratified and seeded, when the task is built; every evaluator sees
    the same rows. ``source`` is a JSON-able description from which
    :func:`metanas.tasks.rebuild_task` rebuilds the identical task (empty for
    in-memory arrays, which cannot be rebuilt). ``report`` lists what
    preprocessing did (one line each). ``preprocessor`` is the fitted
    preprocessing (train split only) that :meth:`transform` applies to new raw
    rows.

    Build tasks with :meth:`from_arrays`, :meth:`from_dataframe`,
    :meth:`from_csv` or :func:`metanas.tasks.load_task`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3))
    >>> y = np.where(X[:, 0] > 0, "pos", "neg")
    >>> task = Task.from_arrays(X, y, name="toy", seed=0)
    >>> task.summary()
    'toy: tabular (3,), 2 classes, 60/20/20 train/valid/test'
    >>> task.classes
    ('neg', 'pos')
    >>> task.decode_labels([1, 0]).tolist()
    ['pos', 'neg']
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[Any, ...]
    modality: str = "tabular"
    seed: int = 0
    source: Mapping[str, Any] = field(default_factory=dict)
    report: tuple[str, ...] = ()
    _meta: dict[str, Any] = field(default_factory=dict, repr=False)
    preprocessor: Preprocessor | None = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    def decode_labels(self, codes: np.ndarray | Sequence[int]) -> np.ndarray:
        """Class codes -> the original labels."""
        lookup = np.asarray(self.classes, dtype=object)
        out = lookup[np.asarray(codes, dtype=np.int64)]
        try:
            return out.astype(type(self.classes[0])) if self.classes else out
        except (TypeError, ValueError):
            return out

    def encode_labels(self, labels: np.ndarray | Sequence[Any]) -> np.ndarray:
        """Original labels -> class codes; unknown labels raise ValueError."""
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(labels), dtype=np.int64)
        for i, lab in enumerate(np.asarray(labels, dtype=object)):
            key = lab.item() if isinstance(lab, np.generic) else lab
            if key not in index:
                raise ValueError(
                    f"Label {lab!r} is not a class of task {self.name!r}; classes: "
                    f"{list(self.classes)!r}."
                )
            out[i] = index[key]
        return out

    @property
    def n_valid(self) -> int:
        return int(self.X_valid.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_arrays(
        cls,
        X: Any,
        y: Any,
        *,
        name: str,
        X_test: Any = None,
        y_test: Any = None,
        test_size: float = 0.2,
        valid_size: float = 0.2,
        seed: int | None = 0,
        modality: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> Task:
        """Build a task from a numeric array and its labels.

        Parameters
        ----------
        X
            Numeric array: ``(n, features)`` tabular, ``(n, channels, length)``
            sequence, ``(n, channels, height, width)`` image.
        y
            ``n`` labels of any hashable kind (str, int, float); coded in
            sorted order.
        name
            The task's name.
        X_test, y_test
            A fixed test split (both or neither); then only the validation
            split is carved from ``X``.
        test_size, valid_size
            Fractions of ``X``'s rows for the test and validation splits
            (stratified, seeded). ``test_size=0`` makes no test split (for
            callers that hold out their own test data).
        seed
            Seed of the splits (None: a fresh one, stored on the task).
        modality
            ``"tabular"``, ``"sequence"`` or ``"image"``; inferred from
            ``X.ndim`` when None. A 2-D ``X`` as ``"sequence"`` becomes
            ``(n, 1, length)``, a 3-D one as ``"image"`` ``(n, 1, h, w)``.
        source
            JSON-able description to rebuild the task (builders pass it).

        Returns
        -------
        Task
            Features standardised with the train split's statistics (per
            feature for tables, per channel otherwise), float32.

        Raises
        ------
        ValueError
            Fewer than two classes, mismatched lengths or shapes, missing
            labels, non-numeric or non-finite X, empty data, or a class too
            small to stratify.
        """
        seed = resolve_seed(seed)
        x = to_numeric_array(X, "X")
        codes, classes = encode_targets(y, "y")
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError("X is empty (no samples). Pass at least a few rows per class.")
        if x.shape[0] != len(codes):
            raise ValueError(
                f"X has {x.shape[0]} samples but y has {len(codes)} labels. Pass one label "
                "per sample (row) of X."
            )
        modality = infer_modality(x.ndim) if modality is None else check_modality(modality)
        raw_shape = tuple(int(d) for d in x.shape[1:])
        feature_shape = shape_for_modality(raw_shape, modality)
        if min(feature_shape, default=0) == 0:
            raise ValueError(f"X has no features (sample shape {raw_shape}). Pass features.")
        x = x.reshape((x.shape[0], *feature_shape))
        valid_size = check_fraction("valid_size", valid_size)
        if (X_test is None) != (y_test is None):
            raise ValueError(
                "Pass X_test and y_test together (or neither, to carve the test split from X)."
            )
        if X_test is None:
            valid_size, test_size = check_split_sizes(valid_size, test_size)
            train, valid, test = split_indices(
                codes, classes, test_size=test_size, valid_size=valid_size, seed=seed
            )
            x_test, c_test = x[test], codes[test]
        else:
            train, valid, _ = split_indices(
                codes, classes, test_size=None, valid_size=valid_size, seed=seed
            )
            xt = to_numeric_array(X_test, "X_test")
            if xt.ndim == 0 or xt.shape[0] == 0:
                raise ValueError("X_test is empty. Pass test rows or leave X_test=None.")
            if tuple(xt.shape[1:]) != raw_shape:
                raise ValueError(
                    f"X_test has samples of shape {tuple(xt.shape[1:])} but X has {raw_shape}. "
                    "Pass test rows with the same features as X."
                )
            labels_test = np.asarray(y_test, dtype=object)
            if labels_test.ndim != 1 or len(labels_test) != xt.shape[0]:
                raise ValueError(
                    f"X_test has {xt.shape[0]} samples but y_test has shape "
                    f"{labels_test.shape}. Pass one label per test sample."
                )
            c_test = _encode_known(labels_test, classes, "y_test")
            x_test = xt.reshape((xt.shape[0], *feature_shape))
        std = Standardiser.fit(x[train], modality)
        pre = Preprocessor(
            modality=modality, raw_shape=raw_shape, standardiser=std, feature_shape=feature_shape
        )
        return cls(
            name=str(name),
            X_train=std.transform(x[train]),
            y_train=codes[train],
            X_valid=std.transform(x[valid]),
            y_valid=codes[valid],
            X_test=std.transform(x_test),
            y_test=c_test,
            classes=classes,
            modality=modality,
            seed=seed,
            source=dict(source or {}),
            preprocessor=pre,
        )

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        target: str,
        *,
        name: str = "dataframe",
        test_size: float = 0.2,
        valid_size: float = 0.2,
        seed: int | None = 0,
        source: Mapping[str, Any] | None = None,
    ) -> Task:
        """Build a tabular task from a table with a target column.

        Numeric columns with gaps are imputed with the train median;
        categorical (string, category, bool) columns are imputed with the most
        frequent train value and one-hot encoded (unknown values later encode
        as all zeros); columns constant on the train split are dropped. Then
        every feature is standardised. ``report`` says what was done.

        Parameters
        ----------
        df
            The table; every column but ``target`` is a feature.
        target
            The label column.
        name, test_size, valid_size, seed, source
            As for :meth:`from_arrays`.

        Raises
        ------
        ValueError
            No such target column (the columns are listed), rows with a
            missing target, an empty table, no usable feature column, or the
            label problems of :meth:`from_arrays`.
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}.")
        seed = resolve_seed(seed)
        columns = [str(c) for c in df.columns]
        if target not in df.columns:
            raise ValueError(
                f"No target column {target!r}.{closest(str(target), columns)} The columns are: "
                f"{columns!r}. Pass one of them as target."
            )
        if len(df) == 0:
            raise ValueError("The table is empty (no rows). Pass a table with data rows.")
        labels = df[target]
        missing = is_missing(labels)
        if missing.any():
            raise ValueError(
                f"{int(missing.sum())} of {len(df)} rows have no value in target column "
                f"{target!r}. Drop them (df.dropna(subset=[{target!r}])) or fill them with a "
                "class before building the task."
            )
        codes, classes = encode_targets(labels.to_numpy(dtype=object), f"column {target!r}")
        features = df.drop(columns=[target])
        features.columns = [str(c) for c in features.columns]
        if features.shape[1] == 0:
            raise ValueError(
                f"The table has no feature columns besides target {target!r}. Add features."
            )
        valid_size, test_size = check_split_sizes(valid_size, test_size)
        train, valid, test = split_indices(
            codes, classes, test_size=test_size, valid_size=valid_size, seed=seed
        )
        pipeline = ColumnPipeline.fit(features, train)
        if pipeline.n_features == 0:
            raise ValueError(
                f"Every feature column is constant or empty on the train split "
                f"({list(pipeline.dropped)!r}); there is nothing to learn from. Add features."
            )
        x = pipeline.transform(features)
        std = Standardiser.fit(x[train], "tabular")
        pre = Preprocessor(
            modality="tabular",
            raw_shape=(features.shape[1],),
            standardiser=std,
            columns=pipeline,
            feature_shape=(x.shape[1],),
        )
        report = pipeline.report()
        for line in report:
            _logger.info("Task %r: %s", name, line)
        return cls(
            name=str(name),
            X_train=std.transform(x[train]),
            y_train=codes[train],
            X_valid=std.transform(x[valid]),
            y_valid=codes[valid],
            X_test=std.transform(x[test]),
            y_test=codes[test],
            classes=classes,
            modality="tabular",
            seed=seed,
            source=dict(source) if source is not None else {"kind": "dataframe"},
            report=report,
            preprocessor=pre,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        target: str,
        *,
        name: str | None = None,
        test_size: float = 0.2,
        valid_size: float = 0.2,
        seed: int | None = 0,
        **read_csv_kwargs: Any,
    ) -> Task:
        """Build a tabular task from a CSV file (see :meth:`from_dataframe`).

        Empty cells, ``NA`` and ``NaN`` are missing values (pandas' defaults).
        The task is named after the file's stem unless ``name`` is given, and
        its ``source`` records the absolute path, target, seed and reader
        options so :func:`metanas.tasks.rebuild_task` rebuilds it.

        Parameters
        ----------
        path
            The CSV file.
        target
            The label column.
        name, test_size, valid_size, seed
            As for :meth:`from_arrays`.
        **read_csv_kwargs
            Passed to ``pandas.read_csv`` (e.g. ``sep=";"``).

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            The file cannot be parsed, or the problems of :meth:`from_dataframe`.
        """
        import pandas as pd

        seed = resolve_seed(seed)
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise FileNotFoundError(f"No CSV file {str(path)!r} ({file}). Check the path.")
        try:
            df = pd.read_csv(file, **read_csv_kwargs)
        except UnicodeDecodeError as exc:
            raise CSVEncodingError(file, read_csv_kwargs.get("encoding"), exc) from exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(
                f"Could not read {str(file)!r} as CSV: {exc}. Pass reader options such as "
                "sep=';' or encoding='latin-1'."
            ) from exc
        reader = dict(read_csv_kwargs)
        try:
            json.dumps(reader)
        except TypeError:
            warnings.warn(
                "read_csv options that are not JSON-able are not recorded; rebuild_task will "
                "read the file with pandas' defaults.",
                stacklevel=2,
            )
            reader = {}
        task_name = file.stem if name is None else str(name)
        source = {
            "kind": "csv",
            "path": str(file),
            "target": target,
            "name": task_name,
            "seed": seed,
            "test_size": test_size,
            "valid_size": valid_size,
            "read_csv": reader,
        }
        return cls.from_dataframe(
            df,
            target,
            name=task_name,
            test_size=test_size,
            valid_size=valid_size,
            seed=seed,
            source=source,
        )

    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        labels: Any,
        *,
        name: str = "texts",
        encoding: str = "bytes",
        max_len: int | None = None,
        test_size: float = 0.2,
        valid_size: float = 0.2,
        seed: int | None = 0,
        source: Mapping[str, Any] | None = None,
    ) -> Task:
        """Build a text classification task: texts become padded integer code sequences.

        ``X_*`` have shape ``(n, 1, max_len)`` (modality ``"sequence"``): float32
        codes, 0 for padding (a text's length is its number of non-zero codes),
        UTF-8 bytes as ``byte + 1`` (``encoding="bytes"``) or the train split's
        most frequent characters (``"chars"``, 1 for any other). The codes are
        not standardised; the sequence spaces (``seq-cnn``, ``seq-rnn``,
        ``seq-attn``) embed them. :meth:`transform` encodes new texts.

        Parameters
        ----------
        texts
            The texts (str).
        labels
            One label per text, as for :meth:`from_arrays`.
        name, test_size, valid_size, seed, source
            As for :meth:`from_arrays`.
        encoding
            ``"bytes"`` or ``"chars"``.
        max_len
            Codes kept per text (longer texts are cut); None: the longest train
            text's, at most 512.

        Raises
        ------
        TypeError
            A text that is not a str.
        ValueError
            Empty data, mismatched lengths, or the label problems of :meth:`from_arrays`.

        Examples
        --------
        >>> words = ["hund", "katze", "maus", "dog", "cat", "mouse"] * 5
        >>> task = Task.from_texts(words, ["de"] * 3 + ["en"] * 3 + ["de"] * 3 + ["en"] * 3
        ...                        + ["de"] * 3 + ["en"] * 3 + ["de"] * 3 + ["en"] * 3
        ...                        + ["de"] * 3 + ["en"] * 3, name="toy")
        >>> task.summary()
        'toy: sequence (1, 5), 2 classes, 18/6/6 train/valid/test'
        >>> task.transform(["cat"])[0, 0].tolist()
        [100.0, 98.0, 117.0, 0.0, 0.0]
        """
        from metanas.tasks._text import TextEncoder

        seed = resolve_seed(seed)
        if isinstance(texts, str) or not isinstance(texts, Sequence | np.ndarray):
            raise TypeError(f"texts must be a sequence of str; got {type(texts).__name__}.")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(
                f"texts must all be str; text {bad[0]} is {type(texts[bad[0]]).__name__}. "
                "Convert them with str() or decode bytes first."
            )
        if not texts:
            raise ValueError("texts is empty. Pass at least a few texts per class.")
        codes, classes = encode_targets(labels, "labels")
        if len(codes) != len(texts):
            raise ValueError(
                f"{len(texts)} texts but {len(codes)} labels. Pass one label per text."
            )
        valid_size, test_size = check_split_sizes(valid_size, test_size)
        train, valid, test = split_indices(
            codes, classes, test_size=test_size, valid_size=valid_size, seed=seed
        )
        train_texts = [texts[i] for i in train]
        if max_len is None:
            longest = max(
                len(t.encode("utf-8")) if encoding == "bytes" else len(t) for t in train_texts
            )
            max_len = min(512, max(1, longest))
        enc = TextEncoder.fit(train_texts, encoding=encoding, max_len=max_len)
        x = enc.transform(texts)
        return cls(
            name=str(name),
            X_train=x[train],
            y_train=codes[train],
            X_valid=x[valid],
            y_valid=codes[valid],
            X_test=x[test],
            y_test=codes[test],
            classes=classes,
            modality="sequence",
            seed=seed,
            source=dict(source) if source is not None else {"kind": "arrays"},
            preprocessor=enc,
        )

    @classmethod
    def from_audio(
        cls,
        audio: Any,
        labels: Any,
        sample_rate: int,
        *,
        name: str = "audio",
        features: str = "logmel",
        duration_s: float | None = None,
        groups: Any = None,
        n_mels: int = 40,
        n_mfcc: int = 20,
        test_size: float = 0.2,
        valid_size: float = 0.2,
        seed: int | None = 0,
    ) -> Task:
        """Build an audio classification task from files or waveforms.

        Clips are cut (centre) or zero-padded (end) to ``duration_s``, then
        featurised with librosa: ``"logmel"`` gives ``(n_mels, frames)`` log-mel
        spectrograms (25 ms windows every 10 ms), ``"mfcc"`` ``(n_mfcc,
        frames)``, ``"waveform"`` the raw ``(1, samples)``. Features are
        standardised per channel with the train split's statistics (modality
        ``"sequence"``, so the ``cnn`` space's 1-D convolutions take them).
        :meth:`transform` featurises new clips the same way.

        Parameters
        ----------
        audio
            File paths (any format librosa reads; resampled to ``sample_rate``,
            mixed to mono), 1-D waveforms, or an ``(n, samples)`` array.
        labels
            One label per clip, as for :meth:`from_arrays`.
        sample_rate
            Rate of the waveforms in Hz (files are resampled to it).
        name, test_size, valid_size, seed
            As for :meth:`from_arrays`.
        features
            ``"logmel"``, ``"mfcc"`` or ``"waveform"``.
        duration_s
            Length every clip is brought to; None: the longest clip's.
        groups
            One group per clip (e.g. a speaker id): whole groups go to one
            split, so the test split holds unheard speakers. None: a stratified
            split of the clips.
        n_mels, n_mfcc
            Mel bands and MFCC coefficients.

        Raises
        ------
        FileNotFoundError
            A path that is not a file.
        ImportError
            librosa is missing (``pip install "metanas[audio]"``).
        ValueError
            Mismatched lengths, bad clips, too few groups, an unknown feature
            kind, or the label problems of :meth:`from_arrays`.

        Examples
        --------
        >>> import numpy as np
        >>> t = np.arange(8000) / 8000
        >>> clips = [np.sin(2 * np.pi * f * t) for f in [300, 310, 320, 900, 910, 920] * 5]
        >>> task = Task.from_audio(clips, ["low"] * 3 + ["high"] * 3 + ["low"] * 3
        ...                        + ["high"] * 3 + ["low"] * 3 + ["high"] * 3 + ["low"] * 3
        ...                        + ["high"] * 3 + ["low"] * 3 + ["high"] * 3, 8000,
        ...                        features="waveform", name="tones")
        >>> task.summary()
        'tones: sequence (1, 8000), 2 classes, 18/6/6 train/valid/test'
        """
        from metanas.tasks._speech import audio_task

        return audio_task(
            cls, audio, labels, sample_rate, name=str(name), features=features,
            duration_s=duration_s, groups=groups, n_mels=n_mels, n_mfcc=n_mfcc,
            test_size=test_size, valid_size=valid_size, seed=resolve_seed(seed),
        )  # fmt: skip

    # ------------------------------------------------------------------ use

    def transform(self, X_raw: Any) -> np.ndarray:
        """Preprocess new raw rows exactly as the task's splits were.

        Parameters
        ----------
        X_raw
            For array tasks an array shaped like the ``X`` the task was built
            from (standardisation only). For table tasks a DataFrame with the
            feature columns (extra columns, such as the target, are ignored)
            or a 2-D array with one column per source feature column.

        Returns
        -------
        numpy.ndarray
            float32 of shape ``(n, *input_shape)``.
        """
        if self.preprocessor is None:
            raise ValueError(
                f"Task {self.name!r} has no preprocessor (it was built directly, not with "
                "Task.from_arrays/from_dataframe/from_csv/load_task); its inputs must already "
                "be preprocessed."
            )
        return self.preprocessor.transform(X_raw)

    def summary(self) -> str:
        """One line: name, modality, input shape, classes and split sizes."""
        return (
            f"{self.name}: {self.modality} {self.input_shape}, {self.n_classes} classes, "
            f"{self.n_train}/{self.n_valid}/{self.n_test} train/valid/test"
        )

    def meta_features(self) -> dict[str, float]:
        """Meta-features of the train split (cached): statistics and landmarkers.

        Keys: ``log_n_samples``, ``log_n_features``, ``n_classes``,
        ``log_features_per_sample``, ``class_entropy`` (normalised to [0, 1]),
        ``class_balance`` (minority / majority count), ``mean_abs_skew``,
        ``mean_kurtosis``, ``frac_categorical`` (of the source columns),
        ``frac_missing`` (of the raw cells), ``pca_frac_95`` (fraction of
        principal components for 95 % of the variance) and the validation
        accuracies of four landmarkers fit on at most 2,000 train rows:
        ``landmark_logreg``, ``landmark_1nn``, ``landmark_stump``,
        ``landmark_naive_bayes``. Logs are natural. Deterministic given the
        task's seed.
        """
        cached = self._meta.get("meta_features")
        if cached is None:
            from metanas.tasks._meta import compute_meta_features

            cached = compute_meta_features(self)
            self._meta["meta_features"] = cached
        return dict(cached)

    def descriptors(self) -> dict[str, Any]:
        """JSON-able descriptors for storage and task similarity.

        ``modality``, ``input_shape`` (a string such as ``"1x8x8"``, since the
        experience memory stores only scalars), ``n_classes``, ``source``
        (``"<kind>/<name>"``) and every meta-feature.
        """
        kind = str(self.source.get("kind", "arrays")) if self.source else "arrays"
        out: dict[str, Any] = {
            "modality": self.modality,
            "input_shape": "x".join(str(d) for d in self.input_shape),
            "n_classes": self.n_classes,
            "source": f"{kind}/{self.source.get('name', self.name)}",
            **self.meta_features(),
        }
        out["n_classes"] = self.n_classes  # an int, not the meta-feature's float
        return out


def _encode_known(labels: np.ndarray, classes: tuple[Any, ...], what: str) -> np.ndarray:
    codes, found = encode_targets(labels, what)
    index = {c: i for i, c in enumerate(classes)}
    extra = [c for c in found if c not in index]
    if extra:
        raise ValueError(
            f"{what} has labels {extra[:10]!r} that are not in y (classes {list(classes)!r}). "
            "Every test label must occur in the training data."
        )
    mapping = np.array([index[c] for c in found], dtype=np.int64)
    out: np.ndarray = mapping[codes]
    return out
