"""Private: just enough ISO-BMFF (MP4) to stream-copy H.264 samples (``assemble.concat``'s fast path).

``read_video`` reads a file's sample table (where each frame's bytes are, which frames are sync
samples), its ``avc1`` sample entry and the codec parameter sets (``avcC``), without touching the
media data. ``write_video`` writes a new progressive ("faststart": ``moov`` before ``mdat``) MP4
with one constant-rate H.264 track from samples taken out of such files, byte for byte.
The layout is the one ffmpeg's muxer writes (ftyp, moov/mvhd/trak/..., mdat).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path


class Unsupported(Exception):
    """The file is not a plain MP4 whose video samples can be copied as they are."""


@dataclass
class VideoTrack:
    path: str
    timescale: int
    deltas: list[int]  # per sample, in timescale units
    sizes: list[int]
    offsets: list[int]
    sync: list[int] | None  # 0-based sync samples; None: every sample is one
    entry: bytes  # the whole avc1 sample entry box, header included
    avcc: bytes  # payload of the avcC box inside it
    width: int  # coded size, from the sample entry
    height: int
    display: tuple[int, int]  # tkhd width/height, 16.16 fixed point
    has_ctts: bool  # composition offsets other than 0 (reordered frames)
    edits: list[tuple[int, int]] = field(default_factory=list)  # elst (duration, media_time)
    other_tracks: list[bytes] = field(default_factory=list)  # handler types of the other tracks

    @property
    def samples(self) -> int:
        return len(self.sizes)

    @property
    def length_size(self) -> int:
        return (self.avcc[4] & 3) + 1

    def sample(self, index: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offsets[index])
            return f.read(self.sizes[index])

    def nal_types(self, index: int) -> list[int]:
        data, n, out, i = self.sample(index), self.length_size, [], 0
        while i + n <= len(data):
            size = int.from_bytes(data[i:i + n], "big")
            if size == 0 or i + n + size > len(data):
                raise Unsupported(f"sample {index} of {Path(self.path).name} is not length-prefixed H.264")
            out.append(data[i + n] & 0x1F)
            i += n + size
        return out

    def is_idr(self, index: int) -> bool:
        return 5 in self.nal_types(index)

    def keyframes(self) -> list[int]:
        """Sync samples that are IDR pictures: a copy may start there and decode on its own."""
        candidates = range(self.samples) if self.sync is None else self.sync
        return [i for i in candidates if self.is_idr(i)]


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        head = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, i + 8)[0]
            head = 16
        elif size == 0:
            size = end - i
        if size < head or i + size > end:
            raise Unsupported(f"broken {kind!r} box")
        yield kind, i + head, i + size
        i += size


def _find(data: bytes, start: int, end: int, kind: bytes):
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def _read_moov(path: str) -> bytes:
    """The moov box of a file (read alone: media data is skipped)."""
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        pos = 0
        while pos + 8 <= total:
            f.seek(pos)
            head = f.read(16)
            size, kind = struct.unpack_from(">I4s", head)
            if size == 1:
                size = struct.unpack_from(">Q", head, 8)[0]
            elif size == 0:
                size = total - pos
            if size < 8:
                raise Unsupported("broken top-level box")
            if kind == b"moof":
                raise Unsupported("fragmented MP4")
            if kind == b"moov":
                f.seek(pos)
                return f.read(size)
            pos += size
    raise Unsupported("no moov box")


def _full(data: bytes, s: int) -> tuple[int, int]:
    """Version and flags of a full box whose payload starts at s."""
    v = data[s]
    return v, int.from_bytes(data[s + 1:s + 4], "big")


def read_video(path: str | os.PathLike) -> VideoTrack:
    """The one H.264 (avc1) video track of an MP4; Unsupported for anything else."""
    path = str(path)
    moov = _read_moov(path)
    video = None
    others = []
    for kind, s, e in _boxes(moov, 8):
        if kind == b"mvex":
            raise Unsupported("fragmented MP4")
        if kind != b"trak":
            continue
        mdia = _find(moov, s, e, b"mdia")
        hdlr = mdia and _find(moov, *mdia, b"hdlr")
        handler = moov[hdlr[0] + 8:hdlr[0] + 12] if hdlr else b""
        if handler != b"vide":
            others.append(handler)
            continue
        if video is not None:
            raise Unsupported("more than one video track")
        video = (s, e, mdia)
    if video is None:
        raise Unsupported("no video track")
    s, e, mdia = video
    tkhd = _find(moov, s, e, b"tkhd")
    if tkhd is None:
        raise Unsupported("no tkhd")
    display = struct.unpack_from(">II", moov, tkhd[1] - 8)
    edits: list[tuple[int, int]] = []
    edts = _find(moov, s, e, b"edts")
    elst = edts and _find(moov, *edts, b"elst")
    if elst:
        v, _ = _full(moov, elst[0])
        (n,) = struct.unpack_from(">I", moov, elst[0] + 4)
        fmt, step = (">Qq", 20) if v == 1 else (">Ii", 12)
        for k in range(n):
            d, t = struct.unpack_from(fmt, moov, elst[0] + 8 + k * step)
            edits.append((d, t))
    mdhd = _find(moov, *mdia, b"mdhd")
    v, _ = _full(moov, mdhd[0])
    (timescale,) = struct.unpack_from(">I", moov, mdhd[0] + (20 if v == 1 else 12))
    minf = _find(moov, *mdia, b"minf")
    stbl = minf and _find(moov, *minf, b"stbl")
    if not stbl:
        raise Unsupported("no sample table")
    tables = {k: (ps, pe) for k, ps, pe in _boxes(moov, *stbl)}
    for need in (b"stsd", b"stts", b"stsz", b"stsc"):
        if need not in tables:
            raise Unsupported(f"no {need.decode()} box")

    # sample entry: exactly one, avc1 (parameter sets out of band, in avcC)
    ss, se = tables[b"stsd"]
    (count,) = struct.unpack_from(">I", moov, ss + 4)
    entries = list(_boxes(moov, ss + 8, se))
    if count != 1 or len(entries) != 1 or entries[0][0] != b"avc1":
        raise Unsupported("not a single avc1 sample entry")
    _, es, ee = entries[0]
    head = 16 if struct.unpack_from(">I", moov, es - 8)[0] == 1 else 8
    entry = moov[es - head:ee]
    width, height = struct.unpack_from(">HH", moov, es + 24)
    avcc = _find(moov, es + 78, ee, b"avcC")
    if avcc is None:
        raise Unsupported("no avcC")
    avcc_bytes = moov[avcc[0]:avcc[1]]

    # sizes
    zs, _ = tables[b"stsz"]
    fixed, n = struct.unpack_from(">II", moov, zs + 4)
    sizes = [fixed] * n if fixed else list(struct.unpack_from(f">{n}I", moov, zs + 12))
    # durations
    ts, _ = tables[b"stts"]
    (k,) = struct.unpack_from(">I", moov, ts + 4)
    deltas: list[int] = []
    for j in range(k):
        c, d = struct.unpack_from(">II", moov, ts + 8 + 8 * j)
        deltas += [d] * c
    if len(deltas) != n:
        raise Unsupported("stts and stsz disagree")
    # composition offsets
    has_ctts = False
    if b"ctts" in tables:
        cs, _ = tables[b"ctts"]
        (k,) = struct.unpack_from(">I", moov, cs + 4)
        has_ctts = any(struct.unpack_from(">I", moov, cs + 8 + 8 * j + 4)[0] for j in range(k))
    # sync samples
    sync = None
    if b"stss" in tables:
        xs, _ = tables[b"stss"]
        (k,) = struct.unpack_from(">I", moov, xs + 4)
        sync = [x - 1 for x in struct.unpack_from(f">{k}I", moov, xs + 8)]
    # chunk offsets -> sample offsets
    if b"stco" in tables:
        os_, _ = tables[b"stco"]
        (k,) = struct.unpack_from(">I", moov, os_ + 4)
        chunks = list(struct.unpack_from(f">{k}I", moov, os_ + 8))
    elif b"co64" in tables:
        os_, _ = tables[b"co64"]
        (k,) = struct.unpack_from(">I", moov, os_ + 4)
        chunks = list(struct.unpack_from(f">{k}Q", moov, os_ + 8))
    else:
        raise Unsupported("no chunk offsets")
    cs, _ = tables[b"stsc"]
    (k,) = struct.unpack_from(">I", moov, cs + 4)
    runs = [struct.unpack_from(">III", moov, cs + 8 + 12 * j) for j in range(k)]
    offsets: list[int] = []
    for j, (first, per_chunk, desc) in enumerate(runs):
        if desc != 1:
            raise Unsupported("more than one sample description")
        last = runs[j + 1][0] - 1 if j + 1 < len(runs) else len(chunks)
        for chunk in range(first - 1, last):
            pos = chunks[chunk]
            for _ in range(per_chunk):
                if len(offsets) == n:
                    break
                offsets.append(pos)
                pos += sizes[len(offsets) - 1]
    if len(offsets) != n:
        raise Unsupported("the chunk table does not cover every sample")
    return VideoTrack(path, timescale, deltas, sizes, offsets, sync, entry, avcc_bytes, width, height,
                      display, has_ctts, edits, others)


# ------------------------------------------------------------------------------------------------
# writing

def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(entry: bytes, display: tuple[int, int], timescale: int, delta: int, sizes: list[int],
          sync: list[int], offsets: list[int]) -> bytes:
    n = len(sizes)
    media = n * delta
    movie = (media * 1000 + timescale // 2) // timescale  # mvhd/tkhd in milliseconds
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, movie), struct.pack(">IH", 0x10000, 0x100),
                     bytes(10), _MATRIX, bytes(24), struct.pack(">I", 2))
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, movie), bytes(8),
                     struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", *display))
    elst = _box(b"edts", _full_box(b"elst", 0, 0, struct.pack(">IIiI", 1, movie, 0, 0x10000)))
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, media), struct.pack(">HH", 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    stsd = _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    stts = _full_box(b"stts", 0, 0, struct.pack(">III", 1, n, delta))
    stss = _full_box(b"stss", 0, 0, struct.pack(f">I{len(sync)}I", len(sync), *[s + 1 for s in sync]))
    stsz = _full_box(b"stsz", 0, 0, struct.pack(f">II{n}I", 0, n, *sizes))
    # one chunk per run of samples that lie together in mdat (here: all of them, in order)
    stsc = _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, n, 1))
    if offsets[0] + sum(sizes) < 2**32:
        stco = _full_box(b"stco", 0, 0, struct.pack(">II", 1, offsets[0]))
    else:
        stco = _full_box(b"co64", 0, 0, struct.pack(">IQ", 1, offsets[0]))
    stbl = _box(b"stbl", stsd, stts, stss, stsz, stsc, stco)
    minf = _box(b"minf", vmhd, dinf, stbl)
    mdia = _box(b"mdia", mdhd, hdlr, minf)
    return _box(b"moov", mvhd, _box(b"trak", tkhd, elst, mdia))


FTYP = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isom", b"iso2", b"avc1", b"mp41")


@dataclass
class Run:
    """Samples [first, end) of a track, copied in order."""
    track: VideoTrack
    first: int
    end: int


def write_video(out: str | os.PathLike, runs: list[Run], *, entry: bytes, display: tuple[int, int],
                timescale: int, delta: int, progress=None) -> int:
    """Write the runs' samples, in order, as one constant-rate track (``delta`` per sample).

    ``entry`` is the avc1 sample entry every run's samples decode with. Returns the sample count.
    ``progress(fraction)`` is called as the media data is copied.
    """
    sizes: list[int] = []
    sync: list[int] = []
    for r in runs:
        keys = set(r.track.sync) if r.track.sync is not None else None
        for i in range(r.first, r.end):
            if keys is None or i in keys:
                sync.append(len(sizes))
            sizes.append(r.track.sizes[i])
    total = sum(sizes)
    big = total + 8 >= 2**32
    mdat_head = 16 if big else 8
    # the moov's size does not depend on the offset's value, only on whether it needs 64 bits
    moov = _moov(entry, display, timescale, delta, sizes, sync, [0])
    if len(FTYP) + len(moov) + mdat_head + total >= 2**32:
        moov = _moov(entry, display, timescale, delta, sizes, sync, [2**32])
    data_start = len(FTYP) + len(moov) + mdat_head
    moov = _moov(entry, display, timescale, delta, sizes, sync, [data_start])
    done = 0
    with open(out, "wb") as f:
        f.write(FTYP)
        f.write(moov)
        f.write(struct.pack(">I4sQ", 1, b"mdat", total + 16) if big else struct.pack(">I4s", total + 8, b"mdat"))
        for r in runs:
            with open(r.track.path, "rb") as src:
                i = r.first
                while i < r.end:  # copy contiguous stretches in one go
                    j, pos, size = i, r.track.offsets[i], 0
                    while j < r.end and r.track.offsets[j] == pos + size and size < 8 << 20:
                        size += r.track.sizes[j]
                        j += 1
                    src.seek(pos)
                    chunk = src.read(size)
                    if len(chunk) != size:
                        raise Unsupported(f"{Path(r.track.path).name} is shorter than its sample table")
                    f.write(chunk)
                    done += size
                    i = j
                    if progress:
                        progress(done / max(1, total))
    return len(sizes)
