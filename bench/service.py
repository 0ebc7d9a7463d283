"""Job service benchmark: what `reelgraph serve` adds over running a workflow in process.

    .venv/bin/python bench/service.py            # prints one line per figure
    .venv/bin/python bench/service.py --jobs 300 # fewer jobs for the RSS figure (default 1000)

Every line reads ``name: value unit (goal ...)``. Each figure starts a real `reelgraph serve`
process on a free loopback port with a fresh data folder and cache in a temporary folder, and talks
to it over HTTP like any client (httpx). A "trivial job" is one `text.constant` node whose text
differs per job, so no job is served from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def trivial(i: int) -> dict:
    return {"schema": "reelgraph/workflow", "version": 1,
            "nodes": {"t": {"type": "text.constant", "params": {"text": f"job {i}"}}},
            "edges": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, workers: int = 2):
        self.root, self.workers = root, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start the server; seconds until /api/health answers."""
        t0 = time.perf_counter()
        env = {**os.environ, "REELGRAPH_CACHE_DIR": str(self.root / "cache")}
        self.proc = subprocess.Popen(
            [str(BIN / "reelgraph"), "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--data", str(self.root / "data")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        raise SystemExit("the server did not answer within 6 s")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def submit(client: httpx.Client, wf: dict) -> str:
    r = client.post("/api/jobs", json={"workflow": wf})
    r.raise_for_status()
    return r.json()["id"]


def follow(client: httpx.Client, job_id: str, until: str = "job_finished", after: int = 0) -> list[dict]:
    """Read the job's SSE stream until an event of kind ``until``; returns the events with arrival times."""
    got = []
    with client.stream("GET", f"/api/jobs/{job_id}/events", params={"after": after}, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                ev = json.loads(line[5:])
                ev["_arrived"] = time.perf_counter()
                got.append(ev)
                if ev["event"] == until:
                    break
    return got


def in_process_seconds(n: int, cache_dir: Path) -> float:
    from reelgraph import graph
    cache = graph.Cache(cache_dir)
    with graph.LocalExecutor(cache) as ex:
        graph.run(trivial(-1), executor=ex)  # warm: imports, registry
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            graph.run(trivial(10_000 + i), executor=ex)
            times.append(time.perf_counter() - t0)
    cache.close()
    return statistics.median(times)


def bench_overhead(tmp: Path, n: int = 200) -> None:
    local = in_process_seconds(n, tmp / "inproc-cache")
    server = Server(tmp / "overhead")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(20):  # warm the server's imports and connections
                follow(c, submit(c, trivial(-i - 1)))
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                follow(c, submit(c, trivial(i)))
                times.append(time.perf_counter() - t0)
            service = statistics.median(times)
            print(f"trivial job, graph.run in process: {local * 1000:.2f} ms (info; median of {n})")
            print(f"trivial job, submit over HTTP until job_finished on SSE: {service * 1000:.2f} ms "
                  f"(info; median of {n})")
            over = (service - local) * 1000
            print(f"service overhead per trivial job: {over:.2f} ms "
                  f"(goal <= 10: {'met' if over <= 10 else 'NOT met'}; ratio {service / local:.1f}x)")

            # submit -> first event: the job's first SSE event as a client sees it (one keep-alive
            # connection, as any client library holds), p50/p95
            firsts, starts = [], []
            for i in range(200):
                t0 = time.perf_counter()
                job_id = submit(c, trivial(5000 + i))
                evs = follow(c, job_id, until="job_started")
                firsts.append(evs[0]["_arrived"] - t0)
                starts.append(evs[-1]["_arrived"] - t0)
        q = statistics.quantiles(firsts, n=20)  # q[18]: the 95th percentile
        qs = statistics.quantiles(starts, n=20)
        print(f"submit -> first event: p50 {statistics.median(firsts) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms "
              f"(goal p95 < 50: {'met' if q[18] < 0.05 else 'NOT met'})")
        print(f"submit -> job_started event: p50 {statistics.median(starts) * 1000:.1f} ms, "
              f"p95 {qs[18] * 1000:.1f} ms (info)")
    finally:
        server.stop()


def bench_throughput(tmp: Path, n: int = 500) -> None:
    server = Server(tmp / "throughput", workers=2)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            follow(c, submit(c, trivial(-1)))
            ids: list[str] = []
            lock = threading.Lock()
            t0 = time.perf_counter()

            def submitter(k: int) -> None:
                with httpx.Client(base_url=server.url, timeout=60) as own:
                    for i in range(k, n, 4):
                        job_id = submit(own, trivial(i))
                        with lock:
                            ids.append(job_id)

            threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            for _ in range(6000):
                r = c.get("/api/health").json()
                if r["queued"] == 0 and r["running"] == 0:
                    break
                time.sleep(0.01)
            seconds = time.perf_counter() - t0
            done = c.get("/api/jobs", params={"status": "succeeded", "limit": 1000}).json()["jobs"]
        rate = n / seconds
        print(f"trivial jobs per second ({n} jobs, 4 submitting clients, 2 workers): {rate:.0f} jobs/s "
              f"(goal >= 100 on 2 cores: {'met' if rate >= 100 else 'NOT met'}; {len(done) - 1} succeeded)")
    finally:
        server.stop()


def bench_restart(tmp: Path) -> None:
    """kill -9 while jobs run, then time from the restart to the first interrupted job running again."""
    root = tmp / "restart"
    server = Server(root)
    server.start()
    storyboard = json.loads((ROOT / "workflows" / "storyboard_to_clip.json").read_text())
    with httpx.Client(base_url=server.url, timeout=30) as c:
        ids = [c.post("/api/jobs", json={"workflow": storyboard, "overrides": {"story.seed": 1000 + i}}
                      ).json()["id"] for i in range(3)]
        follow(c, ids[0], until="node_started")
    server.kill9()
    again = Server(root)
    again.port, again.url = server.port, server.url
    t0 = time.perf_counter()
    again.start()
    try:
        with httpx.Client(base_url=again.url, timeout=30) as c:
            for _ in range(3000):
                job = c.get(f"/api/jobs/{ids[0]}").json()
                if job["status"] in ("running", "succeeded") and job["attempts"] >= 2:
                    break
                time.sleep(0.002)
            resumed = time.perf_counter() - t0
            print(f"restart after kill -9 -> first interrupted job running again: {resumed:.2f} s "
                  f"(goal < 2: {'met' if resumed < 2 else 'NOT met'}; server start included)")
    finally:
        again.stop()


def bench_rss(tmp: Path, n: int) -> None:
    server = Server(tmp / "rss", workers=2)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for i in range(100):
                follow(c, submit(c, trivial(-i - 1)))
            before = server.rss_mb()
            for i in range(n):
                job_id = submit(c, trivial(i))
                if i % 50 == 49:
                    follow(c, job_id)
            for _ in range(6000):
                h = c.get("/api/health").json()
                if h["queued"] == 0 and h["running"] == 0:
                    break
                time.sleep(0.01)
            after = server.rss_mb()
        grew = after - before
        print(f"server RSS growth over {n} trivial jobs: {grew:.1f} MB ({before:.0f} -> {after:.0f} MB) "
              f"(goal < 50: {'met' if grew < 50 else 'NOT met'})")
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000, help="jobs for the RSS figure")
    ap.add_argument("--only", choices=["overhead", "throughput", "restart", "rss"])
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}  (info)")
    with tempfile.TemporaryDirectory(prefix="reelgraph-bench-service-") as d:
        tmp = Path(d)
        if args.only in (None, "overhead"):
            bench_overhead(tmp)
        if args.only in (None, "throughput"):
            bench_throughput(tmp)
        if args.only in (None, "restart"):
            bench_restart(tmp)
        if args.only in (None, "rss"):
            bench_rss(tmp, args.jobs)


if __name__ == "__main__":
    main()
