"""Reading video inputs and writing ffmpeg outputs for the video nodes (private helper)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from reelgraph.graph import NodeError
from reelgraph.nodes.common import ffmpeg


def video_info(ref, field: str = "video") -> dict:
    """Probe a wired Video; a file that is not a video is a NodeError naming ``field``."""
    path = getattr(ref, "path", "") or ""
    if not path or not Path(path).is_file():
        raise NodeError(f"the {field} file is missing ({path or 'no path'})", field=field,
                        fix="re-run the node that made it, or load the video again")
    info = ffmpeg.probe(path, field=field)
    if not info.get("has_video") or not info.get("width") or not info.get("fps"):
        raise NodeError(f"{Path(path).name} has no video stream", field=field,
                        fix="wire a video (an MP4, MOV, WebM...) into this input")
    info["path"] = path
    meta = getattr(ref, "meta", None) or {}
    if meta.get("frames"):  # exact when our own nodes made it; probe's count is an estimate
        info["frames"] = int(meta["frames"])
    if meta.get("fps"):
        info["fps"] = float(meta["fps"])
    return info


def open_image(ref, field: str) -> Image.Image:
    """A wired Image as an RGB Pillow image (clear error when it cannot be read)."""
    path = getattr(ref, "path", "") or ""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                base = Image.new("RGB", rgba.size, (0, 0, 0))
                base.paste(rgba, mask=rgba.getchannel("A"))
                return base
            return img.convert("RGB")
    except (OSError, ValueError) as e:
        raise NodeError(f"cannot read the {field} image {Path(path).name or path!r}: {e}", field=field,
                        fix="wire a PNG or JPEG image (e.g. from image.keyframe or io.load_image)") from None


def even_size(info: dict) -> tuple[int, int, str]:
    """The even size H.264 needs for a probed clip, and the filter that gets there ("" if none)."""
    from reelgraph.nodes.common.frames import even
    w, h = info["width"], info["height"]
    if w % 2 == 0 and h % 2 == 0:
        return w, h, ""
    w2, h2 = (w if w % 2 == 0 else even(w)), (h if h % 2 == 0 else even(h))
    return w2, h2, f"scale={w2}:{h2}:flags=lanczos,setsar=1"


def video_meta(width: int, height: int, fps: float, frames: int, has_audio: bool, **extra) -> dict:
    return {"width": int(width), "height": int(height), "fps": float(fps), "frames": int(frames),
            "duration": round(frames / float(fps), 6), "has_audio": bool(has_audio), **extra}


def encode(ctx, inputs: list[str], out: Path, *, video_args: list[str], has_audio: bool,
           duration: float, what: str, field: str = "video") -> None:
    """One ffmpeg run writing H.264 video (``common.ffmpeg.H264``) plus the first input's audio.

    The audio is copied; when the container cannot hold it as is (PCM from a MOV...) it is
    re-encoded to AAC instead.
    """
    from reelgraph.nodes.common.ffmpeg import AAC, H264
    base = [*inputs, *video_args, *H264]
    if not has_audio:
        ffmpeg.run(ctx, [*base, "-an", str(out)], duration=duration, what=what, field=field)
        return
    try:
        ffmpeg.run(ctx, [*base, "-map", "0:a:0?", "-c:a", "copy", str(out)], duration=duration,
                   what=what, field=field)
    except NodeError:
        ctx.check_cancelled()
        ffmpeg.run(ctx, [*base, "-map", "0:a:0?", *AAC, str(out)], duration=duration, what=what,
                   field=field)
