"""Files reelgraph saves carry their workflow: PNG text chunks and MP4/WebM comment tags load back."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from reelgraph import graph
from reelgraph.graph import PROVENANCE_KEY, WorkflowError
from reelgraph.nodes.common import ffmpeg
from reelgraph.ui.cli import cli

WORKFLOW = {
    "schema": "reelgraph/workflow", "version": 1, "name": "greeting",
    "nodes": {"hello": {"type": "text.constant", "params": {"text": "hello; a=b # \\ \"quoted\" ünïcode"}}},
    "edges": [],
}
TEXT = json.dumps(WORKFLOW, separators=(",", ":"), ensure_ascii=False)


def same_nodes(wf) -> bool:
    return {k: (n.type, n.params) for k, n in wf.nodes.items()} == {
        k: (n["type"], n["params"]) for k, n in WORKFLOW["nodes"].items()}


def make_png(path, text=TEXT, compressed=True):
    info = PngInfo()
    if text is not None:
        if compressed:
            info.add_itxt(PROVENANCE_KEY, text, zip=True)
        else:
            info.add_text(PROVENANCE_KEY, text)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, pnginfo=info)
    return path


def make_video(path, text=TEXT, extra=()):
    args = [ffmpeg.exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=32x32:d=0.2",
            *extra]
    if text is not None:
        args += ["-metadata", f"comment={text}"]
    subprocess.run([*args, str(path)], check=True)
    return path


@pytest.mark.parametrize("compressed", [True, False])
def test_a_png_with_an_embedded_workflow_loads_as_that_workflow(tmp_path, compressed):
    wf = graph.load(make_png(tmp_path / "frame.png", compressed=compressed))
    assert same_nodes(wf)
    assert wf.source == str(tmp_path / "frame.png")


@pytest.mark.parametrize("extra", [(), ("-movflags", "+faststart")], ids=["moov-at-end", "faststart"])
def test_an_mp4_with_an_embedded_workflow_loads_as_that_workflow(tmp_path, extra):
    wf = graph.load(make_video(tmp_path / "clip.mp4", extra=("-c:v", "libx264", *extra)))
    assert same_nodes(wf)


def test_a_webm_with_an_embedded_workflow_loads_as_that_workflow(tmp_path):
    wf = graph.load(make_video(tmp_path / "clip.webm", extra=("-c:v", "libvpx-vp9", "-deadline", "realtime")))
    assert same_nodes(wf)


def test_media_without_a_workflow_is_a_clear_error(tmp_path):
    for path in (make_png(tmp_path / "plain.png", text=None), make_video(tmp_path / "plain.mp4", text=None)):
        with pytest.raises(WorkflowError) as e:
            graph.load(path)
        assert "has no reelgraph workflow embedded" in str(e.value)
        assert "io.save_video" in e.value.issues[0].fix


def test_a_comment_that_is_not_a_workflow_is_not_taken_for_one(tmp_path):
    with pytest.raises(WorkflowError, match="no reelgraph workflow"):
        graph.load(make_video(tmp_path / "c.mp4", text="shot on my phone"))


def test_a_truncated_or_garbage_media_file_is_an_error_not_a_crash(tmp_path):
    good = make_png(tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[:40])
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom" + b"\xff" * 64)
    for name in ("cut.png", "junk.mp4"):
        with pytest.raises(WorkflowError):
            graph.load(tmp_path / name)


def test_cli_runs_the_workflow_embedded_in_a_file(tmp_path):
    png = make_png(tmp_path / "frame.png")
    result = CliRunner().invoke(cli, ["run", "--from", str(png), "--no-cache", "-q"])
    assert result.exit_code == 0, result.output
    assert "hello; a=b" in result.output
    # a media file given as the workflow argument works the same
    result = CliRunner().invoke(cli, ["run", str(png), "--no-cache", "-q"])
    assert result.exit_code == 0 and "hello; a=b" in result.output


def test_cli_needs_exactly_one_workflow_source(tmp_path):
    png = make_png(tmp_path / "frame.png")
    for args in (["run"], ["run", str(png), "--from", str(png)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert "--from FILE" in result.output


def test_cli_restore_writes_the_embedded_workflow_as_json(tmp_path):
    mp4 = make_video(tmp_path / "clip.mp4", extra=("-c:v", "libx264"))
    out = tmp_path / "restored.json"
    result = CliRunner().invoke(cli, ["restore", str(mp4), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert same_nodes(graph.load(out))
    printed = CliRunner().invoke(cli, ["restore", str(mp4)])
    assert json.loads(printed.output)["name"] == "greeting"


def test_cli_restore_of_a_file_without_a_workflow_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["restore", str(make_png(tmp_path / "p.png", text=None))])
    assert result.exit_code == 2
    assert "no reelgraph workflow" in result.output
