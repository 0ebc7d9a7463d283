import numpy as np
from reelgraph.graph import Audio, Choice, Float, Input, List, Node, NodeError, Output, Param, Resources
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common.audio import CHANNELS, fit_length, n_samples, read_audio, write_wav

from ._dsp import RATE, db, fade, frame_rms, frames_to_samples, limit, ramp_envelope

HOP = RATE // 100  # ducking is computed on 10 ms frames
GATE_DB = -45.0  # a voice "sounds" where its 10 ms RMS is above this
ATTACK, RELEASE, HOLD = 0.15, 0.4, 0.25  # seconds: the dip starts ATTACK before a voice, lifts after it


class MixNode(Node):
    """Mix a music bed and narration clips into one track; the music dips while a voice speaks."""

    type = "audio.mix"
    version = "1.0.0"
    resources = Resources(cpu=1)

    music = Input(Audio, required=False, doc="The music or ambience bed (optional).")
    voices = Input(List[Audio], required=False, doc="Narration clips (optional), one per shot for example.")
    starts = Input(List[Float], required=False,
                   doc="When each voice begins, in seconds (e.g. assemble.concat's starts). "
                       "Unwired: the voices play one after another from 0.")
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
    format = Param(Choice, default="wav", choices=("wav", "m4a"), wirable=False,
                   doc="wav: lossless, for further processing; m4a: AAC, encoded once here so that "
                       "assemble.mux_audio can copy it (a re-run after a picture edit skips the encode).")
    audio = Output(Audio, doc="The mix: 48 kHz stereo, peak-limited to -1 dBFS (never clips).")

    def run(self, ctx, music, voices, starts, seconds, music_db, voice_db, duck_db, fade_out, format):
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
