"""The result cache: content-addressed keys, persistence across processes, corruption recovery,
media stored once, a size bound with LRU eviction, and runs without a cache.

(DESIGN.md, "The engine": Cache.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import Cache, MediaRef, Node, Output, Param, Text
from reelgraph.graph.executor import gather_calls
from stubnodes import AddNode

TESTS = Path(__file__).parent


def run(wf, registry, cache, **kwargs):
    return graph.run(wf, registry=registry, cache=cache, **kwargs)


def objects(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "objects").rglob("*") if p.is_file())


def db_execute(cache_dir: Path, sql: str, params=()) -> list:
    """Poke the index directly, as a crash, a bad disk or another program might."""
    db = sqlite3.connect(cache_dir / "index.db")
    try:
        rows = db.execute(sql, params).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def media_workflow(text: str = "pixels") -> dict:
    return make_workflow({"img": ("stub.make_image", {"text": text}), "size": ("stub.image_size", {}),
                          "label": ("stub.sleep", {"label": "x"})},
                         [("img.image", "size.image")])


# ---------------------------------------------------------------------------------------------
# Keys


def key_of(registry, nodes: dict, node: str, values: dict | None = None, edges=()) -> str:
    """The cache key of ``node``'s (single) call, given upstream ``values``."""
    compiled = graph.compile(make_workflow(nodes, list(edges)), registry=registry)
    [call] = gather_calls(compiled.nodes[node], values or {})
    return call.key


def test_the_key_changes_with_params(registry):
    a = key_of(registry, {"n": ("stub.numbers", {"start": 1})}, "n")
    b = key_of(registry, {"n": ("stub.numbers", {"start": 2})}, "n")
    assert a != b


def test_the_key_does_not_change_when_a_default_param_is_written_explicitly(registry):
    implicit = key_of(registry, {"n": ("stub.numbers", {})}, "n")
    explicit = key_of(registry, {"n": ("stub.numbers", {"start": 0, "count": 3})}, "n")
    assert implicit == explicit


def test_the_key_ignores_layout(registry):
    plain = key_of(registry, {"n": ("stub.numbers", {})}, "n")
    placed = key_of(registry, {"n": {"type": "stub.numbers", "params": {}, "position": [10, 20]}}, "n")
    assert plain == placed


def test_the_key_changes_with_the_node_version(registry):
    class AddV11(AddNode):
        """Add two whole numbers (a newer release)."""

        type = "stub.add"
        version = "1.1.0"

    nodes = {"src": ("number.integer", {"value": 1}), "add": ("stub.add", {})}
    edges = [("src.out", "add.a")]
    old = key_of(registry, nodes, "add", {"src": {"out": 1}}, edges)
    registry.register(AddV11, pack="stubs")
    new = key_of(registry, nodes, "add", {"src": {"out": 1}}, edges)
    assert old != new


def test_the_key_changes_with_input_values_not_with_where_they_come_from(registry):
    nodes = {"x": ("number.integer", {"value": 1}), "y": ("number.integer", {"value": 9}),
             "add": ("stub.add", {})}
    one = key_of(registry, nodes, "add", {"x": {"out": 1}}, [("x.out", "add.a")])
    two = key_of(registry, nodes, "add", {"x": {"out": 2}}, [("x.out", "add.a")])
    other_source_same_value = key_of(registry, nodes, "add", {"y": {"out": 1}}, [("y.out", "add.a")])
    assert one != two
    assert one == other_source_same_value


def test_the_key_of_an_uncacheable_node_is_none(registry):
    class NowNode(Node):
        """Say what time it is (never cached)."""

        type = "stub.now"
        version = "1.0.0"
        cacheable = False
        out = Output(Text)

        def run(self, ctx):
            return str(time.time())

    registry.register(NowNode, pack="stubs")
    assert key_of(registry, {"now": ("stub.now", {})}, "now") is None


def test_a_node_that_is_not_cacheable_runs_every_time(registry, cache_dir):
    class CountNode(Node):
        """Count how often it ran."""

        type = "stub.count"
        version = "1.0.0"
        cacheable = False
        calls = []
        out = Output(Text)

        def run(self, ctx):
            self.calls.append(1)
            return str(len(self.calls))

    registry.register(CountNode, pack="stubs")
    wf = make_workflow({"c": ("stub.count", {}), "s": ("stub.sleep", {"label": "s"})}, [("c.out", "s.after")])
    assert run(wf, registry, cache_dir).value("s.out") == "1>s"
    second = run(wf, registry, cache_dir)
    assert second.value("s.out") == "2>s"
    assert "c" in second.ran and "s" in second.ran  # its output changed, so its dependent re-ran


# ---------------------------------------------------------------------------------------------
# Persistence


def test_a_rerun_takes_every_node_from_the_cache(registry, cache_dir):
    first = run(media_workflow(), registry, cache_dir)
    assert sorted(first.ran) == ["img", "label", "size"]
    second = run(media_workflow(), registry, cache_dir)
    assert second.ran == [] and sorted(second.cached) == ["img", "label", "size"]
    assert second.value("size.size") == first.value("size.size") == len(b"pixels" * 100)
    ref = second.value("img.image")
    assert isinstance(ref, MediaRef) and Path(ref.path).read_bytes() == b"pixels" * 100


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from stubnodes import make_registry
    from reelgraph import graph
    workflow = json.loads(sys.argv[3])
    result = graph.run(workflow, registry=make_registry(), cache=sys.argv[2])
    print(json.dumps({"status": result.status, "ran": result.ran, "cached": result.cached,
                      "size": result.value("size.size")}))
""")


def test_results_are_shared_across_processes(tmp_path, cache_dir):
    script = tmp_path / "run_once.py"
    script.write_text(SCRIPT)
    wf = json.dumps(media_workflow("from another process"))

    def run_in_subprocess() -> dict:
        proc = subprocess.run([sys.executable, str(script), str(TESTS), str(cache_dir), wf],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": ""})
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run_in_subprocess()
    assert first["status"] == "ok" and sorted(first["ran"]) == ["img", "label", "size"]
    second = run_in_subprocess()
    assert second["status"] == "ok"
    assert second["ran"] == [] and sorted(second["cached"]) == ["img", "label", "size"]
    assert second["size"] == first["size"]


def test_two_cache_objects_on_one_folder_see_each_others_results(registry, cache_dir):
    with Cache(cache_dir) as a, Cache(cache_dir) as b:
        run(media_workflow(), registry, a)
        a.flush()
        assert sorted(run(media_workflow(), registry, b).cached) == ["img", "label", "size"]


# ---------------------------------------------------------------------------------------------
# Corruption: recomputed, never trusted, never a crash


def rerun_after(registry, cache_dir, damage) -> graph.RunResult:
    wf = media_workflow()
    first = run(wf, registry, cache_dir)
    assert first.ok
    damage()
    again = run(wf, registry, cache_dir)
    assert again.ok, again.failures
    assert again.value("size.size") == first.value("size.size")
    return again


def damage_result(cache_dir: Path, node_type: str, **fields) -> None:
    """Rewrite fields of a node type's results in the index *and* in the result segments on disk."""
    for name, value in fields.items():
        db_execute(cache_dir, f"UPDATE results SET {name}=? WHERE node_type=?", (value, node_type))
    for seg in (cache_dir / "results").glob("*.jsonl"):
        records = [json.loads(line) for line in seg.read_text(encoding="utf-8").splitlines()]
        for record in records:
            if record["node_type"] == node_type:
                record.update(fields)
        seg.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_a_result_with_a_garbage_checksum_is_recomputed(registry, cache_dir):
    again = rerun_after(registry, cache_dir, lambda: damage_result(cache_dir, "stub.sleep", checksum="garbage"))
    assert again.ran == ["label"]
    assert sorted(run(media_workflow(), registry, cache_dir).cached) == ["img", "label", "size"]


def test_a_result_with_garbage_outputs_is_recomputed(registry, cache_dir):
    again = rerun_after(registry, cache_dir, lambda: damage_result(cache_dir, "stub.sleep", outputs="{not json"))
    assert again.ran == ["label"]


def test_a_damaged_index_row_is_served_from_its_result_file(registry, cache_dir):
    again = rerun_after(registry, cache_dir, lambda: db_execute(
        cache_dir, "UPDATE results SET checksum='garbage', outputs='{not json' WHERE node_type='stub.sleep'"))
    assert again.ran == []
    assert db_execute(cache_dir, "SELECT count(*) FROM results WHERE checksum='garbage'") == [(0,)]


@pytest.mark.parametrize("outputs", ["{not json", '{"$dict":{}}', "[1, 2]", '{"$dict":{"out":[1]}}',
                                     '{"$dict":{"out":"x","extra":"y"}}'])
def test_a_result_that_does_not_fit_the_node_is_recomputed_even_with_a_valid_checksum(
        registry, cache_dir, outputs):
    def damage():
        damage_result(cache_dir, "stub.sleep", outputs=outputs, checksum=hashlib.sha256(outputs.encode()).hexdigest())

    wf = make_workflow({"a": ("stub.sleep", {"label": "a"}), "b": ("stub.sleep", {"label": "b"})},
                       [("a.out", "b.after")])
    run(wf, registry, cache_dir)
    damage()
    again = run(wf, registry, cache_dir)
    assert again.ok, again.failures
    assert again.value("b.out") == "a>b"
    assert again.ran == ["a", "b"]


def test_a_node_that_renamed_its_output_without_a_new_version_is_recomputed(registry, cache_dir):
    class Before(Node):
        """Make a word."""

        type = "stub.word"
        version = "1.0.0"
        word = Param(Text, default="w")
        out = Output(Text)

        def run(self, ctx, word):
            return word

    class After(Node):
        """Make a word (its output renamed, the version forgotten)."""

        type = "stub.word"
        version = "1.0.0"
        word = Param(Text, default="w")
        text = Output(Text)

        def run(self, ctx, word):
            return word

    wf = make_workflow({"w": ("stub.word", {})})
    registry.register(Before, pack="stubs")
    assert run(wf, registry, cache_dir).value("w.out") == "w"
    registry.register(After, pack="stubs")
    again = run(wf, registry, cache_dir)
    assert again.ok and again.ran == ["w"]
    assert again.value("w.text") == "w"


def test_a_deleted_media_object_is_recomputed(registry, cache_dir):
    def damage():
        [obj] = objects(cache_dir)
        obj.unlink()

    again = rerun_after(registry, cache_dir, damage)
    assert again.ran == ["img"]  # its consumer's key is the media's content: still cached
    assert sorted(again.cached) == ["label", "size"]
    [obj] = objects(cache_dir)
    assert obj.read_bytes() == b"pixels" * 100


def test_a_truncated_media_object_is_recomputed(registry, cache_dir):
    def damage():
        [obj] = objects(cache_dir)
        os.chmod(obj, 0o644)
        with open(obj, "r+b") as f:
            f.truncate(10)

    again = rerun_after(registry, cache_dir, damage)
    assert again.ran == ["img"]
    [obj] = objects(cache_dir)
    assert obj.read_bytes() == b"pixels" * 100
    assert Path(again.value("img.image").path) == obj


def test_a_garbage_index_file_is_set_aside_and_rebuilt_from_the_results_on_disk(registry, cache_dir):
    def damage():
        (cache_dir / "index.db").write_bytes(os.urandom(8192))
        for suffix in ("-wal", "-shm"):
            Path(str(cache_dir / "index.db") + suffix).unlink(missing_ok=True)

    again = rerun_after(registry, cache_dir, damage)
    assert sorted(again.cached) == ["img", "label", "size"], "losing the index must lose no result"
    assert list(cache_dir.glob("index.db.corrupt-*")), "the unreadable index should be kept aside"
    assert db_execute(cache_dir, "SELECT count(*) FROM results") == [(3,)]


def test_an_empty_index_file_is_not_a_problem(registry, cache_dir):
    again = rerun_after(registry, cache_dir, lambda: (cache_dir / "index.db").write_bytes(b""))
    assert again.ok


# ---------------------------------------------------------------------------------------------
# Media


def test_identical_media_is_stored_once(registry, cache_dir):
    wf = make_workflow({"a": ("stub.write_file", {"text": "same", "tag": "a"}),
                        "b": ("stub.write_file", {"text": "same", "tag": "b"})})
    result = run(wf, registry, cache_dir)
    assert sorted(result.ran) == ["a", "b"]  # two calls (different keys)...
    a, b = result.value("a.image"), result.value("b.image")
    assert a.digest == b.digest and a.path == b.path
    assert objects(cache_dir) == [Path(a.path)]  # ...one file
    assert Path(a.path).name == hashlib.sha256(b"same" * 100).hexdigest() + ".png"
    assert list((cache_dir / "tmp").iterdir()) == []


def test_stored_media_is_read_only(registry, cache_dir):
    result = run(media_workflow(), registry, cache_dir)
    mode = Path(result.value("img.image").path).stat().st_mode
    assert not mode & 0o222


def test_scratch_files_of_a_finished_run_are_gone(registry, cache_dir):
    run(media_workflow(), registry, cache_dir)
    run(make_workflow({"s": ("stub.slow", {"steps": 2, "step_seconds": 0})}), registry, cache_dir)
    assert list((cache_dir / "tmp").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Size bound and eviction


def put_media_result(cache: Cache, key: str, content: bytes) -> MediaRef:
    src = cache.store.tmp_dir / f"{key}.src.png"
    src.write_bytes(content)
    ref = cache.store.ingest(src, "image")
    cache.put(key, "stub.test", {"image": ref})
    cache.flush()
    time.sleep(0.01)  # distinct LRU times
    return ref


def test_eviction_drops_the_least_recently_used_and_deletes_unreferenced_media(cache_dir):
    with Cache(cache_dir) as cache:
        old = put_media_result(cache, "old", b"o" * 1000)
        mid = put_media_result(cache, "mid", b"m" * 1000)
        new = put_media_result(cache, "new", b"n" * 1000)
        assert cache.get("old") is not None  # "old" is now the most recently used
        cache.flush()
        cache.max_bytes = cache.size() - 1
        dropped = cache.evict()
        assert dropped == 1
        assert cache.get("mid") is None
        assert cache.get("old") is not None and cache.get("new") is not None
        assert not Path(mid.path).exists()
        assert Path(old.path).exists() and Path(new.path).exists()
        assert cache.size() <= cache.max_bytes


def test_eviction_keeps_media_that_another_result_still_uses(cache_dir):
    with Cache(cache_dir) as cache:
        shared = put_media_result(cache, "first", b"s" * 1000)
        put_media_result(cache, "second", b"s" * 1000)
        cache.get("second")
        cache.flush()
        cache.max_bytes = cache.size() - 1
        assert cache.evict() == 1
        assert cache.get("first") is None and cache.get("second") is not None
        assert Path(shared.path).exists()


def test_eviction_spares_results_used_since_protect_since(cache_dir):
    with Cache(cache_dir) as cache:
        put_media_result(cache, "a", b"a" * 1000)
        put_media_result(cache, "b", b"b" * 1000)
        since = time.time()
        cache.get("a")
        cache.get("b")
        cache.flush()
        cache.max_bytes = 10
        assert cache.evict(protect_since=since) == 0
        assert cache.get("a") is not None and cache.get("b") is not None


def test_a_tiny_cache_evicts_old_runs_and_keeps_recent_ones(registry, cache_dir):
    def wf(text):
        return make_workflow({"img": ("stub.make_image", {"text": text})})

    with Cache(cache_dir) as cache:
        run(wf("aaaaaa"), registry, cache)
        cache.max_bytes = int(cache.size() * 2.5)  # room for two results, not three
        run(wf("bbbbbb"), registry, cache)
        time.sleep(0.01)
        assert run(wf("aaaaaa"), registry, cache).cached == ["img"]  # "a" used again: "b" is now older
        time.sleep(0.01)
        run(wf("cccccc"), registry, cache)  # three results: the least recently used one goes
        assert cache.size() <= cache.max_bytes
        assert run(wf("aaaaaa"), registry, cache).cached == ["img"]
        assert run(wf("cccccc"), registry, cache).cached == ["img"]
        assert run(wf("bbbbbb"), registry, cache).ran == ["img"]
    contents = sorted(p.read_bytes()[:6] for p in objects(cache_dir))
    assert b"bbbbbb" in contents  # recomputed just now


def test_the_cache_size_setting_is_read_from_the_environment(cache_dir, monkeypatch):
    monkeypatch.setenv("REELGRAPH_CACHE_SIZE", "2MB")
    with Cache(cache_dir) as cache:
        assert cache.max_bytes == 2 * 1024**2


# ---------------------------------------------------------------------------------------------
# Without a cache


def test_runs_without_a_cache_work_and_write_no_cache(registry, tmp_path):
    user_cache = Path(os.environ["REELGRAPH_CACHE_DIR"])
    first = run(media_workflow(), registry, False)
    second = run(media_workflow(), registry, False)
    for result in (first, second):
        assert result.ok, result.failures
        assert sorted(result.ran) == ["img", "label", "size"] and result.cached == []
        assert result.value("size.size") == 600
    assert not (user_cache / "index.db").exists()


def test_the_cli_no_cache_flag_neither_reads_nor_writes_the_cache(tmp_path):
    from click.testing import CliRunner
    from reelgraph.ui.cli import cli

    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(make_workflow({"n": ("number.integer", {"value": 7})})))
    user_cache = Path(os.environ["REELGRAPH_CACHE_DIR"])
    outcome = CliRunner().invoke(cli, ["run", str(wf), "--no-cache", "--events", "json", "-q"])
    assert outcome.exit_code == 0, outcome.output
    events = [json.loads(line) for line in outcome.stdout.splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "node_finished"]
    assert finished and finished[0]["cached"] is False
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "ok"
    assert not (user_cache / "index.db").exists()


# ---------------------------------------------------------------------------------------------
# Plan: what would run


def test_plan_says_what_is_cached_and_what_would_run(registry, cache_dir):
    def wf(values):
        return make_workflow({"ints": ("stub.ints", {"values": values}), "add": ("stub.add", {})},
                             [("ints.items", "add.a")])

    before = {e.node: e.status for e in graph.plan(wf("1,2,3"), registry=registry, cache=cache_dir)}
    assert before == {"ints": "run", "add": "run"}
    run(wf("1,2,3"), registry, cache_dir)
    after = {e.node: e.status for e in graph.plan(wf("1,2,3"), registry=registry, cache=cache_dir)}
    assert after == {"ints": "cached", "add": "cached"}
    # the plan cannot know the new list before "ints" runs, so "add" is listed as run
    edited = {e.node: e.status for e in graph.plan(wf("1,2,4"), registry=registry, cache=cache_dir)}
    assert edited == {"ints": "run", "add": "run"}


def test_orphans_left_by_a_crashed_run_are_swept_after_an_hour_at_most_once_an_hour(registry, cache_dir):
    assert run(media_workflow(), registry, cache_dir).ok
    [live] = objects(cache_dir)
    hour_ago = time.time() - 2 * 3600

    def orphan(name: str, old: bool) -> Path:
        path = cache_dir / "objects" / name[:2] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left by a crashed run")
        if old:
            os.utime(path, (hour_ago, hour_ago))
        return path

    old = orphan("aa" * 32 + ".png", old=True)
    fresh = orphan("bb" * 32 + ".png", old=False)  # a concurrent run may be about to record it
    scratch = cache_dir / "tmp" / "half-written.mp4"
    scratch.write_bytes(b"x")
    os.utime(scratch, (hour_ago, hour_ago))

    marker = cache_dir / ".last-sweep"  # the run above swept already; let an hour pass
    os.utime(marker, (hour_ago, hour_ago))
    with Cache(cache_dir) as cache:
        cache.evict()
    assert not old.exists() and not scratch.exists()
    assert fresh.exists() and live.exists()

    later = orphan("cc" * 32 + ".png", old=True)
    with Cache(cache_dir) as cache:
        cache.evict()
    assert later.exists(), "a second sweep within the hour is skipped (listing a big cache costs time)"


def test_a_file_stored_again_is_fresh_for_the_orphan_sweep(cache_dir, tmp_path):
    # a non-cacheable node (io.save_video) that makes the same file as a run hours ago: the object
    # exists, nothing references it, and the sweep due at the end of this run must not delete it
    # before the command line copies it to -o
    cache = Cache(cache_dir)
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"the same bytes as yesterday")
    first = cache.store.ingest(src, "video")
    hours_ago = time.time() - 5 * 3600
    os.utime(first.path, (hours_ago, hours_ago))
    marker = cache_dir / ".last-sweep"
    if marker.exists():  # absent: a sweep is due anyway
        os.utime(marker, (hours_ago, hours_ago))
    again = cache.store.ingest(src, "video")
    cache.evict()  # sweeps: the marker is old (or absent)
    assert Path(again.path).exists()
    assert time.time() - Path(again.path).stat().st_mtime < 60
    cache.close()
