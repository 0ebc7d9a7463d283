from reelgraph.graph import Choice, Input, Int, Node, Output, Param, Resources, Video, sketch_media
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.frames import MAX_SIDE, target_size

from ._media import encode, video_info, video_meta


class UpscaleVideoNode(backends.Generative, Node):
    """Enlarge a clip ×2, ×4 or to a given size (draft: Lanczos or bicubic resampling)."""

    type = "video.upscale"
    version = "1.0.0"
    resources = Resources(cpu=1)
    task = "upscale"

    video = Input(Video, doc="The clip to enlarge; its sound is kept.")
    mode = Param(Choice, default="x2", choices=("x2", "x4", "to_size"),
                 doc="x2 / x4: multiply width and height; to_size: the width and height below. A model "
                     "enlarges each frame ×4 and is then resized to this.")
    width = Param(Int, default=1920, min=0, max=MAX_SIDE,
                  doc="Target width for to_size (0: from the height, keeping the aspect). Even.")
    height = Param(Int, default=1080, min=0, max=MAX_SIDE,
                   doc="Target height for to_size (0: from the width, keeping the aspect). Even.")
    method = Param(Choice, default="lanczos", choices=("lanczos", "bicubic"),
                   doc="Resampling filter: lanczos is sharper, bicubic a little softer.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    video_out = Output(Video, name="video", doc="The enlarged clip, H.264 MP4.")

    @classmethod
    def sketch(cls, values: dict) -> dict:
        m = dict(values["video"].meta)
        w, h = target_size(int(m.get("width") or 0), int(m.get("height") or 0), values["mode"],
                           values["width"], values["height"])
        return {"video": sketch_media("video", **{**m, "width": w, "height": h})}

    def run(self, ctx, video, mode, width, height, method, backend, model):
        loaded = backends.resolve(ctx, backend, model, self.task)
        info = video_info(video)
        w, h = target_size(info["width"], info["height"], mode, width, height)
        frames = int(info.get("frames") or round(info["duration"] * info["fps"]))
        path = ctx.temp_path(".mp4")
        if loaded is not None:
            from reelgraph.nodes.models import run

            from ._upscale_model import upscale_video
            meta = upscale_video(ctx, loaded, info, (w, h), frames, path,
                                 prompt=str((getattr(video, "meta", None) or {}).get("prompt") or ""))
            return ctx.store_file(path, "video", **video_meta(w, h, info["fps"], meta["frames"], meta["has_audio"],
                                                              model=run.label(loaded)))
        flags = "lanczos" if method == "lanczos" else "bicubic"
        encode(ctx, ["-i", info["path"]], path, has_audio=info["has_audio"],
               video_args=["-map", "0:v:0", "-vf", f"scale={w}:{h}:flags={flags},setsar=1"],
               duration=info["duration"], what="upscaling")
        return ctx.store_file(path, "video", **video_meta(w, h, info["fps"], frames, info["has_audio"]))
