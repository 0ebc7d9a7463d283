"""What runs on the Ray workers: node calls as tasks, model workers as actors, and the channel
that carries progress to the driver and Stop back.

A call runs exactly as on the local engine (``dispatch.run_call``) with a context whose store is the
shared cache folder (same path on every node) and whose events and cancel token go through the
``Channel`` actor. Results are small (values and media references); media stay on shared storage.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import threading
import uuid
from collections import deque
from pathlib import Path

import ray
from reelgraph.graph import ArtifactStore, CancelToken, NodeError, RunContext, default_manager
from reelgraph.graph.dispatch import missing_in_store, resolve_here, run_call

RELAY_INTERVAL = 0.1  # seconds between a running call's event flushes and its look at Stop


@ray.remote(num_cpus=0)
class Channel:
    """Events from every running call, numbered, for the driver to drain; and the runs that were
    stopped, for the calls to see. One per dispatcher (driver process).

    It restarts after a crash with nothing in it: each life has its own ``epoch``, so the driver
    knows to count events from the start again and to tell it which runs were stopped. Calls made
    while it restarts wait for it (``max_task_retries``); only a channel gone for good (its driver
    ended) fails them."""

    def __init__(self):
        self.epoch = uuid.uuid4().hex
        self.items: deque = deque()  # (seq, call_tag, kind, fields)
        self.seq = 0
        self.stopped: set[str] = set()
        self.arrived = asyncio.Event()

    async def report(self, run: str, batch: list) -> tuple[bool, str, int]:
        for tag, kind, fields in batch:
            self.seq += 1
            self.items.append((self.seq, tag, kind, fields))
        if batch:
            self.arrived.set()
        return run in self.stopped, self.epoch, self.seq

    async def stop(self, runs: list[str]) -> None:
        self.stopped.update(runs)

    async def drain(self, epoch: str, after: int, timeout: float) -> tuple[list, str, int]:
        """Events numbered after ``after`` in ``epoch`` (those up to it were delivered and are
        dropped); every event when ``epoch`` is an earlier life's."""
        if epoch != self.epoch:
            after = 0
        while self.items and self.items[0][0] <= after:
            self.items.popleft()
        if not self.items:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        batch = list(self.items)
        return [item[1:] for item in batch], self.epoch, (batch[-1][0] if batch else after)

    async def wake(self) -> None:
        """End a waiting ``drain`` now (the driver is closing)."""
        self.arrived.set()

    def pid(self) -> int:
        return os.getpid()


class _Relay:
    """One running call's link to the channel: its events go out every RELAY_INTERVAL (and when it
    ends); each flush brings back whether its run was stopped, which cancels the call's token."""

    def __init__(self, channel, run: str, tag: int, token: CancelToken):
        self.channel, self.run, self.tag, self.token = channel, run, tag, token
        self.pending: list = []
        self.lock = threading.Lock()
        self.last = ("", 0)  # (channel epoch, number) of this call's last event
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="reelgraph-relay", daemon=True)
        self.thread.start()

    def emit(self, kind: str, **fields) -> None:
        with self.lock:
            self.pending.append((self.tag, kind, fields))

    def _loop(self) -> None:
        while not self.done.wait(RELAY_INTERVAL):
            self.flush(always=True)

    def flush(self, always: bool = False) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch and not always:
            return
        try:  # waits while the channel restarts
            stopped, epoch, seq = ray.get(self.channel.report.remote(self.run, batch))
        except Exception:  # the channel is gone for good: its driver ended, and so did the run
            self.token.cancel()
            return
        if batch:
            self.last = (epoch, seq)
        if stopped:
            self.token.cancel()

    def close(self) -> tuple[str, int]:
        self.done.set()
        self.thread.join()
        self.flush()
        return self.last


_stores: dict[str, ArtifactStore] = {}


def _store(root: str) -> ArtifactStore:
    # one per folder per worker process: its verified-bytes memo then lasts across calls
    if root not in _stores:
        _stores[root] = ArtifactStore(root)
    return _stores[root]


def _portable(out: tuple) -> tuple:
    """An error whose exception cannot travel back (a library's odd exception type) is sent as
    its text, which is all the driver shows anyway."""
    if out[0] != "error":
        return out
    try:
        pickle.dumps(out[1])
        return out
    except Exception:
        from reelgraph.graph.errors import describe
        return ("error", RuntimeError(describe(out[1])), out[2])


def execute(call, workflow, scope: dict, channel, manager) -> tuple:
    """Run one call on this worker: (outcome, (epoch, number) of its last event). See
    ``dispatch.run_call``."""
    root = scope["store"]
    if not Path(root).is_dir():
        host = socket.gethostname()
        return ("error", NodeError(f"the cache folder {root} is not there on worker node {host}",
                                   fix="mount the same shared folder at the same path on every node "
                                       "(NFS, EFS, Lustre; see docs/cluster.md), or run with --engine local"),
                None), ("", 0)
    store = _store(root)
    token = CancelToken()
    relay = _Relay(channel, scope["run"], scope["call"], token)
    ctx = RunContext(node_id=call.node.id, store=store, workspace=Path(scope["workspace"]), cancel=token,
                     element=call.element, workflow=workflow, emit=relay.emit)
    try:
        out = run_call(call, ctx, manager, lambda c: missing_in_store(store, c))
    finally:
        last = relay.close()
    return _portable(out), last


@ray.remote(max_retries=2, retry_exceptions=False)
def run_task(call, workflow, scope: dict, channel) -> tuple:
    """A call without models: a Ray task sized by its node's ``Resources.cpu``."""
    return execute(call, workflow, scope, channel, default_manager())


class ModelWorker:
    """Holds one GPU (or, on a cluster without GPUs, one model slot) and keeps the models its
    calls load resident, so shot after shot of one model loads it once per GPU."""

    def __init__(self):
        self.manager = default_manager()
        self.calls = 0

    def run(self, call, workflow, scope: dict, channel) -> tuple:
        self.calls += 1
        return execute(call, workflow, scope, channel, self.manager)

    def resolve(self, cls, values: dict, workspace: str, keyed: bool) -> tuple:
        """``Dispatcher.resolve`` here, where the call would run: this node's GPU and model files."""
        try:
            return ("ok", *resolve_here(cls, values, Path(workspace), keyed))
        except Exception as e:
            return _portable(("error", e, None))

    def stats(self) -> dict:
        ctx = ray.get_runtime_context()
        return {"pid": os.getpid(), "node": ctx.get_node_id(), "gpus": [str(g) for g in ray.get_gpu_ids()],
                "loads": self.manager.loads, "calls": self.calls, "host": socket.gethostname()}

    def pid(self) -> int:
        return os.getpid()


RemoteModelWorker = ray.remote(ModelWorker)
