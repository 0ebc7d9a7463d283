"""User files named by a path param: checked to be regular files before a loader opens them, and
what makes the cache notice that a file was edited."""

from __future__ import annotations

import stat
from pathlib import Path

from reelgraph.graph import NodeError


def path_fingerprint(values: dict, workspace, field: str = "path") -> str | None:
    """Size and modification time of the file named by ``values[field]`` (relative to ``workspace``).

    For a node's ``fingerprint`` classmethod: editing the file changes the cache key, so the node runs
    again. "missing" for a file that is not there (the node's run() then reports it).
    """
    value = values.get(field) or ""
    if not value:
        return None
    try:
        raw = Path(value).expanduser()
        st = (raw if raw.is_absolute() else Path(workspace) / raw).stat()
    except (OSError, ValueError):
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
          stat.S_IFSOCK: "a socket"}


def user_file(ctx, value: str, field: str = "path", what: str = "a file") -> Path:
    """The regular file a path param names, inside the workspace, checked before anything opens it.

    open() of a named pipe blocks until something writes to it (forever, for one left in a workspace)
    and a device such as /dev/zero never ends: a loader must say so, not hang or fill the memory.
    ``what`` completes the fixes: "name {what} inside it", "give {what}".
    """
    path = ctx.user_path(value, field)
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise NodeError(f"cannot read {value}: {e.strerror or e}", field=field,
                        fix="check that the file is readable") from None
    if stat.S_ISDIR(mode):
        raise NodeError(f"path {value!r} is a folder", field=field, fix=f"name {what} inside it")
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
        raise NodeError(f"{value} is not a regular file ({kind})", field=field, fix=f"give {what}")
    return path
