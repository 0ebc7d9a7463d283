"""video.upscale through the SD ×4 upscaler: frame by frame (each tiled as image.upscale does),
one frame in memory at a time, the source's sound copied beside the new picture.

torch and diffusers are imported inside the functions: the node pack loads without them.
"""

from __future__ import annotations

from contextlib import closing

import numpy as np
from reelgraph.graph import NodeError
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common.frames import VideoWriter
from reelgraph.nodes.common.yuv import iter_yuv, planes_to_rgb
from reelgraph.nodes.image._upscale_model import upscale

from ._media import even_size


def _rgb(buf: bytes, w: int, h: int):
    from PIL import Image
    n = w * h
    y = np.frombuffer(buf, np.uint8, n).reshape(h, w)
    u = np.frombuffer(buf, np.uint8, n // 4, n).reshape(h // 2, w // 2)
    v = np.frombuffer(buf, np.uint8, n // 4, n + n // 4).reshape(h // 2, w // 2)
    return Image.fromarray(planes_to_rgb(*(Image.fromarray(p) for p in (y, u, v))))


def upscale_video(ctx, loaded, info: dict, size: tuple[int, int], frames: int, out, *, prompt: str = "") -> dict:
    """Write the upscaled clip to ``out`` (H.264 MP4 at ``size``, the source's fps and sound);
    returns its video meta (the frame count is the one written)."""
    sw, sh, _ = even_size(info)
    w, h = size
    fps = float(info["fps"])
    picture = ctx.temp_path(".mp4") if info["has_audio"] else out
    total = max(1, frames)
    # closing: a cancelled step stops the decoder now, not when the traceback is freed
    with VideoWriter(picture, w, h, fps) as writer, closing(iter_yuv(info["path"], (sw, sh))) as decoded:
        for i, buf in enumerate(decoded):
            total = max(total, i + 1)
            img = upscale(ctx, loaded, _rgb(buf, sw, sh), (w, h), prompt=prompt,
                          span=(0.97 * i / total, 0.97 * (i + 1) / total), label=f"frame {i + 1}/{total} ")
            writer.write(img)
    if writer.frames == 0:
        raise NodeError(f"no frame could be decoded from {info['path']}", field="video",
                        fix="wire a video ffmpeg can decode")
    if info["has_audio"]:
        _mux(ctx, picture, info, out, writer.frames / fps)
    return writer.meta() | {"has_audio": bool(info["has_audio"])}


def _mux(ctx, picture, info: dict, out, duration: float) -> None:
    """The new picture with the source's audio: copied, or as AAC when MP4 cannot hold it as is."""
    base = ["-i", str(picture), "-i", info["path"], "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy"]
    try:
        ffmpeg.run(ctx, [*base, "-c:a", "copy", "-movflags", "+faststart", str(out)], duration=duration,
                   what="adding the sound", field="video", progress_span=(0.97, 1.0))
    except NodeError:
        ctx.check_cancelled()
        ffmpeg.run(ctx, [*base, *ffmpeg.AAC, "-movflags", "+faststart", str(out)], duration=duration,
                   what="adding the sound", field="video", progress_span=(0.97, 1.0))
