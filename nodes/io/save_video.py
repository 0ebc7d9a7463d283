from pathlib import Path

from reelgraph.graph import Bool, Choice, Input, Node, NodeError, Output, Param, Resources, Text, Video, safe_write
from reelgraph.nodes.common import ffmpeg, provenance
from reelgraph.nodes.common import measure as _media
from reelgraph.nodes.common import subrip as _subs

FORMATS = ("mp4", "webm")
# quality -> (x264 preset, x264 CRF), (VP9 deadline, cpu-used, CRF), Opus bitrate
_X264 = {"draft": ("superfast", 26), "standard": ("veryfast", 20), "high": ("slow", 17)}
_VP9 = {"draft": ("realtime", 8, 40), "standard": ("realtime", 8, 33), "high": ("good", 2, 24)}
_OPUS = {"draft": "96k", "standard": "128k", "high": "160k"}
_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"}


class SaveVideoNode(Node):
    """Save the finished video as MP4 or WebM with its workflow embedded (open the file to get it back)."""

    type = "io.save_video"
    version = "1.0.0"
    output = True
    cacheable = False
    resources = Resources(cpu=1)
    writes_params = ("filename",)  # a file it writes: `run --from` does not write it (see ui/cli.py)

    video = Input(Video, doc="The finished video.")
    subtitles = Input(Text, required=False,
                      doc="SubRip captions (e.g. the srt output of video.subtitles): written beside the "
                          "file as <name>.srt, and muxed as a soft track when soft_subtitles is on.")
    format = Param(Choice, default="mp4", choices=FORMATS,
                   doc="mp4: H.264 + AAC, plays everywhere; webm: VP9 + Opus, for the web.")
    filename = Param(Text, default="",
                     doc="Where to write it, relative to the workflow's folder (e.g. out/final.mp4; the "
                         "extension is added when missing). Empty: keep it in the cache only (the "
                         "command line's -o copies it out).")
    quality = Param(Choice, default="standard", choices=("draft", "standard", "high"),
                    doc="draft: fast and small; standard: good (an H.264 input is copied as is for mp4, "
                        "no quality loss); high: slower encode, fewer artefacts.")
    soft_subtitles = Param(Bool, default=False, wirable=False,
                           doc="Also put the captions in the file as a subtitle track viewers can "
                               "switch on (mov_text in MP4, WebVTT in WebM).")
    result = Output(Video, name="video", doc="The saved video (its file carries the workflow).")

    def run(self, ctx, video, subtitles, format, filename, quality, soft_subtitles):
        info = _media.inspect(video.path, "video")
        if not info.get("has_video"):
            raise NodeError(f"{Path(video.path).name} has no video stream", field="video",
                            fix="wire a video (check the upstream node's output)")
        srt = _subs.normalized(subtitles) if subtitles is not None else ""
        if srt and not _subs.cue_count(srt):
            raise NodeError("subtitles is not SubRip text (no '00:00:01,000 --> 00:00:02,000' lines)",
                            field="subtitles", fix="wire the srt output of video.subtitles")
        target = _target(ctx, filename, format) if filename.strip() else None
        meta = _media.video_meta(video, field="video")
        soft = bool(soft_subtitles and srt)
        if soft_subtitles and not srt:
            ctx.warn("soft_subtitles is on but no captions are wired (or they are empty): no subtitle track")

        args = ["-i", video.path]
        if soft:
            srt_file = ctx.temp_path(".srt")
            srt_file.write_text(srt, encoding="utf-8")
            args += ["-f", "srt", "-i", str(srt_file)]
        meta_input, meta_map = provenance.ffmpeg_metadata_args(ctx, inputs=2 if soft else 1)
        args += meta_input
        args += ["-map", "0:v:0"]
        if info["has_audio"]:
            args += ["-map", "0:a:0"]
        if soft:
            args += ["-map", "1:s:0", "-metadata:s:s:0", "language=und"]
        args += [*meta_map, "-map_chapters", "-1"]
        even = "crop=trunc(iw/2)*2:trunc(ih/2)*2"
        copied = False
        if format == "mp4":
            if quality == "standard" and _media.is_h264_yuv420p(info):
                args += ["-c:v", "copy"]
                copied = True
            else:
                preset, crf = _X264[quality]
                args += ["-vf", even, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                         "-pix_fmt", "yuv420p"]
            if info["has_audio"]:
                args += ["-c:a", "copy"] if info.get("audio_codec") == "aac" else ffmpeg.AAC
            if soft:
                args += ["-c:s", "mov_text"]
            args += ["-movflags", "+faststart"]
        else:
            deadline, cpu_used, crf = _VP9[quality]
            args += ["-vf", even, "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "0",
                     "-crf", str(crf), "-deadline", deadline, "-cpu-used", str(cpu_used), "-row-mt", "1"]
            if info["has_audio"]:
                args += ["-c:a", "libopus", "-b:a", _OPUS[quality]]
            if soft:
                args += ["-c:s", "webvtt"]
        out = ctx.temp_path("." + format)
        args += ["-f", "mp4" if format == "mp4" else "webm", str(out)]
        ffmpeg.run(ctx, args, duration=meta["duration"], what=f"saving {format}", field="video")
        ctx.progress(1.0, "saved")

        meta.update(has_audio=info["has_audio"], format=format, quality=quality,
                    video_copied=copied, soft_subtitles=soft)
        if srt:
            meta["srt"] = srt
        ref = ctx.store_file(out, "video", **meta)
        if target is not None:
            _write(target, lambda: safe_write.copy_file(ref.path, target))
            if srt:
                side = target.with_suffix(".srt")
                _write(side, lambda: safe_write.write_bytes(side, srt.encode("utf-8")))
        return {"video": ref}


def _target(ctx, filename: str, format: str) -> Path:
    path = ctx.user_path(filename.strip(), "filename", must_exist=False)
    ext = "." + format
    suffix = path.suffix.lower()
    if suffix != ext:
        if suffix in _VIDEO_SUFFIXES:
            raise NodeError(f"filename {filename!r} ends in {path.suffix} but format is {format}",
                            field="filename", fix=f"name it {path.stem}{ext}, or set format to match")
        path = path.with_name(path.name + ext)
    if path.is_dir():
        raise NodeError(f"filename {filename!r} is a folder", field="filename",
                        fix=f"name a file inside it, e.g. {filename.rstrip('/')}/final{ext}")
    return path


def _write(path: Path, write) -> None:
    try:
        write()
    except OSError as e:
        raise NodeError(f"cannot write {path}: {e.strerror or e}", field="filename",
                        fix="choose a folder you can write to, on a disk with free space") from None
