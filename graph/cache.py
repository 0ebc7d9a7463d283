"""The artifact store (media files by content) and the persistent result cache.

Layout of a cache directory::

    objects/ab/abcdef....mp4   media, stored once by sha256 of their bytes, read-only
    tmp/                       scratch files of running nodes (same filesystem: atomic renames)
    index.db                   SQLite: results by key, the media each one references, sizes, LRU

A result is trusted only if its stored checksum matches and every media file it references is
present with its recorded size; anything else is dropped and recomputed. The index is written in
batches (a crash loses at most the last fraction of a second of results, never corrupts one).
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

from . import types as t
from .types import MediaRef

log = logging.getLogger("reelgraph")

DEFAULT_MAX_BYTES = 20 * 1024**3
_FLUSH_INTERVAL = 0.25
_ORPHAN_AGE = 3600.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)


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


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ArtifactStore:
    """Media files stored once by content under ``root/objects``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

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
        if dest.exists() and dest.stat().st_size == ref.size:
            if ours:
                src.unlink()
            # stored again just now: the orphan sweep (which spares files younger than an hour) must
            # not take it for a leftover, e.g. the output of a non-cacheable save node on a re-run
            os.utime(dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged = src if ours else Path(shutil.copyfile(src, self._scratch(ext)))
            os.chmod(staged, 0o444)  # stored media is immutable: nobody edits a cached file by accident
            os.replace(staged, dest)
        return MediaRef(kind=kind, digest=digest, ext=ext, size=ref.size, path=str(dest), meta=ref.meta)

    def _scratch(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.tmp_dir)
        os.close(fd)
        return Path(name)

    def is_intact(self, ref: MediaRef) -> bool:
        try:
            return self.path_of(ref).stat().st_size == ref.size
        except OSError:
            return False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, node_type TEXT NOT NULL, outputs TEXT NOT NULL, checksum TEXT NOT NULL,
    size INTEGER NOT NULL, created REAL NOT NULL, last_used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS results_lru ON results(last_used);
CREATE TABLE IF NOT EXISTS refs (key TEXT NOT NULL, digest TEXT NOT NULL, ext TEXT NOT NULL,
    size INTEGER NOT NULL, PRIMARY KEY (key, digest));
CREATE INDEX IF NOT EXISTS refs_digest ON refs(digest);
"""


class Cache:
    """Content-addressed results of node calls, persistent across processes.

    ``get`` returns decoded outputs or None (missing, corrupt or referencing lost media); ``put``
    records outputs. Writes are batched and flushed at least every 0.25 s and at ``flush()``.
    """

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.store = ArtifactStore(self.root)
        env = os.environ.get("REELGRAPH_CACHE_SIZE")
        self.max_bytes = max_bytes if max_bytes is not None else (parse_size(env) if env else DEFAULT_MAX_BYTES)
        self._lock = threading.RLock()
        self._pending: dict[str, tuple] = {}  # unflushed results by key (a dict: get is O(1))
        self._touched: dict[str, float] = {}
        self._last_flush = time.monotonic()
        self.db_path = self.root / "index.db"
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        for attempt in range(2):
            try:
                db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False,
                                     isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                db.execute("SELECT count(*) FROM results").fetchone()
                return db
            except sqlite3.DatabaseError as e:
                if attempt:
                    raise
                bad = self.db_path.with_name(f"index.db.corrupt-{int(time.time())}")
                log.warning("cache index %s is unreadable (%s); moved it to %s and starting afresh",
                            self.db_path, e, bad.name)
                for suffix in ("", "-wal", "-shm"):
                    p = Path(str(self.db_path) + suffix)
                    if p.exists():
                        os.replace(p, str(bad) + suffix)
        raise AssertionError("unreachable")

    # -- reading
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                return t.decode(json.loads(pending[2]), self.store.path_of)
            try:
                row = self._db.execute("SELECT outputs, checksum FROM results WHERE key=?", (key,)).fetchone()
            except sqlite3.DatabaseError as e:
                log.warning("cache read failed (%s); recomputing", e)
                return None
        if row is None:
            return None
        outputs_json, checksum = row
        try:
            if hashlib.sha256(outputs_json.encode()).hexdigest() != checksum:
                raise ValueError("checksum mismatch")
            outputs = t.decode(json.loads(outputs_json), self.store.path_of)
            for ref in _media_in(outputs):
                if not self.store.is_intact(ref):
                    raise ValueError(f"media {ref.digest[:12]}{ref.ext} is missing or truncated")
        except Exception as e:  # a corrupt entry is dropped and recomputed, never trusted
            log.warning("dropping corrupt cache entry %s: %s", key[:12], e)
            self.drop(key)
            return None
        with self._lock:
            self._touched[key] = time.time()
        self._maybe_flush()
        return outputs

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    # -- writing
    def put(self, key: str, node_type: str, outputs: dict[str, Any]) -> None:
        outputs_json = json.dumps(t.encode(outputs), ensure_ascii=False, separators=(",", ":"))
        checksum = hashlib.sha256(outputs_json.encode()).hexdigest()
        refs = {(r.digest, r.ext, r.size) for r in _media_in(outputs)}
        now = time.time()
        with self._lock:
            self._pending[key] = (key, node_type, outputs_json, checksum, len(outputs_json), now, refs)
        self._maybe_flush()

    def drop(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)
            try:
                self._db.execute("DELETE FROM results WHERE key=?", (key,))
                self._db.execute("DELETE FROM refs WHERE key=?", (key,))
            except sqlite3.DatabaseError as e:
                log.warning("cache delete failed: %s", e)

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= _FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Write batched results and LRU times to the index."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            touched, self._touched = self._touched, {}
            self._last_flush = time.monotonic()
            if not pending and not touched:
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)",
                    [(k, nt, o, c, s, now, now) for k, nt, o, c, s, now, _ in pending])
                self._db.executemany(
                    "INSERT OR IGNORE INTO refs VALUES (?,?,?,?)",
                    [(k, d, e, sz) for k, *_, refs in pending for d, e, sz in refs])
                self._db.executemany("UPDATE results SET last_used=? WHERE key=?",
                                     [(ts, k) for k, ts in touched.items()])
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                log.warning("cache write failed (%s); these results will be recomputed next time", e)
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.DatabaseError:
                    pass

    def count(self) -> int:
        """How many results are stored."""
        with self._lock:
            self.flush()
            return self._db.execute("SELECT count(*) FROM results").fetchone()[0]

    # -- size bound
    def size(self) -> int:
        with self._lock:
            self.flush()
            res = self._db.execute("SELECT coalesce(sum(size),0) FROM results").fetchone()[0]
            media = self._db.execute(
                "SELECT coalesce(sum(size),0) FROM (SELECT DISTINCT digest, size FROM refs)").fetchone()[0]
        return int(res + media)

    def evict(self, protect_since: float | None = None) -> int:
        """Drop least-recently-used results until the cache fits ``max_bytes`` and delete media
        that no result references any more. Results used since ``protect_since`` are kept (a
        running workflow still needs them). Returns the number of results dropped."""
        dropped = 0
        freed: set[tuple[str, str]] = set()
        with self._lock:
            total = self.size()
            if total > self.max_bytes:
                target = int(self.max_bytes * 0.9)
                limit = protect_since if protect_since is not None else time.time() + 1
                rows = self._db.execute("SELECT key, size FROM results WHERE last_used < ? "
                                        "ORDER BY last_used", (limit,)).fetchall()
                for key, size in rows:
                    if total <= target:
                        break
                    own = self._db.execute(
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
        return dropped

    def _sweep_orphans(self) -> None:
        """Delete scratch files and unreferenced media left by crashed runs (after an hour, so
        that files a concurrent run is about to record are not touched)."""
        live = {d for (d,) in self._db.execute("SELECT DISTINCT digest FROM refs")}
        live.update(d for *_, refs in self._pending.values() for d, _, _ in refs)
        cutoff = time.time() - _ORPHAN_AGE
        files = [f for sub in self.store.objects.iterdir() if sub.is_dir() for f in sub.iterdir()]
        for f in files + list(self.store.tmp_dir.iterdir()):
            try:
                if f.name.split(".", 1)[0] not in live and f.stat().st_mtime < cutoff:
                    f.unlink()
            except FileNotFoundError:
                pass

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._touched.clear()
            self._db.execute("DELETE FROM results")
            self._db.execute("DELETE FROM refs")
        shutil.rmtree(self.store.objects, ignore_errors=True)
        self.store.objects.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
