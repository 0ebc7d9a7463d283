from reelgraph.graph import (
    Bool,
    Choice,
    Float,
    Input,
    Int,
    List,
    Node,
    NodeError,
    Output,
    Param,
    Resources,
    Text,
    Video,
)
from reelgraph.nodes.common.draw import caption_image, warnings_to

from ._media import encode, even_size, video_info, video_meta


def srt_time(seconds: float) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _clean(text: str) -> str:
    """Cue text for SubRip: no blank lines inside a cue (a blank line ends it)."""
    lines = [" ".join(line.split()) for line in str(text).splitlines()]
    return "\n".join(line for line in lines if line)


def cues(texts, starts, ends, duration: float, fps: float, frames: int):
    """(first frame, end frame (exclusive), text) per caption, snapped to frame boundaries."""
    out, dropped = [], []
    for i, raw in enumerate(texts):
        text = _clean(raw)
        if not text:
            continue
        a = starts[i]
        b = ends[i] if ends is not None else (starts[i + 1] if i + 1 < len(starts) else duration)
        if ends is not None and i + 1 < len(starts):
            b = min(b, starts[i + 1])
        first = min(frames, max(0, round(a * fps)))
        end = min(frames, max(0, round(b * fps)))
        if end <= first:
            dropped.append(i)
            continue
        out.append((first, end, text))
    return out, dropped


class SubtitlesNode(Node):
    """Caption a clip: burn texts in at given times and write the matching SubRip (.srt) text."""

    type = "video.subtitles"
    version = "1.1.0"
    resources = Resources(cpu=1)

    video = Input(Video, doc="The clip to caption; its sound is kept.")
    texts = Input(List[Text], doc="One caption per entry; empty texts show nothing.")
    starts = Input(List[Float], doc="When each text appears, in seconds (one per text), e.g. the "
                                    "starts of assemble.concat.")
    ends = Input(List[Float], required=False,
                 doc="When each text disappears (optional). A text never outlasts the next one's "
                     "start; without ends it lasts until the next start (the last: the clip's end).")
    font_size = Param(Int, default=0, min=0, max=400,
                      doc="Caption size in pixels; 0 = automatic (4.5 % of the frame height).")
    position = Param(Choice, default="bottom", choices=("bottom", "top"),
                     doc="Where the captions sit: near the bottom or the top edge.")
    burn = Param(Bool, default=True, doc="On: draw the captions into the picture. Off: the video "
                                         "passes through untouched and only the srt is made.")
    video_out = Output(Video, name="video", doc="The captioned clip (H.264 MP4), or the input when burn is off.")
    srt = Output(Text, doc="The captions as a SubRip document (for io.save_video's subtitles).")

    def run(self, ctx, video, texts, starts, ends, font_size, position, burn):
        if len(starts) != len(texts):
            raise NodeError(f"{len(texts)} texts but {len(starts)} starts", field="starts",
                            fix="wire one start time per text (e.g. both from the same shot list)")
        if ends is not None and len(ends) != len(texts):
            raise NodeError(f"{len(texts)} texts but {len(ends)} ends", field="ends",
                            fix="wire one end time per text, or leave ends unwired")
        info = video_info(video)
        fps = float(info["fps"])
        frames = int(info.get("frames") or round(info["duration"] * fps))
        duration = frames / fps
        captions, dropped = cues(texts, starts, ends, duration, fps, frames)
        if dropped:
            ctx.warn(f"captions {', '.join(str(i + 1) for i in dropped)} are not shown: they end before "
                     "they start or lie outside the clip")
        srt = "\n".join(f"{k}\n{srt_time(a / fps)} --> {srt_time(b / fps)}\n{text}\n"
                        for k, (a, b, text) in enumerate(captions, 1))
        if not burn or not captions:
            return {"video": video, "srt": srt}

        ref = burn_captions(ctx, video, info, captions, font_size=font_size, position=position)
        return {"video": ref, "srt": srt}


def burn_captions(ctx, video, info: dict, captions, *, font_size: int, position: str):
    """Draw (first frame, end frame, text) captions into ``video`` in one ffmpeg pass; the ref made
    (``video`` itself when nothing is drawn). Shared with ``video.caption``."""
    fps = float(info["fps"])
    frames = int(info.get("frames") or round(info["duration"] * fps))
    width, height = info["width"], info["height"]
    out_w, out_h, to_even = even_size(info)
    inputs = ["-i", info["path"]]
    graph, label = [], "0:v"
    with warnings_to(ctx.warn):  # a missing font is told once for the whole node
        for k, (a, b, text) in enumerate(captions, 1):
            what = "the caption" if len(captions) == 1 else f"caption {k}"
            overlay = caption_image(text, width, height, font_size=font_size or None, position=position,
                                    what=what)
            box = overlay.getbbox()
            if box is None:
                continue
            x0, y0 = box[0] // 2 * 2, box[1] // 2 * 2  # even offsets keep 4:2:0 chroma aligned
            png = ctx.temp_path(".png")
            overlay.crop((x0, y0, box[2], box[3])).save(png)
            inputs += ["-i", str(png)]
            n_in = len(graph) + 1
            graph.append(f"[{label}][{n_in}:v]overlay=x={x0}:y={y0}:eof_action=repeat:"
                         f"enable='between(n,{a},{b - 1})'[c{n_in}]")
            label = f"c{n_in}"
            ctx.progress(0.05 * k / len(captions), "drawing captions")
    if not graph:
        return video
    if to_even:
        graph.append(f"[{label}]{to_even}[even]")
        label = "even"
    path = ctx.temp_path(".mp4")
    encode(ctx, inputs, path, has_audio=info["has_audio"],
           video_args=["-filter_complex", ";".join(graph), "-map", f"[{label}]"],
           duration=frames / fps, what="burning captions")
    return ctx.store_file(path, "video", **video_meta(out_w, out_h, fps, frames, info["has_audio"],
                                                     captions=len(captions)))
