"""Speech tasks: keyword spotting on words synthesised offline by espeak-ng, and users' audio.

``load_task("keywords")`` speaks 20 words (the digits zero..nine and ten commands) with
espeak-ng's voice variants (``+m1`` .. ``+f5``, ``+Alex`` ...), eight English accents, a grid of
speeds and pitches, then adds white or pink noise at a grid of signal-to-noise ratios. The
voices are **synthetic**. Voices are held out between the splits (the test split holds only
voices the training split never heard), and each split draws its speeds, pitches and noise
levels from its own interleaved grid, so no test setting occurs in training either.

The clean words are synthesised once (a few seconds per hundred words; ``n_jobs`` espeak-ng
processes at a time) and cached under ``$METANAS_DATA_DIR`` (else ``$XDG_DATA_HOME/metanas``,
``~/.local/share/metanas``) in a file whose name holds :data:`SPEECH_CACHE_VERSION` and a digest
of the generation arguments; the noise, the position of the word in its one-second window and
the features are computed from the cache on each load (seeded, so identical every time).
Features are log-mel spectrograms or MFCCs computed with librosa, or the raw waveform.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas.exceptions import unknown
from metanas.tasks._build import check_split_sizes, encode_targets, split_indices
from metanas.tasks._preprocess import Preprocessor, Standardiser

if TYPE_CHECKING:
    from metanas.tasks.task import Task

__all__ = [
    "ACCENTS",
    "AUDIO_FEATURES",
    "KEYWORDS",
    "KEYWORDS_ARGS",
    "SPEECH_CACHE_VERSION",
    "VOICE_VARIANTS",
    "AudioPreprocessor",
    "audio_features",
    "audio_task",
    "keywords_task",
    "speech_data_dir",
]

#: Bumped whenever the cached waveforms would change for the same arguments.
SPEECH_CACHE_VERSION = 1
#: The spoken words of ``load_task("keywords")``, in the order of their class codes.
KEYWORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)  # fmt: skip
#: espeak-ng's English accents (its own voices, no MBROLA needed); every split uses all of them.
ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)  # fmt: skip
#: espeak-ng voice variants (``accent+variant``): the speakers, held out between the splits.
VOICE_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "adam", "Alex", "Alicia", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "Gene", "gustave", "iven", "john", "linda", "max",
    "Michael", "michel", "Mike", "norbert", "paul", "pedro", "quincy", "rob", "robert",
    "steph", "travis", "victor", "zac", "grandma", "grandpa", "klatt", "klatt2", "croak",
)  # fmt: skip
#: Feature kinds: ``(n_mels, frames)`` log-mel, ``(n_mfcc, frames)`` MFCC, ``(1, samples)``.
AUDIO_FEATURES = ("logmel", "mfcc", "waveform")
#: Arguments of ``load_task("keywords", **kw)`` and their defaults.
KEYWORDS_ARGS: dict[str, Any] = {
    "words": None,
    "n_voices": 36,
    "n_per_word": 3,
    "snr_db": (5.0, 20.0),
    "features": "logmel",
    "n_mels": 40,
    "n_mfcc": 20,
    "data_seed": 0,
    "n_jobs": 2,
}
SAMPLE_RATE = 16_000
_ESPEAK_RATE = 22_050
_GRID = 15  # settings per grid; split k takes every third value from k
_SPEEDS = tuple(120 + 8 * i for i in range(_GRID))  # words per minute (espeak's default: 175)
_PITCHES = tuple(25 + 4 * i for i in range(_GRID))  # espeak's 0..99 (default 50)
_SPLITS = ("train", "valid", "test")
_APT = "sudo apt-get install espeak-ng"
_GENERATION_KEYS = ("words", "n_voices", "n_per_word", "data_seed")


def speech_data_dir() -> Path:
    """Where speech data are cached: ``$METANAS_DATA_DIR``, else ``$XDG_DATA_HOME/metanas``."""
    env = os.environ.get("METANAS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "metanas"


def _librosa() -> Any:
    try:
        import librosa
    except ImportError as exc:
        raise ImportError(
            'Audio features need librosa. Install it with `pip install "metanas[audio]"` (or '
            "`pip install librosa`), or pass features='waveform'."
        ) from exc
    return librosa


def _frame_settings(sample_rate: int) -> tuple[int, int, int]:
    """25 ms windows every 10 ms, FFT size the next power of two: (n_fft, win, hop)."""
    win = max(16, round(0.025 * sample_rate))
    hop = max(8, round(0.010 * sample_rate))
    return 1 << (win - 1).bit_length(), win, hop


def audio_features(
    waves: np.ndarray,
    sample_rate: int,
    features: str = "logmel",
    *,
    n_mels: int = 40,
    n_mfcc: int = 20,
) -> np.ndarray:
    """Features of equal-length waveforms ``(n, samples)``: ``(n, channels, frames)`` float32.

    ``"logmel"``: the natural log of a mel power spectrogram (25 ms windows every 10 ms,
    ``n_mels`` bands up to half the sample rate); ``"mfcc"``: ``n_mfcc`` coefficients of it;
    ``"waveform"``: the samples themselves, ``(n, 1, samples)``.

    Raises
    ------
    ValueError
        An unknown feature kind (the closest is suggested).
    ImportError
        librosa is not installed (not needed for ``"waveform"``).
    """
    if features not in AUDIO_FEATURES:
        raise unknown("audio features", features, AUDIO_FEATURES)
    x = np.asarray(waves, dtype=np.float32)
    if features == "waveform":
        return np.ascontiguousarray(x[:, None, :])
    librosa = _librosa()
    n_fft, win, hop = _frame_settings(sample_rate)
    mel = librosa.feature.melspectrogram(
        y=x, sr=sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, n_mels=n_mels,
        fmin=20.0, fmax=sample_rate / 2, power=2.0,
    )  # fmt: skip
    if features == "logmel":
        return np.asarray(np.log(mel + 1e-6), dtype=np.float32)
    db = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
    return np.asarray(librosa.feature.mfcc(S=db, n_mfcc=n_mfcc), dtype=np.float32)


def _fit_length(wave: np.ndarray, length: int, offset: int) -> np.ndarray:
    """``wave`` placed at ``offset`` in ``length`` zeros, or its centre ``length`` samples."""
    out = np.zeros(length, dtype=np.float32)
    if len(wave) >= length:
        start = (len(wave) - length) // 2
        out[:] = wave[start : start + length]
    else:
        out[offset : offset + len(wave)] = wave
    return out


@dataclass(frozen=True)
class AudioPreprocessor(Preprocessor):
    """Raw audio (paths or waveforms) -> a task's standardised features.

    Waveforms are cut or zero-padded to ``n_samples`` (``raw_shape``), then
    featurised as the task's splits were and standardised with the train
    split's statistics.
    """

    sample_rate: int = SAMPLE_RATE
    features: str = "logmel"
    n_mels: int = 40
    n_mfcc: int = 20

    def transform(self, X_raw: Any) -> np.ndarray:
        """Paths, 1-D waveforms or an ``(n, samples)`` array -> float32 features."""
        n_samples = int(self.raw_shape[0])
        waves = read_audio(X_raw, self.sample_rate)
        fixed = np.stack([_fit_length(w, n_samples, 0) for w in waves])
        feats = audio_features(
            fixed, self.sample_rate, self.features, n_mels=self.n_mels, n_mfcc=self.n_mfcc
        )
        return self.standardiser.transform(feats)


def read_audio(audio: Any, sample_rate: int) -> list[np.ndarray]:
    """Paths (read and resampled to ``sample_rate`` by librosa) or waveforms -> 1-D float32.

    Raises
    ------
    FileNotFoundError
        A path that is not a file.
    ValueError
        No clips, or a waveform that is not 1-D, empty or not finite.
    """
    if isinstance(audio, np.ndarray) and audio.ndim == 2 and audio.dtype.kind in "biuf":
        items: list[Any] = list(audio)
    elif isinstance(audio, str | os.PathLike | np.ndarray):
        items = [audio]
    else:
        items = list(audio)
    if not items:
        raise ValueError("No audio clips given. Pass a list of file paths or 1-D waveforms.")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str | os.PathLike):
            path = Path(item).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"No audio file {str(item)!r} (clip {i}). Check the path.")
            wave, _ = _librosa().load(path, sr=sample_rate, mono=True)
        else:
            wave = np.asarray(item, dtype=np.float32)
            if wave.ndim != 1 or wave.size == 0:
                raise ValueError(
                    f"Audio clip {i} has shape {wave.shape}; pass each clip as a 1-D waveform "
                    "(mono samples) or a file path."
                )
        if not np.isfinite(wave).all():
            raise ValueError(f"Audio clip {i} has NaN or infinite samples. Clean it first.")
        out.append(np.asarray(wave, dtype=np.float32))
    return out


def _check_features(features: str, n_mels: int, n_mfcc: int) -> None:
    if features not in AUDIO_FEATURES:
        raise unknown("features", features, AUDIO_FEATURES)
    for name, value in (("n_mels", n_mels), ("n_mfcc", n_mfcc)):
        if isinstance(value, bool) or not isinstance(value, int) or not 4 <= value <= 256:
            raise ValueError(f"{name} must be an int in [4, 256]; got {value!r}.")
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) must be <= n_mels ({n_mels}). Lower n_mfcc.")


def build_audio_task(
    make: type[Task],
    feats: np.ndarray,
    n_samples: int,
    codes: np.ndarray,
    classes: tuple[Any, ...],
    rows: Sequence[np.ndarray],
    *,
    name: str,
    sample_rate: int,
    features: str,
    n_mels: int,
    n_mfcc: int,
    seed: int,
) -> Task:
    """A sequence task (of class ``make``) from ``n_samples``-long clips' features and split rows.

    The task class is passed in, not imported, so that ``metanas.tasks.task`` (which calls this
    lazily) and this module import in one direction only.
    """
    train, valid, test = rows
    std = Standardiser.fit(feats[train], "sequence")
    pre = AudioPreprocessor(
        modality="sequence", raw_shape=(int(n_samples),), standardiser=std,
        feature_shape=tuple(int(d) for d in feats.shape[1:]), sample_rate=sample_rate,
        features=features, n_mels=n_mels, n_mfcc=n_mfcc,
    )  # fmt: skip
    return make(
        name=name, X_train=std.transform(feats[train]), y_train=codes[train],
        X_valid=std.transform(feats[valid]), y_valid=codes[valid],
        X_test=std.transform(feats[test]), y_test=codes[test], classes=classes,
        modality="sequence", seed=seed, preprocessor=pre,
    )  # fmt: skip


def _group_rows(
    groups: np.ndarray, test_size: float, valid_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of train/valid/test with every group in one split only (groups shuffled, seeded)."""
    uniq = np.unique(groups)
    n_test = round(test_size * len(uniq))
    n_valid = round(valid_size * len(uniq))
    if len(uniq) - n_test - n_valid < 1 or n_valid < 1 or (test_size > 0 and n_test < 1):
        raise ValueError(
            f"{len(uniq)} groups cannot be split {1 - test_size - valid_size:.2f}/"
            f"{valid_size:.2f}/{test_size:.2f} with at least one group in each split. Pass "
            "more groups (e.g. more speakers) or groups=None for a stratified split of clips."
        )
    perm = np.random.default_rng(seed).permutation(uniq)
    test_g, valid_g = perm[:n_test], perm[n_test : n_test + n_valid]
    test = np.flatnonzero(np.isin(groups, test_g))
    valid = np.flatnonzero(np.isin(groups, valid_g))
    train = np.setdiff1d(np.arange(len(groups)), np.concatenate([test, valid]))
    return train, valid, test


def audio_task(
    make: type[Task],
    audio: Any,
    labels: Any,
    sample_rate: int,
    *,
    name: str,
    features: str,
    duration_s: float | None,
    groups: Any,
    n_mels: int,
    n_mfcc: int,
    test_size: float,
    valid_size: float,
    seed: int,
) -> Task:
    """The work of :meth:`metanas.tasks.Task.from_audio` (see there)."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1000:
        raise ValueError(
            f"sample_rate must be an int >= 1000 (Hz); got {sample_rate!r}. Pass the rate of "
            "the waveforms (files are resampled to it)."
        )
    _check_features(features, n_mels, n_mfcc)
    waves = read_audio(audio, sample_rate)
    codes, classes = encode_targets(labels, "labels")
    if len(codes) != len(waves):
        raise ValueError(
            f"Got {len(waves)} audio clips but {len(codes)} labels. Pass one label per clip."
        )
    if duration_s is None:
        n_samples = max(len(w) for w in waves)
    elif isinstance(duration_s, int | float) and duration_s > 0:
        n_samples = max(1, round(float(duration_s) * sample_rate))
    else:
        raise ValueError(f"duration_s must be a number > 0 or None; got {duration_s!r}.")
    fixed = np.stack([_fit_length(w, n_samples, 0) for w in waves])
    valid_size, test_size = check_split_sizes(valid_size, test_size)
    if groups is None:
        rows = split_indices(codes, classes, test_size=test_size, valid_size=valid_size, seed=seed)
    else:
        group_arr = np.asarray(groups, dtype=object).astype(str)
        if group_arr.shape != (len(codes),):
            raise ValueError(
                f"groups has shape {group_arr.shape}; pass one group (e.g. a speaker id) per clip."
            )
        rows = _group_rows(group_arr, test_size, valid_size, seed)
    feats = audio_features(fixed, sample_rate, features, n_mels=n_mels, n_mfcc=n_mfcc)
    return build_audio_task(
        make, feats, n_samples, codes, classes, rows, name=name, sample_rate=sample_rate,
        features=features, n_mels=n_mels, n_mfcc=n_mfcc, seed=seed,
    )  # fmt: skip


# ---------------------------------------------------------------------------- keywords


def check_keywords_args(kw: Mapping[str, Any]) -> dict[str, Any]:
    """``kw`` over :data:`KEYWORDS_ARGS`, checked."""
    bad = sorted(set(kw) - set(KEYWORDS_ARGS))
    if bad:
        raise unknown(
            "keywords argument", bad[0], [*KEYWORDS_ARGS, "valid_size"],
            "The splits are by voice (test voices are never heard in training).",
        )  # fmt: skip
    args = {**KEYWORDS_ARGS, **kw}
    words = KEYWORDS if args["words"] is None else args["words"]
    if isinstance(words, str) or len(set(words)) < 2 or not set(words) <= set(KEYWORDS):
        raise ValueError(
            f"words must name at least two of {list(KEYWORDS)!r}; got {args['words']!r}. Pass "
            "e.g. words=('yes', 'no', 'up', 'down')."
        )
    args["words"] = None if args["words"] is None else tuple(w for w in KEYWORDS if w in words)
    n_max = len(VOICE_VARIANTS)
    for key, low, high in (("n_voices", 3, n_max), ("n_per_word", 1, 100), ("n_jobs", 1, 64)):
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{key} must be an int in [{low}, {high}]; got {value!r}.")
    snr = args["snr_db"]
    if snr is not None:
        try:
            lo, hi = (float(s) for s in snr)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"snr_db must be (low, high) in dB or None (no noise); got {snr!r}."
            ) from exc
        if not lo <= hi:
            raise ValueError(f"snr_db must be (low, high) with low <= high; got {snr!r}.")
        args["snr_db"] = (lo, hi)
    _check_features(args["features"], args["n_mels"], args["n_mfcc"])
    if isinstance(args["data_seed"], bool) or not isinstance(args["data_seed"], int):
        raise ValueError(f"data_seed must be an int; got {args['data_seed']!r}.")
    return args


@dataclass(frozen=True)
class _Plan:
    """What to synthesise: one row per clip, and the per-split settings drawn for it."""

    word: np.ndarray
    split: np.ndarray
    voice: np.ndarray
    accent: np.ndarray
    speed: np.ndarray
    pitch: np.ndarray
    level: np.ndarray  # index into the split's share of the noise grid


def _plan(args: Mapping[str, Any]) -> _Plan:
    rng = np.random.default_rng([int(args["data_seed"]), 19])
    words = KEYWORDS if args["words"] is None else args["words"]
    n_voices = int(args["n_voices"])
    voices = rng.permutation(len(VOICE_VARIANTS))[:n_voices]
    n_test = n_valid = max(1, round(0.2 * n_voices))
    split_of = np.zeros(n_voices, dtype=np.int64)
    split_of[:n_valid] = 1
    split_of[n_valid : n_valid + n_test] = 2
    rows: dict[str, list[int]] = {k: [] for k in _Plan.__dataclass_fields__}
    for v, s in zip(voices, split_of, strict=True):
        for w in range(len(words)):
            for _ in range(int(args["n_per_word"])):
                rows["word"].append(KEYWORDS.index(words[w]))
                rows["split"].append(int(s))
                rows["voice"].append(int(v))
                rows["accent"].append(int(rng.integers(len(ACCENTS))))
                rows["speed"].append(_SPEEDS[s + 3 * int(rng.integers(_GRID // 3))])
                rows["pitch"].append(_PITCHES[s + 3 * int(rng.integers(_GRID // 3))])
                rows["level"].append(int(s + 3 * int(rng.integers(_GRID // 3))))
    return _Plan(**{k: np.asarray(v, dtype=np.int64) for k, v in rows.items()})


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError(
            "The keyword-spotting task synthesises its words with espeak-ng, which is not "
            f"installed. Install it with `{_APT}` (Debian/Ubuntu), or copy a cache made on "
            f"another machine into {str(speech_data_dir())!r}."
        )
    return exe


def _speak(exe: str, word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One clean word at 16 kHz, int16, leading and trailing silence trimmed."""
    from scipy.signal import resample_poly

    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    data = proc.stdout.find(b"data")
    if proc.returncode != 0 or data < 0:
        raise RuntimeError(
            f"espeak-ng failed on {word!r} with voice {voice!r} (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()}. Check `espeak-ng --voices=en`."
        )
    # espeak-ng streams, so the header's sizes are placeholders; the samples follow "data"+size.
    pcm = np.frombuffer(proc.stdout[data + 8 :], dtype="<i2").astype(np.float32)
    wave = np.asarray(resample_poly(pcm, SAMPLE_RATE // 50, _ESPEAK_RATE // 50))
    loud = np.flatnonzero(np.abs(wave) > 0.01 * max(1.0, float(np.abs(wave).max())))
    if loud.size:
        wave = wave[loud[0] : loud[-1] + 1]
    return np.asarray(np.clip(np.round(wave), -32768, 32767), dtype=np.int16)


def _cache_file(args: Mapping[str, Any]) -> Path:
    gen = {k: (list(args[k]) if isinstance(args[k], tuple) else args[k]) for k in _GENERATION_KEYS}
    digest = hashlib.sha256(json.dumps(gen, sort_keys=True).encode()).hexdigest()[:12]
    return speech_data_dir() / f"keywords-v{SPEECH_CACHE_VERSION}-{digest}.npz"


def _clean_words(args: Mapping[str, Any], n_jobs: int) -> tuple[_Plan, list[np.ndarray]]:
    """The plan and its clean words, from the cache or synthesised (then cached)."""
    plan = _plan(args)
    path = _cache_file(args)
    if path.is_file():
        with np.load(path) as z:
            pcm, ends = z["pcm"], z["ends"]
        if len(ends) == len(plan.word):
            return plan, np.split(pcm, ends[:-1])
    exe = _espeak()

    def speak(i: int) -> np.ndarray:
        voice = f"{ACCENTS[plan.accent[i]]}+{VOICE_VARIANTS[plan.voice[i]]}"
        return _speak(exe, KEYWORDS[plan.word[i]], voice, int(plan.speed[i]), int(plan.pitch[i]))

    # Threads suffice: each clip is an espeak-ng process, which runs outside the GIL.
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        clips = list(pool.map(speak, range(len(plan.word))))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    ends = np.cumsum([len(c) for c in clips])
    np.savez_compressed(tmp, pcm=np.concatenate(clips), ends=ends)
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return plan, clips


def _noisy_windows(
    plan: _Plan, clips: Sequence[np.ndarray], snr_db: tuple[float, float] | None, seed: int
) -> np.ndarray:
    """Each word at a seeded offset in a one-second window, plus white or pink noise."""
    rng = np.random.default_rng([seed, 23])
    n = SAMPLE_RATE
    out = np.empty((len(clips), n), dtype=np.float32)
    levels = None if snr_db is None else np.linspace(snr_db[0], snr_db[1], _GRID)
    for i, clip in enumerate(clips):
        word = clip.astype(np.float32) / 32768.0
        offset = int(rng.integers(0, max(1, n - len(word) + 1)))
        out[i] = _fit_length(word, n, offset)
        white = rng.standard_normal(n).astype(np.float32)
        if levels is None:
            continue
        if rng.random() < 0.5:  # pink: 1/f power, shaped in the frequency domain
            spec = np.fft.rfft(white)
            spec[1:] /= np.sqrt(np.arange(1, len(spec)))
            spec[0] = 0.0
            white = np.fft.irfft(spec, n).astype(np.float32)
        power = float(np.mean(word**2)) if len(word) else 0.0
        noise_power = power / 10 ** (levels[plan.level[i]] / 10)
        white *= np.sqrt(noise_power / max(float(np.mean(white**2)), 1e-12))
        out[i] += white
    return out


@functools.lru_cache(maxsize=4)
def _keywords_arrays(
    items: tuple[tuple[str, Any], ...], n_jobs: int
) -> tuple[np.ndarray, np.ndarray, _Plan]:
    args = dict(items)
    plan, clips = _clean_words(args, n_jobs)
    waves = _noisy_windows(plan, clips, args["snr_db"], int(args["data_seed"]))
    feats = audio_features(
        waves, SAMPLE_RATE, args["features"], n_mels=args["n_mels"], n_mfcc=args["n_mfcc"]
    )
    feats.flags.writeable = False
    return feats, waves, plan


def keywords_task(
    make: type[Task], seed: int, kw: Mapping[str, Any]
) -> tuple[Task, dict[str, Any]]:
    """``load_task("keywords", **kw)`` and its checked arguments (the split is by voice)."""
    args = check_keywords_args(kw)
    items = tuple(sorted((k, v) for k, v in args.items() if k != "n_jobs"))
    feats, _, plan = _keywords_arrays(items, int(args["n_jobs"]))
    used = sorted(set(plan.word.tolist()))
    recode = {w: i for i, w in enumerate(used)}
    codes = np.array([recode[w] for w in plan.word], dtype=np.int64)
    classes = tuple(KEYWORDS[w] for w in used)
    rows = [np.flatnonzero(plan.split == s) for s in range(3)]
    task = build_audio_task(
        make, feats, SAMPLE_RATE, codes, classes, rows, name="keywords", sample_rate=SAMPLE_RATE,
        features=args["features"], n_mels=args["n_mels"], n_mfcc=args["n_mfcc"], seed=seed,
    )  # fmt: skip
    return task, args


def keywords_voices(kw: Mapping[str, Any]) -> dict[str, list[str]]:
    """The voice variants of each split of ``load_task("keywords", **kw)`` (no synthesis)."""
    plan = _plan(check_keywords_args(kw))
    return {
        name: sorted({VOICE_VARIANTS[v] for v in plan.voice[plan.split == s]})
        for s, name in enumerate(_SPLITS)
    }
