"""Jobs: the one run driver and the durable job runner (graph/jobs.py), without any web server.

Each test is one rule from issue 12: a job has an id, a status, per-node states, outputs and an event
log; jobs survive a crash and finish exactly once; jobs running side by side share one resource
accounting; priorities order the queue.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import jobs
from reelgraph.graph.jobs import JobRunner, JobSpec, JobStore
from stubnodes import GpuSleepNode


@pytest.fixture
def runners(tmp_path, registry):
    """Make runners on one data folder; every one is closed at the end."""
    made: list[JobRunner] = []

    def make(workers: int = 2, start: bool = True, claim: bool = True, data: Path | None = None) -> JobRunner:
        r = JobRunner(data or tmp_path / "data", graph.Cache(tmp_path / "cache"), workers=workers,
                      registry=registry, workspace=tmp_path / "ws", claim=claim)
        made.append(r)
        return r.start() if start else r

    yield make
    for r in made:
        r.close()


def sleep_wf(seconds=0.0, label="x"):
    return make_workflow({"a": ("stub.sleep", {"seconds": seconds, "label": label})})


def image_wf(text="pixels"):
    return make_workflow({"img": ("stub.write_file", {"text": text})})


def kinds(events):
    return [e["event"] for _, e in events]


def test_a_job_runs_to_succeeded_with_per_node_states_outputs_and_an_event_log(runners):
    r = runners()
    job, created = r.submit(JobSpec(image_wf("hello")))
    assert created and job["status"] == "queued" and job["id"].startswith("j")
    done = r.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded"
    assert done["state"]["nodes"]["img"]["status"] == "done"
    out = done["state"]["outputs"]["img.image"]
    assert out["type"] == "image" and out["file"] == "img.image.png"
    assert (r.outputs_dir / job["id"] / out["file"]).read_bytes() == b"hello" * 100
    events = r.events(job["id"])
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert kinds(events)[:3] == ["job_queued", "job_started", "run_started"]
    assert kinds(events)[-1] == "job_finished" and events[-1][1]["status"] == "succeeded"


def test_job_outputs_outlive_the_cache(runners, tmp_path):
    r = runners()
    job, _ = r.submit(JobSpec(image_wf("keep me")))
    done = r.wait(job["id"], timeout=30)
    graph.Cache(tmp_path / "cache").clear()
    assert (r.outputs_dir / job["id"] / done["state"]["outputs"]["img.image"]["file"]).read_bytes() == b"keep me" * 100


def test_an_invalid_workflow_is_refused_at_submit_with_every_problem(runners):
    r = runners()
    bad = make_workflow({"a": ("stub.sleep", {"seconds": -1}), "b": ("no.such_type", {})})
    with pytest.raises(graph.WorkflowError) as e:
        r.submit(JobSpec(bad))
    assert {i.node for i in e.value.issues} == {"a", "b"}
    assert r.store.count() == 0


def test_the_same_idempotency_key_gives_back_the_same_job(runners):
    r = runners()
    first, created = r.submit(JobSpec(sleep_wf(), idempotency_key="order-1"))
    again, created_again = r.submit(JobSpec(sleep_wf(label="other"), idempotency_key="order-1"))
    other_owner, created_other = r.submit(JobSpec(sleep_wf(), idempotency_key="order-1", owner="bob"))
    assert created and not created_again and again["id"] == first["id"]
    assert created_other and other_owner["id"] != first["id"]


def test_priorities_order_the_queue(runners):
    r = runners(workers=1)
    r.pause()
    low = r.submit(JobSpec(sleep_wf(label="low"), priority=0))[0]["id"]
    high = r.submit(JobSpec(sleep_wf(label="high"), priority=5))[0]["id"]
    time.sleep(0.1)
    assert r.store.get(low)["status"] == "queued"  # paused: nothing starts
    r.resume()
    r.wait(low, timeout=30)
    r.wait(high, timeout=30)
    assert r.store.get(high)["started"] <= r.store.get(low)["started"]


def test_gpu_calls_of_jobs_running_side_by_side_never_overlap(runners, monkeypatch):
    spans = []
    lock = threading.Lock()
    original = GpuSleepNode.run

    def timed(self, ctx, **kw):
        t0 = time.monotonic()
        try:
            return original(self, ctx, **kw)
        finally:
            with lock:
                spans.append((t0, time.monotonic()))

    monkeypatch.setattr(GpuSleepNode, "run", timed)
    r = runners(workers=3)
    ids = [r.submit(JobSpec(make_workflow({"g": ("stub.gpu_sleep", {"seconds": 0.15 + i / 1000})})))[0]["id"]
           for i in range(3)]
    for job_id in ids:
        assert r.wait(job_id, timeout=30)["status"] == "succeeded"
    spans.sort()
    assert len(spans) == 3
    assert all(a1 <= b0 for (_, a1), (b0, _) in zip(spans, spans[1:]))


def test_cancel_a_queued_job_and_it_never_runs(runners):
    r = runners(workers=1)
    r.pause()
    job = r.submit(JobSpec(sleep_wf()))[0]
    assert r.cancel(job["id"])["status"] == "cancelled"
    r.resume()
    time.sleep(0.1)
    assert r.store.get(job["id"])["status"] == "cancelled"
    assert "job_started" not in kinds(r.events(job["id"]))


def test_cancel_a_running_job_stops_it(runners):
    r = runners()
    job = r.submit(JobSpec(make_workflow({"s": ("stub.slow", {"steps": 500, "step_seconds": 0.02})})))[0]
    for _ in range(200):
        if r.store.get(job["id"])["status"] == "running":
            break
        time.sleep(0.02)
    r.cancel(job["id"])
    assert r.wait(job["id"], timeout=30)["status"] == "cancelled"


def test_delete_removes_the_history_entry_and_its_outputs(runners):
    r = runners()
    job = r.submit(JobSpec(image_wf()))[0]
    r.wait(job["id"], timeout=30)
    assert (r.outputs_dir / job["id"]).is_dir()
    assert r.delete(job["id"])
    assert r.store.get(job["id"]) is None and r.events(job["id"]) == []
    assert not (r.outputs_dir / job["id"]).exists()


def test_targets_run_only_what_the_named_nodes_need(runners):
    r = runners()
    wf = make_workflow({"a": ("stub.sleep", {"label": "a"}), "b": ("stub.sleep", {"label": "b"})})
    job = r.submit(JobSpec(wf, targets=["b"]))[0]
    done = r.wait(job["id"], timeout=30)
    assert list(done["state"]["nodes"]) == ["b"]
    assert done["state"]["outputs"] == {"b.out": {"type": "text", "value": "b"}}
    with pytest.raises(graph.WorkflowError, match="target 'c' names no node"):
        r.submit(JobSpec(wf, targets=["c"]))


def test_a_failed_job_names_the_node_and_the_fix(runners):
    r = runners()
    job = r.submit(JobSpec(make_workflow({"f": ("stub.fail", {})})))[0]
    done = r.wait(job["id"], timeout=30)
    assert done["status"] == "failed"
    [err] = done["state"]["errors"]
    assert err["node"] == "f" and err["message"]


def test_a_batch_is_one_job_per_row_and_a_bad_row_queues_nothing(runners):
    r = runners()
    batch_id, batch_jobs = r.submit_batch(JobSpec(sleep_wf()), [{"a.label": "one", "name": "first"},
                                                                 {"a.label": "two"}])
    assert [j["name"] for j in batch_jobs] == ["first", None]
    assert r.store.batch(batch_id)["jobs"] == [j["id"] for j in batch_jobs]
    values = [r.wait(j["id"], timeout=30)["state"]["outputs"]["a.out"]["value"] for j in batch_jobs]
    assert values == ["one", "two"]
    before = r.store.count()
    with pytest.raises(graph.WorkflowError, match=r"rows\[1\]"):
        r.submit_batch(JobSpec(sleep_wf()), [{"a.label": "fine"}, {"a.seconds": -3}])
    assert r.store.count() == before


def test_text_overrides_are_read_like_set_on_the_command_line(runners):
    r = runners()
    job = r.submit(JobSpec(sleep_wf(), overrides={"a.seconds": "0.01", "a.label": "7"}, text=True))[0]
    assert r.wait(job["id"], timeout=30)["state"]["outputs"]["a.out"]["value"] == "7"


def test_a_service_job_writes_no_file_through_a_save_node(runners, tmp_path):
    r = runners()
    wf = make_workflow({"p": ("text.constant", {"text": "a red boat"}),
                        "img": ("image.keyframe", {"width": 64, "height": 64}),
                        "save": ("io.save_image", {"filename": "made.png"})},
                       [("p.out", "img.prompt"), ("img.image", "save.image")])
    job = r.submit(JobSpec(wf))[0]
    assert r.wait(job["id"], timeout=30)["status"] == "succeeded"
    assert not (tmp_path / "ws" / "made.png").exists()
    assert r.store.get(job["id"])["state"]["outputs"]  # delivered into its own folder instead
    # the editor's runs do write it: the user named the file on their own canvas
    _, live = r.start_now(JobSpec(wf, source="editor", write_files=True))
    live.done.wait(30)
    assert (tmp_path / "ws" / "made.png").is_file()


def test_running_jobs_of_a_dead_server_are_interrupted_and_resume_exactly_once(runners, tmp_path):
    # a server that died mid-job leaves it "running" in the store with a runner nobody holds
    store = JobStore(tmp_path / "data" / "jobs.db")
    spec = JobSpec(image_wf("resumed"))
    store.add_events("jdead", [(1, {"event": "job_queued"}), (2, {"event": "job_started"})])
    store.insert("jdead", spec, status="running", runner="r-gone")
    store.add_events("jqueued", [(1, {"event": "job_queued"})])
    store.insert("jqueued", JobSpec(sleep_wf(label="q")))
    store.close()
    r = runners()
    for job_id in ("jdead", "jqueued"):
        assert r.wait(job_id, timeout=30)["status"] == "succeeded"
    events = r.events("jdead")
    assert kinds(events)[:4] == ["job_queued", "job_started", "job_interrupted", "job_started"]
    assert kinds(events).count("job_finished") == 1
    assert [s for s, _ in events] == list(range(1, len(events) + 1))
    assert r.store.get("jdead")["attempts"] == 1


def test_a_job_another_live_process_runs_is_left_alone(runners, tmp_path):
    editor = runners(claim=False)  # alive: it holds its runner lock
    job_id, live = editor.start_now(JobSpec(make_workflow({"s": ("stub.slow", {"steps": 100})}), source="editor"))
    server = runners()
    assert server.store.get(job_id)["status"] == "running"
    live.done.wait(30)
    assert server.store.get(job_id)["status"] == "succeeded"
    assert kinds(server.store.events(job_id)).count("job_interrupted") == 0


def test_closing_the_server_interrupts_running_jobs_and_the_next_start_resumes_them(runners, tmp_path):
    first = runners(workers=1)
    job = first.submit(JobSpec(make_workflow({"s": ("stub.slow", {"steps": 400, "step_seconds": 0.02})})))[0]
    for _ in range(200):
        if first.store.get(job["id"])["status"] == "running":
            break
        time.sleep(0.02)
    first.close()
    assert JobStore(tmp_path / "data" / "jobs.db").get(job["id"])["status"] == "interrupted"
    second = runners()
    assert second.wait(job["id"], timeout=60)["status"] == "succeeded"


def test_events_after_a_sequence_number_have_no_gap_and_no_repeat(runners):
    r = runners()
    job = r.submit(JobSpec(make_workflow({"s": ("stub.slow", {"steps": 20, "step_seconds": 0.01})})))[0]
    seen: list[int] = []
    last = 0
    for _ in range(2000):
        batch = r.events(job["id"], after=last)
        seen += [s for s, _ in batch]
        if batch:
            last = batch[-1][0]
            if batch[-1][1]["event"] == "job_finished":
                break
        time.sleep(0.005)
    assert seen == list(range(1, len(seen) + 1))


def test_the_job_history_survives_reopening_the_store(runners, tmp_path):
    r = runners()
    job = r.submit(JobSpec(sleep_wf(label="kept")))[0]
    r.wait(job["id"], timeout=30)
    r.close()
    store = JobStore(tmp_path / "data" / "jobs.db")
    try:
        row = store.get(job["id"])
        assert row["status"] == "succeeded" and row["state"]["outputs"]["a.out"]["value"] == "kept"
        assert [e["event"] for _, e in store.events(job["id"])][-1] == "job_finished"
    finally:
        store.close()


def test_editor_outputs_beyond_the_newest_are_pruned_but_their_history_stays(runners):
    r = runners(claim=False)
    ids = []
    for i in range(3):
        job_id, live = r.start_now(JobSpec(image_wf(f"v{i}"), source="editor"), keep_outputs=1)
        live.done.wait(30)
        ids.append(job_id)
    assert r.prune_outputs("editor", keep=1) == 1  # the second; the first went when the third started
    assert [(r.outputs_dir / i).exists() for i in ids] == [False, False, True]
    old = r.store.get(ids[0])
    assert old["status"] == "succeeded" and old["state"]["outputs"]["img.image"]["expired"] is True


def test_graph_run_and_the_command_line_run_through_the_one_driver(monkeypatch, registry):
    calls = []
    real = jobs.execute
    monkeypatch.setattr(jobs, "execute", lambda *a, **k: calls.append("execute") or real(*a, **k))
    result = graph.run(sleep_wf(label="via driver"), registry=registry, cache=False)
    assert result.value("a.out") == "via driver" and calls == ["execute"]


def test_store_rows_are_plain_json(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    try:
        store.insert("j1", JobSpec({"nodes": {}}, overrides={"a.b": 1}))
        assert json.loads(json.dumps(store.get("j1")))["spec"]["overrides"] == {"a.b": 1}
    finally:
        store.close()
