"""Fonts, colours and text layout for draft frames and burned-in captions (Pillow only)."""

from __future__ import annotations

import colorsys
import hashlib
from functools import lru_cache


@lru_cache(maxsize=32)
def font(size: int):
    """A scalable sans font at ``size`` px: Pillow's bundled one, so no system fonts are needed."""
    from PIL import ImageFont
    return ImageFont.load_default(size=max(6, int(size)))


def stable_int(*parts) -> int:
    """A deterministic integer from any values (Python's hash() changes between processes)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big")


def hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return int(r * 255), int(g * 255), int(b * 255)


def wrap(text: str, fnt, max_width: int, max_lines: int | None = None) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels; the last line gets an ellipsis when cut."""
    words = text.split()
    lines: list[str] = []
    line = ""
    for word in words:
        trial = f"{line} {word}".strip()
        if not line or fnt.getlength(trial) <= max_width:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and fnt.getlength(last + "…") > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def caption_image(text: str, width: int, height: int, *, font_size: int | None = None,
                  position: str = "bottom"):
    """A transparent RGBA overlay (width×height) with ``text`` in a legible box near the bottom/top."""
    from PIL import Image, ImageDraw
    size = font_size or max(14, round(height * 0.045))
    fnt = font(size)
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    lines = wrap(text, fnt, int(width * 0.86), max_lines=3)
    if not lines:
        return img
    draw = ImageDraw.Draw(img)
    line_h = round(size * 1.25)
    box_h = line_h * len(lines) + round(size * 0.6)
    box_w = max(fnt.getlength(line) for line in lines) + size * 1.2
    x0 = (width - box_w) / 2
    y0 = height - box_h - round(height * 0.06) if position == "bottom" else round(height * 0.06)
    draw.rounded_rectangle([x0, y0, x0 + box_w, y0 + box_h], radius=round(size * 0.35),
                           fill=(0, 0, 0, 150))
    y = y0 + round(size * 0.3)
    for line in lines:
        w = fnt.getlength(line)
        draw.text(((width - w) / 2, y), line, font=fnt, fill=(255, 255, 255, 255),
                  stroke_width=max(1, size // 16), stroke_fill=(0, 0, 0, 255))
        y += line_h
    return img
