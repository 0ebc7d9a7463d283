from reelgraph.graph import Choice, Image, Input, Int, Node, NodeError, Output, Param, Resources, Text
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.frames import MAX_SIDE, target_size


class UpscaleImageNode(backends.Generative, Node):
    """Enlarge an image ×2, ×4 or to a size (draft: Lanczos or bicubic resampling with a mild sharpen)."""

    type = "image.upscale"
    version = "1.1.0"
    resources = Resources(cpu=1)
    task = "upscale"

    image = Input(Image, doc="The image to enlarge.")
    prompt = Input(Text, required=False,
                   doc="Model backends: what the image shows, to guide the detail the model adds (unwired: "
                       "the prompt the image was made from, if any). The draft ignores it.")
    mode = Param(Choice, default="x2", choices=("x2", "x4", "to_size"),
                 doc="x2 / x4: scale both sides; to_size: the width and height below. A model enlarges "
                     "×4 and is then resized to this.")
    width = Param(Int, default=0, min=0, max=MAX_SIDE, step=2,
                  doc="Target width for to_size (0: from the height, keeping the aspect ratio).")
    height = Param(Int, default=0, min=0, max=MAX_SIDE, step=2,
                   doc="Target height for to_size (0: from the width, keeping the aspect ratio).")
    method = Param(Choice, default="lanczos", choices=("lanczos", "bicubic"),
                   doc="Resampling filter of the draft backend: lanczos is sharper, bicubic softer.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    result = Output(Image, name="image", doc="The enlarged image (PNG, even sizes).")

    def run(self, ctx, image, mode, width, height, method, backend, model, prompt=None):
        loaded = backends.resolve(ctx, backend, model, self.task)
        from PIL import Image as PILImage
        from PIL import ImageFilter
        try:
            with PILImage.open(image.path) as im:
                src = im.convert("RGB")
        except OSError as e:
            raise NodeError(f"cannot read the input image: {e}", field="image",
                            fix="wire an image made by another node or io.load_image") from None
        w, h = target_size(src.width, src.height, mode, width, height)
        meta = {k: v for k, v in dict(image.meta).items() if k not in ("width", "height")}
        if loaded is not None:
            from ._upscale_model import upscale
            text = prompt if prompt is not None else str(meta.get("prompt") or "")
            out = upscale(ctx, loaded, src, (w, h), prompt=text, span=(0.0, 0.98))
            path = ctx.temp_path(".png")
            out.save(path, format="PNG", compress_level=3)
            ctx.progress(1.0, "upscaled")
            from reelgraph.nodes.models import run
            return ctx.store_file(path, "image", **{**meta, "model": run.label(loaded)}, width=w, height=h)
        ctx.progress(0.2, f"resampling to {w}×{h}")
        flt = PILImage.Resampling.LANCZOS if method == "lanczos" else PILImage.Resampling.BICUBIC
        out = src.resize((w, h), flt)
        scale = max(w / src.width, h / src.height)
        if scale > 1.0:  # a mild unsharp mask brings back edge contrast the interpolation softens
            out = out.filter(ImageFilter.UnsharpMask(radius=min(2.5, 0.6 + 0.35 * scale), percent=45,
                                                     threshold=2))
        path = ctx.temp_path(".png")
        out.save(path, format="PNG", compress_level=3)
        ctx.progress(1.0, "upscaled")
        return ctx.store_file(path, "image", **meta, width=w, height=h)
