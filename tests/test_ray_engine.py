"""The same workflow on a cluster: the Ray engine behind the executor's dispatcher interface.

A Ray cluster of three nodes runs on this machine for the whole module (a head, and two workers
with one logical GPU each); Ray writes only under a temporary folder. The nodes in tests/raykit.py
say where they ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import raykit
from conftest import free_port, make_workflow, resource
from mediaprobe import audio_samples, path_of, probe, video_frames
from reelgraph import graph
from reelgraph.ui.cluster import RayDispatcher
from reelgraph.workflows import path as workflow_path

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with raykit.local_cluster(tmp_path_factory.mktemp("ray")) as c:
        yield c


@pytest.fixture
def ray_engine(cluster):
    # one per test: an engine's model workers hold their GPUs until it closes, and the tests that
    # open their own engine need both logical GPUs free
    engine = RayDispatcher(address=cluster.address)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def reg():
    return raykit.registry()


def run(wf, engine, cache, reg=None, **kw):
    return graph.run(wf, cache=cache, registry=reg, engine=engine, **kw)


def notes_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------------------------
# the same results


def test_the_draft_storyboard_on_ray_gives_the_local_engines_clip(ray_engine, tmp_path):
    wf = workflow_path("storyboard_to_clip")
    local = graph.run(wf, cache=tmp_path / "local")
    on_ray = run(wf, ray_engine, tmp_path / "ray")
    assert local.ok and on_ray.ok, on_ray.failures
    a, b = path_of(local.outputs["save"]["video"]), path_of(on_ray.outputs["save"]["video"])
    assert probe(a)["video"][0]["frames"] == probe(b)["video"][0]["frames"] == 552
    assert all((x is None and y is None) or np.array_equal(x, y)
               for x, y in zip(video_frames(a, every=23), video_frames(b, every=23), strict=True))
    assert np.array_equal(audio_samples(a), audio_samples(b))
    # media went to the ray run's own cache, written there by the workers
    assert str(b).startswith(str(tmp_path / "ray"))


def test_cpu_calls_run_as_tasks_spread_over_the_cluster(ray_engine, reg, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    nodes = {f"n{i}": ("raytest.sleep_here", {"seconds": 1.0, "label": f"n{i}", "notes": str(notes)})
             for i in range(3)}
    result = run(make_workflow(nodes), ray_engine, tmp_path / "c", reg)
    assert result.ok, result.failures
    where = {result.value(f"n{i}.out").split("@")[1] for i in range(3)}
    assert "driver" not in where
    assert len(where) >= 2, "three 1-core calls on three 1-core nodes should not share one node"


def test_a_node_error_on_ray_names_the_node_field_and_fix_and_other_branches_finish(ray_engine, reg, tmp_path):
    wf = make_workflow({"bad": ("stub.fail", {"kind": "node_error"}),
                        "good": ("raytest.sleep_here", {"label": "ok"})})
    result = run(wf, ray_engine, tmp_path / "c", reg)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "bad" and failure.field and failure.fix
    assert result.value("good.out").startswith("ok@")


def test_a_rerun_on_ray_is_served_from_the_cache(ray_engine, reg, tmp_path):
    wf = make_workflow({"n": ("raytest.sleep_here", {"seconds": 0.2, "label": "x"})})
    first = run(wf, ray_engine, tmp_path / "c", reg)
    again = run(wf, ray_engine, tmp_path / "c", reg)
    assert first.ran == ["n"] and again.cached == ["n"] and again.value("n.out") == first.value("n.out")


def test_progress_from_the_workers_reaches_listeners_in_order(ray_engine, reg, tmp_path):
    events = []
    wf = make_workflow({"n": ("raytest.sleep_here", {"seconds": 0.6, "label": "x"})})
    result = run(wf, ray_engine, tmp_path / "c", reg, on_event=events.append)
    assert result.ok
    kinds = [e.event for e in events if e.node == "n"]
    assert kinds[0] == "node_started" and kinds[-1] == "node_finished"
    progress = [e.progress for e in events if e.event == "node_progress" and e.node == "n"]
    assert progress and progress == sorted(progress)


# ---------------------------------------------------------------------------------------------
# models on GPU workers


def test_model_calls_run_on_one_worker_per_gpu_each_model_loaded_once_per_gpu(cluster, reg, tmp_path):
    engine = RayDispatcher(address=cluster.address)
    try:
        nodes = {f"g{i}": ("raytest.generate", {"model": "ab"[i % 2], "seconds": 0.4, "label": i})
                 for i in range(8)}
        result = run(make_workflow(nodes), engine, tmp_path / "c", reg)
        assert result.ok, result.failures
        stats = engine.stats()
    finally:
        engine.close()
    assert len(stats) == 2
    held = [(s["node"], g) for s in stats for g in s["gpus"]]
    assert len(held) == 2 and len(set(held)) == 2, stats  # one GPU each, never the same GPU twice
    assert all(s["calls"] > 0 for s in stats), stats  # both GPUs served calls
    assert sum(s["loads"] for s in stats) <= 2 * 2  # models x GPUs, never one load per call
    pids = {s["pid"] for s in stats}
    assert {result.value(f"g{i}.out").split("@")[1] for i in range(8)} <= {str(p) for p in pids}
    assert os.getpid() not in pids


def test_auto_backends_are_decided_on_a_model_worker_not_the_head(ray_engine, reg, tmp_path):
    result = run(make_workflow({"n": ("raytest.decided_where_it_runs", {"backend": "auto"})}),
                 ray_engine, tmp_path / "c", reg)
    [failure] = result.failures
    pid = int(failure.message.rsplit(" ", 1)[1])
    assert pid != os.getpid() and pid in {s["pid"] for s in ray_engine.stats()}
    drafted = run(make_workflow({"n": ("raytest.decided_where_it_runs", {"backend": "draft"})}),
                  ray_engine, tmp_path / "c", reg)
    assert drafted.ok


def test_the_tiny_model_storyboard_spreads_its_shots_over_both_gpus(cluster, tmp_path):
    from tiny.build import build
    sets = build(tmp_path / "models")
    engine = RayDispatcher(address=cluster.address)
    events = []
    try:
        # the overrides are --set text, read as the command line reads them
        wf = graph.apply_overrides(graph.load(workflow_path("storyboard_to_clip")), sets, from_text=True)
        result = graph.run(wf, cache=tmp_path / "c", engine=engine, on_event=events.append)
        stats = engine.stats()
    finally:
        engine.close()
    assert result.ok, result.failures
    assert not [e for e in events if e.event == "node_warning" and "draft" in (e.message or "")]
    models = {v for k, v in sets.items() if k.endswith(".model")}
    assert len(stats) == 2 and all(s["calls"] > 0 for s in stats), stats
    model_calls = sum(s["calls"] for s in stats)
    loads = sum(s["loads"] for s in stats)
    assert loads <= len(models) * 2 < model_calls, (loads, model_calls)
    assert probe(path_of(result.outputs["save"]["video"]))["video"][0]["duration"] == pytest.approx(23.0, abs=0.1)


# ---------------------------------------------------------------------------------------------
# Stop and faults


def test_stop_cancels_the_work_on_the_cluster_and_stores_nothing(ray_engine, reg, tmp_path):
    token = graph.CancelToken()
    seen = []

    def on_event(e):
        seen.append(e)
        if e.event == "node_progress" and e.node == "slow":
            token.cancel()

    wf = make_workflow({"slow": ("raytest.sleep_here", {"seconds": 60.0, "label": "s"}),
                        "model": ("raytest.generate", {"seconds": 60.0, "label": 1})})
    result = run(wf, ray_engine, tmp_path / "c", reg, cancel=token, on_event=on_event)
    assert result.status == "cancelled"
    assert sorted(result.skipped) == ["model", "slow"] and result.failures == []
    entries = {e.node: e.status for e in graph.plan(wf, cache=tmp_path / "c", registry=reg)}
    assert entries == {"slow": "run", "model": "run"}  # nothing half-done was kept


def test_a_worker_node_lost_mid_run_does_not_lose_the_run(cluster, reg, tmp_path):
    doomed = cluster.add_node(num_cpus=4, num_gpus=0)
    cluster.wait_for_nodes()
    engine = RayDispatcher(address=cluster.address)  # counts the new node's cores
    notes = tmp_path / "notes"
    notes.mkdir()
    removed = threading.Event()

    def remove_when_busy():
        for _ in range(400):  # bounded: 40 s
            if any(doomed.node_id in n for n in notes_in(notes)):
                cluster.remove_node(doomed)
                removed.set()
                return
            time.sleep(0.1)

    remover = threading.Thread(target=remove_when_busy)
    nodes = {f"n{i}": ("raytest.sleep_here", {"seconds": 3.0, "label": f"n{i}", "notes": str(notes)})
             for i in range(7)}
    try:
        remover.start()
        result = run(make_workflow(nodes), engine, tmp_path / "c", reg)
        remover.join()
    finally:
        engine.close()
        if not removed.is_set():
            cluster.remove_node(doomed)
    assert removed.is_set(), "no call landed on the node to remove"
    assert result.ok, result.failures
    assert all(doomed.node_id not in result.value(f"n{i}.out") for i in range(7))
    again = run(make_workflow(nodes), "local", tmp_path / "c", reg)
    assert again.cached == sorted(nodes)  # what finished was kept, nothing is computed twice


def test_the_event_channel_restarted_mid_run_loses_neither_the_run_nor_its_progress(ray_engine, reg, tmp_path):
    import ray
    killed = threading.Event()
    after_kill = []

    def on_event(e):
        if e.event == "node_progress" and e.node == "n":
            if killed.is_set():
                after_kill.append(e.progress)
            else:
                killed.set()
                ray.kill(ray_engine.channel, no_restart=False)  # a crash: Ray restarts it empty

    wf = make_workflow({"n": ("raytest.sleep_here", {"seconds": 2.5, "label": "x"})})
    result = run(wf, ray_engine, tmp_path / "c", reg, on_event=on_event)
    assert killed.is_set() and result.ok, result.failures
    assert result.value("n.out").startswith("x@")
    assert after_kill, "the running call went on reporting to the restarted channel"


def test_stop_reaches_the_calls_even_when_the_event_channel_restarts(ray_engine, reg, tmp_path):
    import ray
    token = graph.CancelToken()

    def on_event(e):
        if e.event == "node_progress" and e.node == "slow" and not token.cancelled:
            token.cancel()
            ray.kill(ray_engine.channel, no_restart=False)  # whether or not Stop got there first

    wf = make_workflow({"slow": ("raytest.sleep_here", {"seconds": 60.0, "label": "s"})})
    result = run(wf, ray_engine, tmp_path / "c", reg, cancel=token, on_event=on_event)
    assert result.status == "cancelled" and result.skipped == ["slow"]
    assert [e.status for e in graph.plan(wf, cache=tmp_path / "c", registry=reg)] == ["run"]


def test_a_model_worker_killed_mid_call_restarts_and_the_call_is_retried(cluster, reg, tmp_path):
    engine = RayDispatcher(address=cluster.address, gpus=1)
    notes = tmp_path / "notes"
    notes.mkdir()
    killed = []

    def on_event(e):
        if e.event == "node_progress" and e.message == "denoising" and not killed:
            [note] = notes_in(notes)
            killed.append(int(note.split("-")[1]))
            os.kill(killed[0], signal.SIGKILL)

    try:
        wf = make_workflow({"g": ("raytest.generate", {"seconds": 1.5, "label": 7, "notes": str(notes)})})
        result = run(wf, engine, tmp_path / "c", reg, on_event=on_event)
        stats = engine.stats()
    finally:
        engine.close()
    assert killed and result.ok, result.failures
    assert len(notes_in(notes)) == 2  # the call ran again ...
    assert result.value("g.out") == f"m#7@{stats[0]['pid']}" and stats[0]["pid"] != killed[0]  # ... on a new worker


# ---------------------------------------------------------------------------------------------
# the service and the command line


def test_the_job_service_with_engine_ray_runs_a_job_end_to_end(cluster, tmp_path):
    from reelgraph.client import Client
    from servicekit import wait_for_server

    port = free_port()
    cmd = [sys.executable, "-m", "reelgraph.ui.cli", "serve", "--engine", "ray", "--address", cluster.address,
           "--port", str(port), "--data", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        wait_for_server(client, server)
        assert client.health()["engine"] == "ray"
        job_id = client.submit(json.loads(resource("jobs/tiny_clip.json").read_text()))
        done = client.wait(job_id, timeout=120)
        assert done["status"] == "succeeded", done
        [name] = done["outputs"]
        got = client.fetch_file(job_id, name, tmp_path / "clip.mp4")
        assert probe(got)["video"][0]["frames"] == 8
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_reelgraph_run_engine_ray_without_an_address_starts_and_stops_its_own_ray(tmp_path):
    # a new user's first try: no cluster, no address
    env = {**os.environ, "REELGRAPH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "reelgraph.ui.cli", "run", str(resource("jobs/tiny_clip.json")),
                           "--engine", "ray", "-o", str(tmp_path / "clip.mp4")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ray: 1 node" in done.stderr
    assert probe(tmp_path / "clip.mp4")["video"][0]["frames"] == 8


def test_an_unknown_engine_and_an_address_without_ray_are_usage_errors(tmp_path):
    wf = str(resource("jobs/tiny_clip.json"))
    for args, says in ((["--engine", "spark"], "no engine named 'spark'"),
                       (["--address", "auto"], "--address needs --engine ray")):
        done = subprocess.run([sys.executable, "-m", "reelgraph.ui.cli", "run", wf, *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
