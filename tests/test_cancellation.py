"""Cancellation: cooperative (noticed at progress ticks), leaves no half-written outputs, keeps
what finished so that a re-run resumes.

(DESIGN.md, "The engine": Executor.)
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import CancelToken, Event

SLOW_STEPS = 200  # 200 x 20 ms = 4 s if never cancelled


def workflow(steps: int = SLOW_STEPS) -> dict:
    """``quick`` finishes at once; ``slow`` takes a while; ``size`` waits for ``slow``."""
    return make_workflow(
        {"quick": ("stub.make_image", {"text": "quick"}),
         "slow": ("stub.slow", {"steps": steps, "step_seconds": 0.02}),
         "size": ("stub.image_size", {})},
        [("slow.image", "size.image")])


def assert_store_is_clean(cache_dir: Path) -> None:
    """No scratch file left behind, and every stored object is complete (named by its content)."""
    assert list((cache_dir / "tmp").iterdir()) == []
    for obj in (cache_dir / "objects").rglob("*"):
        if obj.is_file():
            assert obj.name.split(".")[0] == hashlib.sha256(obj.read_bytes()).hexdigest(), obj
            assert obj.read_bytes() != b"x" * 1024 * SLOW_STEPS


class CancelWhenSlowIsUnderway:
    """A listener that cancels once ``quick`` finished and ``slow`` is a few steps into writing its
    file; it notes the scratch files that existed at that moment."""

    def __init__(self, token: CancelToken, cache_dir: Path):
        self.token = token
        self.cache_dir = cache_dir
        self.events: list[Event] = []
        self.scratch_at_cancel: list[Path] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)
        done = {e.node for e in self.events if e.event == "node_finished"}
        if (ev.event == "node_progress" and ev.node == "slow" and ev.progress >= 3 / SLOW_STEPS
                and "quick" in done and not self.token.cancelled):
            self.scratch_at_cancel = list((self.cache_dir / "tmp").iterdir())
            self.token.cancel()


def test_cancelling_from_a_listener_stops_the_run_cleanly(registry, cache_dir):
    token = CancelToken()
    listener = CancelWhenSlowIsUnderway(token, cache_dir)
    start = time.perf_counter()
    result = graph.run(workflow(), registry=registry, cache=cache_dir, cancel=token, on_event=listener)
    assert time.perf_counter() - start < 2.0, "the slow node did not stop at its next progress tick"
    assert result.status == "cancelled" and not result.ok
    assert result.failures == []
    assert result.ran == ["quick"]
    assert sorted(result.skipped) == ["size", "slow"]
    skipped = {e.node: e.message for e in listener.events if e.event == "node_skipped"}
    assert skipped == {"slow": "cancelled", "size": "cancelled"}
    assert not any(e.event == "node_failed" for e in listener.events)
    assert listener.events[-1].event == "run_finished"
    assert listener.events[-1].data["status"] == "cancelled"
    [scratch] = listener.scratch_at_cancel  # slow was half-way through writing this file...
    assert not scratch.exists()  # ...and it is gone
    assert_store_is_clean(cache_dir)


def test_cancelling_from_another_thread(registry, cache_dir):
    token = CancelToken()
    underway = threading.Event()

    def on_event(ev):
        if ev.event == "node_progress" and ev.node == "slow":
            underway.set()

    def canceller():
        if underway.wait(5):
            token.cancel()

    thread = threading.Thread(target=canceller)
    thread.start()
    result = graph.run(workflow(), registry=registry, cache=cache_dir, cancel=token, on_event=on_event)
    thread.join()
    assert result.status == "cancelled"
    assert "slow" in result.skipped and "size" in result.skipped
    assert_store_is_clean(cache_dir)


def test_a_rerun_after_cancelling_resumes_from_what_finished(registry, cache_dir):
    token = CancelToken()
    cancelled = graph.run(workflow(steps=20), registry=registry, cache=cache_dir, cancel=token,
                          on_event=CancelWhenSlowIsUnderway(token, cache_dir))
    assert cancelled.status == "cancelled"
    result = graph.run(workflow(steps=20), registry=registry, cache=cache_dir)
    assert result.ok, result.failures
    assert result.cached == ["quick"]
    assert sorted(result.ran) == ["size", "slow"]
    assert result.value("size.size") == 1024 * 20
    assert_store_is_clean(cache_dir)


def test_a_cancelled_token_stops_a_run_before_anything_runs(registry, cache_dir):
    token = CancelToken()
    token.cancel()
    events = []
    result = graph.run(workflow(), registry=registry, cache=cache_dir, cancel=token, on_event=events.append)
    assert result.status == "cancelled"
    assert result.ran == [] and sorted(result.skipped) == ["quick", "size", "slow"]
    assert {e.node for e in events if e.event == "node_skipped"} == {"quick", "slow", "size"}
    assert not any(e.event == "node_finished" for e in events)
    assert_store_is_clean(cache_dir)


def test_nodes_not_yet_started_are_skipped_when_cancelled(registry, cache_dir):
    # a chain: cancelling while the first node works leaves the next two unstarted
    wf = make_workflow({"slow": ("stub.slow", {"steps": SLOW_STEPS, "step_seconds": 0.02}),
                        "size": ("stub.image_size", {}), "add": ("stub.add", {})},
                       [("slow.image", "size.image"), ("size.size", "add.a")])
    token = CancelToken()
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.event == "node_progress":
            token.cancel()

    result = graph.run(wf, registry=registry, cache=cache_dir, cancel=token, on_event=on_event)
    assert result.status == "cancelled"
    assert [e.node for e in events if e.event == "node_started"] == ["slow"]
    assert {e.node for e in events if e.event == "node_skipped"} == {"slow", "size", "add"}


def test_closing_iter_events_early_cancels_the_run(registry, cache_dir):
    stream = graph.iter_events(workflow(), registry=registry, cache=cache_dir)
    start = time.perf_counter()
    for ev in stream:
        if ev.event == "node_progress" and ev.node == "slow":
            break
    stream.close()  # cancels and waits for the run to stop
    assert time.perf_counter() - start < 2.0
    assert not any(t.name == "reelgraph-run" for t in threading.enumerate())
    assert_store_is_clean(cache_dir)


def test_a_node_sees_cancellation_at_its_progress_tick(tmp_path):
    from reelgraph.graph import Cancelled, RunContext

    token = CancelToken()
    ctx = RunContext.standalone(tmp_path, cancel=token)
    ctx.progress(0.1)
    token.cancel()
    assert ctx.cancelled
    try:
        ctx.progress(0.2)
    except Cancelled as e:
        assert "cancelled" in str(e)
    else:
        raise AssertionError("progress() did not raise after cancel()")


def test_cancel_callbacks_run_once_even_if_cancelled_twice():
    token = CancelToken()
    calls = []
    token.on_cancel(lambda: calls.append("early"))
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # registered after cancel: called at once
    assert calls == ["early", "late"]


@pytest.mark.timeout(30)
def test_a_node_raising_cancelled_itself_stops_the_run_and_never_hangs(registry, cache_dir):
    from reelgraph.graph import Cancelled, Node, Output, Text

    class GiveUpNode(Node):
        """Stop the whole run (as a node that sees its own stop signal would)."""

        type = "stub.give_up"
        version = "1.0.0"
        out = Output(Text)

        def run(self, ctx):
            raise Cancelled("the user closed the preview")

    registry.register(GiveUpNode, pack="stubs")
    # One CPU slot: the sleepers wait in the queue while give_up runs, so the run must drop them.
    wf = make_workflow({"give_up": ("stub.give_up",),
                        **{f"wait{i}": ("stub.cpu_sleep", {"seconds": 0.2, "label": str(i)}) for i in range(4)}})
    compiled = graph.compile(wf, registry=registry)
    with graph.LocalExecutor(graph.Cache(cache_dir), cpu_slots=1) as ex:
        result = ex.run(compiled)
    assert result.status == "cancelled"
    assert "give_up" in result.skipped
    assert len(result.ran) < 4, "the queued sleepers are dropped, not run to the end"
