"""Audio embeddings from two pretrained models: Whisper's encoder and the GE2E speaker encoder.

Introduced in ``09_multimodal``. Both models come from the registry (``load_model``):

* ``"whisper-tiny.en"`` (a ``faster_whisper.WhisperModel``): :func:`whisper_embed` turns each
  recording into Whisper's log-mel spectrogram, runs the encoder (CTranslate2) and mean-pools
  its states, 50 per second of audio, 384 numbers each; :func:`transcribe` decodes one
  recording to text.
* ``"ge2e"`` (a ``resemblyzer.VoiceEncoder``): :func:`ge2e_embed` gives the 256-d, unit-length
  speaker embedding of each recording (Wan et al., 2018, "Generalized end-to-end loss for
  speaker verification").

Whisper was trained on 30-second windows and pads every input to 30 s; its encoder also runs on
a shorter window (``seconds=1.0`` here), far cheaper for short clips: its attention runs over 50
states instead of 1,500 (``09_multimodal`` times both windows). Both
functions take a list of 1-D float waveforms in [-1, 1] and their common sample rate, and
resample to the 16 kHz both models expect.
"""
from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np

from ._checks import Problems, check_choice, check_int, check_number, check_sequence

WHISPER_RATE = 16_000           # Hz: both models read 16 kHz audio
WHISPER_FRAMES_PER_SECOND = 100  # log-mel frames (10 ms hop); the encoder halves them to 50 states/s
WHISPER_WINDOW = 30.0           # seconds: the window Whisper was trained on
POOLINGS = ("mean", "speech")


def _waveforms(waveforms: Any, name: str = "waveforms") -> list[np.ndarray]:
    items = check_sequence(waveforms, name, what="waveforms (1-D arrays of samples)", allow_empty=False)
    out = []
    for i, w in enumerate(items):
        if isinstance(w, (str, bytes)) or w is None:
            raise TypeError(f"`{name}[{i}]` must be a 1-D array of samples; got {type(w).__name__}.")
        try:
            arr = np.asarray(w, dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}[{i}]` must be a 1-D array of numbers; got {type(w).__name__}.") from None
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"`{name}[{i}]` must be a non-empty 1-D array (mono audio); got shape {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}[{i}]` contains NaN or infinite samples.")
        if np.abs(arr).max() > 1.0:
            raise ValueError(f"`{name}[{i}]` has samples up to {np.abs(arr).max():.4g}; samples must lie in [-1, 1] "
                             f"(16-bit audio: divide by 32768).")
        out.append(arr)
    return out


def _model(model: Any, name: str, attribute: str, what: str) -> Any:
    if not hasattr(model, attribute):
        raise TypeError(f"`{name}` must be {what}; got {type(model).__name__}. Load it with "
                        f"course_utils.models.load_model(...).")
    return model


def resample(waveform: np.ndarray, sample_rate: int, target: int = WHISPER_RATE) -> np.ndarray:
    """``waveform`` resampled from ``sample_rate`` to ``target`` Hz with a polyphase filter.

    Introduced in ``09_multimodal`` (the audio functions resample FSDD's 8 kHz to 16 kHz with it).

    Parameters
    ----------
    waveform : 1-D float array, mono, samples in [-1, 1]
    sample_rate : its sample rate in Hz (at least 1000)
    target : the rate wanted, in Hz (default 16,000, what Whisper and GE2E read)

    Returns
    -------
    np.ndarray, shape (round(n * target / sample_rate),), float32
    """
    with Problems() as problems:
        wave = problems.check(_waveforms, [waveform], "waveform")
        sample_rate = problems.check(check_int, sample_rate, "sample_rate", minimum=1000)
        target = problems.check(check_int, target, "target", minimum=1000)
    return _resample(wave[0], sample_rate, target)


def _resample(wave: np.ndarray, sample_rate: int, target: int) -> np.ndarray:
    if sample_rate == target:
        return wave.astype(np.float32)
    from scipy.signal import resample_poly

    g = gcd(sample_rate, target)
    return resample_poly(wave, target // g, sample_rate // g).astype(np.float32)


def whisper_embed(model: Any, waveforms, sample_rate: int, *, seconds: float = 1.0, pooling: str = "mean",
                  batch_size: int = 32) -> np.ndarray:
    """Whisper encoder states of each recording, pooled to one vector: shape ``(n, 384)``, float32.

    Each recording is resampled to 16 kHz, cut or zero-padded to ``seconds``, turned into
    Whisper's 80-band log-mel spectrogram (``seconds * 100`` frames) and encoded; the encoder
    returns ``seconds * 50`` states of 384 numbers.

    Parameters
    ----------
    model : a ``faster_whisper.WhisperModel`` (``load_model("whisper-tiny.en")``)
    waveforms : list of 1-D float arrays, mono, samples in [-1, 1]
    sample_rate : their sample rate in Hz (FSDD: 8000)
    seconds : the window, 0.1 to 30 s. 30 is what Whisper saw in training (and costs far more
        than 1: attention over 1,500 states instead of 50); 1.0 covers a spoken digit.
    pooling : ``"mean"`` averages all states of the window, padding included; ``"speech"`` only
        the states that cover the recording itself.
    batch_size : recordings encoded at once

    Returns
    -------
    np.ndarray, shape (n, 384), float32 (not normalised)
    """
    import ctranslate2

    with Problems() as problems:
        problems.check(_model, model, "model", "feature_extractor", "a faster_whisper.WhisperModel")
        waves = problems.check(_waveforms, waveforms)
        sample_rate = problems.check(check_int, sample_rate, "sample_rate", minimum=1000)
        seconds = problems.check(check_number, seconds, "seconds", minimum=0.1, maximum=WHISPER_WINDOW)
        pooling = problems.check(check_choice, pooling, "pooling", POOLINGS)
        batch_size = problems.check(check_int, batch_size, "batch_size", minimum=1)
    n_samples = int(round(seconds * WHISPER_RATE))
    n_frames = int(round(seconds * WHISPER_FRAMES_PER_SECOND))
    out = []
    for start in range(0, len(waves), batch_size):
        chunk = waves[start:start + batch_size]
        mels, lengths = [], []
        for wave in chunk:
            audio = _resample(wave, sample_rate, WHISPER_RATE)[:n_samples]
            lengths.append(len(audio))
            audio = np.pad(audio, (0, n_samples - len(audio)))
            mels.append(model.feature_extractor(audio, padding=0)[:, :n_frames])   # (80, n_frames)
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(mels), dtype=np.float32))
        states = np.asarray(model.model.encode(batch, to_cpu=True))                # (b, n_frames // 2, 384)
        for s, length in zip(states, lengths):
            keep = len(s) if pooling == "mean" else max(1, int(np.ceil(length / n_samples * len(s))))
            out.append(s[:keep].mean(axis=0))
    return np.stack(out).astype(np.float32)


def transcribe(model: Any, waveform, sample_rate: int) -> str:
    """Whisper's transcription of one recording (greedy decoding, no timestamps), stripped."""
    with Problems() as problems:
        problems.check(_model, model, "model", "transcribe", "a faster_whisper.WhisperModel")
        wave = problems.check(_waveforms, [waveform], "waveform")
        sample_rate = problems.check(check_int, sample_rate, "sample_rate", minimum=1000)
    audio = _resample(wave[0], sample_rate, WHISPER_RATE)
    segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                   condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segments).strip()


def ge2e_embed(encoder: Any, waveforms, sample_rate: int, *, batch_size: int = 64) -> np.ndarray:
    """GE2E speaker embeddings, one per recording: shape ``(n, 256)``, unit length, float32.

    Introduced in ``09_multimodal``.

    The same numbers as resemblyzer's ``preprocess_wav`` then ``encoder.embed_utterance`` for each
    recording, computed for many recordings at once: ``preprocess_wav`` normalises the volume and
    cuts the silences that WebRTC voice activity detection finds; each recording is cut into
    1.6-second windows (a shorter one is zero-padded to one window), every window goes through
    the LSTM, and the recording's embedding is the normalised mean of its windows' embeddings.
    resemblyzer runs the LSTM once per recording; here it runs once per ``batch_size`` windows.

    Parameters
    ----------
    encoder : a ``resemblyzer.VoiceEncoder`` (``load_model("ge2e")``)
    waveforms : list of 1-D float arrays, mono, samples in [-1, 1]
    sample_rate : their sample rate in Hz
    batch_size : windows per LSTM call

    Returns
    -------
    np.ndarray, shape (n, 256), float32, unit rows
    """
    import torch
    from resemblyzer import audio as ge2e_audio
    from resemblyzer import preprocess_wav

    with Problems() as problems:
        problems.check(_model, encoder, "encoder", "embed_utterance", "a resemblyzer.VoiceEncoder")
        waves = problems.check(_waveforms, waveforms)
        sample_rate = problems.check(check_int, sample_rate, "sample_rate", minimum=1000)
        batch_size = problems.check(check_int, batch_size, "batch_size", minimum=1)
    windows, owner = [], []
    for k, wave in enumerate(waves):
        raw = _resample(wave, sample_rate, WHISPER_RATE)
        # silence has no volume to normalise (resemblyzer would divide by zero); voice detection may
        # also remove everything: then the recording is used as it is
        audio = preprocess_wav(raw, source_sr=WHISPER_RATE) if np.any(raw) else raw
        if len(audio) == 0:
            audio = raw
        wav_slices, mel_slices = encoder.compute_partial_slices(len(audio), rate=1.3, min_coverage=0.75)
        audio = np.pad(audio, (0, max(0, wav_slices[-1].stop - len(audio))))
        mel = ge2e_audio.wav_to_mel_spectrogram(audio)                    # (frames, 40)
        windows += [mel[s] for s in mel_slices]
        owner += [k] * len(mel_slices)
    partial = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = torch.from_numpy(np.stack(windows[start:start + batch_size]))
            partial.append(encoder(batch).numpy())                          # (b, 256), unit rows
    partial, owner = np.concatenate(partial), np.asarray(owner)
    out = np.stack([partial[owner == k].mean(axis=0) for k in range(len(waves))])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


# ---- a cache on disk for the embeddings of many recordings ------------------------------------

EMBEDDERS = {"whisper-tiny.en": ("faster-whisper", "ctranslate2"), "ge2e": ("resemblyzer", "librosa", "torch")}


def _audio_key(model: str, waves: list[np.ndarray], sample_rate: int, options: dict) -> tuple[str, dict]:
    import hashlib
    import json

    from .embcache import _version
    from .models import model_source

    recipe = {"format": 1, "model": model, "source": model_source(model), "sample_rate": sample_rate,
              "options": options, "numpy": np.__version__, **{d: _version(d) for d in EMBEDDERS[model]}}
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for w in waves:
        h.update(b"\x00" + np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()[:32], recipe


def cached_embed(model: str, waveforms, sample_rate: int, **options) -> np.ndarray:
    """:func:`whisper_embed` or :func:`ge2e_embed` of ``waveforms``, computed once and kept on disk.

    Introduced in ``09_multimodal``. The vectors are stored like :mod:`course_utils.embcache`'s,
    under ``$COURSE_CACHE_DIR/embeddings/audio/<model>/<key>.npy`` with a ``.json`` record (the
    recipe and the SHA-256 of the array). The key hashes the model name, where its weights come
    from, the options, the versions of the packages that compute the vectors, the sample rate and
    every sample of every recording; a damaged entry is recomputed. The model is loaded only when
    the vectors are not stored yet.

    Parameters
    ----------
    model : ``"whisper-tiny.en"`` or ``"ge2e"`` (a registry name, not a loaded model)
    waveforms : list of n 1-D float arrays, mono, samples in [-1, 1]
    sample_rate : their sample rate in Hz (FSDD: 8000)
    **options : passed on: ``seconds``, ``pooling`` for Whisper; none for GE2E

    Returns
    -------
    np.ndarray, shape (n, 384) for Whisper or (n, 256) for GE2E, float32: what the function returns
    """
    from .datasets import cache_dir
    from .embcache import _array_bytes, _read, _write_atomic

    with Problems() as problems:
        model = problems.check(check_choice, model, "model", tuple(EMBEDDERS))
        waves = problems.check(_waveforms, waveforms)
        sample_rate = problems.check(check_int, sample_rate, "sample_rate", minimum=1000)
    allowed = {"whisper-tiny.en": {"seconds", "pooling"}, "ge2e": set()}[model]
    if set(options) - allowed:
        raise TypeError(f"`options` for {model!r} may be {sorted(allowed) or 'nothing'}; "
                        f"got {sorted(set(options) - allowed)}.")
    if model == "whisper-tiny.en":                 # the defaults spelled out: one key for the same vectors
        with Problems() as problems:
            seconds = problems.check(check_number, options.get("seconds", 1.0), "seconds", minimum=0.1,
                                     maximum=WHISPER_WINDOW)
            pooling = problems.check(check_choice, options.get("pooling", "mean"), "pooling", POOLINGS)
        options = {"seconds": float(seconds), "pooling": pooling}
    key, recipe = _audio_key(model, waves, sample_rate, options)
    folder = cache_dir() / "embeddings" / "audio" / model
    path, record_path = folder / f"{key}.npy", folder / f"{key}.json"
    stored = _read(path, record_path, len(waves))
    if stored is not None:
        return stored
    from .models import load_model

    embed = whisper_embed if model == "whisper-tiny.en" else ge2e_embed
    arr = np.ascontiguousarray(embed(load_model(model), waves, sample_rate, **options), dtype=np.float32)
    import hashlib
    import json

    folder.mkdir(parents=True, exist_ok=True)
    data = _array_bytes(arr)
    record = {**recipe, "n": len(waves), "dim": int(arr.shape[1]), "sha256": hashlib.sha256(data).hexdigest()}
    _write_atomic(path, data)
    _write_atomic(record_path, json.dumps(record, indent=1).encode())
    return arr
