"""Workflows embedded in the files they made (provenance): read them back without any media library.

``io.save_image`` writes the workflow JSON into a PNG text chunk and ``io.save_video`` into the
MP4/WebM ``comment`` tag, both under the key ``reelgraph-workflow`` (``KEY``). This module finds it
again: PNG chunks and MP4 boxes are walked in pure Python (cheap: only headers are read); other
containers (WebM, MKV) are asked through ffmpeg's metadata dump when imageio-ffmpeg is installed.

These files come from anywhere, so every read is bounded: only a regular file is opened
(``open_regular``), and a workflow is at most ``MAX_WORKFLOW_BYTES`` however it is stored (a
compressed chunk is inflated only that far, so a small file cannot expand to gigabytes).
"""

from __future__ import annotations

import os
import re
import stat
import struct
import subprocess
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import Issue, WorkflowError

KEY = "reelgraph-workflow"
# Real workflows are a few KB (a long script, some tens); anything far bigger is not one of ours.
MAX_WORKFLOW_BYTES = 8 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEDIA_SUFFIXES = {".png", ".mp4", ".m4v", ".mov", ".m4a", ".webm", ".mkv"}
_CONTAINERS = {b"moov", b"udta", b"meta", b"ilst"}
_COMMENT = b"\xa9cmt"  # the ilst item ffmpeg writes the comment tag to
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}
_MIB = f"{MAX_WORKFLOW_BYTES >> 20} MiB"
_GIVE = "give a PNG, MP4 or WebM that reelgraph saved (io.save_image / io.save_video), or a workflow .json"


class NotARegularFile(OSError):
    """A path naming a folder, pipe, device or socket: reading it would fail, block or never end."""

    def __init__(self, path: str | os.PathLike, mode: int):
        self.kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        super().__init__(f"{path} is {self.kind}, not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a user-named file for reading, refusing anything but a regular file.

    open() of a named pipe blocks until a writer comes (forever, for a pipe left in a workspace) and
    a device such as /dev/zero never ends, so those are refused from their stat, before any open. The
    open itself is non-blocking and checked again: a pipe swapped in meanwhile cannot hang us either.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFile(path, mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def is_media(path: str | os.PathLike, head: bytes) -> bool:
    """True for a file that may carry an embedded workflow, from its suffix or its first 12 bytes."""
    return (Path(path).suffix.lower() in MEDIA_SUFFIXES or head.startswith(PNG_SIGNATURE)
            or head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3"))


def looks_like_media(path: str | os.PathLike) -> bool:
    """True for files that may carry an embedded workflow (by suffix or by their first bytes)."""
    if Path(path).suffix.lower() in MEDIA_SUFFIXES:
        return True
    try:
        with open_regular(path) as f:
            return is_media(path, f.read(12))
    except (OSError, ValueError):
        return False


def read_embedded(path: str | os.PathLike, f: BinaryIO | None = None) -> str | None:
    """The workflow JSON text embedded in a PNG, MP4 or WebM file, or None when there is none.

    ``f``: the file already opened (with ``open_regular``). Raises ``WorkflowError`` naming the file
    when the embedded workflow is too large, cut short or damaged.
    """
    p = Path(path)
    if f is None:
        with open_regular(p) as f:
            return read_embedded(p, f)
    f.seek(0)
    head = f.read(12)
    if head.startswith(PNG_SIGNATURE):
        return _from_png(f, p)
    if head[4:8] == b"ftyp":
        return _from_mp4(f, os.fstat(f.fileno()).st_size, p)
    return _from_ffmpeg(p)


def _refused(path: Path, message: str, fix: str = _GIVE) -> WorkflowError:
    return WorkflowError(Issue(message, fix=fix, code="file"), source=str(path))


def _too_large(path: Path) -> WorkflowError:
    return _refused(path, f"the embedded workflow is larger than {_MIB}, so not a reelgraph workflow")


def _damaged(path: Path, why: str) -> WorkflowError:
    return _refused(path, f"the embedded workflow is damaged ({why})",
                    fix="get an undamaged copy of the file, or open the workflow's .json instead")


def _cut_short(path: Path) -> WorkflowError:
    return _refused(path, "the file is cut short inside its embedded workflow",
                    fix="the file is truncated (an interrupted download or copy?): get the whole file again")


_WORKFLOW_START = re.compile(r'\s*\{.*?"nodes"\s*:', re.S)


def _is_workflow(text: str | None) -> bool:
    """Whether a comment tag looks like a workflow rather than someone's note: a JSON object with
    "nodes". Parsing and every check belong to the loader, which reports what is wrong with it."""
    return text is not None and _WORKFLOW_START.match(text) is not None


def _inflate(data: bytes, path: Path) -> bytes:
    """zlib data inflated to at most MAX_WORKFLOW_BYTES: a few KB of zeros can expand to gigabytes."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_WORKFLOW_BYTES + 1)
    except zlib.error as e:
        raise _damaged(path, f"its compressed text does not inflate: {e}") from None
    if len(out) > MAX_WORKFLOW_BYTES:
        raise _too_large(path)
    if not d.eof:
        raise _damaged(path, "its compressed text ends early")
    return out


def _from_png(f: BinaryIO, path: Path) -> str | None:
    f.seek(len(PNG_SIGNATURE))
    key = KEY.encode() + b"\0"
    while True:
        header = f.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            return None
        start = f.read(len(key)) if kind in _TEXT_CHUNKS and length >= len(key) else b""
        if start != key:
            # Pillow writes text chunks before the image data; one after IDAT is still legal.
            f.seek(length + 4 - len(start), 1)
            continue
        size = length - len(key)
        if size > MAX_WORKFLOW_BYTES + 1024:  # + the iTXt header: compressed text is smaller still
            raise _too_large(path)
        data = f.read(size)
        if len(data) < size:
            raise _cut_short(path)
        if kind == b"tEXt":
            raw, encoding = data, "latin-1"
        elif kind == b"zTXt":
            if not data:
                raise _damaged(path, "its zTXt chunk holds no text")
            raw, encoding = _inflate(data[1:], path), "latin-1"
        else:
            compressed = data[:1] == b"\1"
            _lang, sep1, rest = data[2:].partition(b"\0")
            _tkey, sep2, value = rest.partition(b"\0")
            if len(data) < 2 or not sep1 or not sep2:
                raise _damaged(path, "its iTXt chunk header is malformed")
            raw, encoding = (_inflate(value, path) if compressed else value), "utf-8"
        if len(raw) > MAX_WORKFLOW_BYTES:
            raise _too_large(path)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise _damaged(path, "its text is not UTF-8") from None
        return text if _is_workflow(text) else None


def _from_mp4(f: BinaryIO, end: int, path: Path, start: int = 0, depth: int = 0,
              parent: bytes = b"") -> str | None:
    """Walk ISO-BMFF boxes; ffmpeg stores ``comment`` as moov/udta/meta/ilst/©cmt/data."""
    pos = start
    while pos + 8 <= end and depth < 8:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head)
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
            found = _from_mp4(f, pos + size, path, body, depth + 1, kind)
            if found:
                return found
        elif kind == b"data":
            n = size - header - 8  # after the type indicator and locale
            if n > MAX_WORKFLOW_BYTES:
                if parent == _COMMENT:
                    raise _too_large(path)
            else:  # (a big data box elsewhere is cover art: not ours, skipped unread)
                f.seek(body + 8)
                raw = f.read(n)
                if len(raw) < n and parent == _COMMENT:
                    raise _cut_short(path)
                text = raw.decode("utf-8", "replace")
                if _is_workflow(text):
                    return text
        pos += size
    return None


def _from_ffmpeg(path: Path) -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    # Escaping at most doubles the text; a dump past that holds a tag too big to be ours.
    limit = 2 * MAX_WORKFLOW_BYTES + (64 << 10)
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path),
                             "-f", "ffmetadata", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with proc:
        assert proc.stdout is not None
        dump = proc.stdout.read(limit + 1)
        if len(dump) > limit:
            proc.kill()
            raise _too_large(path)
        if proc.wait() != 0:
            return None
    for key, value in _ffmetadata(dump.decode("utf-8", "replace")):
        if key.strip().lower() in ("comment", KEY) and _is_workflow(value):
            if len(value.encode("utf-8")) > MAX_WORKFLOW_BYTES:
                raise _too_large(path)
            return value
    return None


# An ffmetadata line: a backslash escapes the next character ('=', ';', '#', '\' and newline).
_FFMETA_LINE = re.compile(r"([^\\\n]*(?:\\.[^\\\n]*)*)(?:\n|$)", re.S)
_FFMETA_ESCAPE = re.compile(r"\\(.)", re.S)


def _ffmetadata(text: str):
    """(key, unescaped value) of each ``key=value`` line of an ffmetadata dump."""
    for m in _FFMETA_LINE.finditer(text):
        key, sep, value = m.group(1).partition("=")
        if sep and "\\" not in key:
            yield key, _FFMETA_ESCAPE.sub(r"\1", value)
