"""Sample arrays in and out: float32 arrays shaped (samples, channels) in [-1, 1]."""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path

import numpy as np
from reelgraph.graph import NodeError

from . import ffmpeg

RATE = 48000  # every audio node works at 48 kHz stereo; loaders resample to it
CHANNELS = 2


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int = RATE, chunk: int = 1 << 20) -> dict:
    """Write 16-bit PCM WAV; returns the metadata for ``ctx.store_file(path, "audio", **meta)``.

    Converted ``chunk`` frames at a time: a 30-minute bed never needs full-size temporaries.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(rate))
        for i in range(0, len(x), chunk):
            part = x[i:i + chunk]
            w.writeframes((np.clip(part, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes())
    return audio_meta(x, rate)


def n_samples(seconds: float, rate: int = RATE) -> int:
    return int(round(float(seconds) * rate))


def audio_meta(samples: np.ndarray, rate: int = RATE) -> dict:
    x = np.asarray(samples)
    channels = 1 if x.ndim == 1 else int(x.shape[1])
    return {"sample_rate": int(rate), "channels": channels, "samples": int(x.shape[0]),
            "duration": round(x.shape[0] / float(rate), 6)}


def read_audio(path: str | os.PathLike, rate: int = RATE, channels: int = CHANNELS,
               field: str | None = None) -> np.ndarray:
    """Decode any audio ffmpeg reads (WAV, MP3, AAC, the audio of a video) to float32 (n, channels)."""
    p = Path(path)
    out = subprocess.run([ffmpeg.exe(), "-v", "error", "-nostdin", "-i", str(p), "-vn", "-f", "f32le",
                          "-ac", str(channels), "-ar", str(rate), "-"], capture_output=True)
    if out.returncode != 0:
        msg = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise NodeError(f"cannot read {p.name} as audio: {msg[-1] if msg else 'ffmpeg failed'}",
                        field=field, fix="give a WAV, MP3, AAC/M4A, OGG or FLAC file")
    return np.frombuffer(out.stdout, np.float32).reshape(-1, channels).copy()


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or pad with silence to exactly ``n`` samples."""
    if len(x) >= n:
        return x[:n]
    pad = np.zeros((n - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad])
