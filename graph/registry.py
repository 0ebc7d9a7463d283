"""The node registry and the discovery of node packs.

Built-in nodes come from ``reelgraph.nodes``; other packs are found through the entry-point group
``reelgraph.nodes``. An entry point may name a module (its ``NODES`` list, or every concrete Node
class it defines), a Node class, an iterable of classes, or a function returning one. A pack that
fails to load is reported in ``Registry.problems`` and skipped, never fatal.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Iterable

from .errors import DeclarationError
from .node import Node, NodeSpec

ENTRY_POINT_GROUP = "reelgraph.nodes"
BUILTIN_PACK = "reelgraph.nodes"
log = logging.getLogger("reelgraph")


@dataclass
class PackProblem:
    pack: str
    message: str

    def __str__(self) -> str:
        return f"node pack {self.pack!r} was skipped: {self.message}"


class Registry:
    """Node types by id. ``Registry()`` is empty (tests use that); ``default_registry()`` has the packs."""

    def __init__(self):
        self._specs: dict[str, NodeSpec] = {}
        self._origin: dict[str, str] = {}
        self.problems: list[PackProblem] = []

    def register(self, cls: type, pack: str = "local") -> type:
        """Add a node class; usable as a decorator. Re-registering the same id replaces it only
        from the same pack, so two packs cannot silently shadow each other."""
        if not (inspect.isclass(cls) and issubclass(cls, Node) and "type" in cls.__dict__):
            raise DeclarationError(f"{cls!r} is not a node class (subclass Node and set type = 'domain.verb')")
        spec = cls.spec
        other = self._origin.get(spec.type)
        if other is not None and other != pack and self._specs[spec.type].cls is not cls:
            raise DeclarationError(f"node type {spec.type!r} from pack {pack!r} is already provided by "
                                   f"pack {other!r} — rename one of them")
        self._specs[spec.type] = spec
        self._origin[spec.type] = pack
        return cls

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def __contains__(self, type_id: str) -> bool:
        return type_id in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def types(self) -> list[str]:
        return sorted(self._specs)

    def origin(self, type_id: str) -> str | None:
        return self._origin.get(type_id)

    def catalog(self) -> dict:
        """The node catalog: what ``reelgraph nodes --json`` prints and the editor reads."""
        from .node import NODE_API_VERSION
        return {
            "api_version": NODE_API_VERSION,
            "nodes": [{**s.to_dict(), "pack": self._origin[s.type]}
                      for s in sorted(self._specs.values(), key=lambda s: (s.category, s.type))],
            "problems": [str(p) for p in self.problems],
        }

    def load_pack(self, name: str, obj) -> int:
        """Register the node classes an entry point (or module) provides; returns how many."""
        classes = list(_classes_in(obj))
        if not classes:
            raise DeclarationError("it provides no node classes")
        # A pack loads whole or not at all: check every class on a scratch copy first, so a pack
        # reported as skipped never leaves some of its nodes registered.
        trial = Registry()
        trial._specs, trial._origin = dict(self._specs), dict(self._origin)
        for cls in classes:
            trial.register(cls, pack=name)
        for cls in classes:
            self.register(cls, pack=name)
        return len(classes)

    def discover(self, include_builtin: bool = True) -> "Registry":
        """Load the built-in pack and every installed pack; report and skip the broken ones."""
        if include_builtin:
            self._try_pack(BUILTIN_PACK, lambda: importlib.import_module(BUILTIN_PACK))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.value.split(":")[0] == BUILTIN_PACK:
                continue
            self._try_pack(ep.name, ep.load)
        return self

    def _try_pack(self, name: str, load) -> None:
        try:
            self.load_pack(name, load())
        except Exception as e:  # a broken pack must never take the others down
            problem = PackProblem(name, f"{type(e).__name__}: {e}")
            self.problems.append(problem)
            log.warning("%s", problem)


def _classes_in(obj) -> Iterable[type]:
    if isinstance(obj, ModuleType):
        if hasattr(obj, "NODES"):
            yield from obj.NODES
            return
        for value in vars(obj).values():
            if (inspect.isclass(value) and issubclass(value, Node) and "type" in value.__dict__
                    and value.__module__ == obj.__name__):
                yield value
    elif inspect.isclass(obj):
        yield obj
    elif callable(obj):
        yield from obj()
    else:
        yield from obj


_default: Registry | None = None
_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry with the built-in and installed packs (loaded on first use)."""
    global _default
    with _lock:
        if _default is None:
            _default = Registry().discover()
        return _default


def register(cls: type) -> type:
    """Decorator: add a node class to the default registry (for scripts using the Python API)."""
    return default_registry().register(cls, pack="local")
