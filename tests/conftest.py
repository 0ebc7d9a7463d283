from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Model tests run on the CPU from tiny local models: never a hub, never a GPU found by accident.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("REELGRAPH_DEVICE", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    """No test reaches the network: a connection to anything but this machine fails loudly."""
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"test tried to reach the network: {address}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only

from reelgraph import graph  # noqa: E402
from stubnodes import make_registry  # noqa: E402

RESOURCES = Path(__file__).parent / "resources"


@pytest.fixture(scope="session", autouse=True)
def _models_folder(tmp_path_factory):
    """Never the user's model folder. Tiny test models are built in pytest's temporary folder,
    outside each test's workspace: that folder is their $REELGRAPH_MODELS (a model folder is read
    only from the workspace, $REELGRAPH_MODELS or the Hugging Face cache). Set for the session, so
    that module fixtures running `reelgraph` in a subprocess see it too."""
    before = os.environ.get("REELGRAPH_MODELS")
    os.environ["REELGRAPH_MODELS"] = str(tmp_path_factory.getbasetemp())
    yield
    if before is None:
        os.environ.pop("REELGRAPH_MODELS", None)
    else:
        os.environ["REELGRAPH_MODELS"] = before


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test ever touches the user's real cache, nor their job history."""
    monkeypatch.setenv("REELGRAPH_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("REELGRAPH_DATA_DIR", str(tmp_path / "user-jobs"))
    # nor the user's Hugging Face cache
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


@pytest.fixture
def every_progress_event(monkeypatch):
    """Progress events are throttled to one per 50 ms; a tiny model's step takes a few ms."""
    monkeypatch.setattr(graph.context, "_PROGRESS_INTERVAL", 0.0)


@pytest.fixture
def stop_after(monkeypatch):
    """``stop_after(token, node, message_pattern)``: press Stop right after ``node`` reports a
    progress step whose message matches, from the node's own thread. A listener sees events through
    the run loop, after the node has moved on, so a Stop pressed from a listener races a fast tiny
    model; this one does not, and the node must notice it at its very next step."""
    import re

    def arm(token, node: str, pattern: str) -> None:
        report = graph.context.RunContext.progress

        def progress(self, fraction, message=None):
            report(self, fraction, message)
            if self.node_id == node and re.search(pattern, message or ""):
                token.cancel()

        monkeypatch.setattr(graph.context.RunContext, "progress", progress)
        monkeypatch.setattr(graph.context, "_PROGRESS_INTERVAL", 0.0)
    return arm


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models' matrices are too small to share out: on a shared 2-core runner, torch's
    intra-op threads only fight each other (10-20x slower than one thread)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


needs_espeak = pytest.mark.skipif(not (shutil.which("espeak-ng") or shutil.which("espeak")),
                                  reason="espeak-ng is not installed")


class Recorder:
    """An emit callback for RunContext that keeps the warnings a node gives."""

    def __init__(self):
        self.warnings: list[str] = []

    def __call__(self, event, **data):
        if event == "node_warning":
            self.warnings.append(data["message"])


@pytest.fixture
def rec():
    return Recorder()


@pytest.fixture
def ctx(tmp_path, rec):
    """A RunContext for calling a node's run() directly; its workspace is tmp_path, its warnings go
    to ``rec.warnings``."""
    return graph.RunContext.standalone(tmp_path, emit=rec)


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


def free_port() -> int:
    """A loopback port free right now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resource(name: str) -> Path:
    return RESOURCES / name


def load_resource(name: str) -> dict:
    return json.loads(resource(name).read_text())
