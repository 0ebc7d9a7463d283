"""Webhooks (docs/api.md, "Webhooks"): one signed POST per final job, retried on failure, http(s) only.

A receiver on this machine (http.server in a thread) records what it gets and answers from a script.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import queue
import threading

import pytest
import servicekit
from reelgraph.ui.service.webhooks import WebhookSender
from servicekit import WEBHOOK_KEY, file_wf, sleep_wf


@pytest.fixture
def service(tmp_path, registry):
    yield from servicekit.services(tmp_path, registry)


FAST = (0.05, 0.05, 0.05, 0.05)  # the retry delays, shortened (the service's are 1, 2, 4, 8 s)


@pytest.fixture
def receiver():
    """A webhook receiver: ``.url``, ``.answers`` (statuses to give in turn, then 200) and ``.got``
    (a queue of (headers, body) for each POST)."""
    got: queue.Queue = queue.Queue()
    answers: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.put((dict(self.headers), body))
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    class Receiver:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"

    r = Receiver()
    r.answers, r.got = answers, got
    yield r
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def fast_service(make_service):
    return make_service(webhooks=WebhookSender(WEBHOOK_KEY, delays=FAST))


def test_a_finished_job_posts_itself_signed_with_the_owners_secret(service, receiver):
    svc = fast_service(service)
    job_id = svc.client.post("/api/jobs", json={"workflow": file_wf(), "webhook": receiver.url}).json()["id"]
    headers, body = receiver.got.get(timeout=30)
    secret = svc.client.get("/api/webhook-secret").json()["secret"]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Reelgraph-Signature"], expected)
    assert headers["X-Reelgraph-Event"] == "job.finished" and headers["X-Reelgraph-Delivery"]
    sent = json.loads(body)
    assert sent == svc.client.get(f"/api/jobs/{job_id}").json()
    assert sent["status"] == "succeeded" and "img.image" in sent["outputs"]


def test_a_cancelled_job_is_delivered_too(service, receiver):
    svc = fast_service(service)
    svc.client.post("/api/queue", json={"action": "pause"})
    job_id = svc.client.post("/api/jobs", json={"workflow": sleep_wf(), "webhook": receiver.url}).json()["id"]
    svc.client.post(f"/api/jobs/{job_id}/cancel")
    _, body = receiver.got.get(timeout=30)
    assert json.loads(body)["id"] == job_id and json.loads(body)["status"] == "cancelled"


def test_a_receiver_answering_500_once_gets_the_same_delivery_again(service, receiver):
    receiver.answers.append(500)
    svc = fast_service(service)
    svc.client.post("/api/jobs", json={"workflow": file_wf(), "webhook": receiver.url})
    first_headers, first_body = receiver.got.get(timeout=30)
    again_headers, again_body = receiver.got.get(timeout=30)
    assert again_body == first_body
    assert again_headers["X-Reelgraph-Delivery"] == first_headers["X-Reelgraph-Delivery"]


def test_a_delivery_is_tried_five_times_in_all_then_given_up(receiver):
    receiver.answers.extend([503] * 10)
    sender = WebhookSender(WEBHOOK_KEY, delays=FAST)
    try:
        delivery = sender.send(receiver.url, b"{}", "local")
        tries = [receiver.got.get(timeout=30) for _ in range(5)]
        assert {h["X-Reelgraph-Delivery"] for h, _ in tries} == {delivery}
    finally:
        sender.close()
    assert receiver.got.empty() and sender.sent == [(delivery, 503)]


def test_a_4xx_answer_other_than_429_is_not_retried(receiver):
    receiver.answers.extend([404, 200])
    sender = WebhookSender(WEBHOOK_KEY, delays=FAST)
    try:
        delivery = sender.send(receiver.url, b"{}", "local")
        receiver.got.get(timeout=30)
    finally:
        sender.close()
    assert receiver.got.empty() and sender.sent == [(delivery, 404)]


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)", "http://"])
def test_a_webhook_that_is_not_an_http_url_is_422(service, url):
    svc = service()
    res = svc.client.post("/api/jobs", json={"workflow": sleep_wf(), "webhook": url})
    assert res.status_code == 422
    assert res.json()["issues"][0]["field"] == "body.webhook" and "http" in res.json()["issues"][0]["message"]
