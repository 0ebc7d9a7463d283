"""Workflows embedded in the files they made (provenance): read them back without any media library.

``io.save_image`` writes the workflow JSON into a PNG text chunk and ``io.save_video`` into the
MP4/WebM ``comment`` tag, both under the key ``reelgraph-workflow`` (``KEY``). This module finds it
again: PNG chunks and MP4 boxes are walked in pure Python (cheap: only headers are read); other
containers (WebM, MKV) are asked through ffmpeg's metadata dump when imageio-ffmpeg is installed.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

KEY = "reelgraph-workflow"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEDIA_SUFFIXES = {".png", ".mp4", ".m4v", ".mov", ".m4a", ".webm", ".mkv"}
_CONTAINERS = {b"moov", b"udta", b"meta", b"ilst"}


def looks_like_media(path: str | os.PathLike) -> bool:
    """True for files that may carry an embedded workflow (by suffix or by their first bytes)."""
    p = Path(path)
    if p.suffix.lower() in MEDIA_SUFFIXES:
        return True
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(PNG_SIGNATURE) or head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3")


def read_embedded(path: str | os.PathLike) -> str | None:
    """The workflow JSON text embedded in a PNG, MP4 or WebM file, or None when there is none."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(12)
        f.seek(0)
        if head.startswith(PNG_SIGNATURE):
            return _from_png(f)
        if head[4:8] == b"ftyp":
            return _from_mp4(f, os.fstat(f.fileno()).st_size)
    return _from_ffmpeg(p)


def _is_workflow(text: str | None) -> bool:
    if not text or not text.lstrip().startswith("{"):
        return False
    try:
        raw = json.loads(text)
    except ValueError:
        return False
    return isinstance(raw, dict) and "nodes" in raw


def _from_png(f) -> str | None:
    f.seek(len(PNG_SIGNATURE))
    while True:
        header = f.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IDAT" or kind == b"IEND":
            # Pillow writes text chunks before the image data; a chunk after IDAT is still legal.
            f.seek(length + 4, 1)
            if kind == b"IEND":
                return None
            continue
        data = f.read(length)
        f.seek(4, 1)  # CRC
        text = None
        if kind == b"tEXt":
            key, _, value = data.partition(b"\0")
            if key == KEY.encode():
                text = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = data.partition(b"\0")
            if key == KEY.encode():
                text = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = data.partition(b"\0")
            if key == KEY.encode():
                compressed, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                _tkey, _, value = rest.partition(b"\0")
                text = (zlib.decompress(value) if compressed else value).decode("utf-8")
        if text is not None:
            return text if _is_workflow(text) else None


def _from_mp4(f, end: int, start: int = 0, depth: int = 0, parent: bytes = b"") -> str | None:
    """Walk ISO-BMFF boxes; ffmpeg stores ``comment`` as moov/udta/meta/ilst/©cmt/data."""
    pos = start
    while pos + 8 <= end and depth < 8:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        body = pos + header
        if kind == b"meta":
            body += 4  # a full box: version and flags come first
        if kind in _CONTAINERS or parent == b"ilst":  # an ilst item (©cmt, ----) holds data boxes
            found = _from_mp4(f, pos + size, body, depth + 1, kind)
            if found:
                return found
        elif kind == b"data" and size < 64 * 1024 * 1024:
            f.seek(body + 8)  # type indicator and locale
            text = f.read(size - header - 8).decode("utf-8", "replace")
            if _is_workflow(text):
                return text
        pos += size
    return None


def _from_ffmpeg(path: Path) -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path),
                          "-f", "ffmetadata", "-"], capture_output=True)
    if out.returncode != 0:
        return None
    # ffmetadata escapes '=', ';', '#', '\' and newlines with a backslash.
    text = out.stdout.decode("utf-8", "replace")
    values, current = [], None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and not line.endswith("\\\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + "\n" + lines[i]
        i += 1
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() in ("comment", KEY):
            current = value
            unescaped, j = [], 0
            while j < len(current):
                if current[j] == "\\" and j + 1 < len(current):
                    unescaped.append(current[j + 1])
                    j += 2
                else:
                    unescaped.append(current[j])
                    j += 1
            values.append("".join(unescaped))
    for v in values:
        if _is_workflow(v):
            return v
    return None
