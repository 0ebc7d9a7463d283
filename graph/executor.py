"""The executor: runs a compiled graph with concurrency, mapping, caching and events.

The scheduler is one loop on the calling thread; node calls run where its dispatcher puts them
(``dispatch``: a thread pool here, or a cluster). A call may start when its resources are free:
CPU-bound calls (``Resources.cpu > 0``) up to the machine's cores, waiting calls (``cpu=0``)
freely, GPU-heavy calls and calls that need a model (``Node.models_for``) one per device. Among
ready model calls, those needing the model used last go first, so nodes that share a model load it
once per run. Only the scheduler thread touches run state and emits events, so listeners never race
each other.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import types as t
from .cache import ArtifactStore, Cache, Lease, media_in
from .context import CancelToken, RunContext
from .dispatch import Dispatcher, RunScope, open_engine
from .errors import Cancelled, NodeError, NodeFailure, describe
from .events import Event, Listener
from .models import ModelManager, default_manager
from .node import ModelNeed
from .validate import CompiledGraph, CompiledNode

log = logging.getLogger("reelgraph")


@dataclass
class Call:
    """One call of a node: the whole node, or one element of a mapped node."""

    node: CompiledNode
    element: int | None
    kwargs: dict[str, Any]
    key: str | None  # cache key, None when the node is not cacheable
    models: tuple[ModelNeed, ...] = ()  # loaded by the model manager before run()
    redo: bool = False  # re-rendering an element whose media went missing or was damaged

    @property
    def need(self) -> tuple[float, int]:
        res = self.node.spec.resources
        # a model call holds the device: two pipelines at once would only fight over its memory
        return (res.cpu, max(res.gpu, 1) if self.models else res.gpu)

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)


@dataclass
class RunResult:
    """What a run produced. ``outputs`` holds the output nodes' values (see CompiledGraph.outputs)."""

    run_id: str
    status: str  # "ok" | "failed" | "cancelled"
    outputs: dict[str, dict[str, Any]]
    values: dict[str, dict[str, Any]]
    failures: list[NodeFailure] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def value(self, ref: str) -> Any:
        """The value of ``"node.port"`` in this run."""
        node, port = ref.split(".", 1)
        return self.values[node][port]


def workspace_of(graph: CompiledGraph) -> Path:
    """Where a workflow's relative file paths point: its file's folder, else the current one."""
    src = graph.workflow.source
    return Path(src).resolve().parent if src else Path.cwd()


def gather_calls(cn: CompiledNode, values: dict[str, dict[str, Any]],
                 workspace: Path | None = None, where: Dispatcher | None = None) -> list[Call]:
    """The calls a node makes given its upstream values (one per element when it maps).
    ``where``: the dispatcher that will run them, which looks up their models and fingerprints
    where they would run (default: here).

    Raises NodeError for values that do not fit (wired params out of bounds, mapped lists of
    different lengths).
    """
    spec = cn.spec
    direct: dict[str, Any] = {}
    mapped: dict[str, list] = {}
    ports = spec.ports_in()
    for name, link in cn.links.items():
        value = values[link.src][link.src_port]
        port = ports[name]
        try:
            if link.mode == "map":
                mapped[name] = [port.check(v) for v in value]
            else:
                direct[name] = port.check(value)
        except ValueError as e:
            raise NodeError(f"the value from {link.src}.{link.src_port} does not fit: {e}", field=name,
                            fix=_fix_for(port)) from None
    base = {**cn.params, **direct}
    for name in spec.inputs:
        if name not in base and name not in mapped:
            base[name] = None
    workspace = workspace if workspace is not None else Path.cwd()
    where = where or _HERE
    if not mapped:
        return [_call(cn, None, base, workspace, where)]
    lengths = {name: len(v) for name, v in mapped.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise NodeError(f"mapped inputs have different lengths ({detail})", field=next(iter(lengths)),
                        fix="wire lists of the same length (reelgraph never pads or truncates)")
    calls = []
    for i in range(next(iter(lengths.values()))):
        kwargs = {**base, **{name: v[i] for name, v in mapped.items()}}
        calls.append(_call(cn, i, kwargs, workspace, where))
    return calls


_HERE = Dispatcher()  # resolves calls in this process


def _call(cn: CompiledNode, element: int | None, kwargs: dict[str, Any], workspace: Path,
          where: Dispatcher) -> Call:
    resolver = where if cn.spec.cls.resolves_where_it_runs(kwargs) else _HERE
    fingerprint, models = resolver.resolve(cn.spec.cls, kwargs, workspace, keyed=cn.spec.cacheable)
    return Call(cn, element, kwargs, _key(cn, kwargs, fingerprint), models)


def _fix_for(port) -> str:
    if port.choices:
        return f"it must be one of: {', '.join(port.choices)}"
    if port.min is not None or port.max is not None:
        return f"it must lie between {port.min} and {port.max}; adjust the upstream node"
    return f"wire a {port.type} value"


def _key(cn: CompiledNode, kwargs: dict[str, Any], extra: str | None) -> str | None:
    spec = cn.spec
    if not spec.cacheable:
        return None
    h = hashlib.sha256()
    h.update(f"{spec.type}\0{spec.version}\0".encode())
    for name in sorted(kwargs):
        h.update(name.encode() + b"=" + t.digest(kwargs[name]).encode() + b"\0")
    if extra:
        h.update(b"fp=" + str(extra).encode())
    return h.hexdigest()


def normalize_outputs(cn: CompiledNode, result: Any) -> dict[str, Any]:
    """Check what run() returned against the declared outputs."""
    outs = cn.spec.outputs
    if not isinstance(result, dict) or (len(outs) == 1 and set(result) != set(outs)):
        if len(outs) == 1:
            result = {next(iter(outs)): result}
        elif not outs and result is None:
            return {}
        else:
            raise NodeError(f"run() returned {type(result).__name__}; expected a dict with "
                            f"{', '.join(outs)}", fix="return {name: value} for every output")
    missing = [n for n in outs if n not in result]
    extra = [n for n in result if n not in outs]
    if missing or extra:
        raise NodeError(f"run() returned outputs {sorted(result)}, declared {list(outs)}",
                        field=(missing or extra)[0], fix="return exactly the declared outputs")
    checked = {}
    for name, port in outs.items():
        try:
            checked[name] = t.check_value(port.type, result[name])
            t.encode(checked[name])  # an Any output must still be storable (a set, a Path: not)
        except ValueError as e:
            raise NodeError(f"output is not a {port.type}: {e}", field=name,
                            fix="this is a bug in the node; report it to its author") from None
        except TypeError as e:
            raise NodeError(str(e), field=name,
                            fix="this is a bug in the node; report it to its author") from None
    return checked


def cached_outputs(cache: Cache | None, call: Call, *, verify: bool = False) -> dict[str, Any] | None:
    """The cached outputs of ``call``, or None. An entry that no longer fits the node's declared
    outputs (a node changed its outputs without bumping its version, or a row was rewritten) is
    dropped and recomputed, never trusted: a missing port would otherwise crash the scheduler.
    ``verify``: also check the bytes of its media (for results delivered as a run's outputs)."""
    if cache is None or call.key is None:
        return None
    hit = cache.get(call.key)
    if hit is None:
        return None
    outs = call.node.spec.outputs
    try:
        if not isinstance(hit, dict) or set(hit) != set(outs):
            found = sorted(hit) if isinstance(hit, dict) else type(hit).__name__
            raise ValueError(f"it has outputs {found}, the node declares {sorted(outs)}")
        checked = {name: t.check_value(port.type, hit[name]) for name, port in outs.items()}
        if verify and (bad := cache.verify_media(media_in(checked))):
            raise ValueError(f"media {bad[0].digest[:12]}{bad[0].ext} is damaged or missing")
        return checked
    except ValueError as e:
        log.warning("dropping stale cache entry %s of %s: %s", call.key[:12], call.node.id, e)
        cache.drop(call.key)
        return None


def _scratch_store() -> ArtifactStore:
    """A store for runs without a cache. Results may point into it after the run, so it lives
    until the process exits."""
    root = tempfile.mkdtemp(prefix="reelgraph-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return ArtifactStore(root)


class LocalExecutor:
    """Runs compiled graphs from this process: the scheduler runs here, node calls run where its
    engine puts them (``engine``: ``"local"``, the default, a thread pool here; ``"ray"``, a Ray
    cluster, see ``dispatch``; or a Dispatcher). Reusable across runs; ``close()`` ends the engine."""

    def __init__(self, cache: Cache | None = None, *, store: ArtifactStore | None = None,
                 cpu_slots: float | None = None, gpu_slots: int = 1, max_workers: int | None = None,
                 models: ModelManager | None = None, engine: str | Dispatcher | None = None,
                 **engine_options: Any):
        self.cache = cache
        self._models = models
        if engine is None or engine == "local":
            engine_options.update(cpu_slots=cpu_slots, gpu_slots=gpu_slots, max_workers=max_workers)
        # an engine given as a Dispatcher belongs to the caller (it may serve several executors
        # one after another); one opened here by name is closed with this executor
        self._own_dispatcher = not isinstance(engine, Dispatcher)
        self.dispatcher = open_engine(engine, **engine_options)
        try:
            self.dispatcher.bind(self)
        except BaseException:
            if self._own_dispatcher:
                self.dispatcher.close()
            raise
        if store is None:
            # a read-only cache still serves results; what this run makes goes to a scratch store
            store = cache.store if cache is not None and not cache.read_only else _scratch_store()
        self.store = store
        self.cpu_slots, self.gpu_slots = self.dispatcher.capacity()
        # every run of this executor draws on the same cores and devices: jobs run side by side
        # by the job service never put two GPU-heavy calls on one device, nor more CPU work than cores
        self.slots = _Slots(self.cpu_slots, self.gpu_slots)

    @property
    def engine(self) -> str:
        return self.dispatcher.name

    @property
    def models(self) -> ModelManager:
        """The model manager (the process-wide one unless one was given)."""
        if self._models is None:
            self._models = default_manager()
        return self._models

    def close(self) -> None:
        if self._own_dispatcher:
            self.dispatcher.close()
        if self.cache is not None:
            self.cache.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, graph: CompiledGraph, *, listeners: Iterable[Listener] = (),
            cancel: CancelToken | None = None, workspace: str | os.PathLike | None = None,
            lease: Lease | None = None) -> RunResult:
        """Run ``graph``. The media the run holds are protected from eviction (in any process)
        until it returns; pass ``lease`` (``cache.lease()``) to keep them protected for longer,
        e.g. until the outputs are copied out, and release it yourself."""
        if workspace is None:
            workspace = workspace_of(graph)
        own = False
        if lease is None and self.cache is not None:
            lease, own = self.cache.lease(), True
        try:
            return _Run(self, graph, list(listeners), cancel or CancelToken(), Path(workspace), lease).execute()
        finally:
            if own and lease is not None:
                lease.release()

    def missing_inputs(self, call: Call) -> list[t.MediaRef]:
        """Media among ``call``'s inputs that are missing or damaged (bytes checked once per process)."""
        refs = media_in(call.kwargs)
        if not refs:
            return []
        if self.cache is not None:
            return self.cache.verify_media(refs)
        return [r for r in refs if not Path(r.path).is_file()]


class _Slots:
    """The CPU and GPU capacity that concurrent runs of one executor share.

    A run that finds no room waits on its inbox; a release by one run wakes the others so they try
    again. With one run (the command line) nothing is woken and nothing waits on a lock for long.
    """

    def __init__(self, cpu: float, gpu: int):
        self.cpu, self.gpu = cpu, gpu
        self.used_cpu = 0.0
        self.used_gpu = 0
        self._lock = threading.Lock()
        self._runs: dict[int, queue.SimpleQueue] = {}

    def join(self, inbox: queue.SimpleQueue) -> None:
        with self._lock:
            self._runs[id(inbox)] = inbox

    def leave(self, inbox: queue.SimpleQueue) -> None:
        with self._lock:
            self._runs.pop(id(inbox), None)

    def take(self, cpu: float, gpu: int) -> bool:
        with self._lock:
            if gpu and self.used_gpu + gpu > self.gpu:
                return False
            if cpu and self.used_cpu > 0 and self.used_cpu + cpu > self.cpu:
                return False  # a call bigger than the machine still runs, alone
            self.used_cpu = round(self.used_cpu + cpu, 6)  # rounded: float drift must not block a call
            self.used_gpu += gpu
            return True

    def give(self, cpu: float, gpu: int, inbox: queue.SimpleQueue) -> None:
        with self._lock:
            self.used_cpu = round(self.used_cpu - cpu, 6)
            self.used_gpu -= gpu
            others = [q for k, q in self._runs.items() if q is not inbox] if len(self._runs) > 1 else []
        for q in others:
            q.put(("wake",))


class _Run:
    def __init__(self, ex: LocalExecutor, graph: CompiledGraph, listeners: list[Listener],
                 cancel: CancelToken, workspace: Path, lease: Lease | None = None):
        self.ex, self.graph, self.listeners, self.cancel = ex, graph, listeners, cancel
        self.workspace = workspace
        self.lease = lease
        self.run_id = uuid.uuid4().hex[:12]
        self.t0 = time.perf_counter()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.values: dict[str, dict[str, Any]] = {}
        self.status = {n: "pending" for n in graph.order}
        self.waiting = {n: graph.dag.in_degree(n) for n in graph.order}
        self.node_t0: dict[str, float] = {}
        self.calls: dict[str, list[Call]] = {}
        self.elements: dict[str, list] = {}
        self.elem_cached: dict[str, list[bool]] = {}
        self.left: dict[str, int] = {}
        self.errors: dict[str, list[NodeFailure]] = {}
        self.failures: list[NodeFailure] = []
        self.pending: dict[tuple[float, int], deque[Call]] = {}
        self.ready: deque[str] = deque()  # nodes whose inputs are all done
        self.running = 0
        self.cancelled = False
        self.costs: dict[str, list[tuple[Call, dict, dict]]] = {}  # node -> (call, outputs, cost) that ran
        self.last_models: tuple[str, ...] = ()  # the model ids of the last model call dispatched
        self.outputs = set(graph.outputs())
        # one computation per cache key in flight: identical calls wait for the first one
        self.inflight: dict[str, list[Call]] = {}
        # recovery of inputs that went missing or were damaged while the run used them
        self.redoing: dict[str, set[int]] = {}  # producer node -> elements being re-rendered
        self.parked: dict[str, list[Call]] = {}  # producer node -> calls waiting for its re-render
        self.stale_tries: dict[tuple[str, int | None], int] = {}
        self.stale_waits: dict[int, int] = {}  # id(parked call) -> producers it still waits for
        self.scope = RunScope(self.run_id, workspace, graph.workflow, cancel, ex.store, self.inbox.put)

    # -- events
    def emit(self, kind: str, node: str | None = None, seconds: float | None = None, **kw) -> None:
        if not self.listeners:
            return
        ev = Event(kind, self.run_id, seconds if seconds is not None else time.perf_counter() - self.t0,
                   node=node, **kw)
        for listener in self.listeners:
            try:
                listener(ev)
            except Exception:
                log.exception("an event listener failed on %s", kind)

    # -- main loop
    def execute(self) -> RunResult:
        # the token may outlive the run (a caller keeps it): its callback must not keep the whole
        # run (graph, values) alive, only the inbox
        inbox = self.inbox
        self.cancel.on_cancel(lambda: inbox.put(("cancel",)))
        self.emit("run_started", data={"nodes": len(self.graph.order)})
        self.ready.extend(n for n in self.graph.order if self.waiting[n] == 0)
        self.ex.slots.join(inbox)
        try:
            while True:
                while self.ready:  # a loop, not recursion: a cached 10,000-node chain must not overflow
                    self.start_node(self.ready.popleft())
                self.dispatch()
                if self.running == 0 and (self.cancelled or not any(self.pending.values())):
                    break
                self.handle(self.inbox.get())
        except KeyboardInterrupt:
            # Ctrl-C in a script using the API: stop the nodes at their next progress step and wait
            # for them, so no worker keeps writing after we return. A second Ctrl-C exits at once.
            self.cancel.cancel()
            while self.running:
                self.handle(self.inbox.get())
            raise
        finally:
            self.ex.slots.leave(inbox)
        return self.finish()

    def handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "done":
            _, call, outputs, *cost = msg
            self.release(call)
            if cost and cost[0]:
                self.costs.setdefault(call.node.id, []).append((call, outputs, cost[0]))
            if call.key is not None and self.ex.cache is not None:
                self.ex.cache.put(call.key, call.node.spec.type, outputs)
            if self.lease is not None:
                self.lease.hold(media_in(outputs))
            if call.redo:
                self.redo_done(call, outputs)
                return
            self.element_done(call, outputs)
            for follower in self.followers(call):
                self.element_done(follower, outputs)
        elif kind == "error":
            _, call, exc, tb = msg
            self.release(call)
            if call.redo:
                self.redo_failed(call, exc)
                return
            self.element_failed(call, exc, tb)
            for follower in self.followers(call):
                self.element_failed(follower, exc, tb)
        elif kind == "stale":
            _, call, bad = msg
            self.release(call)
            self.recover(call, bad)
        elif kind == "event":
            _, call, ev_kind, kw = msg
            if self.status.get(call.node.id) == "running":
                self.emit(ev_kind, call.node.id, element=call.element, **kw)
        elif kind == "wake":
            pass  # another run freed a slot: the main loop dispatches again
        elif kind == "cancel":
            self.cancelled = True
            self.ex.dispatcher.cancel_run(self.scope)
            for dq in self.pending.values():
                for call in dq:
                    if not call.redo:
                        self.left[call.node.id] -= 1
                dq.clear()

    def followers(self, call: Call) -> list[Call]:
        return self.inflight.pop(call.key, []) if call.key is not None and not call.redo else []

    def release(self, call: Call) -> None:
        self.running -= 1
        self.ex.slots.give(*call.need, self.inbox)

    def enqueue(self, call: Call) -> None:
        self.pending.setdefault(call.need, deque()).append(call)

    def dispatch(self) -> None:
        if self.cancelled:
            return
        for (cpu, gpu), dq in self.pending.items():
            while dq and self.ex.slots.take(cpu, gpu):
                call = self.next_call(dq)
                self.running += 1
                try:
                    self.ex.dispatcher.submit(call, self.scope)
                except Exception as e:  # the engine refused it (a cluster went away): that call fails
                    self.inbox.put(("error", call, e, traceback.format_exc()))

    def next_call(self, dq: deque[Call]) -> Call:
        """The oldest call, except that a call using the model loaded last goes first: nodes that
        share a model then run back to back and the model loads once."""
        if dq[0].models and dq[0].model_ids != self.last_models:
            for i, call in enumerate(dq):
                if call.models and call.model_ids == self.last_models:
                    del dq[i]
                    return call
        call = dq.popleft()
        if call.models:
            self.last_models = call.model_ids
        return call

    # -- node lifecycle (scheduler thread)
    def start_node(self, n: str) -> None:
        if self.status[n] != "pending":
            return
        cn = self.graph.nodes[n]
        self.status[n] = "running"
        self.node_t0[n] = time.perf_counter()
        if self.cancelled:
            self.status[n] = "pending"
            return
        try:
            calls = gather_calls(cn, self.values, self.workspace, self.ex.dispatcher)
        except NodeError as e:
            self.errors[n] = [NodeFailure(n, e.message, e.field, e.fix)]
            self.fail_node(n)
            return
        except Exception as e:  # the node's fingerprint() failed: that node fails, not the run
            self.errors[n] = [NodeFailure(n, describe(e), traceback=traceback.format_exc())]
            self.fail_node(n)
            return
        self.calls[n] = calls
        self.elements[n] = [None] * len(calls)
        self.elem_cached[n] = [False] * len(calls)
        self.left[n] = len(calls)
        to_run = []
        cache = self.ex.cache
        verify = n in self.outputs  # a run's outputs are delivered: their bytes are checked
        for call in calls:
            hit = cached_outputs(cache, call, verify=verify)
            if hit is not None:
                self.elements[n][call.element or 0] = hit
                self.elem_cached[n][call.element or 0] = True
                self.left[n] -= 1
            else:
                to_run.append(call)
        if not to_run:
            self.complete_node(n)
            return
        self.emit("node_started", n, data={"calls": len(calls), "cached_calls": len(calls) - len(to_run)})
        for call in to_run:
            if call.key is not None and call.key in self.inflight:
                self.inflight[call.key].append(call)  # the same computation is already on its way
                continue
            if call.key is not None:
                self.inflight[call.key] = []
            self.enqueue(call)

    def element_done(self, call: Call, outputs: dict) -> None:
        n = call.node.id
        self.elements[n][call.element or 0] = outputs
        self.left[n] -= 1
        if call.node.maps:
            self.emit("node_progress", n, element=call.element,
                      progress=1 - self.left[n] / len(self.elements[n]))
        self.check_node(n)

    def element_failed(self, call: Call, exc: BaseException, tb: str | None) -> None:
        n = call.node.id
        self.left[n] -= 1
        if isinstance(exc, Cancelled):
            self.cancel.cancel()  # also when a node raised Cancelled by itself: stop the whole run
            self.cancelled = True
        else:
            if isinstance(exc, NodeError):
                f = NodeFailure(n, exc.message, exc.field, exc.fix, call.element)
            else:
                f = NodeFailure(n, describe(exc), element=call.element, traceback=tb)
            self.errors.setdefault(n, []).append(f)
        self.check_node(n)

    def check_node(self, n: str) -> None:
        if self.left[n] > 0:
            return
        if n in self.errors:
            self.fail_node(n)
        elif self.cancelled and any(e is None for e in self.elements[n]):
            self.status[n] = "cancelled"
        else:
            self.complete_node(n)

    def from_cache(self, n: str) -> bool:
        """Every call of ``n`` was served by the cache (a node with no calls was not)."""
        flags = self.elem_cached.get(n, [])
        return bool(flags) and all(flags)

    def complete_node(self, n: str) -> None:
        cn = self.graph.nodes[n]
        elems = self.elements[n]
        if cn.maps:
            self.values[n] = {p: [e[p] for e in elems] for p in cn.spec.outputs}
        else:
            self.values[n] = elems[0]
        if self.lease is not None:
            self.lease.hold(media_in(self.values[n]))
        self.status[n] = "done"
        cached = self.from_cache(n)
        seconds = time.perf_counter() - self.node_t0[n]
        if cached:
            self.emit("node_cached", n, cached=True, seconds=seconds)
        spent = [c for _call, _o, c in self.costs.get(n, [])]
        data = {}
        if spent:  # what its calls cost: the editor and the service show it beside the estimate
            vram = [c["vram_mb"] for c in spent if c.get("vram_mb") is not None]
            data = {"cost": {"calls": len(spent), "seconds": round(sum(c["seconds"] for c in spent), 4),
                             "ram_mb": max(c["ram_mb"] for c in spent),
                             "vram_mb": max(vram) if vram else None}}
        self.emit("node_finished", n, cached=cached, seconds=seconds, outputs=self.values[n], data=data)
        for succ in self.graph.dag.successors(n):
            self.waiting[succ] -= 1
            if self.waiting[succ] == 0:
                self.ready.append(succ)

    def fail_node(self, n: str) -> None:
        self.status[n] = "failed"
        errs = self.errors[n]
        self.failures.extend(errs)
        first = errs[0]
        self.emit("node_failed", n, seconds=time.perf_counter() - self.node_t0[n],
                  element=first.element, message=str(first),
                  error={"message": first.message, "field": first.field, "fix": first.fix,
                         "element": first.element, "count": len(errs)})
        below = self.graph.downstream(n)
        for d in self.graph.order:  # in run order: the same events in the same order every time
            if d in below and self.status[d] == "pending":
                self.status[d] = "skipped"
                self.emit("node_skipped", d, message=f"skipped because {n} failed")

    # -- inputs that went missing or were damaged while the run used them
    def recover(self, call: Call, bad: list[t.MediaRef]) -> None:
        """Re-render the elements of upstream nodes that made ``bad`` media, then run ``call``
        again on the fresh files. A file that keeps disappearing fails the call with its reason."""
        n = call.node.id
        tries = self.stale_tries.get((n, call.element), 0) + 1
        self.stale_tries[(n, call.element)] = tries
        digests = {r.digest for r in bad}
        names = ", ".join(f"{r.digest[:12]}{r.ext}" for r in bad[:3])
        producers: dict[str, set[int]] = {}
        for link in call.node.links.values():
            src = link.src
            for i, elem in enumerate(self.elements.get(src) or []):
                if elem is not None and digests & {r.digest for r in media_in(elem)}:
                    producers.setdefault(src, set()).add(i)
        if tries > 3 or not producers or self.cancelled:
            why = (f"its input media {names} went missing or was damaged again and again while this run "
                   "used it" if producers else f"its input media {names} is missing or damaged")
            exc = NodeError(why, fix="another program is deleting or changing files in the cache folder "
                            "(or the disk is failing): stop it and run again")
            if call.redo:
                self.redo_failed(call, exc)
                return
            self.element_failed(call, exc, None)
            for follower in self.followers(call):
                self.element_failed(follower, exc, None)
            return
        log.info("%s: input %s went missing or was damaged; re-rendering it", n, names)
        self.emit("node_warning", n, element=call.element,
                  message=f"input {names} went missing or was damaged; re-rendering it from "
                          f"{', '.join(sorted(producers))}")
        for src, elems in producers.items():
            self.parked.setdefault(src, []).append(call)
            todo = elems - self.redoing.get(src, set())
            if not todo and src in self.redoing:
                continue
            self.redoing.setdefault(src, set()).update(todo)
            for i in sorted(todo):
                old = self.calls[src][i]
                if old.key is not None and self.ex.cache is not None:
                    self.ex.cache.drop(old.key)
                self.enqueue(dataclasses.replace(old, redo=True))
        # a call parked on two producers must run once, after both: count what it waits for
        self.stale_waits[id(call)] = len(producers)

    def redo_done(self, call: Call, outputs: dict) -> None:
        src, i = call.node.id, call.element or 0
        self.elements[src][i] = outputs
        cn = self.graph.nodes[src]
        elems = self.elements[src]
        self.values[src] = ({p: [e[p] for e in elems] for p in cn.spec.outputs} if cn.maps else elems[0])
        self.redoing[src].discard(i)
        if not self.redoing[src]:
            del self.redoing[src]
            self.resume_parked(src)

    def redo_failed(self, call: Call, exc: BaseException) -> None:
        src = call.node.id
        self.redoing.pop(src, None)
        for parked in self.parked.pop(src, []):
            self.stale_waits.pop(id(parked), None)
            err = NodeError(f"its input from {src} went missing and re-rendering it failed: {describe(exc)}",
                            fix=f"see the error of {src}")
            self.element_failed(parked, err, None)
            for follower in self.followers(parked):
                self.element_failed(follower, err, None)

    def resume_parked(self, src: str) -> None:
        for parked in self.parked.pop(src, []):
            left = self.stale_waits.get(id(parked), 1) - 1
            if left > 0:
                self.stale_waits[id(parked)] = left
                continue
            self.stale_waits.pop(id(parked), None)
            if self.cancelled:
                if not parked.redo:
                    self.left[parked.node.id] -= 1
                continue
            n = parked.node.id
            try:
                fresh = gather_calls(parked.node, self.values, self.workspace,
                                     self.ex.dispatcher)[parked.element or 0]
            except Exception as e:
                if parked.redo:
                    self.redo_failed(parked, e)
                else:
                    self.element_failed(parked, e, None)
                continue
            if parked.redo:
                self.enqueue(dataclasses.replace(fresh, redo=True))
                continue
            if parked.key is not None and fresh.key is not None and fresh.key != parked.key:
                self.inflight[fresh.key] = self.inflight.pop(parked.key, [])
            self.calls[n][parked.element or 0] = fresh
            self.enqueue(fresh)

    def record_costs(self) -> None:
        """Keep what each call that ran cost, with its cost drivers: estimates learn from it."""
        if not self.costs:
            return
        from .estimates import measurements_for, record
        try:
            record(measurements_for(self.ex.cache),
                   [(c.node.spec, c.kwargs, outputs, c.models, cost)
                    for calls in self.costs.values() for c, outputs, cost in calls])
        except Exception:  # learning costs must never fail a run
            log.warning("could not record what the run's calls cost", exc_info=True)

    def finish(self) -> RunResult:
        for n in self.graph.order:
            if self.status[n] in ("pending", "running", "cancelled"):
                self.status[n] = "skipped"
                self.emit("node_skipped", n, message="cancelled" if self.cancelled else "not run")
        if self.ex.cache is not None:
            self.ex.cache.flush()  # result files follow within a fraction of a second (close() waits)
        self.record_costs()
        status = "cancelled" if self.cancelled else ("failed" if self.failures else "ok")
        seconds = time.perf_counter() - self.t0
        outputs = {n: self.values[n] for n in self.graph.outputs() if n in self.values}
        done = [n for n in self.graph.order if self.status[n] == "done"]
        result = RunResult(
            run_id=self.run_id, status=status, outputs=outputs, values=self.values,
            failures=self.failures,
            ran=[n for n in done if not self.from_cache(n)],
            cached=[n for n in done if self.from_cache(n)],
            skipped=[n for n in self.graph.order if self.status[n] == "skipped"],
            seconds=seconds)
        self.emit("run_finished", seconds=seconds, data={
            "status": status, "ran": len(result.ran), "cached_nodes": len(result.cached),
            "failed": len({f.node for f in self.failures}), "skipped": len(result.skipped),
            "outputs": {n: {p: t.encode(v) for p, v in ports.items()} for n, ports in outputs.items()},
            "failures": [str(f) for f in self.failures]})
        return result


@dataclass
class PlanEntry:
    node: str
    type: str
    status: str  # "cached" | "run" | "partial" | "maybe" (served from cache if its inputs come out the same)
    reason: str
    calls: int | None = None
    cached_calls: int | None = None


def plan(graph: CompiledGraph, cache: Cache | None, *, look_ahead: bool = False,
         workspace: str | os.PathLike | None = None) -> list[PlanEntry]:
    """What a run would do now: which nodes are cached and which would run, and why.

    ``look_ahead``: run the calls of instant nodes (``Node.instant``: parsing, text, numbers) that
    are not cached, in-process and without caching them, so that what follows them is judged on
    exact values. Editing one shot of a storyboard then shows one changed element per shot node and
    the narration, music and mix still cached, instead of "everything downstream will change".
    """
    values: dict[str, dict[str, Any]] = {}
    entries: list[PlanEntry] = []
    ws = Path(workspace) if workspace is not None else workspace_of(graph)
    # nodes that will run although their inputs did not change (not cacheable, cache off): what
    # follows them is served from the cache if their output comes out the same (early cut-off)
    rerun_same: set[str] = set()
    for n in graph.order:
        cn = graph.nodes[n]
        upstream = sorted({link.src for link in cn.links.values()})
        unknown = [u for u in upstream if u not in values]
        if unknown:
            if cn.spec.cacheable and cache is not None and all(u in rerun_same for u in unknown):
                entries.append(PlanEntry(n, cn.spec.type, "maybe", f"may be cached: {', '.join(unknown)} "
                                         "will run again; if its output comes out the same, this node "
                                         "is served from the cache"))
            else:
                entries.append(PlanEntry(n, cn.spec.type, "run", f"input from {', '.join(unknown)} will change"))
            continue
        if not cn.spec.cacheable:
            entries.append(PlanEntry(n, cn.spec.type, "run", "not cacheable"))
            if cn.spec.deterministic:
                rerun_same.add(n)
            continue
        if cache is None:
            entries.append(PlanEntry(n, cn.spec.type, "run", "cache disabled"))
            continue
        try:
            calls = gather_calls(cn, values, ws)
        except Exception as e:  # NodeError, or the node's fingerprint() failed
            entries.append(PlanEntry(n, cn.spec.type, "run", f"will fail: {e}"))
            continue
        hits = [cached_outputs(cache, c) for c in calls]
        found = sum(h is not None for h in hits)
        mapped = cn.maps
        if found == len(calls):
            entries.append(PlanEntry(n, cn.spec.type, "cached", "result in cache",
                                     len(calls) if mapped else None, found if mapped else None))
        elif found:
            entries.append(PlanEntry(n, cn.spec.type, "partial", f"{len(calls) - found} of {len(calls)} "
                                     "elements changed", len(calls), found))
        else:
            entries.append(PlanEntry(n, cn.spec.type, "run", "not in cache (new, or params/inputs changed)",
                                     len(calls) if mapped else None, 0 if mapped else None))
        if found < len(calls) and look_ahead and all(cn.spec.cls.runs_instantly(c.kwargs) for c in calls):
            hits = _run_instant(graph, cn, calls, hits, ws)
        known = [h for h in hits if h is not None]
        if len(known) == len(hits):
            values[n] = ({p: [h[p] for h in known] for p in cn.spec.outputs} if mapped else known[0])
    return entries


_look_ahead_store: list[ArtifactStore] = []  # one per process, made on first use (instant nodes make no media)


def _run_instant(graph: CompiledGraph, cn: CompiledNode, calls: list[Call], hits: list, workspace: Path) -> list:
    """Fill the missing ``hits`` by running an instant node's calls; a failing call stays None."""
    if not _look_ahead_store:
        _look_ahead_store.append(_scratch_store())
    store = _look_ahead_store
    out = list(hits)
    for i, call in enumerate(calls):
        if out[i] is not None:
            continue
        ctx = RunContext(node_id=cn.id, store=store[0], workspace=workspace, cancel=CancelToken(),
                         element=call.element, workflow=graph.workflow, emit=lambda kind, **kw: None)
        try:
            out[i] = normalize_outputs(cn, cn.spec.cls().run(ctx, **call.kwargs))
        except Exception:  # the run will report it; the plan only loses its look-ahead here
            log.debug("look-ahead of %s failed", cn.id, exc_info=True)
        finally:
            ctx.cleanup()
    return out
