"""Architecture rules from DESIGN.md that code review alone would let slip."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "diffusers", "transformers", "gradio", "ray")


def test_the_engine_and_node_pack_load_without_heavy_libraries():
    # A fresh interpreter: what importing the engine, loading every pack and running the CLI's
    # module pulls in. The editor, the validator and draft runs must start without torch & co.
    code = ("import sys; import reelgraph.graph as g; g.default_registry(); import reelgraph.ui.cli; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_graph_and_nodes_never_import_heavy_libraries_at_module_level():
    offenders = []
    for folder in ("graph", "nodes"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for stmt in tree.body:  # module level only: lazy imports inside functions are the rule
                names = []
                if isinstance(stmt, ast.Import):
                    names = [a.name for a in stmt.names]
                elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                    names = [stmt.module]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in HEAVY]
    assert offenders == []


def test_node_packs_use_only_the_public_engine_api():
    # Built-in nodes are written like third-party packs: from reelgraph.graph import ..., nothing deeper.
    deep = []
    for path in (ROOT / "nodes").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reelgraph.graph."):
                deep.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert deep == []
