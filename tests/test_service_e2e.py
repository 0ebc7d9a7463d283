"""The job service end to end, as a studio would run it: a real `reelgraph serve` process, killed with
`kill -9` in the middle of thirty jobs and started again.

Nothing is lost and nothing completes twice: every job succeeds once, the interrupted ones resume on
their own, and every output decodes to the same frames as a direct `graph.run` of the same workflow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import free_port
from mediaprobe import video_frames
from reelgraph import graph

pytestmark = pytest.mark.slow

RESOURCES = Path(__file__).parent / "resources" / "jobs"
BIN = Path(sys.executable).parent
JOBS = 30



class Server:
    """`reelgraph serve` in a subprocess on a loopback port."""

    def __init__(self, data: Path, cache: Path, port: int, workers: int = 3):
        env = {**os.environ, "REELGRAPH_CACHE_DIR": str(cache)}
        self.proc = subprocess.Popen([str(BIN / "reelgraph"), "serve", "--port", str(port), "--workers",
                                      str(workers), "--data", str(data)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(400):  # up to 20 s for a cold start on a busy machine
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        raise AssertionError("reelgraph serve did not answer within 20 s")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.proc.stderr.close()


def overrides(i: int) -> dict:
    # different words give different keyframes; seconds vary so that jobs end at different times
    return {"prompt.text": f"a red boat number {i} on a calm lake", "clip.seconds": 1.0 + (i % 3) / 2}


def sse_events(client: httpx.Client, job_id: str, last_event_id: int | None = None, limit: int | None = None):
    """(id, event) pairs from the job's SSE stream; ``limit``: hang up after that many."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    got: list[tuple[int, dict]] = []
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers, timeout=60) as r:
        assert r.status_code == 200
        event_id = None
        for line in r.iter_lines():
            if line.startswith("id:"):
                event_id = int(line[3:].strip())
            elif line.startswith("data:"):
                got.append((event_id, json.loads(line[5:])))
                if (limit is not None and len(got) >= limit) or got[-1][1]["event"] == "job_finished":
                    break
    return got


@pytest.fixture
def workflow() -> dict:
    return json.loads((RESOURCES / "tiny_clip.json").read_text())


def test_thirty_jobs_survive_kill_9_finish_once_and_match_direct_runs(tmp_path, workflow):
    data, cache, port = tmp_path / "data", tmp_path / "cache", free_port()
    server = Server(data, cache, port)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            ids = []
            for i in range(JOBS):
                r = c.post("/api/jobs", json={"workflow": workflow, "overrides": overrides(i)})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            # midway: some jobs done, some running, the rest queued
            for _ in range(1200):
                statuses = [j["status"] for j in c.get("/api/jobs", params={"limit": 100}).json()["jobs"]]
                if statuses.count("succeeded") >= 5 and "running" in statuses:
                    break
                time.sleep(0.025)
            running_at_kill = {j["id"] for j in c.get("/api/jobs", params={"status": "running"}).json()["jobs"]}
        server.kill9()
        assert running_at_kill, "the kill came when no job was running"

        server = Server(data, cache, port)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for _ in range(2400):  # up to two minutes on a busy machine
                jobs = c.get("/api/jobs", params={"limit": 100}).json()["jobs"]
                if all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs):
                    break
                time.sleep(0.05)
            jobs = c.get("/api/jobs", params={"limit": 100}).json()["jobs"]
            assert sorted(j["id"] for j in jobs) == sorted(ids)  # none lost, none added
            assert {j["status"] for j in jobs} == {"succeeded"}

            outputs = {}
            interrupted = set()
            for job_id in ids:
                log = sse_events(c, job_id)
                kinds = [e["event"] for _, e in log]
                assert kinds.count("job_finished") == 1, f"{job_id} completed {kinds.count('job_finished')} times"
                assert [n for n, _ in log] == list(range(1, len(log) + 1))  # the log has no gap
                if "job_interrupted" in kinds:
                    interrupted.add(job_id)
                    assert kinds.count("job_started") == 2  # it ran again once, after the restart
                dest = tmp_path / "got" / f"{job_id}.mp4"
                dest.parent.mkdir(exist_ok=True)
                r = c.get(f"/api/jobs/{job_id}/outputs/clip.video")
                assert r.status_code == 200
                dest.write_bytes(r.content)
                outputs[job_id] = dest
    finally:
        server.stop()
    # a job listed as running may still have finished before the kill landed; the others were cut off
    assert interrupted and interrupted <= running_at_kill

    direct_cache = graph.Cache(tmp_path / "direct-cache")
    try:
        for i, job_id in enumerate(ids):
            direct = graph.run(workflow, overrides=overrides(i), cache=direct_cache).value("clip.video")
            got, want = video_frames(outputs[job_id]), video_frames(direct.path)
            assert len(got) == len(want) > 0
            assert all(np.array_equal(a, b) for a, b in zip(got, want)), f"job {i} differs from a direct run"
    finally:
        direct_cache.close()


def test_an_sse_reconnect_with_last_event_id_resumes_with_no_gap(tmp_path, workflow):
    server = Server(tmp_path / "data", tmp_path / "cache", free_port(), workers=1)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            job_id = c.post("/api/jobs", json={"workflow": workflow, "overrides": overrides(99)}).json()["id"]
            first = sse_events(c, job_id, limit=3)  # the client drops after three events
            rest = sse_events(c, job_id, last_event_id=first[-1][0])
            whole = sse_events(c, job_id)  # the finished job's full log, replayed
        assert [n for n, _ in first + rest] == list(range(1, len(first) + len(rest) + 1))
        assert [e for _, e in first + rest] == [e for _, e in whole]
        assert rest[-1][1]["event"] == "job_finished"
    finally:
        server.stop()
