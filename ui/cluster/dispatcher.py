"""The Ray engine: the executor's scheduler stays in this process; node calls run on a Ray cluster.

- Calls without models run as Ray tasks with ``num_cpus`` from the node's ``Resources`` (waiting
  calls, ``cpu=0``, cost nothing).
- Model calls (and GPU-heavy calls) go to model workers: actors that each hold one GPU and keep
  their models resident. A call goes to an idle worker that already ran its model; else a new worker
  is started while GPUs are free; else the idle worker used longest ago. Workers restart after a
  crash (``max_restarts``) and an interrupted call is retried once (``max_task_retries``).
- ``auto`` backends and model files are looked up on a model worker (``Node.resolves_where_it_runs``),
  not on the head node.
- Media go to the cache's artifact store, which every node must mount at the same path; only small
  values travel back. The cache index is written here, by the driver alone.
- Progress comes back through one ``Channel`` actor, in order, before the call's result; Stop goes
  out through it and is seen by a running call within ``worker.RELAY_INTERVAL``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from reelgraph.graph import NodeError
from reelgraph.graph.dispatch import Dispatcher, RunScope

from . import worker as remote

log = logging.getLogger("reelgraph")

_session_lock = threading.Lock()
_session_users = 0  # dispatchers using a Ray runtime this process started
_session_ours = False


def _connect(address: str | None, runtime_env: dict | None) -> None:
    """Join the cluster at ``address`` (``auto``: the one started on this machine with ``ray start``),
    or start a private Ray for this process when there is none. Counted: the last user stops it."""
    global _session_users, _session_ours
    with _session_lock:
        if not ray.is_initialized():
            # no address: a Ray of this process's own, even when `ray start` left one on this machine
            options: dict[str, Any] = {"address": address or "local", "namespace": "reelgraph",
                                       "include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if runtime_env:
                options["runtime_env"] = runtime_env
            try:
                ray.init(**options)
            except ConnectionError as e:
                raise ValueError(f"cannot reach the Ray cluster at {address}: {e}; start one with "
                                 "`ray start --head` or leave out --address for a local one") from None
            _session_ours = True
        if _session_ours:
            _session_users += 1


def _disconnect() -> None:
    global _session_users, _session_ours
    with _session_lock:
        if not _session_ours:
            return
        _session_users -= 1
        if _session_users <= 0 and ray.is_initialized():
            ray.shutdown()
            _session_ours = False
            _session_users = 0


@dataclass(eq=False)
class _ModelWorker:
    handle: Any
    index: int
    holds: set = field(default_factory=set)  # model ids of the calls it ran (resident, as far as we know)
    busy: bool = False
    used: float = 0.0


class RayDispatcher(Dispatcher):
    """Engine ``ray``. ``address``: None for a Ray of this process's own (started on first use,
    stopped at ``close``), ``"auto"`` or ``"HOST:PORT"`` for a running cluster. ``gpus``: at most
    this many model workers (default: every GPU of the cluster; one when it has none)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, gpus: int | None = None,
                 runtime_env: dict | None = None):
        self.address = address
        _connect(address, runtime_env)
        self._open = True
        res = ray.cluster_resources()
        self.cluster_gpus = int(res.get("GPU", 0))
        self.cpus = float(res.get("CPU", 1.0))
        self.devices = max(1, min(gpus, self.cluster_gpus) if gpus and self.cluster_gpus else
                           (gpus or self.cluster_gpus or 1))
        # on the driver's own node: it lives and dies with this run anyway, and losing a worker
        # node must not lose the progress of every call
        here = ray.get_runtime_context().get_node_id()
        self.channel = remote.Channel.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
            max_restarts=-1, max_task_retries=-1).remote()
        self._tags = itertools.count(1)
        self._calls: dict[int, tuple] = {}  # tag -> (call, scope)
        self._lock = threading.Lock()
        self._workers: list[_ModelWorker] = []
        self._worker_ids = itertools.count()
        self._epoch = ""  # the channel's life whose events are being delivered
        self._epochs: set[str] = set()  # every life seen so far
        self._delivered = 0  # the event number in that life delivered to the runs so far
        self._stopped: list[str] = []  # runs told to stop (told again to a restarted channel)
        self._seen = threading.Condition()
        self._finished: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._pump, name="reelgraph-ray-events", daemon=True),
                         threading.Thread(target=self._finisher, name="reelgraph-ray-results", daemon=True)]
        for th in self._threads:
            th.start()

    # -- the interface
    def bind(self, executor) -> None:
        super().bind(executor)
        if executor.cache is None and not self.one_machine():
            raise ValueError("a run on a cluster of several machines needs a cache folder that every node "
                             "mounts at the same path: give --cache DIR on shared storage (docs/cluster.md)")

    def capacity(self) -> tuple[float, int]:
        return self.cpus, self.devices

    def describe(self) -> str:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus = f"{self.cluster_gpus} GPU{'s' if self.cluster_gpus != 1 else ''}"
        return f"ray: {len(nodes)} node{'s' if len(nodes) != 1 else ''}, {self.cpus:g} CPUs, {gpus}"

    def one_machine(self) -> bool:
        """Every live node of the cluster is this machine (so a temporary folder is shared)."""
        here = ray.util.get_node_ip_address()
        return all(n.get("NodeManagerAddress") == here for n in ray.nodes() if n.get("Alive"))

    def resolve(self, cls, values: dict, workspace: Path, *, keyed: bool = True):
        worker = self._any_worker()
        answer = ray.get(worker.handle.resolve.remote(cls, values, str(workspace), keyed))
        if answer[0] == "error":
            raise answer[1]
        return answer[1], tuple(answer[2])

    def submit(self, call, scope: RunScope) -> None:
        tag = next(self._tags)
        with self._lock:
            self._calls[tag] = (call, scope)
        spec = {"run": scope.run_id, "call": tag, "store": str(scope.store.root),
                "workspace": str(scope.workspace)}
        worker = None
        try:
            if call.models or call.node.spec.resources.gpu:
                worker = self._take_worker(call.model_ids)
                ref = worker.handle.run.remote(call, scope.workflow, spec, self.channel)
            else:
                cpu = float(call.node.spec.resources.cpu)
                ref = remote.run_task.options(num_cpus=cpu, name=f"reelgraph:{call.node.id}").remote(
                    call, scope.workflow, spec, self.channel)
        except BaseException:
            with self._lock:
                self._calls.pop(tag, None)
            if worker is not None:
                self._give_worker(worker, ())
            raise
        ref.future().add_done_callback(lambda fut: self._finished.put((tag, fut, worker)))

    def cancel_run(self, scope: RunScope) -> None:
        with self._lock:
            self._stopped.append(scope.run_id)
        try:
            self.channel.stop.remote([scope.run_id])
        except Exception:
            log.debug("could not send Stop to the cluster", exc_info=True)

    def stats(self) -> list[dict]:
        """Per model worker: its pid, node, GPU ids, model loads and calls (for tests and benches)."""
        with self._lock:
            handles = [w.handle for w in self._workers]
        return ray.get([h.stats.remote() for h in handles])

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._finished.put(None)
        with self._lock:
            workers, self._workers = self._workers, []
        for w in workers:
            ray.kill(w.handle, no_restart=True)
        try:  # the event pump ends before its channel does: a killed channel's calls are retried
            self.channel.wake.remote()
        except Exception:
            log.debug("could not wake the event channel", exc_info=True)
        for th in self._threads:
            th.join(timeout=5)
        ray.kill(self.channel, no_restart=True)
        _disconnect()

    # -- model workers
    def _new_worker(self) -> _ModelWorker:
        options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 2, "max_task_retries": 1,
                                   "max_concurrency": 4}  # resolve() may run beside a call
        if self.cluster_gpus:
            options["num_gpus"] = 1
        w = _ModelWorker(remote.RemoteModelWorker.options(**options).remote(), next(self._worker_ids))
        self._workers.append(w)
        return w

    def _any_worker(self) -> _ModelWorker:
        with self._lock:
            idle = [w for w in self._workers if not w.busy]
            if idle:
                return idle[0]
            if len(self._workers) < self.devices:
                return self._new_worker()
            return self._workers[0]

    def _take_worker(self, model_ids: tuple[str, ...]) -> _ModelWorker:
        with self._lock:
            idle = [w for w in self._workers if not w.busy]
            wanted = set(model_ids)
            choice = next((w for w in idle if wanted and wanted <= w.holds), None)
            if choice is None and len(self._workers) < self.devices:
                choice = self._new_worker()
            if choice is None and idle:
                choice = min(idle, key=lambda w: w.used)
            if choice is None:  # the scheduler never asks for more devices than there are
                raise RuntimeError("no model worker is free")
            choice.busy = True
            return choice

    def _give_worker(self, worker: _ModelWorker, model_ids: tuple[str, ...]) -> None:
        with self._lock:
            worker.busy = False
            worker.used = time.monotonic()
            worker.holds.update(model_ids)

    # -- results and events (background threads)
    def _pump(self) -> None:
        """Carry events from the channel to their runs, in order."""
        while self._open:
            try:
                events, epoch, last = ray.get(self.channel.drain.remote(self._epoch, self._delivered, 0.5))
            except Exception:
                if not self._open:
                    return
                log.warning("lost the event channel of the Ray engine; retrying", exc_info=True)
                time.sleep(0.5)
                continue
            if epoch != self._epoch and self._epoch:
                # a restarted channel knows nothing: tell it again which runs were stopped (the
                # events the old one held are lost; the calls' results are not)
                log.warning("the Ray engine's event channel restarted; some progress events were lost")
                with self._lock:
                    stopped = list(self._stopped)
                if stopped:
                    self.channel.stop.remote(stopped)
            for tag, kind, fields in events:
                with self._lock:
                    entry = self._calls.get(tag)
                if entry is not None:
                    call, scope = entry
                    scope.report(("event", call, kind, fields))
            with self._seen:
                self._epoch, self._delivered = epoch, last
                self._epochs.add(epoch)
                self._seen.notify_all()

    def _finisher(self) -> None:
        """Report each finished call once its events have been delivered."""
        while (item := self._finished.get()) is not None:
            tag, fut, worker = item
            with self._lock:
                call, scope = self._calls[tag]
            last = ("", 0)
            try:
                outcome, last = fut.result()
            except BaseException as e:  # the worker process or its node died, twice
                outcome = ("error", _lost(call, e), None)
            if worker is not None:
                self._give_worker(worker, call.model_ids if outcome[0] == "done" else ())
            self._wait_delivered(*last)
            with self._lock:
                self._calls.pop(tag, None)
            scope.report((outcome[0], call, *outcome[1:]))


    def _wait_delivered(self, epoch: str, seq: int) -> None:
        """Until the call's last event reached its run; at once when it went to a channel that has
        since restarted (it is lost)."""
        def delivered() -> bool:
            if not self._open or not seq:
                return True
            if epoch == self._epoch:
                return self._delivered >= seq
            return epoch in self._epochs  # an earlier life's (a later one's is still to come)

        with self._seen:
            self._seen.wait_for(delivered, timeout=5)


def _lost(call, exc: BaseException) -> NodeError:
    where = "its model worker" if call.models else "the Ray worker running it"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return NodeError(f"{where} died and the retry failed too ({first})",
                     fix="see the Ray logs of that node (ray logs / the dashboard); the finished parts are "
                         "cached, so running again resumes")

