"""The executor: order, concurrency bounded by resources, mapping over lists, failure isolation.

Each test reads as one rule of the engine (DESIGN.md, "The engine": Executor, Lists and mapping).
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import ArtifactStore, Cache, LocalExecutor
from stubnodes import CpuSleepNode, GpuSleepNode, SleepNode


def run(wf, registry, cache_dir=None, **kwargs):
    """Run with the test registry; ``cache_dir=None`` means no cache."""
    return graph.run(wf, registry=registry, cache=cache_dir if cache_dir is not None else False, **kwargs)


def events_of(wf, registry, cache_dir=None):
    events = []
    result = run(wf, registry, cache_dir, on_event=events.append)
    return result, events


def node_started(events, node):
    [ev] = [e for e in events if e.event == "node_started" and e.node == node]
    return ev


@pytest.fixture
def spans(monkeypatch):
    """Record (node id, start, end) of every real call of the sleep stubs, on the monotonic clock."""
    recorded: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    for cls in (SleepNode, CpuSleepNode, GpuSleepNode):
        original = cls.run

        def timed(self, ctx, _original=original, **kwargs):
            start = time.monotonic()
            try:
                return _original(self, ctx, **kwargs)
            finally:
                with lock:
                    recorded.append((ctx.node_id, start, time.monotonic()))

        monkeypatch.setattr(cls, "run", timed)
    return recorded


def overlapping(spans) -> list[tuple[str, str]]:
    """Pairs of calls whose [start, end) intervals intersect."""
    pairs = []
    for i, (a, a0, a1) in enumerate(spans):
        for b, b0, b1 in spans[i + 1:]:
            if a0 < b1 and b0 < a1:
                pairs.append((a, b))
    return pairs


# ---------------------------------------------------------------------------------------------
# Order


def test_a_node_runs_after_its_inputs_and_gets_their_values(registry):
    wf = make_workflow(
        {"a": ("stub.sleep", {"label": "a"}), "b": ("stub.sleep", {"label": "b"}),
         "c": ("stub.sleep", {"label": "c"})},
        [("b.out", "c.after"), ("a.out", "b.after")])
    result, events = events_of(wf, registry)
    assert result.ok, result.failures
    assert result.value("c.out") == "a>b>c"
    finished = [e.node for e in events if e.event == "node_finished"]
    assert finished == ["a", "b", "c"]
    started = [e.node for e in events if e.event == "node_started"]
    assert started == ["a", "b", "c"]


def test_diamond_joins_both_branches(registry):
    wf = make_workflow(
        {"n": ("stub.numbers", {"start": 1, "count": 4}), "s": ("stub.sum", {}),
         "len": ("list.length", {}), "add": ("stub.add", {})},
        [("n.items", "s.items"), ("n.items", "len.items"), ("s.total", "add.a"), ("len.count", "add.b")])
    result = run(wf, registry)
    assert result.ok, result.failures
    assert result.value("add.total") == (1 + 2 + 3 + 4) + 4
    assert set(result.ran) == {"n", "s", "len", "add"}


def chain(n: int) -> dict:
    nodes = {f"n{i}": ("stub.sleep", {"label": str(i % 10)}) for i in range(n)}
    edges = [(f"n{i}.out", f"n{i + 1}.after") for i in range(n - 1)]
    return make_workflow(nodes, edges)


def test_a_1000_node_chain_runs_and_reruns_from_cache_without_recursion(registry, cache_dir):
    wf = chain(1000)
    first = run(wf, registry, cache_dir)
    assert first.ok, first.failures[:3]
    assert len(first.ran) == 1000
    assert first.value("n999.out") == ">".join(str(i % 10) for i in range(1000))

    # Fully cached: every node completes synchronously on the scheduler thread, one after another.
    second = run(wf, registry, cache_dir)
    assert second.ok, second.failures[:3]
    assert len(second.cached) == 1000 and second.ran == []
    assert second.value("n999.out") == first.value("n999.out")


# ---------------------------------------------------------------------------------------------
# Concurrency


def test_two_independent_waiting_nodes_run_at_the_same_time(registry):
    wf = make_workflow({"a": ("stub.sleep", {"seconds": 0.3, "label": "a"}),
                        "b": ("stub.sleep", {"seconds": 0.3, "label": "b"})})
    start = time.perf_counter()
    result = run(wf, registry)
    wall = time.perf_counter() - start
    assert result.ok, result.failures
    assert wall < 0.5, f"two 0.3 s nodes took {wall:.2f} s: they did not overlap"


def test_cpu_nodes_are_limited_to_the_cpu_slots(registry, tmp_path, spans):
    wf = make_workflow({"a": ("stub.cpu_sleep", {"seconds": 0.15, "label": "a"}),
                        "b": ("stub.cpu_sleep", {"seconds": 0.15, "label": "b"})})
    with LocalExecutor(None, store=ArtifactStore(tmp_path / "store"), cpu_slots=1) as ex:
        result = ex.run(graph.compile(wf, registry=registry))
    assert result.ok, result.failures
    assert sorted(s[0] for s in spans) == ["a", "b"]
    assert overlapping(spans) == [], f"with one CPU slot the two calls overlapped: {spans}"


def test_cpu_nodes_overlap_when_there_are_enough_slots(registry, tmp_path, spans):
    """The control for the test above: the span measurement does see overlap when it happens."""
    wf = make_workflow({"a": ("stub.cpu_sleep", {"seconds": 0.2, "label": "a"}),
                        "b": ("stub.cpu_sleep", {"seconds": 0.2, "label": "b"})})
    with LocalExecutor(None, store=ArtifactStore(tmp_path / "store"), cpu_slots=2) as ex:
        result = ex.run(graph.compile(wf, registry=registry))
    assert result.ok, result.failures
    assert overlapping(spans) == [("a", "b")] or overlapping(spans) == [("b", "a")]


def test_waiting_nodes_are_not_held_back_by_busy_cpu_slots(registry, tmp_path, spans):
    wf = make_workflow({"cpu": ("stub.cpu_sleep", {"seconds": 0.3, "label": "c"}),
                        "wait": ("stub.sleep", {"seconds": 0.3, "label": "w"})})
    with LocalExecutor(None, store=ArtifactStore(tmp_path / "store"), cpu_slots=1) as ex:
        result = ex.run(graph.compile(wf, registry=registry))
    assert result.ok, result.failures
    assert len(overlapping(spans)) == 1


def test_gpu_nodes_never_overlap(registry, tmp_path, spans):
    wf = make_workflow({f"g{i}": ("stub.gpu_sleep", {"seconds": 0.05 + i / 1000}) for i in range(4)})
    with LocalExecutor(None, store=ArtifactStore(tmp_path / "store"), cpu_slots=16) as ex:
        result = ex.run(graph.compile(wf, registry=registry))
    assert result.ok, result.failures
    assert len(spans) == 4
    assert overlapping(spans) == [], f"two GPU nodes held the device at once: {spans}"


def test_a_call_bigger_than_the_machine_still_runs(registry, tmp_path):
    wf = make_workflow({"a": ("stub.cpu_sleep", {"label": "a"})})
    with LocalExecutor(None, store=ArtifactStore(tmp_path / "store"), cpu_slots=0.5) as ex:
        result = ex.run(graph.compile(wf, registry=registry))
    assert result.ok and result.value("a.out") == "a"


# ---------------------------------------------------------------------------------------------
# Mapping over lists


def test_a_list_wired_into_a_scalar_input_maps_the_node(registry):
    wf = make_workflow({"n": ("stub.numbers", {"start": 1, "count": 3}), "add": ("stub.add", {"b": 10})},
                       [("n.items", "add.a")])
    result, events = events_of(wf, registry)
    assert result.ok, result.failures
    assert result.value("add.total") == [11, 12, 13]
    assert node_started(events, "add").data == {"calls": 3, "cached_calls": 0}
    # each element reports its completion as progress
    progress = [e for e in events if e.event == "node_progress" and e.node == "add"]
    assert sorted(e.element for e in progress) == [0, 1, 2]
    assert max(e.progress for e in progress) == pytest.approx(1.0)


def test_a_list_input_takes_the_list_whole(registry):
    wf = make_workflow({"n": ("stub.numbers", {"start": 1, "count": 3}), "s": ("stub.sum", {})},
                       [("n.items", "s.items")])
    result, events = events_of(wf, registry)
    assert result.value("s.total") == 6
    assert node_started(events, "s").data == {"calls": 1, "cached_calls": 0}


def test_each_element_is_cached_separately(registry, cache_dir):
    def wf(values):
        return make_workflow({"ints": ("stub.ints", {"values": values}), "add": ("stub.add", {"b": 100})},
                             [("ints.items", "add.a")])

    first, events = events_of(wf("1,2,3,4"), registry, cache_dir)
    assert first.value("add.total") == [101, 102, 103, 104]
    assert node_started(events, "add").data == {"calls": 4, "cached_calls": 0}

    second, events = events_of(wf("1,2,30,4"), registry, cache_dir)
    assert second.value("add.total") == [101, 102, 130, 104]
    assert node_started(events, "add").data == {"calls": 4, "cached_calls": 3}
    assert second.ran == ["ints", "add"]


def test_only_the_changed_element_reruns_counted_by_calls(registry, cache_dir, monkeypatch):
    from stubnodes import AddNode
    seen = []
    original = AddNode.run
    monkeypatch.setattr(AddNode, "run", lambda self, ctx, a, b: seen.append(a) or original(self, ctx, a, b))
    wf = make_workflow({"ints": ("stub.ints", {"values": "5,6,7"}), "add": ("stub.add", {})},
                       [("ints.items", "add.a")])
    run(wf, registry, cache_dir)
    assert sorted(seen) == [5, 6, 7]
    seen.clear()
    wf["nodes"]["ints"]["params"]["values"] = "5,60,7"
    result = run(wf, registry, cache_dir)
    assert seen == [60]
    assert result.value("add.total") == [5, 60, 7]


def test_mapped_inputs_of_different_lengths_fail_without_padding(registry):
    wf = make_workflow({"x": ("stub.numbers", {"start": 1, "count": 3}),
                        "y": ("stub.numbers", {"start": 1, "count": 2}),
                        "add": ("stub.add", {})},
                       [("x.items", "add.a"), ("y.items", "add.b")])
    result = run(wf, registry)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "add"
    assert failure.field in ("a", "b")
    assert "different lengths" in failure.message
    assert "a has 3" in failure.message and "b has 2" in failure.message
    assert failure.fix and "never pads" in failure.fix
    assert "add" not in result.values  # nothing padded, nothing truncated


def test_mapped_inputs_of_equal_lengths_zip(registry):
    wf = make_workflow({"x": ("stub.numbers", {"start": 1, "count": 3}),
                        "y": ("stub.numbers", {"start": 10, "count": 3}),
                        "add": ("stub.add", {})},
                       [("x.items", "add.a"), ("y.items", "add.b")])
    result = run(wf, registry)
    assert result.value("add.total") == [11, 13, 15]


def test_an_empty_list_maps_to_an_empty_list(registry):
    wf = make_workflow({"n": ("stub.numbers", {"count": 0}), "add": ("stub.add", {}),
                        "s": ("stub.sum", {})},
                       [("n.items", "add.a"), ("add.total", "s.items")])
    result = run(wf, registry)
    assert result.ok, result.failures
    assert result.value("add.total") == []
    assert result.value("s.total") == 0


def test_one_failing_element_fails_the_node_and_names_the_element(registry, cache_dir):
    wf = make_workflow({"n": ("stub.numbers", {"start": 11, "count": 4}), "add": ("stub.add", {})},
                       [("n.items", "add.a")])
    result = run(wf, registry, cache_dir)
    assert result.status == "failed"
    [failure] = result.failures
    assert (failure.node, failure.element, failure.field) == ("add", 2, "a")
    assert "add[2].a" in str(failure)
    # the elements that worked are cached: a re-run only retries the failing one
    events = []
    run(wf, registry, cache_dir, on_event=events.append)
    assert node_started(events, "add").data == {"calls": 4, "cached_calls": 3}


# ---------------------------------------------------------------------------------------------
# Failure isolation


def test_a_failure_skips_only_its_dependents(registry):
    wf = make_workflow(
        {"bad": ("stub.fail", {}), "after_bad": ("stub.sleep", {"label": "x"}),
         "after_after": ("stub.sleep", {"label": "y"}),
         "good": ("stub.sleep", {"seconds": 0.05, "label": "g"}),
         "after_good": ("stub.sleep", {"label": "h"})},
        [("bad.out", "after_bad.after"), ("after_bad.out", "after_after.after"),
         ("good.out", "after_good.after")])
    result, events = events_of(wf, registry)
    assert result.status == "failed" and not result.ok
    assert [f.node for f in result.failures] == ["bad"]
    assert sorted(result.skipped) == ["after_after", "after_bad"]
    assert result.value("after_good.out") == "g>h"
    assert set(result.ran) == {"good", "after_good"}
    skipped = {e.node: e.message for e in events if e.event == "node_skipped"}
    assert skipped == {"after_bad": "skipped because bad failed", "after_after": "skipped because bad failed"}


def test_every_failure_is_reported(registry):
    wf = make_workflow({"bug": ("stub.fail", {"kind": "bug"}), "bad": ("stub.fail", {"kind": "input"}),
                        "ok": ("stub.sleep", {"label": "fine"})})
    result = run(wf, registry)
    assert result.status == "failed"
    assert sorted(f.node for f in result.failures) == ["bad", "bug"]
    assert result.value("ok.out") == "fine"


def test_a_node_error_keeps_its_field_and_fix(registry):
    wf = make_workflow({"bad": ("stub.fail", {"kind": "input"})})
    [failure] = run(wf, registry).failures
    assert (failure.node, failure.field, failure.message) == ("bad", "kind", "bad input")
    assert failure.fix == "set kind to something else"
    assert str(failure) == "bad.kind: bad input — set kind to something else"
    assert failure.traceback is None  # a NodeError is the user's problem, not a bug


def test_a_plain_exception_keeps_its_traceback(registry):
    wf = make_workflow({"bug": ("stub.fail", {"kind": "bug"})})
    [failure] = run(wf, registry).failures
    assert failure.message == "RuntimeError: boom"
    assert failure.traceback is not None
    assert "Traceback" in failure.traceback
    assert "stubnodes.py" in failure.traceback and "RuntimeError: boom" in failure.traceback


def test_a_wired_value_out_of_bounds_fails_with_the_field(registry):
    # stub.add's b is bounded to [-1000, 1000]; a wired value is checked when it arrives
    wf = make_workflow({"n": ("stub.numbers", {"start": 5000, "count": 1}), "s": ("stub.sum", {}),
                        "x": ("stub.numbers", {"start": 1, "count": 1}), "one": ("stub.sum", {}),
                        "add": ("stub.add", {})},
                       [("n.items", "s.items"), ("x.items", "one.items"), ("one.total", "add.a"),
                        ("s.total", "add.b")])
    result = run(wf, registry)
    [failure] = result.failures
    assert (failure.node, failure.field) == ("add", "b")
    assert "s.total" in failure.message and failure.fix


def test_results_before_a_failure_are_cached_and_a_fixed_rerun_computes_only_the_fix(registry, cache_dir):
    nodes = {"first": ("stub.sleep", {"label": "1"}), "second": ("stub.fail", {"kind": "bug"}),
             "third": ("stub.sleep", {"label": "3"}), "side": ("stub.sleep", {"label": "side"})}
    edges = [("first.out", "second.after"), ("second.out", "third.after")]
    broken = run(make_workflow(nodes, edges), registry, cache_dir)
    assert broken.status == "failed"
    assert set(broken.ran) == {"first", "side"} and broken.skipped == ["third"]

    nodes["second"] = ("stub.sleep", {"label": "2"})  # the fix: replace the failing node
    fixed = run(make_workflow(nodes, edges), registry, cache_dir)
    assert fixed.ok, fixed.failures
    assert set(fixed.cached) == {"first", "side"}
    assert set(fixed.ran) == {"second", "third"}
    assert fixed.value("third.out") == "1>2>3"


def test_a_node_returning_the_wrong_outputs_fails_cleanly(registry):
    from reelgraph.graph import Node, Output, Text

    class LiarNode(Node):
        """Return something that is not its declared output."""

        type = "stub.liar"
        version = "1.0.0"
        out = Output(Text)
        other = Output(Text)

        def run(self, ctx):
            return {"out": "x"}

    registry.register(LiarNode, pack="stubs")
    result = run(make_workflow({"liar": ("stub.liar", {})}), registry)
    [failure] = result.failures
    assert failure.node == "liar" and failure.field == "other"
    assert "declared" in failure.message


def test_an_output_that_cannot_be_stored_fails_the_node_not_the_run(registry, cache_dir):
    from reelgraph.graph import Any, Node, Output

    class SetNode(Node):
        """Return a Python set through an Any output (not storable)."""

        type = "stub.set"
        version = "1.0.0"
        out = Output(Any)

        def run(self, ctx):
            return {1, 2}

    registry.register(SetNode, pack="stubs")
    wf = make_workflow({"bad": ("stub.set", {}), "fine": ("stub.sleep", {"label": "ok"})})
    for cache in (None, cache_dir):
        result = run(wf, registry, cache)
        assert result.status == "failed"
        [failure] = result.failures
        assert (failure.node, failure.field) == ("bad", "out")
        assert "cannot store a value of type set" in failure.message
        assert result.value("fine.out") == "ok"


def test_a_failing_fingerprint_fails_its_node_not_the_run(registry, cache_dir):
    from reelgraph.graph import Node, Output, Param, Text

    class ReadNode(Node):
        """Read a file (its fingerprint looks at the file)."""

        type = "stub.read"
        version = "1.0.0"
        path = Param(Text, default="missing.txt")
        out = Output(Text)

        @classmethod
        def fingerprint(cls, values, workspace):
            raise FileNotFoundError(workspace / values["path"])

        def run(self, ctx, path):
            return path

    registry.register(ReadNode, pack="stubs")
    wf = make_workflow({"read": ("stub.read", {}), "after": ("stub.sleep", {}),
                        "fine": ("stub.sleep", {"label": "ok"})}, [("read.out", "after.after")])
    result = run(wf, registry, cache_dir)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "read" and "FileNotFoundError" in failure.message
    assert "fingerprint" in failure.traceback
    assert result.skipped == ["after"] and result.value("fine.out") == "ok"
    plan = {e.node: e for e in graph.plan(wf, registry=registry, cache=cache_dir)}
    assert plan["read"].status == "run" and "will fail" in plan["read"].reason


# ---------------------------------------------------------------------------------------------
# Six parallel chains


def six_chains(changed: int | None = None) -> dict:
    nodes, edges = {"join": ("list.build", {})}, []
    for c in range(1, 7):
        for step in range(3):
            label = f"c{c}s{step}" + ("-edited" if (c == changed and step == 0) else "")
            nodes[f"c{c}_{step}"] = ("stub.sleep", {"label": label, "seconds": 0.02})
        edges += [(f"c{c}_0.out", f"c{c}_1.after"), (f"c{c}_1.out", f"c{c}_2.after"),
                  (f"c{c}_2.out", f"join.item_{c}")]
    return make_workflow(nodes, edges)


def test_six_parallel_chains_edit_one_param_reruns_exactly_four_nodes(registry, cache_dir):
    first = run(six_chains(), registry, cache_dir)
    assert first.ok, first.failures
    assert len(first.ran) == 19
    assert first.value("join.items")[2] == "c3s0>c3s1>c3s2"

    again = run(six_chains(), registry, cache_dir)
    assert again.ran == [] and len(again.cached) == 19

    edited = run(six_chains(changed=3), registry, cache_dir)
    assert edited.ok, edited.failures
    assert sorted(edited.ran) == ["c3_0", "c3_1", "c3_2", "join"]
    assert len(edited.cached) == 15
    assert edited.value("join.items")[2] == "c3s0-edited>c3s1>c3s2"
    assert edited.value("join.items")[0] == "c1s0>c1s1>c1s2"


def test_six_parallel_chains_run_concurrently(registry):
    # 3 steps of 0.1 s per chain: serial would take 1.8 s; chained in parallel about 0.3 s
    wf = six_chains()
    for node in wf["nodes"].values():
        if node["type"] == "stub.sleep":
            node["params"]["seconds"] = 0.1
    start = time.perf_counter()
    result = run(wf, registry)
    assert result.ok
    assert time.perf_counter() - start < 1.2


# ---------------------------------------------------------------------------------------------
# Run results and reuse of one executor


def test_one_executor_runs_several_graphs_and_shares_its_cache(registry, cache_dir):
    wf = make_workflow({"a": ("stub.sleep", {"label": "a"}), "b": ("stub.sleep", {"label": "b"})},
                       [("a.out", "b.after")])
    compiled = graph.compile(wf, registry=registry)
    with Cache(cache_dir) as cache, LocalExecutor(cache) as ex:
        first = ex.run(compiled)
        second = ex.run(compiled)
    assert first.run_id != second.run_id
    assert first.ran == ["a", "b"] and second.cached == ["a", "b"]
    assert first.outputs == second.outputs == {"b": {"out": "a>b"}}


def test_a_fingerprint_reruns_a_node_when_the_file_it_names_changes(registry, cache_dir, tmp_path):
    from reelgraph.graph import Node, Output, Param, Text

    class ReadTextNode(Node):
        """Read a text file from the workspace."""

        type = "stub.read_text"
        version = "1.0.0"
        path = Param(Text)
        out = Output(Text)

        @classmethod
        def fingerprint(cls, values, workspace):
            stat = (workspace / values["path"]).stat()
            return f"{stat.st_size}:{stat.st_mtime_ns}"

        def run(self, ctx, path):
            return ctx.user_path(path, "path").read_text()

    registry.register(ReadTextNode, pack="stubs")
    (tmp_path / "script.txt").write_text("first draft")
    wf_file = tmp_path / "read.json"
    wf_file.write_text(graph.Workflow.model_validate(
        make_workflow({"read": ("stub.read_text", {"path": "script.txt"})})).to_json())

    first = run(wf_file, registry, cache_dir)
    again = run(wf_file, registry, cache_dir)
    (tmp_path / "script.txt").write_text("second draft, longer")
    edited = run(wf_file, registry, cache_dir)

    assert first.value("read.out") == "first draft" and first.ran == ["read"]
    assert again.cached == ["read"]
    assert edited.ran == ["read"] and edited.value("read.out") == "second draft, longer"
