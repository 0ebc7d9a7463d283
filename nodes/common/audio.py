"""Sample arrays in and out: float32 arrays shaped (samples, channels) in [-1, 1]."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from reelgraph.graph import NodeError

from . import ffmpeg

RATE = 48000  # every audio node works at 48 kHz stereo; loaders resample to it
CHANNELS = 2
# The longest sound one node reads whole (audio.mix makes beds this long): 2.8 GB of float samples.
MAX_SECONDS = 7200.0


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
               field: str | None = None, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """Decode any audio ffmpeg reads (WAV, MP3, AAC, the audio of a video) to float32 (n, channels).

    Only ``seconds`` from ``start`` are decoded (ffmpeg seeks, then stops), streamed into one buffer:
    two seconds of an hour-long file cost two seconds of samples. Without ``seconds``, to the end,
    but a file longer than ``MAX_SECONDS`` raises NodeError naming ``field`` once that much is read.
    """
    p = Path(path)
    whole = seconds is None
    span = MAX_SECONDS + 1.0 if whole else float(seconds)
    cmd = [ffmpeg.exe(), "-v", "error", "-nostdin"]
    if start > 0:
        cmd += ["-ss", f"{start:.6f}"]
    cmd += ["-i", str(p), "-vn", "-t", f"{span:.6f}", "-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    frame = 4 * channels
    limit = (n_samples(span, rate) + 1) * frame  # the resampler may round up by a sample
    buf = bytearray()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty decoder cannot stall us
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        with proc:
            assert proc.stdout is not None
            while len(buf) < limit:
                chunk = proc.stdout.read(min(1 << 20, limit - len(buf)))
                if not chunk:
                    break
                buf += chunk
            stopped = len(buf) >= limit
            if stopped:
                proc.kill()
            code = proc.wait()
        if code != 0 and not stopped:
            err.seek(0)
            msg = err.read(1 << 16).decode("utf-8", "replace").strip().splitlines()
            raise NodeError(f"cannot read {p.name} as audio: {msg[-1] if msg else 'ffmpeg failed'}",
                            field=field, fix="give a WAV, MP3, AAC/M4A, OGG or FLAC file")
    del buf[len(buf) - len(buf) % frame:]
    x = np.frombuffer(buf, np.float32).reshape(-1, channels)  # no copy: the buffer is ours alone
    if whole and len(x) > n_samples(MAX_SECONDS, rate):
        raise NodeError(f"{p.name} is longer than {MAX_SECONDS:g} s, the most a node reads whole",
                        field=field, fix="use a shorter file (io.load_audio's seconds takes a part of it)")
    return x


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def duration(path: str | os.PathLike) -> float | None:
    """What a file's container says its duration is (read from the header, nothing decoded); None
    when it says nothing, or is not media at all (decoding it then says why)."""
    out = subprocess.run([ffmpeg.exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    m = _DURATION.search(out.stderr.decode("utf-8", "replace"))
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or pad with silence to exactly ``n`` samples."""
    if len(x) >= n:
        return x[:n]
    pad = np.zeros((n - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad])
