"""Exact stream facts and frame rates (the assemble and io video nodes).

``common.ffmpeg.probe`` reports a frame count estimated from the container duration (which
includes a longer audio track) and no pixel format; assembling clips to ±1 frame and deciding
whether a file can be stream-copied need both, so ``inspect`` asks ffmpeg itself: it copies the
video packets to the null muxer (no decoding, milliseconds) and reads the stream description and
the final frame count from ffmpeg's log.
"""

from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path

from reelgraph.graph import NodeError
from reelgraph.nodes.common import ffmpeg

_INPUT = re.compile(r"^Input #0, (?P<fmt>[^,]+(?:,[^ ,']+)*), from ", re.M)
_DURATION = re.compile(r"Duration: (?P<h>\d+):(?P<m>\d+):(?P<s>[\d.]+)")
_VIDEO = re.compile(r"Stream #0:\d+\S*: Video: (?P<codec>\w+)(?P<rest>.*)$", re.M)
_AUDIO = re.compile(r"Stream #0:\d+\S*: Audio: (?P<codec>\w+)(?P<rest>.*)$", re.M)
_SIZE = re.compile(r", (?P<w>\d{1,5})x(?P<h>\d{1,5})[ ,]")
_FPS = re.compile(r", (?P<v>[\d.]+)(?P<k>k?) (?:fps|tbr)")
_FRAME = re.compile(r"frame=\s*(\d+)")
_HZ = re.compile(r"(\d+) Hz")

VIDEO_META = ("width", "height", "fps", "frames", "duration", "has_audio")


def inspect(path: str | os.PathLike, field: str | None = None) -> dict:
    """Container format, video codec / pixel format / size / fps / exact frame count, audio codec.

    Keys: ``format`` (e.g. "mov,mp4,m4a,3gp,3g2,mj2"), ``duration`` (container), ``has_video``,
    ``video_codec``, ``pix_fmt``, ``width``, ``height``, ``fps``, ``frames``, ``has_audio``,
    ``audio_codec``, ``sample_rate``. Raises NodeError naming ``field`` when ffmpeg cannot read it.
    """
    p = Path(path)
    cmd = [ffmpeg.exe(), "-hide_banner", "-nostdin", "-i", str(p), "-map", "0:v:0?", "-c", "copy",
           "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True)
    log = out.stderr.decode("utf-8", "replace").replace("\r", "\n")
    m_in = _INPUT.search(log)
    if out.returncode != 0 or m_in is None:
        last = [ln.strip() for ln in log.splitlines() if ln.strip()]
        raise NodeError(f"cannot read {p.name} as media: {last[-1] if last else 'ffmpeg failed'}",
                        field=field, fix="give a video file ffmpeg can decode (MP4, MOV, WebM, MKV...)")
    info: dict = {"format": m_in.group("fmt"), "has_video": False, "has_audio": False}
    m = _DURATION.search(log)
    info["duration"] = (int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"])) if m else 0.0
    head = log.split("Stream mapping:", 1)[0]  # the input's description, not the output's
    mv = _VIDEO.search(head)
    if mv:
        rest = mv["rest"]
        info.update(has_video=True, video_codec=mv["codec"])
        ms = _SIZE.search(rest + " ")
        if ms:
            info.update(width=int(ms["w"]), height=int(ms["h"]))
        mf = _FPS.search(rest)
        if mf:
            info["fps"] = float(mf["v"]) * (1000 if mf["k"] else 1)
        parts = _top_level_split(rest)
        info["pix_fmt"] = re.split(r"[(\s]", parts[1].strip(), maxsplit=1)[0] if len(parts) > 1 else None
        info["rotated"] = bool(re.search(r"rotation of -?[1-9]", head))
        frames = _FRAME.findall(log)
        info["frames"] = int(frames[-1]) if frames else 0
    ma = _AUDIO.search(head)
    if ma:
        info.update(has_audio=True, audio_codec=ma["codec"])
        hz = _HZ.search(ma["rest"])
        info["sample_rate"] = int(hz.group(1)) if hz else 0
    return info


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside parentheses and brackets: the fields of a stream line."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def rate(fps: float) -> Fraction:
    """The exact frame rate behind a rounded one: 23.98 -> 24000/1001, 24.0 -> 24."""
    f = float(fps)
    if f <= 0:
        raise ValueError(f"frame rate {fps} must be positive")
    if abs(f - round(f)) < 0.005:
        return Fraction(round(f))
    ntsc = round(f * 1.001)
    if abs(f - ntsc / 1.001) < 0.01:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(f).limit_denominator(1001)


def rate_text(r: Fraction) -> str:
    return f"{r.numerator}/{r.denominator}"


def video_meta(ref, field: str | None = None) -> dict:
    """width, height, fps, frames, duration, has_audio of a video ref: its meta when complete,
    else measured from the file."""
    meta = dict(getattr(ref, "meta", {}) or {})
    if all(meta.get(k) is not None for k in VIDEO_META) and meta["frames"] > 0 and meta["fps"] > 0:
        return {k: meta[k] for k in VIDEO_META}
    info = inspect(ref.path, field)
    if not info.get("has_video") or not info.get("frames"):
        raise NodeError(f"{Path(ref.path).name} has no video frames", field=field,
                        fix="wire a video (check the upstream node's output)")
    fps = info.get("fps") or 24.0
    return {"width": info["width"], "height": info["height"], "fps": fps, "frames": info["frames"],
            "duration": round(info["frames"] / fps, 6), "has_audio": info["has_audio"]}


def measured_meta(path: str | os.PathLike, field: str | None = None, fps: float | None = None) -> dict:
    """Video meta of a file we just wrote, measured (exact frame count)."""
    info = inspect(path, field)
    fps = fps or info.get("fps") or 24.0
    return {"width": info.get("width", 0), "height": info.get("height", 0), "fps": float(fps),
            "frames": info.get("frames", 0), "duration": round(info.get("frames", 0) / fps, 6),
            "has_audio": info["has_audio"]}


def is_h264_yuv420p(info: dict) -> bool:
    return (info.get("video_codec") == "h264" and info.get("pix_fmt") == "yuv420p"
            and not info.get("width", 1) % 2 and not info.get("height", 1) % 2)
