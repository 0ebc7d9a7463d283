from reelgraph.graph import Choice, Float, Input, Int, Node, NodeError, Output, Param, Resources, Text, Video

from ._media import video_info
from .subtitles import _clean, burn_captions


class CaptionNode(Node):
    """Burn one caption into a clip (per shot, before assembly, so editing a shot re-captions only it)."""

    type = "video.caption"
    version = "1.1.0"
    resources = Resources(cpu=1)

    video = Input(Video, doc="The clip to caption; its sound is kept.")
    text = Input(Text, doc="The caption (e.g. the shot's narration); an empty text leaves the clip as it is.")
    start = Param(Float, default=0.0, min=0.0, step=0.1, doc="When the caption appears, in seconds into the clip.")
    end = Param(Float, default=0.0, min=0.0, step=0.1,
                doc="When it disappears, in seconds into the clip; 0 = at the clip's end.")
    font_size = Param(Int, default=0, min=0, max=400,
                      doc="Caption size in pixels; 0 = automatic (4.5 % of the frame height).")
    position = Param(Choice, default="bottom", choices=("bottom", "top"),
                     doc="Where the caption sits: near the bottom or the top edge.")
    video_out = Output(Video, name="video", doc="The captioned clip (H.264 MP4), or the input for an empty text.")

    def run(self, ctx, video, text, start, end, font_size, position):
        info = video_info(video)
        fps = float(info["fps"])
        frames = int(info.get("frames") or round(info["duration"] * fps))
        first = round(start * fps)
        last = frames if end == 0 else min(frames, round(end * fps))
        if end and end < start:
            raise NodeError(f"end {end:g} s is before start {start:g} s", field="end",
                            fix="set end after start, or 0 for the clip's end")
        if first >= frames:
            raise NodeError(f"start {start:g} s is past the clip's end ({frames / fps:g} s)", field="start",
                            fix="start the caption within the clip")
        if last <= first:
            ctx.warn(f"the caption would show for no time ({start:g}–{end:g} s): the clip is left as it is")
            return video
        caption = _clean(text or "")
        if not caption:
            return video
        return burn_captions(ctx, video, info, [(first, last, caption)], font_size=font_size,
                             position=position)
