from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reelgraph import graph  # noqa: E402
from stubnodes import make_registry  # noqa: E402

RESOURCES = Path(__file__).parent / "resources"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test ever touches the user's real cache."""
    monkeypatch.setenv("REELGRAPH_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture
def ctx(tmp_path):
    """A RunContext for calling a node's run() directly; its workspace is tmp_path."""
    return graph.RunContext.standalone(tmp_path)


def node(type_id: str):
    """An instance of a registered node type (node tests call its run() directly)."""
    spec = graph.default_registry().get(type_id)
    assert spec is not None, f"{type_id} is not registered"
    return spec.cls()


@pytest.fixture
def registry():
    return make_registry()


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def make_workflow(nodes: dict, edges: list | None = None, **extra) -> dict:
    """A workflow dict: nodes as {id: (type, params)} or {id: {...}}, edges as ("a.x", "b.y")."""
    return {
        "schema": "reelgraph/workflow", "version": 1, **extra,
        "nodes": {k: (v if isinstance(v, dict) else {"type": v[0], "params": v[1] if len(v) > 1 else {}})
                  for k, v in nodes.items()},
        "edges": [{"from": a, "to": b} for a, b in (edges or [])],
    }


@pytest.fixture
def wf():
    return make_workflow


def resource(name: str) -> Path:
    return RESOURCES / name


def load_resource(name: str) -> dict:
    return json.loads(resource(name).read_text())
