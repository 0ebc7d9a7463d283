"""The node registry and the discovery of node packs.

Built-in nodes come from ``reelgraph.nodes``; other packs are found through the entry-point group
``reelgraph.nodes``. An entry point may name a module (its ``NODES`` list, or every concrete Node
class it defines), a Node class, an iterable of classes, or a function returning one. A pack that
fails to load is reported in ``Registry.problems`` and skipped, never fatal — including one that
calls ``sys.exit`` or raises another ``BaseException`` while it is imported (only Ctrl-C gets
through). The built-in nodes always win: a pack claiming one of their type ids is skipped whole.
Every discovered pack gets a name of its own, so no pack can pass for another (or for the
built-in pack) and replace its nodes.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import TypeGuard

from .errors import DeclarationError, describe
from .node import Node, NodeSpec

ENTRY_POINT_GROUP = "reelgraph.nodes"
BUILTIN_PACK = "reelgraph.nodes"
log = logging.getLogger("reelgraph")


@dataclass
class PackProblem:
    pack: str
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        text = f"node pack {self.pack!r} was skipped: {self.message}"
        return text + (f" — {self.fix}" if self.fix else "")


class Registry:
    """Node types by id. ``Registry()`` is empty (tests use that); ``default_registry()`` has the packs."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._origin: dict[str, str] = {}
        self.problems: list[PackProblem] = []

    def register(self, cls: type, pack: str = "local") -> type:
        """Add a node class; usable as a decorator. Re-registering the same id replaces it only
        from the same pack, so two packs cannot silently shadow each other."""
        if not _is_node_class(cls):
            raise _not_a_node_class(cls)
        spec = cls.spec
        other = self._owner_if_taken(cls, pack)
        if other is not None:
            raise DeclarationError(_clash_message(pack, other, [spec.type]))
        self._specs[spec.type] = spec
        self._origin[spec.type] = pack
        return cls

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def __contains__(self, type_id: str) -> bool:
        return type_id in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
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

    def load_pack(self, name: str, obj: object) -> int:
        """Register the node classes an entry point (or module) provides; returns how many."""
        found = list(_classes_in(obj))
        if not found:
            raise DeclarationError("it provides no node classes — its entry point must name a module "
                                   "defining Node classes (or a NODES list), a class, or a list of them")
        # A pack loads whole or not at all: every class is checked before any is registered, so a
        # pack reported as skipped never leaves some of its nodes behind; every clash is named.
        classes: list[type[Node]] = []
        for cls in found:
            if not _is_node_class(cls):
                raise _not_a_node_class(cls)
            classes.append(cls)
        clashes: dict[str, list[str]] = {}
        for cls in classes:
            other = self._owner_if_taken(cls, name)
            if other is not None:
                clashes.setdefault(other, []).append(cls.spec.type)
        if clashes:
            raise DeclarationError("; ".join(_clash_message(name, other, ids)
                                             for other, ids in clashes.items()))
        for cls in classes:
            self.register(cls, pack=name)
        return len(classes)

    def _owner_if_taken(self, cls: type[Node], pack: str) -> str | None:
        """The other pack that already provides ``cls``'s type id with a different class."""
        type_id = cls.spec.type
        other = self._origin.get(type_id)
        if other is None or other == pack or self._specs[type_id].cls is cls:
            return None
        return other

    def discover(self, include_builtin: bool = True) -> Registry:
        """Load the built-in pack and every installed pack; report and skip the broken ones."""
        # Pack names are unique, so the same-pack rule of ``register`` cannot be used by one pack
        # to replace another's nodes (or the built-ins) just by choosing the same entry-point name.
        names = {BUILTIN_PACK, "local", *self._origin.values()}
        if include_builtin:
            self._try_pack(BUILTIN_PACK, lambda: importlib.import_module(BUILTIN_PACK))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.value.split(":")[0] == BUILTIN_PACK:
                continue
            dist = getattr(getattr(ep, "dist", None), "name", None)
            name = ep.name
            if name in names:
                name = f"{ep.name} (from {dist or ep.value})"
            names.add(name)
            self._try_pack(name, ep.load, dist)
        return self

    def _try_pack(self, name: str, load: Callable[[], object], dist: str | None = None) -> None:
        try:
            self.load_pack(name, load())
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 — a pack must never end the program or take the others down
            fix = None
            if not isinstance(e, DeclarationError):
                fix = (f"fix the pack or uninstall it (pip uninstall {dist})" if dist
                       else "fix the pack or uninstall it")
            problem = PackProblem(name, _describe(e), fix)
            self.problems.append(problem)
            log.warning("%s", problem)


def _is_node_class(cls: object) -> TypeGuard[type[Node]]:
    return inspect.isclass(cls) and issubclass(cls, Node) and "type" in cls.__dict__


def _not_a_node_class(cls: object) -> DeclarationError:
    return DeclarationError(f"{cls!r} is not a node class (subclass Node and set type = 'domain.verb')")


def _clash_message(pack: str, other: str, type_ids: list[str]) -> str:
    ids = ", ".join(repr(i) for i in type_ids)
    what = f"node type {ids} from pack {pack!r} is" if len(type_ids) == 1 else \
        f"node types {ids} from pack {pack!r} are"
    if other == BUILTIN_PACK:
        return (f"{what} already provided by pack {other!r} (built-in nodes, which always win) — "
                f"rename the pack's type ids (e.g. '{_domain(pack)}.{type_ids[0].rpartition('.')[2]}')")
    return f"{what} already provided by pack {other!r} — rename one of them"


def _domain(pack: str) -> str:
    word = "".join(c if c.isalnum() else "_" for c in pack.split(" ")[0].split(".")[-1].lower())
    return word.strip("_") or "mypack"


def _describe(e: BaseException) -> str:
    """The error as one line, even when its ``str()`` itself fails."""
    if isinstance(e, SystemExit):
        return f"SystemExit: it calls sys.exit({e.code!r}) when imported"
    return describe(e)


def _classes_in(obj: object) -> Iterable[object]:
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
        yield from _iterable(obj())
    else:
        yield from _iterable(obj)


def _iterable(obj: object) -> Iterable[object]:
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        return obj
    raise DeclarationError(f"its entry point gives {type(obj).__name__}, not a module, a node class, "
                           "a list of node classes or a function returning one")


_default: Registry | None = None
# Re-entrant: a pack may call ``register`` (and so ``default_registry``) while discovery imports it.
_lock = threading.RLock()


def default_registry() -> Registry:
    """The process-wide registry with the built-in and installed packs (loaded on first use)."""
    global _default
    with _lock:
        if _default is None:
            # Published before discovery so that a pack registering itself at import time gets
            # the registry being built; other threads wait on the lock until it is complete.
            _default = Registry()
            try:
                _default.discover()
            except BaseException:
                _default = None
                raise
        return _default


def register(cls: type) -> type:
    """Decorator: add a node class to the default registry (for scripts using the Python API)."""
    return default_registry().register(cls, pack="local")
