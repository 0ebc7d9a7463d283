"""Streaming frames to and from video files: one frame in memory at a time, never a whole video."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np

from reelgraph.graph import NodeError

from . import ffmpeg


def even(n: float) -> int:
    """H.264 with 4:2:0 chroma needs even sizes."""
    return max(2, int(round(n / 2.0)) * 2)


def as_array(frame) -> np.ndarray:
    if isinstance(frame, np.ndarray):
        arr = frame
    else:  # a PIL image
        arr = np.asarray(frame.convert("RGB"))
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


class VideoWriter:
    """Writes RGB frames (uint8 H×W×3 arrays or PIL images) to an H.264 MP4 as they come.

    Use as a context manager; on an exception the partial file is removed.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, *,
                 crf: int = 18, preset: str = "veryfast"):
        if width % 2 or height % 2:
            raise NodeError(f"video size {width}×{height} must be even for H.264",
                            fix="use an even width and height")
        from moviepy.video.io.ffmpeg_writer import FFMPEG_VideoWriter
        self.path = Path(path)
        self.size = (int(width), int(height))
        self.fps = float(fps)
        self.frames = 0
        self._writer = FFMPEG_VideoWriter(str(self.path), self.size, self.fps, codec="libx264",
                                          preset=preset, pixel_format="yuv420p",
                                          ffmpeg_params=["-crf", str(crf), "-movflags", "+faststart"])

    def write(self, frame) -> None:
        arr = as_array(frame)
        if arr.shape[1] != self.size[0] or arr.shape[0] != self.size[1]:
            raise ValueError(f"frame {arr.shape[1]}×{arr.shape[0]} does not match the video {self.size}")
        self._writer.write_frame(arr)
        self.frames += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)

    def meta(self) -> dict:
        """Metadata for ``ctx.store_file(path, "video", **writer.meta())``."""
        return {"width": self.size[0], "height": self.size[1], "fps": self.fps, "frames": self.frames,
                "duration": round(self.frames / self.fps, 6), "has_audio": False}


def iter_frames(path: str | os.PathLike, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Decode a video's frames one at a time as uint8 H×W×3 arrays (optionally resized by ffmpeg)."""
    info = ffmpeg.probe(path)
    if not info.get("has_video"):
        raise NodeError(f"{Path(path).name} has no video stream", fix="give a video file")
    w, h = size or (info["width"], info["height"])
    cmd = [ffmpeg.exe(), "-v", "error", "-nostdin", "-i", str(path)]
    if size:
        cmd += ["-vf", f"scale={w}:{h}:flags=lanczos"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=w * h * 3)
    nbytes = w * h * 3
    try:
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def frame_at(path: str | os.PathLike, t: float | None = None) -> np.ndarray:
    """One frame as an array: the one shown at ``t`` seconds, or the very last when ``t`` is None."""
    info = ffmpeg.probe(path)
    if not info.get("has_video"):
        raise NodeError(f"{Path(path).name} has no video stream", fix="give a video file")
    w, h = info["width"], info["height"]
    fps = info.get("fps") or 24.0
    if t is None:
        seek = ["-sseof", f"-{max(4.0 / fps, 0.25):.3f}"]
    else:
        seek = ["-ss", f"{max(0.0, t):.3f}"]
    cmd = [ffmpeg.exe(), "-v", "error", "-nostdin", *seek, "-i", str(path), "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]
    if t is not None:
        cmd[-5:-5] = ["-frames:v", "1"]
    data = subprocess.run(cmd, capture_output=True).stdout
    n = len(data) // (w * h * 3)
    if n == 0:
        if t is None:  # very short clip: decode from the start
            return frame_at(path, 0.0)
        raise NodeError(f"no frame at {t:.2f} s in {Path(path).name}", fix="check the time and the file")
    return np.frombuffer(data[(n - 1) * w * h * 3: n * w * h * 3], np.uint8).reshape(h, w, 3)
