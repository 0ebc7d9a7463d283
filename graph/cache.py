"""The artifact store (media files by content) and the persistent result cache.

Layout of a cache directory::

    objects/ab/abcdef....mp4   media, stored once by sha256 of their bytes, read-only
    results/*.jsonl            result segments: every flush appends one file of the results it wrote;
                               the index is rebuilt from them when it is lost or damaged
    index.db                   SQLite: results by key, the media each one references, sizes, LRU times
    leases/                    one file per running run: the media it holds (never evicted while held)
    tmp/                       scratch files of running nodes (same filesystem: atomic renames)

Trust rules (docs/architecture.md, "The cache"):

- A result is served only if its checksum matches, its media references are well-formed and every
  media file is present with its recorded size. Before media is *used* (read by a node that runs,
  or delivered as a run's output) its bytes are checked against its digest once per process;
  a damaged file is deleted and whatever made it re-renders.
- Results are flushed in the background every quarter second (a crash loses at most that), to a
  segment file first, then to the index. Only real corruption moves the index aside (it is then
  rebuilt from the segments), never an I/O error or a full or read-only disk.
- Eviction never deletes media that a running run (in any process) holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Iterable

from . import types as t
from .errors import ReelgraphError
from .types import MediaRef

try:  # advisory locks tell a live lease from one left by a crashed run (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows: leases are judged by their process id alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("reelgraph")

DEFAULT_MAX_BYTES = 20 * 1024**3
_FLUSH_INTERVAL = 0.25
_ORPHAN_AGE = 3600.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_INDEX_VERSION = 2

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xff, Python 3.11+)
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 8, 10, 11, 13, 14, 26


class CacheError(ReelgraphError):
    """The cache folder cannot be used (disk full, I/O error, not a folder); nothing was deleted."""


def parse_size(text: str | int) -> int:
    """``"500MB"``, ``"20GiB"``, ``"1.5g"`` or a byte count -> bytes."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"cannot read size {text!r}; write e.g. 500MB or 20GB")
    unit = (m.group(2) or "b").lower().rstrip("b").rstrip("i")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(unit or " "))


def default_cache_dir() -> Path:
    env = os.environ.get("REELGRAPH_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("reelgraph", appauthor=False))


def verification_enabled() -> bool:
    """Content verification of media before use; on unless ``REELGRAPH_CACHE_VERIFY=0``."""
    return os.environ.get("REELGRAPH_CACHE_VERIFY", "1").strip().lower() not in ("0", "false", "no", "off")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_ref(ref: MediaRef) -> None:
    """Raise ValueError unless ``ref`` names a file inside an artifact store (a crafted index row
    or results file must not point anywhere else)."""
    if not _DIGEST.match(ref.digest or ""):
        raise ValueError(f"media digest {ref.digest[:80]!r} is not a sha256 hex digest")
    if not _EXT.match(ref.ext or ""):
        raise ValueError(f"media extension {ref.ext[:20]!r} is not a plain file extension")
    if not isinstance(ref.size, int) or ref.size < 0:
        raise ValueError(f"media size {ref.size!r} is not a byte count")


# Files whose bytes were hashed in this process, by path: (size, mtime_ns, inode, ctime_ns) at the
# time. A file that has not been touched since is not hashed again; one that changed is.
_verified: dict[str, tuple[int, int, int, int]] = {}
_verified_lock = threading.Lock()


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class ArtifactStore:
    """Media files stored once by content under ``root/objects``."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        if create:
            for d in (self.objects, self.tmp_dir):
                _make_dir(d, self.root)

    def path_of(self, ref: MediaRef) -> Path:
        return self.objects / ref.digest[:2] / f"{ref.digest}{ref.ext}"

    def ingest(self, src: Path, kind: str, meta: dict[str, Any] | None = None) -> MediaRef:
        """Store a finished file (moved if it is one of our scratch files, else copied)."""
        if not src.is_file():
            raise FileNotFoundError(f"cannot store {src}: no such file")
        ext = src.suffix.lower()
        digest = _sha256_file(src)
        ref = MediaRef(kind=kind, digest=digest, ext=ext, size=src.stat().st_size, meta=dict(meta or {}))
        dest = self.path_of(ref)
        ours = self.tmp_dir in src.resolve().parents
        if self.verify(ref):
            if ours:
                src.unlink()
            # stored again just now: the orphan sweep (which spares files younger than an hour) must
            # not take it for a leftover, e.g. the output of a non-cacheable save node on a re-run
            with contextlib.suppress(OSError):
                os.utime(dest)
        else:  # absent, or damaged (verify removed it): the fresh file takes its place
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged = src if ours else Path(shutil.copyfile(src, self._scratch(ext)))
            os.chmod(staged, 0o444)  # stored media is immutable: nobody edits a cached file by accident
            os.replace(staged, dest)
            with contextlib.suppress(OSError):
                with _verified_lock:
                    _verified[str(dest)] = _stamp(dest.stat())
        return MediaRef(kind=kind, digest=digest, ext=ext, size=ref.size, path=str(dest), meta=ref.meta)

    def _scratch(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.tmp_dir)
        os.close(fd)
        return Path(name)

    def is_intact(self, ref: MediaRef) -> bool:
        """Present with its recorded size (cheap: one stat). ``verify`` checks the bytes."""
        try:
            check_ref(ref)
            return self.path_of(ref).stat().st_size == ref.size
        except (OSError, ValueError):
            return False

    def verify(self, ref: MediaRef, *, force: bool = False) -> bool:
        """True when the file's bytes hash to its digest (hashed once per process while the file is
        untouched). A damaged file is deleted, so that the next store of that content replaces it."""
        try:
            check_ref(ref)
        except ValueError:
            return False
        path = self.path_of(ref)
        try:
            st = path.stat()
        except OSError:
            return False
        if st.st_size != ref.size:
            self._discard(path, "its size changed")
            return False
        key = str(path)
        with _verified_lock:
            if not force and _verified.get(key) == _stamp(st):
                return True
        try:
            actual = _sha256_file(path)
        except OSError as e:
            log.warning("cannot read cached media %s (%s); it will be re-rendered", path.name, e)
            return False
        if actual != ref.digest:
            self._discard(path, "its content does not match its digest")
            return False
        with _verified_lock:
            _verified[key] = _stamp(st)
        return True

    def _discard(self, path: Path, why: str) -> None:
        log.warning("cached media %s is damaged (%s); removed, it will be re-rendered", path.name, why)
        with _verified_lock:
            _verified.pop(str(path), None)
        with contextlib.suppress(OSError):
            path.unlink()


def _make_dir(d: Path, root: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CacheError(f"cache at {root}: {d.name} is a file, not a folder — move it away (or choose "
                         "another cache folder with --cache-dir / $REELGRAPH_CACHE_DIR)") from None
    except PermissionError:
        if not d.is_dir():
            raise CacheError(f"cache at {root}: cannot create {d.name}/ (permission denied) — choose a "
                             "writable cache folder with --cache-dir / $REELGRAPH_CACHE_DIR") from None
    except OSError as e:
        raise CacheError(f"cache at {root}: cannot create {d.name}/ ({e.strerror}) — free some space or "
                         "choose another cache folder with --cache-dir / $REELGRAPH_CACHE_DIR") from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, node_type TEXT NOT NULL, outputs TEXT NOT NULL, checksum TEXT NOT NULL,
    size INTEGER NOT NULL, created REAL NOT NULL, last_used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS results_lru ON results(last_used);
CREATE TABLE IF NOT EXISTS refs (key TEXT NOT NULL, digest TEXT NOT NULL, ext TEXT NOT NULL,
    size INTEGER NOT NULL, PRIMARY KEY (key, digest));
CREATE INDEX IF NOT EXISTS refs_digest ON refs(digest);
"""


def _code(e: BaseException) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_corruption(e: BaseException) -> bool:
    code = _code(e)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(e).lower()  # Python 3.10 has no sqlite_errorcode
    return "malformed" in text or "not a database" in text


class _MediaMissing(ValueError):
    """A result's media file is gone or truncated: the result cannot be served from anywhere."""


class _Broken(Exception):
    """The index turned out damaged while in use: go on without it (results/ still serves)."""


class Lease:
    """The media a running run holds: eviction (in any process) leaves them alone until released."""

    def __init__(self, cache: "Cache"):
        self.cache = cache
        self.digests: set[str] = set()
        self.path: Path | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        if cache.read_only:
            return
        try:
            d = cache.root / "leases"
            d.mkdir(exist_ok=True)
            self.path = d / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.lease"
            self._fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
        except OSError as e:  # only other processes lose the protection; this one checks its own set
            log.warning("cannot record what this run holds in %s (%s)", cache.root / "leases", e.strerror)
            self._close()

    def hold(self, refs: Iterable[MediaRef]) -> None:
        new = [r.digest for r in refs if r.digest not in self.digests]
        if not new:
            return
        with self._lock:
            self.digests.update(new)
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.write(self._fd, ("\n".join(new) + "\n").encode())

    def release(self) -> None:
        with self.cache._lock:
            self.cache._leases.discard(self)
        self._close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Cache:
    """Content-addressed results of node calls, persistent across processes.

    ``get`` returns decoded outputs or None (missing, corrupt or referencing lost media); ``put``
    records outputs. A background flush writes them within ``_FLUSH_INTERVAL`` (a crash loses at most
    that): first to a results segment file (what the index is rebuilt from), then to the index.
    ``verify_media`` checks media bytes before use; ``verify`` checks the whole cache.
    """

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int | None = None, *,
                 verify: bool | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        env = os.environ.get("REELGRAPH_CACHE_SIZE")
        self.max_bytes = max_bytes if max_bytes is not None else (parse_size(env) if env else DEFAULT_MAX_BYTES)
        self.verify_content = verification_enabled() if verify is None else verify
        self._lock = threading.RLock()
        self._pending: dict[str, tuple] = {}  # unflushed results by key (a dict: get is O(1))
        self._segmented: dict[str, str] = {}  # pending results already in a segment: key -> checksum
        self._touched: dict[str, float] = {}
        self._leases: set[Lease] = set()
        self._warned: set[str] = set()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self._from_segments: dict[str, tuple[str, str, str]] | None = None  # served when the index is broken
        self.read_only = False
        self.results_dir = self.root / "results"
        self.db_path = self.root / "index.db"
        if self.root.exists() and not self.root.is_dir():
            raise CacheError(f"cache at {self.root} is a file, not a folder — choose another cache folder "
                             "with --cache-dir / $REELGRAPH_CACHE_DIR")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot open the cache at {self.root}: cannot create the folder ({e.strerror}) "
                             "— choose another with --cache-dir / $REELGRAPH_CACHE_DIR") from None
        if not os.access(self.root, os.W_OK):
            self.read_only = True
        self.store = ArtifactStore(self.root, create=not self.read_only)
        if not self.read_only:
            _make_dir(self.results_dir, self.root)
        elif not self.store.objects.is_dir() and self.store.objects.exists():
            raise CacheError(f"cache at {self.root}: objects is a file, not a folder — move it away")
        self._db: sqlite3.Connection | None = self._open()
        if self.read_only:
            log.warning("the cache at %s is read-only: cached results are used, new ones are not stored "
                        "(make it writable, or choose another with --cache-dir)", self.root)

    # -- the index
    def _connect(self, read_only: bool) -> sqlite3.Connection:
        if read_only:
            uri = f"{self.db_path.resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False, isolation_level=None)
            db.execute("SELECT count(*) FROM results").fetchone()
            return db
        db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            ok = db.execute("PRAGMA quick_check(1)").fetchone()
            if not ok or ok[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({ok[0] if ok else '?'})")
            if db.execute("PRAGMA user_version").fetchone()[0] < _INDEX_VERSION:
                self._upgrade(db)
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection | None:
        if self.read_only:
            if not self.db_path.exists():
                return None
            try:
                return self._connect(read_only=True)
            except sqlite3.DatabaseError as e:
                log.warning("cannot read the cache index %s (%s)", self.db_path, e)
                return None
        try:
            return self._connect(read_only=False)
        except sqlite3.DatabaseError as e:
            if _is_corruption(e):
                self._set_aside(e)
                return self._connect(read_only=False)  # a new, empty index: rebuilt from the segments
            if _code(e) in (_SQLITE_READONLY, _SQLITE_CANTOPEN) or not os.access(self.db_path.parent, os.W_OK):
                self.read_only = True
                return self._open()
            what = "the disk is full" if _code(e) == _SQLITE_FULL else str(e)
            raise CacheError(f"cannot open the cache index {self.db_path}: {what} — nothing was deleted; "
                             "free some space or choose another cache folder with --cache-dir") from None

    def _set_aside(self, e: BaseException) -> None:
        bad = self.db_path.with_name(f"index.db.corrupt-{int(time.time())}")
        log.warning("cache index %s is damaged (%s); moved it to %s and rebuilding it from %s/",
                    self.db_path, e, bad.name, self.results_dir.name)
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.db_path) + suffix)
            if p.exists():
                os.replace(p, str(bad) + suffix)

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """A new index (rebuilt from the result segments on disk), or one from before segments
        existed (its rows are written to a segment, so that the index can be rebuilt from now on)."""
        rows = db.execute("SELECT key, node_type, outputs, checksum FROM results").fetchall()
        if rows:
            self._write_segment([r for r in rows if _KEY.match(r[0])])
        else:
            found = 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for (key, node_type, outputs_json, checksum), mtime in self._scan_segments().items():
                    refs = self._refs_of(outputs_json, checksum)
                    if refs is None:
                        continue
                    db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)",
                               (key, node_type, outputs_json, checksum, len(outputs_json), mtime, mtime))
                    db.executemany("INSERT OR IGNORE INTO refs VALUES (?,?,?,?)", [(key, *r) for r in refs])
                    found += 1
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if found:
                log.warning("rebuilt the cache index from the result segments on disk (%d results)", found)
        db.execute(f"PRAGMA user_version={_INDEX_VERSION}")

    def _refs_of(self, outputs_json: str, checksum: str) -> list[tuple[str, str, int]] | None:
        try:
            return sorted({(r.digest, r.ext, r.size) for r in _media_in(self._decode(outputs_json, checksum))})
        except ValueError:
            return None

    def _index(self) -> sqlite3.Connection:
        if self._db is None:
            raise _Broken("no index")
        return self._db

    def _index_failed(self, e: sqlite3.DatabaseError, doing: str) -> None:
        """An error while using the index. Corruption: stop using it and serve from the segments
        (the next open rebuilds it); anything else (disk full, I/O): warn once. Nothing is deleted."""
        if _is_corruption(e):
            if self._db is not None:
                log.warning("the cache index %s is damaged (%s); going on with the results on disk "
                            "(it is rebuilt at the next start)", self.db_path, e)
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None
                if not self.read_only:
                    with contextlib.suppress(OSError):
                        self._set_aside(e)
        elif doing not in self._warned:
            self._warned.add(doing)
            log.warning("cache index %s failed (%s); results stay on disk and in memory", doing, e)

    # -- result segments: what the index is rebuilt from
    def _write_segment(self, records: list[tuple[str, str, str, str]]) -> bool:
        """Append-only record of results: one file per flush (not per result: a file costs ~0.2 ms)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        path = self.results_dir / name
        tmp = self.results_dir / f".{name}.tmp"
        lines = "".join(json.dumps({"key": k, "node_type": nt, "checksum": c, "outputs": o},
                                   ensure_ascii=False) + "\n" for k, nt, o, c in records)
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(lines)
            os.replace(tmp, path)
            return True
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if "segment" not in self._warned:
                self._warned.add("segment")
                log.warning("cannot write results to %s (%s); they are kept in the index and in memory",
                            self.results_dir, e.strerror or e)
            return False

    def _segments(self) -> list[Path]:
        try:
            return sorted(self.results_dir.glob("*.jsonl"))  # names start with the time: oldest first
        except OSError:
            return []

    def _scan_segments(self) -> dict[tuple[str, str, str, str], float]:
        """The latest readable record of every key in the segments: {(key, node_type, outputs,
        checksum): mtime}. Damaged lines and unreadable segments are skipped."""
        latest: dict[str, tuple[tuple[str, str, str, str], float]] = {}
        for seg in self._segments():
            try:
                mtime = seg.stat().st_mtime
                records = _segment_records(seg)
            except OSError:
                continue
            for rec in records:
                latest[rec[0]] = (rec, mtime)
        return dict(latest.values())

    def _compact_segments(self, live: set[str]) -> None:
        """Rewrite the segments older than a minute as one, keeping only results still indexed
        (evicted and dropped ones go). Newer segments may belong to a flush still committing."""
        cutoff = time.time() - 60
        old = [s for s in self._segments() if s.stat().st_mtime < cutoff]
        if len(old) < 2:
            return
        keep: dict[str, tuple[str, str, str, str]] = {}
        for seg in old:
            try:
                records = _segment_records(seg)
            except OSError:
                return  # never delete what could not be read and rewritten
            keep.update((rec[0], rec) for rec in records if rec[0] in live)
        if keep and not self._write_segment(list(keep.values())):
            return
        for seg in old:
            with contextlib.suppress(OSError):
                seg.unlink()

    def _decode(self, outputs_json: str, checksum: str) -> Any:
        if hashlib.sha256(outputs_json.encode()).hexdigest() != checksum:
            raise ValueError("checksum mismatch")
        try:
            outputs = t.decode(json.loads(outputs_json), self.store.path_of)
        except (TypeError, KeyError) as e:
            raise ValueError(f"cannot decode: {e}") from None
        for ref in _media_in(outputs):
            check_ref(ref)
        return outputs

    # -- reading
    def get(self, key: str) -> dict[str, Any] | None:
        """The outputs stored under ``key`` if they can be trusted (media present, right sizes)."""
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                return t.decode(json.loads(pending[2]), self.store.path_of)
            row = None
            from_index = True
            try:
                row = self._index().execute("SELECT outputs, checksum FROM results WHERE key=?",
                                            (key,)).fetchone()
            except _Broken:
                row, from_index = self._segment_row(key), False
            except sqlite3.DatabaseError as e:
                self._index_failed(e, "read")
                row, from_index = self._segment_row(key), False
        if row is None:
            return None
        try:
            outputs = self._trusted(*row)
        except Exception as e:  # a corrupt entry is dropped and recomputed, never trusted
            alt = self._segment_row(key) if from_index and not isinstance(e, _MediaMissing) else None
            if alt is not None and tuple(alt) != tuple(row):  # a damaged index row: the segment has it
                try:
                    outputs = self._trusted(*alt)
                except Exception:
                    alt = None
            if alt is None or tuple(alt) == tuple(row):
                log.warning("dropping corrupt cache entry %s: %s", key[:12], e)
                self.drop(key)
                return None
            with self._lock:  # re-index it from the segment
                refs = {(r.digest, r.ext, r.size) for r in _media_in(outputs)}
                node_type = self._from_segments[key][0] if self._from_segments else ""
                self._pending[key] = (key, node_type, alt[0], alt[1], len(alt[0]), time.time(), refs)
                self._segmented[key] = alt[1]
        with self._lock:
            self._touched[key] = time.time()
            self._start_flusher()
        return outputs

    def _trusted(self, outputs_json: str, checksum: str) -> Any:
        outputs = self._decode(outputs_json, checksum)
        for ref in _media_in(outputs):
            if not self.store.is_intact(ref):
                raise _MediaMissing(f"media {ref.digest[:12]}{ref.ext} is missing or truncated")
        return outputs

    def _segment_row(self, key: str) -> tuple[str, str] | None:
        """With no usable index: the result from the segments on disk (read once)."""
        if self._from_segments is None:
            self._from_segments = {rec[0]: rec[1:] for rec in self._scan_segments()}
        rec = self._from_segments.get(key)
        return (rec[1], rec[2]) if rec else None

    def verify_media(self, refs: Iterable[MediaRef]) -> list[MediaRef]:
        """The refs whose files are missing or damaged (damaged ones are deleted). Checks bytes
        against digests once per process unless verification is off (then presence and size)."""
        bad = []
        for ref in refs:
            ours = not ref.path or str(self.store.path_of(ref)) == ref.path
            if not ours:  # made by a run on a read-only cache, in its scratch store: presence only
                ok = Path(ref.path).is_file()
            elif self.verify_content:
                ok = self.store.verify(ref)
            else:
                ok = self.store.is_intact(ref)
            if not ok:
                bad.append(ref)
        return bad

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    # -- writing
    def put(self, key: str, node_type: str, outputs: dict[str, Any]) -> None:
        outputs_json = json.dumps(t.encode(outputs), ensure_ascii=False, separators=(",", ":"))
        checksum = hashlib.sha256(outputs_json.encode()).hexdigest()
        refs = {(r.digest, r.ext, r.size) for r in _media_in(outputs)}
        with self._lock:
            self._pending[key] = (key, node_type, outputs_json, checksum, len(outputs_json), time.time(), refs)
            self._start_flusher()

    def _start_flusher(self) -> None:
        """Results and LRU times reach the disk within a flush interval, on a background thread (not
        on the scheduler's), even if nothing touches the cache again. Call with the lock held."""
        if self._flusher is None and not self.read_only:
            self._flusher = threading.Thread(target=_flush_loop, args=(weakref.ref(self), self._closed),
                                             name="reelgraph-cache-flush", daemon=True)
            self._flusher.start()

    def drop(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)
            self._touched.pop(key, None)
            if self._from_segments is not None:
                self._from_segments.pop(key, None)
            try:
                db = self._index()
                db.execute("DELETE FROM results WHERE key=?", (key,))
                db.execute("DELETE FROM refs WHERE key=?", (key,))
            except _Broken:
                pass
            except sqlite3.DatabaseError as e:
                self._index_failed(e, "delete")

    def flush(self) -> None:
        """Write batched results (a segment file, then the index) and LRU times."""
        with self._lock:
            if (not self._pending and not self._touched) or self.read_only:
                return
            pending = list(self._pending.values())
            touched = dict(self._touched)
            fresh = [p for p in pending if self._segmented.get(p[0]) != p[3]]
            if fresh and self._write_segment([(k, nt, o, c) for k, nt, o, c, *_ in fresh]):
                self._segmented.update((p[0], p[3]) for p in fresh)
            try:
                db = self._index()
            except _Broken:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)",
                    [(k, nt, o, c, s, now, now) for k, nt, o, c, s, now, _ in pending])
                db.executemany(
                    "INSERT OR IGNORE INTO refs VALUES (?,?,?,?)",
                    [(k, d, e, sz) for k, *_, refs in pending for d, e, sz in refs])
                db.executemany("UPDATE results SET last_used=? WHERE key=?",
                               [(ts, k) for k, ts in touched.items()])
                db.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                self._index_failed(e, "write")
                return  # kept pending: served from memory (and on disk in the segment) until indexed
            for p in pending:
                self._segmented.pop(p[0], None)
                if self._pending.get(p[0]) is p:
                    del self._pending[p[0]]
            for k in touched:
                self._touched.pop(k, None)

    # -- leases
    def lease(self) -> Lease:
        """Protect the media a run holds from eviction by any process until ``release()``."""
        lease = Lease(self)
        with self._lock:
            self._leases.add(lease)
        return lease

    def held_digests(self) -> set[str]:
        """Media held by running runs: this process's leases, and every live lease file."""
        with self._lock:
            held: set[str] = set().union(*(lease.digests for lease in self._leases)) if self._leases else set()
            mine = {lease.path for lease in self._leases if lease.path is not None}
        d = self.root / "leases"
        if not d.is_dir():
            return held
        for f in d.glob("*.lease"):
            if f in mine:
                continue
            if not _lease_alive(f):
                with contextlib.suppress(OSError):
                    f.unlink()
                continue
            with contextlib.suppress(OSError):
                held.update(line for line in f.read_text(encoding="ascii", errors="replace").split()
                            if _DIGEST.match(line))
        return held

    def count(self) -> int:
        """How many results are stored."""
        with self._lock:
            self.flush()
            try:
                return int(self._index().execute("SELECT count(*) FROM results").fetchone()[0]) + \
                    len(self._pending)
            except _Broken:
                pass
            except sqlite3.DatabaseError as e:
                self._index_failed(e, "count")
        return len(self._scan_segments())

    # -- size bound
    def size(self) -> int:
        with self._lock:
            self.flush()
            try:
                db = self._index()
                res = db.execute("SELECT coalesce(sum(size),0) FROM results").fetchone()[0]
                media = db.execute(
                    "SELECT coalesce(sum(size),0) FROM (SELECT DISTINCT digest, size FROM refs)").fetchone()[0]
                return int(res + media)
            except _Broken:
                pass
            except sqlite3.DatabaseError as e:
                self._index_failed(e, "size")
        total, seen = 0, set()
        for _key, _, outputs_json, checksum in self._scan_segments():
            total += len(outputs_json)
            for d, _, sz in self._refs_of(outputs_json, checksum) or ():
                if d not in seen:
                    seen.add(d)
                    total += sz
        return total

    def evict(self, protect_since: float | None = None, keep: Iterable[MediaRef] = ()) -> int:
        """Drop least-recently-used results until the cache fits ``max_bytes`` and delete media
        that no result references any more. Never touches media held by a running run (leases, in
        any process) or listed in ``keep`` (e.g. the outputs a caller is about to read); results
        used since ``protect_since`` are kept too. Returns the number of results dropped."""
        if self.read_only:
            return 0
        dropped = 0
        freed: set[tuple[str, str]] = set()
        try:
            with self._lock:
                total = self.size()
                db = self._index()
                if total > self.max_bytes:
                    held = self.held_digests() | {r.digest for r in keep}
                    target = int(self.max_bytes * 0.9)
                    limit = protect_since if protect_since is not None else time.time() + 1
                    rows = db.execute("SELECT key, size FROM results WHERE last_used < ? "
                                      "ORDER BY last_used", (limit,)).fetchall()
                    for key, size in rows:
                        if total <= target:
                            break
                        refs = db.execute("SELECT digest FROM refs WHERE key=?", (key,)).fetchall()
                        if any(d in held for (d,) in refs):
                            continue
                        own = db.execute(
                            "SELECT digest, ext, size FROM refs r WHERE key=? AND NOT EXISTS "
                            "(SELECT 1 FROM refs o WHERE o.digest=r.digest AND o.key<>r.key)", (key,)).fetchall()
                        self.drop(key)
                        total -= size + sum(sz for _, _, sz in own)
                        freed.update((d, e) for d, e, _ in own)
                        dropped += 1
                for digest, ext in freed:
                    (self.store.objects / digest[:2] / f"{digest}{ext}").unlink(missing_ok=True)
                # Listing every object file costs time on a big cache: do it at most once an hour.
                marker = self.root / ".last-sweep"
                try:
                    due = time.time() - marker.stat().st_mtime > _ORPHAN_AGE
                except FileNotFoundError:
                    due = True
                if due:
                    self._sweep_orphans()
                    marker.touch()
        except _Broken:
            return dropped
        except sqlite3.DatabaseError as e:
            self._index_failed(e, "evict")
        return dropped

    def _sweep_orphans(self) -> None:
        """Delete scratch files and unreferenced media left by crashed runs (after an hour, so
        that files a concurrent run is about to record are not touched), and compact the result
        segments to what the index still holds."""
        db = self._index()
        self.flush()
        indexed = {k for (k,) in db.execute("SELECT key FROM results")}
        self._compact_segments(indexed | set(self._pending))
        live = {d for (d,) in db.execute("SELECT DISTINCT digest FROM refs")}
        live.update(d for *_, refs in self._pending.values() for d, _, _ in refs)
        live |= self.held_digests()
        cutoff = time.time() - _ORPHAN_AGE
        files = [f for sub in self.store.objects.iterdir() if sub.is_dir() for f in sub.iterdir()]
        for f in files + list(self.store.tmp_dir.iterdir()):
            try:
                if f.name.split(".", 1)[0] not in live and f.stat().st_mtime < cutoff:
                    f.unlink()
            except FileNotFoundError:
                pass

    # -- checking everything
    def verify(self, progress=None) -> "VerifyReport":
        """Hash every media file against its digest and check every result; damaged media and the
        results that need them are removed (they re-render on the next run)."""
        report = VerifyReport()
        t0 = time.perf_counter()
        files = sorted(f for sub in self.store.objects.iterdir() if sub.is_dir() for f in sub.iterdir()
                       if f.is_file()) if self.store.objects.is_dir() else []
        total = sum(f.stat().st_size for f in files)
        done = 0
        for f in files:
            digest, _, ext = f.name.partition(".")
            ref_ok = _DIGEST.match(digest) is not None
            try:
                good = ref_ok and _sha256_file(f) == digest
            except OSError:
                good = False
            size = f.stat().st_size if f.exists() else 0
            report.objects += 1
            report.bytes += size
            done += size
            if not good:
                report.damaged_objects.append(f.name)
                if not self.read_only:
                    self.store._discard(f, "its content does not match its digest")
            else:
                with _verified_lock:
                    _verified[str(f)] = _stamp(f.stat())
            if progress is not None:
                progress(done, total)
        self.flush()
        keys = set()
        try:
            keys = {k for (k,) in self._index().execute("SELECT key FROM results")}
        except (_Broken, sqlite3.DatabaseError):
            pass
        if not keys:
            keys = {rec[0] for rec in self._scan_segments()}
        for key in sorted(keys):
            report.results += 1
            if self.get(key) is None:
                report.dropped_results += 1
        report.seconds = time.perf_counter() - t0
        return report

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._touched.clear()
            with contextlib.suppress(_Broken):
                self._index().execute("DELETE FROM results")
                self._index().execute("DELETE FROM refs")
        shutil.rmtree(self.results_dir, ignore_errors=True)
        shutil.rmtree(self.store.objects, ignore_errors=True)
        self.store.objects.mkdir(parents=True, exist_ok=True)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        with _verified_lock:
            _verified.clear()

    def close(self) -> None:
        self._closed.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
        with self._lock:
            self.flush()
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VerifyReport:
    """What ``Cache.verify`` found."""

    def __init__(self) -> None:
        self.objects = 0
        self.bytes = 0
        self.damaged_objects: list[str] = []
        self.results = 0
        self.dropped_results = 0
        self.seconds = 0.0

    @property
    def ok(self) -> bool:
        return not self.damaged_objects and not self.dropped_results


def _segment_records(seg: Path) -> list[tuple[str, str, str, str]]:
    """The well-formed (key, node_type, outputs, checksum) records of one segment file, in order.
    Raises OSError when the file cannot be read."""
    records = []
    for line in seg.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            d = json.loads(line)
            rec = (d["key"], d["node_type"], d["outputs"], d["checksum"])
        except (ValueError, KeyError, TypeError):
            continue
        if all(isinstance(x, str) for x in rec) and _KEY.match(rec[0]):
            records.append(rec)
    return records


def _flush_loop(ref: "weakref.ref[Cache]", closed: threading.Event) -> None:
    """Flush a cache's pending results every interval until it is closed or garbage-collected
    (a weak reference: an unclosed cache does not live forever because of this thread)."""
    while not closed.wait(_FLUSH_INTERVAL):
        cache = ref()
        if cache is None:
            return
        if cache._pending or cache._touched:
            with contextlib.suppress(Exception):  # never kill the process over a background flush
                cache.flush()
        del cache


def lock_held(path: Path) -> bool | None:
    """Whether some process holds the flock of ``path`` (a lease, a job runner): True, False, or None
    when the file is gone. A crashed process's lock is released by the kernel, so a held lock means
    its owner is alive."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        return False
    finally:
        os.close(fd)  # closing also drops the lock this probe may have taken


def _lease_alive(path: Path) -> bool:
    """A lease is alive while its process holds its lock (a crashed run's lease is not)."""
    if fcntl is None:  # pragma: no cover
        try:
            os.kill(int(path.name.split("-", 1)[0]), 0)
            return True
        except (OSError, ValueError):
            return False
    held = lock_held(path)
    if held is False:
        # unlocked: a crashed run's, or one whose owner is between creating and locking it
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime < 5
    return bool(held)


def _media_in(value: Any):
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, MediaRef):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def media_in(value: Any) -> list[MediaRef]:
    """Every media reference inside a value (lists, dicts, nested)."""
    return list(_media_in(value))
