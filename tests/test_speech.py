"""Speech tasks: keyword spotting synthesised by espeak-ng (held-out voices), Task.from_audio."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from metanas.exceptions import UnknownNameError
from metanas.tasks import Task, _speech, load_task, rebuild_task

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs `sudo apt-get install espeak-ng`"
)
TINY = {"words": ("yes", "no", "up"), "n_voices": 5, "n_per_word": 2}


def _tones(n_per_class: int = 10, rate: int = 8000) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(0)
    t = np.arange(rate // 2) / rate
    clips, labels = [], []
    for i in range(n_per_class):
        for label, freq in (("low", 300.0), ("high", 1200.0)):
            f = freq * (1 + 0.05 * rng.standard_normal())
            clips.append(np.sin(2 * np.pi * f * t[: len(t) - 7 * i]).astype(np.float32))
            labels.append(label)
    return clips, labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-data")


@pytest.fixture(scope="module")
def tiny(data_dir: Path) -> Task:
    mp = pytest.MonkeyPatch()
    mp.setenv("METANAS_DATA_DIR", str(data_dir))
    try:
        return load_task("keywords", **TINY)
    finally:
        mp.undo()


@needs_espeak
@pytest.mark.slow
def test_keywords_splits_hold_out_voices_and_settings(tiny: Task) -> None:
    assert tiny.input_shape == (40, 101)
    assert tiny.classes == ("yes", "no", "up")
    assert (tiny.n_train, tiny.n_valid, tiny.n_test) == (18, 6, 6)
    voices = _speech.keywords_voices(TINY)
    assert [len(voices[s]) for s in ("train", "valid", "test")] == [3, 1, 1]
    assert not set(voices["test"]) & (set(voices["train"]) | set(voices["valid"]))
    plan = _speech._plan(_speech.check_keywords_args(TINY))
    for setting in (plan.speed, plan.pitch, plan.level):
        seen = [set(setting[plan.split == s].tolist()) for s in range(3)]
        assert not seen[0] & seen[2]
        assert not seen[0] & seen[1]
    assert tiny.name == "keywords[n_per_word=2,n_voices=5,words=('yes', 'no', 'up')]"


@needs_espeak
@pytest.mark.slow
def test_keywords_reload_from_cache_without_espeak(
    tiny: Task, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(p.name for p in data_dir.iterdir())
    assert len(files) == 1
    assert files[0].startswith(f"keywords-v{_speech.SPEECH_CACHE_VERSION}-")
    monkeypatch.setenv("METANAS_DATA_DIR", str(data_dir))
    monkeypatch.setattr(_speech.shutil, "which", lambda name: None)
    _speech._keywords_arrays.cache_clear()
    again = rebuild_task(tiny)
    np.testing.assert_array_equal(again.X_test, tiny.X_test)
    np.testing.assert_array_equal(again.y_train, tiny.y_train)


@needs_espeak
@pytest.mark.slow
def test_keywords_transform_featurises_raw_waveforms(tiny: Task) -> None:
    args = _speech.check_keywords_args(TINY)
    items = tuple(sorted((k, v) for k, v in args.items() if k != "n_jobs"))
    _, waves, plan = _speech._keywords_arrays(items, 2)
    test_rows = np.flatnonzero(plan.split == 2)
    np.testing.assert_allclose(tiny.transform(waves[test_rows]), tiny.X_test, atol=1e-4)


def test_missing_espeak_names_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METANAS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(_speech.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"sudo apt-get install espeak-ng"):
        load_task("keywords", **TINY, data_seed=123)


def test_keywords_arguments_are_checked() -> None:
    with pytest.raises(UnknownNameError, match="n_voices"):
        load_task("keywords", n_voice=5)
    with pytest.raises(ValueError, match=r"words must name at least two"):
        load_task("keywords", words=("yes", "maybe"))
    with pytest.raises(ValueError, match=r"n_voices must be an int in \[3, "):
        load_task("keywords", n_voices=2)
    with pytest.raises(UnknownNameError, match="logmel"):
        load_task("keywords", features="logmels")


def test_from_audio_arrays_standardised_and_transform_matches() -> None:
    clips, labels = _tones()
    task = Task.from_audio(clips, labels, 8000, features="waveform", name="tones", seed=1)
    assert task.summary() == "tones: sequence (1, 4000), 2 classes, 12/4/4 train/valid/test"
    assert abs(float(task.X_train.mean())) < 1e-5
    again = task.transform(np.stack([np.pad(c, (0, 4000 - len(c))) for c in clips]))
    rows = {tuple(np.round(r[0, :50], 4)) for r in task.X_test}
    assert rows <= {tuple(np.round(r[0, :50], 4)) for r in again}


def test_from_audio_groups_keep_speakers_in_one_split() -> None:
    clips, labels = _tones()
    groups = [f"spk{i // 4}" for i in range(len(clips))]  # 5 speakers, 4 clips each
    task = Task.from_audio(clips, labels, 8000, features="waveform", groups=groups, seed=0)
    assert (task.n_train, task.n_valid, task.n_test) == (12, 4, 4)
    with pytest.raises(ValueError, match=r"2 groups cannot be split"):
        Task.from_audio(clips, labels, 8000, features="waveform", groups=[0, 1] * 10)


def test_from_audio_rejects_bad_input() -> None:
    clips, labels = _tones()
    with pytest.raises(ValueError, match=r"20 audio clips but 19 labels"):
        Task.from_audio(clips, labels[:-1], 8000, features="waveform")
    with pytest.raises(ValueError, match=r"sample_rate must be an int >= 1000"):
        Task.from_audio(clips, labels, 8, features="waveform")
    with pytest.raises(ValueError, match=r"clip 3 has shape \(2, 2\)"):
        Task.from_audio([*clips[:3], np.zeros((2, 2))], labels[:4], 8000, features="waveform")
    with pytest.raises(FileNotFoundError, match=r"No audio file 'nope.wav'"):
        Task.from_audio(["nope.wav"], ["a"], 8000)


def test_from_audio_reads_wav_files_like_arrays(tmp_path: Path) -> None:
    pytest.importorskip("librosa")
    clips, labels = _tones(n_per_class=5)
    paths = []
    for i, clip in enumerate(clips):
        path = tmp_path / f"clip{i}.wav"
        with wave.open(str(path), "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(8000)
            fh.writeframes(np.round(clip * 16000).astype("<i2").tobytes())
        paths.append(path)
    quantised = [np.round(c * 16000) / 32768 for c in clips]
    from_files = Task.from_audio(paths, labels, 8000, features="mfcc", n_mfcc=13, seed=0)
    from_arrays = Task.from_audio(quantised, labels, 8000, features="mfcc", n_mfcc=13, seed=0)
    assert from_files.input_shape == (13, 51)
    np.testing.assert_allclose(from_files.X_train, from_arrays.X_train, atol=1e-3)
