"""Private: the timing plan of ``assemble.concat`` (pure arithmetic, in whole frames) and its filter graph.

Everything is counted in output frames at the first clip's rate ``R``, so starts, ends and the
total are exact to the frame and xfade offsets fall on frame boundaries.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

from reelgraph.nodes.common.measure import rate as exact_rate

RATE = 48000  # audio of the assembled video (common.audio.RATE)
KINDS = ("cut", "crossfade", "fade_black")
_ALIASES = {"fade": "fade_black", "fade_to_black": "fade_black", "dip_to_black": "fade_black",
            "dissolve": "crossfade", "cross_fade": "crossfade", "xfade": "crossfade", "hard_cut": "cut"}


def normalize_kind(name: str) -> str | None:
    """``"Fade black"`` -> ``"fade_black"``; None when the name is not a known transition."""
    key = "_".join(str(name).strip().lower().replace("-", " ").split())
    key = _ALIASES.get(key, key)
    return key if key in KINDS else None


@dataclass
class Clip:
    index: int
    path: str
    width: int
    height: int
    fps: float
    frames: int  # in its own rate
    has_audio: bool
    out_frames: int = 0  # in the output rate

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


@dataclass
class Plan:
    rate: Fraction
    clips: list[Clip]
    kinds: list[str]  # per cut (len n-1): cut | crossfade | fade_black
    trans: list[int]  # per cut: transition length in frames (0 for cut)
    starts: list[int] = field(default_factory=list)  # frames
    ends: list[int] = field(default_factory=list)
    total: int = 0

    def seconds(self, frames: int) -> float:
        return round(float(Fraction(frames) / self.rate), 6)


def plan(clips: list[Clip], kinds: list[str], seconds: float, rate: Fraction) -> tuple[Plan, list[str]]:
    """Frame counts at ``rate``, per-cut transition lengths (clamped), starts/ends; and warnings."""
    warnings: list[str] = []
    for c in clips:
        c.out_frames = max(1, int(Fraction(c.frames) / exact_rate(c.fps) * rate + Fraction(1, 2)))
    want = int(Fraction(seconds).limit_denominator(10**6) * rate + Fraction(1, 2))
    trans = []
    for k, kind in enumerate(kinds):
        if kind == "cut" or want == 0:
            trans.append(0)
            continue
        a, b = clips[k], clips[k + 1]
        cap = min(a.out_frames, b.out_frames) // 2
        if want > cap:
            warnings.append(f"cut {k + 1} (clip {k + 1} → clip {k + 2}): transition_seconds {seconds:g} is "
                            f"more than half the shorter clip; using {float(cap / rate):.3f} s")
        trans.append(min(want, cap))
    p = Plan(rate, clips, list(kinds), trans)
    t = 0
    for i, c in enumerate(clips):
        if i > 0 and kinds[i - 1] == "crossfade":
            t -= trans[i - 1]
        p.starts.append(t)
        t += c.out_frames
        p.ends.append(t)
    p.total = t
    return p, warnings


def _sec(x: Fraction) -> str:
    return f"{float(x):.6f}"


def filter_graphs(p: Plan, width: int, height: int, fit: str,
                  audio_inputs: dict[int, int] | None) -> tuple[str, str, str | None, str | None]:
    """The video filtergraph, the audio one (None without sound) and their output labels.

    ``audio_inputs`` maps a clip to the ffmpeg input index its sound is read from. Sound goes
    through its own inputs and its own filtergraph on purpose: in one graph, acrossfade asks for
    every clip's audio at once, which starts every clip's demuxer and video decoder at once and
    queues decoded frames (1.5 GB for six 10 s 1080p clips instead of 0.65 GB, and slower).
    """
    R = p.rate
    n = len(p.clips)
    vchains, vout = _video_chains(p, {i: (0, c.out_frames) for i, c in enumerate(p.clips)},
                                  {i: i for i in range(n)}, width, height, fit)
    if audio_inputs is None:
        return ";".join(vchains), None, vout, None
    achains: list[str] = []
    samples = [int(Fraction(c.out_frames) / R * RATE + Fraction(1, 2)) for c in p.clips]
    for i in range(n):
        if i in audio_inputs:
            a = [f"[{audio_inputs[i]}:a:0]asetpts=PTS-STARTPTS", f"aresample={RATE}",
                 "aformat=sample_fmts=fltp:channel_layouts=stereo",
                 f"apad=whole_len={samples[i]}", f"atrim=end_sample={samples[i]}"]
        else:
            a = [f"anullsrc=r={RATE}:cl=stereo", f"atrim=end_sample={samples[i]}",
                 "aformat=sample_fmts=fltp:channel_layouts=stereo"]
        a.append("asetpts=PTS-STARTPTS")
        if i > 0 and p.kinds[i - 1] == "fade_black" and p.trans[i - 1]:
            a.append(f"afade=t=in:st=0:d={_sec(_fade_len(p, i - 1))}")
        if i < n - 1 and p.kinds[i] == "fade_black" and p.trans[i]:
            h = _fade_len(p, i)
            a.append(f"afade=t=out:st={_sec(Fraction(samples[i], RATE) - h)}:d={_sec(h)}")
        achains.append(",".join(a) + f"[a{i}]")
    # runs of clips joined by crossfades, the runs joined by the concat filter (as for the video)
    runs: list[str] = []
    i = 0
    while i < n:
        a = f"a{i}"
        j = i
        while j < n - 1 and p.kinds[j] == "crossfade" and p.trans[j]:
            ns = int(Fraction(p.trans[j]) / R * RATE + Fraction(1, 2))
            achains.append(f"[{a}][a{j + 1}]acrossfade=ns={ns}:c1=qsin:c2=qsin[y{j + 1}]")
            a = f"y{j + 1}"
            j += 1
        runs.append(a)
        i = j + 1
    aout = runs[0]
    if len(runs) > 1:
        aout = "aout"
        achains.append("".join(f"[{a}]" for a in runs) + f"concat=n={len(runs)}:v=0:a=1[aout]")
    return ";".join(vchains), ";".join(achains), vout, aout


def _fade_len(p: Plan, k: int) -> Fraction:
    """Half of cut k's transition, in seconds (a fade_black's fade-out, and its fade-in)."""
    return Fraction(p.trans[k], 2) / p.rate


def _video_chains(p: Plan, windows: dict[int, tuple[int, int]], inputs: dict[int, int], width: int,
                  height: int, fit: str, keep_sar: bool = False) -> tuple[list[str], str]:
    """Filter chains giving the output frames that consecutive clips' frame windows make.

    ``windows[i] = (lo, hi)``: clip i's frames lo..hi-1 (in output frames); the ffmpeg input
    ``inputs[i]`` starts at frame lo (seeked there). The whole timeline is every clip's whole
    window; ``assemble.concat``'s fast path renders only the stretches around transitions, with
    the same filters, so those frames come out as the whole-timeline graph would make them.
    A window that is not its clip's whole length must not cut into a transition except a
    crossfade's out-going side (lo > 0) or in-coming side (hi < length) in full.
    ``keep_sar``: leave the clips' pixel aspect as it is (square, set or unset) instead of setting
    it to 1:1, so an encode of the frames gets the clips' own parameter sets.
    """
    R = p.rate
    rtxt = f"{R.numerator}/{R.denominator}"
    order = sorted(windows)
    last = len(p.clips) - 1
    chains: list[str] = []
    for i in order:
        c = p.clips[i]
        lo, hi = windows[i]
        f = [f"[{inputs[i]}:v:0]setpts=PTS-STARTPTS"]
        if (c.width, c.height) != (width, height):
            if fit == "pad":
                f.append(f"scale={width}:{height}:force_original_aspect_ratio=decrease:"
                         f"force_divisible_by=2:flags=lanczos")
                f.append(f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black")
            else:  # scale: fill the frame, crop the overflow (no distortion)
                f.append(f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=lanczos")
                f.append(f"crop={width}:{height}")
        # exactly hi-lo frames: resample the rate, repeat the last frame if one is missing, cut;
        # a window keeps the clip's own timestamps through the fades (the fade filter rounds its
        # start to a frame: the same start time must meet the same frame times)
        f += [f"fps={rtxt}", *([] if keep_sar else ["setsar=1"]), "format=yuv420p",
              "tpad=stop_mode=clone:stop=2", f"trim=end_frame={hi - lo}",
              f"setpts=PTS-STARTPTS+{lo}" if lo else "setpts=PTS-STARTPTS"]
        if i > 0 and p.kinds[i - 1] == "fade_black" and p.trans[i - 1]:
            h = _fade_len(p, i - 1)
            if lo:  # the fade-in must lie before the window
                if Fraction(lo) / R <= h:
                    raise ValueError(f"clip {i}'s window starts inside its fade-in")
            else:
                f.append(f"fade=t=in:st=0:d={_sec(h)}")
        if i < last and p.kinds[i] == "fade_black" and p.trans[i]:
            h = _fade_len(p, i)
            st = Fraction(c.out_frames) / R - h
            if Fraction(lo) / R >= st or (hi < c.out_frames and Fraction(hi) / R > st):
                raise ValueError(f"clip {i}'s window cuts into its fade-out")
            if hi == c.out_frames:
                f.append(f"fade=t=out:st={_sec(st)}:d={_sec(h)}")
        if lo:
            f.append("setpts=PTS-STARTPTS")
        chains.append(",".join(f) + f"[v{i}]")

    # Segments: runs of clips joined by crossfades; segments are joined by the concat filter.
    segments: list[str] = []
    k = 0
    while k < len(order):
        i = order[k]
        v = f"v{i}"
        lo, hi = windows[i]
        seg_len = hi - lo
        while (k + 1 < len(order) and p.kinds[order[k]] == "crossfade" and p.trans[order[k]]):
            j = order[k]
            d = p.trans[j]
            if windows[j][1] != p.clips[j].out_frames or windows[j + 1][0] != 0 or seg_len < d:
                raise ValueError(f"the windows of clips {j} and {j + 1} cut into their crossfade")
            offset = seg_len - d
            label = f"x{j + 1}"
            chains.append(f"[{v}][v{j + 1}]xfade=transition=fade:duration={_sec(Fraction(d) / R)}:"
                          f"offset={_sec(Fraction(offset) / R)}[{label}]")
            v = label
            seg_len = offset + windows[j + 1][1] - windows[j + 1][0]
            k += 1
        segments.append(v)
        k += 1
    out = segments[0]
    if len(segments) > 1:
        out = "vout"
        chains.append("".join(f"[{v}]" for v in segments) + f"concat=n={len(segments)}:v=1:a=0[vout]")
    return chains, out


# ------------------------------------------------------------------------------------------------
# the fast path: copy what no transition touches, render the rest

@dataclass
class Copy:
    """Frames first..end-1 of clip ``clip``, copied as they are (``first`` is a keyframe)."""
    clip: int
    first: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.first


@dataclass
class Render:
    """Output frames start..start+frames-1, rendered from these clips' frame windows."""
    windows: dict[int, tuple[int, int]]
    start: int
    frames: int


def _edge(p: Plan, k: int) -> int:
    """How many frames of each clip at cut k its transition touches (fades: one more, to be safe)."""
    if not p.trans[k]:
        return 0
    return p.trans[k] if p.kinds[k] == "crossfade" else p.trans[k] // 2 + 1


def segments(p: Plan, keyframes: list[list[int]]) -> list[Copy | Render]:
    """The output as copied stretches of the clips and rendered stretches around the transitions.

    ``keyframes[i]``: the frames of clip i a copy may start at (IDR pictures). A clip's copied
    body starts at its first keyframe after what the incoming transition touches (the render
    before it runs on to there) and ends where the outgoing one begins. Two rules keep the
    stream valid where pieces meet, since every piece starts with an IDR picture and two IDR
    pictures in a row must carry different ids: a copy does not end on a keyframe (that frame is
    rendered instead), and a render is not one frame long when a copy follows it.
    """
    n = len(p.clips)
    keys = [sorted(set(k)) for k in keyframes]
    bodies: list[list[int] | None] = []
    for i, c in enumerate(p.clips):
        head = _edge(p, i - 1) if i else 0
        tail = _edge(p, i) if i < n - 1 else 0
        b = next((k for k in keys[i] if k >= head), None)
        e = c.out_frames - tail
        bodies.append([b, e] if b is not None and b < e else None)
    while True:
        for i, body in enumerate(bodies):
            if body and body[1] - 1 in keys[i] and not (i == n - 1 and body[1] == p.clips[i].out_frames):
                body[1] -= 1
                if body[0] >= body[1]:
                    bodies[i] = None
        segs = _layout(p, bodies)
        changed = False
        for s, nxt in itertools.pairwise(segs):
            if isinstance(s, Render) and s.frames == 1 and isinstance(nxt, Copy):
                body = bodies[nxt.clip]
                body[0] = next((k for k in keys[nxt.clip] if k > body[0]), body[1])
                if body[0] >= body[1]:
                    bodies[nxt.clip] = None
                changed = True
                break
        if not changed:
            return segs


def _layout(p: Plan, bodies: list[list[int] | None]) -> list[Copy | Render]:
    segs: list[Copy | Render] = []
    pos, j, lo = 0, 0, 0  # next output frame; where the next render begins (clip, frame)

    def render(k: int, hi: int, end: int) -> None:
        a, first = j, lo
        if first >= p.clips[a].out_frames and a < k:  # the copy took clip a to its end (a cut)
            a, first = a + 1, 0
        windows = {i: (first if i == a else 0, hi if i == k else p.clips[i].out_frames)
                   for i in range(a, k + 1)}
        segs.append(Render(windows, pos, end - pos))

    for i, body in enumerate(bodies):
        if body is None:
            continue
        b, e = body
        if p.starts[i] + b > pos:
            render(i, b, p.starts[i] + b)
        segs.append(Copy(i, b, e))
        pos, j, lo = p.starts[i] + e, i, e
    if pos < p.total:
        render(len(p.clips) - 1, p.clips[-1].out_frames, p.total)
    return segs


def render_graph(p: Plan, r: Render, width: int, height: int) -> tuple[str, str]:
    """The video filtergraph of a rendered stretch (ffmpeg input k = its k-th clip) and its output label."""
    inputs = {i: k for k, i in enumerate(sorted(r.windows))}
    chains, out = _video_chains(p, r.windows, inputs, width, height, "error", keep_sar=True)
    return ";".join(chains), out
