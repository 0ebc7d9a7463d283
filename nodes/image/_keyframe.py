"""The draft keyframe: a legible animatic frame drawn from the prompt's words and the seed.

A sky/ground (or room) gradient in a palette chosen from the light and colour words, simple silhouettes
on a rule-of-thirds layout, thin framing guides, a corner tag and a caption band. Shapes are drawn on
2x-supersampled masks (antialiased edges). Deterministic: the same inputs give the same pixels.
"""

from __future__ import annotations

import colorsys
import math
import re
import unicodedata
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from reelgraph.nodes.common import draw as cdraw

from ._scene import Scene, analyse

RGB = tuple[int, int, int]
SS = 2  # supersampling of shape masks


# ----------------------------------------------------------------------------------------------
# colours

def mix(a, b, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def shade(c, f: float) -> RGB:
    return tuple(int(max(0, min(255, round(x * f)))) for x in c)  # type: ignore[return-value]


def hue_shift(c, dh: float) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(*(x / 255.0 for x in c))
    return cdraw.hsv(h + dh, s, v)


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    horizon: RGB
    ground_far: RGB
    ground_near: RGB
    light: RGB  # sun or moon disc
    silhouette: RGB
    accent: RGB
    wall: RGB  # interiors
    exposure: float  # 0 (night) .. 1 (day): how lit the world is

    def map(self, fn) -> Palette:
        return Palette(*(fn(getattr(self, f)) for f in ("sky_top", "horizon", "ground_far", "ground_near",
                                                        "light", "silhouette", "accent", "wall")),
                       exposure=self.exposure)


TIME_PALETTES = {
    "dawn": Palette((58, 74, 138), (248, 184, 146), (104, 100, 118), (42, 42, 58), (255, 238, 204),
                    (26, 24, 38), (236, 132, 96), (176, 150, 150), 0.7),
    "day": Palette((52, 112, 196), (184, 216, 238), (122, 152, 96), (56, 88, 50), (255, 252, 236),
                   (30, 36, 42), (214, 78, 52), (206, 190, 164), 1.0),
    "dusk": Palette((48, 34, 92), (252, 148, 70), (102, 62, 76), (34, 22, 38), (255, 216, 142),
                    (20, 12, 24), (255, 170, 80), (150, 102, 90), 0.55),
    "night": Palette((5, 9, 28), (30, 48, 96), (24, 32, 56), (7, 9, 18), (236, 238, 224),
                     (3, 4, 10), (120, 170, 255), (50, 46, 64), 0.2),
}


def palette_for(scene: Scene, rng: np.random.Generator) -> Palette:
    """The light the prompt names (else a harmonious one from the seed), tinted by its colour words."""
    if scene.time in TIME_PALETTES:
        dh = float(rng.uniform(-0.025, 0.025))
        pal = TIME_PALETTES[scene.time].map(lambda c: hue_shift(c, dh))
    else:
        h = float(rng.uniform(0, 1))
        lift = float(rng.uniform(0.75, 1.0))
        pal = Palette(cdraw.hsv(h, 0.6, 0.42 * lift), cdraw.hsv(h + 0.07, 0.38, 0.93 * lift),
                      cdraw.hsv(h - 0.12, 0.32, 0.5 * lift), cdraw.hsv(h - 0.12, 0.45, 0.22 * lift),
                      cdraw.hsv(h + 0.1, 0.18, 1.0), cdraw.hsv(h, 0.5, 0.09),
                      cdraw.hsv(h + 0.5, 0.7, 0.95), cdraw.hsv(h + 0.05, 0.25, 0.62 * lift), 0.6 * lift)
    if scene.colours:
        h, s, v = scene.colours[0]
        tint = 0.35 if scene.time is None else 0.12  # colour words set the light only when nothing else does
        pal = replace(pal, accent=cdraw.hsv(h, s, v),
                      sky_top=mix(pal.sky_top, cdraw.hsv(h, s, 0.45 * (0.4 + pal.exposure)), tint))
        if len(scene.colours) > 1:
            h2, s2, _ = scene.colours[1]
            pal = replace(pal, horizon=mix(pal.horizon, cdraw.hsv(h2, s2 * 0.8, 0.95), tint * 1.15))

    def lit(c):  # a ground colour under this light
        return mix(shade(c, 0.25 + 0.75 * pal.exposure), pal.horizon, 0.18)

    if scene.has("snow"):
        pal = replace(pal, ground_far=lit((226, 232, 244)), ground_near=lit((170, 182, 206)))
    elif scene.has("desert") or scene.has("beach"):
        pal = replace(pal, ground_far=lit((222, 182, 124)), ground_near=lit((168, 120, 76)))
    elif scene.has("forest") or scene.has("field"):
        pal = replace(pal, ground_far=lit((96, 136, 72)), ground_near=lit((36, 66, 38)))
    elif scene.has("city"):
        pal = replace(pal, ground_far=lit((104, 106, 114)), ground_near=lit((40, 42, 50)))
    if scene.has("storm") or scene.has("rain") or scene.has("cloud"):
        def grey(c):
            return mix(c, (int(sum(c) / 3),) * 3, 0.55)
        f = 0.6 if scene.has("storm") else 0.8
        pal = replace(pal, sky_top=shade(grey(pal.sky_top), f), horizon=shade(grey(pal.horizon), f),
                      ground_far=grey(pal.ground_far), exposure=pal.exposure * f)
    if scene.has("fog"):
        fog = mix(pal.horizon, (200, 204, 210), 0.4)
        pal = replace(pal, sky_top=mix(pal.sky_top, fog, 0.45), ground_far=mix(pal.ground_far, fog, 0.5),
                      ground_near=mix(pal.ground_near, fog, 0.25))
    return pal


def reference_colours(img: Image.Image) -> dict[str, RGB]:
    """A reference's sky, horizon, ground and most saturated colours (its bottom fifth, where a draft
    keyframe has its caption band, left out)."""
    a = np.asarray(img.convert("RGB").resize((48, 30), Image.BILINEAR), dtype=np.float32)
    body = a[:24]
    flat = body.reshape(-1, 3)
    mx, mn = flat.max(1), flat.min(1)
    sat = (mx - mn) / np.maximum(mx, 1.0) * (mx / 255.0)
    top = np.argsort(sat, kind="stable")[-max(1, len(sat) // 12):]

    def rgb(v) -> RGB:
        return tuple(round(float(x)) for x in v)  # type: ignore[return-value]

    return {"sky_top": rgb(body[:6].reshape(-1, 3).mean(0)), "horizon": rgb(body[8:14].reshape(-1, 3).mean(0)),
            "ground_far": rgb(body[15:20].reshape(-1, 3).mean(0)),
            "ground_near": rgb(body[20:24].reshape(-1, 3).mean(0)), "accent": rgb(flat[top].mean(0))}


def borrow(pal: Palette, ref: dict[str, RGB], amount: float = 0.65) -> Palette:
    """The palette pulled toward a reference's colours (colour and character consistency)."""
    return replace(pal, sky_top=mix(pal.sky_top, ref["sky_top"], amount),
                   horizon=mix(pal.horizon, ref["horizon"], amount),
                   ground_far=mix(pal.ground_far, ref["ground_far"], amount),
                   ground_near=mix(pal.ground_near, ref["ground_near"], amount),
                   accent=mix(pal.accent, ref["accent"], 0.8), wall=mix(pal.wall, ref["horizon"], amount * 0.8),
                   silhouette=mix(pal.silhouette, shade(ref["sky_top"], 0.25), 0.5))


# ----------------------------------------------------------------------------------------------
# drawing helpers

class Shapes:
    """Shapes drawn in frame coordinates on a 2x mask; ``paint`` blends a colour through them."""

    def __init__(self, size: tuple[int, int]):
        self.size = size
        self.mask = Image.new("L", (size[0] * SS, size[1] * SS), 0)
        self.d = ImageDraw.Draw(self.mask)

    @staticmethod
    def _p(points):
        return [(x * SS, y * SS) for x, y in points]

    def poly(self, points, a: int = 255):
        self.d.polygon(self._p(points), fill=a)

    def ellipse(self, x0, y0, x1, y1, a: int = 255):
        self.d.ellipse([x0 * SS, y0 * SS, max(x0, x1) * SS, max(y0, y1) * SS], fill=a)

    def circle(self, cx, cy, r, a: int = 255):
        self.ellipse(cx - r, cy - r, cx + r, cy + r, a)

    def rect(self, x0, y0, x1, y1, a: int = 255, radius: float = 0):
        box = [x0 * SS, y0 * SS, max(x0, x1) * SS, max(y0, y1) * SS]
        if radius > 0:
            self.d.rounded_rectangle(box, radius=radius * SS, fill=a)
        else:
            self.d.rectangle(box, fill=a)

    def line(self, points, width: float, a: int = 255):
        self.d.line(self._p(points), fill=a, width=max(1, round(width * SS)), joint="curve")

    def paint(self, img: Image.Image, colour, alpha: float = 1.0, offset=(0, 0), blur: float = 0) -> None:
        """Blend ``colour`` into ``img`` through the drawn shapes (only the region they cover is touched)."""
        box = self.mask.getbbox()
        if box is None:
            return
        W, H = self.size
        pad = math.ceil(blur * 3) + 1
        x0, y0 = max(0, box[0] // SS - pad), max(0, box[1] // SS - pad)
        x1, y1 = min(W, -(-box[2] // SS) + pad), min(H, -(-box[3] // SS) + pad)
        m = self.mask.crop((x0 * SS, y0 * SS, x1 * SS, y1 * SS)).reduce(SS)
        if blur:
            m = m.filter(ImageFilter.GaussianBlur(blur))
        if alpha < 1.0:
            m = m.point(lambda v: int(v * alpha))
        ox, oy = offset
        img.paste(tuple(colour), (x0 + ox, y0 + oy, x1 + ox, y1 + oy), m)


def vertical_gradient(h: int, stops: list[tuple[float, RGB]]) -> np.ndarray:
    """An (h, 3) float array of colours down the height, between (position 0..1, colour) stops."""
    ys = np.linspace(0.0, 1.0, max(1, h), dtype=np.float32)
    pos = np.array([p for p, _ in stops], dtype=np.float32)
    cols = np.array([c for _, c in stops], dtype=np.float32)
    return np.stack([np.interp(ys, pos, cols[:, k]) for k in range(3)], axis=1)


def gradient_image(w: int, h: int, stops: list[tuple[float, RGB]]) -> Image.Image:
    rows = vertical_gradient(h, stops).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(np.broadcast_to(rows[:, None, :], (h, w, 3))))


def radial(w: int, h: int, cx: float, cy: float, r: float, peak: float = 1.0, step: int = 4,
           power: float = 1.0) -> Image.Image:
    """An "L" mask ``peak·exp(-d²/r²)^power`` over a w×h box, computed at 1/step size and scaled up."""
    sw, sh = max(2, -(-w // step)), max(2, -(-h // step))
    xs = (np.arange(sw, dtype=np.float32) + 0.5) * (w / sw) - cx
    ys = (np.arange(sh, dtype=np.float32) + 0.5) * (h / sh) - cy
    small = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / max(1.0, r * r))
    if power != 1.0:
        small = small ** power
    small = np.clip(small * (255.0 * peak), 0, 255).round().astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BILINEAR)


def glow(img: Image.Image, cx: float, cy: float, r: float, colour, strength: float) -> Image.Image:
    """Light blended in around a point, fading as exp(-d²/r²) (only the region it reaches is touched)."""
    W, H = img.size
    reach = r * 2.6
    x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    x1, y1 = min(W, int(cx + reach) + 1), min(H, int(cy + reach) + 1)
    if x1 - x0 >= 2 and y1 - y0 >= 2:
        img.paste(tuple(colour), (x0, y0, x1, y1), radial(x1 - x0, y1 - y0, cx - x0, cy - y0, r, strength))
    return img


# ----------------------------------------------------------------------------------------------
# silhouettes (frame coordinates)

def person(s: Shapes, x: float, feet: float, h: float, rng: np.random.Generator, facing: int = 1) -> tuple:
    """A standing figure ``h`` tall with its feet at ``feet``; returns where its front hand is."""
    u = h / 100.0
    top = feet - h
    s.ellipse(x - 5.2 * u, top, x + 5.2 * u, top + 12.5 * u)  # head, with a hint of a profile
    s.ellipse(x - 5.2 * u + facing * 1.5 * u, top + 4 * u, x + 5.2 * u + facing * 1.8 * u, top + 11 * u)
    s.rect(x - 2.4 * u, top + 10 * u, x + 2.4 * u, top + 18 * u)  # neck
    sh = top + 17 * u
    s.poly([(x - 11 * u, sh + 3 * u), (x - 8 * u, sh), (x + 8 * u, sh), (x + 11 * u, sh + 3 * u),
            (x + 9 * u, sh + 20 * u), (x + 8.5 * u, top + 54 * u), (x - 8.5 * u, top + 54 * u),
            (x - 9 * u, sh + 20 * u)])
    if rng.random() < 0.4:  # a long coat or dress
        s.poly([(x - 9 * u, top + 44 * u), (x + 9 * u, top + 44 * u), (x + 12 * u, top + 76 * u),
                (x - 12 * u, top + 76 * u)])
    stride = u * float(rng.choice([0.0, 0.0, 5.0, 9.0]))
    hip = top + 50 * u
    for side in (-1, 1):
        fx = x + side * (3.6 * u + stride)
        s.poly([(x + side * 0.3 * u, hip), (x + side * 8.4 * u, hip), (fx + side * 3.0 * u, feet - 3 * u),
                (fx - side * 2.2 * u, feet - 3 * u)])
        s.ellipse(fx - 2.6 * u + facing * 1.2 * u, feet - 3.2 * u, fx + 2.6 * u + facing * 2.8 * u, feet + 0.2 * u)
    raise_arm = rng.random() < 0.2
    hand = (x + facing * 10 * u, top + 52 * u)
    for side in (-1, 1):
        shoulder = (x + side * 9.2 * u, sh + 3.5 * u)
        if raise_arm and side == facing:
            elbow, wrist = (x + side * 18 * u, sh - 1 * u), (x + side * 22 * u, sh - 13 * u)
        else:
            swing = -side * stride * 0.5 * (1 if side == facing else -1)
            elbow = (x + side * 11.5 * u + swing * 0.4, top + 37 * u)
            wrist = (x + side * 10 * u + swing, top + 51 * u)
        s.line([shoulder, elbow, wrist], width=5.2 * u)
        for px, py in (shoulder, elbow):
            s.circle(px, py, 2.6 * u)
        s.circle(wrist[0], wrist[1], 2.9 * u)
        if side == facing:
            hand = wrist
    return hand


def bust(s: Shapes, x: float, eye_y: float, big: float, facing: int, frame_h: float, long_hair: bool = False) -> None:
    """Head and shoulders for a close-up: ``big`` is the head's height."""
    r = big / 2
    cy = eye_y + r * 0.1
    f = facing
    if long_hair:  # hair falling to the shoulders behind the face: reads as a woman at thumbnail size
        s.ellipse(x - r * 1.0 - f * r * 0.25, cy - r * 1.08, x + r * 0.8 - f * r * 0.25, cy + r * 1.9)
    s.ellipse(x - r * 0.78, cy - r, x + r * 0.78, cy + r * 0.95)  # skull and face
    s.ellipse(x - r * 0.85 - f * r * 0.1, cy - r * 1.02, x + r * 0.75 - f * r * 0.1, cy + r * 0.5)  # hair
    s.poly([(x + f * r * 0.6, cy - r * 0.2), (x + f * r * 0.92, cy + r * 0.25), (x + f * r * 0.62, cy + r * 0.35)])
    s.ellipse(x - r * 0.45 + f * r * 0.1, cy + r * 0.3, x + r * 0.45 + f * r * 0.3, cy + r * 1.05)  # jaw
    s.rect(x - r * 0.45, cy + r * 0.5, x + r * 0.45, cy + r * 1.5)  # neck
    top = cy + r * 1.25
    s.ellipse(x - r * 2.4, top, x + r * 2.4, top + r * 3.0)
    s.rect(x - r * 2.4, top + r * 1.5, x + r * 2.4, max(frame_h + 2, top + r * 1.6))


_LEGS = {"horse": 0.52, "deer": 0.5, "elk": 0.52, "moose": 0.56, "goat": 0.42, "cow": 0.42, "dog": 0.36,
         "wolf": 0.4, "fox": 0.3, "cat": 0.28, "lion": 0.38, "tiger": 0.36, "bear": 0.3}
_SNOUT = {"fox": 15, "wolf": 14, "dog": 11, "horse": 20, "deer": 12, "elk": 13, "moose": 16, "cow": 9,
          "goat": 10, "bear": 9, "lion": 7, "tiger": 7}


def animal(s: Shapes, kind: str, x: float, feet: float, length: float, facing: int) -> None:
    """A four-legged silhouette about ``length`` long, standing at ``feet``, looking toward ``facing``."""
    if kind in ("cat", "kitten"):  # sitting up, ears pricked, tail curled: the pose that reads as a cat
        from ._subjects import sitting_cat
        return sitting_cat(s, x, feet, length * 0.85, facing)
    u = length / 100.0
    f = facing
    leg = 100 * _LEGS.get(kind, 0.32) * u
    by = feet - leg - 10 * u  # the body's centre line
    bulky = kind in ("bear", "cow", "horse", "moose", "lion", "tiger")
    bh = (16 if bulky else 12) * u
    s.ellipse(x - 36 * u, by - bh, x + 34 * u, by + bh)
    s.circle(x + f * 26 * u, by - 1 * u, bh * 0.98)
    s.circle(x - f * 26 * u, by, bh * 0.95)
    lw = (7 if bulky else 5.2) * u
    for dx, back in ((24, False), (31, False), (-24, True), (-32, True)):
        lx = x + f * dx * u
        if back:
            pts = [(lx, by), (lx - f * 5 * u, by + leg * 0.6), (lx - f * 1 * u, feet)]
        else:
            pts = [(lx, by), (lx + f * 1 * u, by + leg * 0.6), (lx, feet)]
        s.line(pts, width=lw)
        s.circle(pts[1][0], pts[1][1], lw * 0.5)
        s.ellipse(pts[2][0] - lw * 0.6, feet - lw * 0.6, pts[2][0] + lw * 0.6 + f * lw * 0.6, feet + 0.2 * u)
    tall = kind in ("horse", "deer", "elk", "moose", "goat")
    hx, hy = x + f * (46 if tall else 44) * u, by - (30 if tall else 16) * u
    s.poly([(x + f * 20 * u, by - bh * 0.9), (x + f * 34 * u, by + bh * 0.6), (hx + f * 2 * u, hy + 6 * u),
            (hx - f * 6 * u, hy - 6 * u)])  # neck
    hr = (9 if bulky else 8) * u
    if tall or kind == "cow":  # a long head angled down to the muzzle
        s.poly([(hx - f * 5 * u, hy - 7 * u), (hx + f * 5 * u, hy - 7 * u), (hx + f * 23 * u, hy + 9 * u),
                (hx + f * 21 * u, hy + 15 * u), (hx + f * 12 * u, hy + 14 * u), (hx - f * 5 * u, hy + 6 * u)])
        s.circle(hx + f * 19 * u, hy + 11 * u, 4.2 * u)
    else:
        s.circle(hx, hy, hr)
        snout = _SNOUT.get(kind, 5) * u
        s.poly([(hx, hy - hr * 0.7), (hx + f * (hr + snout), hy + hr * 0.35),
                (hx + f * (hr + snout) * 0.9, hy + hr * 0.75), (hx, hy + hr * 0.95)])
    if kind in ("deer", "elk", "moose"):
        for dx in (-0.4, 0.3):
            ax = hx + f * dx * hr
            s.line([(ax, hy - hr * 0.8), (ax - f * hr * 0.6, hy - hr * 3), (ax - f * hr * 1.6, hy - hr * 3.9)],
                   width=2.2 * u)
            s.line([(ax - f * hr * 0.3, hy - hr * 2), (ax + f * hr * 0.7, hy - hr * 3.1)], width=2.2 * u)
    elif kind in ("horse", "cow", "goat"):
        s.poly([(hx - f * hr * 0.5, hy - hr * 0.6), (hx - f * hr * 0.8, hy - hr * 1.7),
                (hx - f * hr * 0.05, hy - hr * 0.8)])
    elif kind in ("bear", "lion", "tiger", "sheep"):
        s.circle(hx - f * hr * 0.45, hy - hr * 0.85, hr * 0.38)
    else:  # pointed ears: fox, wolf, dog, cat, rabbit...
        ear = 2.6 if kind in ("rabbit", "hare") else 1.75
        for dx in (-0.55, 0.15):
            ex = hx + f * dx * hr
            s.poly([(ex - hr * 0.42, hy - hr * 0.55), (ex + f * hr * 0.05, hy - hr * ear),
                    (ex + hr * 0.42, hy - hr * 0.5)])
    tx, ty = x - f * 34 * u, by - bh * 0.3
    if kind in ("fox", "wolf"):  # a bushy tail
        s.poly([(tx + f * 4 * u, ty - 3 * u), (tx - f * 18 * u, ty + 2 * u), (tx - f * 36 * u, ty + 14 * u),
                (tx - f * 42 * u, ty + 24 * u), (tx - f * 30 * u, ty + 24 * u), (tx - f * 12 * u, ty + 16 * u),
                (tx + f * 4 * u, ty + 8 * u)])
    elif kind == "horse":
        s.poly([(tx, ty - 2 * u), (tx - f * 12 * u, ty + 20 * u), (tx - f * 8 * u, ty + 42 * u),
                (tx + f * 3 * u, ty + 10 * u)])
    elif kind in ("cat", "lion", "tiger", "dog", "cow"):
        s.line([(tx, ty), (tx - f * 14 * u, ty + 6 * u), (tx - f * 20 * u, ty - 8 * u)], width=3.2 * u)
    else:
        s.circle(tx, ty, 5 * u)


def car_side(s: Shapes, x: float, ground: float, length: float, facing: int) -> None:
    L = length
    s.rect(x - L / 2, ground - L * 0.3, x + L / 2, ground - L * 0.1, radius=L * 0.06)
    s.poly([(x - facing * L * 0.3, ground - L * 0.28), (x - facing * L * 0.2, ground - L * 0.46),
            (x + facing * L * 0.14, ground - L * 0.46), (x + facing * L * 0.3, ground - L * 0.28)])
    for wx in (-0.3, 0.3):
        s.circle(x + wx * L, ground - L * 0.1, L * 0.1)


def car_rear(s: Shapes, x: float, ground: float, width: float) -> list[tuple[float, float, float, float]]:
    """A car seen from behind, ``width`` wide; returns its tail-light boxes."""
    w = width
    for side in (-1, 1):
        s.rect(x + side * 0.38 * w - 0.07 * w, ground - 0.16 * w, x + side * 0.38 * w + 0.07 * w, ground,
               radius=0.02 * w)
    s.rect(x - 0.5 * w, ground - 0.44 * w, x + 0.5 * w, ground - 0.1 * w, radius=0.06 * w)
    s.poly([(x - 0.44 * w, ground - 0.43 * w), (x + 0.44 * w, ground - 0.43 * w), (x + 0.33 * w, ground - 0.7 * w),
            (x - 0.33 * w, ground - 0.7 * w)])
    return [(x + side * 0.4 * w - 0.07 * w, ground - 0.36 * w, x + side * 0.4 * w + 0.07 * w, ground - 0.29 * w)
            for side in (-1, 1)]


def boat(s: Shapes, x: float, water_y: float, length: float, sail: bool) -> None:
    L = length
    s.poly([(x - L * 0.55, water_y - L * 0.14), (x + L * 0.55, water_y - L * 0.16),
            (x + L * 0.4, water_y + L * 0.02), (x - L * 0.42, water_y + L * 0.02)])
    if sail:
        s.line([(x, water_y - L * 0.14), (x, water_y - L * 1.0)], width=max(1.0, L * 0.02))
        s.poly([(x + L * 0.03, water_y - L * 0.95), (x + L * 0.42, water_y - L * 0.2),
                (x + L * 0.03, water_y - L * 0.2)])
        s.poly([(x - L * 0.03, water_y - L * 0.75), (x - L * 0.3, water_y - L * 0.22),
                (x - L * 0.03, water_y - L * 0.22)])


def conifer(s: Shapes, x: float, base: float, h: float) -> None:
    w = h * 0.36
    s.rect(x - h * 0.025, base - h * 0.15, x + h * 0.025, base)
    for y0, y1, ww in ((0.0, 0.45, 1.0), (0.25, 0.7, 0.78), (0.5, 1.0, 0.55)):
        s.poly([(x - w * ww, base - h * 0.1 - y0 * h * 0.9), (x + w * ww, base - h * 0.1 - y0 * h * 0.9),
                (x, base - h * 0.1 - y1 * h * 0.9 - h * 0.05)])


def leafy_tree(s: Shapes, leaves: Shapes, x: float, base: float, h: float, rng: np.random.Generator) -> None:
    s.poly([(x - h * 0.05, base), (x + h * 0.05, base), (x + h * 0.03, base - h * 0.55),
            (x - h * 0.03, base - h * 0.55)])
    s.line([(x, base - h * 0.45), (x + h * 0.16, base - h * 0.65)], width=h * 0.03)
    s.line([(x, base - h * 0.5), (x - h * 0.15, base - h * 0.68)], width=h * 0.03)
    for _ in range(7):
        leaves.circle(x + rng.uniform(-0.25, 0.25) * h, base - h * rng.uniform(0.62, 0.88), h * rng.uniform(0.14, 0.2))


def ridge(w: float, base: float, height: float, rng: np.random.Generator, rough: float = 0.5,
          n: int = 64) -> list[tuple[float, float]]:
    """A mountain ridge by midpoint displacement, as a closed polygon down to ``base``."""
    pts = np.zeros(n + 1)
    pts[0], pts[n] = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
    step, amp = n, 1.0
    while step > 1:
        half = step // 2
        for i in range(half, n, step):
            pts[i] = (pts[i - half] + pts[i + half]) / 2 + rng.uniform(-amp, amp) * 0.5
        step, amp = half, amp * rough
    pts = (pts - pts.min()) / max(1e-6, float(pts.max() - pts.min()))
    line = [(i * w / n, base - height * (0.25 + 0.75 * float(v))) for i, v in enumerate(pts)]
    return [(-2, base + 2), (-2, line[0][1])] + line + [(w + 2, line[-1][1]), (w + 2, base + 2)]


# ----------------------------------------------------------------------------------------------
# the frame

def draft_keyframe(prompt: str, negative: str, seed: int, width: int, height: int, *, tag: str | None,
                   aspect: str, reference: Image.Image | None = None, caption: bool = True) -> Image.Image:
    """The whole draft frame for a prompt and seed (deterministic: same inputs, same pixels)."""
    scene = analyse(prompt, negative)
    pal = palette_for(scene, np.random.default_rng(cdraw.stable_int("keyframe-palette", seed)))
    if reference is not None:
        pal = borrow(pal, reference_colours(reference))
    rng = np.random.default_rng(cdraw.stable_int("keyframe-layout", seed, prompt, negative))
    info = f"{aspect if aspect != 'custom' else f'{width}×{height}'} · seed {seed}"
    return render(scene, width, height, rng, pal, caption=caption_text(prompt) if caption else "", tag=tag,
                  info=info)


def caption_text(prompt: str) -> str:
    """What the caption band says: the prompt's first sentence (the shot itself) when the prompt goes on
    with camera, light and style notes; the whole prompt otherwise."""
    text = " ".join((prompt or "").split())
    # Latin sentences end at ". " before a capital; Chinese and Japanese ones at 。！？ (no space)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])|(?<=[。！？])\s*(?=\S)", text)
    first = parts.pop(0)

    def columns(t: str) -> int:  # a Chinese character is about a Latin word's worth: count it twice
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in t)

    while parts and columns(first) < 24:  # "INT. KITCHEN. Mara cooks." : short headings take the next sentence
        first += ("" if first[-1:] in "。！？" else " ") + parts.pop(0)
    return first


def caption_layout(W: int, H: int, caption: str):
    """Font, wrapped lines and band height of the caption (0 without one)."""
    if not caption.strip():
        return None, [], 0
    S = min(W, H)
    size = max(7, round(S * 0.04))
    block = cdraw.layout(caption, size, W * 0.84, max_lines=3 if H > W else 2, min_size=max(7, round(size * 0.75)),
                         what="the keyframe's caption (the prompt's first sentence)")
    return block, block.lines, block.height + round(block.size * 0.9)


def render(scene: Scene, width: int, height: int, rng: np.random.Generator, pal: Palette, *,
           caption: str, tag: str | None, info: str) -> Image.Image:
    W, H = width, height
    S = min(W, H)
    facing_side = -1 if rng.random() < 0.5 else 1  # the subject on the left (-1) or right (+1) third
    subj_x = W * (0.5 + facing_side / 6)
    light_x = W * (0.5 - facing_side / 6) + rng.uniform(-0.04, 0.04) * W
    facing = -facing_side  # subjects look into the frame
    if scene.framing == "close":
        horizon = H * (0.58 + rng.uniform(-0.03, 0.03))
    elif scene.angle == "low":
        horizon = H * 0.76
    elif scene.angle == "high":
        horizon = H * 0.3
    else:
        horizon = H * ((0.6 if H > W else 0.66) + rng.uniform(-0.035, 0.025))

    _, _, band_h = caption_layout(W, H, caption)
    B = H - band_h  # subjects stand above the caption band
    interior = scene.has("interior") and not scene.has("space")
    if interior:
        img, ground_y = _room(W, H, scene, pal, rng, facing_side)
        road_vx = None
    else:
        img, road_vx = _landscape(W, H, horizon, scene, pal, rng, light_x)
        ground_y = horizon

    fig = Shapes((W, H))  # the subjects: one silhouette layer with a rim light
    hands: list[tuple[float, float]] = []
    n = scene.people
    h, feet = S * 0.5, min(B * 0.97, ground_y + max(B - ground_y, H * 0.06) * 0.75)
    if scene.framing == "close" and n:
        bust(fig, subj_x, H / 3, S * 0.36, facing, H, long_hair=scene.has("female"))
        hands.append((subj_x + facing * S * 0.3, H * 0.9))
    else:
        if scene.framing == "wide":
            h, feet = S * 0.2, ground_y + max(B - ground_y, H * 0.06) * 0.35
        elif scene.framing == "medium":
            h, feet = S * 0.9, H * 1.12
        elif scene.framing == "close":  # an animal filling the frame
            h, feet = S * 0.95, B * 0.97
        if interior:
            feet = min(B * 0.98, max(feet, ground_y + (B - ground_y) * 0.55))
        on_boat = scene.has("boat") and scene.has("water") and not interior
        if on_boat:
            L = S * (0.36 if scene.framing != "wide" else 0.16)
            wy = ground_y + max(B - ground_y, H * 0.06) * (0.62 if scene.framing != "wide" else 0.3)
            boat(fig, subj_x, wy, L, sail=not n)
            h, feet = L * 0.62, wy - L * 0.04
        riders = 0
        if scene.riding:  # the first person sits on the animal
            length = h * 1.15
            u = length / 100.0
            animal(fig, scene.animal, subj_x, feet, length, facing)
            back = feet - (100 * _LEGS.get(scene.animal, 0.32) + 10) * u - 6 * u
            hands.append(person(fig, subj_x - facing * 6 * u, back + h * 0.42, h * 0.92, rng, facing))
            riders = 1
        for i in range(riders, n):
            off = (i - (n - 1) / 2) * h * 0.42 * (1 if n < 4 else 0.8)
            if riders:
                off = facing * -h * (0.75 + 0.35 * (i - 1))
            depth = 1.0 - 0.06 * abs(i - (n - 1) / 2)
            hands.append(person(fig, subj_x + off, feet - (1 - depth) * h * 0.25,
                                h * depth * rng.uniform(0.92, 1.04), rng, facing))
        if on_boat and n:  # oars into the water
            for side in (-1, 1):
                fig.line([(subj_x + side * h * 0.1, wy - L * 0.2), (subj_x + side * L * 0.75, wy + L * 0.08)],
                         width=max(1.0, L * 0.018))
        if scene.animal and not (interior and n) and not riders:
            big = 1.6 if scene.animal in ("horse", "moose", "elk", "cow") else 1.0
            animal(fig, scene.animal, subj_x + (facing * h * 0.6 if n else 0), feet, h * (0.55 if n else 0.75) * big,
                   facing)
        if scene.has("boat") and not on_boat and scene.has("water") and not interior:
            boat(fig, light_x + facing_side * W * 0.08, horizon + (H - horizon) * 0.18, S * 0.09, sail=True)
    sil = mix(pal.silhouette, pal.accent, 0.22) if scene.colours else pal.silhouette
    rim = mix(pal.light, pal.accent, 0.35)
    rim_offset = (round(-facing_side * max(1, S * 0.004)), -1)
    from . import _subjects  # imported here: it draws with this module's helpers
    stage = _subjects.Stage(W, H, horizon, ground_y, B, feet, h, subj_x, light_x, facing, interior, hands, sil, rim,
                            rim_offset)
    img = _subjects.behind(img, scene, pal, stage)  # ship, train, panda
    fig.paint(img, rim, 0.85, offset=rim_offset)
    fig.paint(img, sil)
    img = _subjects.front(img, scene, pal, stage)  # table, flowers, cards, lamp

    if scene.has("car") and not interior:
        vehicle = Shapes((W, H))
        lights: list[tuple[float, float, float, float]] = []
        if road_vx is not None:  # on the road, driving away in the right lane
            t = min(0.45 if (n or scene.animal) else 0.6, 0.95 * (B - horizon) / max(1.0, H - horizon))
            half = W * 0.42 * t
            lights = car_rear(vehicle, road_vx + (W * 0.5 - road_vx) * t + half * 0.4, horizon + (H - horizon) * t,
                              half * 0.62)
        else:
            cx = light_x if (n or scene.animal) else subj_x
            car_side(vehicle, cx, min(B * 0.97, feet + h * 0.05), S * (0.16 if scene.framing == "wide" else 0.36),
                     facing)
        vehicle.paint(img, rim, 0.85, offset=rim_offset)
        vehicle.paint(img, shade(pal.accent, 0.35 + 0.5 * pal.exposure) if scene.colours else pal.silhouette)
        if lights:
            tail = Shapes((W, H))
            for box in lights:
                tail.rect(*box, radius=(box[3] - box[1]) * 0.3)
                if pal.exposure < 0.6:
                    img = glow(img, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) * 1.5,
                               (255, 60, 40), 0.6)
            tail.paint(img, (255, 70, 50))
    if (scene.has("lamp") or (scene.has("fire") and interior)) and hands:  # a lantern or candle in hand
        hx, hy = hands[0]
        img = glow(img, hx, hy + S * 0.02, S * 0.12, (255, 180, 90), 0.75)
        lamp = Shapes((W, H))
        lamp.rect(hx - S * 0.009, hy, hx + S * 0.009, hy + S * 0.03, radius=S * 0.004)
        lamp.paint(img, (255, 232, 170))

    if not interior:
        _weather(img, W, H, horizon, scene, pal, rng)
    _vignette(img)
    _overlay(img, pal, caption=caption, tag=tag, info=info)
    return img


def _landscape(W, H, horizon, scene: Scene, pal: Palette, rng, light_x) -> tuple[Image.Image, float | None]:
    """Sky, light, clouds, far layers, ground or water and the named scenery; returns the road's
    vanishing x (None without a road)."""
    S = min(W, H)
    hz = horizon / H
    night = scene.time == "night" or scene.has("space")
    overcast = scene.has("storm") or scene.has("rain") or scene.has("cloud") or scene.has("fog")
    if scene.has("space"):
        img = gradient_image(W, H, [(0.0, (2, 3, 10)), (1.0, shade(pal.sky_top, 0.6))])
        _stars(img, W, H, H, rng)
        pr = S * rng.uniform(0.22, 0.32)
        px, py = light_x, H * rng.uniform(0.55, 0.75)
        planet = Shapes((W, H))
        planet.circle(px, py, pr)
        planet.paint(img, shade(pal.accent, 0.55))
        lit = Shapes((W, H))
        lit.circle(px - pr * 0.25, py - pr * 0.25, pr * 0.85)
        lit.paint(img, mix(pal.accent, (255, 255, 255), 0.2), 0.55, blur=pr * 0.08)
        return img, None

    img = gradient_image(W, H, [(0.0, pal.sky_top), (hz * 0.6, mix(pal.sky_top, pal.horizon, 0.55)),
                                (hz, pal.horizon), (min(1.0, hz + 0.002), pal.ground_far),
                                (1.0, pal.ground_near)])
    if scene.time == "day":
        sun_y = H * 0.2 + rng.uniform(0, 0.08) * H
    elif night:
        sun_y = min(horizon * 0.45, H * 0.25) + rng.uniform(-0.04, 0.04) * H
    else:  # dawn, dusk, or a seed palette: a low sun
        sun_y = horizon - S * rng.uniform(0.04, 0.12)
    strength = (0.25 if night else 0.55) * (0.5 if overcast else 1.0)
    sun_glow = radial(W, H, light_x, sun_y, S * (0.55 if not night else 0.3), strength)
    top = round(horizon)
    img.paste(pal.light, (0, 0, W, top), sun_glow.crop((0, 0, W, top)))
    if top < H:  # the ground catches less of it
        img.paste(pal.light, (0, top, W, H), sun_glow.crop((0, top, W, H)).point(lambda v: int(v * 0.45)))

    if (night and not overcast) or scene.has("stars"):
        _stars(img, W, H, horizon, rng)
    if not overcast:  # the sun or the moon
        disc = Shapes((W, H))
        r = S * (0.045 if night else 0.06)
        disc.circle(light_x, sun_y, r)
        if night:  # a crescent
            disc.circle(light_x + r * 0.45, sun_y - r * 0.25, r * 0.85, a=0)
        disc.rect(0, horizon, W, H, a=0)  # setting behind the horizon
        disc.paint(img, pal.light)
    _clouds(img, W, H, horizon, scene, pal, rng, night, overcast)

    # far layers
    far_col = mix(pal.silhouette, pal.horizon, 0.62)
    near_col = mix(pal.silhouette, pal.horizon, 0.35)
    if scene.has("mountain") and not scene.has("water"):
        m = Shapes((W, H))
        m.poly(ridge(W, horizon, H * rng.uniform(0.18, 0.3), rng, rough=0.55))
        m.paint(img, far_col)
        m2 = Shapes((W, H))
        m2.poly(ridge(W, horizon + 2, H * rng.uniform(0.08, 0.14), rng, rough=0.5))
        m2.paint(img, near_col)
    elif not (scene.has("water") or scene.has("city") or scene.has("desert")):
        m = Shapes((W, H))
        m.poly(ridge(W, horizon + 1, H * rng.uniform(0.03, 0.07), rng, rough=0.35, n=16))
        m.paint(img, far_col, 0.8)
    if scene.has("city"):
        _skyline(img, W, H, horizon, scene, pal, rng)

    # the ground
    if scene.has("water"):
        _water(img, W, H, horizon, scene, pal, rng, light_x, overcast)
    elif scene.has("desert"):
        for i, f in enumerate((0.25, 0.55, 0.85)):
            d = Shapes((W, H))
            base = horizon + (H - horizon) * f
            ph, amp, fq = rng.uniform(0, 6.28), (H - horizon) * 0.12, rng.uniform(3, 6)
            pts = [(x, base - amp * (0.5 + 0.5 * math.sin(ph + x / W * fq)) ** 1.5) for x in np.linspace(-2, W + 2, 48)]
            d.poly([(-2, H + 2)] + pts + [(W + 2, H + 2)])
            d.paint(img, mix(pal.ground_far, pal.ground_near, 0.3 * i + 0.15))
    else:
        hill = Shapes((W, H))
        base = horizon + (H - horizon) * rng.uniform(0.3, 0.55)
        ph = rng.uniform(0, 6.28)
        pts = [(x, base - (H - horizon) * 0.18 * math.sin(ph + x / W * 3.0)) for x in np.linspace(-2, W + 2, 32)]
        hill.poly([(-2, H + 2)] + pts + [(W + 2, H + 2)])
        hill.paint(img, mix(pal.ground_far, pal.ground_near, 0.55), 0.6)

    road_vx = None
    if scene.has("road"):
        road_vx = W * 0.5 + rng.uniform(-0.12, 0.12) * W
        _road(img, W, H, horizon, pal, road_vx)
    if scene.has("lighthouse"):
        _lighthouse(img, W, H, horizon, scene, pal, light_x)

    if scene.has("forest"):
        rows = ((int(W / S * 18), 0.08, 0.16, 0.55), (int(W / S * 9), 0.14, 0.3, 0.3))
        for row, (count, hmin, hmax, f) in enumerate(rows):
            t = Shapes((W, H))
            for _ in range(count):
                base = horizon + (H - horizon) * (0.05 + 0.25 * row) + rng.uniform(0, 0.04) * H
                conifer(t, rng.uniform(-0.02, 1.02) * W, base, H * rng.uniform(hmin, hmax))
            t.paint(img, mix(pal.silhouette, pal.horizon, f))
        edge = Shapes((W, H))  # trees framing the shot, in front
        for x in (rng.uniform(-0.04, 0.06) * W, W - rng.uniform(-0.04, 0.06) * W):
            conifer(edge, x, H * 1.02, H * rng.uniform(0.75, 0.95))
        edge.paint(img, pal.silhouette)
    elif scene.has("tree"):
        trunk, leaves = Shapes((W, H)), Shapes((W, H))
        tx = W * (0.12 if light_x < W / 2 else 0.88)
        leafy_tree(trunk, leaves, tx, horizon + (H - horizon) * 0.45, H * 0.55, rng)
        leaf = mix(pal.silhouette, pal.ground_near, 0.45)
        if scene.colours:
            leaf = mix(leaf, shade(pal.accent, 0.3 + 0.5 * pal.exposure), 0.6)
        trunk.paint(img, mix(pal.silhouette, pal.ground_near, 0.2))
        leaves.paint(img, leaf)

    if scene.has("fire") and not scene.people and not scene.has("lighthouse"):  # a campfire
        fx = W * 0.5 + (W * 0.5 - light_x) * 0.6
        fy = horizon + (H - horizon) * 0.62
        img = glow(img, fx, fy - S * 0.04, S * 0.2, (255, 150, 60), 0.7)
        fl = Shapes((W, H))
        for k in range(5):
            dx = (k - 2) * S * 0.014
            fh = S * (0.09 - abs(k - 2) * 0.018) * rng.uniform(0.8, 1.2)
            fl.poly([(fx + dx - S * 0.014, fy), (fx + dx + S * 0.014, fy), (fx + dx * 0.6, fy - fh)])
        fl.paint(img, (255, 196, 90))
    if scene.has("fog"):  # mist lying over the horizon, behind the subjects
        f = Shapes((W, H))
        for i in range(4):
            y = horizon + (i - 1.5) * H * 0.06
            f.rect(-5, y - H * 0.04, W + 5, y + H * 0.04, a=120, radius=H * 0.04)
        f.paint(img, mix(pal.horizon, (225, 228, 232), 0.5), 0.6, blur=S * 0.02)
    if scene.has("bird"):
        b = Shapes((W, H))
        bx, by = light_x + rng.uniform(-0.15, 0.15) * W, horizon * rng.uniform(0.3, 0.6)
        for _ in range(int(rng.integers(3, 8))):
            x, y = bx + rng.uniform(-0.12, 0.12) * W, by + rng.uniform(-0.08, 0.08) * H
            sz = S * rng.uniform(0.012, 0.025)
            b.line([(x - sz, y - sz * 0.4), (x - sz * 0.4, y - sz * 0.5), (x, y), (x + sz * 0.4, y - sz * 0.5),
                    (x + sz, y - sz * 0.4)], width=max(1.0, sz * 0.18))
        b.paint(img, pal.silhouette)
    return img, road_vx


def _stars(img, W, H, limit, rng) -> None:
    st = Shapes((W, H))
    for _ in range(int(W * H / 2600)):
        y = rng.uniform(0, 1) ** 1.4 * limit  # denser high up
        st.circle(rng.uniform(0, W), y, rng.uniform(0.4, 1.3), a=int(rng.uniform(90, 255)))
    st.paint(img, (245, 245, 255), 0.9)


def _clouds(img, W, H, horizon, scene, pal, rng, night, overcast) -> None:
    S = min(W, H)
    if overcast:  # a heavy, two-tone cloud deck
        base_c = shade(pal.sky_top, 0.75) if scene.has("storm") else mix(pal.horizon, (225, 228, 234), 0.35)
        for layer, (alpha, tone) in enumerate(((0.75, 0.85), (0.6, 1.1))):
            cl = Shapes((W, H))
            for _ in range(18):
                cx, cy = rng.uniform(-0.1, 1.1) * W, horizon * rng.uniform(0.0, 0.45 + 0.25 * layer)
                rw, rh = W * rng.uniform(0.1, 0.25), S * rng.uniform(0.04, 0.09)
                cl.ellipse(cx - rw, cy - rh, cx + rw, cy + rh)
            cl.paint(img, shade(base_c, tone), alpha, blur=S * 0.02)
        return
    if night and rng.random() < 0.5:
        return
    cl = Shapes((W, H))
    for _ in range(int(rng.integers(2, 5))):  # thin streaks, lit from below when the sun is low
        cx, cy = rng.uniform(0, 1) * W, horizon * rng.uniform(0.12, 0.75)
        span = W * rng.uniform(0.2, 0.5)
        for _ in range(int(rng.integers(4, 9))):
            px, py = cx + rng.uniform(-0.5, 0.5) * span, cy + rng.uniform(-1, 1) * S * 0.018
            rw, rh = W * rng.uniform(0.05, 0.16), S * rng.uniform(0.008, 0.022)
            cl.ellipse(px - rw, py - rh, px + rw, py + rh)
    cl.paint(img, mix(pal.sky_top, pal.horizon, 0.6) if night else mix(pal.horizon, pal.light, 0.55), 0.55,
             blur=S * 0.006)
    if scene.time == "day":  # a few fair-weather clouds
        cu = Shapes((W, H))
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(0.05, 0.95) * W, horizon * rng.uniform(0.2, 0.6)
            r = S * rng.uniform(0.03, 0.06)
            for k in range(6):
                cu.circle(cx + (k - 2.5) * r * 0.8, cy - r * (0.6 - abs(k - 2.5) * 0.2) * rng.uniform(0.6, 1.3),
                          r * rng.uniform(0.7, 1.1))
            cu.rect(cx - r * 2.6, cy - r * 0.4, cx + r * 2.6, cy + r * 0.35, radius=r * 0.3)
        cu.paint(img, (250, 250, 252), 0.85, blur=S * 0.003)


def _skyline(img, W, H, horizon, scene, pal, rng) -> None:
    S = min(W, H)
    lit_windows = scene.time in ("night", "dusk")
    for row, (f, hmax) in enumerate(((0.6, 0.38), (0.32, 0.24))):
        b = Shapes((W, H))
        win = Shapes((W, H))
        x = -rng.uniform(0, 0.05) * W
        while x < W:
            bw = S * rng.uniform(0.05, 0.12)
            bh = H * rng.uniform(0.06, hmax) * (1.0 if abs(x - W / 2) > W * 0.1 else 1.2)
            top = horizon - bh
            b.rect(x, top, x + bw, horizon + 2)
            if rng.random() < 0.25:  # an antenna
                b.rect(x + bw * 0.45, top - bh * 0.15, x + bw * 0.5, top)
            if lit_windows:
                ws = max(1.5, S * 0.008)
                for wy in np.arange(top + ws * 2, horizon - ws, ws * 2.6):
                    for wx in np.arange(x + ws * 1.2, x + bw - ws * 1.2, ws * 2.2):
                        if rng.random() < 0.35:
                            win.rect(wx, wy, wx + ws, wy + ws * 1.3)
            x += bw + S * rng.uniform(0.0, 0.02)
        b.paint(img, mix(pal.silhouette, pal.horizon, f * (0.7 if row else 1)))
        win.paint(img, (255, 214, 140), 0.8 if row else 0.55)


def _road(img, W, H, horizon, pal, vx) -> None:
    S = min(W, H)
    r = Shapes((W, H))
    r.poly([(vx - S * 0.005, horizon), (vx + S * 0.005, horizon), (W * 0.92, H + 2), (W * 0.08, H + 2)])
    r.paint(img, mix(pal.ground_near, (70, 70, 76), 0.5), 0.9)
    dash = Shapes((W, H))
    t = 0.0
    while t < 1.0:
        t2 = t + 0.04 + t * 0.06
        y0, y1 = horizon + (H - horizon) * t ** 1.6, horizon + (H - horizon) * min(1.0, t2) ** 1.6
        x0, x1 = vx + (W * 0.5 - vx) * t ** 1.6, vx + (W * 0.5 - vx) * min(1.0, t2) ** 1.6
        dash.line([(x0, y0), (x1, y1)], width=max(1.0, S * 0.012 * t2))
        t = t2 + 0.03 + t * 0.05
    dash.paint(img, mix(pal.light, (230, 220, 160), 0.5), 0.75)


def _water(img, W, H, horizon, scene, pal, rng, light_x, overcast) -> None:
    S = min(W, H)
    top = round(horizon)
    if top >= H:
        return
    water = gradient_image(W, H - top, [(0.0, mix(pal.horizon, pal.sky_top, 0.35)),
                                        (1.0, shade(mix(pal.sky_top, pal.silhouette, 0.4), 0.9))])
    img.paste(water, (0, top))
    waves = Shapes((W, H))
    y = horizon + 2.0
    while y < H:
        t = (y - horizon) / max(1.0, H - horizon)
        for _ in range(int(3 + 10 * (1 - t))):
            x = rng.uniform(-0.05, 1.05) * W
            ln = S * (0.02 + 0.12 * t) * rng.uniform(0.5, 1.5)
            waves.line([(x, y), (x + ln * 0.5, y - S * 0.004 * (0.3 + t)), (x + ln, y)],
                       width=max(1.0, S * 0.003 * (0.5 + 3 * t)))
        y += max(2.0, S * 0.012 * (0.3 + 4 * t * t))
    waves.paint(img, mix(pal.horizon, pal.light, 0.3), 0.3)
    if not overcast:  # the sun's (or moon's) path on the water
        glint = Shapes((W, H))
        y = horizon + 1.0
        while y < H:
            t = (y - horizon) / max(1.0, H - horizon)
            wdt = S * (0.02 + 0.12 * t) * rng.uniform(0.4, 1.3)
            x = light_x + rng.uniform(-1, 1) * S * (0.01 + 0.06 * t)
            glint.line([(x - wdt / 2, y), (x + wdt / 2, y)], width=max(1.0, S * 0.003 * (1 + 3 * t)),
                       a=int(255 * (1 - t) ** 1.5))
            y += max(2.0, S * 0.008 * (0.4 + 4 * t))
        glint.paint(img, pal.light, 0.8)
    if scene.has("beach"):
        sand = Shapes((W, H))
        y0 = horizon + (H - horizon) * rng.uniform(0.3, 0.45)
        ph = rng.uniform(0, 6.28)
        pts = [(x, y0 + (H - y0) * 0.2 * math.sin(x / W * 3.5 + ph)) for x in np.linspace(-2, W + 2, 40)]
        sand.poly([(-2, H + 2)] + pts + [(W + 2, H + 2)])
        sand.paint(img, mix(pal.ground_far, pal.ground_near, 0.3))
        foam = Shapes((W, H))
        foam.line(pts, width=max(1.5, S * 0.006))
        foam.paint(img, mix(pal.light, (255, 255, 255), 0.5), 0.7)
    if scene.has("mountain") or scene.has("lighthouse"):  # a rocky headland on the subject's side
        c = Shapes((W, H))
        side = 1 if light_x < W / 2 else -1
        x0 = W if side > 0 else 0
        cw, height = W * 0.44, H * 0.24
        pts = [(x0 + side * 2, horizon - height)]
        for i in range(1, 13):
            t = i / 12
            pts.append((x0 - side * cw * t, horizon - height * (1 - t ** 5) + rng.uniform(-0.008, 0.008) * H))
        foot = [(x0 - side * cw * 1.06, horizon + (H - horizon) * 0.3), (x0 - side * cw * 0.9, H + 2)]
        c.poly(pts + foot + [(x0 + side * 2, H + 2)])
        c.paint(img, mix(pal.silhouette, pal.ground_near, 0.5))
        surf = Shapes((W, H))  # surf where the rocks meet the sea
        a, b = pts[-1], foot[0]
        for _ in range(14):
            t = rng.uniform(0, 1)
            fx = a[0] + (b[0] - a[0]) * t - side * rng.uniform(0, 0.04) * W
            fy = max(a[1] + (b[1] - a[1]) * t, horizon + 2) + rng.uniform(0, 0.05) * (H - horizon)
            surf.ellipse(fx - S * 0.03, fy - S * 0.004, fx + S * 0.03, fy + S * 0.006)
        surf.paint(img, mix(pal.light, (255, 255, 255), 0.6), 0.55, blur=S * 0.003)


def _lighthouse(img, W, H, horizon, scene, pal, light_x) -> None:
    S = min(W, H)
    side = -1 if light_x > W / 2 else 1  # on the subject's side, opposite the light
    x = W * (0.5 + side * (0.33 if scene.has("water") else 1 / 6))
    base = horizon - H * 0.24 if scene.has("water") else horizon
    th, bw, tw = S * 0.3, S * 0.07, S * 0.045
    lit = scene.time in ("night", "dusk") or scene.has("storm") or scene.has("fire") or scene.has("lamp")
    lamp_y = base - th - S * 0.025
    if lit:
        beam = Shapes((W, H))
        d = -side
        beam.poly([(x, lamp_y - S * 0.008), (x + d * W * 0.9, lamp_y - S * 0.16), (x + d * W * 0.9, lamp_y + S * 0.1),
                   (x, lamp_y + S * 0.008)])
        beam.paint(img, pal.light, 0.28)
    t = Shapes((W, H))
    t.poly([(x - bw / 2, base + 2), (x + bw / 2, base + 2), (x + tw / 2, base - th), (x - tw / 2, base - th)])
    t.rect(x - tw * 0.7, base - th - S * 0.006, x + tw * 0.7, base - th)
    t.rect(x - tw * 0.42, lamp_y - S * 0.02, x + tw * 0.42, base - th)
    t.poly([(x - tw * 0.5, lamp_y - S * 0.02), (x + tw * 0.5, lamp_y - S * 0.02), (x, lamp_y - S * 0.045)])
    t.paint(img, mix(pal.silhouette, pal.horizon, 0.12 + 0.4 * pal.exposure))
    if not lit:  # daymark stripes
        stripe = Shapes((W, H))
        for f in (0.25, 0.6):
            y0 = base - th * f
            w0, w1 = bw - (bw - tw) * f, bw - (bw - tw) * (f + 0.12)
            stripe.poly([(x - w0 / 2, y0), (x + w0 / 2, y0), (x + w1 / 2, y0 - th * 0.12),
                         (x - w1 / 2, y0 - th * 0.12)])
        stripe.paint(img, shade(pal.accent, 0.5 + 0.4 * pal.exposure))
    lamp = Shapes((W, H))
    lamp.rect(x - tw * 0.32, lamp_y - S * 0.016, x + tw * 0.32, lamp_y + S * 0.016)
    lamp.paint(img, (255, 236, 170) if lit else mix(pal.light, pal.horizon, 0.5))


def _room(W, H, scene: Scene, pal: Palette, rng, facing_side) -> tuple[Image.Image, float]:
    """A one-point-perspective room (back wall, side walls, floor, ceiling) with a window; returns the
    image and the floor line."""
    S = min(W, H)
    vx = W * (0.5 - facing_side * rng.uniform(0.04, 0.1))
    vy = H * rng.uniform(0.42, 0.5)
    bw, bh = W * rng.uniform(0.26, 0.34), H * rng.uniform(0.26, 0.34)
    x0, x1, y0, y1 = vx - bw, vx + bw, vy - bh * 1.1, vy + bh * 0.9
    wall = pal.wall
    floor_c = shade(mix(wall, (110, 72, 44), 0.55), 0.6)
    img = gradient_image(W, H, [(0.0, shade(wall, 0.55)), (y0 / H, shade(wall, 0.8)), (y1 / H, wall),
                                (min(1.0, y1 / H + 0.002), floor_c), (1.0, shade(floor_c, 0.55))])
    for pts, f in (([(0, 0), (x0, y0), (x0, y1), (0, H)], 0.62), ([(W, 0), (x1, y0), (x1, y1), (W, H)], 0.72),
                   ([(0, 0), (W, 0), (x1, y0), (x0, y0)], 0.45)):
        s = Shapes((W, H))
        s.poly(pts)
        s.paint(img, shade(wall, f * (0.6 + 0.4 * pal.exposure)), 0.9)
    fl = Shapes((W, H))
    fl.poly([(0, H), (x0, y1), (x1, y1), (W, H)])
    fl.paint(img, floor_c, 0.35)
    lw = max(1.0, S * 0.002)
    boards = Shapes((W, H))
    for i in range(1, 12):
        bx = x0 + (x1 - x0) * i / 12
        boards.line([(bx, y1), (vx + (bx - vx) * 4.0, y1 + (y1 - vy) * 4.0)], width=lw)
    boards.paint(img, shade(floor_c, 0.6), 0.5)
    edges = Shapes((W, H))
    for a, b in (((0, 0), (x0, y0)), ((W, 0), (x1, y0)), ((0, H), (x0, y1)), ((W, H), (x1, y1))):
        edges.line([a, b], width=lw)
    edges.line([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], width=lw)
    edges.paint(img, shade(wall, 0.35), 0.5)

    # a window on the back wall, on the side away from the subject, showing the outside light
    wx0 = vx - bw * 0.85 if facing_side > 0 else vx + bw * 0.2
    ww, wh = max(2, int(bw * 0.65)), max(2, int(bh * 1.1))
    wy0 = y0 + bh * 0.35
    outside = TIME_PALETTES.get(scene.time or "", pal)
    sky = gradient_image(ww, wh, [(0.0, outside.sky_top), (0.75, outside.horizon),
                                  (0.76, shade(outside.ground_far, 0.7)), (1.0, outside.ground_near)])
    if scene.has("storm") or scene.has("rain"):
        sky = Image.blend(sky, Image.new("RGB", sky.size, (60, 66, 80)), 0.45)
    img.paste(sky, (int(wx0), int(wy0)))
    frame = Shapes((W, H))
    fw = max(2.0, S * 0.008)
    frame.line([(wx0, wy0), (wx0 + ww, wy0), (wx0 + ww, wy0 + wh), (wx0, wy0 + wh), (wx0, wy0)], width=fw)
    frame.line([(wx0 + ww / 2, wy0), (wx0 + ww / 2, wy0 + wh)], width=fw * 0.7)
    frame.line([(wx0, wy0 + wh / 2), (wx0 + ww, wy0 + wh / 2)], width=fw * 0.7)
    frame.paint(img, shade(wall, 0.3))
    if scene.has("rain") or scene.has("storm"):  # streaks on the glass
        rain = Shapes((W, H))
        for _ in range(40):
            rx, ry = wx0 + rng.uniform(0, ww), wy0 + rng.uniform(0, wh * 0.8)
            rain.line([(rx, ry), (rx + S * 0.002, ry + rng.uniform(0.05, 0.2) * wh)], width=1.0)
        rain.paint(img, (200, 210, 230), 0.5)
    lamp_x, lamp_y = vx + facing_side * bw * 0.7, y1 - bh * 0.5
    if scene.time in ("night", "dusk") or scene.has("fire") or scene.has("lamp") or scene.has("storm"):
        img = glow(img, lamp_x, lamp_y, S * 0.35, (255, 190, 110), 0.55)  # a warm practical light
        if not scene.people:
            lamp = Shapes((W, H))
            lamp.circle(lamp_x, lamp_y, S * 0.018)
            lamp.paint(img, (255, 230, 170))
    else:  # daylight from the window on the floor
        img = glow(img, wx0 + ww / 2, y1 + (H - y1) * 0.35, S * 0.3, outside.light, 0.35)
    return img, y1


def _weather(img, W, H, horizon, scene: Scene, pal: Palette, rng) -> None:
    S = min(W, H)
    if scene.has("rain") or scene.has("storm"):
        r = Shapes((W, H))
        slant = rng.uniform(0.1, 0.3)
        for _ in range(int(W * H / 5000)):
            x, y = rng.uniform(-0.1, 1.0) * W, rng.uniform(0, 1) * H
            ln = S * rng.uniform(0.03, 0.07)
            r.line([(x, y), (x + ln * slant, y + ln)], width=max(1.0, S * 0.0015))
        r.paint(img, mix(pal.horizon, (220, 225, 235), 0.6), 0.35)
    if scene.has("storm") and rng.random() < 0.7:  # lightning
        b = Shapes((W, H))
        x, y = rng.uniform(0.2, 0.8) * W, 0.0
        pts = [(x, y)]
        while y < horizon * 0.85:
            y += S * rng.uniform(0.03, 0.07)
            x += S * rng.uniform(-0.04, 0.04)
            pts.append((x, y))
        b.line(pts, width=max(1.5, S * 0.004))
        b.paint(img, (235, 240, 255), 0.9)
    if scene.has("snowfall"):
        s = Shapes((W, H))
        for _ in range(int(W * H / 4000)):
            s.circle(rng.uniform(0, W), rng.uniform(0, H), S * rng.uniform(0.001, 0.004))
        s.paint(img, (245, 248, 255), 0.7)


def _vignette(img: Image.Image) -> None:
    W, H = img.size
    v = radial(W, H, W / 2, H / 2, max(W, H) * 0.75, step=8, power=0.8)
    f = v.point(lambda x: round(255 * (0.72 + 0.28 * x / 255.0)))
    img.paste(ImageChops.multiply(img, Image.merge("RGB", (f, f, f))))


def _overlay(img: Image.Image, pal: Palette, *, caption: str, tag: str | None, info: str) -> None:
    """Framing guides (thirds, title-safe), the shot tag, the seed/aspect tag and the caption band."""
    W, H = img.size
    S = min(W, H)
    ov = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(ov)
    lw = max(1, S // 540)
    guide = (255, 255, 255, 46)
    for i in (1, 2):  # rule of thirds
        d.line([(W * i / 3, 0), (W * i / 3, H)], fill=guide, width=lw)
        d.line([(0, H * i / 3), (W, H * i / 3)], fill=guide, width=lw)
    mx, my = W * 0.1, H * 0.1  # title-safe (80 %)
    d.rectangle([mx, my, W - mx, H - my], outline=(255, 255, 255, 34), width=lw)
    c = S * 0.03
    for cx, cy, sx, sy in ((mx, my, 1, 1), (W - mx, my, -1, 1), (mx, H - my, 1, -1), (W - mx, H - my, -1, -1)):
        d.line([(cx, cy + sy * c), (cx, cy), (cx + sx * c, cy)], fill=(255, 255, 255, 110), width=lw)
    cr = S * 0.012
    d.line([(W / 2 - cr, H / 2), (W / 2 + cr, H / 2)], fill=(255, 255, 255, 90), width=lw)
    d.line([(W / 2, H / 2 - cr), (W / 2, H / 2 + cr)], fill=(255, 255, 255, 90), width=lw)

    pad = S * 0.03
    boxes = []  # where text is: video.image_to_video keeps these fixed through a camera move
    info_w = 0.0
    if info and W >= 200:
        size = max(7, round(S * 0.026))
        line = cdraw.layout(info, size, W * 0.4, max_lines=1).lines[0]
        info_w = line.width + size
        box = [W - pad - info_w, pad, W - pad, pad + size * 1.6]
        d.rounded_rectangle(box, radius=size * 0.25, fill=(0, 0, 0, 120))
        cdraw.draw_line(ov, (box[0] + size * 0.5, box[1] + size * 0.25), line, size, fill=(235, 235, 235, 230))
        boxes.append(box)
    if tag:
        size = max(7, round(S * 0.042))
        room = W - 2 * pad - (info_w + pad if info_w else 0) - size * 1.3  # clear of the seed tag
        block = cdraw.layout(tag, size, min(W * 0.6, room), max_lines=1, min_size=max(7, round(size * 0.8)),
                             what="the shot label")
        size, line = block.size, block.lines[0]
        box = [pad, pad, pad + line.width + size * 1.3, pad + size * 1.55]
        d.rounded_rectangle(box, radius=size * 0.25, fill=(0, 0, 0, 215))
        d.rectangle([box[0], box[1] + size * 0.2, box[0] + max(2, size * 0.14), box[3] - size * 0.2],
                    fill=tuple(pal.accent) + (255,))
        cdraw.draw_line(ov, (box[0] + size * 0.75, box[1] + size * 0.2), line, size)
        boxes.append(box)
    block, lines, band_h = caption_layout(W, H, caption)
    if lines:
        size = block.size
        y0 = H - band_h
        d.rectangle([0, y0, W, H], fill=(0, 0, 0, 165))
        d.line([(0, y0), (W, y0)], fill=tuple(pal.accent) + (200,), width=max(1, S // 360))
        cdraw.draw_block(ov, block, x=0, y=y0 + round(size * 0.45), width=W)
        boxes.append([0, y0, W, H])
    img.info["text_boxes"] = [[max(0, int(b[0])), max(0, int(b[1])), min(W, math.ceil(b[2])),
                               min(H, math.ceil(b[3]))] for b in boxes]
    img.paste(Image.alpha_composite(img.convert("RGBA"), ov).convert("RGB"))
