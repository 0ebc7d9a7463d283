"""Private: the timing plan of ``assemble.concat`` (pure arithmetic, in whole frames) and its filter graph.

Everything is counted in output frames at the first clip's rate ``R``, so starts, ends and the
total are exact to the frame and xfade offsets fall on frame boundaries.
"""

from __future__ import annotations

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
    rtxt = f"{R.numerator}/{R.denominator}"
    n = len(p.clips)
    audio = audio_inputs is not None
    vchains: list[str] = []
    achains: list[str] = []
    samples = [int(Fraction(c.out_frames) / R * RATE + Fraction(1, 2)) for c in p.clips]

    def fade_len(k: int) -> Fraction:  # half of cut k's transition, in seconds
        return Fraction(p.trans[k], 2) / R

    for i, c in enumerate(p.clips):
        f = [f"[{i}:v:0]setpts=PTS-STARTPTS"]
        if (c.width, c.height) != (width, height):
            if fit == "pad":
                f.append(f"scale={width}:{height}:force_original_aspect_ratio=decrease:"
                         f"force_divisible_by=2:flags=lanczos")
                f.append(f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black")
            else:  # scale: fill the frame, crop the overflow (no distortion)
                f.append(f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=lanczos")
                f.append(f"crop={width}:{height}")
        # exactly out_frames frames: resample the rate, repeat the last frame if one is missing, cut
        f += [f"fps={rtxt}", "setsar=1", "format=yuv420p",
              "tpad=stop_mode=clone:stop=2", f"trim=end_frame={c.out_frames}", "setpts=PTS-STARTPTS"]
        a = []
        if audio:
            if i in audio_inputs:
                a = [f"[{audio_inputs[i]}:a:0]asetpts=PTS-STARTPTS", f"aresample={RATE}",
                     "aformat=sample_fmts=fltp:channel_layouts=stereo",
                     f"apad=whole_len={samples[i]}", f"atrim=end_sample={samples[i]}"]
            else:
                a = [f"anullsrc=r={RATE}:cl=stereo", f"atrim=end_sample={samples[i]}",
                     "aformat=sample_fmts=fltp:channel_layouts=stereo"]
            a.append("asetpts=PTS-STARTPTS")
        if i > 0 and p.kinds[i - 1] == "fade_black" and p.trans[i - 1]:
            h = _sec(fade_len(i - 1))
            f.append(f"fade=t=in:st=0:d={h}")
            if a:
                a.append(f"afade=t=in:st=0:d={h}")
        if i < n - 1 and p.kinds[i] == "fade_black" and p.trans[i]:
            h = fade_len(i)
            st = _sec(Fraction(c.out_frames) / R - h)
            f.append(f"fade=t=out:st={st}:d={_sec(h)}")
            if a:
                a.append(f"afade=t=out:st={_sec(Fraction(samples[i], RATE) - h)}:d={_sec(h)}")
        vchains.append(",".join(f) + f"[v{i}]")
        if a:
            achains.append(",".join(a) + f"[a{i}]")

    # Segments: runs of clips joined by crossfades; segments are joined by the concat filter.
    segments: list[tuple[str, str | None]] = []
    i = 0
    while i < n:
        v, a = f"v{i}", (f"a{i}" if audio else None)
        seg_len = p.clips[i].out_frames
        j = i
        while j < n - 1 and p.kinds[j] == "crossfade" and p.trans[j]:
            d = p.trans[j]
            offset = seg_len - d
            label = f"x{j + 1}"
            vchains.append(f"[{v}][v{j + 1}]xfade=transition=fade:duration={_sec(Fraction(d) / R)}:"
                           f"offset={_sec(Fraction(offset) / R)}[{label}]")
            v = label
            if audio:
                ns = int(Fraction(d) / R * RATE + Fraction(1, 2))
                achains.append(f"[{a}][a{j + 1}]acrossfade=ns={ns}:c1=qsin:c2=qsin[y{j + 1}]")
                a = f"y{j + 1}"
            seg_len = offset + p.clips[j + 1].out_frames
            j += 1
        segments.append((v, a))
        i = j + 1
    vout, aout = segments[0]
    if len(segments) > 1:
        vout, aout = "vout", ("aout" if audio else None)
        vchains.append("".join(f"[{v}]" for v, _ in segments) + f"concat=n={len(segments)}:v=1:a=0[vout]")
        if audio:
            achains.append("".join(f"[{a}]" for _, a in segments) + f"concat=n={len(segments)}:v=0:a=1[aout]")
    return ";".join(vchains), (";".join(achains) if audio else None), vout, aout
