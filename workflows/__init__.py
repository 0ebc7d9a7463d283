"""Example workflows shipped with reelgraph (``reelgraph.workflows.path("shot_outline")``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """The file of a shipped example workflow, by name with or without ``.json``."""
    name = name if name.endswith(".json") else name + ".json"
    p = Path(str(files(__name__) / name))
    if not p.is_file():
        raise FileNotFoundError(f"no example workflow {name!r}; examples: {', '.join(names())}")
    return p


def names() -> list[str]:
    return sorted(p.name[:-5] for p in Path(str(files(__name__))).glob("*.json"))
