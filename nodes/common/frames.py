"""Streaming frames to and from video files: one frame in memory at a time, never a whole video."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from reelgraph.graph import NodeError

from . import ffmpeg


def even(n: float) -> int:
    """H.264 with 4:2:0 chroma needs even sizes."""
    return max(2, int(round(n / 2.0)) * 2)


MAX_SIDE = 8192  # px a side: beyond this, encoders and memory give out before anyone needs it


def target_size(src_w: int, src_h: int, mode: str, width: int, height: int) -> tuple[int, int]:
    """The output size (even on both sides) for a mode; raises NodeError for sizes it refuses."""
    if mode == "x2":
        w, h = even(src_w * 2), even(src_h * 2)
    elif mode == "x4":
        w, h = even(src_w * 4), even(src_h * 4)
    else:  # to_size
        if width <= 0 and height <= 0:
            raise NodeError("mode to_size needs a width or a height", field="width",
                            fix="set width and/or height (0 on one side keeps the aspect ratio)")
        if width > 0 and height > 0:
            w, h = even(width), even(height)
        elif width > 0:
            w, h = even(width), even(width * src_h / src_w)
        else:
            w, h = even(height * src_w / src_h), even(height)
    if max(w, h) > MAX_SIDE:
        if mode != "to_size":
            field = "mode"
        elif width > 0 and height > 0:
            field = "width" if w > MAX_SIDE else "height"
        else:
            field = "width" if width > 0 else "height"
        raise NodeError(f"upscaling {src_w}×{src_h} ({mode}) would give {w}×{h}, over {MAX_SIDE} px a side",
                        field=field, fix=f"pick a smaller mode or a to_size width/height within {MAX_SIDE} px")
    return w, h


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

    A convenience over ``common.yuv.YuvWriter`` (which the camera renders feed with planes directly):
    one frame in memory at a time. Use as a context manager; on an exception the partial file is removed.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, **kwargs):
        from .yuv import YuvWriter
        self._yuv = YuvWriter(path, width, height, fps, **kwargs)

    def write(self, frame) -> None:
        from PIL import Image

        from .yuv import rgb_to_planes
        img = frame if isinstance(frame, Image.Image) else Image.fromarray(as_array(frame))
        self._yuv.write(rgb_to_planes(img))

    def close(self) -> None:
        self._yuv.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._yuv.__exit__(exc_type, exc, tb)

    @property
    def frames(self) -> int:
        return self._yuv.frames

    def meta(self) -> dict:
        """Metadata for ``ctx.store_file(path, "video", **writer.meta())``."""
        return self._yuv.meta()


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
