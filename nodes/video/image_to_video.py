from reelgraph.graph import (
    Choice,
    Float,
    Image,
    Input,
    Int,
    Node,
    NodeError,
    Output,
    Param,
    Resources,
    Text,
    Video,
    sketch_media,
)
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.frames import MAX_SIDE, even
from reelgraph.nodes.common.yuv import YuvWriter, rgb_to_planes

from ._camera import (
    AMPLITUDE_DOC,
    CAMERA_DOC,
    CAMERAS,
    MOTION_DOC,
    Renderer,
    blend,
    check_camera,
    ease,
    fit_picture,
    shot_views,
)
from ._media import open_image


class ImageToVideoNode(backends.Generative, Node):
    """Animate a still into a clip: an eased camera move (push, pull, pan, tilt, orbit) on the image."""

    type = "video.image_to_video"
    version = "1.2.0"
    task = "image_to_video"
    resources = Resources(cpu=1)

    image = Input(Image, doc="The keyframe to animate; the clip has its size (rounded to even).")
    last_frame = Input(Image, required=False,
                       doc="Optional closing frame: the clip cross-fades to it over its second half "
                           "and ends exactly on it (a first-and-last-frame model, e.g. "
                           "wan2.1-flf2v-720p, ends on it by itself).")
    prompt = Input(Text, required=False, doc="What happens in the shot (used by model backends, with the "
                                             "camera move and motion added in words; the draft ignores it).")
    seconds = Param(Float, default=4.0, min=0.1, max=600.0, step=0.1,
                    doc="Clip length in seconds (the clip has round(seconds × fps) frames).")
    fps = Param(Int, default=24, min=1, max=120, wirable=False, doc="Frames per second.")
    camera = Param(Choice, default="static", choices=CAMERAS, doc=CAMERA_DOC)
    amplitude = Param(Float, default=0.15, min=0.0, max=1.0, step=0.01, doc=AMPLITUDE_DOC)
    motion = Param(Float, default=0.5, min=0.0, max=1.0, step=0.05, doc=MOTION_DOC)
    seed = Param(Int, default=0, min=0, doc="Random seed: the same seed gives the same clip.")
    steps = Param(Int, default=0, min=0, max=200, wirable=False,
                  doc="Sampling steps for model backends; 0: the model's own default (the draft "
                      "ignores it).")
    backend = backends.backend_param()
    model = backends.model_param(task)
    video = Output(Video, doc="The clip: H.264 MP4 at the image's size, no audio.")

    @classmethod
    def sketch(cls, values: dict) -> dict:
        image, fps = values.get("image"), int(values["fps"])
        frames = max(1, round(float(values["seconds"]) * fps))
        w, h = (even(image.meta.get("width", 0)), even(image.meta.get("height", 0))) if image is not None else (0, 0)
        return {"video": sketch_media("video", width=w, height=h, fps=fps, frames=frames, duration=frames / fps)}

    def run(self, ctx, image, last_frame, prompt, seconds, fps, camera, amplitude, motion, seed, steps,
            backend, model):
        loaded = backends.resolve(ctx, backend, model, self.task)
        if not seconds or seconds <= 0:
            raise NodeError(f"seconds must be above 0, got {seconds:g}", field="seconds",
                            fix="set the clip length, e.g. 4")
        camera = check_camera(camera)
        picture = open_image(image, "image")
        width, height = even(picture.width), even(picture.height)
        if max(width, height) > MAX_SIDE:
            raise NodeError(f"the image is {picture.width}×{picture.height}, above {MAX_SIDE} px a side",
                            field="image", fix="downscale the keyframe first")
        ending = None
        if last_frame is not None:
            last = open_image(last_frame, "last_frame")
            if abs(last.width / last.height - width / height) > 0.01:
                ctx.warn(f"last_frame is {last.width}×{last.height}, not the image's aspect: "
                         "it is centre-cropped to fit")
            ending = last if loaded is not None else rgb_to_planes(fit_picture(last, (width, height)))
        if loaded is not None:
            from ._i2v_model import render_clip
            return render_clip(ctx, loaded, picture=picture, size=(width, height), ending=ending,
                               prompt=prompt, seconds=seconds, fps=fps, camera=camera, amplitude=amplitude,
                               motion=motion, seed=seed, steps=steps)

        frames = max(1, round(seconds * fps))
        views = shot_views(camera, amplitude, frames, fps, motion=motion, seed=seed)
        # the draft keyframe's label, seed tag and caption stay fixed in the frame while the scene moves
        pinned = (getattr(image, "meta", None) or {}).get("text_boxes", ())
        renderer = Renderer(picture, (width, height), pinned=pinned)
        path = ctx.temp_path(".mp4")
        still = ending is None and all(v == views[0] for v in views)
        with YuvWriter(path, width, height, fps, still=still) as writer:
            for i, view in enumerate(views):
                frame = renderer.render(view)
                if ending is not None:
                    t = i / (frames - 1) if frames > 1 else 1.0
                    # nothing over the first half, then eased up to exactly the last frame
                    frame = blend(frame, ending, ease((t - 0.5) / 0.5))
                writer.write(frame)
                ctx.progress((i + 1) / frames, f"frame {i + 1}/{frames}")
        return ctx.store_file(path, "video", **writer.meta(), camera=camera,
                              amplitude=float(amplitude), seed=int(seed))
