from pathlib import Path

from reelgraph.graph import Choice, Image, Input, Node, NodeError, Output, Param, Resources, Text, safe_write
from reelgraph.nodes.common import provenance

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


class SaveImageNode(Node):
    """Save an image as PNG (with its workflow embedded: open the PNG to get the workflow back), JPEG or WebP."""

    type = "io.save_image"
    version = "1.0.0"
    output = True
    cacheable = False
    resources = Resources(cpu=1)
    writes_params = ("filename",)  # a file it writes: `run --from` does not write it (see ui/cli.py)

    image = Input(Image, doc="The image to save.")
    filename = Param(Text, default="",
                     doc="Where to write it, relative to the workflow's folder (e.g. out/frame.png; the "
                         "extension is added when missing). Empty: keep it in the cache only.")
    format = Param(Choice, default="png", choices=tuple(FORMATS),
                   doc="png: lossless, carries the workflow; jpeg / webp: smaller files, no workflow inside.")
    result = Output(Image, name="image", doc="The saved image as stored (the PNG carries the workflow).")

    def run(self, ctx, image, filename, format):
        from PIL import Image as PILImage
        target = _target(ctx, filename, format) if filename.strip() else None
        try:
            with PILImage.open(image.path) as im:
                im.load()
                img = im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
        except OSError as e:
            raise NodeError(f"cannot read the input image: {e}", field="image",
                            fix="wire an image made by another node or io.load_image") from None
        ctx.progress(0.3, f"encoding {format}")
        out = ctx.temp_path(FORMATS[format])
        if format == "png":
            info = provenance.png_info(ctx)
            img.save(out, format="PNG", pnginfo=info, compress_level=6)
        elif format == "jpeg":
            img.convert("RGB").save(out, format="JPEG", quality=92, subsampling=0, optimize=True)
        else:
            img.save(out, format="WEBP", quality=90, method=4)
        if target is not None:
            ctx.progress(0.7, f"writing {target.name}")
            _write_atomic(out, target, field="filename")
        ctx.progress(1.0, "saved")
        meta = {k: v for k, v in dict(image.meta).items() if k not in ("width", "height")}
        if target is not None:
            meta["saved_to"] = str(target)
        return ctx.store_file(out, "image", **meta, width=img.width, height=img.height, format=format)


def _target(ctx, filename: str, format: str) -> Path:
    """The file to write: inside the workspace, with the format's extension."""
    name = filename.strip()
    if name.endswith(("/", "\\")):
        raise NodeError(f"filename {filename!r} names a folder", field="filename",
                        fix=f"add a file name, e.g. {name}frame{FORMATS[format]}")
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIXES:
        if _SUFFIXES[suffix] != format:
            raise NodeError(f"filename {filename!r} ends in {suffix} but format is {format}", field="filename",
                            fix=f"name it {Path(name).stem}{FORMATS[format]} or set format to {_SUFFIXES[suffix]}")
    else:
        name += FORMATS[format]
    path = ctx.user_path(name, "filename", must_exist=False)
    if path.is_dir():
        raise NodeError(f"filename {filename!r} is a folder", field="filename",
                        fix=f"add a file name, e.g. {filename.rstrip('/')}/frame{FORMATS[format]}")
    return path


def _write_atomic(src: Path, target: Path, field: str) -> None:
    """Copy ``src`` to ``target`` atomically (a symlink is written through, a device written into)."""
    try:
        safe_write.copy_file(src, target)
    except OSError as e:
        raise NodeError(f"cannot write {target}: {e.strerror or e}", field=field,
                        fix="choose a folder you can write to, on a disk with free space") from None
