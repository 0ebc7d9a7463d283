from fractions import Fraction

from reelgraph.graph import Choice, Float, Input, Int, List, Node, NodeError, Output, Param, Resources, Text

from . import _timeline
from ._timeline import KINDS
from .concat import _kinds


class TimelineNode(Node):
    """Plan the cut before rendering: where each shot starts and ends, and the total length."""

    type = "assemble.timeline"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"
    resources = Resources(cpu=0)

    durations = Input(List[Float], doc="Each shot's length in seconds, in order (e.g. story.shot_fields' "
                                       "duration, mapped over the shots).")
    transitions = Input(List[Text], required=False,
                        doc="Per-cut transitions, exactly as assemble.concat takes them (n entries: how "
                            "each shot begins; or n-1: one per cut).")
    transition = Param(Choice, default="crossfade", choices=KINDS,
                       doc="Transition at every cut when `transitions` is not wired (as in assemble.concat).")
    transition_seconds = Param(Float, default=0.5, min=0.0, step=0.05,
                               doc="Length of each crossfade / fade through black (as in assemble.concat).")
    fps = Param(Int, default=24, min=1, max=240, doc="The clips' frame rate: times snap to its frames.")

    starts = Output(List[Float], doc="When each shot begins in the assembled video, in seconds.")
    ends = Output(List[Float], doc="When each shot ends in the assembled video, in seconds.")
    duration = Output(Float, doc="Length of the assembled video in seconds.")
    clear_starts = Output(List[Float], doc="When each shot stands alone in the assembled video (after "
                                           "the crossfade from the previous one): where its subtitle begins.")
    clear_ends = Output(List[Float], doc="When the crossfade into the next shot begins (the shot's end "
                                         "when none): where its subtitle ends.")
    clear_in = Output(List[Float], doc="The same moments in seconds into each shot, for video.caption's start.")
    clear_out = Output(List[Float], doc="The same moments in seconds into each shot, for video.caption's end.")

    def run(self, ctx, durations, transitions, transition, transition_seconds, fps):
        if not durations:
            raise NodeError("no shots to plan: the list is empty", field="durations",
                            fix="wire one duration per shot")
        rate = Fraction(int(fps))
        clips = []
        for i, d in enumerate(durations):
            frames = round(float(d) * fps)
            if frames < 1:
                raise NodeError(f"shot {i + 1}: {d:g} s is shorter than one frame at {fps} fps",
                                field="durations", fix="give every shot a positive length")
            clips.append(_timeline.Clip(i, "", 0, 0, float(fps), frames, False))
        kinds = _kinds(len(clips), transitions, transition)
        plan, warnings = _timeline.plan(clips, kinds, float(transition_seconds), rate)
        for w in warnings:
            ctx.warn(w)
        n = len(clips)
        clear_in, clear_out = [], []
        for i in range(n):
            into = max(0, plan.ends[i - 1] - plan.starts[i]) if i else 0  # frames of the fade-in
            out = max(0, plan.ends[i] - plan.starts[i + 1]) if i + 1 < n else 0
            clear_in.append(into)
            clear_out.append(plan.ends[i] - plan.starts[i] - out)
        sec = plan.seconds
        return {"starts": [sec(s) for s in plan.starts], "ends": [sec(e) for e in plan.ends],
                "duration": sec(plan.total),
                "clear_starts": [sec(s + a) for s, a in zip(plan.starts, clear_in)],
                "clear_ends": [sec(s + b) for s, b in zip(plan.starts, clear_out)],
                "clear_in": [sec(a) for a in clear_in], "clear_out": [sec(b) for b in clear_out]}
