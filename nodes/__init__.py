"""reelgraph.nodes — the built-in node pack.

One node per file in category folders (``text/``, ``number/``, ``list/``; the media categories
``story/ image/ video/ audio/ assemble/ io/`` follow). Every concrete Node class defined in a module
of this package is part of the pack: adding a node is adding a file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from reelgraph.graph import Node


def _discover() -> list[type]:
    found: list[type] = []
    for info in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, Node) and "type" in value.__dict__
                    and value.__module__ == module.__name__):
                found.append(value)
    return sorted(found, key=lambda cls: cls.type)


NODES = _discover()
