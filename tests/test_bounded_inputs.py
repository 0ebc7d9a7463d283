"""User-supplied files are read within bounds: no decompression bomb, no endless pipe, no whole-file
decode for a few seconds, no raw internal error for a hostile workflow, no workflow too big for a video."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import threading
import tracemalloc
import zlib
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from conftest import node
from reelgraph import graph
from reelgraph.graph import NodeError, WorkflowError
from reelgraph.graph import workflow as wfmod
from reelgraph.graph.provenance import KEY, MAX_WORKFLOW_BYTES
from reelgraph.nodes.common import ffmpeg
from reelgraph.ui.cli import cli

MiB = 1 << 20


def workflow_text(text: str = "hello", name: str = "bounded") -> str:
    return json.dumps({"schema": "reelgraph/workflow", "version": 1, "name": name,
                       "nodes": {"hello": {"type": "text.constant", "params": {"text": text}}}, "edges": []})


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*chunks: bytes) -> bytes:
    """A 1×1 PNG whose text chunks come before the image data, as Pillow writes them."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + chunk(b"IEND", b"")


def text_chunk(kind: str, payload: bytes) -> bytes:
    """A tEXt, zTXt or iTXt chunk under the workflow key; zTXt/iTXt payloads are given compressed."""
    key = KEY.encode() + b"\0"
    if kind == "tEXt":
        return chunk(b"tEXt", key + payload)
    if kind == "zTXt":
        return chunk(b"zTXt", key + b"\0" + payload)
    return chunk(b"iTXt", key + b"\1\0" + b"\0" + b"\0" + payload)


def bomb(inflated: int) -> bytes:
    """zlib data that inflates to `inflated` bytes of a JSON object's leading whitespace."""
    z = zlib.compressobj(9)
    parts = [z.compress(b"{")]
    block = b" " * MiB
    for _ in range(inflated // MiB):
        parts.append(z.compress(block))
    return b"".join(parts) + z.compress(b'"nodes": {}}') + z.flush()


def restore(path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["restore", str(path)])
    return result.exit_code, result.output


# ---------------------------------------------------------------------------------------------
# decompression


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_a_compressed_workflow_that_inflates_past_the_limit_is_refused_without_inflating_it(tmp_path, kind):
    path = tmp_path / "bomb.png"
    path.write_bytes(png(text_chunk(kind, bomb(24 * MAX_WORKFLOW_BYTES))))
    assert path.stat().st_size < MiB
    tracemalloc.start()
    try:
        with pytest.raises(WorkflowError) as e:
            graph.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (issue,) = e.value.issues
    assert f"larger than {MAX_WORKFLOW_BYTES // MiB} MiB" in issue.message and issue.code == "file"
    assert "not a reelgraph workflow" in issue.message and e.value.source == str(path)
    assert peak < 3 * MAX_WORKFLOW_BYTES, f"inflated {peak / MiB:.0f} MiB to refuse it"
    # a big real workflow is still welcome
    path.write_bytes(png(text_chunk(kind, zlib.compress(workflow_text("x" * 300_000).encode()))))
    assert graph.load(path).nodes["hello"].params["text"] == "x" * 300_000


def test_restore_of_a_bomb_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png(text_chunk("zTXt", bomb(2 * MAX_WORKFLOW_BYTES))))
    code, out = restore(path)
    assert code == 2 and out.count("\n") == 1 and "not a reelgraph workflow" in out


def test_a_json_workflow_file_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(workflow_text("x" * (MAX_WORKFLOW_BYTES + 1)))
    with pytest.raises(WorkflowError, match=f"larger than {MAX_WORKFLOW_BYTES // MiB} MiB"):
        graph.load(path)


# ---------------------------------------------------------------------------------------------
# damaged or hostile workflow text


@pytest.mark.parametrize("kind", ["tEXt", "iTXt"])
def test_a_truncated_text_chunk_says_the_file_is_cut_short(tmp_path, kind):
    whole = png(text_chunk(kind, workflow_text().encode() if kind == "tEXt"
                           else zlib.compress(workflow_text().encode())))
    start = whole.index(kind.encode()) + 4
    path = tmp_path / "cut.png"
    path.write_bytes(whole[:start + len(KEY) + 3])  # the chunk's header says more than is there
    with pytest.raises(WorkflowError) as e:
        graph.load(path)
    (issue,) = e.value.issues
    assert "cut short" in issue.message and issue.fix and issue.code == "file"
    code, out = restore(path)
    assert code == 2 and out.count("\n") == 1 and "cut short" in out


def test_a_damaged_compressed_workflow_is_an_error_naming_the_file(tmp_path):
    data = zlib.compress(workflow_text().encode())
    path = tmp_path / "damaged.png"
    path.write_bytes(png(text_chunk("iTXt", data[:len(data) // 2])))
    with pytest.raises(WorkflowError) as e:
        graph.load(path)
    assert "damaged" in e.value.issues[0].message and e.value.source == str(path)


def nested(depth: int) -> str:
    return '{"nodes": {}, "meta": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


@pytest.mark.parametrize("depth", [100, 900, 100_000])
def test_json_nested_too_deep_is_refused_with_its_limit(depth):
    with pytest.raises(WorkflowError) as e:
        wfmod.loads(nested(depth), source="deep.json")
    (issue,) = e.value.issues
    assert f"more than {wfmod.MAX_DEPTH} levels" in issue.message and issue.code == "json" and issue.fix
    assert wfmod.loads(nested(wfmod.MAX_DEPTH - 3)).meta["a"]["a"]  # the limit is far above real use


def test_a_dict_nested_too_deep_is_refused_too():
    raw = json.loads(nested(30))
    inner = raw["meta"]
    for _ in range(900):  # built here, not parsed: what an API caller can pass
        inner = inner["a"] if isinstance(inner.get("a"), dict) else inner.setdefault("b", {})
    with pytest.raises(WorkflowError) as e:
        wfmod.from_dict(raw)
    assert e.value.issues[0].field.startswith("meta.a.a")


@pytest.mark.parametrize("command", ["restore", "validate"])
def test_cli_reports_deep_nesting_in_a_json_or_png_in_one_line(tmp_path, command):
    (tmp_path / "deep.json").write_text(nested(900))
    (tmp_path / "deep.png").write_bytes(png(text_chunk("tEXt", nested(100_000).encode())))
    for name in ("deep.json", "deep.png"):
        result = CliRunner().invoke(cli, [command, str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and f"more than {wfmod.MAX_DEPTH} levels" in result.output


SURROGATE = '{"nodes": {"hello": {"type": "text.constant", "params": {"text": "fox \\ud800"}}}}'


def test_a_lone_surrogate_is_refused_naming_the_field():
    with pytest.raises(WorkflowError) as e:
        wfmod.loads(SURROGATE)
    (issue,) = e.value.issues
    assert (issue.node, issue.field) == ("hello", "params.text")
    assert "surrogate" in issue.message and "\\ud800" in issue.fix
    # a whole pair is one character, and fine
    wf = wfmod.loads(SURROGATE.replace("\\ud800", "\\ud83e\\udd8a"))
    assert wf.nodes["hello"].params["text"] == "fox \U0001f98a"


def test_a_lone_surrogate_in_a_key_is_refused():
    with pytest.raises(WorkflowError, match="surrogate"):
        wfmod.from_dict({"nodes": {}, "meta": {"\udc80": 1}})


@pytest.mark.parametrize("command", ["restore", "validate"])
def test_cli_reports_a_lone_surrogate_in_one_line(tmp_path, command):
    (tmp_path / "s.json").write_text(SURROGATE)
    result = CliRunner().invoke(cli, [command, str(tmp_path / "s.json")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "surrogate" in result.output


def test_a_nul_byte_in_a_workflow_path_is_a_workflow_error():
    with pytest.raises(WorkflowError) as e:
        graph.load("clip\x00.png")
    assert e.value.issues[0].code == "file" and "NUL" in e.value.issues[0].message


# ---------------------------------------------------------------------------------------------
# pipes and devices


@contextmanager
def fifo_in(folder, name):
    """A named pipe; should anything open it for reading and block, a writer releases it later so
    the test fails instead of hanging."""
    path = folder / name
    os.mkfifo(path)

    def release():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # EOF for a blocked reader
        except OSError:  # no reader waiting: nothing to release
            pass

    timer = threading.Timer(20, release)
    timer.start()
    try:
        yield path
    finally:
        timer.cancel()


@pytest.mark.parametrize("name", ["pipe.json", "pipe.png", "pipe"])
def test_loading_a_fifo_as_a_workflow_is_refused_without_opening_it(tmp_path, name):
    with fifo_in(tmp_path, name) as path:
        with pytest.raises(WorkflowError) as e:
            graph.load(path)
    (issue,) = e.value.issues
    assert "not a regular file" in issue.message and "pipe" in issue.message and issue.code == "file"


@pytest.mark.parametrize("command", ["restore", "validate"])
def test_cli_refuses_a_fifo_in_one_line(tmp_path, command):
    with fifo_in(tmp_path, "pipe.png") as path:
        result = CliRunner().invoke(cli, [command, str(path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "not a regular file" in result.output


def test_a_device_is_not_read_as_a_workflow():
    # /dev/null, not /dev/zero: should the check ever go, this fails instead of filling the memory
    with pytest.raises(WorkflowError, match="a device, not a regular file"):
        graph.load("/dev/null")


@pytest.mark.parametrize("loader", ["io.load_image", "io.load_audio", "io.load_video"])
def test_loader_nodes_refuse_a_fifo_in_the_workspace(ctx, tmp_path, loader):
    extra = {} if loader == "io.load_image" else {"start": 0.0, "seconds": 0.0}
    with fifo_in(tmp_path, "media.png") as path:
        with pytest.raises(NodeError) as e:
            node(loader).run(ctx, path=path.name, **extra)
    assert e.value.field == "path" and "not a regular file" in e.value.message and "pipe" in e.value.message
    assert e.value.fix.startswith("give ")


# ---------------------------------------------------------------------------------------------
# io.load_audio decodes only what it keeps

LONG_MINUTES = 30


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory):
    """Half an hour of silence: a few hundred KB as FLAC, 690 MB as 48 kHz stereo float samples."""
    path = tmp_path_factory.mktemp("audio") / "long.flac"
    subprocess.run([ffmpeg.exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                    "-t", str(LONG_MINUTES * 60), "-c:a", "flac", str(path)], check=True)
    return path


def load_audio(ctx, path, start=0.0, seconds=0.0):
    return node("io.load_audio").run(ctx, path=str(path), start=start, seconds=seconds)


def test_load_audio_decodes_only_the_seconds_it_keeps(ctx, tmp_path, long_flac):
    shutil.copy(long_flac, tmp_path / "long.flac")
    tracemalloc.start()
    try:
        ref = load_audio(ctx, "long.flac", start=600.0, seconds=2.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ref.meta["samples"] == 2 * 48000 and ref.meta["channels"] == 2
    assert ref.meta["source_duration"] == pytest.approx(LONG_MINUTES * 60)
    assert peak < 16 * MiB, f"decoding 2 s of a {LONG_MINUTES}-minute file took {peak / MiB:.0f} MiB"


def test_load_audio_refuses_a_whole_file_longer_than_the_limit(ctx, tmp_path, long_flac, monkeypatch):
    from reelgraph.nodes.common import audio
    monkeypatch.setattr(audio, "MAX_SECONDS", 60.0)
    shutil.copy(long_flac, tmp_path / "long.flac")
    tracemalloc.start()
    try:
        with pytest.raises(NodeError) as e:
            load_audio(ctx, "long.flac")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.field == "seconds" and "longer than" in e.value.message and "set seconds" in e.value.fix
    assert peak < 64 * MiB
    assert load_audio(ctx, "long.flac", seconds=60.0).meta["samples"] == 60 * 48000


def test_load_audio_seconds_has_a_declared_maximum():
    from reelgraph.nodes.common.audio import MAX_SECONDS
    issues = graph.validate({"nodes": {"a": {"type": "io.load_audio",
                                             "params": {"path": "x.wav", "seconds": MAX_SECONDS + 1}}}})
    assert [i.field for i in issues] == ["seconds"]


# ---------------------------------------------------------------------------------------------
# a workflow too big for one command-line argument still goes into the video


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_a_workflow_over_128_kib_round_trips_through_a_saved_video(tmp_path, fmt):
    clip = tmp_path / "clip.mp4"
    subprocess.run([ffmpeg.exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32:r=24:d=0.25",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
    text = "line one = ; # \\ \"quoted\"\nünïcode " + "x" * 300 * 1024
    wf = json.loads(workflow_text(text, name="big"))
    ctx = graph.RunContext.standalone(tmp_path, workflow=wf)
    video = ctx.store_file(clip, "video")
    saved = node("io.save_video").run(ctx, video=video, subtitles=None, format=fmt, filename=f"big.{fmt}",
                                      quality="draft", soft_subtitles=False)["video"]
    back = graph.load(tmp_path / f"big.{fmt}")
    assert back.name == "big" and back.nodes["hello"].params["text"] == text
    assert graph.load(saved.path).nodes["hello"].params["text"] == text
    result = CliRunner().invoke(cli, ["restore", str(tmp_path / f"big.{fmt}")])
    assert result.exit_code == 0 and json.loads(result.output)["nodes"]["hello"]["params"]["text"] == text
