"""Colours and seeds for draft frames, and the text engine all drawn text goes through (Pillow):
font fallback per character from the system's fonts (fontconfig), complex scripts shaped by raqm,
Unicode line breaking fitted to a width, and a warning naming the package when a glyph is missing."""

from __future__ import annotations

import bisect
import colorsys
import hashlib
import logging
import shutil
import subprocess
import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)


def stable_int(*parts) -> int:
    """A deterministic integer from any values (Python's hash() changes between processes)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big")


def hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return int(r * 255), int(g * 255), int(b * 255)


# ----------------------------------------------------------------------------------------------
# Text in any script. Each character is drawn with the first installed font that has it
# (fontconfig's charsets, read once with `fc-list`), complex scripts are shaped by raqm, lines
# break by Unicode's rules (between CJK characters, at spaces elsewhere, never before closing or
# after opening punctuation), and a glyph no font has is reported, naming the Debian package.

_EMOJI_STRIKE = 109  # Noto Color Emoji is a bitmap font with a single 109 px strike: drawn there, scaled


@dataclass(frozen=True)
class Face:
    """One installed font face and the code points it covers (inclusive ranges, sorted)."""

    path: str  # "" = Pillow's bundled font
    index: int
    family: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def covers(self, cp: int) -> bool:
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]

    @property
    def emoji(self) -> bool:
        return "emoji" in self.family.lower()


# Pillow's bundled font has Latin letters only: é, —, € already need a system font.
BUNDLED = Face("", 0, "Pillow's bundled font", (0x20,), (0x7E,))


def _parse_charset(spec: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    starts, ends = [], []
    for part in spec.split():
        a, _, b = part.partition("-")
        starts.append(int(a, 16))
        ends.append(int(b or a, 16))
    return tuple(starts), tuple(ends)


@lru_cache(maxsize=1)
def installed_faces() -> tuple[Face, ...]:
    """The regular, scalable faces fontconfig knows (one `fc-list` call per process); () without it."""
    if not shutil.which("fc-list"):
        return ()
    try:
        out = subprocess.run(["fc-list", "--format", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\t%{charset}\n"],
                             capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    faces = []
    for row in out.splitlines():
        parts = row.split("\t")
        if len(parts) != 5 or not parts[0].lower().endswith((".ttf", ".otf", ".ttc")):
            continue
        path, index, family, style, charset = parts
        if style not in ("Regular", "Book") or not charset.strip():
            continue
        faces.append(Face(path, int(index or 0), family, *_parse_charset(charset)))
    return tuple(sorted(faces, key=lambda f: (f.family, f.path, f.index)))


def _is_cjk(cp: int) -> bool:
    return (0x1100 <= cp <= 0x11FF or 0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF
            or 0xF900 <= cp <= 0xFAFF or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFFEF
            or 0x20000 <= cp <= 0x3FFFF)


def _is_emoji(cp: int) -> bool:
    return 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x1F1E6 <= cp <= 0x1F1FF


def package_for(ch: str) -> str:
    """The Debian package whose fonts draw ``ch``."""
    cp = ord(ch)
    if _is_cjk(cp):
        return "fonts-noto-cjk"
    if _is_emoji(cp):
        return "fonts-noto-color-emoji"
    return "fonts-noto-core"


def cjk_lang(text: str) -> str:
    """Which Noto CJK face suits ``text``: JP with kana, KR with hangul, else SC (Simplified Chinese)."""
    if any(0x3040 <= ord(c) <= 0x30FF for c in text):
        return "JP"
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF for c in text):
        return "KR"
    return "SC"


def _rank(face: Face, cp: int, lang: str) -> tuple:
    fam = face.family
    if face.emoji:
        score = 0 if _is_emoji(cp) else 9  # its digits and # are keycap parts, not text
    elif fam == "Noto Sans":
        score = 1
    elif fam == f"Noto Sans CJK {lang}":
        score = 2
    elif fam.startswith("Noto Sans") and "Mono" not in fam:
        score = 3
    elif fam.startswith("Noto"):
        score = 4
    elif fam.startswith("DejaVu Sans") and "Mono" not in fam:
        score = 5
    else:
        score = 6
    return score, fam, face.path, face.index


@lru_cache(maxsize=65536)
def face_for(cp: int, lang: str = "SC") -> Face | None:
    """The preferred installed face with a glyph for code point ``cp``; None when none has it."""
    found = [f for f in installed_faces() if f.covers(cp)]
    if found:
        return min(found, key=lambda f: _rank(f, cp, lang))
    return BUNDLED if BUNDLED.covers(cp) else None


def primary_face() -> Face:
    return face_for(ord("A")) or BUNDLED


@lru_cache(maxsize=256)
def _pil_font(face: Face, size: int) -> tuple:
    """(Pillow font, scale): bitmap colour faces load at their strike and are scaled by ``scale``."""
    from PIL import ImageFont
    size = max(6, int(size))
    if not face.path:
        return ImageFont.load_default(size=size), 1.0
    engine = ImageFont.Layout.RAQM if _has_raqm() else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(face.path, size, index=face.index, layout_engine=engine), 1.0
    except OSError:  # "invalid pixel size": a bitmap-only face (colour emoji)
        return (ImageFont.truetype(face.path, _EMOJI_STRIKE, index=face.index, layout_engine=engine),
                size / _EMOJI_STRIKE)


@lru_cache(maxsize=1)
def _has_raqm() -> bool:
    from PIL import features
    return bool(features.check("raqm"))


def font(size: int):
    """The primary (Latin) font at ``size`` px: Noto Sans when installed, else Pillow's bundled one."""
    return _pil_font(primary_face(), int(size))[0]


# -- warnings: to the node that draws (``warnings_to(ctx.warn)``), else the log; each once

_sink: ContextVar[tuple | None] = ContextVar("reelgraph_text_warnings", default=None)
_logged: set[str] = set()


@contextmanager
def warnings_to(warn):
    """Send text warnings (missing fonts, cut captions) raised inside the block to ``warn`` (e.g.
    ``ctx.warn``), each at most once."""
    token = _sink.set((warn, set()))
    try:
        yield
    finally:
        _sink.reset(token)


def _warn(key: str, message: str, warn=None) -> None:
    sink = _sink.get()
    if warn is not None and (sink is None or sink[0] != warn):
        sink = (warn, set())
    if sink is None:
        if key not in _logged:
            _logged.add(key)
            log.warning(message)
        return
    fn, seen = sink
    if key not in seen:
        seen.add(key)
        fn(message)


def _snippet(text: str, n: int = 32) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


# -- runs: stretches of one line drawn with one face

@dataclass
class Run:
    text: str
    face: Face | None  # None: no installed face has these characters
    rtl: bool = False
    width: float = 0.0


_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def _sticks(ch: str, face: Face | None) -> bool:
    """Whether ``ch`` (a space, mark, punctuation or joiner) stays in the current run's face, so a
    phrase in Arabic or Chinese with its spaces and commas is shaped as one run."""
    if face is None or not face.covers(ord(ch)):
        return False
    cat = unicodedata.category(ch)
    if face.emoji:
        return ch in _JOINERS or cat in ("Mn", "Me", "Sk")
    return cat[0] in "ZPMC" or ch in _JOINERS


def _is_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def split_runs(text: str, lang: str = "SC") -> list[Run]:
    runs: list[Run] = []
    for ch in text:
        if runs and _sticks(ch, runs[-1].face):
            runs[-1].text += ch
            continue
        face = face_for(ord(ch), lang)
        if runs and runs[-1].face == face:
            runs[-1].text += ch
        else:
            runs.append(Run(ch, face))
    for r in runs:
        r.rtl = _is_rtl(r.text)
    return runs


def _font_of(run: Run, size: int) -> tuple:
    return _pil_font(run.face or primary_face(), size)


def _direction(run: Run, fnt):
    """The run's direction for raqm; None for a font laid out without it (Pillow refuses one there)."""
    from PIL import ImageFont
    if getattr(fnt, "layout_engine", None) != ImageFont.Layout.RAQM:
        return None
    return "rtl" if run.rtl else "ltr"


def _check_drawable(text: str, runs: list[Run], warn=None) -> None:
    missing = "".join(dict.fromkeys(c for r in runs if r.face is None for c in r.text if not c.isspace()))
    by_pkg: dict[str, str] = {}
    for c in missing:
        by_pkg[package_for(c)] = by_pkg.get(package_for(c), "") + c
    for pkg, chars in by_pkg.items():
        _warn(f"missing:{pkg}", f"no installed font draws {chars[:12]!r} (in '{_snippet(text)}'): they show "
              f"as boxes — install the fonts with `sudo apt-get install {pkg}` (or `make sysdeps`)", warn)
    if not _has_raqm() and any(unicodedata.bidirectional(c) in ("R", "AL") or 0x0900 <= ord(c) <= 0x0DFF
                               for c in text):
        _warn("raqm", f"Pillow here has no raqm text layout, so '{_snippet(text)}' is drawn unshaped "
              "(Arabic letters unjoined, right-to-left text reversed) — install libraqm0 "
              "(`sudo apt-get install libraqm0`)", warn)


@dataclass
class Line:
    """One laid-out line: its runs in visual order and its width in pixels."""

    text: str
    runs: list[Run]
    width: float


def shape_line(text: str, size: int, lang: str = "SC") -> Line:
    runs = split_runs(text, lang)
    for r in runs:
        fnt, scale = _font_of(r, size)
        r.width = fnt.getlength(r.text, direction=_direction(r, fnt)) * scale
    first = next((unicodedata.bidirectional(c) for c in text
                  if unicodedata.bidirectional(c) in ("L", "R", "AL")), "L")
    if first != "L":  # a right-to-left line: its runs go right to left
        runs = runs[::-1]
    return Line(text, runs, sum(r.width for r in runs))


def text_width(text: str, size: int, lang: str | None = None) -> float:
    """Width in pixels of ``text`` on one line at ``size`` px."""
    return shape_line(text, size, lang or cjk_lang(text)).width


# -- line breaking (the parts of Unicode's UAX #14 that captions meet)

_CLOSING = set("，。！？、）」』】〉》｝］〕〗〙〛｠〞：；・ー…‥,.!?;:)]}%'\"’”»›"
               "ヽヾゝゞ々〻ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")
_OPENING = set("（「『【〈《｛［〔〖〘〚｟〝([{\"‘“«‹¿¡")


def _wide(ch: str) -> bool:
    """Characters between which a line may break (ideographs, kana, hangul, fullwidth forms, emoji)."""
    cp = ord(ch)
    return _is_cjk(cp) or _is_emoji(cp) or unicodedata.east_asian_width(ch) in ("W", "F")


def _break_ok(prev: str, cur: str) -> bool:
    if cur.isspace() or cur in _CLOSING or cur in _JOINERS or unicodedata.category(cur)[0] == "M":
        return False
    if prev in _OPENING or prev in _JOINERS:
        return False
    if prev.isspace():
        return True
    if prev in "-\u2010\u2013\u2014/" and not cur.isdigit():
        return True
    if cur == "\u2014":
        return True
    return _wide(prev) or _wide(cur)


def segments(text: str) -> list[str]:
    """``text`` cut at every place a line may break (a segment keeps its trailing spaces)."""
    out: list[str] = []
    for i, ch in enumerate(text):
        if out and not _break_ok(text[i - 1], ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def break_lines(text: str, size: int, max_width: float, lang: str = "SC") -> list[str]:
    """Greedy fit of ``text`` into lines of at most ``max_width`` px (explicit newlines kept); a
    segment wider than a whole line (a long URL) is cut between characters."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for seg in segments(" ".join(para.split(" ")).strip()):
            trial = line + seg
            if not line or shape_line(trial.rstrip(), size, lang).width <= max_width:
                line = trial
                continue
            lines.append(line.rstrip())
            line = seg.lstrip()
        while line and shape_line(line.rstrip(), size, lang).width > max_width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and shape_line(line[:cut], size, lang).width > max_width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        if line.strip():
            lines.append(line.rstrip())
    return lines


def wrap(text: str, fnt, max_width: int, max_lines: int | None = None) -> list[str]:
    """Lines of ``text`` at ``fnt``'s size within ``max_width`` px; the last gets an ellipsis when cut."""
    size = int(getattr(fnt, "size", fnt))
    lang = cjk_lang(text)
    lines = break_lines(text, size, max_width, lang)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _ellipsis(lines[-1], size, max_width, lang)
    return lines


def _ellipsis(line: str, size: int, max_width: float, lang: str) -> str:
    while line and shape_line(line + "…", size, lang).width > max_width:
        line = line[:-1]
    return line.rstrip(" ,，、") + "…"


@dataclass
class Block:
    """Text laid out to a width: its lines, type size and line height."""

    lines: list[Line]
    size: int
    line_h: int
    cut: bool = False

    @property
    def width(self) -> float:
        return max((ln.width for ln in self.lines), default=0.0)

    @property
    def height(self) -> int:
        return self.line_h * len(self.lines)


def layout(text: str, size: int, max_width: float, *, max_lines: int = 3, min_size: int | None = None,
           leading: float = 1.3, warn=None, what: str = "the text") -> Block:
    """``text`` fitted to ``max_width`` px in at most ``max_lines`` lines: smaller type (down to
    ``min_size``) when it needs more, then cut with an ellipsis and a warning naming ``what``."""
    text = "\n".join(" ".join(p.split()) for p in (text or "").splitlines()).strip()
    lang = cjk_lang(text)
    size = max(6, int(size))
    min_size = max(6, min(size, int(min_size or round(size * 0.7))))
    _check_drawable(text, split_runs(text, lang), warn)
    while True:
        lines = break_lines(text, size, max_width, lang)
        if len(lines) <= max_lines or size <= min_size:
            break
        size = max(min_size, round(size * 0.9))
    cut = len(lines) > max_lines
    if cut:
        _warn(f"cut:{text}", f"{what} '{_snippet(text)}' needs {len(lines)} lines even at {size} px, more than "
              f"the {max_lines} that fit the frame: it is cut after line {max_lines} — shorten it (or split "
              "it over two shots), or lower font_size", warn)
        lines = lines[:max_lines]
        lines[-1] = _ellipsis(lines[-1], size, max_width, lang)
    return Block([shape_line(ln, size, lang) for ln in lines], size, round(size * leading), cut)


def draw_line(img, xy, line: Line, size: int, *, fill=(255, 255, 255, 255), stroke_width: int = 0,
              stroke_fill=None) -> None:
    """Draw a shaped line onto RGBA ``img`` with its top-left at ``xy`` (baseline from the primary font)."""
    from PIL import Image, ImageDraw
    d = ImageDraw.Draw(img)
    ascent = font(size).getmetrics()[0]
    x, base = float(xy[0]), float(xy[1]) + ascent
    for r in line.runs:
        fnt, scale = _font_of(r, size)
        if scale != 1.0:  # a bitmap colour face: drawn at its strike, scaled, composited
            asc, desc = fnt.getmetrics()
            w = max(1, round(fnt.getlength(r.text)))
            tile = Image.new("RGBA", (w, asc + desc), (0, 0, 0, 0))
            ImageDraw.Draw(tile).text((0, asc), r.text, font=fnt, anchor="ls", embedded_color=True)
            tile = tile.resize((max(1, round(w * scale)), max(1, round((asc + desc) * scale))), Image.LANCZOS)
            img.alpha_composite(tile, (round(x), round(base - asc * scale * 0.92)))
        else:
            d.text((x, base), r.text, font=fnt, anchor="ls", fill=fill, direction=_direction(r, fnt),
                   stroke_width=stroke_width, stroke_fill=stroke_fill)
        x += r.width


def draw_block(img, block: Block, *, x: float, y: float, width: float, align: str = "center",
               fill=(255, 255, 255, 255), stroke_width: int = 0, stroke_fill=None) -> None:
    """Draw ``block``'s lines from top ``y``, aligned within [x, x + width]."""
    for i, line in enumerate(block.lines):
        lx = x + (width - line.width) / 2 if align == "center" else x
        draw_line(img, (lx, y + i * block.line_h), line, block.size, fill=fill, stroke_width=stroke_width,
                  stroke_fill=stroke_fill)


def caption_image(text: str, width: int, height: int, *, font_size: int | None = None,
                  position: str = "bottom", warn=None, what: str = "the caption"):
    """A transparent RGBA overlay (width×height) with ``text`` in a legible box near the bottom/top,
    wrapped to the frame (at most 3 lines, then smaller type, then cut with a warning)."""
    from PIL import Image, ImageDraw
    size = font_size or max(14, round(height * 0.045))
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    pad = round(size * 0.6)
    block = layout(text, size, width * 0.9 - 2 * pad, max_lines=3, min_size=max(10, round(size * 0.7)),
                   leading=1.25, warn=warn, what=what)
    if not block.lines:
        return img
    size = block.size
    pad = round(size * 0.6)
    box_h = block.height + round(size * 0.6)
    box_w = block.width + 2 * pad
    x0 = (width - box_w) / 2
    y0 = height - box_h - round(height * 0.06) if position == "bottom" else round(height * 0.06)
    ImageDraw.Draw(img).rounded_rectangle([x0, y0, x0 + box_w, y0 + box_h], radius=round(size * 0.35),
                                          fill=(0, 0, 0, 150))
    draw_block(img, block, x=x0, y=y0 + round(size * 0.3), width=box_w, stroke_width=max(1, size // 16),
               stroke_fill=(0, 0, 0, 255))
    return img
