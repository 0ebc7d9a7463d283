
from reelgraph.graph import Audio, Float, Node, NodeError, Output, Param, Text
from reelgraph.nodes.common import audio as _audio
from reelgraph.nodes.common import files
from reelgraph.nodes.common.audio import RATE, fit_length, n_samples, read_audio, write_wav


class LoadAudioNode(Node):
    """Load an audio file (WAV, MP3, M4A/AAC, OGG, FLAC, or a video's sound) as 48 kHz stereo."""

    type = "io.load_audio"
    version = "1.0.0"

    path = Param(Text, default="", file="audio",
                 doc="The file, relative to the workflow's folder (it must lie inside it).")
    start = Param(Float, default=0.0, min=0.0, step=0.1, doc="Skip this many seconds at the beginning.")
    seconds = Param(Float, default=0.0, min=0.0, max=_audio.MAX_SECONDS, step=0.1,
                    doc="Keep this many seconds from start (padded with silence past the file's end); "
                        f"0: to the end of the file (at most {_audio.MAX_SECONDS:g} s). Only these are "
                        "decoded, so a part of a long recording is quick.")
    audio = Output(Audio, doc="The sound: 48 kHz stereo 16-bit WAV.")

    @classmethod
    def fingerprint(cls, values, workspace):
        return files.path_fingerprint(values, workspace)

    def run(self, ctx, path, start, seconds):
        file = files.user_file(ctx, path, "path", what="an audio file (WAV, MP3, M4A, OGG, FLAC)")
        ctx.progress(0.0, f"decoding {file.name}")
        total = _audio.duration(file)  # the header's word: lets a wrong start or a too-long file fail fast
        if total is not None and start >= total:
            raise self._past_end(file, start, total)
        longest = _audio.MAX_SECONDS
        if seconds <= 0 and total is not None and total - start > longest:
            raise self._too_long(file, start, total - start)
        # to the end: a second past the limit shows a file longer than its header said
        x = read_audio(file, field="path", start=start, seconds=seconds if seconds > 0 else longest + 1.0)
        if len(x) == 0:
            if start > 0:
                raise self._past_end(file, start, total)
            raise NodeError(f"{file.name} holds no audio samples", field="path",
                            fix="give a file with a sound track (WAV, MP3, M4A, OGG, FLAC)")
        if seconds <= 0 and len(x) > n_samples(longest):
            raise self._too_long(file, start, None)
        if seconds > 0:
            n = n_samples(seconds)
            if n > len(x):
                ctx.warn(f"{file.name} has only {len(x) / RATE:.2f} s after start {start:g} s: "
                         f"padded with silence to {seconds:g} s")
            x = fit_length(x, n)
        elif total is None:
            total = start + len(x) / RATE
        out = ctx.temp_path(".wav")
        meta = write_wav(out, x)
        ctx.progress(1.0, "done")
        extra = {"source_duration": round(total, 6)} if total is not None else {}
        return ctx.store_file(out, "audio", **meta, source=file.name, **extra)

    @staticmethod
    def _past_end(file, start: float, total: float | None) -> NodeError:
        length = f" ({total:.2f} s long)" if total is not None else ""
        fix = f"use a start below {total:.2f} seconds, or 0" if total is not None else "use a smaller start, or 0"
        return NodeError(f"start {start:g} s is past the end of {file.name}{length}", field="start", fix=fix)

    @staticmethod
    def _too_long(file, start: float, rest: float | None) -> NodeError:
        longest = _audio.MAX_SECONDS
        after = f" after start {start:g} s" if start > 0 else ""
        size = f" ({rest / 60:.0f} min{after})" if rest is not None else after
        return NodeError(f"{file.name} is longer than {longest:g} s{size}, the most io.load_audio reads whole",
                         field="seconds", fix=f"set seconds (at most {longest:g}) to keep a part of it, with "
                                              "start where that part begins")
