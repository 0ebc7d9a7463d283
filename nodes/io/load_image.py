import warnings

from reelgraph.graph import Image, Node, NodeError, Output, Param, Resources, Text
from reelgraph.nodes.common import files

_FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"
MAX_PIXELS = 8192 * 8192


class LoadImageNode(Node):
    """Load a picture from the workflow's folder (PNG, JPEG, WebP...) as an RGB image, upright."""

    type = "io.load_image"
    version = "1.0.0"
    resources = Resources(cpu=1)

    path = Param(Text, default="", file="image",
                 doc=f"The image file, relative to the workflow's folder ({_FORMATS}). Phone photos are "
                     "turned upright from their EXIF orientation. Editing the file makes the node run again.")
    image = Output(Image, doc="The picture as an RGB PNG (transparent parts over black).")

    @classmethod
    def fingerprint(cls, values, workspace):
        return files.path_fingerprint(values, workspace)

    def run(self, ctx, path):
        from PIL import Image as PILImage
        from PIL import ImageOps, UnidentifiedImageError
        src = files.user_file(ctx, path, "path", what=f"an image file ({_FORMATS})")
        ctx.progress(0.1, f"reading {src.name}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PILImage.DecompressionBombWarning)
                with PILImage.open(src) as im:
                    if im.width * im.height > MAX_PIXELS:
                        raise NodeError(f"{src.name} is {im.width}×{im.height}, too large to load",
                                        field="path", fix="resize it to at most 8192 px a side first")
                    im.seek(0)  # animated GIF/WebP: the first frame
                    im = ImageOps.exif_transpose(im)
                    rgb = _to_rgb(im)
        except (UnidentifiedImageError, PILImage.DecompressionBombError,
                PILImage.DecompressionBombWarning) as e:
            what = "not an image Pillow can read" if isinstance(e, UnidentifiedImageError) else "too large"
            raise NodeError(f"{src.name} is {what}", field="path",
                            fix=f"give a {_FORMATS} file (for videos use io.load_video)") from None
        except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
            raise NodeError(f"cannot decode {src.name}: {e}", field="path",
                            fix=f"re-export it as {_FORMATS}") from None
        out = ctx.temp_path(".png")
        rgb.save(out, format="PNG", compress_level=3)
        ctx.progress(1.0, "loaded")
        return ctx.store_file(out, "image", width=rgb.width, height=rgb.height, source=src.name)


def _to_rgb(im):
    from PIL import Image as PILImage
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = PILImage.new("RGB", rgba.size, (0, 0, 0))
        base.paste(rgba, (0, 0), rgba)
        return base
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale: scale down, not clip
        return im.point(lambda v: v / 256).convert("L").convert("RGB")
    return im.convert("RGB")
