"""The event stream: one sequence of events that the CLI, the editor and the API all consume.

(DESIGN.md, "The engine": Executor — run_started, node_started, node_progress, node_cached,
node_finished, node_failed, run_finished; plus node_skipped and node_warning.)
"""

from __future__ import annotations

import json

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import EVENT_KINDS, Event, RunResult


def run_collecting(wf, registry, cache=False, **kwargs) -> tuple[RunResult, list[Event]]:
    events: list[Event] = []
    result = graph.run(wf, registry=registry, cache=cache, on_event=events.append, **kwargs)
    return result, events


def kinds(events, node: str | None = None) -> list[tuple[str, str | None]]:
    return [(e.event, e.node) for e in events if node is None or e.node == node]


def chain_ab() -> dict:
    return make_workflow({"a": ("stub.sleep", {"label": "a"}), "b": ("stub.sleep", {"label": "b"})},
                         [("a.out", "b.after")])


def test_the_full_sequence_of_a_small_run(registry):
    result, events = run_collecting(chain_ab(), registry)
    assert kinds(events) == [
        ("run_started", None),
        ("node_started", "a"), ("node_finished", "a"),
        ("node_started", "b"), ("node_finished", "b"),
        ("run_finished", None),
    ]
    assert {e.run_id for e in events} == {result.run_id}
    assert events[0].data == {"nodes": 2}
    assert events[1].data == {"calls": 1, "cached_calls": 0}
    finished = [e for e in events if e.event == "node_finished"]
    assert all(e.cached is False and e.seconds >= 0 for e in finished)
    end = events[-1]
    assert end.data["status"] == "ok"
    counts = [end.data[k] for k in ("ran", "cached_nodes", "failed", "skipped")]
    assert counts == [2, 0, 0, 0]
    assert end.data["outputs"] == {"b": {"out": "a>b"}}
    assert end.seconds >= max(e.seconds for e in events[:-1] if e.event not in ("node_finished",))


def test_every_event_is_a_known_kind(registry, cache_dir):
    wf = make_workflow({"n": ("stub.numbers", {"start": 12, "count": 3}), "add": ("stub.add", {}),
                        "chat": ("stub.chatty", {}), "after": ("stub.sum", {})},
                       [("n.items", "add.a"), ("add.total", "after.items")])
    _, events = run_collecting(wf, registry, cache_dir)
    _, again = run_collecting(wf, registry, cache_dir)
    seen = {e.event for e in events + again}
    assert seen <= set(EVENT_KINDS)
    assert seen == set(EVENT_KINDS)  # this run shows every kind at least once


def test_a_rerun_reports_cached_nodes(registry, cache_dir):
    run_collecting(chain_ab(), registry, cache_dir)
    result, events = run_collecting(chain_ab(), registry, cache_dir)
    assert kinds(events) == [
        ("run_started", None),
        ("node_cached", "a"), ("node_finished", "a"),
        ("node_cached", "b"), ("node_finished", "b"),
        ("run_finished", None),
    ]
    assert all(e.cached is True for e in events if e.event in ("node_cached", "node_finished"))
    assert events[-1].data["cached_nodes"] == 2 and events[-1].data["ran"] == 0
    assert result.cached == ["a", "b"]


def test_progress_and_warnings_come_from_the_node(registry):
    _, events = run_collecting(make_workflow({"chat": ("stub.chatty", {"label": "fire"})}), registry)
    assert kinds(events, "chat") == [("node_started", "chat"), ("node_progress", "chat"),
                                     ("node_warning", "chat"), ("node_progress", "chat"),
                                     ("node_finished", "chat")]
    progress = [(e.progress, e.message) for e in events if e.event == "node_progress"]
    assert progress == [(0.5, "half way"), (1.0, "done")]
    [warning] = [e for e in events if e.event == "node_warning"]
    assert warning.message == "careful with fire"


def test_mapped_calls_report_progress_per_element(registry):
    wf = make_workflow({"n": ("stub.numbers", {"count": 4}), "add": ("stub.add", {})}, [("n.items", "add.a")])
    _, events = run_collecting(wf, registry)
    progress = [e for e in events if e.event == "node_progress" and e.node == "add"]
    assert sorted(e.element for e in progress) == [0, 1, 2, 3]
    assert [e.progress for e in progress] == [0.25, 0.5, 0.75, 1.0]


def test_a_failure_emits_node_failed_with_the_error_and_skips_dependents(registry):
    wf = make_workflow({"bad": ("stub.fail", {"kind": "input"}), "next": ("stub.sleep", {}),
                        "free": ("stub.sleep", {"label": "free"})},
                       [("bad.out", "next.after")])
    result, events = run_collecting(wf, registry)
    [failed] = [e for e in events if e.event == "node_failed"]
    assert failed.node == "bad"
    assert failed.error == {"message": "bad input", "field": "kind", "fix": "set kind to something else",
                            "element": None, "count": 1}
    assert failed.message == "bad.kind: bad input — set kind to something else"
    [skipped] = [e for e in events if e.event == "node_skipped"]
    assert skipped.node == "next" and "bad" in skipped.message
    assert kinds(events).index(("node_failed", "bad")) < kinds(events).index(("node_skipped", "next"))
    assert ("node_finished", "free") in kinds(events)
    end = events[-1]
    assert end.event == "run_finished"
    assert end.data["status"] == "failed" and end.data["failed"] == 1 and end.data["skipped"] == 1
    assert end.data["failures"] == ["bad.kind: bad input — set kind to something else"]
    assert result.status == "failed"


def test_a_failing_element_is_named_in_node_failed(registry):
    wf = make_workflow({"n": ("stub.numbers", {"start": 12, "count": 3}), "add": ("stub.add", {})},
                       [("n.items", "add.a")])
    _, events = run_collecting(wf, registry)
    [failed] = [e for e in events if e.event == "node_failed"]
    assert failed.element == 1 and failed.error["element"] == 1 and failed.error["field"] == "a"


def test_to_json_carries_event_node_seconds_and_cached(registry, cache_dir):
    _, first = run_collecting(chain_ab(), registry, cache_dir)
    _, second = run_collecting(chain_ab(), registry, cache_dir)
    for ev in first + second:
        d = json.loads(ev.to_json())
        assert {"event", "node", "seconds", "run_id"} <= set(d)
        assert d["event"] == ev.event and d["node"] == ev.node
        assert isinstance(d["seconds"], float)
        if ev.event in ("node_finished", "node_cached"):
            assert d["cached"] is (ev in second)
        else:
            assert "cached" not in d
    end = json.loads(first[-1].to_json())
    assert end["event"] == "run_finished" and end["node"] is None and end["status"] == "ok"


def test_to_json_of_a_failure_and_of_media_outputs(registry):
    wf = make_workflow({"bad": ("stub.fail", {}), "img": ("stub.make_image", {})})
    _, events = run_collecting(wf, registry)
    failed = json.loads(next(e for e in events if e.event == "node_failed").to_json())
    assert failed["error"]["message"] == "RuntimeError: boom"
    end = json.loads(events[-1].to_json())
    media = end["outputs"]["img"]["image"]["$media"]
    assert media["kind"] == "image" and media["size"] == len(b"pixels" * 100)


def test_a_failing_listener_does_not_break_the_run(registry):
    seen = []

    def flaky(ev):
        seen.append(ev.event)
        raise RuntimeError("listener bug")

    result = graph.run(chain_ab(), registry=registry, cache=False, on_event=flaky)
    assert result.ok and seen[0] == "run_started" and seen[-1] == "run_finished"


def test_iter_events_yields_the_same_stream_and_returns_the_result(registry):
    _, expected = run_collecting(chain_ab(), registry)
    stream = graph.iter_events(chain_ab(), registry=registry, cache=False)
    events = []
    while True:
        try:
            events.append(next(stream))
        except StopIteration as stop:
            result = stop.value
            break
    assert kinds(events) == kinds(expected)
    assert isinstance(result, RunResult) and result.ok
    assert result.value("b.out") == "a>b"
    assert {e.run_id for e in events} == {result.run_id}


def test_iter_events_with_yield_from(registry):
    collected = []

    def consumer():
        result = yield from graph.iter_events(chain_ab(), registry=registry, cache=False)
        collected.append(result)

    events = list(consumer())
    assert events[0].event == "run_started" and events[-1].event == "run_finished"
    assert collected[0].outputs == {"b": {"out": "a>b"}}


def test_iter_events_raises_a_workflow_error_for_an_invalid_workflow(registry):
    bad = make_workflow({"x": ("stub.nope", {})})
    with pytest.raises(graph.WorkflowError):
        list(graph.iter_events(bad, registry=registry, cache=False))
