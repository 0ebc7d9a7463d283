"""reelgraph.client: the Python client of the job service (docs/api.md, "From Python").

The client talks to a real service: the app of ui/service on uvicorn, in a thread, on a free
loopback port. The reconnect of the event stream is checked against a tiny stdlib server that
drops the connection on purpose, which the real one never does on cue.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import free_port
from reelgraph import graph
from reelgraph.client import Client, ClientError
from reelgraph.graph.jobs import JobRunner

JOBS = Path(__file__).parent / "resources" / "jobs"
GREET = JOBS / "greet.json"



def _serve(tmp_path, require_token: bool = False):
    """The job service on a free loopback port, until the generator is closed."""
    uvicorn = pytest.importorskip("uvicorn")
    from reelgraph.ui.service.app import create_app
    ws = tmp_path / "ws"
    ws.mkdir()
    runner = JobRunner(tmp_path / "data", graph.Cache(tmp_path / "cache"), workers=2, workspace=ws).start()
    app = create_app(runner, workspace=ws, webhook_key=b"k" * 32, require_token=require_token)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):  # at most 10 s
        if server.started:
            break
        time.sleep(0.02)
    assert server.started, "the service did not start"
    url = f"http://127.0.0.1:{port}"
    try:
        yield SimpleNamespace(url=url, runner=runner, client=Client(url, timeout=10))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runner.close()
        sock.close()


@pytest.fixture
def service(tmp_path):
    """The job service on a free loopback port: ``url``, ``runner`` (to pause its queue), ``client``."""
    yield from _serve(tmp_path)


@pytest.fixture
def token_service(tmp_path):
    """A service that needs a token; ``token`` is the one of the owner ``alice``."""
    for svc in _serve(tmp_path, require_token=True):
        token = "alice-secret-token"
        svc.runner.store.add_token("alice", hashlib.sha256(token.encode()).hexdigest())
        svc.token = token
        yield svc


def test_the_client_needs_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import reelgraph.client; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'reelgraph'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_submitted_job_runs_and_wait_returns_it_succeeded_with_its_outputs(service):
    c = service.client
    job_id = c.submit(GREET, overrides={"who.text": "Ann"})
    done = c.wait(job_id, timeout=60)
    assert done["id"] == job_id and done["status"] == "succeeded"
    assert done["outputs"]["greet.text"]["value"] == "Hello Ann"


def test_a_workflow_can_be_a_dict_and_overrides_text_as_typed_on_a_command_line(service):
    c = service.client
    wf = json.loads(GREET.read_text())
    job_id = c.submit(wf, overrides={"greet.template": "{a}!"}, overrides_are_text=True)
    assert c.wait(job_id, timeout=60)["outputs"]["greet.text"]["value"] == "world!"


def test_an_invalid_workflow_raises_a_client_error_listing_every_issue_with_its_fix(service):
    wf = json.loads(GREET.read_text())
    wf["nodes"]["greet"]["params"]["nope"] = 1
    wf["nodes"]["extra"] = {"type": "no.such_type"}
    with pytest.raises(ClientError) as e:
        service.client.submit(wf)
    assert e.value.status == 422
    assert {i["node"] for i in e.value.issues} >= {"greet", "extra"}
    text = str(e.value)
    for issue in e.value.issues:
        where = ".".join(x for x in (issue["node"], issue["field"]) if x)
        assert f"{where}: {issue['message']}" in text
        if issue.get("fix"):
            assert f" — {issue['fix']}" in text


def test_no_service_at_the_address_says_so_and_how_to_start_one():
    c = Client(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(ClientError) as e:
        c.health()
    assert e.value.status is None
    assert "no reelgraph service at http://127.0.0.1:" in str(e.value) and "reelgraph serve" in str(e.value)


def test_events_come_in_order_with_no_gap_from_queued_to_finished(service):
    c = service.client
    job_id = c.submit(GREET)
    events = list(c.events(job_id, timeout=60))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "job_queued" and events[-1]["event"] == "job_finished"
    assert "node_finished" in [e["event"] for e in events]


def test_events_after_n_start_with_the_next_one(service):
    c = service.client
    job_id = c.submit(GREET)
    everything = list(c.events(job_id, timeout=60))
    rest = list(c.events(job_id, after=3, timeout=60))
    assert rest == everything[3:]


def test_wait_with_a_timeout_returns_the_job_still_queued(service):
    service.runner.pause()
    c = service.client
    job_id = c.submit(GREET)
    assert c.wait(job_id, timeout=0.5)["status"] == "queued"


def test_cancel_stops_a_queued_job_and_wait_sees_it_cancelled(service):
    service.runner.pause()
    c = service.client
    job_id = c.submit(GREET)
    c.cancel(job_id)
    assert c.wait(job_id, timeout=30)["status"] == "cancelled"


def test_delete_removes_the_job(service):
    c = service.client
    job_id = c.submit(GREET)
    c.wait(job_id, timeout=60)
    c.delete(job_id)
    with pytest.raises(ClientError) as e:
        c.get(job_id)
    assert e.value.status == 404


def test_list_is_newest_first_and_filters_by_status(service):
    c = service.client
    first = c.submit(GREET)
    c.wait(first, timeout=60)
    service.runner.pause()
    second = c.submit(GREET)
    assert [j["id"] for j in c.list()][:2] == [second, first]
    assert [j["id"] for j in c.list(status="queued")] == [second]


def test_the_same_idempotency_key_gives_back_the_first_job(service):
    c = service.client
    assert c.submit(GREET, idempotency_key="order-1") == c.submit(GREET, idempotency_key="order-1")


def test_download_writes_a_single_media_output_to_the_file_named(service, tmp_path):
    c = service.client
    job_id = c.submit(JOBS / "keyframe.json")
    assert c.wait(job_id, timeout=60)["status"] == "succeeded"
    written = c.download(job_id, tmp_path / "frame.png")
    assert written == [tmp_path / "frame.png"]
    assert (tmp_path / "frame.png").read_bytes().startswith(b"\x89PNG")


def test_download_of_a_captioned_video_brings_its_srt_beside_it(service, tmp_path):
    c = service.client
    job_id = c.submit(JOBS / "captioned_clip.json")
    assert c.wait(job_id, timeout=60)["status"] == "succeeded"
    written = c.download(job_id, tmp_path / "clip.mp4")
    assert written == [tmp_path / "clip.mp4", tmp_path / "clip.srt"]
    assert "A red boat" in (tmp_path / "clip.srt").read_text()


def test_upload_puts_a_file_into_the_workspace_for_a_load_node(service, tmp_path):
    (tmp_path / "shoe.txt").write_bytes(b"pixels")
    path = service.client.upload(tmp_path / "shoe.txt")
    assert path == "uploads/local/shoe.txt"
    assert (tmp_path / "ws" / path).read_bytes() == b"pixels"


def test_download_writes_several_outputs_into_a_folder(service, tmp_path):
    c = service.client
    job_id = c.submit(JOBS / "two_outputs.json")
    c.wait(job_id, timeout=60)
    written = c.download(job_id, tmp_path / "out")
    assert sorted(p.name for p in written) == ["bye.text.txt", "hello.text.txt"]
    assert (tmp_path / "out" / "bye.text.txt").read_text() == "Bye world"


def test_download_of_a_job_that_failed_says_it_has_no_outputs(service, tmp_path):
    c = service.client
    job_id = c.submit(JOBS / "failing.json")
    assert c.wait(job_id, timeout=60)["status"] == "failed"
    with pytest.raises(ClientError, match="failed: it has no outputs"):
        c.download(job_id, tmp_path / "x")


def test_a_batch_is_one_job_per_row_named_by_the_row(service):
    c = service.client
    batch_id, job_ids = c.submit_batch(GREET, [{"who.text": "A", "name": "a"}, {"who.text": "B", "name": "b"}],
                                       overrides_are_text=True)
    assert len(job_ids) == 2
    values = [c.wait(j, timeout=60)["outputs"]["greet.text"]["value"] for j in job_ids]
    assert values == ["Hello A", "Hello B"]
    b = c.batch(batch_id)
    assert b["status"] == "succeeded" and [j["name"] for j in b["jobs"]] == ["a", "b"]


def test_validate_reports_the_issues_without_running(service):
    wf = json.loads(GREET.read_text())
    wf["nodes"]["greet"]["params"]["nope"] = 1
    answer = service.client.validate(wf)
    assert answer["valid"] is False and answer["issues"][0]["node"] == "greet"
    assert service.client.list() == []


def test_a_token_is_sent_as_a_bearer_and_a_wrong_one_is_refused(token_service):
    svc = token_service
    job_id = Client(svc.url, token=svc.token).submit(GREET)
    assert svc.runner.store.get(job_id)["owner"] == "alice"
    with pytest.raises(ClientError) as e:
        Client(svc.url, token="wrong").list()
    assert e.value.status == 401


def test_health_answers_ok(service):
    assert service.client.health()["status"] == "ok"


# ------------------------------------------------------------------ the event stream's reconnect

class _DroppingSSE(http.server.BaseHTTPRequestHandler):
    """Serves events 1..4 of a job, dropping the connection after every second one (without a
    job_finished), so the client must reconnect with Last-Event-ID each time."""

    protocol_version = "HTTP/1.1"
    seen: list = []
    total = 4

    def do_GET(self):  # noqa: N802 - the stdlib's name
        after = int(self.headers.get("Last-Event-ID") or 0)
        type(self).seen.append((self.path, self.headers.get("Last-Event-ID")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": keep-alive\n\n")
        for seq in range(after + 1, min(after + 2, self.total) + 1):
            kind = "job_finished" if seq == self.total else "node_finished"
            data = json.dumps({"event": kind, "job": "j1", "note": "two\nlines" if seq == 2 else ""})
            self.wfile.write(f"id: {seq}\nevent: {kind}\ndata: {data}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def dropping():
    _DroppingSSE.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DroppingSSE)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_event_stream_resumes_with_last_event_id_with_no_gap_and_no_repeat(dropping):
    c = Client(f"http://127.0.0.1:{dropping.server_address[1]}", timeout=5)
    events = list(c.events("j1", timeout=30))
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[1]["note"] == "two\nlines"
    assert _DroppingSSE.seen == [("/api/jobs/j1/events?after=0", "0"), ("/api/jobs/j1/events?after=2", "2")]


def test_a_stream_that_keeps_ending_early_gives_up_after_the_retries(dropping, monkeypatch):
    monkeypatch.setattr(_DroppingSSE, "total", 10**6)  # never a job_finished
    c = Client(f"http://127.0.0.1:{dropping.server_address[1]}", timeout=5)
    got = []
    with pytest.raises(ClientError, match="ended 3 times before the job finished"):
        for ev in c.events("j1", retries=2, timeout=60):
            got.append(ev["seq"])
            if len(got) >= 6:
                monkeypatch.setattr(_DroppingSSE, "total", 0)  # from now on: no events at all
    assert got == [1, 2, 3, 4, 5, 6]
