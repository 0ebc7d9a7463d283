"""Independent checks of media files for tests: PyAV (its own FFmpeg libraries), not our helpers."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def probe(path) -> dict:
    """Streams of a file, measured by decoding: codec, size, fps, frame count, durations, rate."""
    out = {"video": [], "audio": [], "subtitle": [], "comment": None}
    with av.open(str(path)) as c:
        out["comment"] = c.metadata.get("comment")
        for s in c.streams:
            if s.type == "video":
                out["video"].append({"codec": s.codec_context.name, "width": s.codec_context.width,
                                     "height": s.codec_context.height,
                                     "fps": float(s.average_rate) if s.average_rate else None,
                                     "pix_fmt": s.codec_context.pix_fmt})
            elif s.type == "audio":
                out["audio"].append({"codec": s.codec_context.name, "sample_rate": s.codec_context.sample_rate,
                                     "channels": s.codec_context.channels if hasattr(s.codec_context, "channels")
                                     else s.codec_context.layout.nb_channels})
            elif s.type == "subtitle":
                out["subtitle"].append({"codec": s.codec_context.name})
    if out["video"]:
        frames = video_frames(path)
        v = out["video"][0]
        v["frames"] = len(frames)
        v["duration"] = len(frames) / v["fps"] if v["fps"] else None
    if out["audio"]:
        samples = audio_samples(path)
        a = out["audio"][0]
        a["samples"] = samples.shape[0]
        a["duration"] = samples.shape[0] / a["sample_rate"]
    return out


def video_frames(path, every: int = 1, gray: bool = True) -> list[np.ndarray]:
    """Decoded frames (every n-th), as float32 grayscale arrays by default (small and enough to compare)."""
    frames = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                arr = f.to_ndarray(format="gray" if gray else "rgb24")
                frames.append(arr.astype(np.float32))
            else:
                frames.append(None)
    return frames


def audio_samples(path) -> np.ndarray:
    """All audio samples as float32 (n, channels)."""
    chunks = []
    with av.open(str(path)) as c:
        for f in c.decode(audio=0):
            arr = f.to_ndarray()
            if arr.dtype != np.float32:
                arr = arr.astype(np.float32) / (32768.0 if arr.dtype == np.int16 else 1.0)
            if f.format.is_planar:
                arr = arr.T
            else:
                arr = arr.reshape(-1, len(f.layout.channels))
            chunks.append(arr)
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames, 0..255."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def path_of(ref) -> Path:
    return Path(ref.path)
