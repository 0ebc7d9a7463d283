"""Frames stream to the encoder: rendering a long clip never holds the whole video in memory.

Measured in a fresh interpreter (its peak RSS and that of its ffmpeg children), on a clip whose raw
frames would take ~600 MB; the bound leaves room for Python, numpy and the libraries, not for frames.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHILD = r"""
import json, resource, sys
from reelgraph import graph
wf = {"schema": "reelgraph/workflow", "version": 1, "nodes": {
    "prompt": {"type": "text.constant", "params": {"text": "a lighthouse at dusk"}},
    "key": {"type": "image.keyframe", "params": {"resolution": 360}},
    "move": {"type": "video.image_to_video", "params": {"seconds": 40, "fps": 24, "camera": "push_in"}},
    "big": {"type": "video.upscale", "params": {"mode": "x2"}}},
    "edges": [{"from": "prompt.out", "to": "key.prompt"}, {"from": "key.image", "to": "move.image"},
              {"from": "move.video", "to": "big.video"}]}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = graph.run(wf, cache=False)
assert r.ok, r.failures
v = r.value("big.video")
print(json.dumps({"frames": v.frames, "w": v.width, "h": v.height,
                  "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "base_kb": base,
                  "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def test_a_long_clip_renders_in_bounded_memory(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=tmp_path,
                         env={"REELGRAPH_CACHE_DIR": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert (m["frames"], m["w"], m["h"]) == (960, 1280, 720)
    raw_mb = m["frames"] * m["w"] * m["h"] * 3 / 2**20  # ~2.5 GB of RGB frames at the output size
    grew_mb = (m["self_kb"] - m["base_kb"]) / 1024
    assert grew_mb < 150, f"the renderer's memory grew by {grew_mb:.0f} MB for {raw_mb:.0f} MB of frames"
    assert m["child_kb"] / 1024 < 600, f"an ffmpeg child peaked at {m['child_kb'] / 1024:.0f} MB"
