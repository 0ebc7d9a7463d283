from reelgraph.graph import Audio, Float, Input, Node, Output, Param, Resources, Video
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.common import measure as _media

RATE = 48000


class MuxAudioNode(Node):
    """Lay a soundtrack under a video: the audio is trimmed or padded with silence to the video's length."""

    type = "assemble.mux_audio"
    version = "1.0.0"
    resources = Resources(cpu=1)

    video = Input(Video, doc="The picture; its video stream is copied as is (no re-encode), any sound it "
                             "had is replaced.")
    audio = Input(Audio, doc="The soundtrack (e.g. from audio.mix); cut or padded with silence to the "
                             "video's duration.")
    gain_db = Param(Float, default=0.0, min=-60.0, max=24.0, step=0.5,
                    doc="Volume change applied to the soundtrack, in dB (0 = as is).")
    result = Output(Video, name="video", doc="The video with exactly one AAC audio track of its own length.")

    def run(self, ctx, video, audio, gain_db):
        meta = _media.video_meta(video, field="video")
        seconds = meta["frames"] / meta["fps"]
        samples = max(1, round(seconds * RATE))
        chain = [f"aresample={RATE}", "aformat=sample_fmts=fltp:channel_layouts=stereo"]
        if gain_db:
            chain.append(f"volume={float(gain_db):.3f}dB")
        chain += [f"apad=whole_len={samples}", f"atrim=end_sample={samples}"]
        out = ctx.temp_path(".mp4")
        if _copyable(audio, seconds, meta["fps"], gain_db):
            # AAC of the right length already (audio.mix format=m4a): copy it, nothing to encode.
            audio_args = ["-c:a", "copy", "-t", f"{seconds:.6f}"]
        else:
            audio_args = ["-af", ",".join(chain), *ffmpeg.AAC]
        ffmpeg.run(ctx, ["-i", video.path, "-i", audio.path, "-map", "0:v:0", "-map", "1:a:0",
                         "-c:v", "copy", *audio_args, "-movflags", "+faststart", str(out)],
                   duration=seconds, what="adding the soundtrack", field="audio")
        ctx.progress(1.0, "soundtrack added")
        ref = ctx.store_file(out, "video", **{**dict(video.meta), **meta, "has_audio": True})
        return {"video": ref}


def _copyable(audio, seconds: float, fps: float, gain_db: float) -> bool:
    """AAC at 48 kHz stereo whose length is within a frame of the video's: copied, not re-encoded."""
    m = audio.meta
    return (not gain_db and m.get("codec") == "aac" and m.get("sample_rate") == RATE
            and m.get("channels") == 2 and abs(float(m.get("duration", -1)) - seconds) <= 0.5 / fps)
