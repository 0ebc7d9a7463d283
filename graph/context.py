"""What a node's run() gets besides its inputs: progress, cancellation, files and models."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import Cancelled, NodeError
from .types import MediaRef

_PROGRESS_INTERVAL = 0.05  # seconds between two progress events of one call


class CancelToken:
    """Cooperative cancellation: set once; nodes notice it at their next progress tick."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        if not self._event.is_set():
            self._event.set()
            for cb in list(self._callbacks):
                cb()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, cb: Callable[[], None]) -> None:
        self._callbacks.append(cb)
        if self.cancelled:
            cb()


class RunContext:
    """The handle a node's run() receives.

    - ``progress(fraction, message)`` reports progress and is where cancellation is noticed;
    - ``temp_path(suffix)`` gives a scratch file that is removed unless stored;
    - ``store_file(path, kind, **meta)`` moves a finished file into the artifact store and returns
      its ``MediaRef``; only complete files are ever stored, so a cancelled run leaves none half-written;
    - ``user_path(value, field)`` resolves a user-given path inside the workspace;
    - ``models`` holds the models the node declared, loaded by the model manager;
    - ``warn(message)`` tells the user something without failing;
    - ``workflow_json()`` is the workflow being run, for output files that embed it (provenance).
    """

    def __init__(self, *, node_id: str, store, workspace: Path, cancel: CancelToken | None = None,
                 element: int | None = None, emit: Callable[..., None] | None = None,
                 models: dict[str, Any] | None = None, workflow: Any = None):
        self.node_id = node_id
        self.element = element
        self.store = store
        self.workspace = Path(workspace)
        self.cancel_token = cancel or CancelToken()
        self.models = models or {}
        self._workflow = workflow
        self._emit = emit
        self._last_progress = 0.0
        self._temps: list[Path] = []

    @classmethod
    def standalone(cls, workdir: str | os.PathLike, node_id: str = "node", **kwargs) -> "RunContext":
        """A context for calling a node's run() directly (node tests, scripts)."""
        from .cache import ArtifactStore
        workdir = Path(workdir)
        return cls(node_id=node_id, store=ArtifactStore(workdir / "store"), workspace=workdir, **kwargs)

    def workflow_json(self) -> str | None:
        """The running workflow as compact JSON (None when run() is called outside a workflow)."""
        wf = self._workflow
        if wf is None:
            return None
        if hasattr(wf, "to_dict"):
            wf = wf.to_dict()
        import json
        return json.dumps(wf, ensure_ascii=False, separators=(",", ":"))

    # progress and cancellation
    @property
    def cancelled(self) -> bool:
        return self.cancel_token.cancelled

    def check_cancelled(self) -> None:
        if self.cancel_token.cancelled:
            raise Cancelled(f"{self.node_id}: cancelled")

    def progress(self, fraction: float, message: str | None = None) -> None:
        self.check_cancelled()
        now = time.monotonic()
        if self._emit is not None and (now - self._last_progress >= _PROGRESS_INTERVAL or fraction >= 1.0):
            self._last_progress = now
            self._emit("node_progress", progress=max(0.0, min(1.0, float(fraction))), message=message)

    def warn(self, message: str) -> None:
        if self._emit is not None:
            self._emit("node_warning", message=message)

    # files
    def temp_path(self, suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.store.tmp_dir)
        os.close(fd)
        path = Path(name)
        self._temps.append(path)
        return path

    def store_file(self, path: str | os.PathLike, kind: str, **meta: Any) -> MediaRef:
        self.check_cancelled()
        return self.store.ingest(Path(path), kind, meta)

    def cleanup(self) -> None:
        """Remove scratch files that were not stored (called by the executor after every call)."""
        for path in self._temps:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self._temps.clear()

    def user_path(self, value: str, field: str, must_exist: bool = True) -> Path:
        """A path the user typed, resolved against the workspace; it must not escape it."""
        if not value:
            raise NodeError("no path given", field=field, fix="set a file path")
        if "\0" in value:
            raise NodeError(f"path {value!r} contains a NUL byte, which no file name can hold", field=field,
                            fix="remove it from the path")
        try:
            os.fsencode(value)
        except UnicodeEncodeError:
            raise NodeError(f"path {value!r} holds characters this system cannot use in a file name",
                            field=field, fix="rename the file to plain UTF-8 text and use that name") from None
        raw = Path(value).expanduser()
        path = (raw if raw.is_absolute() else self.workspace / raw).resolve()
        root = self.workspace.resolve()
        if path != root and root not in path.parents:
            raise NodeError(f"path {value!r} is outside the workspace {root}", field=field,
                            fix="put the file inside the workflow's folder and use a relative path")
        if must_exist and not path.exists():
            raise NodeError(f"file not found: {value}", field=field,
                            fix=f"check the name; paths are relative to {root}")
        return path
