
from reelgraph.graph import Audio, Float, Node, NodeError, Output, Param, Text
from reelgraph.nodes.common import files
from reelgraph.nodes.common.audio import RATE, fit_length, n_samples, read_audio, write_wav


class LoadAudioNode(Node):
    """Load an audio file (WAV, MP3, M4A/AAC, OGG, FLAC, or a video's sound) as 48 kHz stereo."""

    type = "io.load_audio"
    version = "1.0.0"

    path = Param(Text, default="", file="audio",
                 doc="The file, relative to the workflow's folder (it must lie inside it).")
    start = Param(Float, default=0.0, min=0.0, step=0.1, doc="Skip this many seconds at the beginning.")
    seconds = Param(Float, default=0.0, min=0.0, step=0.1,
                    doc="Keep this many seconds from start (padded with silence past the file's end); "
                        "0: to the end of the file.")
    audio = Output(Audio, doc="The sound: 48 kHz stereo 16-bit WAV.")

    @classmethod
    def fingerprint(cls, values, workspace):
        return files.path_fingerprint(values, workspace)

    def run(self, ctx, path, start, seconds):
        file = ctx.user_path(path, "path")
        if not file.is_file():
            raise NodeError(f"{path!r} is a folder, not a file", field="path", fix="name an audio file")
        ctx.progress(0.0, f"decoding {file.name}")
        x = read_audio(file, field="path")
        if len(x) == 0:
            raise NodeError(f"{file.name} holds no audio samples", field="path",
                            fix="give a file with a sound track (WAV, MP3, M4A, OGG, FLAC)")
        total = len(x) / RATE
        s0 = n_samples(start)
        if s0 >= len(x):
            raise NodeError(f"start {start:g} s is past the end of {file.name} ({total:.2f} s long)",
                            field="start", fix=f"use a start below {total:.2f} seconds, or 0")
        x = x[s0:]
        if seconds > 0:
            n = n_samples(seconds)
            if n > len(x):
                ctx.warn(f"{file.name} has only {len(x) / RATE:.2f} s after start {start:g} s: "
                         f"padded with silence to {seconds:g} s")
            x = fit_length(x, n)
        out = ctx.temp_path(".wav")
        meta = write_wav(out, x)
        ctx.progress(1.0, "done")
        return ctx.store_file(out, "audio", **meta, source=file.name, source_duration=round(total, 6))
