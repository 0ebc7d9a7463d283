"""Running ffmpeg (the binary that imageio-ffmpeg ships) with progress, cancellation and clear errors."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from pathlib import Path

from reelgraph.graph import NodeError

# Intermediate files are H.264 in MP4, 4:2:0, visually lossless enough to be re-encoded downstream.
# ultrafast: the main job re-encodes every frame three times (upscale, concat, captions); this preset
# halves its wall time against veryfast (bench/media.py: 10.6 s vs 20.8 s) at ~2.5x the file size.
# io.save_video's quality=high re-encodes the deliverable compactly.
# Every intermediate is "stitchable" (x264 writes the same parameter sets for the same settings) with a
# keyframe every half second: assemble.concat then copies the clips' untouched stretches as they are and
# re-encodes only around the transitions.
X264_PARAMS = "stitchable=1"
KEYFRAMES = ["-force_key_frames", "expr:gte(t,n_forced*0.5)"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-x264-params", X264_PARAMS, *KEYFRAMES, "-movflags", "+faststart"]
AAC = ["-c:a", "aac", "-b:a", "192k"]


def exe() -> str:
    """Path of the ffmpeg binary: $REELGRAPH_FFMPEG, else the one imageio-ffmpeg ships."""
    override = os.environ.get("REELGRAPH_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def run(ctx, args: list[str], *, duration: float | None = None, what: str = "ffmpeg",
        field: str | None = None, progress_span: tuple[float, float] = (0.0, 1.0)) -> None:
    """Run ``ffmpeg ARGS`` (inputs, filters, output); report progress from its clock; stop on cancel.

    ``duration``: the output's expected length in seconds, for the progress fraction. On failure a
    NodeError carries the last lines ffmpeg printed, naming ``field`` when the input is to blame.
    """
    cmd = [exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1",
           "-nostats", *[str(a) for a in args]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    tail: deque[str] = deque(maxlen=12)
    reader = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
    reader.start()
    lo, hi = progress_span
    try:
        for line in proc.stdout:
            if line.startswith("out_time_us=") and duration:
                try:
                    t = int(line.split("=", 1)[1]) / 1e6
                except ValueError:
                    continue
                ctx.progress(lo + (hi - lo) * min(1.0, max(0.0, t / duration)), what)
            elif ctx.cancelled:
                break
        if ctx.cancelled:
            proc.kill()
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
    ctx.check_cancelled()
    if proc.returncode != 0:
        detail = " | ".join(line.strip() for line in tail if line.strip())[-800:]
        raise NodeError(f"{what} failed (ffmpeg exit {proc.returncode}): {detail or 'no message'}",
                        field=field, fix="check that the input files are valid media")


def probe(path: str | os.PathLike, field: str | None = None) -> dict:
    """What a media file holds: has_video, width, height, fps, frames, duration, has_audio, sample_rate.

    Raises NodeError naming ``field`` for files ffmpeg cannot read.
    """
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos
    p = Path(path)
    try:
        info = ffmpeg_parse_infos(str(p), check_duration=True)
    except (OSError, IndexError, KeyError, ValueError) as e:
        raise NodeError(f"cannot read {p.name} as media: {str(e).strip().splitlines()[-1] if str(e).strip() else e}",
                        field=field, fix="give an image, video or audio file ffmpeg can decode") from None
    out = {"has_video": bool(info.get("video_found")), "has_audio": bool(info.get("audio_found")),
           "duration": float(info.get("duration") or 0.0)}
    if out["has_video"]:
        w, h = info["video_size"]
        out.update(width=int(w), height=int(h), fps=float(info.get("video_fps") or 0.0),
                   frames=int(info.get("video_n_frames") or 0),
                   video_codec=info.get("video_codec_name"))
    if out["has_audio"]:
        out.update(sample_rate=int(info.get("audio_fps") or 0))
    return out
