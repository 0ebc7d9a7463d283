"""Frames as Y'CbCr 4:2:0 planes, streamed straight to and from ffmpeg.

The camera renders of ``image_to_video``/``extend`` resample the three 4:2:0 planes themselves (half
the pixels of RGB) and hand them to x264 as they are, which roughly halves the per-frame cost against
piping RGB for ffmpeg to convert (what moviepy's writer does). ``common.frames.VideoWriter`` wraps this
for RGB frames. The colour matrix is
the one ffmpeg uses for untagged RGB input (BT.601, limited range), so the result looks the same.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from reelgraph.graph import NodeError
from reelgraph.nodes.common import ffmpeg

PRESET = "ultrafast"  # camera renders: CRF 18 keeps them visually lossless, the preset keeps them fast


def rgb_to_planes(img: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """RGB picture -> (Y at full size, Cb and Cr at half size, rounded up) as "L" images."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape
    size = ((w + 1) // 2, (h + 1) // 2)

    def half(c):  # 2×2 box average in float (Pillow's BOX filter on an "F" image)
        return Image.fromarray(np.ascontiguousarray(c, dtype=np.float32)).resize(size, Image.BOX)

    def u8(c):
        return Image.fromarray(np.clip(np.asarray(c) + 0.5, 0, 255).astype(np.uint8))

    return u8(y), u8(half(cb)), u8(half(cr))


def planes_to_rgb(y: Image.Image, u: Image.Image, v: Image.Image) -> np.ndarray:
    """The inverse (for previews and tests): an H×W×3 uint8 array."""
    W, H = y.size
    Y = np.asarray(y, dtype=np.float32) - 16.0
    U = np.asarray(u.resize((W, H), Image.BILINEAR), dtype=np.float32) - 128.0
    V = np.asarray(v.resize((W, H), Image.BILINEAR), dtype=np.float32) - 128.0
    r = 1.164383 * Y + 1.596027 * V
    g = 1.164383 * Y - 0.391762 * U - 0.812968 * V
    b = 1.164383 * Y + 2.017232 * U
    return np.clip(np.stack([r, g, b], -1) + 0.5, 0, 255).astype(np.uint8)


def _rate(fps: float) -> str:
    f = Fraction(float(fps)).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}"


class YuvWriter:
    """Writes yuv420p frames (three planes, or raw bytes) to an H.264 MP4 as they come.

    A context manager: on an exception the partial file is removed.
    ``still``: the frames will all be the same (a static shot), so they should decode identically.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, *,
                 crf: int = 18, preset: str | None = None, still: bool = False):
        if width % 2 or height % 2:
            raise NodeError(f"video size {width}×{height} must be even for H.264",
                            fix="use an even width and height")
        self.path = Path(path)
        self.size = (int(width), int(height))
        self.fps = float(fps)
        self.frames = 0
        self.frame_bytes = width * height * 3 // 2
        # still: every frame the same; a finer first frame leaves x264 nothing to refine later, so all
        # frames decode identically (ipratio only steers rate control: the clip stays stitchable).
        x264_params = ffmpeg.X264_PARAMS + (":ipratio=4" if still else "")
        cmd = [ffmpeg.exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", _rate(fps),
               "-i", "-", "-an", "-c:v", "libx264", "-preset", preset or PRESET, "-crf", str(crf),
               "-pix_fmt", "yuv420p", *ffmpeg.KEYFRAMES, "-x264-params", x264_params,
               "-movflags", "+faststart", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        self._tail: deque[bytes] = deque(maxlen=8)
        self._reader = threading.Thread(target=lambda: self._tail.extend(self._proc.stderr), daemon=True)
        self._reader.start()

    def write(self, planes) -> None:
        """Write one frame: a (Y, U, V) tuple of "L" images or one bytes object of the whole frame."""
        try:
            if isinstance(planes, (bytes, bytearray, memoryview)):
                if len(planes) != self.frame_bytes:
                    raise ValueError(f"a frame has {len(planes)} bytes, expected {self.frame_bytes}")
                self._proc.stdin.write(planes)
            else:
                y, u, v = planes
                if y.size != self.size or u.size != (self.size[0] // 2, self.size[1] // 2):
                    raise ValueError(f"planes {y.size}/{u.size} do not match the video {self.size}")
                self._proc.stdin.write(y.tobytes())
                self._proc.stdin.write(u.tobytes())
                self._proc.stdin.write(v.tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames += 1

    def _fail(self):
        self._proc.wait()
        self._reader.join(timeout=5)
        detail = b" | ".join(line.strip() for line in self._tail).decode("utf-8", "replace")
        raise NodeError(f"the video encoder failed (ffmpeg exit {self._proc.returncode}): "
                        f"{detail or 'no message'}", fix="check free disk space and the ffmpeg install")

    def close(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        self._proc.wait()
        self._reader.join(timeout=5)
        if self._proc.returncode != 0:
            self._fail()

    def abort(self) -> None:
        self._proc.kill()
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self._proc.wait()
        self._reader.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "YuvWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def meta(self) -> dict:
        return {"width": self.size[0], "height": self.size[1], "fps": self.fps, "frames": self.frames,
                "duration": round(self.frames / self.fps, 6), "has_audio": False}


def iter_yuv(path: str | os.PathLike, size: tuple[int, int]) -> Iterator[bytes]:
    """Decode a video's frames one at a time as yuv420p bytes at ``size`` (scaled if it differs)."""
    w, h = size
    cmd = [ffmpeg.exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-vf", f"scale={w}:{h}:flags=lanczos", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    nbytes = w * h * 3 // 2
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=nbytes)
    try:
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield buf
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
