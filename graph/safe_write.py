"""Writing a file the user named (`-o`, a save node's ``filename``) without ever damaging what is there.

- A regular file is replaced atomically: the bytes go to a temporary file beside it, which is synced
  and renamed over it, so readers see the old file or the new one, never half of one.
- A symlink is written through: its target gets the new content, the link stays a link.
- A device or FIFO (``/dev/null``, a named pipe another program reads) is written into directly,
  never replaced by a regular file; ``/dev/stdout`` and ``/dev/fd/N`` go through the open stream
  (a shell's ``> file`` keeps what was written before and after).
- Temporary files are named ``.<name>.<random>.reelgraph.part`` and locked while being written. A
  writer killed with ``kill -9`` cannot clean up after itself, so the next write into the same folder
  removes every such file whose lock is free: its writer is gone (the kernel drops a dead process's
  locks). Leftovers never accumulate, and a write in progress in another process is never touched.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so stale temporary files are not swept
    fcntl = None  # type: ignore[assignment]

PART_SUFFIX = ".reelgraph.part"
# This process's temporary files being written. Locks already keep a sweep off them, but on NFS
# flock() becomes a per-process POSIX lock that a sweep in another thread would not see.
_writing: set[str] = set()

Writer = Callable[[BinaryIO], object]


def write_file(path: str | os.PathLike, write: Writer) -> Path:
    """Write ``path`` with ``write(binary_file)``; returns the file that received the bytes.

    Raises OSError (with ``filename``) when it cannot be written; nothing half-written is left.
    """
    path = Path(path)
    fd = _own_stream(path)
    if fd is not None:
        _write_into_open(fd, write)
        return path
    try:
        st = os.stat(path)  # follows symlinks: what matters is what the name leads to
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder", str(path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_into(path, write)
        return path
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    _replace(target, write, mode=stat.S_IMODE(st.st_mode) if st is not None else None)
    return target


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_file(path, lambda f: f.write(data))


def copy_file(src: str | os.PathLike, path: str | os.PathLike) -> Path:
    def copy(f: BinaryIO) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)
    return write_file(path, copy)


def is_regular_target(path: str | os.PathLike) -> bool:
    """Whether writing ``path`` makes an ordinary file (so a companion like ``.srt`` can go beside it)."""
    if _own_stream(Path(path)) is not None:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def sweep(folder: str | os.PathLike) -> int:
    """Remove the temporary files of writers that died in ``folder``; returns how many."""
    if fcntl is None:
        return 0
    removed = 0
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(PART_SUFFIX)) or entry.path in _writing:
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its writer is alive
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _own_stream(path: Path) -> int | None:
    """The descriptor when ``path`` names a file this process has open: ``/dev/stdout``,
    ``/dev/fd/3``, ``/proc/self/fd/1``. Reopening it by name would start at offset 0 (or replace the
    file a shell redirected into), so it is written through the open descriptor instead."""
    own = re.compile(rf"/(?:proc/(?:self|{os.getpid()})/fd|dev/fd)/(\d+)")
    name = os.path.normpath(os.path.abspath(path))
    for _ in range(40):  # the kernel's own limit on symlink hops
        m = own.fullmatch(name)
        if m:
            return int(m.group(1))
        try:
            link = os.readlink(name)
        except OSError:  # not a symlink (or not there)
            return None
        name = os.path.normpath(os.path.join(os.path.dirname(name), link))
    return None


def _write_into_open(fd: int, write: Writer) -> None:
    for stream in (sys.stdout, sys.stderr):  # what Python buffered for them goes first
        try:
            if stream is not None and stream.fileno() == fd:
                stream.flush()
        except (AttributeError, OSError, ValueError):  # replaced streams (tests) have no fileno
            pass
    with os.fdopen(os.dup(fd), "wb") as f:
        write(f)


def _write_into(path: Path, write: Writer) -> None:
    # O_NONBLOCK so that a FIFO nobody reads fails at once (ENXIO) instead of hanging; the writes
    # themselves block as usual. No O_CREAT: this is a device or FIFO, not a file we may create.
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as f:
        write(f)


def _replace(target: Path, write: Writer, mode: int | None) -> None:
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder)
    fd, tmp = _locked_temp(target)
    _writing.add(tmp)
    try:
        if mode is not None:  # replacing a file keeps its permissions, as cp does
            os.chmod(fd if os.chmod in os.supports_fd else tmp, mode)
        with os.fdopen(os.dup(fd), "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the rename must never publish a file whose data is not on disk
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)  # releases the lock only now: a sweeper never takes a file being written
        _writing.discard(tmp)


def _locked_temp(target: Path) -> tuple[int, str]:
    """A new temporary file beside ``target``, created with the umask's permissions and locked."""
    stem = os.fsdecode(os.fsencode(target.name)[:120])  # stay under the file system's 255-byte limit
    while True:
        tmp = str(target.parent / f".{stem}.{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A sweeper may have taken the lock between our open and our flock and removed the file:
        # then the name is gone (or is another file) and we start over with a fresh one.
        try:
            same = os.stat(tmp).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, tmp
        os.close(fd)
