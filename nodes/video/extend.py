from PIL import Image as PILImage
from reelgraph.graph import (
    Bool,
    Choice,
    Float,
    Input,
    Int,
    Node,
    NodeError,
    Output,
    Param,
    Resources,
    Text,
    Video,
)
from reelgraph.nodes.common import backends, ffmpeg
from reelgraph.nodes.common.frames import even, frame_at
from reelgraph.nodes.common.yuv import YuvWriter, iter_yuv

from ._camera import (
    AMPLITUDE_DOC,
    CAMERA_DOC,
    CAMERAS,
    MOTION_DOC,
    Renderer,
    View,
    check_camera,
    extend_views,
    fit_picture,
    padded_canvas,
)
from ._media import video_info


class ExtendVideoNode(backends.Generative, Node):
    """Continue a clip from its last frame for a few more seconds, with a camera move."""

    type = "video.extend"
    version = "1.1.0"
    task = "image_to_video"
    resources = Resources(cpu=1)

    video = Input(Video, doc="The clip to continue; the continuation starts on its last frame, at its "
                             "fps and size.")
    prompt = Input(Text, required=False, doc="What happens next (used by model backends, with the camera "
                                             "move and motion added in words; the draft ignores it).")
    seconds = Param(Float, default=2.0, min=0.1, max=600.0, step=0.1,
                    doc="Length of the continuation in seconds.")
    camera = Param(Choice, default="push_in", choices=CAMERAS,
                   doc=CAMERA_DOC + " The move starts from the last frame as it is: pans, tilts and "
                                    "orbits ease into their framing, pull_out reveals a soft mirrored "
                                    "surround (a draft stand-in for outpainting).")
    amplitude = Param(Float, default=0.15, min=0.0, max=1.0, step=0.01, doc=AMPLITUDE_DOC)
    motion = Param(Float, default=0.5, min=0.0, max=1.0, step=0.05, doc=MOTION_DOC)
    seed = Param(Int, default=0, min=0, doc="Random seed: the same seed gives the same continuation.")
    steps = Param(Int, default=0, min=0, max=200, wirable=False,
                  doc="Sampling steps for model backends; 0: the model's own default (the draft "
                      "ignores it).")
    include_source = Param(Bool, default=True, wirable=False,
                           doc="On: the output is the source clip followed by the continuation (and "
                               "keeps the source's sound). Off: only the continuation.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    video_out = Output(Video, name="video", doc="The longer clip (or just the continuation), H.264 MP4.")

    def run(self, ctx, video, prompt, seconds, camera, amplitude, motion, seed, steps, include_source,
            backend, model):
        loaded = backends.resolve(ctx, backend, model, self.task)
        if not seconds or seconds <= 0:
            raise NodeError(f"seconds must be above 0, got {seconds:g}", field="seconds",
                            fix="set how long the continuation lasts, e.g. 2")
        camera = check_camera(camera)
        info = video_info(video)
        fps = float(info["fps"])
        width, height = even(info["width"]), even(info["height"])
        last = fit_picture(PILImage.fromarray(frame_at(info["path"])), (width, height))
        frames = max(1, round(seconds * fps))

        # the model's denoising steps are the slow part: copying the source gets a sliver of the bar
        share = 1.0 if loaded is None else 0.05
        if loaded is not None:
            from ._i2v_model import continuation
            shot, made = continuation(ctx, loaded, picture=last, size=(width, height), frames=frames, fps=fps,
                                      prompt=prompt, camera=camera, amplitude=amplitude, motion=motion,
                                      seed=seed, steps=steps, start=share if include_source else 0.0)
            still = False
        else:
            if camera == "pull_out":
                canvas, start = padded_canvas(last, amplitude)
            else:
                canvas, start = last, View()
            views = extend_views(camera, amplitude, frames, fps, motion=motion, seed=seed, start=start)
            renderer = Renderer(canvas, (width, height))
            made = (renderer.render(view) for view in views)
            still = not include_source and all(v == views[0] for v in views)

        source_frames = int(info.get("frames") or 0) if include_source else 0
        total = max(1, source_frames + frames)
        path = ctx.temp_path(".mp4")
        done = 0
        with YuvWriter(path, width, height, fps, still=still) as writer:
            if include_source:
                decoded = iter_yuv(info["path"], (width, height))
                try:
                    for frame in decoded:
                        writer.write(frame)
                        done += 1
                        ctx.progress(min(0.99, done / total) * share, "copying the source")
                finally:
                    decoded.close()
                total = done + frames
            for i, frame in enumerate(made):
                writer.write(frame)
                done += 1
                if loaded is None:
                    ctx.progress(done / total, f"frame {i + 1}/{frames}")
        meta = writer.meta()
        if include_source and info.get("has_audio"):
            path = self._with_source_audio(ctx, path, info, meta["duration"])
            meta["has_audio"] = True
        extra = {} if loaded is None else {"model": shot.label, "generations": shot.generations}
        return ctx.store_file(path, "video", **meta, camera=camera, continuation_frames=frames, **extra)

    @staticmethod
    def _with_source_audio(ctx, silent, info, duration):
        """Put the source's sound back under the source part (video stream copied, not re-encoded)."""
        out = ctx.temp_path(".mp4")
        from reelgraph.nodes.common.ffmpeg import AAC
        base = ["-i", str(silent), "-i", info["path"], "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
        try:
            ffmpeg.run(ctx, [*base, "-c:a", "copy", "-movflags", "+faststart", str(out)],
                       duration=duration, what="adding the source's sound", field="video")
        except NodeError:
            ctx.check_cancelled()
            ffmpeg.run(ctx, [*base, *AAC, "-movflags", "+faststart", str(out)],
                       duration=duration, what="adding the source's sound", field="video")
        return out
