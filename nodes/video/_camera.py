"""Camera moves on a still frame, shared by video.image_to_video and video.extend (private helper).

A move is a list of *views*, one per frame: the window of the source picture the frame shows, in
normalised coordinates (the source spans -1..1 on both axes; ``View(0, 0, 1, 1)`` is the whole
picture). Views are eased (cosine: the camera starts and stops gently) and always stay inside the
source, so no frame ever shows a border.

Rendering is fast and sub-pixel accurate: the source's Y'CbCr planes are upsampled once (bicubic)
by an odd factor ``S`` and every frame is a nearest-neighbour scale+crop of those big planes
(Pillow's affine fast path, no rotation), i.e. a bicubic sample at positions quantised to 1/S pixel.
An odd S makes the identity view reproduce the source pixels exactly, so a static shot, the first
frame of a push-in and the first frame of an extension equal their source frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from reelgraph.graph import NodeError
from reelgraph.nodes.common.yuv import rgb_to_planes

CAMERAS = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down",
           "orbit_left", "orbit_right")

CAMERA_DOC = ("Camera move over the clip, eased in and out. push_in/pull_out: zoom to/from the "
              "centre; pan_left/pan_right: the camera turns left/right (the scene slides "
              "right/left); tilt_up/tilt_down: the camera looks up/down (the scene slides down/up); "
              "orbit_left/orbit_right: the camera circles around the subject (a slow lateral drift "
              "with a gentle push in and out).")

AMPLITUDE_DOC = ("How far the camera travels, as a fraction of the frame: the zoom of a push "
                 "(0.15 = 15 %), the distance of a pan/tilt/orbit in frame widths/heights. 0 = no move.")

MOTION_DOC = ("Motion strength for model backends (0..1). Draft: above 0.6 adds a gentle handheld "
              "sway (seeded), stronger towards 1; at 0.6 or less static shots stay perfectly still.")

_ORBIT_TRAVEL = 0.8  # orbit's lateral travel, in frame widths per unit of amplitude
_ORBIT_PUSH = 0.5  # orbit's push in and back out at mid-move, per unit of amplitude
_SWAY = 0.015  # handheld sway at motion 1: offset as a fraction of the half-width


@dataclass(frozen=True)
class View:
    """The part of the source a frame shows: centre (ox, oy) and half extents (sx, sy), normalised."""

    ox: float = 0.0
    oy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def lerp(self, other: "View", w: float) -> "View":
        return View(self.ox + (other.ox - self.ox) * w, self.oy + (other.oy - self.oy) * w,
                    self.sx + (other.sx - self.sx) * w, self.sy + (other.sy - self.sy) * w)

    def scaled(self, k: float) -> "View":
        return View(self.ox * k, self.oy * k, self.sx * k, self.sy * k)

    def reach(self) -> float:
        """How far the window reaches from the centre (1 = touching the source's edge)."""
        return max(abs(self.ox) + self.sx, abs(self.oy) + self.sy)


def check_camera(camera: str, field: str = "camera") -> str:
    name = str(camera).strip().lower().replace("-", "_").replace(" ", "_")
    if name not in CAMERAS:
        raise NodeError(f"unknown camera move {camera!r}", field=field,
                        fix=f"use one of: {', '.join(CAMERAS)}")
    return name


def ease(t: float) -> float:
    """Cosine ease in/out: 0 -> 0, 1 -> 1, zero speed at both ends."""
    t = min(1.0, max(0.0, t))
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _nominal(camera: str, a: float, e: float) -> View:
    """The move at eased progress ``e`` before it is fitted into the source."""
    if camera == "push_in":
        s = (1.0 + a) ** -e
        return View(0.0, 0.0, s, s)
    if camera == "pull_out":
        s = (1.0 + a) ** -(1.0 - e)
        return View(0.0, 0.0, s, s)
    if camera in ("pan_left", "pan_right"):  # centre travels a view widths (2a half-widths)
        d = a * (1.0 - 2.0 * e) * (1 if camera == "pan_left" else -1)
        return View(d, 0.0, 1.0, 1.0)
    if camera in ("tilt_up", "tilt_down"):
        d = a * (1.0 - 2.0 * e) * (1 if camera == "tilt_up" else -1)
        return View(0.0, d, 1.0, 1.0)
    if camera in ("orbit_left", "orbit_right"):
        # circling left, the background drifts left in frame (the window moves right)
        s = 1.0 / (1.0 + _ORBIT_PUSH * a * math.sin(math.pi * e))
        d = _ORBIT_TRAVEL * a * (2.0 * e - 1.0) * (1 if camera == "orbit_left" else -1)
        return View(d * s, 0.0, s, s)
    return View()


def _fit(views: list[View]) -> list[View]:
    """Scale the whole move about the centre so that every window lies inside the source."""
    reach = max((v.reach() for v in views), default=1.0)
    if reach <= 1.0 + 1e-12:
        return views
    return [v.scaled(1.0 / reach) for v in views]


def _sway(views: list[View], times: list[float], motion: float, seed: int,
          ramp: list[float] | None = None) -> list[View]:
    """A seeded handheld drift for motion > 0.6 (zooms in just enough to keep the frame filled)."""
    k = (float(motion) - 0.6) / 0.4
    if k <= 0:
        return views
    m = _SWAY * min(1.0, k)
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    phases = rng.uniform(0, 2 * math.pi, size=8)
    fx, fy = (0.23, 0.51, 0.87), (0.19, 0.43, 0.97)
    weights = (1.0, 0.5, 0.25)
    out = []
    for i, (v, t) in enumerate(zip(views, times)):
        r = 1.0 if ramp is None else ramp[i]
        gx = sum(w * math.sin(2 * math.pi * f * t + p) for w, f, p in zip(weights, fx, phases[:3])) / 1.75
        gy = sum(w * math.sin(2 * math.pi * f * t + p) for w, f, p in zip(weights, fy, phases[3:6])) / 1.75
        breath = 0.25 * math.sin(2 * math.pi * 0.13 * t + phases[6])  # a little zoom breathing
        shrink = 1.0 - m * r * (1.0 + 0.25) + m * r * breath
        # |gx|, |gy| <= 1 and the extra shrink leaves room for the offsets: windows stay inside.
        out.append(View(v.ox * shrink + m * r * v.sx * gx, v.oy * shrink + m * r * v.sy * gy,
                        v.sx * shrink, v.sy * shrink))
    return out


def shot_views(camera: str, amplitude: float, frames: int, fps: float, *, motion: float = 0.5,
               seed: int = 0) -> list[View]:
    """Views of a clip of ``frames`` frames made from one still (video.image_to_video)."""
    camera = check_camera(camera)
    a = max(0.0, float(amplitude))
    ts = [i / (frames - 1) if frames > 1 else 0.0 for i in range(frames)]
    views = _fit([_nominal(camera, a, ease(t)) for t in ts])
    return _sway(views, [i / fps for i in range(frames)], motion, seed)


def extend_views(camera: str, amplitude: float, frames: int, fps: float, *, motion: float = 0.5,
                 seed: int = 0, start: View = View()) -> list[View]:
    """Views continuing from ``start`` (the source's last frame): frame i is at t = (i + 1) / frames.

    Every move begins exactly at ``start`` and moves away from it monotonically: pan, tilt and orbit
    ease from the whole frame into their end framing (a push combined with the lateral travel).
    """
    camera = check_camera(camera)
    a = max(0.0, float(amplitude))
    ts = [(i + 1) / frames for i in range(frames)]
    if camera == "pull_out":  # on a padded canvas (``padded_canvas``) whose centre is the frame
        views = [View(0.0, 0.0, start.sx ** (1.0 - ease(t)), start.sy ** (1.0 - ease(t))) for t in ts]
    elif camera in ("static", "push_in"):  # both begin on the whole frame
        views = [_nominal(camera, a, ease(t)) for t in ts]
    else:
        full = _fit([_nominal(camera, a, ease(j / 64)) for j in range(65)])
        end = full[-1]
        views = []
        for t in ts:
            e = ease(t)
            v = start.lerp(end, e)
            if camera.startswith("orbit"):
                k = 1.0 / (1.0 + _ORBIT_PUSH * a * math.sin(math.pi * e))  # shrink in place: still inside
                v = View(v.ox, v.oy, v.sx * k, v.sy * k)
            views.append(v)
    ramp = [ease(min(1.0, t / 0.3)) for t in ts]
    return _sway(views, [(i + 1) / fps for i in range(frames)], motion, seed, ramp)


def supersample_factor(width: int, height: int, budget: float = 48e6) -> int:
    """Largest odd factor <= 7 whose upsampled 4:2:0 planes stay under ``budget`` bytes (1: none)."""
    for s in (7, 5, 3):
        if 1.5 * width * height * s * s <= budget:
            return s
    return 1


def without_boxes(picture: Image.Image, boxes) -> Image.Image:
    """``picture`` with each box (x0, y0, x1, y1) refilled by stretching the pixel rows just beside it
    on the side facing the middle of the frame, softened: the scene seems to go on behind the text."""
    out = picture.convert("RGB").copy()
    W, H = out.size
    for b in boxes:
        x0, y0 = max(0, int(b[0])), max(0, int(b[1]))
        x1, y1 = min(W, math.ceil(b[2])), min(H, math.ceil(b[3]))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        if (y0 + y1) / 2 < H / 2 and y1 + 2 <= H:
            strip = out.crop((x0, y1, x1, y1 + 2))
        elif y0 - 2 >= 0:
            strip = out.crop((x0, y0 - 2, x1, y0))
        else:
            continue
        fill = strip.resize((x1 - x0, y1 - y0), Image.BILINEAR).filter(ImageFilter.GaussianBlur(2))
        out.paste(fill, (x0, y0))
    return out


class Renderer:
    """Renders views of one RGB picture at the output size, as Y, Cb, Cr planes (see the module
    docstring and ``common.yuv``): each frame is a tuple of three "L" images, Y at the output size and the
    chroma planes at half of it."""

    def __init__(self, picture: Image.Image, size: tuple[int, int], pinned=()):
        self.size = (int(size[0]), int(size[1]))
        self.planes = rgb_to_planes(picture)
        self._s = supersample_factor(*picture.size)
        self._big: list[Image.Image] | None = None
        self._last: tuple[View, tuple] | None = None
        self._pins = self._pin_patches(picture.size, pinned)
        if self._pins:
            # the moving picture must not carry the text too (a second, displaced copy would show
            # beside the pinned one): fill the text boxes from the pixels next to them first
            self.planes = rgb_to_planes(without_boxes(picture, pinned))
            self._big, self._last = None, None

    def _pin_patches(self, source: tuple[int, int], boxes) -> list:
        """Patches of the unmoved frame at ``boxes`` (source pixels: the draft keyframe's shot label,
        seed tag and caption band), pasted back on every frame so text stays put and uncropped while
        the scene moves under it. Boxes snap outwards to even pixels to keep the half-size chroma aligned."""
        if not boxes:
            return []
        W, H = self.size
        kx, ky = W / source[0], H / source[1]
        still = self._frame(View())
        patches = []
        for b in boxes:
            x0, y0 = int(b[0] * kx) // 2 * 2, int(b[1] * ky) // 2 * 2
            x1, y1 = min(W, -(-math.ceil(b[2] * kx) // 2) * 2), min(H, -(-math.ceil(b[3] * ky) // 2) * 2)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            patches.append(tuple((p.crop((x0 // d, y0 // d, x1 // d, y1 // d)), (x0 // d, y0 // d))
                                 for p, d in zip(still, (1, 2, 2))))
        return patches

    def _upsampled(self) -> list[Image.Image]:
        if self._big is None:
            self._big = [p if self._s == 1 else p.resize((p.width * self._s, p.height * self._s),
                                                         Image.BICUBIC) for p in self.planes]
        return self._big

    def render(self, v: View) -> tuple[Image.Image, Image.Image, Image.Image]:
        """The frame for view ``v`` (the same planes again for the same view), pinned text on top."""
        if self._last is not None and self._last[0] == v:
            return self._last[1]
        frame = self._frame(v)
        if self._pins and v != View():  # a moved frame is a fresh image: safe to paste on
            for patch in self._pins:
                for plane, (img, at) in zip(frame, patch):
                    plane.paste(img, at)
        self._last = (v, frame)
        return frame

    def _frame(self, v: View) -> tuple:
        W, H = self.size
        outs = ((W, H), (W // 2, H // 2), (W // 2, H // 2))
        if v == View() and all(p.size == o for p, o in zip(self.planes, outs)):
            frame = tuple(self.planes)
        else:
            s = self._s
            frame = []
            for plane, big, (w, h) in zip(self.planes, self._upsampled(), outs):
                ws, hs = plane.size
                coeffs = (s * v.sx * ws / w, 0.0, s * ws / 2.0 * (1.0 + v.ox - v.sx),
                          0.0, s * v.sy * hs / h, s * hs / 2.0 * (1.0 + v.oy - v.sy))
                # nearest on the upsampled plane = bicubic at 1/s pixel; s == 1: plain bicubic
                frame.append(big.transform((w, h), Image.AFFINE, coeffs,
                                           Image.BICUBIC if s == 1 else Image.NEAREST))
            frame = tuple(frame)
        return frame


def blend(a: tuple, b: tuple, w: float) -> tuple:
    """Cross-fade two frames of planes (``w`` = 0: a, 1: b)."""
    if w <= 0.0:
        return a
    if w >= 1.0:
        return b
    return tuple(Image.blend(p, q, w) for p, q in zip(a, b))


def fit_picture(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``img`` resized to cover ``size`` exactly (centre crop when the aspect differs)."""
    img = img.convert("RGB")
    if img.size == tuple(size):
        return img
    W, H = size
    w, h = img.size
    scale = max(W / w, H / h)
    cw, ch = min(w, W / scale), min(h, H / scale)
    # clamped: float rounding can put the box a hair outside the picture, which Pillow refuses
    box = (max(0.0, (w - cw) / 2), max(0.0, (h - ch) / 2), min(w, (w + cw) / 2), min(h, (h + ch) / 2))
    return img.resize((W, H), Image.LANCZOS, box=box)


def padded_canvas(frame: Image.Image, amplitude: float) -> tuple[Image.Image, View]:
    """A draft "outpainting" for pulling out of a frame: the frame in the middle of a soft, mirrored,
    slightly darkened surround. Returns the canvas and the view that shows exactly the frame."""
    W, H = frame.size
    a = max(0.0, float(amplitude))
    px, py = int(round(W * a / 2)), int(round(H * a / 2))
    if px == 0 and py == 0:
        return frame, View()
    arr = np.asarray(frame.convert("RGB"))
    # mirror the frame outwards ("symmetric" reflects again if the border is wider than the frame)
    pad = np.pad(arr, ((py, py), (px, px), (0, 0)), mode="symmetric")
    canvas = Image.fromarray(pad)
    far = max(2.0, 0.02 * max(W, H) + 0.25 * max(px, py))
    light = np.asarray(canvas.filter(ImageFilter.GaussianBlur(max(1.0, far / 8))), dtype=np.float32)
    soft = np.asarray(canvas.filter(ImageFilter.GaussianBlur(far)), dtype=np.float32)
    Hc, Wc = pad.shape[:2]
    # 0 at the frame's edge .. 1 at the canvas edge: softer and darker further out
    dx = np.maximum(0, np.maximum(px - np.arange(Wc), np.arange(Wc) - (px + W - 1))) / max(1, px)
    dy = np.maximum(0, np.maximum(py - np.arange(Hc), np.arange(Hc) - (py + H - 1))) / max(1, py)
    d = np.minimum(1.0, np.hypot(dx[None, :], dy[:, None]))[..., None]
    mix = np.minimum(1.0, d * 3.0)
    mix = mix * mix * (3.0 - 2.0 * mix)
    surround = (light * (1.0 - mix) + soft * mix) * (1.0 - 0.3 * d)
    out = np.clip(surround + 0.5, 0, 255).astype(np.uint8)
    out[py:py + H, px:px + W] = arr
    return Image.fromarray(out), View(0.0, 0.0, W / Wc, H / Hc)
