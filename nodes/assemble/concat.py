from reelgraph.graph import Choice, Float, Input, List, Node, NodeError, Output, Param, Resources, Text, Video
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common import measure as _media

from . import _smart, _timeline
from ._timeline import KINDS


class ConcatNode(Node):
    """Join clips into one video with a cut, crossfade or fade through black at each cut."""

    type = "assemble.concat"
    version = "1.0.0"
    resources = Resources(cpu=1)

    videos = Input(List[Video], doc="The clips, in order (taken whole as one list). The first clip sets "
                                    "the size and frame rate of the result.")
    transitions = Input(List[Text], required=False,
                        doc="Per-cut transitions (cut, crossfade, fade_black): n entries = how each clip "
                            "begins (the first is ignored, like a storyboard's shot transitions), or n-1 "
                            "entries = one per cut. Empty entries use `transition`.")
    transition = Param(Choice, default="crossfade", choices=KINDS,
                       doc="Transition at every cut when `transitions` is not wired. crossfade: the clips "
                           "overlap and blend; fade_black: fade out, then in, no overlap.")
    transition_seconds = Param(Float, default=0.5, min=0.0, step=0.05,
                               doc="Length of each crossfade / fade through black, in seconds (0 = cuts). "
                                   "Clamped to half the shorter clip at each cut.")
    fit = Param(Choice, default="error", choices=("error", "scale", "pad"),
                doc="When a clip's size differs from the first clip's: error; scale (fill the frame, "
                    "cropping the overflow, no distortion); pad (fit inside, black bars).")

    video = Output(Video, doc="The assembled video (H.264; AAC audio when any clip has sound, silence "
                              "filling clips without).")
    starts = Output(List[Float], doc="When each clip begins in the result, in seconds (a crossfaded clip "
                                     "begins where its fade-in starts).")
    ends = Output(List[Float], doc="When each clip ends in the result, in seconds.")
    duration = Output(Float, doc="Length of the result in seconds: the clips' sum minus one overlap "
                                 "per crossfade.")

    def run(self, ctx, videos, transitions, transition, transition_seconds, fit):
        if not videos:
            raise NodeError("no clips to join: the list is empty", field="videos",
                            fix="wire a list of videos (e.g. from a mapped video.image_to_video)")
        kinds = _kinds(len(videos), transitions, transition)
        clips = []
        for i, ref in enumerate(videos):
            m = _media.video_meta(ref, field="videos")
            clips.append(_timeline.Clip(i, ref.path, int(m["width"]), int(m["height"]), float(m["fps"]),
                                        int(m["frames"]), bool(m["has_audio"])))
        width, height = clips[0].width, clips[0].height
        if fit == "error":
            for c in clips[1:]:
                if (c.width, c.height) != (width, height):
                    raise NodeError(f"clip {c.index + 1}: expected {width}×{height}, got {c.width}×{c.height}",
                                    field="videos",
                                    fix="add a video.upscale node or set fit to scale (or pad)")
        rate = _media.rate(clips[0].fps)
        plan, warnings = _timeline.plan(clips, kinds, float(transition_seconds), rate)
        for w in warnings:
            ctx.warn(w)
        starts = [plan.seconds(s) for s in plan.starts]
        ends = [plan.seconds(e) for e in plan.ends]
        total = plan.seconds(plan.total)
        if len(videos) == 1:  # nothing to join: the clip itself
            return {"video": videos[0], "starts": starts, "ends": ends, "duration": total}

        audio = any(c.has_audio for c in clips)
        # the sound is read through inputs of its own (see _timeline.filter_graphs)
        sounding = [c.index for c in clips if c.has_audio]
        audio_inputs = {i: len(clips) + k for k, i in enumerate(sounding)} if audio else None
        out = ctx.temp_path(".mp4")
        # fast path: copy the frames no transition touches, render only around the transitions
        smart, why_not = _smart.concat(ctx, plan, width, height, sounding, out)
        if smart is not None:
            ctx.progress(1.0, "joined")
            meta = {"width": width, "height": height, "fps": float(rate), "frames": plan.total,
                    "duration": round(plan.total / float(rate), 6), "has_audio": audio}
            return {"video": ctx.store_file(out, "video", **meta, transitions=kinds, smart=True, **smart),
                    "starts": starts, "ends": ends, "duration": total}
        vgraph, agraph, vout, aout = _timeline.filter_graphs(plan, width, height, fit, audio_inputs)
        args = []
        for c in clips:
            args += ["-an", "-i", c.path]
        for i in sounding:
            args += ["-vn", "-i", clips[i].path]
        args += ["-filter_complex", vgraph]
        if agraph:
            args += ["-filter_complex", agraph]
        args += ["-map", f"[{vout}]"]
        if aout:
            args += ["-map", f"[{aout}]", *ffmpeg.AAC]
        args += [*ffmpeg.H264, "-frames:v", str(plan.total), str(out)]
        ffmpeg.run(ctx, args, duration=total, what="joining clips", field="videos")
        ctx.progress(1.0, "joined")
        meta = _media.measured_meta(out, fps=float(rate))
        meta["has_audio"] = audio
        return {"video": ctx.store_file(out, "video", **meta, transitions=kinds, smart=False,
                                         smart_skipped=why_not),
                "starts": starts, "ends": ends, "duration": total}


def _kinds(n: int, transitions, default: str) -> list[str]:
    """One transition kind per cut (n-1 of them)."""
    if transitions is None:
        return [default] * (n - 1)
    items = list(transitions)
    if len(items) == n:
        items = items[1:]  # entry 0 is how the first clip begins: nothing to transition from
    elif len(items) != n - 1:
        raise NodeError(f"transitions has {len(items)} entries for {n} clips",
                        field="transitions",
                        fix=f"give {n} entries (one per clip, the first ignored) or {n - 1} (one per cut)")
    offset = 1 if len(transitions) == n else 0
    kinds = []
    for k, name in enumerate(items):
        if not str(name).strip():
            kinds.append(default)
            continue
        kind = _timeline.normalize_kind(name)
        if kind is None:
            raise NodeError(f"transitions[{k + offset}] is {name!r}, not a transition this node knows",
                            field="transitions", fix=f"use one of: {', '.join(KINDS)}")
        kinds.append(kind)
    return kinds
