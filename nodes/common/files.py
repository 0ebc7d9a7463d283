"""User files named by a path param: what makes the cache notice that a file was edited."""

from __future__ import annotations

from pathlib import Path


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
