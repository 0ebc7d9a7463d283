"""What the canvas knows about node types: the registry's catalog plus the wiring table and colours.

The canvas never re-implements the wiring rules: ``links`` holds ``graph.types.link_mode`` for every
pair of port types that appear in the catalog, so a new node type or port type needs no JS change.
See docs/editor-protocol.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelgraph.graph import Registry, default_registry
from reelgraph.graph import types as t

# Palette order; a pack's own categories follow, alphabetically.
CATEGORIES = [("story", "Story"), ("image", "Image"), ("video", "Video"), ("audio", "Audio"),
              ("assemble", "Assemble"), ("io", "Files"), ("text", "Text"), ("number", "Number"),
              ("list", "Lists"), ("wire", "Wiring")]

# Port colours by base type, picked to stay distinct on a dark canvas.
TYPE_COLORS = {"Text": "#e2c275", "Int": "#7fb3ff", "Float": "#5fd4e0", "Bool": "#c792ea",
               "Choice": "#f2a65a", "Image": "#7bd88f", "Video": "#ff7a90", "Audio": "#b99cff",
               "Shot": "#ffd166", "Any": "#a0a8b8", "T": "#a0a8b8"}
_FALLBACK = ["#9ad1d4", "#f4a261", "#e76f51", "#90be6d", "#577590", "#f9c74f"]

# Node titles, tooltips and docs in other languages: ui/i18n/nodes.<locale>.json (the interface's
# own strings are ui/i18n/<locale>.json, built into the bundle). English is the catalog itself.
I18N_DIR = Path(__file__).resolve().parent / "i18n"


def node_translations(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """{locale: {"ports": {...}, "categories": {...}, "nodes": {type: {...}}}} for ``nodes``.

    Only types the registry has are sent; a type with no entry shows in English in the editor.
    """
    known = {n["type"] for n in nodes}
    out: dict[str, Any] = {}
    for path in sorted(I18N_DIR.glob("nodes.*.json")):
        locale = path.name[len("nodes."):-len(".json")]
        data = json.loads(path.read_text(encoding="utf-8"))
        out[locale] = {"ports": data.get("ports", {}), "categories": data.get("categories", {}),
                       "nodes": {k: v for k, v in data.get("nodes", {}).items() if k in known}}
    return out


def base_type(name: str) -> str:
    while name.startswith("List[") and name.endswith("]"):
        name = name[5:-1]
    return name


def build_catalog(registry: Registry | None = None) -> dict[str, Any]:
    reg = registry or default_registry()
    nodes = reg.catalog()["nodes"]
    port_types: set[str] = set()
    for n in nodes:
        for p in n["inputs"] + n["outputs"] + [q for q in n["params"] if q.get("wirable")]:
            port_types.add(p["type"])
    parsed = {name: t.parse_type(name) for name in sorted(port_types)}
    links: dict[str, dict[str, str]] = {}
    for src, s in parsed.items():
        row = {dst: mode for dst, d in parsed.items() if (mode := t.link_mode(s, d)) is not None}
        links[src] = row
    types = {}
    for i, name in enumerate(sorted({base_type(n) for n in port_types})):
        types[name] = {"color": TYPE_COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])}
    known = {c for c, _ in CATEGORIES}
    extra = sorted({n["category"] for n in nodes} - known)
    categories = [{"id": c, "title": title} for c, title in CATEGORIES if any(n["category"] == c for n in nodes)]
    categories += [{"id": c, "title": c.replace("_", " ").title()} for c in extra]
    return {"nodes": nodes, "categories": categories, "links": links, "types": types,
            "i18n": node_translations(nodes)}
