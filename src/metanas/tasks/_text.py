"""Text tasks read offline from Debian's word lists and fortune collections, and text encoding.

Word lists (``wamerican``, ``wngerman``, ``wfrench`` ...) install plain files under
``/usr/share/dict``; the fortune collections (``fortunes``, ``fortunes-de`` ...) install
``%``-separated UTF-8 files under ``/usr/share/games/fortunes``. The texts a task selects are
cached once per argument set as JSON under the user's data directory, stamped with
:data:`TEXT_CACHE_VERSION` (a change in cleaning or selection bumps it, so stale caches are
never read). Text becomes integer codes (:class:`TextEncoder`): UTF-8 bytes (code ``byte + 1``)
or characters (a vocabulary of the train split's most frequent characters), ``0`` pads, so a
sequence's length is its number of non-zero codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metanas.exceptions import unknown
from metanas.tasks._preprocess import Preprocessor, Standardiser

__all__ = [
    "FORTUNE_DIR",
    "FORTUNE_LANGUAGES",
    "FORTUNE_TOPICS",
    "TEXT_CACHE_VERSION",
    "TEXT_TASKS",
    "VOCAB_SIZE",
    "WORD_LISTS",
    "TextEncoder",
    "text_arrays",
    "text_data_dir",
]

#: Bumped whenever reading, cleaning or selection changes: caches of other versions are ignored.
TEXT_CACHE_VERSION = 1
#: Codes 0 (padding) .. 256: ``byte + 1`` for bytes; pad, unknown and 255 characters otherwise.
VOCAB_SIZE = 257
DICT_DIR = Path("/usr/share/dict")
FORTUNE_DIR = Path("/usr/share/games/fortunes")
#: Language -> (Debian package, file under /usr/share/dict).
WORD_LISTS: dict[str, tuple[str, str]] = {
    "en": ("wamerican", "american-english"),
    "de": ("wngerman", "ngerman"),
    "fr": ("wfrench", "french"),
    "es": ("wspanish", "spanish"),
    "it": ("witalian", "italian"),
    "nl": ("wdutch", "dutch"),
    "pt": ("wportuguese", "portuguese"),
    "sv": ("wswedish", "swedish"),
    "pl": ("wpolish", "polish"),
}
#: The English files of Debian's ``fortunes`` and ``fortunes-min`` (top level of FORTUNE_DIR).
_EN_FORTUNES = (
    "art", "computers", "cookie", "definitions", "drugs", "education", "ethnic", "food", "goedel",
    "humorists", "kids", "law", "linux", "linuxcookie", "love", "magic", "medicine", "men-women",
    "miscellaneous", "news", "people", "perl", "pets", "platitudes", "politics", "pratchett",
    "science", "songs-poems", "sports", "startrek", "tao", "wisdom", "work", "zippy", "fortunes",
    "literature", "riddles",
)  # fmt: skip
#: Language -> (Debian package, files or one directory under FORTUNE_DIR).
FORTUNE_LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": ("fortunes", tuple(_EN_FORTUNES)),
    "de": ("fortunes-de", ("de/",)),
    "es": ("fortunes-es", ("es/",)),
    "it": ("fortunes-it", ("it/",)),
    "pt": ("fortunes-br", ("brasil",)),
    "cs": ("fortunes-cs", ("cs/",)),
    "pl": ("fortunes-pl", ("pl/",)),
    "ru": ("fortunes-ru", ("ru/",)),
}
#: English fortune files with at least 400 distinct entries, used as topics by default.
FORTUNE_TOPICS = (
    "art", "computers", "definitions", "men-women", "politics", "science", "songs-poems", "work",
)  # fmt: skip
#: Per task: its defaults (``load_task(name, **kw)`` accepts these names).
TEXT_TASKS: dict[str, dict[str, Any]] = {
    "langid-words": {
        "languages": ("de", "en", "es", "fr", "it", "nl"),
        "n_per_class": 3000,
        "min_len": 3,
        "max_len": 24,
        "encoding": "bytes",
        "data_seed": 0,
    },
    "langid-sentences": {
        "languages": ("cs", "de", "en", "es", "it", "pl", "pt", "ru"),
        "n_per_class": 1000,
        "min_len": 20,
        "max_len": 128,
        "encoding": "bytes",
        "data_seed": 0,
    },
    "fortune-topics": {
        "topics": FORTUNE_TOPICS,
        "n_per_class": 400,
        "min_len": 10,
        "max_len": 256,
        "encoding": "bytes",
        "data_seed": 0,
    },
}
_ENCODINGS = ("bytes", "chars")
_WORD_RE = re.compile(r"^[^\W\d_]+$")


def text_data_dir() -> Path:
    """Where text tasks are cached: ``$METANAS_DATA_DIR``, else ``$XDG_DATA_HOME/metanas``.

    ``~/.local/share/metanas`` when neither is set; the cache is the ``text`` folder inside.
    """
    env = os.environ.get("METANAS_DATA_DIR")
    if env:
        return Path(env).expanduser() / "text"
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "metanas" / "text"


def _missing(packages: Sequence[str], what: str) -> FileNotFoundError:
    line = "sudo apt-get install " + " ".join(sorted(set(packages)))
    return FileNotFoundError(
        f"{what} needs Debian's package(s) {', '.join(sorted(set(packages)))}, which are not "
        f"installed. Install them with `{line}` (Debian/Ubuntu), or leave those languages "
        "out (languages=...)."
    )


def _clean_words(lines: Sequence[str], min_len: int, max_len: int) -> set[str]:
    """Lower-cased alphabetic words of ``min_len`` to ``max_len`` characters (no "'s", digits)."""
    out = set()
    for line in lines:
        word = line.strip().lower()
        if min_len <= len(word) <= max_len and _WORD_RE.match(word):
            out.add(word)
    return out


def _fortune_entries(path: Path) -> list[str]:
    """Entries of one fortune file, whitespace collapsed (``%`` lines separate them)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    entries = re.split(r"^%\s*$", text, flags=re.MULTILINE)
    return [" ".join(e.split()) for e in entries if e.strip()]


def _fortune_files(spec: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in spec:
        if item.endswith("/"):
            folder = FORTUNE_DIR / item
            files.extend(
                p
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix not in (".dat", ".u8")
            )
        else:
            files.append(FORTUNE_DIR / item)
    return files


def _check_names(what: str, names: Any, valid: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence) or len(set(names)) < 2:
        raise ValueError(
            f"{what} must be a sequence of at least two names; got {names!r}. Pass e.g. "
            f"{tuple(valid[:3])!r}."
        )
    for name in names:
        if name not in valid:
            raise unknown(what.rstrip("s"), str(name), valid)
    return tuple(sorted(set(names)))


def _balanced(
    pools: Mapping[str, Sequence[str]], n_per_class: int, seed: int
) -> tuple[list[str], list[str]]:
    """``n_per_class`` texts of each class (fewer if the smallest pool is smaller), seeded."""
    n = min(n_per_class, *(len(p) for p in pools.values()))
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[str] = []
    for label in sorted(pools):
        pool = sorted(pools[label])
        for i in sorted(rng.choice(len(pool), size=n, replace=False).tolist()):
            texts.append(pool[i])
            labels.append(label)
    return texts, labels


def _read_words(args: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    langs = args["languages"]
    absent = [WORD_LISTS[g][0] for g in langs if not (DICT_DIR / WORD_LISTS[g][1]).is_file()]
    if absent:
        raise _missing(absent, "langid-words")
    words = {
        lang: _clean_words(
            (DICT_DIR / WORD_LISTS[lang][1])
            .read_text(encoding="utf-8", errors="replace")
            .split("\n"),
            int(args["min_len"]),
            int(args["max_len"]),
        )
        for lang in langs
    }
    # A word spelled the same in two languages has no single right answer: drop it everywhere.
    seen = Counter(w for ws in words.values() for w in ws)
    pools = {lang: [w for w in ws if seen[w] == 1] for lang, ws in words.items()}
    return _balanced(pools, int(args["n_per_class"]), int(args["data_seed"]))


def _read_fortunes(
    groups: Mapping[str, tuple[str, tuple[str, ...]]], args: Mapping[str, Any], what: str
) -> tuple[list[str], list[str]]:
    absent = [pkg for pkg, spec in groups.values() if not all(p.exists() for p in _paths(spec))]
    if absent:
        raise _missing(absent, what)
    entries: dict[str, set[str]] = {}
    for label, (_, spec) in groups.items():
        found: set[str] = set()
        for path in _fortune_files(spec):
            found.update(e for e in _fortune_entries(path) if len(e) >= int(args["min_len"]))
        entries[label] = found
    # The same fortune filed under two labels (a quote in two collections) is dropped from both.
    seen = Counter(e for es in entries.values() for e in es)
    pools = {label: [e for e in es if seen[e] == 1] for label, es in entries.items()}
    return _balanced(pools, int(args["n_per_class"]), int(args["data_seed"]))


def _paths(spec: Sequence[str]) -> list[Path]:
    return [FORTUNE_DIR / item.rstrip("/") for item in spec]


def check_text_args(task: str, kw: Mapping[str, Any]) -> dict[str, Any]:
    """``kw`` over the defaults of ``task``, checked (unknown names, languages, sizes)."""
    defaults = TEXT_TASKS[task]
    bad = sorted(set(kw) - set(defaults))
    if bad:
        raise unknown(f"{task} argument", bad[0], [*defaults, "test_size", "valid_size"])
    args = {**defaults, **kw}
    if "languages" in args:
        valid = WORD_LISTS if task == "langid-words" else FORTUNE_LANGUAGES
        args["languages"] = _check_names("languages", args["languages"], sorted(valid))
    if "topics" in args:
        args["topics"] = _check_names("topics", args["topics"], _EN_FORTUNES)
    for key in ("n_per_class", "min_len", "max_len"):
        v = args[key]
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{key} must be an int >= 1; got {v!r}.")
    if args["min_len"] > args["max_len"] and task == "langid-words":
        raise ValueError(f"min_len must be <= max_len; got {args['min_len']} > {args['max_len']}.")
    if args["encoding"] not in _ENCODINGS:
        raise unknown("encoding", str(args["encoding"]), _ENCODINGS)
    return args


def text_arrays(task: str, kw: Mapping[str, Any]) -> tuple[list[str], list[str], dict[str, Any]]:
    """Texts and labels of ``load_task(task, **kw)`` (read once, then from the cache).

    Returns the texts, their labels and the checked arguments.
    """
    args = check_text_args(task, kw)
    reading = {k: v for k, v in args.items() if k != "encoding"}
    stamp = json.dumps({"task": task, "version": TEXT_CACHE_VERSION, **reading}, sort_keys=True)
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    cache = text_data_dir() / f"{task}-v{TEXT_CACHE_VERSION}-{digest}.json"
    if cache.is_file():
        try:
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored.get("stamp") == stamp:
                return list(stored["texts"]), list(stored["labels"]), args
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt from the packages below
    if task == "langid-words":
        texts, labels = _read_words(args)
    elif task == "langid-sentences":
        groups = {lang: FORTUNE_LANGUAGES[lang] for lang in args["languages"]}
        texts, labels = _read_fortunes(groups, args, task)
    else:
        groups = {t: ("fortunes", (t,)) for t in args["topics"]}
        texts, labels = _read_fortunes(groups, args, task)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps({"stamp": stamp, "texts": texts, "labels": labels}, ensure_ascii=False),
            encoding="utf-8",
        )
        tmp.replace(cache)
    except OSError:
        pass  # a read-only home still gets the task, read again next time
    return texts, labels, args


# ---------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class TextEncoder(Preprocessor):
    """Texts -> float32 codes ``(n, 1, max_len)``: 0 pads, a text's length is its non-zero codes.

    ``encoding="bytes"``: UTF-8 bytes, code ``byte + 1`` (1 .. 256), nothing unknown.
    ``encoding="chars"``: ``vocab[i]`` has code ``i + 2``; characters outside ``vocab`` are 1.
    Texts longer than ``max_len`` codes are cut. Codes are stored as float32 (exact below
    2**24) so every evaluator feeds them unchanged; the sequence models round them back.

    Examples
    --------
    >>> enc = TextEncoder.fit(["ab", "abc"], encoding="chars", max_len=4)
    >>> enc.transform(["cab", "z"])[:, 0].tolist()
    [[4.0, 2.0, 3.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    >>> TextEncoder.fit([], encoding="bytes", max_len=3).transform(["hé"])[0, 0].tolist()
    [105.0, 196.0, 170.0]
    """

    encoding: str = "bytes"
    max_len: int = 64
    vocab: tuple[str, ...] = field(default=())

    @classmethod
    def fit(
        cls, texts: Sequence[str], *, encoding: str = "bytes", max_len: int = 64
    ) -> TextEncoder:
        """An encoder for ``texts`` (the train split: it picks the character vocabulary)."""
        if encoding not in _ENCODINGS:
            raise unknown("encoding", str(encoding), _ENCODINGS)
        if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
            raise ValueError(f"max_len must be an int >= 1; got {max_len!r}.")
        vocab: tuple[str, ...] = ()
        if encoding == "chars":
            counts = Counter(ch for t in texts for ch in t)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            vocab = tuple(ch for ch, _ in ranked[: VOCAB_SIZE - 2])
        identity = Standardiser(mean=np.zeros((1, 1)), scale=np.ones((1, 1)))
        return cls(
            modality="sequence",
            raw_shape=(int(max_len),),
            standardiser=identity,
            feature_shape=(1, int(max_len)),
            encoding=encoding,
            max_len=int(max_len),
            vocab=vocab,
        )

    def transform(self, X_raw: Any) -> np.ndarray:
        """Texts (a sequence of str) -> float32 codes of shape ``(n, 1, max_len)``."""
        if isinstance(X_raw, str) or not isinstance(X_raw, Sequence | np.ndarray):
            raise TypeError(
                f"Pass a sequence of texts (str); got {type(X_raw).__name__}. Wrap one text in a "
                "list."
            )
        out = np.zeros((len(X_raw), 1, self.max_len), dtype=np.float32)
        index = {ch: i + 2 for i, ch in enumerate(self.vocab)}
        for row, text in enumerate(X_raw):
            if not isinstance(text, str):
                raise TypeError(f"Text {row} is {type(text).__name__}, not str: {text!r}.")
            if self.encoding == "bytes":
                codes = [b + 1 for b in text.encode("utf-8")[: self.max_len]]
            else:
                codes = [index.get(ch, 1) for ch in text[: self.max_len]]
            out[row, 0, : len(codes)] = codes
        return out
