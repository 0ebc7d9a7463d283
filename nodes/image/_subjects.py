"""More subjects for the draft keyframe: a panda, a ship, a train, a table, flowers, playing cards, a lamp.

Drawn in the draft's style (flat silhouettes with a rim light, a few lit colours where the subject is
recognised by them: a panda's black and white, blooms, white cards, a lamp's glow). ``behind`` draws what
stands behind the people (ship, train, panda); ``front`` what stands before them (table and what is on it,
flowers, a lamp). No randomness: positions follow the layout, so the same prompt and seed give the same
pixels, and a frame without these subjects is untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from ._keyframe import Palette, Shapes, glow, mix, shade
from ._scene import Scene


@dataclass
class Stage:
    """Where the frame's layout put things (frame pixels)."""

    W: int
    H: int
    horizon: float
    ground_y: float
    bottom: float  # the top of the caption band
    feet: float  # where the main subject stands
    h: float  # a standing person's height at that distance
    subj_x: float
    light_x: float
    facing: int  # which way the subjects look (+1: right)
    interior: bool
    hands: list[tuple[float, float]]
    sil: tuple[int, int, int]
    rim: tuple[int, int, int]
    rim_offset: tuple[int, int]

    @property
    def S(self) -> float:
        return min(self.W, self.H)

    @property
    def other_x(self) -> float:
        """The third of the frame the main subject leaves free."""
        return self.W - self.subj_x


def _inside(x: float, half: float, W: float) -> float:
    """``x`` moved so that something ``half`` wide either side of it stays in the frame (centred if too wide)."""
    return W / 2 if 2 * half >= W else min(max(x, half), W - half)


def _occupied(scene: Scene) -> bool:
    return bool(scene.people or scene.animal)


def _lit(pal: Palette, c) -> tuple[int, int, int]:
    """A light surface colour under the frame's light (white cards are dim at night)."""
    return mix(shade(c, 0.45 + 0.55 * pal.exposure), pal.light, 0.15)


def _silhouette(img: Image.Image, s: Shapes, st: Stage, colour=None) -> None:
    s.paint(img, st.rim, 0.85, offset=st.rim_offset)
    s.paint(img, colour or st.sil)


# ----------------------------------------------------------------------------------------------
# behind the people

def behind(img: Image.Image, scene: Scene, pal: Palette, st: Stage) -> Image.Image:
    if scene.has("ship") and not st.interior:
        _ship_in_frame(img, scene, pal, st)
    if scene.has("train") and not st.interior:
        img = _train_in_frame(img, scene, pal, st)
    if scene.has("panda"):
        alone = not _occupied(scene)
        size = st.S * (0.8 if scene.framing == "close" else 0.62) if alone else st.h * 0.6
        if scene.framing == "wide":
            size = st.S * 0.24
        x = _inside(st.subj_x if alone else st.other_x, size * 0.42, st.W)
        panda(img, pal, x, min(st.bottom * 0.99, st.feet), size, st.facing if alone else -st.facing, st)
    if scene.has("bird") and not _occupied(scene) and not ({"panda", "ship", "train"} & scene.tags):
        b = Shapes((st.W, st.H))  # the bird is the subject: perched on a branch, large (the flock stays too)
        size = st.S * (0.2 if scene.framing == "wide" else 0.5 if scene.framing != "close" else 0.8)
        perched_bird(b, st.subj_x, st.H * 0.56, size, st.facing, st.W)
        _silhouette(img, b, st)
    return img


def sitting_cat(s: Shapes, x: float, feet: float, size: float, f: int) -> None:
    """A cat sitting ``size`` tall, seen side on, its head turned toward ``f``."""
    u = size / 100.0
    s.ellipse(x - 24 * u, feet - 56 * u, x + 20 * u, feet)  # haunches
    s.ellipse(x + f * 6 * u - 12 * u, feet - 74 * u, x + f * 6 * u + 12 * u, feet - 26 * u)  # chest
    s.rect(x + f * 10 * u - 4 * u, feet - 40 * u, x + f * 10 * u + 4 * u, feet - 1 * u)  # front leg
    s.ellipse(x + f * 10 * u - 5 * u, feet - 5 * u, x + f * 10 * u + 8 * u, feet + 0.5 * u)
    hx, hy = x + f * 9 * u, feet - 82 * u
    s.ellipse(hx - 14 * u, hy - 12 * u, hx + 14 * u, hy + 11 * u)  # head
    s.poly([(hx + f * 8 * u, hy + 1 * u), (hx + f * 18 * u, hy + 5 * u), (hx + f * 8 * u, hy + 8 * u)])  # muzzle
    for dx in (-7, 8):  # pointed ears
        ex = hx + dx * u
        s.poly([(ex - 6 * u, hy - 7 * u), (ex + f * 1 * u, hy - 26 * u), (ex + 6 * u, hy - 7 * u)])
    s.line([(x - f * 18 * u, feet - 6 * u), (x - f * 34 * u, feet - 4 * u), (x - f * 42 * u, feet - 14 * u),
            (x - f * 40 * u, feet - 30 * u)], width=5 * u)  # the tail, curled up at the end
    s.circle(x - f * 40 * u, feet - 30 * u, 2.5 * u)


def perched_bird(s: Shapes, x: float, perch_y: float, size: float, f: int, W: float) -> None:
    """A songbird ``size`` long sitting on a branch that reaches in from the frame's edge behind it."""
    u = size / 100.0
    edge = -5 if f > 0 else W + 5
    s.line([(edge, perch_y + 6 * u), (x - f * 10 * u, perch_y + 1 * u), (x + f * 40 * u, perch_y - 3 * u)],
           width=4.5 * u)
    s.line([(x + f * 22 * u, perch_y - 1 * u), (x + f * 34 * u, perch_y - 12 * u)], width=2.4 * u)  # a twig
    s.ellipse(x - 24 * u, perch_y - 40 * u, x + 22 * u, perch_y - 6 * u)  # body
    hx, hy = x + f * 18 * u, perch_y - 42 * u
    s.circle(hx, hy, 13 * u)  # head
    s.poly([(hx + f * 10 * u, hy - 4 * u), (hx + f * 26 * u, hy + 2 * u), (hx + f * 10 * u, hy + 6 * u)])  # beak
    s.poly([(x - f * 14 * u, perch_y - 30 * u), (x - f * 52 * u, perch_y - 2 * u), (x - f * 44 * u, perch_y + 6 * u),
            (x - f * 8 * u, perch_y - 14 * u)])  # tail
    s.poly([(x - f * 14 * u, perch_y - 36 * u), (x + f * 12 * u, perch_y - 34 * u), (x - f * 30 * u, perch_y - 12 * u)])
    for dx in (-4, 6):  # legs gripping the branch
        s.line([(x + f * dx * u, perch_y - 10 * u), (x + f * dx * u, perch_y)], width=2.0 * u)


def ship(s: Shapes, x: float, water_y: float, L: float, f: int) -> tuple[float, float]:
    """A steamship side on, ``L`` long, bow toward ``f``; returns the top of its funnel."""
    s.poly([(x - f * 0.5 * L, water_y - 0.13 * L), (x + f * 0.56 * L, water_y - 0.17 * L),
            (x + f * 0.44 * L, water_y + 0.03 * L), (x - f * 0.44 * L, water_y + 0.03 * L)])
    s.rect(min(x - f * 0.32 * L, x + f * 0.16 * L), water_y - 0.23 * L, max(x - f * 0.32 * L, x + f * 0.16 * L),
           water_y - 0.12 * L)  # the deckhouse
    s.rect(min(x - f * 0.04 * L, x + f * 0.14 * L), water_y - 0.31 * L, max(x - f * 0.04 * L, x + f * 0.14 * L),
           water_y - 0.22 * L)  # the bridge
    fx = x - f * 0.14 * L
    s.poly([(fx - 0.05 * L, water_y - 0.22 * L), (fx + 0.05 * L, water_y - 0.22 * L),
            (fx + 0.04 * L - f * 0.03 * L, water_y - 0.43 * L), (fx - 0.06 * L - f * 0.03 * L, water_y - 0.43 * L)])
    for mx, top in ((x + f * 0.38 * L, 0.5), (x - f * 0.42 * L, 0.38)):  # masts and the stay between them
        s.line([(mx, water_y - 0.14 * L), (mx, water_y - top * L)], width=max(1.0, 0.012 * L))
    s.line([(x + f * 0.38 * L, water_y - 0.5 * L), (x + f * 0.56 * L, water_y - 0.17 * L)], width=max(1.0, 0.005 * L))
    s.line([(x - f * 0.42 * L, water_y - 0.38 * L), (x + f * 0.38 * L, water_y - 0.5 * L)], width=max(1.0, 0.005 * L))
    return fx - f * 0.01 * L, water_y - 0.43 * L


def _ship_in_frame(img: Image.Image, scene: Scene, pal: Palette, st: Stage) -> None:
    alone = not _occupied(scene) and not scene.has("panda")
    wide = scene.framing == "wide"
    L = st.S * ((0.3 if wide else 0.78) if alone else 0.34)
    x = _inside(st.subj_x if alone else st.other_x, L * 0.6, st.W)
    wy = st.horizon + max(st.bottom - st.horizon, st.H * 0.06) * (0.45 if alone and not wide else 0.12)
    s = Shapes((st.W, st.H))
    fx, fy = ship(s, x, wy, L, st.facing if alone else -st.facing)
    _silhouette(img, s, st)
    smoke = Shapes((st.W, st.H))
    for k in range(4):  # a trail of smoke drifting away from the bow
        smoke.circle(fx - st.facing * k * 0.06 * L, fy - (0.05 + 0.04 * k) * L, (0.035 + 0.015 * k) * L)
    smoke.paint(img, mix(pal.horizon, (200, 200, 204), 0.5), 0.55, blur=L * 0.01)
    ports = Shapes((st.W, st.H))  # a row of portholes, lit when the light is low
    for k in range(9):
        ports.circle(x + (k - 4) * 0.085 * L, wy - 0.07 * L, 0.012 * L)
    ports.paint(img, (255, 226, 150) if pal.exposure < 0.6 else mix(pal.horizon, (255, 255, 255), 0.4), 0.9)


def train(s: Shapes, front_x: float, rail_y: float, car: float, f: int, cars: int = 3) -> tuple[float, float]:
    """A steam train side on, its engine's front at ``front_x`` running toward ``f``, each car ``car`` long;
    returns the top of its chimney."""
    h = car * 0.34
    wr = h * 0.2
    x0 = front_x - f * car * 0.9  # the engine: boiler, cab, chimney, cowcatcher
    s.rect(min(x0, front_x - f * car * 0.1), rail_y - h * 0.85, max(x0, front_x - f * car * 0.1),
           rail_y - wr * 0.9, radius=h * 0.25)
    s.rect(min(x0, x0 + f * car * 0.28), rail_y - h * 1.25, max(x0, x0 + f * car * 0.28), rail_y - wr * 0.9)
    s.rect(min(x0 - f * car * 0.03, x0 + f * car * 0.31), rail_y - h * 1.35, max(x0 - f * car * 0.03,
           x0 + f * car * 0.31), rail_y - h * 1.22)  # the cab's roof
    cx = front_x - f * car * 0.26
    s.poly([(cx - h * 0.12, rail_y - h * 0.8), (cx + h * 0.12, rail_y - h * 0.8), (cx + h * 0.18, rail_y - h * 1.25),
            (cx - h * 0.18, rail_y - h * 1.25)])
    s.poly([(front_x - f * car * 0.1, rail_y - h * 0.5), (front_x + f * car * 0.02, rail_y - wr * 0.3),
            (front_x - f * car * 0.1, rail_y - wr * 0.3)])
    for k in range(3):
        s.circle(x0 + f * car * (0.15 + 0.25 * k), rail_y - wr, wr)
    for i in range(1, cars):  # the carriages, with their couplings
        cx0 = front_x - f * (car * 0.9 + 0.04 * car + (i - 1) * car * 1.04)
        cx1 = cx0 - f * car
        s.rect(min(cx0, cx1), rail_y - h * 1.15, max(cx0, cx1), rail_y - wr * 0.9, radius=h * 0.08)
        s.rect(min(cx0, cx0 + f * 0.05 * car), rail_y - h * 0.45, max(cx0, cx0 + f * 0.05 * car), rail_y - h * 0.35)
        for wx in (0.2, 0.8):
            s.circle(cx0 - f * car * wx, rail_y - wr, wr)
    s.rect(-5, rail_y - max(1.0, wr * 0.15), 10_000, rail_y + max(1.0, wr * 0.15))  # the rails
    return cx, rail_y - h * 1.25


def _train_in_frame(img: Image.Image, scene: Scene, pal: Palette, st: Stage) -> Image.Image:
    alone = not _occupied(scene) and not scene.has("panda")
    wide = scene.framing == "wide"
    car = st.S * ((0.22 if wide else 0.46) if alone else 0.26)
    rail_y = st.ground_y + max(st.bottom - st.ground_y, st.H * 0.06) * (0.6 if alone and not wide else 0.12)
    f = st.facing
    front = st.W * 0.5 + f * (st.W * 0.5 - car * 0.35) if alone else st.other_x + f * car * 0.9
    s = Shapes((st.W, st.H))
    cx, cy = train(s, front, rail_y, car, f, cars=3 if alone else 4)
    _silhouette(img, s, st)
    h = car * 0.34
    win = Shapes((st.W, st.H))  # the carriages' windows and the engine's lamp
    for i in range(1, 4 if alone else 5):
        cx0 = front - f * (car * 0.9 + 0.04 * car + (i - 1) * car * 1.04)
        for k in range(4):
            wx = cx0 - f * car * (0.1 + 0.22 * k)
            win.rect(min(wx, wx - f * car * 0.15), rail_y - h * 0.95, max(wx, wx - f * car * 0.15), rail_y - h * 0.62,
                     radius=h * 0.05)
    win.paint(img, (255, 222, 150) if pal.exposure < 0.6 else mix(pal.horizon, (255, 255, 255), 0.35))
    if pal.exposure < 0.6:
        img = glow(img, front - f * car * 0.08, rail_y - h * 0.55, car * 0.15, (255, 236, 180), 0.8)
    steam = Shapes((st.W, st.H))
    for k in range(5):
        steam.circle(cx - f * k * h * 0.45, cy - h * (0.3 + 0.22 * k), h * (0.2 + 0.07 * k))
    steam.paint(img, mix(pal.horizon, (235, 235, 238), 0.6), 0.7, blur=h * 0.04)
    return img


def panda(img: Image.Image, pal: Palette, x: float, feet: float, size: float, f: int, st: Stage) -> None:
    """A giant panda sitting up, ``size`` tall, turned a little toward ``f``, holding a bamboo stalk."""
    u = size / 100.0
    W, H = img.size
    white, black = _lit(pal, (238, 236, 226)), mix(shade(pal.silhouette, 0.8), (14, 14, 16), 0.5)
    bamboo = Shapes((W, H))
    bx = x + f * 30 * u
    bamboo.line([(bx, feet - 4 * u), (bx + f * 10 * u, feet - 108 * u)], width=3.2 * u)
    for k, t in enumerate((0.35, 0.6, 0.85)):
        px, py = bx + f * 10 * u * t, feet - 4 * u - 104 * u * t
        bamboo.poly([(px, py), (px + f * 16 * u, py - (6 + 3 * k) * u), (px + f * 4 * u, py - 2 * u)])
    bamboo.paint(img, mix(shade((70, 140, 60), 0.35 + 0.65 * pal.exposure), pal.light, 0.1))
    body, dark = Shapes((W, H)), Shapes((W, H))
    hx, hy = x + f * 4 * u, feet - 74 * u
    body.ellipse(x - 30 * u, feet - 66 * u, x + 30 * u, feet - 2 * u)  # the body, sitting
    body.ellipse(hx - 22 * u, hy - 19 * u, hx + 22 * u, hy + 18 * u)  # the head
    for side in (-1, 1):
        dark.circle(hx + side * 16 * u, hy - 16 * u, 7.5 * u)  # ears
        ex = hx + side * 8.5 * u + f * 1.5 * u
        dark.poly([(ex - 5 * u, hy - 5 * u), (ex + 5 * u, hy - 5 * u), (ex + 5.5 * u + side * 1.5 * u, hy + 5 * u),
                   (ex - 5.5 * u + side * 1.5 * u, hy + 5 * u)])  # eye patches, drooping outward
        dark.circle(ex, hy, 5.4 * u)
        dark.ellipse(x + side * 30 * u - 12 * u, feet - 16 * u, x + side * 30 * u + 12 * u, feet + 1 * u)  # feet
        dark.line([(x + side * 22 * u, feet - 58 * u), (x + side * 25 * u, feet - 38 * u),
                   (x + side * 16 * u + f * 6 * u, feet - 26 * u)], width=14 * u)  # arms, hanging to the lap
    dark.ellipse(x - 30 * u, feet - 64 * u, x + 30 * u, feet - 48 * u)  # the black band over the shoulders
    dark.ellipse(hx + f * 3 * u - 4 * u, hy + 6 * u, hx + f * 3 * u + 4 * u, hy + 10 * u)  # nose
    outline = Shapes((W, H))
    outline.mask.paste(255, (0, 0), body.mask)
    outline.mask.paste(255, (0, 0), dark.mask)
    outline.paint(img, st.rim, 0.85, offset=st.rim_offset)
    body.paint(img, white)
    dark.paint(img, black)
    shine = Shapes((W, H))
    for side in (-1, 1):
        shine.circle(hx + side * 8.5 * u + f * 2.5 * u, hy - 0.5 * u, 1.6 * u)
    shine.paint(img, white)


# ----------------------------------------------------------------------------------------------
# in front of the people

def front(img: Image.Image, scene: Scene, pal: Palette, st: Stage) -> Image.Image:
    top = None
    if scene.has("table"):
        top = _table_in_frame(img, scene, st)
    spots = _places_on(top) if top else None
    if scene.has("flowers"):
        if spots:
            x, y, w = spots.pop(0)
            flowers(img, scene, pal, x, y, w * 1.7, st, vase=True)
        else:
            alone = not _occupied(scene) and not scene.has("panda") and not scene.has("cards")
            x = st.subj_x if alone else st.other_x
            flowers(img, scene, pal, x, min(st.bottom * 0.99, st.feet + st.S * 0.02), st.S * (0.55 if alone else 0.3),
                    st, vase=st.interior)
    if scene.has("cards"):
        if spots:
            x, y, w = spots.pop(0)
            cards(img, pal, x, y - w * 0.1, w * 1.5, lying=False)
        else:
            alone = not _occupied(scene) and not scene.has("panda")
            x = st.subj_x if alone else st.W * 0.5
            y = st.H * 0.62 if alone else min(st.bottom * 0.95, st.feet)
            cards(img, pal, x, y, st.S * (0.5 if alone else 0.26), lying=False)
    if scene.has("lamp") and not st.hands:  # with people, the existing lantern in hand shows it
        if spots:
            x, y, w = spots.pop(0)
            img = lamp(img, pal, x, y, w * 0.9, st, standing=False)
        else:
            alone = not _occupied(scene) and not scene.has("panda")
            img = lamp(img, pal, st.subj_x if alone else st.other_x, min(st.bottom * 0.99, st.feet),
                       st.S * (0.7 if alone else 0.55), st, standing=True)
    return img


def table(s: Shapes, x: float, floor: float, width: float, height: float) -> tuple[float, float, float, float]:
    """A table seen a little from above; returns its top surface's box."""
    t = height * 0.09
    top_y = floor - height
    depth = width * 0.16
    s.poly([(x - width * 0.44, top_y - depth), (x + width * 0.44, top_y - depth), (x + width * 0.5, top_y),
            (x - width * 0.5, top_y)])
    s.rect(x - width * 0.5, top_y, x + width * 0.5, top_y + t)
    for dx in (-0.43, 0.43):
        s.rect(x + dx * width - width * 0.025, top_y + t, x + dx * width + width * 0.025, floor)
    for dx in (-0.34, 0.34):  # the back legs, shorter
        s.rect(x + dx * width - width * 0.02, top_y + t, x + dx * width + width * 0.02, floor - depth * 0.8)
    return x - width * 0.44, top_y - depth, x + width * 0.44, top_y


def _table_in_frame(img: Image.Image, scene: Scene, st: Stage):
    if scene.people and scene.framing != "close":  # they stand or sit behind it
        width, height, x = st.h * (0.55 + 0.3 * min(scene.people, 3)), st.h * 0.4, st.subj_x
        floor = min(st.bottom * 0.99, st.feet + st.h * 0.05)
    else:
        width, height = st.S * 0.62, st.S * 0.3
        x = st.subj_x if not _occupied(scene) else st.other_x
        floor = min(st.bottom * 0.99, max(st.feet, st.ground_y + st.S * 0.2))
    s = Shapes((st.W, st.H))
    box = table(s, x, floor, width, height)
    _silhouette(img, s, st)
    surface = Shapes((st.W, st.H))
    surface.poly([(box[0], box[1]), (box[2], box[1]), (box[2] + width * 0.06, box[3]), (box[0] - width * 0.06, box[3])])
    surface.paint(img, mix(st.sil, st.rim, 0.22))
    return box


def _places_on(box) -> list[tuple[float, float, float]]:
    """Spots along a table top: (x, y, room) for up to three things, the middle one first."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    y = (y0 + y1) / 2
    return [(x0 + w * 0.5, y, w * 0.3), (x0 + w * 0.18, y, w * 0.3), (x0 + w * 0.82, y, w * 0.3)]


_BLOOMS = ((0.97, 0.65, 0.95), (0.12, 0.8, 1.0), (0.0, 0.75, 0.9), (0.85, 0.45, 0.95), (0.6, 0.05, 1.0))


def flowers(img: Image.Image, scene: Scene, pal: Palette, x: float, base: float, size: float, st: Stage,
            vase: bool) -> None:
    """A bunch of flowers ``size`` tall standing at ``base``: in a vase, or growing from the ground."""
    from reelgraph.nodes.common.draw import hsv
    W, H = img.size
    u = size / 100.0
    stems = Shapes((W, H))
    heads = [(-22, -78), (-8, -92), (8, -86), (22, -74), (0, -70), (-14, -64), (15, -62)]
    neck = base - (34 * u if vase else 0)
    for dx, dy in heads:
        stems.line([(x + dx * 0.15 * u, neck), (x + dx * 0.6 * u, base + (dy * 0.55) * u), (x + dx * u, base + dy * u)],
                   width=2.2 * u)
        stems.poly([(x + dx * 0.55 * u, base + dy * 0.5 * u), (x + dx * 0.55 * u + (8 if dx >= 0 else -8) * u,
                                                               base + dy * 0.5 * u - 6 * u),
                    (x + dx * 0.55 * u + (2 if dx >= 0 else -2) * u, base + dy * 0.5 * u - 1 * u)])  # leaves
    stems.paint(img, mix(shade((52, 110, 48), 0.3 + 0.7 * pal.exposure), st.sil, 0.3))
    if vase:
        v = Shapes((W, H))
        v.poly([(x - 9 * u, base - 36 * u), (x + 9 * u, base - 36 * u), (x + 6 * u, base - 30 * u),
                (x + 14 * u, base - 14 * u), (x + 10 * u, base), (x - 10 * u, base), (x - 14 * u, base - 14 * u),
                (x - 6 * u, base - 30 * u)])
        _silhouette(img, v, st, mix(st.sil, pal.accent, 0.35))
    colours = [hsv(*c) for c in scene.colours] or [hsv(*c) for c in _BLOOMS]
    for i, (dx, dy) in enumerate(heads):
        bloom = Shapes((W, H))
        cx, cy, r = x + dx * u, base + dy * u, 6.5 * u
        for k in range(5):
            a = k * 2 * math.pi / 5 + i
            bloom.circle(cx + math.cos(a) * r * 0.62, cy + math.sin(a) * r * 0.62, r * 0.55)
        bloom.paint(img, _lit(pal, colours[i % len(colours)]))
        heart = Shapes((W, H))
        heart.circle(cx, cy, r * 0.3)
        heart.paint(img, _lit(pal, (250, 200, 60)))


def cards(img: Image.Image, pal: Palette, x: float, y: float, size: float, lying: bool) -> None:
    """Playing cards ``size`` wide: fanned in a hand (``lying``: spread on a table, seen from above)."""
    W, H = img.size
    cw, ch = size * 0.34, size * 0.48
    squash = 0.35 if lying else 1.0
    n = 5
    for i in range(n):
        a = math.radians((i - (n - 1) / 2) * (16 if not lying else 22))
        px, py = x, y + (ch * 0.55 if not lying else 0)

        def at(dx, dy, a=a, px=px, py=py):
            rx, ry = dx * math.cos(a) - dy * math.sin(a), dx * math.sin(a) + dy * math.cos(a)
            return px + rx, py + ry * squash

        card, edge, pip = Shapes((W, H)), Shapes((W, H)), Shapes((W, H))
        corners = [at(-cw / 2, -ch * 1.1), at(cw / 2, -ch * 1.1), at(cw / 2, -ch * 0.1), at(-cw / 2, -ch * 0.1)]
        edge.poly(corners)
        edge.paint(img, (40, 36, 40), 0.9, offset=(1, 1))
        card.poly(corners)
        card.paint(img, _lit(pal, (250, 248, 240)))
        cx, cy = at(0, -ch * 0.62)
        r = cw * 0.16
        if i % 2:  # hearts and spades, big enough to read
            pip.circle(cx - r * 0.5, cy - r * 0.2 * squash, r * 0.55)
            pip.circle(cx + r * 0.5, cy - r * 0.2 * squash, r * 0.55)
            pip.poly([(cx - r * 1.02, cy), (cx + r * 1.02, cy), (cx, cy + r * 1.1 * squash)])
            pip.paint(img, _lit(pal, (200, 30, 40)))
        else:
            pip.circle(cx - r * 0.5, cy + r * 0.2 * squash, r * 0.55)
            pip.circle(cx + r * 0.5, cy + r * 0.2 * squash, r * 0.55)
            pip.poly([(cx - r * 1.02, cy), (cx + r * 1.02, cy), (cx, cy - r * 1.1 * squash)])
            pip.rect(cx - r * 0.12, cy, cx + r * 0.12, cy + r * 0.9 * squash)
            pip.paint(img, (24, 22, 28))


def lamp(img: Image.Image, pal: Palette, x: float, base: float, size: float, st: Stage, standing: bool) -> Image.Image:
    """A lit lamp ``size`` tall at ``base``: a table lamp, or standing (a floor lamp inside, a street lamp out)."""
    W, H = img.size
    u = size / 100.0
    s, shade_ = Shapes((W, H)), Shapes((W, H))
    if standing and not st.interior:  # a street lamp: post, arm and lantern
        s.rect(x - 2.2 * u, base - 92 * u, x + 2.2 * u, base)
        s.rect(x - 5 * u, base - 8 * u, x + 5 * u, base)
        s.line([(x, base - 90 * u), (x + st.facing * 4 * u, base - 97 * u), (x + st.facing * 14 * u, base - 97 * u)],
               width=2.4 * u)
        lx, ly = x + st.facing * 14 * u, base - 88 * u
        shade_.poly([(lx - 7 * u, ly - 4 * u), (lx + 7 * u, ly - 4 * u), (lx + 4 * u, ly + 6 * u),
                     (lx - 4 * u, ly + 6 * u)])
        s.poly([(lx - 9 * u, ly - 4 * u), (lx + 9 * u, ly - 4 * u), (lx, ly - 10 * u)])
    else:
        tall = 100 if standing else 60
        s.rect(x - 1.8 * u, base - tall * 0.72 * u, x + 1.8 * u, base)
        s.ellipse(x - 12 * u, base - 5 * u, x + 12 * u, base + 1 * u)
        ly = base - tall * 0.72 * u - 12 * u
        lx = x
        shade_.poly([(x - 10 * u, ly - 12 * u), (x + 10 * u, ly - 12 * u), (x + 18 * u, ly + 10 * u),
                     (x - 18 * u, ly + 10 * u)])
    img = glow(img, lx, ly + 4 * u, size * 0.5, (255, 196, 120), 0.75 if pal.exposure < 0.7 else 0.45)
    _silhouette(img, s, st)
    shade_.paint(img, (255, 226, 160))
    return img
