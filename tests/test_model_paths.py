"""Where a ``model`` param may point: a local model folder is read only from the workflow's folder
(the workspace), $REELGRAPH_MODELS or the Hugging Face cache (issue 11).

Anything else — an absolute path elsewhere, a ``..`` escape, a link out of the workspace — is refused
with one message that reads the same whether or not the folder exists, so errors reveal nothing
about the server's folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reelgraph import graph
from reelgraph.nodes.models import presets


def model_folder(path: Path) -> Path:
    """What save_pretrained leaves for a diffusers pipeline (no real weights needed to locate it)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return path


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("REELGRAPH_MODELS", str(tmp_path / "models"))
    (tmp_path / "ws").mkdir()
    return tmp_path / "ws"


def locate(ref: str, ws: Path) -> presets.Located:
    return presets.locate(ref, "text_to_image", tier="cpu", workspace=ws)


def refusal(ref: str, ws: Path) -> graph.NodeError:
    with pytest.raises(graph.NodeError) as err:
        locate(ref, ws)
    return err.value


def test_a_folder_in_the_workspace_is_found_by_relative_or_absolute_path(ws):
    folder = model_folder(ws / "models" / "mine")
    assert locate("models/mine", ws).path == str(folder.resolve())
    assert locate(str(folder), ws).path == str(folder.resolve())


def test_a_folder_under_reelgraph_models_or_the_hugging_face_cache_is_found(ws, tmp_path):
    own = model_folder(tmp_path / "models" / "finetune")
    assert locate(str(own), ws).path == str(own.resolve())
    snapshot = model_folder(tmp_path / "hf-home" / "hub" / "models--org--x" / "snapshots" / "abc123")
    assert locate(str(snapshot), ws).path == str(snapshot.resolve())


def outside_refs(tmp_path: Path) -> dict[str, str]:
    real = model_folder(tmp_path / "elsewhere" / "real-model")
    (tmp_path / "elsewhere" / "a-file").write_text("x")
    return {"a model folder": str(real), "an empty folder": str(real.parent),
            "a file": str(tmp_path / "elsewhere" / "a-file"),
            "nothing": str(tmp_path / "elsewhere" / "no-such-folder"),
            "a server folder": "/etc", "a missing server folder": "/no/such/folder",
            "a .. escape": "../elsewhere/real-model", "a deeper .. escape": "./models/../../elsewhere/nothing",
            "home": "~/"}


def test_folders_outside_the_allowed_places_are_refused_alike_whether_or_not_they_exist(ws, tmp_path):
    messages = set()
    for what, ref in outside_refs(tmp_path).items():
        err = refusal(ref, ws)
        assert err.field == "model" and "is outside the" in err.message and "REELGRAPH_MODELS" in err.fix, what
        messages.add((err.message.replace(repr(ref), "REF"), err.fix))
    assert len(messages) == 1, "the message must not tell which of them exist"


def test_a_link_in_the_workspace_to_a_folder_outside_is_refused(ws, tmp_path):
    real = model_folder(tmp_path / "elsewhere" / "real-model")
    (ws / "linked").symlink_to(real, target_is_directory=True)
    assert "is outside the" in refusal("linked", ws).message
    assert "is outside the" in refusal("./linked", ws).message


def test_a_missing_folder_inside_the_workspace_still_says_not_found(ws):
    assert "model folder not found" in refusal("./models/typo", ws).message


def test_a_workflow_naming_a_folder_outside_fails_that_node_on_the_model_field(ws, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    real = model_folder(tmp_path / "elsewhere" / "real-model")
    flow = {"schema": "reelgraph/workflow", "version": 1, "nodes": {
        "frame": {"type": "image.keyframe", "params": {"resolution": 64, "backend": "diffusers", "model": str(real)}},
        "prompt": {"type": "text.constant", "params": {"text": "a fox"}}},
        "edges": [{"from": "prompt.out", "to": "frame.prompt"}]}
    result = graph.run(flow, workspace=ws, cache=False)
    failure = next(f for f in result.failures if f.node == "frame")
    assert failure.field == "model" and "is outside the" in failure.message
