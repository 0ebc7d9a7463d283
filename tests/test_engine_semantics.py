"""Engine semantics found by an independent test suite (issue 11): node failures never raise,
events come in run order, an empty mapped node is not "cached", plan agrees with run, and identical
calls in one run compute once."""

from __future__ import annotations

import threading

from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import Int, Node, Output, Param, Text
from stubnodes import make_registry

CALLS: list[int] = []
_lock = threading.Lock()


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("even str() fails")


class UnprintableNode(Node):
    """Raise an exception whose message cannot be read."""

    type = "sem.unprintable"
    version = "1.0.0"
    out = Output(Text)

    def run(self, ctx):
        raise UnprintableError()


class SlowSquareNode(Node):
    """Square a number slowly, counting calls."""

    type = "sem.square"
    version = "1.0.0"
    x = Param(Int, default=2)
    out = Output(Int)

    def run(self, ctx, x):
        import time
        with _lock:
            CALLS.append(x)
        time.sleep(0.05)
        return x * x


class ReadFileNode(Node):
    """Read a text file relative to the workspace (plan and run must resolve it alike)."""

    type = "sem.read"
    version = "1.0.0"
    path = Param(Text, default="in.txt")
    out = Output(Text)

    @classmethod
    def fingerprint(cls, values, workspace):
        p = workspace / values["path"]
        return p.read_text() if p.exists() else "missing"

    def run(self, ctx, path):
        return ctx.user_path(path, "path").read_text()


def registry():
    CALLS.clear()
    reg = make_registry()
    for cls in (UnprintableNode, SlowSquareNode, ReadFileNode):
        reg.register(cls, pack="sem")
    return reg


def test_an_exception_whose_str_fails_is_a_node_failure_not_a_crash(tmp_path):
    result = graph.run(make_workflow({"u": ("sem.unprintable", {})}), registry=registry(), cache=tmp_path / "c")
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "u" and "UnprintableError" in failure.message


def test_skipped_events_follow_the_run_order_every_time(tmp_path):
    nodes = {"bad": ("stub.fail", {})}
    edges = []
    prev = "bad"
    for i in range(12):
        nodes[f"n{i}"] = ("stub.sleep", {"label": str(i)})
        edges.append((f"{prev}.out", f"n{i}.after"))
        nodes[f"side{i}"] = ("stub.sleep", {"label": f"s{i}"})
        edges.append((f"{prev}.out", f"side{i}.after"))
        prev = f"n{i}"
    wf = make_workflow(nodes, edges)
    compiled = graph.compile(wf, registry=registry())
    orders = set()
    for _ in range(3):
        events = []
        graph.run(wf, registry=registry(), cache=False, on_event=events.append)
        skipped = [e.node for e in events if e.event == "node_skipped"]
        assert skipped == [n for n in compiled.order if n != "bad"]
        orders.add(tuple(skipped))
    assert len(orders) == 1


def test_a_mapped_node_over_an_empty_list_is_not_reported_cached(tmp_path):
    wf = make_workflow({"n": ("stub.ints", {"values": ""}), "add": ("stub.add", {})}, [("n.items", "add.a")])
    for cache in (False, tmp_path / "c"):
        events = []
        result = graph.run(wf, registry=registry(), cache=cache, on_event=events.append)
        assert result.ok
        assert "add" not in result.cached
        finished = [e for e in events if e.event == "node_finished" and e.node == "add"]
        assert finished and finished[0].cached is False
        assert not [e for e in events if e.event == "node_cached" and e.node == "add"]


def test_identical_calls_in_one_run_compute_once(tmp_path):
    wf = make_workflow({"a": ("sem.square", {"x": 5}), "b": ("sem.square", {"x": 5}), "c": ("sem.square", {"x": 6})})
    result = graph.run(wf, registry=registry(), cache=tmp_path / "c")
    assert result.ok
    assert (result.value("a.out"), result.value("b.out"), result.value("c.out")) == (25, 25, 36)
    assert sorted(CALLS) == [5, 6]


def test_identical_elements_of_a_mapped_node_compute_once(tmp_path):
    wf = make_workflow({"n": ("stub.ints", {"values": "5,5,5,7"}), "sq": ("sem.square", {})},
                       [("n.items", "sq.x")])
    events = []
    result = graph.run(wf, registry=registry(), cache=tmp_path / "c", on_event=events.append)
    assert result.value("sq.out") == [25, 25, 25, 49]
    assert sorted(CALLS) == [5, 7]
    finished = [e for e in events if e.event == "node_finished" and e.node == "sq"]
    assert finished and finished[0].cached is False


def test_plan_takes_a_workspace_like_run(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "in.txt").write_text("hello")
    wf = make_workflow({"r": ("sem.read", {})})
    cache = tmp_path / "c"
    assert graph.run(wf, registry=registry(), cache=cache, workspace=ws).value("r.out") == "hello"
    [entry] = graph.plan(wf, registry=registry(), cache=cache, workspace=ws)
    assert entry.status == "cached"


def test_plan_says_may_be_cached_after_a_node_that_always_reruns(tmp_path):
    wf = make_workflow({"t": ("stub.sleep", {"label": "a"}), "always": ("stub.chatty", {"label": "x"}),
                        "after": ("stub.sleep", {"label": "b"})}, [("always.out", "after.after")])
    reg = registry()
    # stub.chatty is cacheable; make a non-cacheable twin for this test
    spec = reg.get("stub.chatty")

    class Always(spec.cls):
        """Always run again (not cacheable)."""

        type = "sem.always"
        cacheable = False

    reg.register(Always, pack="sem")
    wf["nodes"]["always"]["type"] = "sem.always"
    cache = tmp_path / "c"
    graph.run(wf, registry=reg, cache=cache)
    entries = {e.node: e for e in graph.plan(wf, registry=reg, cache=cache)}
    assert entries["always"].status == "run"
    assert entries["after"].status == "maybe"
    assert "may be cached" in entries["after"].reason and "always" in entries["after"].reason
    again = graph.run(wf, registry=reg, cache=cache)
    assert "after" in again.cached
