"""Private: ``assemble.concat``'s fast path ("smart rendering").

The pack's intermediate clips are x264 streams with the same parameter sets (``stitchable``), no
reordered frames and an IDR picture every second (``common.ffmpeg.H264``). Such clips need not be
re-encoded whole to be joined: the frames no transition touches are copied byte for byte, and only
the stretches around the transitions are decoded, filtered exactly as the whole-timeline graph
would (``_timeline._video_chains``) and encoded with the same settings. A copied stretch starts at
one of its clip's IDR pictures, so a rendered stretch runs on from its transition to the incoming
clip's next IDR picture (at most a second). The pieces are then laid one after another in a new
MP4 (``_mp4.write_video``): one avc1 track, one avcC, constant frame rate.

``concat`` says why not whenever something does not fit (another codec or x264 setting, reordered
frames, another size or rate, an edit list...): the node then renders the whole timeline in one
ffmpeg call, which handles anything.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

from reelgraph.graph import NodeError
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common.measure import rate as exact_rate

from . import _mp4, _timeline

RENDER_SHARE = 0.85  # of the progress bar: the rendered stretches (the copy and the sound share the rest)


class _Skip(Exception):
    """Why the fast path does not apply (the node renders the whole timeline instead)."""


def concat(ctx, p: _timeline.Plan, width: int, height: int, sounding: list[int],
           out: Path) -> tuple[dict | None, str]:
    """Write the joined video to ``out`` the fast way: (extra meta, ""); or (None, why not).

    ``sounding``: the clips whose sound is mixed in (none: no audio track).
    """
    temps: list[Path] = []
    try:
        return _concat(ctx, p, width, height, sounding, out, temps), ""
    except _Skip as e:
        return None, str(e)
    finally:
        for path in temps:
            path.unlink(missing_ok=True)


def _concat(ctx, p: _timeline.Plan, width: int, height: int, sounding: list[int], out: Path,
            temps: list[Path]) -> dict:
    clips = p.clips
    for c in clips:
        if (c.width, c.height) != (width, height):
            raise _Skip(f"clip {c.index + 1} is {c.width}×{c.height}, not {width}×{height}")
        if exact_rate(c.fps) != p.rate or c.out_frames != c.frames:
            raise _Skip(f"clip {c.index + 1} runs at {c.fps:g} fps, not {float(p.rate):g}")
    ctx.progress(0.0, "checking the clips")
    tracks = []
    for c in clips:
        try:
            t = _mp4.read_video(c.path)
        except (_mp4.Unsupported, OSError, struct.error, IndexError) as e:
            raise _Skip(f"clip {c.index + 1}: {e}") from None
        why = _not_copyable(t, c.out_frames, p.rate)
        if why:
            raise _Skip(f"clip {c.index + 1}: {why}")
        tracks.append(t)
    ref = tracks[0]
    for c, t in zip(clips, tracks):
        if t.avcc != ref.avcc or (t.width, t.height) != (width, height):
            raise _Skip(f"clip {c.index + 1} was encoded with other H.264 settings than clip 1")
    if ref.display != (width << 16, height << 16):  # the fallback makes every pixel square
        raise _Skip("the clips' pixels are not square")
    try:
        keyframes = [[k for k in t.keyframes() if k < c.out_frames] for t, c in zip(tracks, clips)]
    except _mp4.Unsupported as e:
        raise _Skip(str(e)) from None
    segs = _timeline.segments(p, keyframes)
    if not any(isinstance(s, _timeline.Copy) for s in segs):
        raise _Skip("no stretch of any clip can be copied")  # one ffmpeg call renders it all best

    renders = [s for s in segs if isinstance(s, _timeline.Render)]
    render_frames = sum(r.frames for r in renders) or 1
    made: dict[int, _mp4.VideoTrack] = {}
    done = 0
    for r in renders:
        lo = RENDER_SHARE * done / render_frames
        done += r.frames
        t = _render(ctx, p, r, width, height, temps, (lo, RENDER_SHARE * done / render_frames))
        if t.avcc != ref.avcc:
            raise _Skip("a rendered transition came out with other H.264 settings than the clips")
        if t.samples != r.frames or t.has_ctts or not t.is_idr(0):
            raise _Skip("a rendered transition is not a plain H.264 stretch of the planned length")
        made[id(r)] = t
    runs = [_mp4.Run(tracks[s.clip], s.first, s.end) if isinstance(s, _timeline.Copy)
            else _mp4.Run(made[id(s)], 0, s.frames) for s in segs]
    if sum(r.end - r.first for r in runs) != p.total or not _joins_ok(runs):
        raise _Skip("the pieces do not join into a valid stream")
    ctx.progress(RENDER_SHARE, "copying the untouched frames")
    video = out
    if sounding:
        video = ctx.temp_path(".mp4")
        temps.append(video)
    end = 0.95 if sounding else 1.0
    try:
        _mp4.write_video(video, runs, entry=_entry(ref), display=ref.display, timescale=ref.timescale,
                         delta=ref.deltas[0],
                         progress=lambda f: ctx.progress(RENDER_SHARE + (end - RENDER_SHARE) * f, "copying"))
    except _mp4.Unsupported as e:
        raise _Skip(str(e)) from None
    if sounding:
        _add_sound(ctx, p, width, height, sounding, video, out)
    copied = sum(s.frames for s in segs if isinstance(s, _timeline.Copy))
    return {"copied_frames": copied, "rendered_frames": p.total - copied}


def _not_copyable(t: _mp4.VideoTrack, frames: int, rate: Fraction) -> str:
    """Why the track's first ``frames`` samples cannot be copied as frames at ``rate`` ("": they can)."""
    if t.samples < frames:
        return f"{t.samples} frames in the file, {frames} expected"
    if t.has_ctts:
        return "reordered frames (B-frames)"
    delta = t.deltas[0]
    if delta <= 0 or Fraction(t.timescale, delta) != rate or \
            any(d != delta for d in t.deltas[:min(frames, t.samples - 1)]):  # the file's last may differ
        return f"not a constant {float(rate):g} fps"
    # an edit list that starts the track anywhere but at its first sample shifts what plays
    if len(t.edits) > 1 or any(media_time != 0 for _, media_time in t.edits):
        return "an edit list"
    return ""


def _joins_ok(runs: list[_mp4.Run]) -> bool:
    """Every piece starts with an IDR picture and none ends with one (two IDRs in a row would need
    different idr_pic_ids)."""
    for k, r in enumerate(runs):
        if r.end <= r.first or not r.track.is_idr(r.first):
            return False
        if k + 1 < len(runs) and r.track.is_idr(r.end - 1):
            return False
    return True


def _entry(t: _mp4.VideoTrack) -> bytes:
    """The avc1 sample entry for the result: the first clip's, less its bitrate box (btrt)."""
    e = t.entry
    head = 16 if struct.unpack_from(">I", e)[0] == 1 else 8
    body = e[head:head + 78] + b"".join(e[s - 8:end] for kind, s, end in _mp4._boxes(e, head + 78)
                                         if kind != b"btrt")
    return struct.pack(">I4s", 8 + len(body), b"avc1") + body


def _keyframes_but_last(frames: int) -> list[str]:
    """``common.ffmpeg.KEYFRAMES``, except on the last frame (a copy that follows starts with one)."""
    kind, value = ffmpeg.KEYFRAMES
    if value.startswith("expr:"):
        return [kind, f"expr:({value[5:]})*lt(n,{frames - 1})"]
    return list(ffmpeg.KEYFRAMES)


def _render(ctx, p: _timeline.Plan, r: _timeline.Render, width: int, height: int, temps: list[Path],
            span: tuple[float, float]) -> _mp4.VideoTrack:
    """Encode one rendered stretch with the intermediates' settings; its track."""
    try:
        graph, label = _timeline.render_graph(p, r, width, height)
    except ValueError as e:
        raise _Skip(str(e)) from None
    R = p.rate
    args: list[str] = []
    for i in sorted(r.windows):
        lo, hi = r.windows[i]
        args.append("-an")
        if lo:  # half a frame early: accurate seeking keeps frame lo, drops lo-1
            args += ["-ss", f"{float((lo - Fraction(1, 2)) / R):.6f}"]
        args += ["-t", f"{float((hi - lo + 1) / R):.6f}", "-i", p.clips[i].path]
    path = ctx.temp_path(".mp4")
    temps.append(path)
    args += ["-filter_complex", graph, "-map", f"[{label}]", *ffmpeg.H264, *_keyframes_but_last(r.frames),
             "-frames:v", str(r.frames), str(path)]
    try:
        ffmpeg.run(ctx, args, duration=float(r.frames / R), what="rendering a transition", field="videos",
                   progress_span=span)
        return _mp4.read_video(path)
    except (NodeError, _mp4.Unsupported, struct.error, IndexError) as e:
        raise _Skip(f"rendering a transition failed: {e}") from None


def _add_sound(ctx, p: _timeline.Plan, width: int, height: int, sounding: list[int], video: Path,
               out: Path) -> None:
    """Mix the clips' sound as the whole-timeline path does and mux it beside the copied video."""
    _, agraph, _, aout = _timeline.filter_graphs(p, width, height, "error",
                                                 {i: 1 + k for k, i in enumerate(sounding)})
    args = ["-i", str(video)]
    for i in sounding:
        args += ["-vn", "-i", p.clips[i].path]
    args += ["-filter_complex", agraph, "-map", "0:v:0", "-map", f"[{aout}]", "-c:v", "copy", *ffmpeg.AAC,
             "-movflags", "+faststart", str(out)]
    ffmpeg.run(ctx, args, duration=p.seconds(p.total), what="mixing the sound", field="videos",
               progress_span=(0.95, 1.0))
