import math
import subprocess

import numpy as np
from reelgraph.graph import (
    Audio,
    Choice,
    Float,
    Input,
    List,
    Node,
    NodeError,
    Output,
    Param,
    Resources,
    Text,
    sketch_media,
)
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common.audio import CHANNELS, fit_length, n_samples, read_audio, write_wav

from ._dsp import RATE, db, fade, frame_rms, frames_to_samples, limit, ramp_envelope

HOP = RATE // 100  # ducking is computed on 10 ms frames
GATE_DB = -45.0  # a voice "sounds" where its 10 ms RMS is above this
ATTACK, RELEASE, HOLD = 0.15, 0.4, 0.25  # seconds: the dip starts ATTACK before a voice, lifts after it
FITS = ("fit", "extend", "overlap")
CUT_FADE = 0.03  # seconds: a line that must be cut ends with this fade, not a click


class MixNode(Node):
    """Mix a music bed and narration clips into one track; the music dips while a voice speaks."""

    type = "audio.mix"
    version = "1.1.0"
    resources = Resources(cpu=1)

    music = Input(Audio, required=False, doc="The music or ambience bed (optional).")
    voices = Input(List[Audio], required=False, doc="Narration clips (optional), one per shot for example.")
    starts = Input(List[Float], required=False,
                   doc="When each voice begins, in seconds (e.g. assemble.concat's starts). "
                       "Unwired: the voices play one after another from 0.")
    narration_fit = Input(List[Text], required=False,
                          doc="How each voice is fitted to its shot (story.shot_fields' narration_fit, one "
                              "per voice: fit, extend or overlap; empty entries take `fit`).")
    seconds = Param(Float, default=0.0, min=0.0, max=7200.0, step=0.5,
                    doc="Length of the mix; longer tracks are cut, shorter ones padded with silence. "
                        "0: until the longest track ends.")
    music_db = Param(Float, default=-12.0, min=-60.0, max=12.0, step=0.5, doc="Music level in dB.")
    voice_db = Param(Float, default=0.0, min=-60.0, max=12.0, step=0.5, doc="Voice level in dB.")
    duck_db = Param(Float, default=-10.0, min=-40.0, max=0.0, step=0.5,
                    doc="How far the music dips while a voice sounds (0: no ducking). The dip fades in "
                        f"over {ATTACK:g} s before the voice and lifts over {RELEASE:g} s after it.")
    fade_out = Param(Float, default=1.5, min=0.0, max=60.0, step=0.1,
                     doc="The music fades out over the last seconds of the mix (voices are not faded).")
    fit = Param(Choice, default="fit", choices=FITS,
                doc="With starts wired, each voice has until the next shot begins; a longer line is "
                    "fit: sped up (pitch kept) by up to max_speedup; extend: the same here (the "
                    "storyboard's 'narration_fit: extend' lengthens the shot itself); overlap: it runs "
                    "on into the next shots while they have no narration, then is sped up. Voices never "
                    "overlap: what still does not fit is cut, with a warning naming the shot and the fix.")
    max_speedup = Param(Float, default=1.25, min=1.0, max=2.0, step=0.05,
                        doc="The most a voice is sped up to fit its shot (1.25: a quarter faster, still "
                            "natural; 1: never).")
    format = Param(Choice, default="wav", choices=("wav", "m4a"), wirable=False,
                   doc="wav: lossless, for further processing; m4a: AAC, encoded once here so that "
                       "assemble.mux_audio can copy it (a re-run after a picture edit skips the encode).")
    audio = Output(Audio, doc="The mix: 48 kHz stereo, peak-limited to -1 dBFS (never clips).")

    @classmethod
    def sketch(cls, values: dict) -> dict:
        seconds = float(values.get("seconds") or 0)
        if not seconds and values.get("music") is not None:
            seconds = float(values["music"].meta.get("duration") or 0)
        return {"audio": sketch_media("audio", duration=seconds, sample_rate=RATE)}

    def run(self, ctx, music, voices, starts, seconds, music_db, voice_db, duck_db, fade_out, format,
            narration_fit=None, fit="fit", max_speedup=1.25):
        wired_empty = voices is not None and len(voices) == 0
        voices = list(voices or [])
        if music is None and not voices:
            raise NodeError("nothing to mix: music is not wired and "
                            + ("voices is an empty list" if wired_empty else "neither is voices"),
                            field="music",
                            fix="wire a music bed into music, narration clips into voices, or both")
        if starts is not None and len(starts) != len(voices):
            raise NodeError(f"starts has {len(starts)} times for {len(voices)} voice clips", field="starts",
                            fix="wire one start time per voice (e.g. assemble.concat's starts), or leave "
                                "starts unwired to play the voices one after another")
        for i, s in enumerate(starts or []):
            if s < 0:
                raise NodeError(f"starts[{i}] is {s:g}: a voice cannot begin before the mix does",
                                field="starts", fix="use times of 0 seconds or later")
        ctx.progress(0.0, "reading")
        bed = read_audio(music.path, field="music") if music is not None else None
        clips = []
        for i, ref in enumerate(voices):
            clips.append(read_audio(ref.path, field="voices"))
            ctx.progress(0.3 * (i + 1) / max(1, len(voices)), "reading voices")
        if starts is None:
            lengths = [len(c) for c in clips]
            offsets = [int(x) for x in np.concatenate([[0], np.cumsum(lengths)[:-1]])] if clips else []
        else:
            offsets = [n_samples(s) for s in starts]
            policies = _policies(narration_fit, fit, len(clips))
            limit_at = n_samples(seconds) if seconds > 0 else None
            clips = [fit_voice(ctx, i, clips, offsets, policies[i], float(max_speedup), limit_at)
                     for i in range(len(clips))]
        if seconds > 0:
            n = n_samples(seconds)
        else:
            ends = [o + len(c) for o, c in zip(offsets, clips)] + ([len(bed)] if bed is not None else [])
            n = max([1, *ends])

        voice_bus = np.zeros((n, CHANNELS), dtype=np.float32)
        vg = np.float32(db(voice_db))
        for o, c in zip(offsets, clips):
            k = min(len(c), n - o)
            if k > 0:
                voice_bus[o:o + k] += c[:k] * vg
        ctx.progress(0.5, "mixing")

        out = fit_length(bed, n) if bed is not None else np.zeros((n, CHANNELS), dtype=np.float32)
        if bed is not None:
            out *= np.float32(db(music_db))
            if clips and duck_db < 0:
                out *= duck_gain(voice_bus, duck_db)[:, None]
            fade(out, 0.0, fade_out)
        ctx.progress(0.7, "mixing")
        out += voice_bus
        del voice_bus
        fade(out, 0.0, 0.005)  # a track cut by `seconds` ends without a click
        out = limit(out, -1.0)
        path = ctx.temp_path(".wav")
        meta = write_wav(path, out)
        del out
        meta.update(codec="pcm_s16le")
        if format == "m4a":
            wav, path = path, ctx.temp_path(".m4a")
            ffmpeg.run(ctx, ["-i", str(wav), *ffmpeg.AAC, "-movflags", "+faststart", str(path)],
                       duration=meta["duration"], what="encoding AAC", progress_span=(0.8, 1.0))
            meta.update(codec="aac")
        ctx.progress(1.0, "done")
        return ctx.store_file(path, "audio", **meta, voices=len(clips), music=bed is not None)


def _policies(given, default: str, n: int) -> list[str]:
    if given is None:
        return [default] * n
    if len(given) != n:
        raise NodeError(f"narration_fit has {len(given)} entries for {n} voice clips", field="narration_fit",
                        fix="wire one entry per voice (story.shot_fields' narration_fit, mapped over the "
                            "shots), or leave it unwired to use the fit param")
    out = []
    for i, p in enumerate(given):
        p = "_".join(str(p or "").lower().split()) or default
        if p not in FITS:
            raise NodeError(f"narration_fit[{i}] is {p!r}", field="narration_fit",
                            fix=f"use one of {', '.join(FITS)} (or an empty entry for the fit param)")
        out.append(p)
    return out


def _audible(x: np.ndarray) -> int:
    """Samples up to the last one that sounds (above the gate): a voice's quiet tail may be cut."""
    if not len(x):
        return 0
    loud = np.flatnonzero(np.abs(x).max(axis=1) > db(GATE_DB))
    return int(loud[-1]) + 1 if len(loud) else 0


def fit_voice(ctx, i: int, clips: list[np.ndarray], offsets: list[int], policy: str, bound: float,
              end: int | None) -> np.ndarray:
    """Voice ``i`` made to end before the next voice can begin: before the next shot (fit, extend),
    or the next shot that has narration (overlap); sped up by up to ``bound`` when it is longer,
    and cut, with a warning, when even that is not enough."""
    x, at = clips[i], offsets[i]
    heard = _audible(x)
    if not heard:
        return x
    later = [(o, j) for j, o in enumerate(offsets) if o > at and (policy != "overlap" or _audible(clips[j]))]
    stop, nxt = min(later) if later else (end, None)
    if stop is None or stop <= at or len(x) <= stop - at:  # (a voice after the end: the mix cuts it)
        return x
    room = stop - at
    if heard > room:
        x = _tempo(x, min(bound, heard / room))
        heard = _audible(x)
    if heard > room + int(0.005 * RATE):  # rounding in the stretch is no reason to warn
        _warn_cut(ctx, i, policy, bound, _audible(clips[i]), room, heard - room, nxt)
    x = x[:room].copy()
    fade(x, 0.0, min(CUT_FADE, room / RATE / 2))
    return x


def _warn_cut(ctx, i: int, policy: str, bound: float, need: int, room: int, cut: int, nxt: int | None):
    until = f"shot {nxt + 1} begins" if nxt is not None else "the mix ends"
    if policy == "overlap" and nxt is not None:
        until = f"shot {nxt + 1}, the next shot with narration, begins"
    more = math.ceil((need / bound - room) / RATE * 10) / 10
    ctx.warn(f"shot {i + 1}: its narration lasts {need / RATE:.2f} s but has {room / RATE:.2f} s before "
             f"{until}; even {bound:g}× faster it needs {need / bound / RATE:.2f} s, so its last "
             f"{cut / RATE:.2f} s are cut. Fix: 'narration_fit: extend' on shot {i + 1} (the shot is "
             f"lengthened to hold the line), a shorter line, or shot {i + 1} at least {more:g} s longer.")


def _tempo(x: np.ndarray, speed: float) -> np.ndarray:
    """``x`` played ``speed`` times faster at the same pitch (ffmpeg's atempo)."""
    if speed <= 1.0:
        return x
    fmt = ["-f", "f32le", "-ac", str(CHANNELS), "-ar", str(RATE)]
    cmd = [ffmpeg.exe(), "-v", "error", "-nostdin", *fmt, "-i", "-", "-af", f"atempo={speed:.6f}", *fmt, "-"]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(x, "<f4").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise NodeError(f"ffmpeg could not speed a voice up: {proc.stderr.decode('utf-8', 'replace')[-300:]}",
                        field="voices", fix="set max_speedup to 1 to cut long lines instead")
    out = np.frombuffer(proc.stdout, np.float32)
    return out[:len(out) - len(out) % CHANNELS].reshape(-1, CHANNELS).copy()


def duck_gain(voice_bus: np.ndarray, duck_db: float) -> np.ndarray:
    """Per-sample gain for the music: 1 where no voice sounds, ``duck_db`` under a voice, with smooth
    ramps (down over ATTACK seconds, reaching full depth as the voice begins; up over RELEASE after
    it, once the voice has been quiet for HOLD seconds, so pauses between words do not pump)."""
    active = frame_rms(voice_bus, HOP) > db(GATE_DB)
    frames = len(active)
    look, hold = int(round(ATTACK * 100)), int(round(HOLD * 100))
    cs = np.concatenate([[0], np.cumsum(active)])
    idx = np.arange(frames)
    hi = np.minimum(idx + look, frames - 1) + 1
    lo = np.maximum(idx - hold, 0)
    target = (cs[hi] - cs[lo] > 0).astype(np.float64)  # a voice within [i - hold, i + look]
    env = ramp_envelope(target, ATTACK * 100, RELEASE * 100)
    return frames_to_samples(10.0 ** (duck_db * env / 20.0), HOP, len(voice_bus))
