"""The main job with every generative node on a model backend, end to end, from the command line.

`tests/tiny/build.py` builds one tiny random model per task (prompt LLM, text-to-image, LTX
image-to-video, ×4 upscaler, VITS speech, Stable Audio music); the storyboard workflow then runs
with `--set NODE.backend=diffusers --set NODE.model=FOLDER`, exactly as a user points it at real
weights. The pictures are noise; what is checked is that every node loaded its model, ran it, and
that the clip is assembled to the storyboard's timing with sound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mediaprobe import probe
from reelgraph.workflows import path
from tiny.build import MODELS, build

pytestmark = pytest.mark.slow
REELGRAPH = [sys.executable, "-m", "reelgraph.ui.cli"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return root, build(root)


def run_cli(args, tmp_path, cache):
    env = {**os.environ, "REELGRAPH_CACHE_DIR": str(cache)}
    done = subprocess.run([*REELGRAPH, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, events


@pytest.fixture(scope="module")
def rendered(tiny_models, tmp_path_factory):
    root, sets = tiny_models
    out = tmp_path_factory.mktemp("out")
    flags = [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
    args = ["run", str(path("storyboard_to_clip")), "-o", str(out / "clip.mp4"), "--events", "json", *flags]
    done, events = run_cli(args, out, out / "cache")
    assert done.returncode == 0, done.stderr[-4000:]
    return out, events, args


def test_every_generative_node_loads_its_model_and_none_falls_back(rendered, tiny_models):
    _, events, _ = rendered
    root, _ = tiny_models
    loading = {e["node"]: e["message"] for e in events
               if e["event"] == "node_progress" and (e.get("message") or "").startswith("loading ")}
    for node, (folder, _builder) in MODELS.items():
        assert loading.get(node) == f"loading {(root / folder).resolve()}", node
    assert not [e for e in events if e["event"] == "node_warning" and "draft" in (e.get("message") or "")]
    assert not [e for e in events if e["event"] == "node_failed"]


def test_the_clip_keeps_the_storyboard_timing_with_sound(rendered):
    out, events, _ = rendered
    info = probe(out / "clip.mp4")
    (v,), (a,) = info["video"], info["audio"]
    # 64 px keyframes (16:9: 114×64), upscaled ×2; 8 fps set on the shots and the timeline
    assert (v["width"], v["height"], v["fps"]) == (228, 128, 8.0)
    finished = next(e for e in events if e["event"] == "run_finished")
    assert finished["status"] == "ok"
    assert 20 < v["duration"] < 26  # six shots, 23 s less the crossfades
    assert abs(a["duration"] - v["duration"]) <= 1 / 8 + 1e-6
    assert (out / "clip.srt").read_text().count("-->") >= 5


def test_the_clip_remembers_the_model_backends(rendered, tmp_path):
    out, _, _ = rendered
    restored = tmp_path / "restored.json"
    done = subprocess.run([*REELGRAPH, "restore", str(out / "clip.mp4"), "-o", str(restored)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nodes = json.loads(restored.read_text())["nodes"]
    for node in MODELS:
        assert nodes[node]["params"]["backend"] == "diffusers", node


def test_a_rerun_comes_from_the_cache_without_loading_a_model(rendered):
    out, _, args = rendered
    done, events = run_cli(args, out, out / "cache")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not [e for e in events if e["event"] == "node_progress" and (e.get("message") or "").startswith("loading")]
    finished = next(e for e in events if e["event"] == "run_finished")
    assert finished["ran"] <= 1  # only the save node, which always writes its file
