"""Shared pieces of the job service tests (tests/test_service_*.py): a service over a real JobRunner
on temporary folders, and a reader of server-sent events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from conftest import make_workflow
from fastapi.testclient import TestClient
from reelgraph import graph
from reelgraph.graph.jobs import JobRunner
from reelgraph.ui.service.app import create_app

WEBHOOK_KEY = b"k" * 32
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.7", 50000)  # a documentation address: a client on another machine


@dataclass
class Service:
    runner: JobRunner
    client: TestClient
    app: object
    workspace: Path

    def wait(self, job_id: str, timeout: float = 30) -> dict:
        job = self.runner.wait(job_id, timeout=timeout)
        assert job is not None and job["status"] in graph.jobs.FINAL, job
        return job


def services(tmp_path: Path, registry) -> Iterator:
    """The body of a ``service`` fixture: yields a maker of services (runner + app + test client) on
    one data folder, and closes every runner afterwards."""
    made: list[Service] = []

    def make(*, require_token: bool = False, client: tuple[str, int] = LOOPBACK, workers: int = 2,
             **app_kwargs) -> Service:
        ws = tmp_path / "ws"
        ws.mkdir(exist_ok=True)
        runner = JobRunner(tmp_path / "data", graph.Cache(tmp_path / "cache"), workers=workers, registry=registry,
                           workspace=ws).start()
        app = create_app(runner, require_token=require_token, workspace=ws, webhook_key=WEBHOOK_KEY, **app_kwargs)
        svc = Service(runner, TestClient(app, client=client), app, ws)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.client.close()
        svc.runner.close()
        svc.app.state.webhooks.close()


def file_wf(text: str = "pixels") -> dict:
    """One node whose output is a media file of ``text`` * 100 bytes."""
    return make_workflow({"img": ("stub.write_file", {"text": text})})


def sleep_wf(seconds: float = 0.0, label: str = "x") -> dict:
    return make_workflow({"a": ("stub.sleep", {"seconds": seconds, "label": label})})


def parse_sse(text: str) -> list[dict]:
    """The events of a text/event-stream body: [{"id", "event", "data"}] (comments dropped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        ev: dict = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            ev[key] = value[1:] if value.startswith(" ") else value
        if "data" in ev:
            ev["data"] = json.loads(ev["data"])
            out.append(ev)
    return out


def read_sse(client: TestClient, url: str, headers: dict | None = None, stop_after: int | None = None) -> list[dict]:
    """Events from ``url`` until the stream ends, or only the first ``stop_after`` (then disconnect)."""
    events: list[dict] = []
    with client.stream("GET", url, headers=headers or {}) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        buf = ""
        for chunk in resp.iter_text():
            buf += chunk
            while "\n\n" in buf:
                block, buf = buf.split("\n\n", 1)
                events.extend(parse_sse(block + "\n\n"))
                if stop_after is not None and len(events) >= stop_after:
                    return events[:stop_after]
        events.extend(parse_sse(buf))
    return events


def wait_for_server(client, process, tries: int = 600) -> None:
    """Until ``client`` reaches the server ``process`` started (bounded: 60 s), or fail with what it printed."""
    import time

    from reelgraph.client import ClientError
    for _ in range(tries):
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the server exited with {process.returncode}:\n{out[-3000:]}")
        try:
            client.health()
            return
        except ClientError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer within 60 s")
