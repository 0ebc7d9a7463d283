"""The job service's HTTP API (docs/api.md) over a real JobRunner: each test is one rule of the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import servicekit
from conftest import free_port, make_workflow
from reelgraph import graph
from reelgraph.ui.service import app as service_app
from reelgraph.ui.service.app import shipped_workflows_dir
from servicekit import file_wf, read_sse, sleep_wf


@pytest.fixture
def service(tmp_path, registry):
    yield from servicekit.services(tmp_path, registry)


# ---------------------------------------------------------------------------------------- submit


def test_submit_answers_201_with_the_job_id_and_its_location(service):
    svc = service()
    res = svc.client.post("/api/jobs", json={"workflow": file_wf()})
    assert res.status_code == 201
    body = res.json()
    assert body["id"].startswith("j") and body["status"] == "queued" and body["created"] is True
    assert res.headers["location"] == f"/api/jobs/{body['id']}"
    assert svc.wait(body["id"])["status"] == "succeeded"


def test_the_same_idempotency_key_answers_200_with_the_first_job(service):
    svc = service()
    first = svc.client.post("/api/jobs", json={"workflow": file_wf(), "idempotency_key": "order-1"})
    again = svc.client.post("/api/jobs", json={"workflow": file_wf("other"), "idempotency_key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False


def test_a_shipped_workflow_runs_by_name_and_a_text_output_comes_inline(service):
    svc = service()
    res = svc.client.post("/api/jobs", json={"workflow_name": "shot_outline",
                                             "overrides": {"story.text": "A fox\nA hare"}})
    assert res.status_code == 201, res.json()
    job_id = res.json()["id"]
    assert svc.wait(job_id)["status"] == "succeeded"
    outputs = svc.client.get(f"/api/jobs/{job_id}").json()["outputs"]
    text = [name for name, o in outputs.items() if o["type"] == "text" and "A hare" in str(o["value"])]
    assert text, outputs
    value = svc.client.get(f"/api/jobs/{job_id}/outputs/{text[0]}")
    assert value.status_code == 200 and value.json() == {"value": outputs[text[0]]["value"]}


def test_a_job_by_name_runs_beside_the_shipped_workflows_and_an_inline_one_in_the_workspace(service):
    svc = service()
    by_name = svc.client.post("/api/jobs", json={"workflow_name": "shot_outline"}).json()["id"]
    inline = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    assert svc.runner.store.get(by_name)["spec"]["workspace"] == str(shipped_workflows_dir())
    assert (shipped_workflows_dir() / "shot_outline.json").is_file()
    assert svc.runner.store.get(inline)["spec"]["workspace"] is None  # the runner's: the service workspace
    assert svc.runner.workspace == svc.workspace


def test_an_unknown_workflow_name_is_422_naming_the_field_and_the_shipped_names(service):
    svc = service()
    res = svc.client.post("/api/jobs", json={"workflow_name": "no_such_flow"})
    assert res.status_code == 422
    [issue] = res.json()["issues"]
    assert issue["field"] == "body.workflow_name" and "storyboard_to_clip" in issue["fix"]


def test_an_invalid_workflow_is_422_with_every_issue_located_and_a_fix(service):
    svc = service()
    bad = make_workflow({"a": ("stub.sleep", {"seconds": -1}), "b": ("no.such_type", {})})
    res = svc.client.post("/api/jobs", json={"workflow": bad})
    assert res.status_code == 422
    body = res.json()
    assert "2 problems" in body["message"]
    assert {(i["node"], i["field"]) for i in body["issues"]} == {("a", "seconds"), ("b", "type")}
    assert all(i["fix"] for i in body["issues"])
    assert svc.client.get("/api/jobs").json()["jobs"] == []


def test_a_malformed_body_is_422_with_one_issue_per_bad_field(service):
    svc = service()
    res = svc.client.post("/api/jobs", json={"workflow": file_wf(), "priority": "high", "targets": "img"})
    assert res.status_code == 422
    fields = {i["field"] for i in res.json()["issues"]}
    assert fields == {"body.priority", "body.targets"}
    assert all(i["message"] and i["code"] == "request" for i in res.json()["issues"])


def test_a_body_that_is_not_json_is_422_naming_the_body(service):
    svc = service()
    res = svc.client.post("/api/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert res.status_code == 422
    [issue] = res.json()["issues"]
    assert issue["field"] == "body" and "not valid JSON" in issue["message"] and issue["fix"]


def test_neither_workflow_nor_workflow_name_is_422(service):
    svc = service()
    res = svc.client.post("/api/jobs", json={"overrides": {}})
    assert res.status_code == 422 and res.json()["issues"][0]["field"] == "body.workflow"


def test_a_body_over_the_cap_is_413_json(service):
    svc = service(max_request=2000)
    big = make_workflow({"t": ("text.constant", {"text": "x" * 5000})})
    res = svc.client.post("/api/jobs", json={"workflow": big})
    assert res.status_code == 413
    assert "larger than" in res.json()["message"]


def test_a_streamed_body_without_a_length_is_counted_and_cut_at_the_cap(service):
    svc = service(max_request=2000)
    payload = json.dumps({"workflow": make_workflow({"t": ("text.constant", {"text": "x" * 5000})})}).encode()
    chunks = (payload[i:i + 500] for i in range(0, len(payload), 500))  # no Content-Length: chunked
    res = svc.client.post("/api/jobs", content=chunks, headers={"content-type": "application/json"})
    assert res.status_code == 413 and res.json()["message"]


# ------------------------------------------------------------------------------------- reading


def test_a_job_has_per_node_states_outputs_with_urls_and_counts(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf("hello")}).json()["id"]
    svc.wait(job_id)
    job = svc.client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["owner"] == "local" and job["attempts"] == 1
    assert job["nodes"]["img"]["status"] == "done"
    out = job["outputs"]["img.image"]
    assert out["file"] == "img.image.png" and out["url"] == f"/api/jobs/{job_id}/outputs/img.image"
    assert job["counts"]["ran"] == 1 and job["workflow"]["nodes"]["img"]["type"] == "stub.write_file"


def test_jobs_are_listed_newest_first_and_paged_with_next(service):
    svc = service()
    ids = [svc.client.post("/api/jobs", json={"workflow": sleep_wf(label=str(i))}).json()["id"] for i in range(3)]
    first = svc.client.get("/api/jobs?limit=2").json()
    assert [j["id"] for j in first["jobs"]] == [ids[2], ids[1]]
    second = svc.client.get(f"/api/jobs?limit=2&before={first['next']}").json()
    assert [j["id"] for j in second["jobs"]] == [ids[0]] and second["next"] is None


def test_jobs_can_be_listed_by_status(service):
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    queued = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    assert [j["id"] for j in svc.client.get("/api/jobs?status=queued").json()["jobs"]] == [queued]
    assert svc.client.get("/api/jobs?status=succeeded").json()["jobs"] == []
    assert svc.client.get("/api/jobs?status=sleeping").status_code == 422


def test_an_output_downloads_by_name_or_file_name_and_a_range_gives_206(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf("hello")}).json()["id"]
    svc.wait(job_id)
    whole = svc.client.get(f"/api/jobs/{job_id}/outputs/img.image")
    assert whole.status_code == 200 and whole.content == b"hello" * 100
    assert svc.client.get(f"/api/jobs/{job_id}/outputs/img.image.png").content == b"hello" * 100
    part = svc.client.get(f"/api/jobs/{job_id}/outputs/img.image", headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == b"hellohello"
    assert part.headers["content-range"] == "bytes 5-14/500"


def test_an_unknown_output_is_404_listing_the_outputs(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf()}).json()["id"]
    svc.wait(job_id)
    res = svc.client.get(f"/api/jobs/{job_id}/outputs/nope")
    assert res.status_code == 404 and "img.image" in res.json()["message"]


def test_outputs_are_404_until_the_job_has_succeeded(service):
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf()}).json()["id"]
    res = svc.client.get(f"/api/jobs/{job_id}/outputs/img.image")
    assert res.status_code == 404 and "queued" in res.json()["message"]


def test_an_unknown_job_is_404_json(service):
    svc = service()
    res = svc.client.get("/api/jobs/j0000000000000000")
    assert res.status_code == 404 and res.json()["issues"] == [] and "no job" in res.json()["message"]


# ----------------------------------------------------------------------- queue, cancel, delete


def test_a_job_submitted_while_paused_stays_queued_until_resume(service):
    svc = service()
    paused = svc.client.post("/api/queue", json={"action": "pause"}).json()
    assert paused["paused"] is True
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    queue = svc.client.get("/api/queue").json()
    assert [j["id"] for j in queue["jobs"]] == [job_id] and queue["queued"] == 1
    assert svc.client.get(f"/api/jobs/{job_id}").json()["status"] == "queued"
    assert svc.client.post("/api/queue", json={"action": "resume"}).json()["paused"] is False
    assert svc.wait(job_id)["status"] == "succeeded"


def test_a_bad_queue_action_is_422(service):
    svc = service()
    res = svc.client.post("/api/queue", json={"action": "stop"})
    assert res.status_code == 422 and res.json()["issues"][0]["field"] == "body.action"


def test_cancelling_a_queued_job_is_202_and_it_never_runs(service):
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    res = svc.client.post(f"/api/jobs/{job_id}/cancel")
    assert res.status_code == 202 and res.json()["status"] == "cancelled"
    svc.client.post("/api/queue", json={"action": "resume"})
    job = svc.wait(job_id)
    assert job["status"] == "cancelled" and job["attempts"] == 0


def test_delete_removes_the_job_its_history_and_its_output_folder(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf()}).json()["id"]
    svc.wait(job_id)
    folder = svc.runner.outputs_dir / job_id
    assert folder.is_dir()
    assert svc.client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert svc.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not folder.exists() and svc.runner.store.events(job_id) == []


# -------------------------------------------------------------------------------------- batches


def test_a_batch_is_one_job_per_row_named_by_the_row(service):
    svc = service()
    rows = [{"img.text": "one", "name": "first"}, {"img.text": "two", "name": "second"}]
    res = svc.client.post("/api/batches", json={"workflow": file_wf(), "rows": rows})
    assert res.status_code == 201
    batch = res.json()
    assert batch["id"].startswith("b") and len(batch["jobs"]) == 2
    for job_id in batch["jobs"]:
        svc.wait(job_id)
    got = svc.client.get(f"/api/batches/{batch['id']}").json()
    assert got["status"] == "succeeded" and got["counts"] == {"succeeded": 2}
    assert [j["name"] for j in got["jobs"]] == ["first", "second"]
    second = svc.client.get(f"/api/jobs/{batch['jobs'][1]}/outputs/img.image").content
    assert second == b"two" * 100


def test_a_batch_with_a_bad_row_is_422_naming_the_row_and_queues_nothing(service):
    svc = service()
    rows = [{"a.seconds": 0}, {"a.seconds": -5}]
    res = svc.client.post("/api/batches", json={"workflow": sleep_wf(), "rows": rows})
    assert res.status_code == 422
    assert any(i["message"].startswith("rows[1]:") for i in res.json()["issues"])
    assert svc.client.get("/api/jobs").json()["jobs"] == []


def test_a_batch_needs_at_least_one_row(service):
    svc = service()
    res = svc.client.post("/api/batches", json={"workflow": sleep_wf(), "rows": []})
    assert res.status_code == 422 and res.json()["issues"][0]["field"] == "body.rows"


# ------------------------------------------------------------------ the workflow and the machine


def test_validate_answers_valid_or_every_issue(service):
    svc = service()
    ok = svc.client.post("/api/validate", json={"workflow_name": "shot_outline"})
    assert ok.status_code == 200 and ok.json() == {"valid": True, "issues": []}
    bad = svc.client.post("/api/validate", json={"workflow": sleep_wf(), "overrides": {"a.seconds": -1}})
    assert bad.status_code == 200 and bad.json()["valid"] is False
    assert [(i["node"], i["field"]) for i in bad.json()["issues"]] == [("a", "seconds")]


def test_plan_says_what_would_run_and_then_what_is_cached(service):
    svc = service()
    before = svc.client.post("/api/plan", json={"workflow": file_wf("plan me")}).json()
    assert before["would_run"] == 1 and before["nodes"][0]["node"] == "img"
    svc.wait(svc.client.post("/api/jobs", json={"workflow": file_wf("plan me")}).json()["id"])
    after = svc.client.post("/api/plan", json={"workflow": file_wf("plan me")}).json()
    assert after["would_run"] == 0 and after["nodes"][0]["status"] == "cached"


def test_plan_estimates_time_and_memory_and_learns_from_the_jobs_it_ran(service):
    svc = service()
    wf = {"workflow_name": "single_shot", "overrides": {"keyframe.resolution": 144}}
    before = svc.client.post("/api/plan", json=wf).json()["estimate"]
    assert before["measured_calls"] == 0 and before["seconds"] > 0
    assert {n["node"] for n in before["nodes"]} >= {"keyframe", "animate"}
    assert all(n["source"].startswith("guess") for n in before["nodes"] if n["node"] == "animate")
    changed = {**wf, "overrides": {**wf["overrides"], "keyframe.resolution": 160}}
    svc.wait(svc.client.post("/api/jobs", json=changed).json()["id"])
    after = svc.client.post("/api/plan", json=wf).json()["estimate"]
    animate = next(n for n in after["nodes"] if n["node"] == "animate")
    assert after["measured_calls"] > 0 and animate["source"].startswith("measured here")
    assert animate["lo"] <= animate["seconds"] <= animate["hi"] and animate["ram_mb"] > 0


def test_plan_of_an_invalid_workflow_is_422(service):
    svc = service()
    res = svc.client.post("/api/plan", json={"workflow": make_workflow({"b": ("no.such_type", {})})})
    assert res.status_code == 422 and res.json()["issues"][0]["node"] == "b"


def test_the_node_catalog_schema_and_shipped_workflows_are_served(service):
    svc = service()
    catalog = svc.client.get("/api/nodes").json()
    assert "text.constant" in {n["type"] for n in catalog["nodes"]}
    assert svc.client.get("/api/schema").json()["$schema"].startswith("https://json-schema.org")
    flows = {w["name"]: w["description"] for w in svc.client.get("/api/workflows").json()["workflows"]}
    assert "storyboard_to_clip" in flows and flows["storyboard_to_clip"]


def test_health_reports_workers_and_the_queue(service):
    svc = service(workers=3)
    svc.client.post("/api/queue", json={"action": "pause"})
    svc.client.post("/api/jobs", json={"workflow": sleep_wf()})
    health = svc.client.get("/api/health").json()
    assert health["status"] == "ok" and health["workers"] == 3
    assert health["queued"] == 1 and health["paused"] is True and health["version"]


def test_an_upload_lands_in_the_owners_uploads_folder(service):
    svc = service()
    res = svc.client.put("/api/files/shoe.png", content=b"\x89PNG data")
    assert res.status_code == 201 and res.json() == {"path": "uploads/local/shoe.png"}
    assert (svc.workspace / "uploads" / "local" / "shoe.png").read_bytes() == b"\x89PNG data"


def test_an_upload_over_its_cap_is_413_and_leaves_no_file(service):
    svc = service(max_upload=1000)
    res = svc.client.put("/api/files/big.bin", content=b"x" * 5000)
    assert res.status_code == 413
    folder = svc.workspace / "uploads" / "local"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_the_openapi_document_describes_the_routes_and_models(service):
    svc = service()
    doc = svc.client.get("/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}/events", "/api/batches", "/api/files/{name}"} <= set(doc["paths"])
    job_request = doc["components"]["schemas"]["JobRequest"]
    assert job_request["properties"]["priority"]["description"] and job_request.get("examples")


# ------------------------------------------------------------------------------------------ SSE


def test_events_stream_in_order_and_end_with_job_finished(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf(0.2)}).json()["id"]
    events = read_sse(svc.client, f"/api/jobs/{job_id}/events")
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["job_queued", "job_started"] and "node_finished" in kinds
    assert kinds[-1] == "job_finished" and events[-1]["data"]["status"] == "succeeded"
    assert all(e["data"]["event"] == e["event"] and e["data"]["job"] == job_id for e in events)


def test_a_reconnect_with_last_event_id_gets_exactly_the_rest(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf(0.3)}).json()["id"]
    head = read_sse(svc.client, f"/api/jobs/{job_id}/events", stop_after=2)
    rest = read_sse(svc.client, f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": head[-1]["id"]})
    svc.wait(job_id)
    log = [seq for seq, _ in svc.runner.events(job_id)]
    assert [int(e["id"]) for e in head + rest] == log
    assert rest[-1]["event"] == "job_finished"


def test_after_in_the_query_resumes_like_last_event_id(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    svc.wait(job_id)
    everything = read_sse(svc.client, f"/api/jobs/{job_id}/events")
    tail = read_sse(svc.client, f"/api/jobs/{job_id}/events?after=3")
    assert tail == everything[3:] and tail[-1]["event"] == "job_finished"


def test_a_queued_jobs_stream_waits_for_it_to_run(service):
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    first = read_sse(svc.client, f"/api/jobs/{job_id}/events", stop_after=1)
    assert first[0]["event"] == "job_queued"
    svc.client.post("/api/queue", json={"action": "resume"})
    rest = read_sse(svc.client, f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "1"})
    assert rest[0]["event"] == "job_started" and rest[-1]["event"] == "job_finished"


def test_a_silent_stream_gets_keep_alive_comments(service, monkeypatch):
    monkeypatch.setattr(service_app, "KEEPALIVE_S", 0.05)
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    with svc.client.stream("GET", f"/api/jobs/{job_id}/events") as resp:
        lines = resp.iter_lines()
        assert next(line for line in lines if line.startswith("id:")) == "id: 1"
        assert next(line for line in lines if line.startswith(":")) == ": keep-alive"
        svc.app.state.stop_streams()
        list(lines)


def test_a_bad_last_event_id_is_422(service):
    svc = service()
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    res = svc.client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "seven"})
    assert res.status_code == 422 and res.json()["issues"][0]["field"] == "header.Last-Event-ID"


# ------------------------------------------------------------------------------------- the server



def test_a_stopping_server_ends_its_event_streams(service):
    svc = service()
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf()}).json()["id"]
    with svc.client.stream("GET", f"/api/jobs/{job_id}/events") as resp:
        lines = resp.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: job_queued"
        svc.app.state.stop_streams()
        rest = list(lines)  # ends: the stream no longer waits for the queued job
    assert not any(line.startswith("event:") for line in rest)


def test_serve_prints_where_it_listens_and_sigterm_interrupts_running_jobs(tmp_path):
    port, data = free_port(), tmp_path / "data"
    script = ("import sys; from stubnodes import make_registry; from reelgraph.ui.service.server import serve; "
              f"serve(host='127.0.0.1', port={port}, data=sys.argv[1], registry=make_registry())")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(data)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith(f"reelgraph serve: http://127.0.0.1:{port} (docs at /docs), 2 workers, "
                               f"data in {data}, engine local: ")
        slow = make_workflow({"s": ("stub.slow", {"steps": 2000, "step_seconds": 0.05})})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/jobs", json.dumps({"workflow": slow}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            job_id = json.load(resp)["id"]
        events = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/{job_id}/events", timeout=30)
        for raw in events:  # wait until the job runs: its node has started
            if raw.startswith(b"event: node_started"):
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        events.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stderr.close()
    store = graph.JobStore(data / "jobs.db")
    try:
        assert store.get(job_id)["status"] == "interrupted"
    finally:
        store.close()
