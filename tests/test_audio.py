"""Unit tests of ``course_utils.audio``: Whisper's encoder states and GE2E speaker embeddings.

The two packaged models are loaded for real, once each; the recordings come from the Free Spoken
Digit Dataset in the read-only mirror (skipped when it is not there).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from course_utils import audio as A

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or ROOT.parent / "shared" / "data").expanduser()


@pytest.fixture(scope="module")
def clips():
    if not (MIRROR / "fsdd").is_dir():
        pytest.skip(f"the FSDD mirror is not at {MIRROR} (set COURSE_DATA_MIRROR)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_MIRROR", str(MIRROR))
        from course_utils.datasets import load_fsdd

        df = load_fsdd(digits=[0, 1, 7], speakers=["jackson", "theo", "nicolas"])
    return df[df["index"] < 4].reset_index(drop=True)          # 3 digits x 3 speakers x 4 takes, 8 kHz


@pytest.fixture(scope="module")
def whisper():
    pytest.importorskip("faster_whisper")
    from course_utils.models import load_model

    return load_model("whisper-tiny.en")


@pytest.fixture(scope="module")
def ge2e():
    pytest.importorskip("resemblyzer")
    from course_utils.models import load_model

    return load_model("ge2e")


# ---- resampling --------------------------------------------------------------------------------

def test_resample_doubles_and_keeps_a_tone():
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    up = A.resample(tone, 8000, 16000)
    assert up.shape == (16000,) and up.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spectrum) * 16000 / len(up) - 440) < 2            # the same pitch
    np.testing.assert_array_equal(A.resample(tone, 16000, 16000), tone)


@pytest.mark.parametrize("kwargs, name, error", [
    ({"waveform": np.zeros((2, 100)), "sample_rate": 8000}, "waveform", ValueError),
    ({"waveform": [], "sample_rate": 8000}, "waveform", ValueError),
    ({"waveform": "a.wav", "sample_rate": 8000}, "waveform", TypeError),
    ({"waveform": [0.0, float("nan")], "sample_rate": 8000}, "waveform", ValueError),
    ({"waveform": np.zeros(100), "sample_rate": 8000.0}, "sample_rate", TypeError),
    ({"waveform": np.zeros(100), "sample_rate": 10}, "sample_rate", ValueError),
])
def test_resample_bad_input(kwargs, name, error):
    with pytest.raises(error, match=f"`{name}"):
        A.resample(**kwargs)


# ---- Whisper -----------------------------------------------------------------------------------

def test_whisper_embed_shapes_and_determinism(whisper, clips):
    waves = clips.waveform[:5].tolist()
    v = A.whisper_embed(whisper, waves, 8000)
    assert v.shape == (5, 384) and v.dtype == np.float32 and np.isfinite(v).all()
    np.testing.assert_array_equal(v, A.whisper_embed(whisper, waves, 8000))
    np.testing.assert_allclose(A.whisper_embed(whisper, waves, 8000, batch_size=2), v, atol=1e-4)
    speech = A.whisper_embed(whisper, waves, 8000, pooling="speech")
    assert not np.allclose(speech, v, atol=1e-3)                      # fewer states averaged
    longer = A.whisper_embed(whisper, waves[:1], 8000, seconds=2.0)
    assert longer.shape == (1, 384) and not np.allclose(longer, v[:1], atol=1e-3)


def test_whisper_states_tell_the_digit_across_speakers(whisper, clips):
    v = A.whisper_embed(whisper, clips.waveform.tolist(), 8000)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    hits = 0
    for i in range(len(clips)):
        other = np.flatnonzero(clips.speaker != clips.speaker[i])      # neighbours from other voices only
        hits += clips.digit[other[np.argmax(v[other] @ v[i])]] == clips.digit[i]
    assert hits / len(clips) >= 0.8


def test_transcribe_returns_text(whisper, clips):
    texts = [A.transcribe(whisper, w, 8000) for w in clips.waveform[:3]]
    assert all(isinstance(t, str) for t in texts) and any(t for t in texts)


@pytest.mark.parametrize("kwargs, name, error", [
    ({"model": "whisper-tiny.en"}, "model", TypeError),
    ({"waveforms": []}, "waveforms", ValueError),
    ({"waveforms": [np.zeros((100, 2))]}, "waveforms", ValueError),
    ({"waveforms": "clip.wav"}, "waveforms", TypeError),
    ({"seconds": 31.0}, "seconds", ValueError),
    ({"seconds": "1"}, "seconds", TypeError),
    ({"pooling": "max"}, "pooling", ValueError),
    ({"batch_size": 0}, "batch_size", ValueError),
])
def test_whisper_embed_bad_input(whisper, kwargs, name, error):
    args = {"model": whisper, "waveforms": [np.zeros(800, np.float32)], "sample_rate": 8000, **kwargs}
    with pytest.raises(error, match=f"`{name}"):
        A.whisper_embed(**args)


# ---- GE2E --------------------------------------------------------------------------------------

def test_ge2e_embed_equals_resemblyzer_one_by_one(ge2e, clips):
    from resemblyzer import preprocess_wav

    # four clips joined: a recording long enough for several 1.6-s windows
    waves = clips.waveform[:3].tolist() + [np.concatenate(clips.waveform[:6].tolist())]
    ours = A.ge2e_embed(ge2e, waves, 8000)
    assert ours.shape == (4, 256) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    theirs = np.stack([ge2e.embed_utterance(preprocess_wav(A.resample(w, 8000, 16000), source_sr=16000)) for w in waves])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(A.ge2e_embed(ge2e, waves, 8000, batch_size=1), ours, atol=1e-5)


def test_ge2e_tells_the_speaker_across_digits(ge2e, clips):
    v = A.ge2e_embed(ge2e, clips.waveform.tolist(), 8000)
    hits = 0
    for i in range(len(clips)):
        other = np.flatnonzero(clips.digit != clips.digit[i])          # neighbours saying other words only
        hits += clips.speaker[other[np.argmax(v[other] @ v[i])]] == clips.speaker[i]
    assert hits / len(clips) >= 0.8


def test_ge2e_embed_silence_does_not_crash(ge2e):
    v = A.ge2e_embed(ge2e, [np.zeros(4000, np.float32)], 8000)
    assert v.shape == (1, 256) and np.isfinite(v).all()


@pytest.mark.parametrize("kwargs, name, error", [
    ({"encoder": object()}, "encoder", TypeError),
    ({"waveforms": None}, "waveforms", TypeError),
    ({"waveforms": [[]]}, "waveforms", ValueError),
    ({"sample_rate": None}, "sample_rate", TypeError),
    ({"batch_size": -1}, "batch_size", ValueError),
])
def test_ge2e_embed_bad_input(ge2e, kwargs, name, error):
    args = {"encoder": ge2e, "waveforms": [np.zeros(800, np.float32)], "sample_rate": 8000, **kwargs}
    with pytest.raises(error, match=f"`{name}"):
        A.ge2e_embed(**args)


def test_waveforms_out_of_range_are_refused(whisper):
    with pytest.raises(ValueError, match=r"`waveforms\[0\]`.*\[-1, 1\]"):
        A.whisper_embed(whisper, [np.full(800, 300.0)], 8000)


# ---- the cache on disk -------------------------------------------------------------------------

def test_cached_embed_stores_reads_back_and_repairs(whisper, clips, tmp_path, monkeypatch):
    import course_utils.models as M

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    waves = clips.waveform[:4].tolist()
    first = A.cached_embed("whisper-tiny.en", waves, 8000)
    np.testing.assert_allclose(first, A.whisper_embed(whisper, waves, 8000), atol=1e-5)
    stored = sorted((tmp_path / "embeddings" / "audio" / "whisper-tiny.en").iterdir())
    assert [p.suffix for p in stored] == [".json", ".npy"]

    def no_model(name, **kwargs):
        raise AssertionError("the model was loaded although the vectors are stored")

    with monkeypatch.context() as mp:
        mp.setattr(M, "load_model", no_model)
        np.testing.assert_array_equal(A.cached_embed("whisper-tiny.en", waves, 8000), first)
        with pytest.raises(AssertionError):                       # other options, other recordings: a new entry
            A.cached_embed("whisper-tiny.en", waves, 8000, pooling="speech")
        with pytest.raises(AssertionError):
            A.cached_embed("whisper-tiny.en", waves[:3], 8000)
    stored[1].write_bytes(stored[1].read_bytes()[:-8] + b"\x00" * 8)  # a damaged array is recomputed
    np.testing.assert_allclose(A.cached_embed("whisper-tiny.en", waves, 8000), first, atol=1e-6)


def test_cached_embed_ge2e_matches(ge2e, clips, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    waves = clips.waveform[:3].tolist()
    np.testing.assert_allclose(A.cached_embed("ge2e", waves, 8000), A.ge2e_embed(ge2e, waves, 8000), atol=1e-5)


@pytest.mark.parametrize("kwargs, name, error", [
    ({"model": "wav2vec2"}, "model", ValueError),
    ({"model": 3}, "model", TypeError),
    ({"waveforms": []}, "waveforms", ValueError),
    ({"waveforms": [np.full(800, 2.0)]}, "waveforms", ValueError),
    ({"sample_rate": 8000.0}, "sample_rate", TypeError),
    ({"seconds": 2.0, "model": "ge2e"}, "options", TypeError),
    ({"window": 2.0}, "options", TypeError),
])
def test_cached_embed_bad_input(kwargs, name, error, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    args = {"model": "whisper-tiny.en", "waveforms": [np.zeros(800, np.float32)], "sample_rate": 8000, **kwargs}
    with pytest.raises(error, match=f"`{name}"):
        A.cached_embed(**args)


def test_cached_embed_spells_out_the_defaults(whisper, clips, tmp_path, monkeypatch):
    import course_utils.models as M

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    waves = clips.waveform[:2].tolist()
    first = A.cached_embed("whisper-tiny.en", waves, 8000)
    monkeypatch.setattr(M, "load_model", lambda *a, **k: pytest.fail("recomputed vectors that are stored"))
    np.testing.assert_array_equal(A.cached_embed("whisper-tiny.en", waves, 8000, seconds=1, pooling="mean"), first)


def test_speech_pooling_averages_exactly_the_states_of_the_recording(whisper, clips):
    import ctranslate2

    wave = clips.waveform[0]                                           # 8 kHz, shorter than 1 s
    audio = A.resample(wave, 8000, 16000)
    mel = whisper.feature_extractor(np.pad(audio, (0, 16000 - len(audio))), padding=0)[:, :100]
    states = np.asarray(whisper.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                             to_cpu=True))[0]               # (50, 384)
    keep = int(np.ceil(len(audio) / 16000 * 50))
    assert 0 < keep < 50
    speech = A.whisper_embed(whisper, [wave], 8000, pooling="speech")[0]
    np.testing.assert_allclose(speech, states[:keep].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(A.whisper_embed(whisper, [wave], 8000)[0], states.mean(axis=0), atol=1e-5)
