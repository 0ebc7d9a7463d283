"""The one event stream that the CLI, the editor and the Python API all consume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

EVENT_KINDS = ("run_started", "node_started", "node_progress", "node_cached", "node_finished",
               "node_failed", "node_skipped", "node_warning", "run_finished")


@dataclass
class Event:
    """One thing that happened in a run.

    ``seconds``: for node_finished/node_failed the node's wall time, otherwise the time since the
    run started. ``cached`` is set on node_finished and node_cached. ``element`` is the list index
    of a mapped call. ``data`` carries extras (run_finished: status, counts, outputs).
    """

    event: str
    run_id: str
    seconds: float
    node: str | None = None
    element: int | None = None
    cached: bool | None = None
    progress: float | None = None
    message: str | None = None
    error: dict | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # node_finished: the node's output values, for in-process listeners (the editor's previews).
    # Not part of to_dict()/to_json(): values can be large and are not JSON.
    outputs: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"event": self.event, "run_id": self.run_id, "node": self.node,
                             "seconds": round(self.seconds, 6)}
        for key in ("element", "cached", "progress", "message", "error"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.event in ("node_finished", "node_cached") and self.cached is None:
            d["cached"] = False
        d.update(self.data)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


Listener = Callable[[Event], None]
