"""image.upscale and video.upscale through the Stable Diffusion ×4 latent upscaler.

The model always enlarges ×4; the node's mode still decides the output size, so the ×4 result is
resized to it. The model's cost grows with the square of the input and its attention with the
fourth power, so inputs larger than one tile are done in overlapping tiles (preset ``tile`` and
``overlap``, in input pixels) blended with feathered weights: each tile's border, where the model saw
no context, counts for little where a neighbour covers it, so no seam shows.

torch and diffusers are imported inside the functions: the node pack loads without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from reelgraph.nodes.models import run

PIPELINES = ("StableDiffusionUpscalePipeline",)
TASK = "upscale"
# where the preset says nothing (a model folder outside the presets): the sd-x4-upscaler's settings
FALLBACK = {"steps": 20, "guidance": 0.0, "noise_level": 20, "tile": 128, "overlap": 16}


@dataclass(frozen=True)
class Settings:
    steps: int
    guidance: float
    noise_level: int
    tile: int
    overlap: int


def settings(loaded) -> Settings:
    """``run.default`` (the folder's reelgraph.json, the preset's); for a folder outside the presets,
    the settings of the preset of the same pipeline class (there is one ×4 upscaler family)."""
    from reelgraph.nodes.models import presets
    alias = None
    if run.preset_of(loaded) is None:
        name = loaded.info.get("pipeline") or type(loaded.obj).__name__
        alias = next((p for p in presets.for_task(TASK) if p.pipeline == name), None)

    def get(key):
        return run.default(loaded, key, alias.default(key, FALLBACK[key]) if alias is not None else FALLBACK[key])

    return Settings(steps=max(1, int(get("steps"))), guidance=float(get("guidance")),
                    noise_level=int(get("noise_level")), tile=max(8, int(get("tile"))),
                    overlap=max(0, int(get("overlap"))))


def multiple_of(pipe) -> int:
    """Input sides must divide by the VAE's factor (the pipeline rounds them down otherwise) and by
    the UNet's downsampling (its skip connections must line up)."""
    vae = int(getattr(pipe, "vae_scale_factor", 4) or 4)
    blocks = len(getattr(getattr(pipe, "unet", None), "config", {}).get("block_out_channels", (0,) * 4))
    return math.lcm(vae, 2 ** max(0, blocks - 1))


def positions(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one side: the fewest tiles that overlap by at least ``overlap``, spread
    evenly (equal overlaps: no sliver of a last tile that redoes most of its neighbour)."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / max(1, tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    w: int
    h: int
    # how far the neighbours on each side reach into this tile (0: the picture's edge)
    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0


def tiles(width: int, height: int, tile: int, overlap: int, multiple: int) -> list[Tile]:
    """The tiles covering a ``width`` × ``height`` input (sides already multiples of ``multiple``),
    row by row."""
    tile = max(multiple, tile // multiple * multiple)
    tw, th = min(tile, width), min(tile, height)
    xs, ys = positions(width, tw, overlap), positions(height, th, overlap)

    def reach(starts, i, size):
        before = starts[i - 1] + size - starts[i] if i > 0 else 0
        after = starts[i] + size - starts[i + 1] if i + 1 < len(starts) else 0
        return before, after

    out = []
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            (left, right), (top, bottom) = reach(xs, i, tw), reach(ys, j, th)
            out.append(Tile(x, y, tw, th, left, top, right, bottom))
    return out


def feather(tile: Tile, scale: int) -> np.ndarray:
    """A tile's blending weight at ``scale``: 1 inside, and across each overlap a linear ramp that
    is the mirror of the neighbour's, so the two always sum to 1 (a crossfade from one tile to the
    next; never 0, so every pixel keeps a weight)."""
    def profile(n, lo, hi):
        p = np.ones(n, np.float32)
        for r, side in ((min(lo, n), 0), (min(hi, n), 1)):
            if r > 0:
                up = (np.arange(r, dtype=np.float32) + 0.5) / r
                if side == 0:
                    p[:r] = np.minimum(p[:r], up)
                else:
                    p[n - r:] = np.minimum(p[n - r:], up[::-1])
        return p
    return (profile(tile.h * scale, tile.top * scale, tile.bottom * scale)[:, None]
            * profile(tile.w * scale, tile.left * scale, tile.right * scale)[None, :])


def upscale(ctx, loaded, src: Image.Image, size: tuple[int, int], *, prompt: str = "",
            span: tuple[float, float] = (0.0, 1.0), label: str = "") -> Image.Image:
    """``src`` (an RGB PIL image) enlarged by the model and resized to ``size``; progress over
    ``span`` (tiles × steps). Tile k is seeded with k, so video frames get the same noise in the same
    place and do not flicker from it."""
    run.check_pipeline(loaded, PIPELINES, "upscale an image")
    pipe, s = loaded.obj, settings(loaded)
    m = multiple_of(pipe)
    W, H = src.size
    Wp, Hp = math.ceil(W / m) * m, math.ceil(H / m) * m
    arr = np.asarray(src.convert("RGB"))
    if (Wp, Hp) != (W, H):  # edge padding: the model sees a plausible border, cropped off afterwards
        arr = np.pad(arr, ((0, Hp - H), (0, Wp - W), (0, 0)), mode="edge")
    boxes = tiles(Wp, Hp, s.tile, s.overlap, m)
    # blend at the smallest whole scale that still reaches the target: x2 needs half the memory of x4
    c = min(4, max(1, math.ceil(max(size[0] / W, size[1] / H))))
    canvas = np.zeros((Hp * c, Wp * c, 3), np.float32)
    weight = np.zeros((Hp * c, Wp * c), np.float32)
    kwargs = {"prompt": prompt, "num_inference_steps": s.steps, "guidance_scale": s.guidance,
              "noise_level": s.noise_level, "output_type": "np"}
    lo, hi = span
    for k, t in enumerate(boxes):
        x, y, tw, th = t.x, t.y, t.w, t.h
        name = f"{label}tile {k + 1}/{len(boxes)} step" if len(boxes) > 1 else f"{label}step".strip()
        piece = Image.fromarray(np.ascontiguousarray(arr[y:y + th, x:x + tw]))
        out = run.call(ctx, pipe, steps=s.steps, start=lo + (hi - lo) * k / len(boxes),
                       end=lo + (hi - lo) * (k + 1) / len(boxes), label=name, image=piece,
                       generator=run.generator(k), **kwargs)
        up = np.clip(np.asarray(out.images[0], np.float32), 0.0, 1.0)
        if up.shape[:2] != (th * c, tw * c):
            up = np.asarray(Image.fromarray((up * 255.0 + 0.5).astype(np.uint8)).resize(
                (tw * c, th * c), Image.Resampling.LANCZOS), np.float32) / 255.0
        wgt = feather(t, c)
        canvas[y * c:(y + th) * c, x * c:(x + tw) * c] += up * wgt[..., None]
        weight[y * c:(y + th) * c, x * c:(x + tw) * c] += wgt
    canvas /= weight[..., None]
    img = Image.fromarray((canvas[:H * c, :W * c] * 255.0 + 0.5).astype(np.uint8))
    return img if img.size == tuple(size) else img.resize(tuple(size), Image.Resampling.LANCZOS)
