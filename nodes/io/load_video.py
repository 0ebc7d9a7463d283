
from reelgraph.graph import Float, Node, NodeError, Output, Param, Resources, Text, Video
from reelgraph.nodes.common import ffmpeg, files
from reelgraph.nodes.common import measure as _media

_IMAGE_FORMATS = ("image2", "_pipe", "png", "mjpeg", "webp", "bmp", "tiff")


class LoadVideoNode(Node):
    """Load a video file from the workflow's folder (or a part of it) as an H.264 clip."""

    type = "io.load_video"
    version = "1.0.0"
    resources = Resources(cpu=1)

    path = Param(Text, default="", file="video",
                 doc="The video file, relative to the workflow's folder (MP4, MOV, WebM, MKV, AVI...). "
                     "Editing the file makes the node run again.")
    start = Param(Float, default=0.0, min=0.0, step=0.1, doc="Skip this many seconds at the beginning.")
    seconds = Param(Float, default=0.0, min=0.0, step=0.1,
                    doc="How many seconds to keep from start (0 = up to the end).")
    video = Output(Video, doc="The clip (H.264 MP4, even size; AAC audio when the file has sound).")

    @classmethod
    def fingerprint(cls, values, workspace):
        return files.path_fingerprint(values, workspace)

    def run(self, ctx, path, start, seconds):
        src = files.user_file(ctx, path, "path", what="a video file (MP4, MOV, WebM, MKV, AVI...)")
        info = _media.inspect(src, "path")  # exact frame count and pixel format; fails for non-media
        if not info.get("has_video"):
            raise NodeError(f"{src.name} has no video stream", field="path",
                            fix="give a video file (for sound only, use io.load_audio)")
        if info.get("frames", 0) < 2 or any(f in info["format"] for f in _IMAGE_FORMATS):
            raise NodeError(f"{src.name} is a still image, not a video", field="path",
                            fix="use io.load_image (and video.image_to_video to animate it)")
        basic = ffmpeg.probe(src, field="path")
        fps = info.get("fps") or basic.get("fps") or 24.0
        rate = _media.rate(fps)
        length = info["frames"] / float(rate)
        if start >= length:
            raise NodeError(f"start {start:g} s is past the end of {src.name} ({length:.2f} s)", field="start",
                            fix=f"set start below {length:.2f}")
        trimmed = start > 0 or (seconds > 0 and start + seconds < length)
        codecs_ok = (_media.is_h264_yuv420p(info) and not info.get("rotated")
                     and info.get("audio_codec") in (None, "aac"))
        meta_extra = {"source": src.name}
        if not trimmed and codecs_ok and src.suffix.lower() == ".mp4" and info["format"].startswith("mov,mp4"):
            ctx.progress(0.5, "copying")
            meta = {"width": info["width"], "height": info["height"], "fps": float(rate),
                    "frames": info["frames"], "duration": round(info["frames"] / float(rate), 6),
                    "has_audio": info["has_audio"]}
            return ctx.store_file(src, "video", **meta, **meta_extra)

        out = ctx.temp_path(".mp4")
        args = []
        if start > 0:
            args += ["-ss", f"{start:.6f}"]
        args += ["-i", str(src)]
        if seconds > 0:
            args += ["-t", f"{seconds:.6f}"]
        args += ["-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1"]
        if not trimmed and codecs_ok:  # right codecs in another container: rewrap, no re-encode
            args += ["-c", "copy", "-movflags", "+faststart"]
            what = "rewrapping"
        else:
            args += ["-vf", f"fps={_media.rate_text(rate)},crop=trunc(iw/2)*2:trunc(ih/2)*2,setsar=1",
                     *ffmpeg.H264, *ffmpeg.AAC, "-ar", "48000", "-ac", "2"]
            what = "converting to H.264"
        args.append(str(out))
        want = seconds if seconds > 0 else length - start
        ffmpeg.run(ctx, args, duration=min(want, length - start), what=what, field="path")
        ctx.progress(1.0, "loaded")
        meta = _media.measured_meta(out, "path", fps=float(rate))
        if meta["frames"] == 0:
            raise NodeError(f"no frames between {start:g} s and {start + want:g} s of {src.name}",
                            field="seconds", fix="check start and seconds against the file's length")
        return ctx.store_file(out, "video", **meta, **meta_extra, start=float(start))
