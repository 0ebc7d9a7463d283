"""A cache you can trust: never a wrong result, never a lost one, never a traceback (issue 11).

Each test names the failure it guards against: damaged media served, an index error taken for
corruption, a damaged index crashing a run, runs evicting each other's inputs, results lost in a
crash, a run evicting its own output, crafted index rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import Cache, Image, Input, Int, MediaRef, Node, Output, Param, Text
from reelgraph.graph.cache import CacheError
from reelgraph.ui.cli import cli
from stubnodes import make_registry

TESTS = Path(__file__).parent
RUNS: list[str] = []


class CountedImageNode(Node):
    """Write ``text`` x100 as an Image, counting calls."""

    type = "trust.make_image"
    version = "1.0.0"
    text = Param(Text, default="pixels")
    image = Output(Image)

    def run(self, ctx, text):
        RUNS.append(text)
        path = ctx.temp_path(".png")
        path.write_bytes(text.encode() * 100)
        return ctx.store_file(path, "image", width=10, height=10)


class VandalNode(Node):
    """Delete the file behind an image (as another process's eviction or a user might)."""

    type = "trust.vandal"
    version = "1.0.0"
    cacheable = False
    image = Input(Image)
    out = Output(Text)

    def run(self, ctx, image):
        os.chmod(image.path, 0o644)
        os.unlink(image.path)
        return "gone"


class ReadBytesNode(Node):
    """Return an image's bytes as text (so a test sees exactly what a node read)."""

    type = "trust.read"
    version = "1.0.0"
    image = Input(Image)
    after = Input(Text, required=False)
    salt = Param(Int, default=0)
    text = Output(Text)

    def run(self, ctx, image, after, salt):
        with open(image.path, "rb") as f:
            return f.read().decode()


@pytest.fixture
def registry():
    RUNS.clear()
    reg = make_registry()
    for cls in (CountedImageNode, VandalNode, ReadBytesNode):
        reg.register(cls, pack="trust")
    return reg


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def objects(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "objects").rglob("*") if p.is_file())


def flip_a_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def image_then_read(salt: int = 0) -> dict:
    return make_workflow({"img": ("trust.make_image", {"text": "pixels"}),
                          "read": ("trust.read", {"salt": salt})}, [("img.image", "read.image")])


# ---------------------------------------------------------------------------------------------
# Never serve a wrong result


def test_a_damaged_output_file_of_the_same_size_is_re_rendered_not_served(registry, cache_dir):
    wf = make_workflow({"img": ("trust.make_image", {"text": "pixels"})})
    first = graph.run(wf, registry=registry, cache=cache_dir)
    [obj] = objects(cache_dir)
    flip_a_byte(obj)
    again = graph.run(wf, registry=registry, cache=cache_dir)
    assert again.ok and again.ran == ["img"]
    assert Path(again.value("img.image").path).read_bytes() == b"pixels" * 100
    assert again.value("img.image") == first.value("img.image")


def test_damaged_media_never_reaches_a_node_that_reads_it(registry, cache_dir):
    graph.run(image_then_read(0), registry=registry, cache=cache_dir)
    [obj] = objects(cache_dir)
    flip_a_byte(obj)
    RUNS.clear()
    again = graph.run(image_then_read(1), registry=registry, cache=cache_dir)  # a new read of the image
    assert again.ok, again.failures
    assert again.value("read.text") == "pixels" * 100
    assert RUNS == ["pixels"], "the damaged image is re-rendered before it is read"


def test_the_fresh_file_replaces_a_damaged_one_when_the_same_content_is_stored(cache_dir, tmp_path):
    with Cache(cache_dir) as cache:
        src = tmp_path / "a.png"
        src.write_bytes(b"good bytes" * 10)
        ref = cache.store.ingest(src, "image")
        flip_a_byte(Path(ref.path))
    with Cache(cache_dir) as cache:  # a new process: nothing verified yet
        again = cache.store.ingest(src, "image")
        assert Path(again.path).read_bytes() == b"good bytes" * 10


def test_cache_verify_finds_and_removes_damaged_media(registry, cache_dir):
    graph.run(image_then_read(0), registry=registry, cache=cache_dir)
    runner = CliRunner()
    ok = runner.invoke(cli, ["cache", "verify", "--cache-dir", str(cache_dir)])
    assert ok.exit_code == 0, ok.output
    assert "all intact" in ok.output
    [obj] = objects(cache_dir)
    flip_a_byte(obj)
    bad = runner.invoke(cli, ["cache", "verify", "--cache-dir", str(cache_dir)])
    assert bad.exit_code == 1, bad.output
    assert "1 damaged" in bad.output and "re-render" in bad.output
    assert objects(cache_dir) == []
    again = graph.run(image_then_read(0), registry=registry, cache=cache_dir)
    assert again.ok and "img" in again.ran


def test_verification_can_be_switched_off(registry, cache_dir, monkeypatch):
    monkeypatch.setenv("REELGRAPH_CACHE_VERIFY", "0")
    assert Cache(cache_dir).verify_content is False
    monkeypatch.delenv("REELGRAPH_CACHE_VERIFY")
    assert Cache(cache_dir).verify_content is True


def test_a_crafted_digest_cannot_point_outside_the_store(registry, cache_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve me")
    wf = make_workflow({"img": ("trust.make_image", {"text": "pixels"})})
    graph.run(wf, registry=registry, cache=cache_dir)
    crafted = {"$dict": {"image": {"$media": {"kind": "image", "digest": "../secret", "ext": ".txt",
                                             "size": secret.stat().st_size, "path": "", "meta": {}}}}}
    text = json.dumps(crafted)
    import hashlib

    from test_cache import damage_result
    damage_result(cache_dir, "trust.make_image", outputs=text, checksum=hashlib.sha256(text.encode()).hexdigest())
    again = graph.run(wf, registry=registry, cache=cache_dir)
    assert again.ok and again.ran == ["img"]
    assert "secret" not in again.value("img.image").path


# ---------------------------------------------------------------------------------------------
# Never lose a result


def _fail_connect(code: int, message: str):
    def connect(self, read_only):
        e = sqlite3.OperationalError(message)
        e.sqlite_errorcode = code
        raise e
    return connect


@pytest.mark.parametrize("code,message", [(13, "database or disk is full"), (10, "disk I/O error")])
def test_a_full_disk_or_io_error_at_open_is_a_clear_error_and_loses_nothing(
        registry, cache_dir, monkeypatch, code, message):
    graph.run(image_then_read(), registry=registry, cache=cache_dir)
    monkeypatch.setattr(Cache, "_connect", _fail_connect(code, message))
    with pytest.raises(CacheError, match="nothing was deleted"):
        Cache(cache_dir)
    monkeypatch.undo()
    assert not list(cache_dir.glob("index.db.corrupt-*"))
    again = graph.run(image_then_read(), registry=registry, cache=cache_dir)
    assert sorted(again.cached) == ["img", "read"]


def test_the_cli_reports_an_unusable_cache_in_one_line(cache_dir, monkeypatch):
    monkeypatch.setattr(Cache, "_connect", _fail_connect(13, "database or disk is full"))
    result = CliRunner().invoke(cli, ["cache", "info", "--cache-dir", str(cache_dir)])
    assert result.exit_code == 2
    assert "disk is full" in result.output and "Traceback" not in result.output


def test_a_read_only_index_is_used_read_only(registry, cache_dir, monkeypatch):
    graph.run(image_then_read(), registry=registry, cache=cache_dir)
    real = Cache._connect

    def connect(self, read_only):
        if not read_only:
            e = sqlite3.OperationalError("attempt to write a readonly database")
            e.sqlite_errorcode = 8
            raise e
        return real(self, read_only)

    monkeypatch.setattr(Cache, "_connect", connect)
    with Cache(cache_dir) as cache:
        assert cache.read_only
        again = graph.run(image_then_read(), registry=registry, cache=cache)
        assert sorted(again.cached) == ["img", "read"]
        changed = graph.run(image_then_read(5), registry=registry, cache=cache)
        assert changed.ok and changed.ran == ["read"]


def test_a_lost_index_loses_no_result(registry, cache_dir):
    graph.run(image_then_read(), registry=registry, cache=cache_dir)
    for suffix in ("", "-wal", "-shm"):
        Path(str(cache_dir / "index.db") + suffix).unlink(missing_ok=True)
    again = graph.run(image_then_read(), registry=registry, cache=cache_dir)
    assert sorted(again.cached) == ["img", "read"]


def damage_pages(db_path: Path, name: str) -> None:
    """Overwrite the pages of one table or index (the database still opens and counts its rows;
    reads that touch those pages fail), as a bad disk sector would."""
    db = sqlite3.connect(db_path)
    pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name=?", (name,))]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    assert pages
    with open(db_path, "r+b") as f:
        for p in pages:
            f.seek((p - 1) * page_size)
            f.write(os.urandom(page_size))


def test_a_damaged_but_openable_index_is_detected_and_the_run_delivers(registry, cache_dir, tmp_path):
    wf = make_workflow({f"t{i}": ("text.constant", {"text": f"text {i} " * 20}) for i in range(200)})
    graph.run(wf, cache=cache_dir)
    with Cache(cache_dir) as c:  # fold the write-ahead log into the main file, then damage it
        c._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage_pages(cache_dir / "index.db", "refs")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(_save(tmp_path, wf)), "--cache-dir", str(cache_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list(out.iterdir())) == 200
    info = CliRunner().invoke(cli, ["cache", "info", "--cache-dir", str(cache_dir)])
    assert info.exit_code == 0, info.output
    assert "200 results" in info.output
    assert list(cache_dir.glob("index.db.corrupt-*")), "the damaged index is set aside (and rebuilt)"


def test_results_are_on_disk_as_soon_as_they_are_made(cache_dir, tmp_path):
    """A process killed a fraction of a second after a result (no later cache access to flush it)
    loses nothing: the promise is "at most the last fraction of a second"."""
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from reelgraph.graph import Cache
        c = Cache({str(cache_dir)!r})
        c.put("a" * 64, "stub.sleep", {{"out": "kept"}})
        time.sleep(0.5)
        print("put", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "put"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with Cache(cache_dir) as c:
        assert c.get("a" * 64) == {"out": "kept"}


def test_a_tiny_cache_size_never_evicts_the_output_before_it_is_written(tmp_path):
    from PIL import Image as PILImage
    src = tmp_path / "in.png"
    PILImage.new("RGB", (64, 64), (200, 10, 10)).save(src)
    wf = make_workflow({"load": ("io.load_image", {"path": "in.png"})})
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(wf))
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["run", str(path), "--cache-dir", str(tmp_path / "c"), "--cache-size", "1",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def _save(tmp_path: Path, wf: dict) -> Path:
    p = tmp_path / "wf.json"
    p.write_text(json.dumps(wf))
    return p


# ---------------------------------------------------------------------------------------------
# Runs sharing a cache


def test_a_file_that_vanishes_mid_run_is_re_rendered_not_a_failure(registry, cache_dir):
    wf = make_workflow({"img": ("trust.make_image", {"text": "pixels"}),
                        "vandal": ("trust.vandal", {}), "read": ("trust.read", {})},
                       [("img.image", "vandal.image"), ("img.image", "read.image"), ("vandal.out", "read.after")])
    result = graph.run(wf, registry=registry, cache=cache_dir)
    assert result.ok, result.failures
    assert result.value("read.text") == "pixels" * 100
    assert RUNS == ["pixels", "pixels"]


def test_a_file_that_keeps_vanishing_fails_its_node_with_the_reason(registry, cache_dir, monkeypatch):
    monkeypatch.setattr(graph.Cache, "verify_media", lambda self, refs: list(refs))
    result = graph.run(image_then_read(), registry=registry, cache=cache_dir)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "read" and "again and again" in failure.message
    assert "another program" in failure.fix


def test_eviction_in_another_process_spares_what_a_running_run_holds(cache_dir, tmp_path):
    with Cache(cache_dir) as cache:
        src = tmp_path / "held.png"
        src.write_bytes(b"held" * 1000)
        ref = cache.store.ingest(src, "image")
        cache.put("b" * 64, "stub.make_image", {"image": ref})
    holder = textwrap.dedent(f"""
        import sys
        from reelgraph.graph import Cache, MediaRef
        c = Cache({str(cache_dir)!r})
        lease = c.lease()
        lease.hold([MediaRef(kind="image", digest={ref.digest!r}, ext=".png", size={ref.size})])
        print("holding", flush=True)
        sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        with Cache(cache_dir, max_bytes=1) as other:
            other.evict()
        assert Path(ref.path).exists(), "a running run's input was evicted by another process"
    finally:
        proc.kill()  # a crash: its lease dies with it
        proc.wait(timeout=30)
    for lease in (cache_dir / "leases").glob("*.lease"):  # (a lease just made is given a few seconds)
        os.utime(lease, (lease.stat().st_mtime - 60,) * 2)
    with Cache(cache_dir, max_bytes=1) as other:
        assert other.evict() == 1
    assert not Path(ref.path).exists()


def test_a_run_holds_its_media_until_it_finishes(registry, cache_dir):
    seen = []

    def listener(ev):
        if ev.event == "node_finished" and ev.node == "img":
            with Cache(cache_dir) as other:
                seen.append(other.held_digests())

    result = graph.run(image_then_read(), registry=registry, cache=cache_dir, on_event=listener)
    assert seen and result.value("img.image").digest in seen[0]
    with Cache(cache_dir) as other:
        assert other.held_digests() == set()


# ---------------------------------------------------------------------------------------------
# The folder itself


def test_objects_being_a_file_is_a_clear_error(tmp_path, registry):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "objects").write_text("not a folder")
    with pytest.raises(CacheError, match="objects is a file"):
        Cache(cache_dir)
    runner = CliRunner()
    for args in (["cache", "info"], ["plan", str(TESTS / "resources" / "wf_valid_minimal.json")]):
        result = runner.invoke(cli, [*args, "--cache-dir", str(cache_dir)])
        assert result.exit_code == 2, result.output
        assert "objects is a file" in result.output


def test_media_refs_from_the_index_are_checked(cache_dir):
    bad = MediaRef(kind="image", digest="zz" * 32, ext=".png", size=1)
    with Cache(cache_dir) as cache:
        assert cache.verify_media([bad]) == [bad]


def test_the_hourly_sweep_compacts_result_segments_to_what_the_index_holds(cache_dir):
    with Cache(cache_dir) as cache:
        for i in range(3):
            cache.put(f"{i:064x}", "stub.sleep", {"out": str(i)})
            cache.flush()  # one segment per flush
        cache.drop(f"{1:064x}")
    segments = sorted((cache_dir / "results").glob("*.jsonl"))
    assert len(segments) == 3
    for seg in segments:  # older than a minute: no flush of another process can still be committing
        os.utime(seg, (seg.stat().st_mtime - 120,) * 2)
    (cache_dir / ".last-sweep").unlink(missing_ok=True)
    with Cache(cache_dir) as cache:
        cache.evict()
    [compacted] = list((cache_dir / "results").glob("*.jsonl"))
    keys = [json.loads(line)["key"] for line in compacted.read_text().splitlines()]
    assert sorted(keys) == [f"{0:064x}", f"{2:064x}"]
    for suffix in ("", "-wal", "-shm"):  # and the index rebuilt from it holds exactly those
        Path(str(cache_dir / "index.db") + suffix).unlink(missing_ok=True)
    with Cache(cache_dir) as cache:
        assert cache.get(f"{0:064x}") == {"out": "0"} and cache.get(f"{1:064x}") is None
